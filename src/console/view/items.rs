//! The work items pane: status, workflow, business key and title, current step, age,
//! priority and SLA countdown, virtualized so only the visible rows are built (and only
//! they are measured for the column widths).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::fit::{self, Col};
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
    let visible: Vec<_> = range
        .clone()
        .filter_map(|k| app.item_at(Pane::Items, k))
        .collect();
    let rows: Vec<(Vec<Line>, Style)> = visible
        .iter()
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
            let cells = vec![
                Line::from(if marked { "●" } else { " " }),
                Line::from(it.id.to_string()),
                Line::from(Span::styled(
                    it.status.name(),
                    t.style(status_role(it.status)),
                )),
                Line::from(it.workflow.clone()),
                Line::from(it.key.clone().unwrap_or_default()),
                Line::from(it.title.clone().unwrap_or_default()),
                Line::from(if it.current.is_empty() {
                    "-".to_string()
                } else {
                    it.current.clone()
                }),
                Line::from(age(app.now, it.started_at)),
                Line::from(it.priority.to_string()),
                // Right-aligned: each tick changes the same last column of every row.
                Line::from(vec![
                    Span::styled(mark, t.style(sla_role)),
                    Span::raw(sla_text(it, app.now)),
                ])
                .right_aligned(),
            ];
            (cells, super::styled_row_style(app, marked))
        })
        .collect();
    let keys = visible.iter().any(|it| it.key.is_some());
    let titles = visible.iter().any(|it| it.title.is_some());
    let cols = [
        Col::whole(),
        Col::whole(),
        Col::whole(),
        Col::cut(10, 24),
        Col::key(12, 32).drop(4).shown_if(keys),
        Col::cut(16, u16::MAX)
            .fill()
            .keeps_room()
            .drop(3)
            .shown_if(titles),
        Col::cut(7, 24),
        Col::whole().drop(2),
        Col::whole().drop(1),
        Col::countdown(true),
    ];
    let (cols, head) = super::chosen(app, Pane::Items, cols, &["SLA"]);
    let table = fit::table(&cols, head, t.style(Role::Dim), rows, inner.width).block(block);
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
