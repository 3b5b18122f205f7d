//! The SLA board: items in flight with a deadline, at-risk first, then by time to
//! breach, with a gauge and a countdown coloured by threshold.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table};

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
    let gauge_w = if area.width < 110 { 8 } else { GAUGE };
    let rows: Vec<Row> = range
        .clone()
        .filter_map(|k| app.item_at(Pane::Sla, k))
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
            Some(
                Row::new(vec![
                    Cell::from(if marked { "●" } else { " " }),
                    Cell::from(it.id.to_string()),
                    Cell::from(it.workflow.clone()),
                    Cell::from(Span::styled(
                        it.status.name(),
                        t.style(status_role(it.status)),
                    )),
                    Cell::from({
                        let (full, track, pct) = gauge(used, gauge_w);
                        Line::from(vec![
                            Span::styled(full, t.style(role)),
                            Span::styled(track, t.style(Role::Dim)),
                            Span::styled(pct, t.style(role)),
                        ])
                    }),
                    // Plain digits: the gauge and the state carry the colour, so a tick
                    // sends no colour changes.
                    Cell::from(Line::from(clock(left)).right_aligned()),
                    Cell::from(Span::styled(state, t.style(role))),
                ])
                .style(super::styled_row_style(app, marked)),
            )
        })
        .collect();
    let mut head: Vec<Cell> = ["", "ID", "WORKFLOW", "STATUS", "SLA USED"]
        .map(Cell::from)
        .into();
    head.push(Cell::from(Line::from("LEFT").right_aligned()));
    head.push(Cell::from("STATE"));
    let header = Row::new(head).style(t.style(Role::Dim));
    let widths = [
        Constraint::Length(1),
        Constraint::Length(7),
        Constraint::Length(20),
        Constraint::Length(12),
        Constraint::Length(gauge_w as u16 + 6),
        Constraint::Length(9),
        Constraint::Min(8),
    ];
    let table = Table::new(rows, widths).header(header).block(block);
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
