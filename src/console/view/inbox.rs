//! The inbox: human tasks for me, my groups or all, due soonest first, with their item's
//! business key and the context a decision needs (for agent reviews, the proposal and
//! its confidence).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Borders, Paragraph, Wrap};

use super::fit::{self, Col};
use super::{age, block, clock, window};
use crate::console::app::{App, Pane};
use crate::console::theme::Role;
use crate::types::event::TaskKind;
use crate::types::view::TaskView;

/// Who holds a task: the claimer, the assignee, or the group; and for a task that
/// needs several approvals, how many it has and from whom.
pub fn holder(t: &TaskView) -> String {
    let who = match (&t.claimed_by, &t.assignee, &t.group) {
        (Some(c), _, _) => format!("{c} (claimed)"),
        (None, Some(a), _) => format!("@{a}"),
        (None, None, Some(g)) => g.clone(),
        _ => "-".into(),
    };
    match t.approvals_text() {
        Some(a) => format!("{who} · {a}"),
        None => who,
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
    let visible: Vec<&TaskView> = range.clone().filter_map(|k| app.task_at(k)).collect();
    let key_of = |task: &TaskView| {
        let item = app.model.items.get(&task.item)?;
        item.key.clone()
    };
    let rows: Vec<(Vec<Line>, Style)> = visible
        .iter()
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
            // The item's own deadline: a task may be due later than its item breaches. As
            // in the items pane, a coloured mark beside a plain countdown, so a tick sends
            // digits, not colour changes.
            let item = app.model.items.get(&task.item);
            let sla = match item.and_then(|i| Some((super::sla_state(i, app.now)?, i.sla_due?))) {
                Some(((role, _), d)) => {
                    let mark = match role {
                        Role::SlaBreached => "✖ ",
                        Role::SlaCritical | Role::SlaWarning => "▲ ",
                        _ => "",
                    };
                    Line::from(vec![
                        Span::styled(mark, t.style(role)),
                        Span::raw(by_minute((d - app.now).num_seconds())),
                    ])
                }
                None => Line::from(Span::styled("-", t.style(Role::Dim))),
            };
            let cells = vec![
                Line::from(if marked { "●" } else { " " }),
                Line::from(task.id.to_string()),
                Line::from(task.item.to_string()),
                Line::from(key_of(task).unwrap_or_default()),
                Line::from(kind),
                Line::from(task.title.clone()),
                Line::from(holder(task)),
                Line::from(age(app.now, task.created_at)),
                Line::from(Span::styled(due, t.style(role))),
                sla,
            ];
            (cells, super::styled_row_style(app, marked))
        })
        .collect();
    // The title tells tasks apart: it takes the room (60 cells unless less); the item's
    // SLA says which to decide first and always stays. On narrower panes the kind
    // leaves first, then the age, then the key (which a title usually repeats; the
    // preview shows it).
    let keys = visible.iter().any(|task| key_of(task).is_some());
    let cols = [
        Col::whole(),
        Col::whole(),
        Col::whole(),
        Col::key(12, 32).drop(3).shown_if(keys),
        Col::whole().drop(1),
        Col::cut(60, u16::MAX).fill().keeps_room(),
        Col::cut(8, 24),
        Col::whole().drop(2),
        Col::countdown(false),
        Col::countdown(true),
    ];
    let (cols, head) = super::chosen(app, Pane::Inbox, cols, &[]);
    let table = fit::table(&cols, head, t.style(Role::Dim), rows, table_area.width)
        .highlight(t.style(Role::Selected));
    let selected = (focused && len > 0).then(|| list.cursor - range.start);
    table.render(table_area, f.buffer_mut(), selected);
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

/// An item's time left for the inbox: seconds in its last minute, else whole minutes
/// (`4m`, `-3m`, `1h02m`), so the column changes once a minute and a tick sends only
/// the countdowns that matter (the items pane and SLA board keep the seconds).
fn by_minute(secs: i64) -> String {
    if secs.abs() < 60 {
        return clock(secs);
    }
    let sign = if secs < 0 { "-" } else { "" };
    let m = secs.unsigned_abs() / 60;
    match m {
        0..60 => format!("{sign}{m}m"),
        _ => clock(secs),
    }
}

/// What the selected task is about.
fn context(f: &mut Frame, app: &App, task: &TaskView, area: Rect) {
    let t = &app.theme;
    let dim = t.style(Role::Dim);
    let key = app
        .model
        .items
        .get(&task.item)
        .and_then(|i| i.key.as_deref());
    let key = key.map(|k| format!("{k} · ")).unwrap_or_default();
    let mut lines = vec![Line::from(vec![
        Span::styled(
            format!(
                "task {} · item {} · {key}{}/{} ",
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

#[cfg(test)]
mod tests {
    use super::by_minute;

    #[test]
    fn the_item_sla_in_the_inbox_ticks_by_the_minute_until_its_last_one() {
        assert_eq!(by_minute(29), "0:29");
        assert_eq!(by_minute(-5), "-0:05");
        assert_eq!(by_minute(61), "1m");
        assert_eq!(by_minute(119), "1m");
        assert_eq!(by_minute(-200), "-3m");
        assert_eq!(by_minute(3725), "1h02m");
    }
}
