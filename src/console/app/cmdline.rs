//! The `:` prompt's own keys: Up/Down walk the history (the typed text as a prefix),
//! Tab and Shift-Tab complete and cycle; Enter runs the line and keeps it in the history.

use crossterm::event::{KeyCode, KeyEvent};

use super::complete::{self, Word};
use super::input::{Edit, Input};
use super::{App, Effect, Mode};
use crate::console::theme::builtin_names;

/// Command lines kept, the newest.
pub const HISTORY_MAX: usize = 500;
/// Longer lines (in bytes) are not kept.
pub const LINE_MAX: usize = 1024;

/// Whether a line may go into the history (and its file): short, one line, no escapes.
pub fn keepable(line: &str) -> bool {
    !line.trim().is_empty() && line.len() <= LINE_MAX && !line.chars().any(char::is_control)
}

/// The history and what Up/Down and Tab are in the middle of.
#[derive(Debug, Clone, Default)]
pub struct CmdLine {
    /// Earlier command lines, oldest first.
    pub history: Vec<String>,
    /// The history entry shown, and the text typed before the first Up.
    browse: Option<(usize, String)>,
    pub completion: Option<Completion>,
}

/// A Tab's candidates; another Tab on the line it left cycles them.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// Where the completed word starts (a byte offset).
    start: usize,
    pub candidates: Vec<String>,
    /// The candidate in the line; `None` when only their common prefix is.
    pub current: Option<usize>,
    /// The line as this completion left it.
    line: String,
}

impl CmdLine {
    /// Take lines read from the history file: the keepable ones, the newest last.
    pub fn load(&mut self, lines: Vec<String>) {
        self.history = lines.into_iter().filter(|l| keepable(l)).collect();
        let extra = self.history.len().saturating_sub(HISTORY_MAX);
        self.history.drain(..extra);
    }

    /// Keep a line run; whether it was new (not the same as the one before).
    fn remember(&mut self, line: &str) -> bool {
        if !keepable(line) || self.history.last().is_some_and(|l| l == line) {
            return false;
        }
        self.history.push(line.to_string());
        if self.history.len() > HISTORY_MAX {
            self.history.remove(0);
        }
        true
    }

    /// The next older (`up`) or newer entry starting with what was typed before the walk.
    fn walk(&mut self, input: &mut Input, up: bool) {
        let (at, typed) = match self.browse.take() {
            Some(b) => b,
            None if up => (self.history.len(), input.text.clone()),
            None => return,
        };
        let hit = |l: &String| l.starts_with(typed.as_str());
        let next = match up {
            true => self.history[..at].iter().rposition(hit),
            false => self.history[at + 1..]
                .iter()
                .position(hit)
                .map(|i| i + at + 1),
        };
        match next {
            Some(i) => {
                *input = Input::with(&self.history[i]);
                self.browse = Some((i, typed));
            }
            // Past the newest: back to what was typed.
            None if !up => *input = Input::with(&typed),
            // Past the oldest: stay.
            None => self.browse = Some((at, typed)),
        }
    }
}

impl App {
    /// A key in the `:` prompt.
    pub(super) fn command_key(&mut self, mut input: Input, key: KeyEvent) -> Vec<Effect> {
        match key.code {
            KeyCode::Tab | KeyCode::BackTab => {
                self.complete(&mut input, key.code == KeyCode::Tab);
                self.mode = Mode::Command(input);
                return vec![];
            }
            KeyCode::Up | KeyCode::Down => {
                self.cmdline.completion = None;
                self.cmdline.walk(&mut input, key.code == KeyCode::Up);
                self.mode = Mode::Command(input);
                return vec![];
            }
            _ => {}
        }
        let edit = input.key(&key);
        if edit != Edit::Ignored {
            self.cmdline.completion = None;
        }
        match edit {
            Edit::Submit => {
                self.cmdline.browse = None;
                let line = input.text.trim();
                let mut effects = Vec::new();
                if self.cmdline.remember(line) {
                    effects.push(Effect::History(line.to_string()));
                }
                effects.extend(self.command(line));
                effects
            }
            Edit::Cancel => {
                self.cmdline.browse = None;
                vec![]
            }
            Edit::Changed | Edit::Ignored => {
                self.mode = Mode::Command(input);
                vec![]
            }
        }
    }

    /// Complete the word before the cursor, or cycle the candidates of the last Tab.
    fn complete(&mut self, input: &mut Input, forward: bool) {
        if let Some(c) = self
            .cmdline
            .completion
            .as_mut()
            .filter(|c| c.line == input.text)
            && !c.candidates.is_empty()
        {
            let n = c.candidates.len();
            let next = match (c.current, forward) {
                (None, true) => 0,
                (None, false) => n - 1,
                (Some(i), true) => (i + 1) % n,
                (Some(i), false) => (i + n - 1) % n,
            };
            let (start, end) = (c.start, input_byte(input));
            let text = format!("{}{}", &input.text[..start], c.candidates[next]);
            let after = input.text[end..].to_string();
            *input = Input::with(&text);
            input.text.push_str(&after);
            c.current = Some(next);
            c.line = input.text.clone();
            return;
        }
        let end = input_byte(input);
        let before = input.text[..end].to_string();
        let Some(word) = complete::word(&before) else {
            self.cmdline.completion = Some(Completion {
                start: end,
                candidates: vec![],
                current: None,
                line: input.text.clone(),
            });
            return;
        };
        let candidates = self.candidates(&word);
        let after = input.text[end..].to_string();
        let put = |input: &mut Input, with: &str| {
            *input = Input::with(&format!("{}{with}", &before[..word.start]));
            input.text.push_str(&after);
        };
        let (start, typed) = (word.start, word.typed.to_string());
        let current = match candidates.as_slice() {
            [] => None,
            [one] => {
                put(input, &format!("{one} "));
                self.cmdline.completion = None;
                return;
            }
            many => {
                let prefix = complete::common_prefix(many);
                if prefix.chars().count() > typed.chars().count() {
                    put(input, &prefix);
                    None
                } else {
                    put(input, &many[0]);
                    Some(0)
                }
            }
        };
        self.cmdline.completion = Some(Completion {
            start,
            candidates,
            current,
            line: input.text.clone(),
        });
    }

    /// What may follow `word.verb` (or the verbs themselves), starting with what is typed.
    fn candidates(&self, word: &Word<'_>) -> Vec<String> {
        let all: Vec<String> = match word.verb {
            None => {
                let mut v: Vec<String> = complete::verbs().into_iter().map(String::from).collect();
                v.sort_unstable();
                v
            }
            Some("start") => self.model.workflows.clone(),
            Some("theme") => builtin_names().iter().map(|s| s.to_string()).collect(),
            Some("item") => self.item_ids(word.typed),
            Some("task") => self.model.tasks.iter().map(|t| t.id.to_string()).collect(),
            Some("approve") => self
                .target_tasks()
                .first()
                .map(|t| t.options.clone())
                .unwrap_or_default(),
            Some("reassign") => self.people_and_groups(),
            Some("sort") => super::sort::SortKey::choices(self.focus)
                .iter()
                .map(|k| k.name().to_string())
                .collect(),
            _ => vec![],
        };
        complete::matching(all, word.typed)
    }

    /// Item ids starting with `typed`: the items pane's order, then the rest of the mirror
    /// newest first.
    fn item_ids(&self, typed: &str) -> Vec<String> {
        let shown = (0..self.len(super::Pane::Items))
            .filter_map(|row| self.item_at(super::Pane::Items, row).map(|i| i.id));
        let rest = self.model.items.keys().rev().copied();
        shown
            .chain(rest)
            .map(|id| id.to_string())
            .filter(|id| id.starts_with(typed.trim_start_matches('#')))
            .take(complete::CANDIDATES_MAX * 4)
            .collect()
    }
}

fn input_byte(input: &Input) -> usize {
    input
        .text
        .char_indices()
        .nth(input.cursor)
        .map_or(input.text.len(), |(b, _)| b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keeps_the_newest_short_clean_lines() {
        let mut c = CmdLine::default();
        let mut lines: Vec<String> = (0..HISTORY_MAX + 20).map(|i| format!("item {i}")).collect();
        lines.push("x".repeat(LINE_MAX + 1));
        lines.push("theme \x1b]0;pwned\x07".into());
        lines.push("   ".into());
        c.load(lines);
        assert_eq!(c.history.len(), HISTORY_MAX);
        assert_eq!(c.history[0], "item 20", "the oldest go first");
        assert_eq!(
            c.history.last().map(String::as_str),
            Some(&*format!("item {}", HISTORY_MAX + 19))
        );
        assert!(c.remember("sla"));
        assert!(!c.remember("sla"), "the same line twice is kept once");
        assert!(!c.remember("a\u{7}b"), "no control characters");
        assert_eq!(c.history.len(), HISTORY_MAX, "still at most the limit");
    }

    #[test]
    fn up_and_down_walk_lines_starting_with_what_was_typed() {
        let mut c = CmdLine::default();
        c.load(
            ["item 1", "theme dark", "item 2"]
                .map(String::from)
                .to_vec(),
        );
        let mut i = Input::with("it");
        c.walk(&mut i, true);
        assert_eq!(i.text, "item 2");
        c.walk(&mut i, true);
        assert_eq!(i.text, "item 1", "theme dark does not start with it");
        c.walk(&mut i, true);
        assert_eq!(i.text, "item 1", "the oldest stays");
        c.walk(&mut i, false);
        assert_eq!(i.text, "item 2");
        c.walk(&mut i, false);
        assert_eq!(i.text, "it", "past the newest: what was typed");
        c.walk(&mut i, false);
        assert_eq!(i.text, "it", "Down without a walk does nothing");
    }
}
