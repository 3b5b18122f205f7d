//! The work items pane: status, workflow, current step, age, priority and SLA countdown,
//! virtualized so only the visible rows are built.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table};

use super::{age, block, sla_state, sla_text, status_role, window};
use crate::console::app::{App, Pane};
use crate::console::theme::Role;

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let list = app.list(Pane::Items);
    let len = app.len(Pane::Items);
    let focused = app.focus == Pane::Items && app.detail.is_none();
    let title = super::pane_title(app, Pane::Items, "Work items");
    let block = block(app, title, focused);
    let inner = block.inner(area);
    let rows_fit = inner.height.saturating_sub(1) as usize;
    let range = window(list, len, rows_fit);
    let t = &app.theme;
    let rows: Vec<Row> = range
        .clone()
        .filter_map(|k| app.item_at(Pane::Items, k))
        .map(|it| {
            let marked = list.marks.contains(&it.id);
            // The state is a coloured mark beside a plain countdown: the mark changes
            // only with the state, so a tick sends digits, not colour changes.
            let (mark, sla_role) = match sla_state(it, app.now).map(|s| s.0) {
                Some(Role::SlaBreached) => ("✖ ", Role::SlaBreached),
                Some(Role::SlaCritical) => ("▲ ", Role::SlaCritical),
                Some(Role::SlaWarning) => ("▲ ", Role::SlaWarning),
                _ => ("", Role::Base),
            };
            Row::new(vec![
                Cell::from(if marked { "●" } else { " " }),
                Cell::from(it.id.to_string()),
                Cell::from(Span::styled(
                    it.status.name(),
                    t.style(status_role(it.status)),
                )),
                Cell::from(it.workflow.clone()),
                Cell::from(if it.current.is_empty() {
                    "-".to_string()
                } else {
                    it.current.clone()
                }),
                Cell::from(age(app.now, it.started_at)),
                Cell::from(it.priority.to_string()),
                // Right-aligned: each tick changes the same last column of every row.
                Cell::from(
                    Line::from(vec![
                        Span::styled(mark, t.style(sla_role)),
                        Span::raw(sla_text(it, app.now)),
                    ])
                    .right_aligned(),
                ),
            ])
            .style(super::styled_row_style(app, marked))
        })
        .collect();
    let mut head: Vec<Cell> = ["", "ID", "STATUS", "WORKFLOW", "STEP", "AGE", "PRIO"]
        .map(Cell::from)
        .into();
    head.push(Cell::from(Line::from("SLA").right_aligned()));
    let header = Row::new(head).style(t.style(Role::Dim));
    let widths = [
        Constraint::Length(1),
        Constraint::Length(7),
        Constraint::Length(12),
        Constraint::Length(20),
        Constraint::Min(10),
        Constraint::Length(5),
        Constraint::Length(4),
        Constraint::Length(10),
    ];
    let table = Table::new(rows, widths).header(header).block(block);
    super::list_table(
        f,
        app,
        Pane::Items,
        table,
        area,
        inner,
        range.start,
        empty_hint(app),
    );
}

fn empty_hint(app: &App) -> &'static str {
    if app.filter.is_empty() {
        "No work items yet. Start one with :start WORKFLOW, or tempi start."
    } else {
        "No items match the filter. Esc clears it."
    }
}
