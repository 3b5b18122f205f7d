//! An item's business key and title: rendered from its workflow's `key:` and `title:`
//! when it starts and again as the steps they read succeed, cleaned, bounded, journaled.

use super::scope::scope;
use super::state::{Item, ItemNames, Status};
use super::{Core, Ctx, ENGINE};
use crate::definition::Reads;
use crate::definition::template::render_string;
use crate::types::event::{Event, ItemId, Phase};
use serde_json::Value;

/// Characters a key may have. A key is matched exactly, so one past this is refused
/// (with the reason journaled) rather than cut: a cut key would name another item.
pub const MAX_KEY_CHARS: usize = 128;
/// Characters of a title kept; a longer one is cut and ends in `…`.
pub const MAX_TITLE_CHARS: usize = 200;

/// One line of plain text: control and bidi-override characters become spaces, runs of
/// whitespace one space, and the ends are trimmed.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let blank = c.is_whitespace() || c.is_control() || crate::text::is_bidi_control(c);
        if !blank {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with(' ') {
            out.push(' ');
        }
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

/// A rendered key as kept: one line, at most `MAX_KEY_CHARS`; `Ok(None)` when empty.
pub fn clean_key(text: &str) -> Result<Option<String>, String> {
    let key = one_line(text);
    let n = key.chars().count();
    if n > MAX_KEY_CHARS {
        return Err(format!(
            "the key renders to {n} characters, more than the {MAX_KEY_CHARS} a key may have"
        ));
    }
    Ok((!key.is_empty()).then_some(key))
}

/// A rendered title as kept: one line, cut to `MAX_TITLE_CHARS`; `None` when empty.
pub fn clean_title(text: &str) -> Option<String> {
    let title = one_line(text);
    match title.char_indices().nth(MAX_TITLE_CHARS - 1) {
        Some((at, _)) if title.chars().count() > MAX_TITLE_CHARS => {
            Some(format!("{}…", &title[..at]))
        }
        _ => (!title.is_empty()).then_some(title),
    }
}

/// Whether every step the names read has succeeded: only then is a render that fails
/// a problem rather than a value not known yet.
fn due(it: &Item, reads: &Reads) -> bool {
    let done = |j: &usize| {
        it.steps
            .get(*j)
            .is_some_and(|s| s.status == Status::Succeeded)
    };
    match reads {
        Reads::Every => it.steps.iter().all(|s| s.status == Status::Succeeded),
        Reads::Only(only) => only.iter().all(done),
    }
}

/// One name to render: its template, the steps it reads, its value now.
struct Name<'a> {
    src: Option<&'a str>,
    reads: Option<&'a Reads>,
    old: Option<&'a str>,
    what: &'static str,
}

impl Name<'_> {
    /// The new value, or the old one while it is not known yet; a failure once every
    /// step it reads has succeeded is a problem, and the name is then absent.
    fn render(
        &self,
        it: &Item,
        scope: &Value,
        clean: impl Fn(&str) -> Result<Option<String>, String>,
        problems: &mut Vec<String>,
    ) -> Option<String> {
        let src = self.src?;
        match render_string(src, scope).and_then(|text| clean(&text)) {
            Ok(v) => v,
            Err(_) if !self.reads.is_none_or(|r| due(it, r)) => self.old.map(str::to_string),
            Err(e) => {
                problems.push(format!("{}: {e}", self.what));
                None
            }
        }
    }
}

/// The steps either name reads, for one scope that serves both.
fn both(a: Option<&Reads>, b: Option<&Reads>) -> Reads {
    match (a, b) {
        (Some(Reads::Every), _) | (_, Some(Reads::Every)) => Reads::Every,
        (a, b) => {
            let only = |r: Option<&Reads>| match r {
                Some(Reads::Only(v)) => v.clone(),
                _ => Vec::new(),
            };
            let mut all = only(a);
            all.extend(only(b));
            all.sort_unstable();
            all.dedup();
            Reads::Only(all)
        }
    }
}

impl Core {
    /// After `event` was applied: the item whose names are to be rendered, and the step
    /// whose success asks for it (none at the start). Most events and most workflows
    /// ask for nothing, and cost one lookup.
    pub(super) fn names_due(&self, event: &Event) -> Option<(ItemId, Option<usize>)> {
        let (item, step) = match event {
            Event::ItemStarted { item, .. } => (*item, None),
            Event::StepSucceeded {
                item,
                step,
                phase: Phase::Run,
                ..
            } => (*item, Some(step)),
            _ => return None,
        };
        let names = self.state.items.get(&item)?.wf.names();
        if names.is_empty() {
            return None;
        }
        match step {
            None => Some((item, None)),
            Some(step) => {
                let i = self.state.step_index(item, step)?;
                names.reads_step(i).then_some((item, Some(i)))
            }
        }
    }

    /// Render an item's names and journal them when they changed (or failed).
    pub(super) fn name_item(&mut self, ctx: &mut Ctx, item: ItemId, after: Option<usize>) {
        let Some(it) = self.state.items.get(&item) else {
            return;
        };
        let names = it.wf.names();
        if names.is_empty() || after.is_some_and(|i| !names.reads_step(i)) {
            return;
        }
        let (key_reads, title_reads) = (names.key_reads.as_ref(), names.title_reads.as_ref());
        let scope = scope(
            it,
            &self.env,
            &self.secrets_scope,
            &both(key_reads, title_reads),
        );
        let mut problems = Vec::new();
        let key = Name {
            src: names.key.as_deref(),
            reads: key_reads,
            old: it.key(),
            what: "key",
        }
        .render(it, &scope, clean_key, &mut problems);
        let title = Name {
            src: names.title.as_deref(),
            reads: title_reads,
            old: it.title(),
            what: "title",
        }
        .render(it, &scope, |t| Ok(clean_title(t)), &mut problems);
        let now = ItemNames { key, title };
        let was = it.names.as_deref().cloned().unwrap_or_default();
        if now == was && problems.is_empty() {
            return;
        }
        // The engine names items, whoever's action let the step succeed.
        let (actor, reason) = (ctx.actor.clone(), ctx.reason.take());
        ctx.actor = ENGINE.to_string();
        self.emit(
            ctx,
            Event::ItemNamed {
                item,
                key: now.key,
                title: now.title,
                problem: (!problems.is_empty()).then(|| problems.join("; ")),
            },
        );
        ctx.actor = actor;
        ctx.reason = reason;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_line_of_bounded_text() {
        assert_eq!(
            one_line("  ACME\tGmbH\n\u{1b}[31mred\u{202e}x  "),
            "ACME GmbH [31mred x"
        );
        assert_eq!(
            clean_key("INV-2026-00042").unwrap().as_deref(),
            Some("INV-2026-00042")
        );
        assert_eq!(clean_key(" \n ").unwrap(), None);
        let long = "k".repeat(MAX_KEY_CHARS + 1);
        assert!(clean_key(&long).unwrap_err().contains("129 characters"));
        assert_eq!(clean_key(&long[1..]).unwrap().map(|k| k.len()), Some(128));
        let title = clean_title(&"é".repeat(500)).unwrap();
        assert_eq!(title.chars().count(), MAX_TITLE_CHARS);
        assert!(title.ends_with("é…"));
        let exact = "t".repeat(MAX_TITLE_CHARS);
        assert_eq!(clean_title(&exact).as_deref(), Some(exact.as_str()));
        assert_eq!(clean_title(""), None);
    }
}
