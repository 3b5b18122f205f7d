//! The workflows view: each loaded version, the one `start` picks marked, and the items
//! in flight on it.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Clear, Row, Table, TableState};

use super::overlay::dialog;
use super::window;
use crate::console::app::{App, List};
use crate::console::keymap::Action;
use crate::console::theme::Role;
use crate::text::printable;

pub fn draw(f: &mut Frame, app: &App, area: Rect, cursor: usize) {
    let t = &app.theme;
    let rows_n = app.versions.len();
    let name_w = app
        .versions
        .iter()
        .map(|v| v.name.chars().count())
        .max()
        .unwrap_or(8)
        .clamp(8, 48) as u16;
    // Name, version, in flight and the mark, with the table's spacing and the border.
    let w = (name_w + 8 + 10 + 8 + 3 + 4)
        .max(56)
        .min(area.width.saturating_sub(4));
    let h = (rows_n as u16 + 5).clamp(8, area.height.saturating_sub(2));
    let r = Rect::new(
        area.x + (area.width.saturating_sub(w)) / 2,
        area.y + (area.height.saturating_sub(h)) / 2,
        w,
        h,
    );
    f.render_widget(Clear, r);
    let in_flight: u64 = app.versions.iter().map(|v| v.in_flight).sum();
    let title = format!(
        "Workflows ({rows_n} version{}, {in_flight} in flight)",
        if rows_n == 1 { "" } else { "s" }
    );
    let block = dialog(app, &title);
    let inner = block.inner(r);
    f.render_widget(block, r);
    let [table_area, hint] =
        Layout::vertical([Constraint::Min(2), Constraint::Length(1)]).areas(inner);
    if app.versions.is_empty() {
        f.render_widget(
            Line::styled(
                "No workflows loaded: tempi deploy FILE loads one.",
                t.style(Role::Dim),
            ),
            table_area,
        );
    }
    let list = List {
        cursor,
        ..List::default()
    };
    let range = window(&list, rows_n, table_area.height.saturating_sub(1) as usize);
    let rows: Vec<Row> = app.versions[range.clone()]
        .iter()
        .map(|v| {
            let count_role = if v.in_flight > 0 {
                Role::Base
            } else {
                Role::Dim
            };
            Row::new(vec![
                Cell::from(printable(&v.name).into_owned()),
                Cell::from(format!("v{}", v.version)),
                Cell::from(Span::styled(v.in_flight.to_string(), t.style(count_role))),
                Cell::from(Span::styled(
                    if v.newest { "newest" } else { "" },
                    t.style(Role::Accent),
                )),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(name_w),
        Constraint::Length(8),
        Constraint::Length(10),
        Constraint::Length(8),
    ];
    let header = Row::new(["WORKFLOW", "VERSION", "IN FLIGHT", ""]).style(t.style(Role::Header));
    let table = Table::new(rows, widths)
        .header(header)
        .row_highlight_style(t.style(Role::Selected));
    let mut state = TableState::default();
    if !app.versions.is_empty() {
        state.select(Some(cursor - range.start));
    }
    f.render_stateful_widget(table, table_area, &mut state);
    let key = |a: Action| app.keymap.key_for(a);
    let mut spans = Vec::new();
    for (a, what) in [(Action::Detail, "show its items"), (Action::Back, "close")] {
        spans.push(Span::styled(key(a), t.style(Role::Key)));
        spans.push(Span::styled(format!(" {what}  "), t.style(Role::Dim)));
    }
    f.render_widget(Line::from(spans), hint);
}
