//! Tab completion for the `:` prompt: the verbs come from the `COMMANDS` table (so a new
//! command completes without more code), then each verb's first argument.

use super::command::COMMANDS;

/// Candidates shown for an argument, at most (item ids can number 100,000).
pub const CANDIDATES_MAX: usize = 200;

/// Every verb the `COMMANDS` table spells, in table order, once each: the first word of
/// each `|` alternative of a usage (`retry [from STEP] | skip STEP` gives retry, skip).
pub fn verbs() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for (usage, _) in COMMANDS {
        for alt in usage.split('|') {
            let Some(word) = alt.split_whitespace().next() else {
                continue;
            };
            let is_verb = word.chars().all(|c| c.is_ascii_lowercase() || c == '-');
            if is_verb && !out.contains(&word) {
                out.push(word);
            }
        }
    }
    out
}

/// The word under completion: where it starts (a byte offset), the verb before it
/// (`None` while the verb itself is typed), and the word so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word<'a> {
    pub start: usize,
    pub verb: Option<&'a str>,
    pub typed: &'a str,
}

/// Which word of `before` (the line up to the cursor) Tab completes; `None` past the
/// first argument, which no command completes.
pub fn word(before: &str) -> Option<Word<'_>> {
    let lead = before.len() - before.trim_start().len();
    let line = &before[lead..];
    let Some(space) = line.find(' ') else {
        return Some(Word {
            start: lead,
            verb: None,
            typed: line,
        });
    };
    let verb = &line[..space];
    let rest = &line[space..];
    let arg_at = lead + space + (rest.len() - rest.trim_start().len());
    let arg = &before[arg_at..];
    if arg.contains(' ') {
        return None;
    }
    Some(Word {
        start: arg_at,
        verb: Some(verb),
        typed: arg,
    })
}

/// The candidates that start with `typed` (ignoring case), in their given order.
pub fn matching(all: impl IntoIterator<Item = String>, typed: &str) -> Vec<String> {
    let typed = typed.to_lowercase();
    let mut out: Vec<String> = Vec::new();
    for c in all {
        if c.to_lowercase().starts_with(&typed) && !out.contains(&c) {
            out.push(c);
            if out.len() == CANDIDATES_MAX {
                break;
            }
        }
    }
    out
}

/// The longest prefix every candidate shares (by characters).
pub fn common_prefix(candidates: &[String]) -> String {
    let Some(first) = candidates.first() else {
        return String::new();
    };
    let mut n = first.chars().count();
    for c in &candidates[1..] {
        n = n.min(
            first
                .chars()
                .zip(c.chars())
                .take_while(|(a, b)| a == b)
                .count(),
        );
    }
    first.chars().take(n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_are_read_from_the_commands_table() {
        let v = verbs();
        for want in [
            "items", "inbox", "filter", "retry", "skip", "item", "task", "start",
        ] {
            assert!(v.contains(&want), "{want} is a verb: {v:?}");
        }
        for not in ["TEXT", "[from", "STEP", "N"] {
            assert!(!v.contains(&not), "{not} is an argument, not a verb");
        }
        let mut sorted = v.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), v.len(), "each verb once");
    }

    #[test]
    fn the_word_under_completion() {
        let w = |s| word(s).map(|w| (w.start, w.verb, w.typed));
        assert_eq!(w(""), Some((0, None, "")));
        assert_eq!(w("  st"), Some((2, None, "st")));
        assert_eq!(w("start "), Some((6, Some("start"), "")));
        assert_eq!(w("start  inv"), Some((7, Some("start"), "inv")));
        assert_eq!(w("start invoice {"), None, "past the first argument");
    }

    #[test]
    fn matching_and_common_prefix() {
        let all = ["retry", "reject", "reassign", "rate"].map(String::from);
        let m = matching(all.clone(), "RE");
        assert_eq!(m, ["retry", "reject", "reassign"]);
        assert_eq!(common_prefix(&m), "re");
        assert_eq!(common_prefix(&matching(all, "rea")), "reassign");
        assert_eq!(common_prefix(&[]), "");
        let many = (0..1000).map(|i| i.to_string());
        assert_eq!(matching(many, "").len(), CANDIDATES_MAX);
    }
}

#[cfg(test)]
mod every_verb {
    use super::verbs;
    use crate::console::app::{Mode, ToastKind};
    use crate::console::tests::fixture;

    /// A verb Tab offers is one the prompt runs: a command added to the table without
    /// its code (or the other way round) fails here.
    #[test]
    fn every_verb_offered_is_a_command() {
        for verb in verbs() {
            let mut app = fixture::app();
            app.mode = Mode::Command(crate::console::app::input::Input::with(verb));
            app.update(fixture::key(crossterm::event::KeyCode::Enter));
            let unknown = app
                .toasts
                .iter()
                .any(|t| t.kind == ToastKind::Error && t.text.contains("unknown command"));
            assert!(
                !unknown,
                ":{verb} is offered by Tab but unknown to the prompt"
            );
        }
    }
}
