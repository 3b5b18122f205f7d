//! The events pane: the live log of journal records, newest first.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row, Table};

use super::{block, window};
use crate::console::app::{App, Pane};
use crate::console::keymap::Action;
use crate::console::theme::Role;

/// Failures and incidents stand out; the rest is quiet.
fn role(kind: &str) -> Role {
    match kind {
        "incident_raised" | "item_failed" | "sla_breached" => Role::Incident,
        "step_failed" | "sla_warning" | "sla_escalated" => Role::SlaWarning,
        "item_completed" => Role::Completed,
        "task_created" | "step_waiting" => Role::Waiting,
        "task_decided" | "task_claimed" | "task_reassigned" => Role::Accent,
        _ => Role::Base,
    }
}

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let list = app.list(Pane::Events);
    let len = app.len(Pane::Events);
    let focused = app.focus == Pane::Events && app.detail.is_none();
    let mut title = super::pane_title(app, Pane::Events, "Events");
    if !app.chatter {
        title.push_str(" · step progress hidden");
        if let Some(key) = app.keymap.keys_for(Action::Chatter).first() {
            title.push_str(&format!(": {key} shows"));
        }
    }
    if app.model.events_skipped > 0 {
        title.push_str(&format!(
            " · {} not sent while busy",
            app.model.events_skipped
        ));
    }
    let block = block(app, title, focused);
    let inner = block.inner(area);
    let range = window(list, len, inner.height as usize);
    let t = &app.theme;
    let rows: Vec<Row> = range
        .clone()
        .filter_map(|k| app.record_at(k))
        .map(|r| {
            Row::new(vec![
                Cell::from(Span::styled(
                    r.at.format("%H:%M:%S").to_string(),
                    t.style(Role::Dim),
                )),
                Cell::from(r.item.map_or_else(|| "-".into(), |i| i.to_string())),
                Cell::from(Span::styled(r.kind.as_str(), t.style(role(&r.kind)))),
                Cell::from(r.detail.as_str()),
                Cell::from(Span::styled(r.actor.clone(), t.style(Role::Dim))),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(8),
        Constraint::Length(6),
        Constraint::Length(20),
        Constraint::Min(10),
        Constraint::Length(10),
    ];
    let table = Table::new(rows, widths).block(block);
    super::list_table(
        f,
        app,
        Pane::Events,
        table,
        area,
        inner,
        range.start,
        "Quiet: no events yet.",
    );
}
