//! The incidents view: incidents grouped by cause, the largest group first, with what
//! each key does to a whole group.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Clear, Row, Table, TableState};

use super::overlay::dialog;
use super::{age, window};
use crate::console::app::{App, List};
use crate::console::keymap::Action;
use crate::console::theme::Role;
use crate::text::{clip, printable};

pub fn draw(f: &mut Frame, app: &App, area: Rect, cursor: usize) {
    let t = &app.theme;
    let w = area.width.saturating_sub(4).min(160);
    let h = (app.groups.len() as u16 + 5).clamp(8, area.height.saturating_sub(2));
    let r = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height.saturating_sub(h)) / 2,
        w,
        h,
    );
    f.render_widget(Clear, r);
    let total: usize = app.groups.iter().map(|g| g.items.len()).sum();
    let title = format!(
        "Incidents by cause ({total} in {} group{})",
        app.groups.len(),
        if app.groups.len() == 1 { "" } else { "s" }
    );
    let block = dialog(app, &title);
    let inner = block.inner(r);
    f.render_widget(block, r);
    let [table_area, hint] =
        Layout::vertical([Constraint::Min(2), Constraint::Length(1)]).areas(inner);
    if app.groups.is_empty() {
        f.render_widget(
            Line::styled(
                "No incidents: nothing waits on an operator.",
                t.style(Role::Dim),
            ),
            table_area,
        );
    }
    let list = List {
        cursor,
        ..List::default()
    };
    let range = window(
        &list,
        app.groups.len(),
        table_area.height.saturating_sub(1) as usize,
    );
    let wf_w = app
        .groups
        .iter()
        .map(|g| g.workflow.chars().count())
        .max()
        .unwrap_or(8);
    let step_w = app
        .groups
        .iter()
        .map(|g| g.step.chars().count())
        .max()
        .unwrap_or(4);
    let rows: Vec<Row> = app.groups[range.clone()]
        .iter()
        .map(|g| {
            Row::new(vec![
                Cell::from(Span::styled(
                    g.items.len().to_string(),
                    t.style(Role::Incident),
                )),
                Cell::from(g.workflow.clone()),
                Cell::from(g.step.clone()),
                Cell::from(age(app.now, g.oldest)),
                Cell::from(printable(&clip(&g.cause, 200)).into_owned()),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(5),
        Constraint::Length(wf_w.clamp(8, 28) as u16),
        Constraint::Length(step_w.clamp(4, 24) as u16),
        Constraint::Length(6),
        Constraint::Min(20),
    ];
    let header =
        Row::new(["COUNT", "WORKFLOW", "STEP", "OLDEST", "CAUSE"]).style(t.style(Role::Header));
    let table = Table::new(rows, widths)
        .header(header)
        .row_highlight_style(t.style(Role::Selected));
    let mut state = TableState::default();
    if !app.groups.is_empty() {
        state.select(Some(cursor - range.start));
    }
    f.render_stateful_widget(table, table_area, &mut state);
    let key = |a: Action| app.keymap.key_for(a);
    let mut spans = Vec::new();
    for (a, what) in [
        (Action::Detail, "show the items"),
        (Action::Retry, "retry the group"),
        (Action::Skip, "skip the step in all"),
        (Action::Cancel, "cancel all"),
        (Action::Back, "close"),
    ] {
        spans.push(Span::styled(key(a), t.style(Role::Key)));
        spans.push(Span::styled(format!(" {what}  "), t.style(Role::Dim)));
    }
    f.render_widget(Line::from(spans), hint);
}
