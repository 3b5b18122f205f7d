//! The events pane: the live log of journal records, newest first.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row, Table};

use super::{block, window};
use crate::console::app::{App, Pane};
use crate::console::theme::Role;
use crate::types::Event;

/// Failures and incidents stand out; the rest is quiet.
fn role(e: &Event) -> Role {
    match e {
        Event::IncidentRaised { .. } | Event::ItemFailed { .. } | Event::SlaBreached { .. } => {
            Role::Incident
        }
        Event::StepFailed { .. } | Event::SlaWarning { .. } | Event::SlaEscalated { .. } => {
            Role::SlaWarning
        }
        Event::ItemCompleted { .. } => Role::Completed,
        Event::TaskCreated { .. } | Event::StepWaiting { .. } => Role::Waiting,
        Event::TaskDecided { .. } | Event::TaskClaimed { .. } | Event::TaskReassigned { .. } => {
            Role::Accent
        }
        _ => Role::Base,
    }
}

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let list = app.list(Pane::Events);
    let len = app.len(Pane::Events);
    let focused = app.focus == Pane::Events && app.detail.is_none();
    let block = block(app, format!("Events (last {len})"), focused);
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
                Cell::from(Span::styled(r.event.name(), t.style(role(&r.event)))),
                Cell::from(r.event.detail()),
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
