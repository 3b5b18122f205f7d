//! Drawing: pure functions from the app's state into a frame. Wide terminals get the
//! panes side by side, 80×24 gets tabs, and anything smaller gets a plain message.

mod detail;
mod events;
mod exchange;
mod fit;
mod form;
mod grid;
mod header;
mod inbox;
mod incidents;
mod items;
mod messages;
mod overlay;
mod report;
mod sla;
mod workflows;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Paragraph, Wrap};

use self::grid::Grid;
use super::app::{App, List, Pane};
use super::theme::Role;
use crate::types::view::{ItemStatus, ItemSummary};

/// Below this the console says so instead of drawing.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;
/// From here on the panes sit side by side.
const WIDE_WIDTH: u16 = 150;
const WIDE_HEIGHT: u16 = 34;

pub fn draw(f: &mut Frame, app: &App) {
    let area = f.area();
    f.render_widget(Block::new().style(app.theme.style(Role::Base)), area);
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(f, app, area);
        return;
    }
    let [head, body, foot] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    header::draw(f, app, head);
    if area.width >= WIDE_WIDTH && area.height >= WIDE_HEIGHT {
        wide(f, app, body);
    } else {
        tabs(f, app, body);
    }
    overlay::footer(f, app, foot);
    overlay::draw(f, app, area);
}

fn too_small(f: &mut Frame, app: &App, area: Rect) {
    let text = vec![
        Line::from(Span::styled("tempi", app.theme.style(Role::Title))),
        Line::from(format!(
            "The console needs at least {MIN_WIDTH}×{MIN_HEIGHT}; this terminal is {}×{}.",
            area.width, area.height
        )),
        Line::from("Make the window larger, or press q to quit."),
    ];
    let w = area.width.max(1) as usize;
    let rows: usize = text.iter().map(|l| l.width().max(1).div_ceil(w)).sum();
    let h = (rows as u16).min(area.height);
    let y = area.y + area.height.saturating_sub(h) / 2;
    let p = Paragraph::new(text)
        .centered()
        .wrap(Wrap { trim: true })
        .style(app.theme.style(Role::Base));
    f.render_widget(p, Rect::new(area.x, y, area.width, h));
}

/// Items and SLA on the left, inbox and events on the right; detail replaces the left.
fn wide(f: &mut Frame, app: &App, body: Rect) {
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)]).areas(body);
    if app.detail.is_some() {
        detail::draw(f, app, left);
    } else {
        let [top, bottom] =
            Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(left);
        pane(f, app, Pane::Items, top);
        pane(f, app, Pane::Sla, bottom);
    }
    let [top, bottom] =
        Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(right);
    pane(f, app, Pane::Inbox, top);
    pane(f, app, Pane::Events, bottom);
}

/// One pane at a time, with a tab bar.
fn tabs(f: &mut Frame, app: &App, body: Rect) {
    let [bar, rest] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(body);
    let mut spans = Vec::new();
    for (k, p) in Pane::ALL.iter().enumerate() {
        let style = if *p == app.focus {
            app.theme.style(Role::Selected)
        } else {
            app.theme.style(Role::Dim)
        };
        spans.push(Span::styled(
            format!(" {} {} ({}) ", k + 1, p.title(), app.len(*p)),
            style,
        ));
        spans.push(Span::raw(" "));
    }
    f.render_widget(Line::from(spans), bar);
    if app.detail.is_some() {
        detail::draw(f, app, rest);
    } else {
        pane(f, app, app.focus, rest);
    }
}

fn pane(f: &mut Frame, app: &App, which: Pane, area: Rect) {
    match which {
        Pane::Items => items::draw(f, app, area),
        Pane::Sla => sla::draw(f, app, area),
        Pane::Inbox => inbox::draw(f, app, area),
        Pane::Events => events::draw(f, app, area),
    }
}

/// A list pane's title: its name and rows, the marks, the order, and what arrived while
/// the cursor was away from the first row (the list follows the top only there).
pub(super) fn pane_title(app: &App, pane: Pane, name: &str) -> String {
    let list = app.list(pane);
    let mut t = format!("{name} ({}", app.len(pane));
    if !list.marks.is_empty() {
        t.push_str(&format!(", {} marked", list.marks.len()));
    }
    t.push(')');
    if let Some(o) = app.order(pane) {
        t.push_str(&format!(" by {}", o.label()));
    }
    match (pane, list.cursor, list.new) {
        (Pane::Events, 0, _) => {}
        (Pane::Events, _, n) => t.push_str(&format!(" · ⏸ paused, {n} new: g follows")),
        (_, _, 0) => {}
        (_, _, n) => t.push_str(&format!(" · {n} new ↑")),
    }
    t
}

/// A pane's columns with those hidden by `:columns` left out, and its header (the names
/// in `right` right-aligned).
pub(super) fn chosen<const N: usize>(
    app: &App,
    pane: Pane,
    cols: [fit::Col; N],
    right: &[&str],
) -> ([fit::Col; N], Vec<Line<'static>>) {
    let names = crate::console::app::columns::of(pane);
    let mut k = 0;
    let cols = cols.map(|c| {
        let name = names.get(k).copied().unwrap_or("");
        k += 1;
        c.shown_if(app.shown(pane, name))
    });
    let head = names
        .iter()
        .map(|n| match right.contains(n) {
            true => Line::from(*n).right_aligned(),
            false => Line::from(*n),
        })
        .collect();
    (cols, head)
}

/// A pane's frame: title, count, and a bright border when it has the focus.
pub(super) fn block<'a>(app: &App, title: String, focused: bool) -> Block<'a> {
    let (border, kind) = if focused {
        (app.theme.style(Role::BorderFocus), BorderType::Thick)
    } else {
        (app.theme.style(Role::Border), BorderType::Plain)
    };
    Block::new()
        .borders(Borders::ALL)
        .border_type(kind)
        .border_style(border)
        .title(Span::styled(
            format!(" {title} "),
            app.theme.style(Role::Title),
        ))
}

/// The rows of a list that fit in `height`, keeping the cursor on screen; only these
/// rows are ever built, so 100,000 items cost what 40 do.
pub(super) fn window(list: &List, len: usize, height: usize) -> std::ops::Range<usize> {
    let height = height.max(1);
    let mut off = list.offset.get();
    let cursor = list.cursor.min(len.saturating_sub(1));
    if cursor < off {
        off = cursor;
    } else if cursor >= off + height {
        off = cursor + 1 - height;
    }
    off = off.min(len.saturating_sub(height));
    list.offset.set(off);
    off..(off + height).min(len)
}

/// Draw a list pane's table: the cursor row highlighted when the pane has the focus (rows
/// start at `first`), and a hint in `inner` when there are no rows.
#[allow(clippy::too_many_arguments)]
pub(super) fn list_table(
    f: &mut Frame,
    app: &App,
    pane: Pane,
    table: Grid,
    area: Rect,
    inner: Rect,
    first: usize,
    empty: &str,
) {
    let len = app.len(pane);
    let selected = (app.focus == pane && app.detail.is_none() && len > 0)
        .then(|| app.list(pane).cursor - first);
    table
        .highlight(app.theme.style(Role::Selected))
        .render(area, f.buffer_mut(), selected);
    if len == 0 {
        overlay::empty(f, app, inner, empty);
    }
}

pub(super) fn status_role(s: ItemStatus) -> Role {
    match s {
        ItemStatus::Running => Role::Running,
        ItemStatus::Waiting => Role::Waiting,
        ItemStatus::Incident => Role::Incident,
        ItemStatus::Compensating => Role::Compensating,
        ItemStatus::Completed => Role::Completed,
        ItemStatus::Failed => Role::Failed,
        ItemStatus::Cancelled => Role::Cancelled,
    }
}

/// `4:05` under an hour (ticking every second), `1h02m` under a day, `3d04h` beyond;
/// negative spans get a leading `-`. Far deadlines tick by the minute, which keeps the
/// bytes sent per second down over SSH.
pub(super) fn clock(secs: i64) -> String {
    let sign = if secs < 0 { "-" } else { "" };
    let s = secs.unsigned_abs();
    match s {
        0..3600 => format!("{sign}{}:{:02}", s / 60, s % 60),
        3600..86400 => format!("{sign}{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{sign}{}d{:02}h", s / 86400, s % 86400 / 3600),
    }
}

/// How close an item is to its SLA: the role to paint it and the share of time used.
pub(super) fn sla_state(it: &ItemSummary, now: DateTime<Utc>) -> Option<(Role, f64)> {
    let due = it.sla_due?;
    let total = (due - it.started_at).num_milliseconds().max(1) as f64;
    let used = ((now - it.started_at).num_milliseconds() as f64 / total).clamp(0.0, 1.0);
    let role = if it.status.is_final() {
        if it.ended_at.is_some_and(|e| e <= due) {
            Role::SlaOk
        } else {
            Role::SlaBreached
        }
    } else if it.sla_breached || now >= due {
        Role::SlaBreached
    } else if it.sla_warned >= 90 || used >= 0.9 {
        Role::SlaCritical
    } else if it.sla_warned > 0 || used >= 0.75 {
        Role::SlaWarning
    } else {
        Role::SlaOk
    };
    Some((role, used))
}

/// The SLA cell: a countdown for items in flight, met/missed for ended ones.
pub(super) fn sla_text(it: &ItemSummary, now: DateTime<Utc>) -> String {
    match (it.sla_due, it.status.is_final()) {
        (None, _) => "-".into(),
        (Some(_), true) if it.status != ItemStatus::Completed => "-".into(),
        (Some(due), true) => match it.ended_at.is_some_and(|e| e <= due) {
            true => "met".into(),
            false => "missed".into(),
        },
        (Some(due), false) => clock((due - now).num_seconds()),
    }
}

/// JSON on one line, at most `max` characters.
pub(super) fn one_line(v: &serde_json::Value, max: usize) -> String {
    crate::text::clip(&v.to_string(), max)
}

/// `12s`, `4m`, `3h`, `2d`: ages stay short.
pub(super) fn age(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    let s = (now - t).num_seconds().max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

pub(super) fn styled_row_style(app: &App, marked: bool) -> Style {
    if marked {
        app.theme.style(Role::Marked)
    } else {
        app.theme.style(Role::Base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_tick_in_seconds() {
        assert_eq!(clock(5), "0:05");
        assert_eq!(clock(65), "1:05");
        assert_eq!(clock(3725), "1h02m");
        assert_eq!(clock(-90), "-1:30");
        assert_eq!(clock(2 * 86400 + 3 * 3600), "2d03h");
    }

    #[test]
    fn the_window_follows_the_cursor() {
        let l = List::default();
        assert_eq!(window(&l, 100, 10), 0..10);
        let l = List {
            cursor: 15,
            ..List::default()
        };
        assert_eq!(window(&l, 100, 10), 6..16);
        assert_eq!(
            window(&l, 100, 10),
            6..16,
            "stays put while the cursor is visible"
        );
        let l = List {
            cursor: 99,
            ..List::default()
        };
        assert_eq!(window(&l, 100, 10), 90..100);
        assert_eq!(window(&l, 3, 10), 0..3);
        assert_eq!(window(&l, 0, 10), 0..0);
    }
}
