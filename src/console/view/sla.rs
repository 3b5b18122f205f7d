//! The SLA board: items in flight with a deadline, at-risk first, then by time to
//! breach, with their key and title, a gauge and a countdown coloured by threshold.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::fit::{self, Col};
use super::{block, clock, sla_state, status_role, window};
use crate::console::app::{App, Pane};
use crate::console::theme::Role;

const GAUGE: usize = 20;

/// `███████░░░░░░░░  45%`: the share of the SLA used, as (filled, track, percent).
pub fn gauge(used: f64, width: usize) -> (String, String, String) {
    let filled = ((used * width as f64).round() as usize).min(width);
    (
        "█".repeat(filled),
        "░".repeat(width - filled),
        format!(" {:>3}%", (used * 100.0).round() as u32),
    )
}

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let list = app.list(Pane::Sla);
    let len = app.len(Pane::Sla);
    let focused = app.focus == Pane::Sla && app.detail.is_none();
    let block = block(app, super::pane_title(app, Pane::Sla, "SLA board"), focused);
    let inner = block.inner(area);
    let range = window(list, len, inner.height.saturating_sub(1) as usize);
    let t = &app.theme;
    // The gauge gives way to the names on a board of middling width.
    let gauge_w = match inner.width {
        140.. => GAUGE,
        100.. => 12,
        _ => 8,
    };
    let visible: Vec<_> = range
        .clone()
        .filter_map(|k| app.item_at(Pane::Sla, k))
        .collect();
    let rows: Vec<(Vec<Line>, Style)> = visible
        .iter()
        .filter_map(|it| {
            let (role, used) = sla_state(it, app.now)?;
            let due = it.sla_due?;
            let marked = list.marks.contains(&it.id);
            let left = (due - app.now).num_seconds();
            let state = match role {
                Role::SlaBreached => "BREACHED",
                Role::SlaCritical => "critical",
                Role::SlaWarning => "at risk",
                _ => "ok",
            };
            let (full, track, pct) = gauge(used, gauge_w);
            let cells = vec![
                Line::from(if marked { "●" } else { " " }),
                Line::from(it.id.to_string()),
                Line::from(it.workflow.clone()),
                Line::from(it.key.clone().unwrap_or_default()),
                Line::from(it.title.clone().unwrap_or_default()),
                Line::from(Span::styled(
                    it.status.name(),
                    t.style(status_role(it.status)),
                )),
                Line::from(vec![
                    Span::styled(full, t.style(role)),
                    Span::styled(track, t.style(Role::Dim)),
                    Span::styled(pct, t.style(role)),
                ]),
                // Plain digits: the gauge and the state carry the colour, so a tick
                // sends no colour changes.
                Line::from(clock(left)).right_aligned(),
                Line::from(Span::styled(state, t.style(role))),
            ];
            Some((cells, super::styled_row_style(app, marked)))
        })
        .collect();
    let keys = visible.iter().any(|it| it.key.is_some());
    let titles = visible.iter().any(|it| it.title.is_some());
    let cols = [
        Col::whole(),
        Col::whole(),
        Col::cut(10, 24),
        Col::key(12, 32).drop(3).shown_if(keys),
        Col::cut(12, u16::MAX)
            .fill()
            .keeps_room()
            .drop(2)
            .shown_if(titles),
        Col::whole().drop(1),
        Col::whole(),
        Col::countdown(false),
        Col::whole(),
    ];
    let (cols, head) = super::chosen(app, Pane::Sla, cols, &["LEFT"]);
    let table = fit::table(&cols, head, t.style(Role::Dim), rows, inner.width).block(block);
    super::list_table(
        f,
        app,
        Pane::Sla,
        table,
        area,
        inner,
        range.start,
        "No items in flight have an SLA.",
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn gauges_fill_with_the_share_used() {
        let text = |u, w| {
            let (a, b, c) = super::gauge(u, w);
            format!("{a}{b}{c}")
        };
        assert_eq!(text(0.5, 10), "█████░░░░░  50%");
        assert_eq!(text(1.0, 4), "████ 100%");
        assert_eq!(text(0.0, 4), "░░░░   0%");
    }
}
