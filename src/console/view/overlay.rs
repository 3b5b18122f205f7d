//! What sits on top of the panes: the footer (key hints or the prompt being typed),
//! toasts, and the modal dialogs (help, confirm, reject comment, picker).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};

use crate::console::app::cmdline::Completion;
use crate::console::app::input::Input;
use crate::console::app::{App, Mode, Pane, PickFor, Picker, ToastKind};
use crate::console::keymap::Action;
use crate::console::theme::Role;

/// A dim centred hint inside an empty pane.
pub fn empty(f: &mut Frame, app: &App, area: Rect, text: &str) {
    if area.height < 2 {
        return;
    }
    let y = area.y + area.height / 2;
    let p = Paragraph::new(Span::styled(text.to_string(), app.theme.style(Role::Dim))).centered();
    f.render_widget(p, Rect::new(area.x, y, area.width, 1));
}

fn hint_actions(app: &App) -> Vec<Action> {
    use Action::*;
    // Help and quit first: on a narrow terminal the rest may not fit.
    let mut v = vec![Help, Quit];
    if app.detail.is_some() {
        v.extend([Back, Retry, Skip, Cancel, Compensate, Approve, Reject]);
        return v;
    }
    v.extend(match app.focus {
        Pane::Inbox => vec![
            Approve, Reject, Claim, Reassign, Escalate, Detail, InboxScope, Mark,
        ],
        Pane::Events => vec![Detail],
        _ => vec![Detail, Retry, Skip, Cancel, Approve, Mark, Sort],
    });
    v.extend([Filter, Command, NextPane]);
    if app.opts.rate.is_some() {
        v.push(RateUp);
    }
    v
}

pub fn footer(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let line = match &app.mode {
        Mode::Filter { input, .. } => prompt(
            f,
            app,
            area,
            "/",
            input,
            "filter: status:incident,waiting -wf:legacy sla<30m prio:3..7 · Enter keep · Esc undo",
        ),
        Mode::Command(input) => match &app.cmdline.completion {
            Some(c) => {
                let mut line = prompt(f, app, area, ":", input, "");
                line.spans.extend(completions(app, c));
                line
            }
            None => prompt(
                f,
                app,
                area,
                ":",
                input,
                "command · Tab complete · ↑↓ history · :help lists them · Enter run · Esc cancel",
            ),
        },
        _ => {
            // Only whole hints: the ones that do not fit are left out, not cut.
            let mut spans = Vec::new();
            let mut used = 0;
            for a in hint_actions(app) {
                let Some(k) = app.keymap.keys_for(a).into_iter().next() else {
                    continue;
                };
                let what = format!(" {}  ", short(a));
                let w = k.chars().count() + what.chars().count();
                if used + w > area.width as usize {
                    break;
                }
                used += w;
                spans.push(Span::styled(k, t.style(Role::Key)));
                spans.push(Span::styled(what, t.style(Role::Dim)));
            }
            Line::from(spans)
        }
    };
    f.render_widget(Paragraph::new(line).style(t.style(Role::Base)), area);
    // The message log shows them all already.
    if !matches!(app.mode, Mode::Messages { .. }) {
        toasts(f, app, area);
    }
}

/// A Tab's candidates after the prompt, the one in the line highlighted; a window of
/// them around it when there are many.
fn completions(app: &App, c: &Completion) -> Vec<Span<'static>> {
    let t = &app.theme;
    if c.candidates.is_empty() {
        return vec![Span::styled("no completions", t.style(Role::Dim))];
    }
    let from = c.current.unwrap_or(0).saturating_sub(3);
    let mut spans = Vec::new();
    if from > 0 {
        spans.push(Span::styled("… ", t.style(Role::Dim)));
    }
    for (i, cand) in c.candidates.iter().enumerate().skip(from) {
        let role = match c.current == Some(i) {
            true => Role::Key,
            false => Role::Dim,
        };
        spans.push(Span::styled(cand.clone(), t.style(role)));
        spans.push(Span::raw(" "));
    }
    if c.candidates.len() > 1 {
        let at = c.current.map_or("-".to_string(), |i| (i + 1).to_string());
        spans.insert(
            0,
            Span::styled(
                format!("[{at}/{}] ", c.candidates.len()),
                t.style(Role::Dim),
            ),
        );
    }
    spans
}

fn short(a: Action) -> &'static str {
    match a {
        Action::NextPane => "pane",
        Action::InboxScope => "scope",
        Action::RateUp => "load",
        Action::Command => "cmd",
        other => other.name(),
    }
}

fn prompt<'a>(
    f: &mut Frame,
    app: &App,
    area: Rect,
    lead: &'a str,
    input: &Input,
    help: &str,
) -> Line<'a> {
    let t = &app.theme;
    let x = area.x + 1 + input.text[..byte(input)].chars().count() as u16;
    f.set_cursor_position(Position::new(x.min(area.right().saturating_sub(1)), area.y));
    Line::from(vec![
        Span::styled(lead, t.style(Role::Prompt)),
        Span::raw(input.text.clone()),
        Span::styled(format!("   {help}"), t.style(Role::Dim)),
    ])
}

fn byte(input: &Input) -> usize {
    input
        .text
        .char_indices()
        .nth(input.cursor)
        .map_or(input.text.len(), |(b, _)| b)
}

/// Lines a toast may take before it points at `:messages` for the rest.
const TOAST_LINES: usize = 3;

/// Newest at the bottom, right-aligned above the footer; a long one wraps at words
/// (at most [`TOAST_LINES`], the full text being in `:messages`).
fn toasts(f: &mut Frame, app: &App, footer: Rect) {
    let mut y = footer.y;
    let max_w = (footer.width as usize * 3 / 4)
        .max(40)
        .min(footer.width as usize);
    for toast in app.toasts.iter().rev() {
        let (role, mark) = match toast.kind {
            ToastKind::Ok => (Role::ToastOk, "✓"),
            ToastKind::Error => (Role::ToastError, "✗"),
        };
        let mut lines = crate::text::wrap(&toast.text, max_w.saturating_sub(4));
        if lines.len() > TOAST_LINES {
            lines.truncate(TOAST_LINES);
            if let Some(last) = lines.last_mut() {
                *last = crate::text::clip(last, max_w.saturating_sub(18)) + " (:messages)";
            }
        }
        let w = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0) as u16 + 4;
        let h = lines.len() as u16;
        if y < h {
            break;
        }
        y -= h;
        let area = Rect::new(footer.right().saturating_sub(w), y, w.min(footer.width), h);
        let text: Vec<Line> = lines
            .into_iter()
            .enumerate()
            .map(|(k, l)| match k {
                0 => Line::from(format!(" {mark} {l} ")),
                _ => Line::from(format!("   {l} ")),
            })
            .collect();
        f.render_widget(Clear, area);
        f.render_widget(Paragraph::new(text).style(app.theme.style(role)), area);
    }
}

pub(super) fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

pub(super) fn dialog<'a>(app: &App, title: &str) -> Block<'a> {
    Block::new()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(app.theme.style(Role::BorderFocus))
        .title(Span::styled(
            format!(" {title} "),
            app.theme.style(Role::Title),
        ))
        .style(app.theme.style(Role::Base))
}

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    match &app.mode {
        Mode::Help { scroll } => help(f, app, area, *scroll),
        Mode::Messages { scroll } => super::messages::draw(f, app, area, *scroll),
        Mode::Incidents { cursor } => super::incidents::draw(f, app, area, *cursor),
        Mode::Report(view) => super::report::draw(f, app, area, view),
        Mode::Workflows { cursor } => super::workflows::draw(f, app, area, *cursor),
        Mode::Confirm { question, actions } => {
            let body = vec![
                Line::from(question.clone()),
                Line::default(),
                Line::from(vec![
                    Span::styled("y", app.theme.style(Role::Key)),
                    Span::raw(format!(
                        " yes, {} command{}   ",
                        actions.len(),
                        if actions.len() == 1 { "" } else { "s" }
                    )),
                    Span::styled("n", app.theme.style(Role::Key)),
                    Span::raw(" / "),
                    Span::styled("Esc", app.theme.style(Role::Key)),
                    Span::raw(" no"),
                ]),
            ];
            modal(f, app, area, "Confirm", body, 64);
        }
        Mode::Comment { tasks, input } => {
            let what = match tasks.as_slice() {
                [one] => format!("task {one}"),
                many => format!("{} tasks", many.len()),
            };
            let body = vec![
                Line::from(format!("Reject {what}. Comment (optional):")),
                Line::from(vec![
                    Span::styled("> ", app.theme.style(Role::Prompt)),
                    Span::raw(input.text.clone()),
                ]),
                Line::default(),
                Line::from(vec![
                    Span::styled("Enter", app.theme.style(Role::Key)),
                    Span::raw(" reject   "),
                    Span::styled("Esc", app.theme.style(Role::Key)),
                    Span::raw(" keep"),
                ]),
            ];
            let r = modal(f, app, area, "Reject", body, 64);
            // Border, padding, then "> ".
            let x = r.x + 4 + input.text[..byte(input)].chars().count() as u16;
            f.set_cursor_position(Position::new(x.min(r.right().saturating_sub(2)), r.y + 2));
        }
        Mode::Picker(p) => picker(f, app, area, p),
        Mode::Form(d) => super::form::draw(f, app, area, d),
        Mode::QuitDemo => {
            let key = |k: &'static str| Span::styled(k, app.theme.style(Role::Key));
            let body = vec![
                Line::from("Quit the demo? Its engine stops and its data is thrown away."),
                Line::default(),
                Line::from(vec![
                    key("y"),
                    Span::raw(" quit   "),
                    key("n"),
                    Span::raw(" / "),
                    key("Esc"),
                    Span::raw(" stay"),
                ]),
            ];
            modal(f, app, area, "Quit", body, 64);
        }
        _ => {}
    }
}

/// A dialog sized to its text; returns where it went.
fn modal(f: &mut Frame, app: &App, area: Rect, title: &str, body: Vec<Line>, width: u16) -> Rect {
    let inner_w = width.saturating_sub(4).max(10) as usize;
    let rows: usize = body
        .iter()
        .map(|l| l.width().max(1).div_ceil(inner_w))
        .sum();
    let r = centered(area, width, rows as u16 + 2);
    f.render_widget(Clear, r);
    let p = Paragraph::new(body)
        .wrap(Wrap { trim: false })
        .block(dialog(app, title).padding(ratatui::widgets::Padding::horizontal(1)));
    f.render_widget(p, r);
    r
}

fn picker(f: &mut Frame, app: &App, area: Rect, p: &Picker) {
    let t = &app.theme;
    let visible = p.visible();
    let h = (visible.len() as u16 + 4)
        .min(area.height.saturating_sub(2))
        .max(6);
    let r = centered(area, 50, h);
    f.render_widget(Clear, r);
    let block = dialog(app, &p.title);
    let inner = block.inner(r);
    f.render_widget(block, r);
    let [q, list] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(inner);
    if matches!(p.purpose, PickFor::Decide(_)) {
        // A decision is picked, never typed: the top row says how.
        let key = |k: &'static str| Span::styled(k, t.style(Role::Key));
        let dim = |s: &'static str| Span::styled(s, t.style(Role::Dim));
        f.render_widget(
            Line::from(vec![
                key("↑↓"),
                dim("/"),
                key("jk"),
                dim(" move  "),
                key("Enter"),
                dim(" decide  "),
                key("Esc"),
                dim(" cancel"),
            ]),
            q,
        );
    } else {
        f.render_widget(
            Line::from(vec![
                Span::styled("> ", t.style(Role::Prompt)),
                Span::raw(p.query.text.clone()),
            ]),
            q,
        );
        f.set_cursor_position(Position::new(q.x + 2 + p.query.cursor as u16, q.y));
    }
    let list_view = crate::console::app::List {
        cursor: p.cursor,
        ..Default::default()
    };
    let range = super::window(&list_view, visible.len(), list.height as usize);
    let lines: Vec<Line> = range
        .map(|k| {
            let style = if k == p.cursor {
                t.style(Role::Selected)
            } else {
                t.style(Role::Base)
            };
            let mut spans = vec![Span::styled(format!(" {} ", visible[k]), style)];
            if let Some(note) = p.notes.get(&visible[k]) {
                spans.push(Span::styled(format!(" {note}"), t.style(Role::Dim)));
            }
            Line::from(spans)
        })
        .collect();
    f.render_widget(Paragraph::new(lines), list);
}

/// The filter language, for the help.
const FILTER_HELP: &[&str] = &[
    "  status:incident  wf:invoice  step:approve  sla<30m  sla:breached  sla:risk  prio>=5  id:42  age>1h  words",
    "  lists: status:running,waiting   ranges: prio:3..7  sla:10m..1h  id:100..200  prio:5..",
    "  -TERM leaves out what TERM matches: -status:completed  -legacy",
    "  terms AND together; several status: terms OR. Esc clears the filter.",
];

/// Generated from the keymap, so it is always the keys in force.
fn help(f: &mut Frame, app: &App, area: Rect, scroll: usize) {
    let t = &app.theme;
    let mut lines = Vec::new();
    for (section, keys) in app.keymap.help() {
        lines.push(Line::from(Span::styled(
            section.title().to_string(),
            t.style(Role::Title),
        )));
        for (k, what) in keys {
            lines.push(Line::from(vec![
                Span::styled(format!("  {k:<16}"), t.style(Role::Key)),
                Span::raw(what),
            ]));
        }
        lines.push(Line::default());
    }
    lines.push(Line::from(Span::styled(
        "Commands (:)",
        t.style(Role::Title),
    )));
    for (c, what) in crate::console::app::COMMANDS {
        lines.push(Line::from(vec![
            Span::styled(format!("  {c:<38}"), t.style(Role::Key)),
            Span::raw(*what),
        ]));
    }
    lines.push(Line::default());
    lines.push(Line::from(Span::styled("Filter (/)", t.style(Role::Title))));
    lines.extend(FILTER_HELP.iter().map(|l| Line::from(*l)));
    let r = centered(area, 96, area.height.saturating_sub(4));
    f.render_widget(Clear, r);
    let max = lines
        .len()
        .saturating_sub(r.height.saturating_sub(2) as usize);
    app.scroll_max.set(max);
    let title = match scroll.min(max) < max {
        true => "Help  (↓ more · ↑↓ scroll · Esc close)",
        false => "Help  (↑↓ scroll · Esc close)",
    };
    let p = Paragraph::new(lines)
        .block(dialog(app, title))
        .scroll((scroll.min(max) as u16, 0));
    f.render_widget(p, r);
}
