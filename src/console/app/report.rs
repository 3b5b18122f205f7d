//! The KPI view (`:report [SINCE]`): which window it shows, asking the engine for it
//! again while it is open, and its keys (Tab for the next window, Esc to close).

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent};

use super::{App, Effect, Mode};
use crate::console::keymap::Action;
use crate::console::source::SourceError;
use crate::types::report::{Report, Since, parse_since};

/// How often an open view asks again.
const REFRESH_SECS: i64 = 10;

/// The windows Tab steps through: the default (what ended items are kept for), then
/// the last hour, day, week and thirty days.
const WINDOWS: [(&str, Option<u64>); 5] = [
    ("retained", None),
    ("1h", Some(3600)),
    ("24h", Some(86_400)),
    ("7d", Some(7 * 86_400)),
    ("30d", Some(30 * 86_400)),
];

#[derive(Debug, Clone, PartialEq)]
pub struct ReportView {
    /// What the window was asked as: `retained`, `1h`, or what `:report` was given.
    pub label: String,
    pub since: Option<Since>,
    /// Where in `WINDOWS` Tab goes on from.
    preset: usize,
    /// When it was last asked for.
    asked: DateTime<Utc>,
    /// The latest answer (kept while the next is on its way).
    pub report: Option<Result<Box<Report>, String>>,
    /// The first workflow row shown (the total stays at the bottom).
    pub scroll: usize,
}

impl ReportView {
    fn preset(i: usize, now: DateTime<Utc>) -> ReportView {
        let (label, secs) = WINDOWS[i % WINDOWS.len()];
        ReportView {
            label: label.to_string(),
            since: secs.map(|s| Since::Ago(std::time::Duration::from_secs(s))),
            preset: i % WINDOWS.len(),
            asked: now,
            report: None,
            scroll: 0,
        }
    }

    fn ask(&mut self, now: DateTime<Utc>) -> Effect {
        self.asked = now;
        Effect::Report(self.since.map(|s| s.at(now)))
    }
}

impl App {
    pub(super) fn open_report(&mut self, rest: &str) -> Vec<Effect> {
        let now = self.now;
        let mut view = if rest.is_empty() {
            ReportView::preset(0, now)
        } else {
            match parse_since(rest) {
                Ok(since) => ReportView {
                    label: rest.to_string(),
                    since: Some(since),
                    preset: 0,
                    asked: now,
                    report: None,
                    scroll: 0,
                },
                Err(e) => return self.fail(format!(":report {rest}: {e}")),
            }
        };
        let ask = view.ask(now);
        self.mode = Mode::Report(view);
        vec![ask]
    }

    pub(super) fn report_key(&mut self, mut view: ReportView, key: KeyEvent) -> Vec<Effect> {
        let rows = match &view.report {
            Some(Ok(r)) => r.workflows.len(),
            _ => 0,
        };
        let action = self.keymap.action(&key);
        if matches!(action, Some(Action::Back | Action::Quit)) || key.code == KeyCode::Esc {
            return vec![];
        }
        // The view clamps the scroll to what fits; here only to the rows there are.
        if let Some(scroll) = super::moved(action, view.scroll, rows) {
            view.scroll = scroll;
            self.mode = Mode::Report(view);
            return vec![];
        }
        match key.code {
            KeyCode::Tab | KeyCode::BackTab => {
                let step = if key.code == KeyCode::Tab {
                    1
                } else {
                    WINDOWS.len() - 1
                };
                let mut next = ReportView::preset(view.preset + step, self.now);
                // The figures on screen stay until the new window's arrive.
                next.report = view.report.take();
                next.scroll = view.scroll;
                let ask = next.ask(self.now);
                self.mode = Mode::Report(next);
                vec![ask]
            }
            KeyCode::Char('r') => {
                let ask = view.ask(self.now);
                self.mode = Mode::Report(view);
                vec![ask]
            }
            _ => {
                self.idle_key = true;
                self.mode = Mode::Report(view);
                vec![]
            }
        }
    }

    /// Ask again when the open view's figures are older than the refresh.
    pub(super) fn report_due(&mut self) -> Vec<Effect> {
        let now = self.now;
        match &mut self.mode {
            Mode::Report(view) if (now - view.asked).num_seconds() >= REFRESH_SECS => {
                vec![view.ask(now)]
            }
            _ => vec![],
        }
    }

    pub(super) fn reported(&mut self, got: Result<Box<Report>, SourceError>) {
        if let Mode::Report(view) = &mut self.mode {
            view.report = Some(got.map_err(|e| e.to_string()));
        }
    }
}
