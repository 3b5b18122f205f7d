//! The header: the numbers an operator watches, throughput with a sparkline, and where
//! the console is connected.

use crate::text::thousands;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::console::app::App;
use crate::console::model::Link;
use crate::console::theme::Role;

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The last `width` samples as bars scaled to the largest.
pub fn sparkline(samples: impl DoubleEndedIterator<Item = u64>, width: usize) -> String {
    let mut last: Vec<u64> = samples.rev().take(width).collect();
    last.reverse();
    let max = last.iter().copied().max().unwrap_or(0).max(1);
    let mut s: String = " ".repeat(width.saturating_sub(last.len()));
    s.extend(last.iter().map(|&v| {
        let k = if v == 0 {
            0
        } else {
            ((v * 7).div_ceil(max)) as usize
        };
        BARS[k.min(7)]
    }));
    s
}

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let m = &app.model.metrics;
    let head = t.style(Role::Header);
    let value = |n: u64, role: Role| {
        // Zeros stay quiet; a count that needs attention takes its colour.
        let style = if n > 0 {
            t.style(role)
        } else {
            t.style(Role::Dim)
        };
        Span::styled(thousands(n), style)
    };
    let label = |s: &str| Span::styled(s.to_string(), head);
    // Items with an SLA that ended by their deadline: not the share that completed.
    let (sla_met, met_role) = match m.sla_met_pct {
        None => ("—".to_string(), Role::Dim),
        Some(c) => (
            format!("{c:.1}%"),
            if c >= 99.0 {
                Role::SlaOk
            } else if c >= 95.0 {
                Role::SlaWarning
            } else {
                Role::SlaBreached
            },
        ),
    };
    const FULL: [&str; 6] = [
        "│ in flight ",
        "  waiting on humans ",
        "  incidents ",
        "  at risk ",
        "  breached ",
        "  SLA met ",
    ];
    // `at risk` and `breached` keep their words: they are what an operator looks for.
    const SHORT: [&str; 6] = [
        "│ flight ",
        " humans ",
        " incid ",
        " at risk ",
        " breached ",
        " SLA met ",
    ];
    let (glyph, link, link_role) = match &app.model.link {
        Link::Up => ("●", app.opts.origin.clone(), Role::SlaOk),
        Link::Connecting => (
            "○",
            format!("connecting to {}", app.opts.origin),
            Role::SlaWarning,
        ),
        Link::Down(why) => ("✖", why.chars().take(60).collect(), Role::ToastError),
    };
    let counts = |names: [&str; 6]| -> Vec<Span> {
        // What must always show (the link and read-only) goes first, before the numbers.
        let mut first = vec![
            Span::styled(" tempi ", t.style(Role::Title)),
            Span::styled(glyph, t.style(link_role)),
            label(" "),
        ];
        if app.opts.read_only {
            first.push(Span::styled("READ-ONLY", t.style(Role::ToastError)));
            first.push(label(" "));
        }
        first.extend([
            label(names[0]),
            value(m.in_flight, Role::HeaderValue),
            label(names[1]),
            value(m.waiting_on_humans, Role::Waiting),
            label(names[2]),
            value(m.incidents, Role::Incident),
            label(names[3]),
            value(m.at_risk, Role::SlaWarning),
            label(names[4]),
            value(m.breached, Role::SlaBreached),
            label(names[5]),
            Span::styled(sla_met.clone(), t.style(met_role)),
            label(" "),
        ]);
        first
    };
    let right = vec![
        Span::styled(link.clone(), t.style(link_role)),
        label(&format!("  as {} ", app.opts.me)),
    ];
    let width = |spans: &[Span]| spans.iter().map(|s| s.width()).sum::<usize>();
    let room = area.width as usize;
    // The full labels whenever they fit; the origin and who I am only beside them.
    let full = counts(FULL);
    let (mut first, right) = if width(&full) + width(&right) <= room {
        (full, right)
    } else if width(&full) <= room {
        (full, Vec::new())
    } else {
        (counts(SHORT), Vec::new())
    };
    let gap = room.saturating_sub(width(&first) + width(&right));
    first.push(label(&" ".repeat(gap)));
    first.extend(right);

    let spark_wide = (area.width as usize / 4).clamp(10, 60);
    // Tasks assigned to or claimed by whoever the console acts as.
    let mine = app
        .model
        .tasks
        .iter()
        .filter(|t| crate::console::app::in_scope(t, crate::console::app::Scope::Mine, &app.opts))
        .count() as u64;
    let second_line = |narrow: bool, spark_width: usize| {
        let mut second = Vec::new();
        // A journal that no longer verifies goes first, never left out for want of room
        // (the first line keeps the SLA counts).
        if let Some(b) = &m.audit.broken {
            let text = format!(" audit BROKEN at seq {}", b.seq);
            second.push(Span::styled(text, t.style(Role::ToastError)));
        }
        second.extend([
            label(if narrow { " " } else { " throughput " }),
            Span::styled(
                format!("{:>6}", thousands(app.model.rate())),
                t.style(Role::HeaderValue),
            ),
            label(" steps/s "),
            Span::styled(
                sparkline(app.model.throughput.iter().copied(), spark_width),
                t.style(Role::Sparkline),
            ),
            label(if narrow { " done " } else { "  completed " }),
            value(m.completed, Role::HeaderValue),
            label(if narrow { " failed " } else { "  failed " }),
            value(m.failed, Role::Failed),
            label(if narrow { " tasks " } else { "  open tasks " }),
            value(m.open_tasks, Role::HeaderValue),
            label(if narrow { " mine " } else { "  mine " }),
            value(mine, Role::Accent),
        ]);
        if let Some(rate) = app.opts.rate {
            second.push(label(if narrow { " load " } else { "  load " }));
            second.push(Span::styled(format!("{rate}/min"), t.style(Role::Accent)));
            if !narrow {
                second.push(label(" (+/-)"));
            }
        }
        if !app.filter.is_empty() {
            second.push(label("  filter "));
            second.push(Span::styled(app.filter.text.clone(), t.style(Role::Prompt)));
        }
        let clock = match narrow {
            true => app.now.format(" %H:%M:%S ").to_string(),
            false => app.now.format(" %H:%M:%S UTC ").to_string(),
        };
        (second, clock)
    };
    // Full labels with a wide sparkline, else with a short one, else the short labels.
    let fits = |(line, clock): &(Vec<Span>, String)| width(line) + clock.chars().count() <= room;
    let (mut second, clock) = [(false, spark_wide), (false, 10)]
        .into_iter()
        .map(|(narrow, spark)| second_line(narrow, spark))
        .find(fits)
        .unwrap_or_else(|| second_line(true, spark_wide));
    // How far the audit chain verified, where there is room for it.
    if m.audit.verified_seq > 0 && m.audit.broken.is_none() {
        let cell = [
            label("  audit verified to seq "),
            Span::styled(m.audit.verified_seq.to_string(), t.style(Role::SlaOk)),
        ];
        if width(&second) + width(&cell) + clock.chars().count() <= room {
            second.extend(cell);
        }
    }
    // The clock goes at the right edge, or not at all.
    let used = width(&second) + clock.chars().count();
    if let Some(gap) = room.checked_sub(used) {
        second.push(label(&" ".repeat(gap)));
        second.push(Span::styled(clock, t.style(Role::Dim)));
    }
    let p = Paragraph::new(vec![Line::from(first), Line::from(second)]).style(head);
    f.render_widget(p, area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_scale_to_the_largest_sample() {
        assert_eq!(sparkline([0u64, 7, 14].into_iter(), 5), "  ▁▅█");
        assert_eq!(sparkline([1u64, 1, 1, 1].into_iter(), 2), "██");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(12), "12");
    }
}
