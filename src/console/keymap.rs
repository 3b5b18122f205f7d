//! Key bindings: which key does which console action, the defaults, overrides from a
//! TOML file, and the help overlay generated from them.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::theme::{line_col, sorted_entries, suggest};

/// Something the operator can ask the console to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    NextPane,
    PrevPane,
    /// Focus a pane by its number in the tab bar (1 work items … 4 events).
    FocusItems,
    FocusSla,
    FocusInbox,
    FocusEvents,
    Detail,
    Back,
    Mark,
    MarkAll,
    Filter,
    Command,
    Help,
    Quit,
    Approve,
    Reject,
    Claim,
    Reassign,
    Escalate,
    Retry,
    Skip,
    Cancel,
    Compensate,
    InboxScope,
    Sort,
    SortPrev,
    Chatter,
    Incidents,
    Copy,
    NextHit,
    PrevHit,
    RateUp,
    RateDown,
    Refresh,
}

/// Where an action is listed in the help.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Section {
    Navigation,
    Items,
    Tasks,
    General,
}

impl Section {
    /// The heading in the help overlay.
    pub fn title(&self) -> &'static str {
        match self {
            Section::Navigation => "Navigation",
            Section::Items => "Work items",
            Section::Tasks => "Tasks",
            Section::General => "General",
        }
    }
}

impl Action {
    /// Every action, in declaration order (the order within a help section).
    pub const ALL: [Action; 40] = [
        Action::Up,
        Action::Down,
        Action::PageUp,
        Action::PageDown,
        Action::Top,
        Action::Bottom,
        Action::NextPane,
        Action::PrevPane,
        Action::FocusItems,
        Action::FocusSla,
        Action::FocusInbox,
        Action::FocusEvents,
        Action::Detail,
        Action::Back,
        Action::Mark,
        Action::MarkAll,
        Action::Filter,
        Action::Command,
        Action::Help,
        Action::Quit,
        Action::Approve,
        Action::Reject,
        Action::Claim,
        Action::Reassign,
        Action::Escalate,
        Action::Retry,
        Action::Skip,
        Action::Cancel,
        Action::Compensate,
        Action::InboxScope,
        Action::Sort,
        Action::SortPrev,
        Action::Chatter,
        Action::Incidents,
        Action::Copy,
        Action::NextHit,
        Action::PrevHit,
        Action::RateUp,
        Action::RateDown,
        Action::Refresh,
    ];

    /// The key used for this action in keymap files.
    pub fn name(&self) -> &'static str {
        self.info().0
    }

    /// One short line for the help overlay.
    pub fn describe(&self) -> &'static str {
        self.info().1
    }

    /// Where the help lists this action.
    pub fn section(&self) -> Section {
        self.info().2
    }

    /// The action with this keymap-file name.
    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }

    fn info(&self) -> (&'static str, &'static str, Section) {
        use Section::*;
        match self {
            Action::Up => ("up", "move up", Navigation),
            Action::Down => ("down", "move down", Navigation),
            Action::PageUp => ("page_up", "page up", Navigation),
            Action::PageDown => ("page_down", "page down", Navigation),
            Action::Top => ("top", "go to the first row", Navigation),
            Action::Bottom => ("bottom", "go to the last row", Navigation),
            Action::NextPane => ("next_pane", "next pane", Navigation),
            Action::PrevPane => ("prev_pane", "previous pane", Navigation),
            Action::FocusItems => ("focus_items", "the work items pane", Navigation),
            Action::FocusSla => ("focus_sla", "the SLA board", Navigation),
            Action::FocusInbox => ("focus_inbox", "the inbox", Navigation),
            Action::FocusEvents => ("focus_events", "the events pane", Navigation),
            Action::Detail => ("detail", "open the detail", Navigation),
            Action::Back => ("back", "back / close", Navigation),
            Action::Mark => ("mark", "mark the row for a bulk action", Items),
            Action::MarkAll => ("mark_all", "mark all rows", Items),
            Action::Retry => ("retry", "retry the failed step", Items),
            Action::Skip => ("skip", "skip the failed step", Items),
            Action::Cancel => ("cancel", "cancel the item (confirms)", Items),
            Action::Compensate => ("compensate", "compensate: undo completed steps", Items),
            Action::Approve => (
                "approve",
                "approve (a picker of its options, or its form, when it has them)",
                Tasks,
            ),
            Action::Reject => ("reject", "reject the task", Tasks),
            Action::Claim => ("claim", "claim the task", Tasks),
            Action::Reassign => ("reassign", "reassign the task", Tasks),
            Action::Escalate => ("escalate", "escalate the task", Tasks),
            Action::InboxScope => ("inbox_scope", "inbox: mine / my groups / all", Tasks),
            Action::Filter => ("filter", "filter (status:failed wf:NAME sla<30m)", General),
            Action::Sort => ("sort", "sort the pane by the next column", General),
            Action::SortPrev => ("sort_prev", "sort the pane by the previous column", General),
            Action::Chatter => ("chatter", "events: show or hide step progress", General),
            Action::Incidents => ("incidents", "incidents grouped by cause", Items),
            Action::Copy => (
                "copy",
                "copy the id, or a detail's step output, to the clipboard",
                General,
            ),
            Action::NextHit => ("next_hit", "detail: next search hit", Navigation),
            Action::PrevHit => ("prev_hit", "detail: previous search hit", Navigation),
            Action::Command => ("command", "command mode", General),
            Action::Refresh => ("refresh", "refresh now", General),
            Action::RateUp => ("rate_up", "demo: more load", General),
            Action::RateDown => ("rate_down", "demo: less load", General),
            Action::Help => ("help", "this help", General),
            Action::Quit => ("quit", "quit", General),
        }
    }
}

/// One key with its modifiers, normalised so a binding and a key press compare equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    code: KeyCode,
    mods: KeyModifiers,
}

impl Key {
    fn new(code: KeyCode, mods: KeyModifiers) -> Key {
        let mut mods = mods & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        let code = match code {
            // Most terminals cannot tell ctrl-a from ctrl-A.
            KeyCode::Char(c) if mods.contains(KeyModifiers::CONTROL) => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::Char(c.to_ascii_lowercase())
            }
            // A shifted letter arrives as the capital, with or without SHIFT.
            KeyCode::Char(c) if mods.contains(KeyModifiers::SHIFT) => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::Char(c.to_ascii_uppercase())
            }
            KeyCode::BackTab => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            KeyCode::Tab if mods.contains(KeyModifiers::SHIFT) => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            other => other,
        };
        Key { code, mods }
    }

    fn plain(code: KeyCode) -> Key {
        Key::new(code, KeyModifiers::NONE)
    }

    fn ctrl(c: char) -> Key {
        Key::new(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    fn parse(text: &str) -> Option<Key> {
        let mut mods = KeyModifiers::NONE;
        let mut rest = text;
        while let Some((m, tail)) = strip_modifier(rest) {
            mods |= m;
            rest = tail;
        }
        Some(Key::new(parse_code(rest)?, mods))
    }

    fn display(&self) -> String {
        let mut out = String::new();
        for (m, prefix) in [
            (KeyModifiers::CONTROL, "ctrl-"),
            (KeyModifiers::ALT, "alt-"),
            (KeyModifiers::SHIFT, "shift-"),
        ] {
            if self.mods.contains(m) {
                out.push_str(prefix);
            }
        }
        out + &code_name(self.code)
    }
}

const MODIFIER_PREFIXES: [(&str, KeyModifiers); 3] = [
    ("ctrl-", KeyModifiers::CONTROL),
    ("alt-", KeyModifiers::ALT),
    ("shift-", KeyModifiers::SHIFT),
];

fn strip_modifier(text: &str) -> Option<(KeyModifiers, &str)> {
    MODIFIER_PREFIXES.iter().find_map(|(prefix, m)| {
        let head = text.get(..prefix.len())?;
        let tail = &text[prefix.len()..];
        (head.eq_ignore_ascii_case(prefix) && !tail.is_empty()).then_some((*m, tail))
    })
}

const NAMED_KEYS: [(&str, KeyCode); 16] = [
    ("Enter", KeyCode::Enter),
    ("Esc", KeyCode::Esc),
    ("Tab", KeyCode::Tab),
    ("BackTab", KeyCode::BackTab),
    ("Space", KeyCode::Char(' ')),
    ("Up", KeyCode::Up),
    ("Down", KeyCode::Down),
    ("Left", KeyCode::Left),
    ("Right", KeyCode::Right),
    ("PageUp", KeyCode::PageUp),
    ("PageDown", KeyCode::PageDown),
    ("Home", KeyCode::Home),
    ("End", KeyCode::End),
    ("Backspace", KeyCode::Backspace),
    ("Delete", KeyCode::Delete),
    ("Insert", KeyCode::Insert),
];

fn parse_code(text: &str) -> Option<KeyCode> {
    let mut chars = text.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        return (!c.is_control() && !c.is_whitespace()).then_some(KeyCode::Char(c));
    }
    let lower = text.to_ascii_lowercase();
    let alias = match lower.as_str() {
        "escape" => "esc",
        "return" => "enter",
        "del" => "delete",
        other => other,
    };
    if let Some((_, code)) = NAMED_KEYS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(alias))
    {
        return Some(*code);
    }
    let n: u8 = alias.strip_prefix('f')?.parse().ok()?;
    (1..=12).contains(&n).then_some(KeyCode::F(n))
}

fn code_name(code: KeyCode) -> String {
    if let Some((name, _)) = NAMED_KEYS.iter().find(|(_, c)| *c == code) {
        return (*name).to_string();
    }
    match code {
        KeyCode::Char(c) => c.to_string(),
        KeyCode::F(n) => format!("F{n}"),
        other => format!("{other:?}"),
    }
}

const ACCEPTED_KEYS: &str = "a letter, digit or symbol, Enter, Esc, Tab, BackTab, Space, Up, \
     Down, Left, Right, PageUp, PageDown, Home, End, Backspace, Delete, Insert or F1-F12, \
     optionally with ctrl-, alt- or shift- in front (\"ctrl-a\", \"shift-Tab\")";

/// Why a keymap file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeymapError {
    #[error("{}: cannot read key bindings: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}:{col}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        col: usize,
        message: String,
    },
}

/// The bindings in force: for each action its keys, and the reverse lookup.
#[derive(Clone, Debug, PartialEq)]
pub struct Keymap {
    bindings: BTreeMap<Action, Vec<Key>>,
    lookup: HashMap<Key, Action>,
}

impl Default for Keymap {
    fn default() -> Keymap {
        Keymap::from_bindings(default_bindings())
    }
}

fn default_bindings() -> BTreeMap<Action, Vec<Key>> {
    use KeyCode::*;
    let c = |ch: char| Key::plain(Char(ch));
    let k = Key::plain;
    BTreeMap::from([
        (Action::Up, vec![k(Up), c('k')]),
        (Action::Down, vec![k(Down), c('j')]),
        (Action::PageUp, vec![k(PageUp)]),
        (Action::PageDown, vec![k(PageDown)]),
        (Action::Top, vec![k(Home), c('g')]),
        (Action::Bottom, vec![k(End), c('G')]),
        (Action::NextPane, vec![k(Tab)]),
        (Action::PrevPane, vec![k(BackTab)]),
        (Action::FocusItems, vec![c('1')]),
        (Action::FocusSla, vec![c('2')]),
        (Action::FocusInbox, vec![c('3')]),
        (Action::FocusEvents, vec![c('4')]),
        (Action::Detail, vec![k(Enter)]),
        (Action::Back, vec![k(Esc)]),
        (Action::Mark, vec![c(' ')]),
        (Action::MarkAll, vec![Key::ctrl('a')]),
        (Action::Filter, vec![c('/')]),
        (Action::Command, vec![c(':')]),
        (Action::Help, vec![c('?')]),
        (Action::Quit, vec![c('q'), Key::ctrl('c')]),
        (Action::Approve, vec![c('a')]),
        (Action::Reject, vec![c('x')]),
        (Action::Claim, vec![c('c')]),
        (Action::Reassign, vec![c('r')]),
        (Action::Escalate, vec![c('e')]),
        (Action::Retry, vec![c('t')]),
        (Action::Skip, vec![c('s')]),
        // Destructive, so off the movement keys: ctrl-k, as k9s kills.
        (Action::Cancel, vec![Key::ctrl('k')]),
        (Action::Compensate, vec![c('C')]),
        (Action::InboxScope, vec![c('i')]),
        (Action::Sort, vec![c('o'), c('>')]),
        (Action::SortPrev, vec![c('<')]),
        (Action::Chatter, vec![c('v')]),
        (Action::Incidents, vec![c('I')]),
        (Action::Copy, vec![c('y')]),
        (Action::NextHit, vec![c('n')]),
        (Action::PrevHit, vec![c('N')]),
        (Action::RateUp, vec![c('+')]),
        (Action::RateDown, vec![c('-')]),
        (Action::Refresh, vec![Key::ctrl('r')]),
    ])
}

impl Keymap {
    fn from_bindings(bindings: BTreeMap<Action, Vec<Key>>) -> Keymap {
        let lookup = bindings
            .iter()
            .flat_map(|(a, keys)| keys.iter().map(move |k| (*k, *a)))
            .collect();
        Keymap { bindings, lookup }
    }

    /// The action bound to a key press; `None` for unbound keys and key releases.
    pub fn action(&self, key: &KeyEvent) -> Option<Action> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        self.lookup.get(&Key::new(key.code, key.modifiers)).copied()
    }

    /// The first key bound to `a` as shown to the user, or "" when none is.
    pub fn key_for(&self, a: Action) -> String {
        self.keys_for(a).into_iter().next().unwrap_or_default()
    }

    /// The keys bound to `a`, as shown to the user ("a", "ctrl-a", "Enter", "Space").
    pub fn keys_for(&self, a: Action) -> Vec<String> {
        let keys = self.bindings.get(&a).map(Vec::as_slice).unwrap_or_default();
        keys.iter().map(Key::display).collect()
    }

    /// The help overlay's content: per section, each action's keys (joined by spaces,
    /// "unbound" when none) and its description, in a stable order.
    pub fn help(&self) -> Vec<(Section, Vec<(String, &'static str)>)> {
        let mut sections: BTreeMap<Section, Vec<(String, &'static str)>> = BTreeMap::new();
        for action in Action::ALL {
            let keys = self.keys_for(action);
            let keys = if keys.is_empty() {
                "unbound".to_string()
            } else {
                keys.join(" ")
            };
            let entry = (keys, action.describe());
            sections.entry(action.section()).or_default().push(entry);
        }
        sections.into_iter().collect()
    }

    /// The defaults with the actions listed in the file at `path` rebound.
    pub fn load(path: &Path) -> Result<Keymap, KeymapError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeymapError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Keymap::from_toml(path, &text)
    }

    /// Like [`Keymap::load`], but a file that does not exist (or no path) means defaults.
    pub fn load_or_default(path: Option<&Path>) -> Result<Keymap, KeymapError> {
        let Some(path) = path else {
            return Ok(Keymap::default());
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Keymap::from_toml(path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Keymap::default()),
            Err(source) => Err(KeymapError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Parses keymap TOML; `path` only names the source in errors.
    pub fn from_toml(path: &Path, text: &str) -> Result<Keymap, KeymapError> {
        let src = Source { path, text };
        let doc = DeTable::parse(text).map_err(|e| {
            let message = format!("TOML syntax: {}", e.message().trim_end());
            src.error(e.span().unwrap_or(0..0), message)
        })?;
        let overrides = parse_overrides(&src, &doc)?;
        merge(&src, overrides)
    }
}

/// `$XDG_CONFIG_HOME/tempi/keys.toml`, else `$HOME/.config/tempi/keys.toml`.
pub fn default_path(env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let absolute = |name: &str| env(name).map(PathBuf::from).filter(|p| p.is_absolute());
    let config =
        absolute("XDG_CONFIG_HOME").or_else(|| absolute("HOME").map(|h| h.join(".config")));
    config.map(|c| c.join("tempi").join("keys.toml"))
}

struct Source<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    fn error(&self, span: Range<usize>, message: impl Into<String>) -> KeymapError {
        let (line, col) = line_col(self.text, span.start);
        KeymapError::Invalid {
            path: self.path.to_path_buf(),
            line,
            col,
            message: message.into(),
        }
    }
}

/// One key from the file, with where it was written.
struct Bound {
    action: Action,
    key: Key,
    span: Range<usize>,
}

/// What the file says: the actions it rebinds (possibly to nothing) and their keys.
#[derive(Default)]
struct Overrides {
    actions: Vec<Action>,
    bound: Vec<Bound>,
}

fn parse_overrides(src: &Source, doc: &Spanned<DeTable>) -> Result<Overrides, KeymapError> {
    if let Some((key, _)) = doc.get_ref().iter().find(|(k, _)| k.get_ref() != "keys") {
        let message = format!(
            "unknown section {:?}: a keymap has only [keys]",
            key.get_ref()
        );
        return Err(src.error(key.span(), message));
    }
    let Some(keys) = doc.get_ref().get("keys") else {
        return Ok(Overrides::default());
    };
    let DeValue::Table(table) = keys.get_ref() else {
        return Err(src.error(keys.span(), "keys must be a table: [keys]"));
    };
    let mut overrides = Overrides::default();
    for (name, value) in sorted_entries(table) {
        let action = Action::from_name(name.get_ref()).ok_or_else(|| {
            let hint = suggest(name.get_ref(), Action::ALL.iter().map(|a| a.name()));
            src.error(
                name.span(),
                format!("unknown action {:?}{hint}", name.get_ref()),
            )
        })?;
        overrides.actions.push(action);
        overrides.bound.extend(parse_keys(src, action, value)?);
    }
    Ok(overrides)
}

fn parse_keys(
    src: &Source,
    action: Action,
    value: &Spanned<DeValue>,
) -> Result<Vec<Bound>, KeymapError> {
    let items: Vec<&Spanned<DeValue>> = match value.get_ref() {
        DeValue::Array(items) => items.iter().collect(),
        _ => vec![value],
    };
    let mut bound = Vec::new();
    for item in items {
        let text = item.get_ref().as_str();
        let Some(key) = text.and_then(Key::parse) else {
            let what = text.map_or_else(
                || format!("this {}", item.get_ref().type_str()),
                |t| format!("{t:?}"),
            );
            let message = format!(
                "cannot read {what} as a key for {}: write {ACCEPTED_KEYS}",
                action.name()
            );
            return Err(src.error(item.span(), message));
        };
        let span = item.span();
        bound.push(Bound { action, key, span });
    }
    Ok(bound)
}

/// Replaces the defaults of every action the file lists; a key bound twice in the file
/// is an error, a key the file takes from another action's default leaves that action.
fn merge(src: &Source, overrides: Overrides) -> Result<Keymap, KeymapError> {
    let mut bindings = default_bindings();
    for action in &overrides.actions {
        bindings.insert(*action, Vec::new());
    }
    let mut from_file: HashMap<Key, &Bound> = HashMap::new();
    for b in &overrides.bound {
        if let Some(first) = from_file.get(&b.key).filter(|f| f.action != b.action) {
            let (line, _) = line_col(src.text, first.span.start);
            let message = conflict(b.key, first.action, &format!("line {line}"), b.action);
            return Err(src.error(b.span.clone(), message));
        }
        from_file.entry(b.key).or_insert(b);
        let keys = bindings.entry(b.action).or_default();
        if !keys.contains(&b.key) {
            keys.push(b.key);
        }
    }
    // A key the file gives one action is taken from the default of another: a file
    // written for one version keeps working when a later one binds a new default key.
    for (action, keys) in bindings.iter_mut() {
        keys.retain(|key| from_file.get(key).is_none_or(|b| b.action == *action));
    }
    Ok(Keymap::from_bindings(bindings))
}

fn conflict(key: Key, other: Action, how: &str, this: Action) -> String {
    format!(
        "key {:?} is bound to both {} ({how}) and {}",
        key.display(),
        other.name(),
        this.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    fn plain(c: char) -> KeyEvent {
        press(KeyCode::Char(c), KeyModifiers::NONE)
    }

    fn error_of(text: &str) -> String {
        match Keymap::from_toml(Path::new("keys.toml"), text) {
            Ok(_) => panic!("expected an error for:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn defaults_map_the_product_keys() {
        let km = Keymap::default();
        let cases = [
            (plain('a'), Action::Approve),
            (plain('x'), Action::Reject),
            (plain('r'), Action::Reassign),
            (plain('c'), Action::Claim),
            (plain('e'), Action::Escalate),
            (plain('t'), Action::Retry),
            (plain('s'), Action::Skip),
            (
                press(KeyCode::Char('k'), KeyModifiers::CONTROL),
                Action::Cancel,
            ),
            (plain('1'), Action::FocusItems),
            (plain('4'), Action::FocusEvents),
            (plain(' '), Action::Mark),
            (plain('/'), Action::Filter),
            (plain(':'), Action::Command),
            (plain('?'), Action::Help),
            (plain('q'), Action::Quit),
            (plain('i'), Action::InboxScope),
            (plain('o'), Action::Sort),
            (plain('+'), Action::RateUp),
            (plain('-'), Action::RateDown),
            (press(KeyCode::Tab, KeyModifiers::NONE), Action::NextPane),
            (
                press(KeyCode::BackTab, KeyModifiers::SHIFT),
                Action::PrevPane,
            ),
            (press(KeyCode::Enter, KeyModifiers::NONE), Action::Detail),
            (press(KeyCode::Esc, KeyModifiers::NONE), Action::Back),
            (press(KeyCode::Up, KeyModifiers::NONE), Action::Up),
            (press(KeyCode::Down, KeyModifiers::NONE), Action::Down),
            (press(KeyCode::Home, KeyModifiers::NONE), Action::Top),
            (plain('G'), Action::Bottom),
            (
                press(KeyCode::Char('a'), KeyModifiers::CONTROL),
                Action::MarkAll,
            ),
            (
                press(KeyCode::Char('r'), KeyModifiers::CONTROL),
                Action::Refresh,
            ),
        ];
        for (event, action) in cases {
            assert_eq!(km.action(&event), Some(action), "{event:?}");
        }
    }

    #[test]
    fn j_and_k_move_and_cancel_is_not_on_a_movement_key() {
        let km = Keymap::default();
        assert_eq!(km.action(&plain('j')), Some(Action::Down));
        assert_eq!(km.action(&plain('k')), Some(Action::Up));
        for movement in ['j', 'k', 'g', 'G', 'h', 'l'] {
            assert_ne!(
                km.action(&plain(movement)),
                Some(Action::Cancel),
                "{movement}"
            );
        }
    }

    #[test]
    fn shifted_letters_match_with_or_without_shift() {
        let km = Keymap::default();
        assert_eq!(km.action(&plain('C')), Some(Action::Compensate));
        let shifted = press(KeyCode::Char('C'), KeyModifiers::SHIFT);
        assert_eq!(km.action(&shifted), Some(Action::Compensate));
        let shifted_lower = press(KeyCode::Char('c'), KeyModifiers::SHIFT);
        assert_eq!(km.action(&shifted_lower), Some(Action::Compensate));
        let ctrl_upper = press(KeyCode::Char('A'), KeyModifiers::CONTROL);
        assert_eq!(km.action(&ctrl_upper), Some(Action::MarkAll));
    }

    #[test]
    fn releases_are_ignored_and_repeats_are_not() {
        let km = Keymap::default();
        let mut event = press(KeyCode::Down, KeyModifiers::NONE);
        event.kind = KeyEventKind::Release;
        assert_eq!(km.action(&event), None);
        event.kind = KeyEventKind::Repeat;
        assert_eq!(km.action(&event), Some(Action::Down));
    }

    #[test]
    fn defaults_have_no_conflicts() {
        let total: usize = default_bindings().values().map(Vec::len).sum();
        assert_eq!(Keymap::default().lookup.len(), total);
        assert_eq!(default_bindings().len(), Action::ALL.len());
    }

    #[test]
    fn keys_for_shows_display_names() {
        let km = Keymap::default();
        assert_eq!(km.keys_for(Action::Mark), ["Space"]);
        assert_eq!(km.keys_for(Action::MarkAll), ["ctrl-a"]);
        assert_eq!(km.keys_for(Action::Top), ["Home", "g"]);
        assert_eq!(km.keys_for(Action::PrevPane), ["BackTab"]);
        assert_eq!(km.keys_for(Action::Compensate), ["C"]);
    }

    #[test]
    fn overrides_replace_the_defaults_of_listed_actions() -> Result<(), KeymapError> {
        let text = "[keys]\napprove = \"y\"\nreject = [\"n\", \"ctrl-x\"]\nhelp = \"F1\"\n";
        let km = Keymap::from_toml(Path::new("keys.toml"), text)?;
        assert_eq!(km.action(&plain('y')), Some(Action::Approve));
        assert_eq!(km.action(&plain('a')), None);
        assert_eq!(km.action(&plain('x')), None);
        let ctrl_x = press(KeyCode::Char('x'), KeyModifiers::CONTROL);
        assert_eq!(km.action(&ctrl_x), Some(Action::Reject));
        let f1 = press(KeyCode::F(1), KeyModifiers::NONE);
        assert_eq!(km.action(&f1), Some(Action::Help));
        assert_eq!(km.action(&plain('q')), Some(Action::Quit));
        Ok(())
    }

    #[test]
    fn swapping_two_keys_is_not_a_conflict() -> Result<(), KeymapError> {
        let text = "[keys]\napprove = \"x\"\nreject = \"a\"\n";
        let km = Keymap::from_toml(Path::new("keys.toml"), text)?;
        assert_eq!(km.action(&plain('x')), Some(Action::Approve));
        assert_eq!(km.action(&plain('a')), Some(Action::Reject));
        Ok(())
    }

    #[test]
    fn key_names_parse_in_every_accepted_form() {
        let cases = [
            ("enter", KeyCode::Enter, KeyModifiers::NONE),
            ("Escape", KeyCode::Esc, KeyModifiers::NONE),
            ("shift-tab", KeyCode::BackTab, KeyModifiers::NONE),
            ("shift-c", KeyCode::Char('C'), KeyModifiers::NONE),
            ("ctrl--", KeyCode::Char('-'), KeyModifiers::CONTROL),
            ("-", KeyCode::Char('-'), KeyModifiers::NONE),
            ("alt-PageDown", KeyCode::PageDown, KeyModifiers::ALT),
            ("F12", KeyCode::F(12), KeyModifiers::NONE),
            ("space", KeyCode::Char(' '), KeyModifiers::NONE),
        ];
        for (text, code, mods) in cases {
            assert_eq!(Key::parse(text), Some(Key { code, mods }), "{text}");
        }
        for bad in ["", "ctrl-", "F13", "Enterr", "ab", " "] {
            assert_eq!(Key::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn display_names_parse_back() {
        for keys in default_bindings().values() {
            for key in keys {
                assert_eq!(Key::parse(&key.display()), Some(*key), "{}", key.display());
            }
        }
    }

    #[test]
    fn unknown_action_suggests_the_closest() {
        let msg = error_of("[keys]\napprove = \"a\"\nrejcet = \"x\"\n");
        assert!(
            msg.starts_with("keys.toml:3:1: unknown action \"rejcet\""),
            "{msg}"
        );
        assert!(msg.contains("did you mean \"reject\"?"), "{msg}");
    }

    #[test]
    fn unparsable_key_lists_the_accepted_forms() {
        let msg = error_of("[keys]\nreject = [\"x\", \"ctrl-\"]\n");
        assert!(
            msg.starts_with("keys.toml:2:16: cannot read \"ctrl-\" as a key"),
            "{msg}"
        );
        assert!(msg.contains("PageUp") && msg.contains("F1-F12") && msg.contains("alt-"));
    }

    #[test]
    fn non_string_key_is_unparsable() {
        let msg = error_of("[keys]\nquit = 3\n");
        assert!(
            msg.starts_with("keys.toml:2:8: cannot read this integer as a key"),
            "{msg}"
        );
    }

    #[test]
    fn a_key_the_file_binds_is_taken_from_another_actions_default() -> Result<(), KeymapError> {
        let km = Keymap::from_toml(Path::new("keys.toml"), "[keys]\ncancel = [\"D\", \"x\"]\n")?;
        assert_eq!(km.action(&plain('x')), Some(Action::Cancel));
        assert_eq!(
            km.keys_for(Action::Reject),
            Vec::<String>::new(),
            "reject lost x"
        );
        let help = km.help();
        let shown = help
            .iter()
            .flat_map(|(_, rows)| rows)
            .find(|(_, what)| *what == Action::Reject.describe());
        assert_eq!(
            shown.map(|(k, _)| k.as_str()),
            Some("unbound"),
            "the help says so"
        );
        Ok(())
    }

    #[test]
    fn conflict_within_the_file_names_both_actions() {
        let msg = error_of("[keys]\napprove = \"y\"\nreject = \"y\"\n");
        assert!(
            msg.starts_with("keys.toml:3:10: key \"y\" is bound to both"),
            "{msg}"
        );
        assert!(msg.contains("approve") && msg.contains("reject"), "{msg}");
    }

    #[test]
    fn toml_syntax_error_says_where() {
        let msg = error_of("[keys]\napprove = \"a\n");
        assert!(msg.starts_with("keys.toml:2:"), "{msg}");
        assert!(msg.contains("TOML syntax"), "{msg}");
    }

    #[test]
    fn unknown_section_says_where() {
        let msg = error_of("[key]\napprove = \"a\"\n");
        assert!(
            msg.starts_with("keys.toml:1:2: unknown section \"key\""),
            "{msg}"
        );
    }

    #[test]
    fn help_lists_every_action_exactly_once() {
        let help = Keymap::default().help();
        let sections: Vec<Section> = help.iter().map(|(s, _)| *s).collect();
        let expected = [
            Section::Navigation,
            Section::Items,
            Section::Tasks,
            Section::General,
        ];
        assert_eq!(sections, expected);
        let mut described: Vec<&str> = help
            .iter()
            .flat_map(|(_, rows)| rows.iter().map(|(_, d)| *d))
            .collect();
        assert_eq!(described.len(), Action::ALL.len());
        described.sort();
        described.dedup();
        assert_eq!(
            described.len(),
            Action::ALL.len(),
            "descriptions must differ"
        );
    }

    #[test]
    fn help_follows_the_bindings() -> Result<(), KeymapError> {
        let km = Keymap::from_toml(
            Path::new("k"),
            "[keys]\nclaim = [\"c\", \"F2\"]\nsort = []\n",
        )?;
        let rows: Vec<(String, &str)> = km.help().into_iter().flat_map(|(_, r)| r).collect();
        assert!(rows.contains(&("c F2".to_string(), Action::Claim.describe())));
        assert!(rows.contains(&("unbound".to_string(), Action::Sort.describe())));
        Ok(())
    }

    #[test]
    fn action_names_round_trip() {
        for action in Action::ALL {
            assert_eq!(Action::from_name(action.name()), Some(action));
        }
    }

    #[test]
    fn load_reads_files_and_missing_files_mean_defaults() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("keys.toml");
        assert_eq!(Keymap::load_or_default(Some(&path))?, Keymap::default());
        assert_eq!(Keymap::load_or_default(None)?, Keymap::default());
        let err = Keymap::load(&path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("cannot read key bindings"), "{err}");
        std::fs::write(&path, "[keys]\nquit = \"Q\"\nhelp = \"?!\"\n")?;
        let err = Keymap::load_or_default(Some(&path))
            .err()
            .map(|e| e.to_string());
        let expected = format!("{}:3:8: cannot read \"?!\"", path.display());
        assert!(err.is_some_and(|e| e.starts_with(&expected)));
        Ok(())
    }

    #[test]
    fn default_path_prefers_xdg_config_home() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let both = default_path(env(&[("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")]));
        assert_eq!(both, Some(PathBuf::from("/x/tempi/keys.toml")));
        let home = default_path(env(&[("XDG_CONFIG_HOME", "rel"), ("HOME", "/h")]));
        assert_eq!(home, Some(PathBuf::from("/h/.config/tempi/keys.toml")));
        assert_eq!(default_path(env(&[])), None);
    }
}
