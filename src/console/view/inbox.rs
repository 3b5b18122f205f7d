//! The inbox: human tasks for me, my groups or all, due soonest first, with the context
//! a decision needs (for agent reviews, the proposal and its confidence).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Borders, Cell, Paragraph, Row, Table, TableState, Wrap};

use super::{age, block, clock, window};
use crate::console::app::{App, Pane};
use crate::console::theme::Role;
use crate::types::event::TaskKind;
use crate::types::view::TaskView;

/// Who holds a task: the claimer, the assignee, or the group.
pub fn holder(t: &TaskView) -> String {
    match (&t.claimed_by, &t.assignee, &t.group) {
        (Some(c), _, _) => format!("{c} (claimed)"),
        (None, Some(a), _) => format!("@{a}"),
        (None, None, Some(g)) => g.clone(),
        _ => "-".into(),
    }
}

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let list = app.list(Pane::Inbox);
    let len = app.len(Pane::Inbox);
    let focused = app.focus == Pane::Inbox && app.detail.is_none();
    let name = format!("Inbox: {}", app.scope.name());
    let title = super::pane_title(app, Pane::Inbox, &name) + "  i: scope";
    let block = block(app, title, focused);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let preview_h = if inner.height >= 14 { 7 } else { 0 };
    let [table_area, preview] =
        Layout::vertical([Constraint::Min(2), Constraint::Length(preview_h)]).areas(inner);
    let range = window(list, len, table_area.height.saturating_sub(1) as usize);
    let t = &app.theme;
    let rows: Vec<Row> = range
        .clone()
        .filter_map(|k| app.task_at(k))
        .map(|task| {
            let marked = list.marks.contains(&task.id);
            let (due, role) = match task.due {
                Some(d) if task.overdue || d <= app.now => {
                    (clock((d - app.now).num_seconds()), Role::SlaBreached)
                }
                Some(d) if (d - app.now).num_minutes() < 15 => {
                    (clock((d - app.now).num_seconds()), Role::SlaCritical)
                }
                Some(d) => (clock((d - app.now).num_seconds()), Role::SlaOk),
                None => ("-".into(), Role::Dim),
            };
            let kind = match &task.kind {
                TaskKind::Approval => "approval".to_string(),
                TaskKind::AgentReview { confidence, .. } => {
                    format!("review {:.0}%", confidence * 100.0)
                }
            };
            Row::new(vec![
                Cell::from(if marked { "●" } else { " " }),
                Cell::from(task.id.to_string()),
                Cell::from(task.item.to_string()),
                Cell::from(kind),
                Cell::from(task.title.clone()),
                Cell::from(holder(task)),
                Cell::from(age(app.now, task.created_at)),
                Cell::from(Span::styled(due, t.style(role))),
            ])
            .style(super::styled_row_style(app, marked))
        })
        .collect();
    let header = Row::new(["", "TASK", "ITEM", "KIND", "TITLE", "WHO", "AGE", "DUE"])
        .style(t.style(Role::Dim));
    // Narrow panes drop KIND and AGE so the title, which tells tasks apart, keeps room.
    let narrow = area.width < 110;
    let widths = [
        Constraint::Length(1),
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Length(if narrow { 0 } else { 10 }),
        Constraint::Min(20),
        Constraint::Length(18),
        Constraint::Length(if narrow { 0 } else { 4 }),
        Constraint::Length(8),
    ];
    let table = Table::new(rows, widths)
        .header(header)
        .row_highlight_style(t.style(Role::Selected));
    let mut state = TableState::default();
    if focused && len > 0 {
        state.select(Some(list.cursor - range.start));
    }
    f.render_stateful_widget(table, table_area, &mut state);
    if len == 0 {
        let hint = match app.scope {
            crate::console::app::Scope::All => "No open tasks. Nothing waits on people.",
            _ => "No open tasks here. Press i to widen the scope.",
        };
        super::overlay::empty(f, app, table_area, hint);
    } else if preview_h > 0
        && let Some(task) = app.task_at(list.cursor)
    {
        context(f, app, task, preview);
    }
}

/// What the selected task is about.
fn context(f: &mut Frame, app: &App, task: &TaskView, area: Rect) {
    let t = &app.theme;
    let dim = t.style(Role::Dim);
    let mut lines = vec![Line::from(vec![
        Span::styled(
            format!(
                "task {} · item {} · {}/{} ",
                task.id, task.item, task.workflow, task.step
            ),
            dim,
        ),
        Span::styled(task.title.clone(), t.style(Role::Title)),
    ])];
    if let TaskKind::AgentReview {
        proposal,
        confidence,
    } = &task.kind
    {
        let role = if *confidence >= 0.8 {
            Role::SlaOk
        } else if *confidence >= 0.5 {
            Role::SlaWarning
        } else {
            Role::SlaCritical
        };
        lines.push(Line::from(vec![
            Span::styled("agent confidence ", dim),
            Span::styled(format!("{:.0}%", confidence * 100.0), t.style(role)),
            Span::styled("  proposal ", dim),
            Span::raw(super::one_line(proposal, 300)),
        ]));
    }
    let mut facts = vec![
        Span::styled("options ", dim),
        Span::raw(task.options.join(" / ")),
        Span::styled("  holder ", dim),
        Span::raw(holder(task)),
    ];
    if task.escalation_level > 0 {
        facts.push(Span::styled(
            format!("  escalated ×{}", task.escalation_level),
            t.style(Role::SlaWarning),
        ));
    }
    if task.overdue {
        facts.push(Span::styled("  OVERDUE", t.style(Role::SlaBreached)));
    }
    if !task.form.is_empty() {
        facts.push(Span::styled("  form ", dim));
        facts.push(Span::raw(super::form::field_names(&task.form)));
    }
    lines.push(Line::from(facts));
    // Details keep their own lines, each wrapped at spaces to the pane.
    if let Some(d) = &task.details {
        let width = area.width.max(1) as usize;
        lines.extend(
            crate::text::wrap_words(d.trim_end(), width)
                .into_iter()
                .map(Line::from),
        );
    }
    let p = Paragraph::new(lines).wrap(Wrap { trim: true }).block(
        ratatui::widgets::Block::new()
            .borders(Borders::TOP)
            .border_style(t.style(Role::Border)),
    );
    f.render_widget(p, area);
}
