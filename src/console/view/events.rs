//! The events pane: the live log of journal records, newest first.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::grid::Grid;
use super::{block, fit, window};
use crate::console::app::{App, Pane};
use crate::console::keymap::Action;
use crate::console::theme::Role;
use crate::types::changes::EventLine;
use crate::types::event::ENGINE;

/// Failures and incidents stand out; the rest is quiet.
fn role(kind: &str) -> Role {
    match kind {
        "incident_raised" | "item_failed" | "sla_breached" => Role::Incident,
        "step_failed" | "sla_warning" | "sla_escalated" => Role::SlaWarning,
        "item_completed" => Role::Completed,
        "task_created" | "step_waiting" => Role::Waiting,
        "task_decided" | "task_claimed" | "task_reassigned" | "workflow_loaded" => Role::Accent,
        _ => Role::Base,
    }
}

/// A record's particulars; a workflow version says who brought it: an operator's
/// deploy, or the engine loading its `--workflows` dir at start.
fn detail(r: &EventLine) -> String {
    match r.kind.as_str() {
        "workflow_loaded" if r.actor == ENGINE => {
            format!("loaded {} from the workflows dir", r.detail)
        }
        // The version first: a narrow pane cuts the end, and the actor has a column.
        "workflow_loaded" => format!("{} deployed by {}", r.detail, r.actor),
        _ => r.detail.clone(),
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
    let rows: Vec<(Vec<Line>, Style)> = range
        .clone()
        .filter_map(|k| app.record_at(k))
        .map(|r| {
            let cells = vec![
                Line::from(Span::styled(
                    r.at.format("%H:%M:%S").to_string(),
                    t.style(Role::Dim),
                )),
                Line::from(r.item.map_or_else(|| "-".into(), |i| i.to_string())),
                Line::from(Span::styled(r.kind.as_str(), t.style(role(&r.kind)))),
                Line::from(detail(r)),
                Line::from(Span::styled(r.actor.clone(), t.style(Role::Dim))),
            ];
            (cells, Style::default())
        })
        .collect();
    // The detail takes what the time, item, kind and actor leave.
    let fixed = [8, 6, 20, 10];
    let spacing = fit::SPACING * fixed.len() as u16;
    let detail = inner
        .width
        .saturating_sub(fixed.iter().sum::<u16>() + spacing)
        .max(10);
    let widths = vec![fixed[0], fixed[1], fixed[2], detail, fixed[3]];
    let table = Grid::new(widths, rows).block(block);
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
