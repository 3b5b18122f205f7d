//! An item's timeline: its steps with attempts, errors and outputs, the open incident,
//! its input, and the audit trail from the journal.

use crate::console::keymap::Action;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{age, block, clock, one_line, sla_state, status_role};
use crate::console::app::App;
use crate::console::theme::{Role, Theme};
use crate::text::clip;
use crate::types::Record;
use crate::types::view::{ItemDetail, StepStatus, StepView};

fn step_role(s: StepStatus) -> Role {
    match s {
        StepStatus::Pending => Role::Dim,
        StepStatus::Scheduled | StepStatus::Running => Role::Running,
        StepStatus::Waiting => Role::Waiting,
        StepStatus::Succeeded => Role::Completed,
        StepStatus::Failed => Role::Incident,
        StepStatus::Skipped => Role::Cancelled,
        StepStatus::Compensating | StepStatus::Compensated => Role::Compensating,
    }
}

fn status_name(s: StepStatus) -> String {
    format!("{s:?}").to_lowercase()
}

/// `85ms`, `2.4s`, then the usual short ages.
fn took(ms: i64) -> String {
    match ms {
        ..1000 => format!("{}ms", ms.max(0)),
        1000..60_000 => format!("{:.1}s", ms as f64 / 1000.0),
        _ => super::clock(ms / 1000),
    }
}

/// `text` cut into lines of `width` characters.
fn wrapped(text: &str, width: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(width.max(10))
        .map(|c| c.iter().collect())
        .collect()
}

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let Some(d) = &app.detail else {
        return;
    };
    let block = block(app, format!("Item {}  (Esc back)", d.id), true);
    let inner = block.inner(area);
    let lines = match (&d.data, &d.error) {
        (Some(data), _) => timeline(app, &data.0, &data.1, inner.width as usize),
        (None, Some(e)) => vec![Line::from(Span::styled(
            e.clone(),
            app.theme.style(Role::ToastError),
        ))],
        (None, None) => vec![Line::from(Span::styled(
            "loading…",
            app.theme.style(Role::Dim),
        ))],
    };
    let max_scroll = lines.len().saturating_sub(inner.height as usize);
    app.scroll_max.set(max_scroll);
    let scroll = d.scroll.min(max_scroll) as u16;
    f.render_widget(Paragraph::new(lines).block(block).scroll((scroll, 0)), area);
}

fn timeline<'a>(app: &App, item: &ItemDetail, trail: &[Record], width: usize) -> Vec<Line<'a>> {
    let t = &app.theme;
    let s = &item.summary;
    let dim = t.style(Role::Dim);
    let mut head = vec![
        Span::styled(
            format!("{} v{} ", s.workflow, s.version),
            t.style(Role::Title),
        ),
        Span::styled(s.status.name(), t.style(status_role(s.status))),
        Span::styled(
            format!(
                "  started {} ago  priority {}",
                age(app.now, s.started_at),
                s.priority
            ),
            dim,
        ),
    ];
    if let (Some(due), Some((role, _))) = (s.sla_due, sla_state(s, app.now)) {
        let text = if s.status.is_final() {
            format!("  SLA due {}", due.format("%H:%M:%S"))
        } else {
            format!("  SLA {} left", clock((due - app.now).num_seconds()))
        };
        head.push(Span::styled(text, t.style(role)));
    }
    let mut lines = vec![Line::from(head)];
    if let Some((step, err)) = &item.incident {
        let text = format!(" step {step}: {err}");
        let mut parts = wrapped(&text, width.saturating_sub(11)).into_iter();
        lines.push(Line::from(vec![
            Span::styled(" INCIDENT ", t.style(Role::Incident)),
            Span::raw(parts.next().unwrap_or_default()),
        ]));
        for rest in parts {
            lines.push(Line::from(format!("{:10}{rest}", "")));
        }
        // The keys as bound (a keymap file may move them).
        let key = |a: Action| {
            app.keymap
                .keys_for(a)
                .into_iter()
                .next()
                .unwrap_or_default()
        };
        let hint = format!(
            "  {} retry · {} skip the step · {} compensate · {} cancel the item",
            key(Action::Retry),
            key(Action::Skip),
            key(Action::Compensate),
            key(Action::Cancel)
        );
        lines.push(Line::from(Span::styled(hint, dim)));
    }
    lines.push(Line::default());
    lines.push(Line::from(Span::styled(
        format!(
            "{:<18} {:<7} {:<12} {:>3}  {:<9} {}",
            "STEP", "KIND", "STATUS", "TRY", "TOOK", "OUTPUT / ERROR / WAITING"
        ),
        dim,
    )));
    for step in &item.steps {
        lines.push(step_line(t, app, step, width));
    }
    tasks(app, s.id, width, &mut lines);
    lines.push(Line::default());
    lines.push(Line::from(vec![
        Span::styled("input ", dim),
        Span::raw(one_line(&item.input, width.saturating_sub(8))),
    ]));
    lines.push(Line::default());
    lines.push(Line::from(Span::styled(
        format!("audit trail ({} records)", trail.len()),
        t.style(Role::Title),
    )));
    for r in trail {
        let mut spans = vec![
            Span::styled(r.at.format("%H:%M:%S%.3f ").to_string(), dim),
            Span::styled(format!("{:<16} ", r.event.name()), t.style(Role::Accent)),
            Span::raw(r.event.detail()),
            Span::styled(format!("  by {}", r.actor), dim),
        ];
        if let Some(reason) = &r.reason {
            spans.push(Span::styled(format!(" ({reason})"), dim));
        }
        lines.push(Line::from(spans));
    }
    lines
}

fn step_line<'a>(t: &Theme, app: &App, step: &StepView, width: usize) -> Line<'a> {
    let took = match (step.started_at, step.ended_at) {
        (Some(a), Some(b)) => took((b - a).num_milliseconds()),
        (Some(a), None) => took((app.now - a).num_milliseconds()),
        _ => "-".into(),
    };
    let room = width.saturating_sub(56).max(10);
    let (what, role) = if let Some(e) = &step.error {
        (e.to_string(), Role::Failed)
    } else if let Some(w) = &step.waiting_on {
        (format!("waiting on {w}"), Role::Waiting)
    } else if let Some(next) = step.next_attempt_at {
        (
            format!("next attempt in {}", clock((next - app.now).num_seconds())),
            Role::SlaWarning,
        )
    } else if let Some(o) = &step.output {
        (one_line(o, room), Role::Base)
    } else {
        (String::new(), Role::Base)
    };
    let what = clip(&what, room);
    Line::from(vec![
        Span::raw(format!("{:<18} {:<7} ", step.id, step.kind)),
        Span::styled(status_name(step.status), t.style(step_role(step.status))),
        Span::raw(" ".repeat(12usize.saturating_sub(status_name(step.status).len()))),
        Span::raw(format!(" {:>3}  {:<9} ", step.attempts, took)),
        Span::styled(what, t.style(role)),
    ])
}

/// The item's open tasks: what each asks, its details line by line, its options.
fn tasks<'a>(app: &App, item: crate::types::ItemId, width: usize, lines: &mut Vec<Line<'a>>) {
    let t = &app.theme;
    let dim = t.style(Role::Dim);
    for task in app.model.tasks.iter().filter(|k| k.item == item) {
        lines.push(Line::default());
        lines.push(Line::from(vec![
            Span::styled(format!("task {} ", task.id), t.style(Role::Accent)),
            Span::styled(task.title.clone(), t.style(Role::Title)),
        ]));
        if let Some(d) = &task.details {
            for l in crate::text::wrap_words(d.trim_end(), width.saturating_sub(2)) {
                lines.push(Line::from(format!("  {l}")));
            }
        }
        let mut facts = vec![
            Span::styled("  options ", dim),
            Span::raw(task.options.join(" / ")),
        ];
        if !task.form.is_empty() {
            facts.push(Span::styled("  form ", dim));
            facts.push(Span::raw(super::form::field_names(&task.form)));
        }
        lines.push(Line::from(facts));
    }
}
