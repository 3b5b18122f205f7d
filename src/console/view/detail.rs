//! An item's timeline: its steps with attempts, errors and outputs, the open incident,
//! its input, and the audit trail from the journal.

use crate::console::keymap::Action;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{age, block, clock, one_line, sla_state, status_role};
use crate::console::app::{App, Detail, Reveal};
use crate::console::theme::{Role, Theme};
use crate::text::{clip, printable, printable_lines, wrap};
use crate::types::event::Phase;
use crate::types::exchange::Exchange;
use crate::types::view::{ItemDetail, StepStatus, StepView};
use crate::types::{Event, Record};

fn step_role(s: StepStatus) -> Role {
    match s {
        StepStatus::Pending => Role::Dim,
        StepStatus::Scheduled | StepStatus::Running => Role::Running,
        StepStatus::Waiting => Role::Waiting,
        StepStatus::Succeeded => Role::Completed,
        StepStatus::Failed => Role::Incident,
        StepStatus::Skipped => Role::Cancelled,
        StepStatus::Compensating | StepStatus::Compensated => Role::Compensating,
    }
}

fn status_name(s: StepStatus) -> String {
    format!("{s:?}").to_lowercase()
}

/// `85ms`, `2.4s`, then the usual short ages.
fn took(ms: i64) -> String {
    match ms {
        ..1000 => format!("{}ms", ms.max(0)),
        1000..60_000 => format!("{:.1}s", ms as f64 / 1000.0),
        _ => super::clock(ms / 1000),
    }
}

/// Lines an opened step shows of its output before pointing at `y` for the rest.
const OPEN_LINES: usize = 400;

/// The step a record is about, if any.
fn step_of(e: &Event) -> Option<&str> {
    match e {
        Event::StepScheduled { step, .. }
        | Event::StepStarted { step, .. }
        | Event::StepWaiting { step, .. }
        | Event::StepSucceeded { step, .. }
        | Event::StepFailed { step, .. }
        | Event::StepSkipped { step, .. }
        | Event::IncidentRaised { step, .. }
        | Event::ItemRetried { step, .. } => Some(step),
        _ => None,
    }
}

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let Some(d) = &app.detail else {
        return;
    };
    let mut title = format!(
        "Item {}  Esc back · Enter opens a step · / search · y copies",
        d.id
    );
    let inner = block(app, String::new(), true).inner(area);
    let (mut lines, steps) = match (&d.data, &d.error) {
        (Some(data), _) => timeline(app, d, &data.0, &data.1, inner.width as usize),
        (None, Some(e)) => (
            vec![Line::from(Span::styled(
                e.clone(),
                app.theme.style(Role::ToastError),
            ))],
            vec![],
        ),
        (None, None) => (
            vec![Line::from(Span::styled(
                "loading…",
                app.theme.style(Role::Dim),
            ))],
            vec![],
        ),
    };
    let height = inner.height.max(1) as usize;
    let max_scroll = lines.len().saturating_sub(height);
    app.scroll_max.set(max_scroll);
    let mut scroll = d.scroll.get().min(max_scroll);
    let hits = search_hits(&lines, d.search.as_deref());
    d.hits.set(hits.len());
    if let Some(q) = &d.search {
        let at = if hits.is_empty() {
            0
        } else {
            d.hit % hits.len() + 1
        };
        title.push_str(&format!("  /{q}: {at} of {}", hits.len()));
        for (k, &row) in hits.iter().enumerate() {
            let role = if k + 1 == at {
                Role::Selected
            } else {
                Role::Marked
            };
            lines[row] = std::mem::take(&mut lines[row]).style(app.theme.style(role));
        }
    }
    // Bring the selected step, or the search hit, into sight once asked.
    let want = match d.reveal.replace(Reveal::Nothing) {
        Reveal::Step => steps.get(d.step).copied(),
        Reveal::Hit => hits.get(d.hit % hits.len().max(1)).map(|&r| (r, r + 1)),
        Reveal::Nothing => None,
    };
    if let Some((start, end)) = want {
        if start < scroll {
            scroll = start;
        } else if end > scroll + height {
            scroll = (end - height).min(start);
        }
    }
    d.scroll.set(scroll);
    let block = block(app, title, true);
    f.render_widget(
        Paragraph::new(lines)
            .block(block)
            .scroll((scroll as u16, 0)),
        area,
    );
}

/// The rows whose text contains the search (lower case).
fn search_hits(lines: &[Line], q: Option<&str>) -> Vec<usize> {
    let Some(q) = q else {
        return Vec::new();
    };
    lines
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
            text.to_lowercase().contains(q)
        })
        .map(|(k, _)| k)
        .collect()
}

/// The detail's lines, and the rows each step takes (its line and, opened, what follows).
fn timeline<'a>(
    app: &App,
    d: &Detail,
    item: &ItemDetail,
    trail: &[Record],
    width: usize,
) -> (Vec<Line<'a>>, Vec<(usize, usize)>) {
    let t = &app.theme;
    let s = &item.summary;
    let dim = t.style(Role::Dim);
    let mut head = vec![
        Span::styled(
            format!("{} v{} ", s.workflow, s.version),
            t.style(Role::Title),
        ),
        Span::styled(s.status.name(), t.style(status_role(s.status))),
        Span::styled(
            format!(
                "  started {} ago  priority {}",
                age(app.now, s.started_at),
                s.priority
            ),
            dim,
        ),
    ];
    if let (Some(due), Some((role, _))) = (s.sla_due, sla_state(s, app.now)) {
        let text = if s.status.is_final() {
            format!("  SLA due {}", due.format("%H:%M:%S"))
        } else {
            format!("  SLA {} left", clock((due - app.now).num_seconds()))
        };
        head.push(Span::styled(text, t.style(role)));
    }
    let mut lines = Vec::new();
    // What the item is called comes first: it is what the operator was looking for.
    let names: Vec<&str> = [s.key.as_deref(), s.title.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    if !names.is_empty() {
        lines.push(Line::from(Span::styled(
            names.join(" · "),
            t.style(Role::Title),
        )));
    }
    lines.push(Line::from(head));
    if let Some((step, err)) = &item.incident {
        let text = format!("step {step}: {err}");
        let mut parts = wrap(&printable(&text), width.saturating_sub(11)).into_iter();
        lines.push(Line::from(vec![
            Span::styled(" INCIDENT ", t.style(Role::Incident)),
            Span::raw(parts.next().unwrap_or_default()),
        ]));
        for rest in parts {
            lines.push(Line::from(format!("{:10}{rest}", "")));
        }
        // The keys as bound (a keymap file may move them).
        let key = |a: Action| app.keymap.key_for(a);
        let hint = format!(
            "  {} retry · {} skip the step · {} compensate · {} cancel the item",
            key(Action::Retry),
            key(Action::Skip),
            key(Action::Compensate),
            key(Action::Cancel)
        );
        lines.push(Line::from(Span::styled(hint, dim)));
    }
    lines.push(Line::default());
    lines.push(Line::from(Span::styled(
        format!(
            "  {:<16} {:<7} {:<12} {:>3}  {:<9} {}",
            "STEP", "KIND", "STATUS", "TRY", "TOOK", "OUTPUT / ERROR / WAITING"
        ),
        dim,
    )));
    let mut rows = Vec::with_capacity(item.steps.len());
    for (k, step) in item.steps.iter().enumerate() {
        let start = lines.len();
        let mut line = step_line(t, app, step, width, d.open.contains(&k));
        if k == d.step {
            line = line.style(t.style(Role::Selected));
        }
        lines.push(line);
        if d.open.contains(&k) {
            opened(app, step, trail, width, &mut lines);
        }
        rows.push((start, lines.len()));
    }
    tasks(app, s.id, width, &mut lines);
    lines.push(Line::default());
    lines.push(Line::from(vec![
        Span::styled("input ", dim),
        Span::raw(one_line(&item.input, width.saturating_sub(8))),
    ]));
    lines.push(Line::default());
    lines.push(Line::from(Span::styled(
        format!("audit trail ({} records)", trail.len()),
        t.style(Role::Title),
    )));
    for r in trail {
        let mut spans = vec![
            Span::styled(r.at.format("%H:%M:%S%.3f ").to_string(), dim),
            Span::styled(format!("{:<16} ", r.event.name()), t.style(Role::Accent)),
            Span::raw(printable(&r.event.detail()).into_owned()),
            Span::styled(format!("  by {}", r.actor), dim),
        ];
        if let Some(reason) = &r.reason {
            spans.push(Span::styled(format!(" ({reason})"), dim));
        }
        lines.push(Line::from(spans));
    }
    (lines, rows)
}

/// The exchange of a step's latest attempt that made one, from the item's records (a
/// failing step's is also in its view; a success's only in its record).
pub(crate) fn last_exchange<'a>(trail: &'a [Record], step: &str) -> Option<&'a Exchange> {
    trail.iter().rev().find_map(|r| match &r.event {
        Event::StepSucceeded {
            step: s,
            exchange,
            phase: Phase::Run,
            ..
        }
        | Event::StepFailed {
            step: s,
            exchange,
            phase: Phase::Run,
            ..
        } if s == step => Some(exchange.as_deref()),
        _ => None,
    })?
}

/// An opened step: its condition and needs, its whole error, its output as indented
/// JSON (the first [`OPEN_LINES`] lines), its HTTP exchange, and every record about it.
fn opened(app: &App, step: &StepView, trail: &[Record], width: usize, lines: &mut Vec<Line>) {
    let t = &app.theme;
    let dim = t.style(Role::Dim);
    let pad = "    ";
    let room = width.saturating_sub(pad.len() + 1).max(10);
    // Indented: the output is indented JSON.
    let mut text = |role: Role, body: &str| {
        for part in wrap(&printable_lines(body), room) {
            lines.push(Line::from(vec![
                Span::raw(pad),
                Span::styled(part, t.style(role)),
            ]));
        }
    };
    if !step.needs.is_empty() {
        text(Role::Dim, &format!("needs {}", step.needs.join(", ")));
    }
    if let Some(w) = &step.when {
        text(Role::Dim, &format!("when {w}"));
    }
    if let Some(task) = step.task {
        text(Role::Dim, &format!("task {task}"));
    }
    if let Some(e) = &step.error {
        let code = e
            .code
            .as_deref()
            .map(|c| format!(", code {c}"))
            .unwrap_or_default();
        text(
            Role::Failed,
            &format!("error ({}{code}): {}", e.kind.name(), e.message),
        );
    }
    if let Some(o) = &step.output {
        let pretty = serde_json::to_string_pretty(o).unwrap_or_else(|_| o.to_string());
        let total = pretty.lines().count();
        text(Role::Dim, "output");
        for l in pretty.lines().take(OPEN_LINES) {
            text(Role::Base, l);
        }
        if total > OPEN_LINES {
            let key = app.keymap.key_for(Action::Copy);
            text(
                Role::Dim,
                &format!(
                    "… {} more lines; {key} copies all of it",
                    total - OPEN_LINES
                ),
            );
        }
    }
    if let Some(x) = step
        .exchange
        .as_ref()
        .or_else(|| last_exchange(trail, &step.id))
    {
        super::exchange::lines(t, x, pad, room, lines);
    }
    let about: Vec<&Record> = trail
        .iter()
        .filter(|r| step_of(&r.event) == Some(step.id.as_str()))
        .collect();
    if !about.is_empty() {
        lines.push(Line::from(vec![
            Span::raw(pad),
            Span::styled("records", dim),
        ]));
    }
    for r in about {
        let head = format!("{} {} ", r.at.format("%H:%M:%S%.3f"), r.event.name());
        let body = printable(&r.event.detail()).into_owned();
        let parts = wrap(&body, room.saturating_sub(head.chars().count()).max(10));
        for (k, part) in parts.into_iter().enumerate() {
            let lead = if k == 0 {
                head.clone()
            } else {
                " ".repeat(head.chars().count())
            };
            lines.push(Line::from(vec![
                Span::raw(pad),
                Span::styled(lead, dim),
                Span::raw(part),
            ]));
        }
    }
    lines.push(Line::default());
}

fn step_line<'a>(t: &Theme, app: &App, step: &StepView, width: usize, open: bool) -> Line<'a> {
    let took = match (step.started_at, step.ended_at) {
        (Some(a), Some(b)) => took((b - a).num_milliseconds()),
        (Some(a), None) => took((app.now - a).num_milliseconds()),
        _ => "-".into(),
    };
    let room = width.saturating_sub(56).max(10);
    let (what, role) = if let Some(e) = &step.error {
        (e.to_string(), Role::Failed)
    } else if let Some(w) = &step.waiting_on {
        (format!("waiting on {w}"), Role::Waiting)
    } else if let Some(next) = step.next_attempt_at {
        (
            format!("next attempt in {}", clock((next - app.now).num_seconds())),
            Role::SlaWarning,
        )
    } else if let Some(o) = &step.output {
        (one_line(o, room), Role::Base)
    } else {
        (String::new(), Role::Base)
    };
    let what = clip(&printable(&what), room);
    Line::from(vec![
        Span::raw(if open { "▾ " } else { "▸ " }),
        Span::raw(format!("{:<16} {:<7} ", clip(&step.id, 16), step.kind)),
        Span::styled(status_name(step.status), t.style(step_role(step.status))),
        Span::raw(" ".repeat(12usize.saturating_sub(status_name(step.status).len()))),
        Span::raw(format!(" {:>3}  {:<9} ", step.attempts, took)),
        Span::styled(what, t.style(role)),
    ])
}

/// The item's open tasks: what each asks, its details line by line, its options.
fn tasks<'a>(app: &App, item: crate::types::ItemId, width: usize, lines: &mut Vec<Line<'a>>) {
    let t = &app.theme;
    let dim = t.style(Role::Dim);
    for task in app.model.tasks.iter().filter(|k| k.item == item) {
        lines.push(Line::default());
        lines.push(Line::from(vec![
            Span::styled(format!("task {} ", task.id), t.style(Role::Accent)),
            Span::styled(task.title.clone(), t.style(Role::Title)),
        ]));
        if let Some(d) = &task.details {
            for l in crate::text::wrap_words(d.trim_end(), width.saturating_sub(2)) {
                lines.push(Line::from(format!("  {l}")));
            }
        }
        let mut facts = vec![
            Span::styled("  options ", dim),
            Span::raw(task.options.join(" / ")),
        ];
        if !task.form.is_empty() {
            facts.push(Span::styled("  form ", dim));
            facts.push(Span::raw(super::form::field_names(&task.form)));
        }
        lines.push(Line::from(facts));
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::json;

    use super::*;
    use crate::types::exchange::Request;

    fn record(seq: u64, step: &str, url: Option<&str>, ok: bool) -> Record {
        let exchange = url.map(|u| {
            Box::new(Exchange {
                request: Request {
                    method: "GET".into(),
                    url: u.into(),
                    headers: Vec::new(),
                    headers_omitted: 0,
                    body: None,
                },
                response: None,
                duration_ms: 1,
            })
        });
        let event = match ok {
            true => Event::StepSucceeded {
                item: 1,
                step: step.into(),
                attempt: 1,
                output: json!({}),
                phase: Phase::Run,
                exchange,
            },
            false => Event::StepFailed {
                item: 1,
                step: step.into(),
                attempt: 1,
                error: crate::types::event::StepError::new(
                    crate::types::event::StepErrorKind::Status,
                    "503",
                ),
                phase: Phase::Run,
                exchange,
            },
        };
        Record {
            seq,
            at: Utc::now(),
            item: Some(1),
            actor: "engine".into(),
            via: None,
            reason: None,
            event,
        }
    }

    /// A success's exchange is read from its record: the latest attempt's, of that step.
    #[test]
    fn the_latest_attempts_exchange_comes_from_the_records() {
        let trail = [
            record(1, "a", Some("http://a/1"), false),
            record(2, "a", Some("http://a/2"), true),
            record(3, "b", Some("http://b/1"), true),
            record(4, "c", Some("http://c/1"), false),
            record(5, "c", None, true),
        ];
        let url = |s| last_exchange(&trail, s).map(|x| x.request.url.as_str());
        assert_eq!(url("a"), Some("http://a/2"));
        assert_eq!(url("b"), Some("http://b/1"));
        assert_eq!(url("c"), None, "the latest attempt made none");
        assert_eq!(url("d"), None);
    }
}
