//! The open item's detail: which step is selected and opened up, the search within it,
//! and what `y` copies from it.

use std::cell::Cell;
use std::collections::BTreeSet;

use super::input::{Edit, Input};
use super::{App, Effect, Mode, Pane, ToastKind};
use crate::console::keymap::Action;
use crate::text::thousands;
use crate::types::view::ItemDetail;
use crate::types::{ItemId, Record};

/// What the view brings into sight on its next draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reveal {
    /// Leave the scroll where the operator put it.
    #[default]
    Nothing,
    /// The selected step (and as much of it opened as fits).
    Step,
    /// The current search hit.
    Hit,
}

/// The item whose timeline is open.
#[derive(Debug)]
pub struct Detail {
    pub id: ItemId,
    pub data: Option<Box<(ItemDetail, Vec<Record>)>>,
    pub error: Option<String>,
    /// First visible line; the view keeps it in range.
    pub scroll: Cell<usize>,
    /// The selected step, an index into the item's steps.
    pub step: usize,
    /// Steps opened up to their whole output, error, condition and attempts.
    pub open: BTreeSet<usize>,
    /// The text searched for with `/` (lower case), and the current hit.
    pub search: Option<String>,
    pub hit: usize,
    /// Lines that match the search, as last drawn.
    pub hits: Cell<usize>,
    pub reveal: Cell<Reveal>,
}

impl Detail {
    pub fn new(id: ItemId) -> Detail {
        Detail {
            id,
            data: None,
            error: None,
            scroll: Cell::new(0),
            step: 0,
            open: BTreeSet::new(),
            search: None,
            hit: 0,
            hits: Cell::new(0),
            reveal: Cell::new(Reveal::Nothing),
        }
    }

    fn steps(&self) -> usize {
        self.data.as_ref().map_or(0, |d| d.0.steps.len())
    }

    /// The selected step's output (as indented JSON) or error, for `y`; an error with
    /// the HTTP exchange that led to it, as the opened step shows it.
    fn selected_value(&self) -> Option<(String, String)> {
        let d = &self.data.as_ref()?.0;
        let s = d.steps.get(self.step)?;
        if let Some(o) = &s.output {
            let text = serde_json::to_string_pretty(o).unwrap_or_else(|_| o.to_string());
            return Some((format!("the output of step {}", s.id), text));
        }
        let e = s.error.as_ref()?;
        match &s.exchange {
            Some(x) => Some((
                format!("the error and HTTP exchange of step {}", s.id),
                format!("{e}\n\n{}", x.text()),
            )),
            None => Some((format!("the error of step {}", s.id), e.to_string())),
        }
    }
}

impl App {
    /// Keys while a detail is open that mean something else there than in a list:
    /// Up/Down pick a step, Enter opens it, `/` searches, `n`/`N` go from hit to hit.
    /// `None` when the key is not the detail's.
    pub(super) fn detail_key(&mut self, action: Action) -> Option<Vec<Effect>> {
        let d = self.detail.as_mut()?;
        let max = self.scroll_max.get();
        let last = d.steps().saturating_sub(1);
        match action {
            Action::Up | Action::Down => {
                d.step = match action {
                    Action::Up => d.step.saturating_sub(1),
                    _ => (d.step + 1).min(last),
                };
                d.reveal.set(Reveal::Step);
            }
            Action::PageUp | Action::PageDown => {
                let by: isize = if action == Action::PageUp { -20 } else { 20 };
                let to = (d.scroll.get() as isize).saturating_add(by);
                d.scroll
                    .set(to.clamp(0, max.min(isize::MAX as usize) as isize) as usize);
                d.reveal.set(Reveal::Nothing);
            }
            Action::Top | Action::Bottom => {
                let top = action == Action::Top;
                d.scroll.set(if top { 0 } else { max });
                d.step = if top { 0 } else { last };
                d.reveal.set(Reveal::Nothing);
            }
            Action::Detail => {
                if d.steps() > 0 && !d.open.remove(&d.step) {
                    d.open.insert(d.step);
                }
                d.reveal.set(Reveal::Step);
            }
            Action::Filter => {
                let before = d.search.clone().unwrap_or_default();
                self.mode = Mode::Search {
                    input: Input::with(&before),
                    before,
                };
            }
            Action::NextHit | Action::PrevHit if d.search.is_some() => {
                let n = d.hits.get().max(1);
                d.hit = match action {
                    Action::NextHit => (d.hit + 1) % n,
                    _ => (d.hit + n - 1) % n,
                };
                d.reveal.set(Reveal::Hit);
            }
            _ => return None,
        }
        Some(vec![])
    }

    pub(super) fn search_key(
        &mut self,
        mut input: Input,
        before: String,
        key: &crossterm::event::KeyEvent,
    ) {
        let edit = input.key(key);
        let text = match edit {
            Edit::Cancel => before.clone(),
            _ => input.text.clone(),
        };
        if let Some(d) = self.detail.as_mut() {
            let q = text.trim().to_lowercase();
            d.search = (!q.is_empty()).then_some(q);
            d.hit = 0;
            d.reveal.set(Reveal::Hit);
        }
        if matches!(edit, Edit::Changed | Edit::Ignored) {
            self.mode = Mode::Search { input, before };
        }
    }

    /// `y`: copy what is selected to the operator's clipboard (OSC 52, so it works over
    /// SSH and in tmux): a step's output or error in a detail, else the row's id.
    pub(super) fn copy(&mut self) -> Vec<Effect> {
        let (what, text) = match &self.detail {
            Some(d) => d
                .selected_value()
                .unwrap_or_else(|| (format!("item id {}", d.id), d.id.to_string())),
            None => match self.focus {
                Pane::Inbox => match self.task_at(self.list(Pane::Inbox).cursor) {
                    Some(t) => (format!("task id {}", t.id), t.id.to_string()),
                    None => return self.nothing_to_copy(),
                },
                Pane::Events => match self.record_at(self.list(Pane::Events).cursor) {
                    Some(r) => (
                        format!("record {}", r.seq),
                        format!("{} {} {} {}", r.at.to_rfc3339(), r.kind, r.detail, r.actor),
                    ),
                    None => return self.nothing_to_copy(),
                },
                _ => match self.cursor_item() {
                    Some(id) => (format!("item id {id}"), id.to_string()),
                    None => return self.nothing_to_copy(),
                },
            },
        };
        let text = crate::console::osc::copyable(&text);
        let size = match text.len() {
            n if n < 100 => String::new(),
            n => format!(" ({} bytes)", thousands(n as u64)),
        };
        self.toast(ToastKind::Ok, format!("copied {what}{size}"));
        vec![Effect::Copy(text)]
    }

    fn nothing_to_copy(&mut self) -> Vec<Effect> {
        self.toast(ToastKind::Error, "nothing selected to copy");
        vec![]
    }
}
