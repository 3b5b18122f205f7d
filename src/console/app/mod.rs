//! The console's state and `update(msg) -> effects`: keys, engine updates and command
//! results go in; commands for the engine come out. Nothing here draws or does I/O.

mod actions;
pub mod alerts;
pub mod cmdline;
pub mod columns;
mod command;
pub mod complete;
mod detail;
pub mod form;
pub mod incidents;
pub mod input;
mod lists;
pub mod report;
mod skip;
pub mod sort;
mod sorted;
pub mod workflows;

use std::cell::Cell;
use std::collections::{BTreeSet, VecDeque};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

pub use self::actions::Pending;
pub use self::command::COMMANDS;
pub use self::detail::{Detail, Reveal};
use self::input::{Edit, Input};
pub use self::lists::in_scope;
use self::sort::Order;
use super::filter::Filter;
use super::keymap::{Action, Keymap};
use super::model::{Model, Touched, Update};
use super::source::SourceError;
use super::theme::{ColorDepth, Theme};
use crate::types::{ItemId, Reply, TaskId};

/// How long a toast stays up, in seconds.
const TOAST_SECS: i64 = 4;
/// Messages kept for `:messages`, newest last.
pub const MESSAGES_KEPT: usize = 500;

/// The panes an operator moves between with Tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pane {
    Items,
    Sla,
    Inbox,
    Events,
}

impl Pane {
    pub const ALL: [Pane; 4] = [Pane::Items, Pane::Sla, Pane::Inbox, Pane::Events];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Items => "Work items",
            Pane::Sla => "SLA board",
            Pane::Inbox => "Inbox",
            Pane::Events => "Events",
        }
    }

    fn index(self) -> usize {
        Pane::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }

    fn step(self, by: isize) -> Pane {
        let n = Pane::ALL.len() as isize;
        Pane::ALL[((self.index() as isize + by).rem_euclid(n)) as usize]
    }
}

/// Whose tasks the inbox shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Mine,
    Groups,
    All,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::Mine => "mine",
            Scope::Groups => "my groups",
            Scope::All => "all",
        }
    }
}

/// Cursor, scroll offset and marks of one list pane.
#[derive(Debug, Default)]
pub struct List {
    pub cursor: usize,
    /// First visible row; the view keeps the cursor on screen.
    pub offset: Cell<usize>,
    pub marks: BTreeSet<u64>,
    /// The highest row key (item id, task id, record seq) there was when the cursor
    /// was last on the first row: rows with higher keys are new since.
    pub seen: u64,
    /// Rows that arrived while the cursor was away from the first row.
    pub new: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToastKind {
    Ok,
    Error,
}

#[derive(Debug, Clone)]
pub struct Toast {
    pub text: String,
    pub kind: ToastKind,
    pub until: DateTime<Utc>,
}

/// A line of the message log: every toast, and every result of a bulk action.
#[derive(Debug, Clone)]
pub struct Message {
    pub at: DateTime<Utc>,
    pub kind: ToastKind,
    pub text: String,
}

/// What a picker's choice is for.
#[derive(Debug, Clone, PartialEq)]
pub enum PickFor {
    Reassign(Vec<TaskId>),
    Skip(ItemId),
    Decide(Vec<TaskId>),
    Theme,
}

#[derive(Debug, Clone)]
pub struct Picker {
    pub title: String,
    pub choices: Vec<String>,
    /// What the view shows beside a choice (a person's role and open tasks).
    pub notes: std::collections::HashMap<String, String>,
    pub query: Input,
    pub cursor: usize,
    pub purpose: PickFor,
}

impl Picker {
    /// Choices containing the typed text; the typed text itself first when new.
    pub fn visible(&self) -> Vec<String> {
        let q = self.query.text.trim().to_lowercase();
        let mut v: Vec<String> = self
            .choices
            .iter()
            .filter(|c| c.to_lowercase().contains(&q))
            .cloned()
            .collect();
        let free = matches!(self.purpose, PickFor::Reassign(_));
        if free && !q.is_empty() && !self.choices.iter().any(|c| c.to_lowercase() == q) {
            v.insert(0, self.query.text.trim().to_string());
        }
        v
    }
}

/// Everything that can own the keyboard besides the panes.
#[derive(Debug, Clone)]
pub enum Mode {
    Normal,
    /// Typing a filter; it applies as typed, Esc goes back to `before`.
    Filter {
        input: Input,
        before: String,
    },
    Command(Input),
    Confirm {
        question: String,
        actions: Vec<Pending>,
    },
    /// Reject with a comment: the prompt is the confirmation.
    Comment {
        tasks: Vec<TaskId>,
        input: Input,
    },
    Picker(Picker),
    /// A task's form (or an agent proposal's fields) before its decision is sent.
    Form(Box<form::FormDialog>),
    Help {
        scroll: usize,
    },
    /// Searching the open detail; it applies as typed, Esc goes back to `before`.
    Search {
        input: Input,
        before: String,
    },
    /// Incidents grouped by cause (`App::groups`), one selected.
    Incidents {
        cursor: usize,
    },
    /// The loaded workflow versions (`App::versions`), one selected.
    Workflows {
        cursor: usize,
    },
    /// The message log, newest at the bottom; `scroll` counts lines up from there.
    Messages {
        scroll: usize,
    },
    /// `q` in the demo, whose data goes with it: asks first.
    QuitDemo,
    /// The KPI view (`:report`): the report over one window, asked again every few
    /// seconds while open.
    Report(report::ReportView),
}

/// Where a movement key takes a cursor over `n` rows in a dialog (incidents,
/// workflows, the report), or `None` for a key that does not move it.
pub(super) fn moved(action: Option<Action>, cursor: usize, n: usize) -> Option<usize> {
    let last = n.saturating_sub(1);
    let by = |d: isize| (cursor as isize).saturating_add(d).clamp(0, last as isize) as usize;
    Some(match action? {
        Action::Up => by(-1),
        Action::Down => by(1),
        Action::PageUp => by(-10),
        Action::PageDown => by(10),
        Action::Top => 0,
        Action::Bottom => last,
        _ => return None,
    })
}

/// What the app asks the shell to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Send these commands to the engine; the results come back as `Msg::Acted`.
    Act(Vec<Pending>),
    /// Follow this item's detail (or none).
    Detail(Option<ItemId>),
    /// Ask the engine for the items a filter may match beyond the mirror's window.
    Find(crate::types::view::ItemFilter),
    /// Ask the engine for the report from this time (or its default window).
    Report(Option<DateTime<Utc>>),
    /// Put this text on the operator's clipboard (OSC 52).
    Copy(String),
    /// Set the demo's load (items per minute).
    Rate(f64),
    Refresh,
    /// Keep this command line in the history file.
    History(String),
    /// Ring the bell and/or send a desktop notification.
    Notify(alerts::Notice),
    Quit,
}

/// Everything the app reacts to.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Update(Update),
    Acted(Vec<(String, Result<Reply, SourceError>)>),
    Tick(DateTime<Utc>),
}

/// How the console was started.
#[derive(Debug, Clone)]
pub struct Options {
    /// Who acts: `--as`.
    pub me: String,
    /// The groups whose tasks "my groups" shows: mine in the directory (`--groups`
    /// only for someone the directory does not hold).
    pub groups: Vec<String>,
    /// Who may act, for the reassign picker.
    pub directory: crate::types::identity::Listing,
    pub read_only: bool,
    /// The demo's load rate, when there is a load generator to steer.
    pub rate: Option<f64>,
    /// Where the console is connected, for the header.
    pub origin: String,
    pub depth: ColorDepth,
    /// `$XDG_CONFIG_HOME/tempi/themes`.
    pub themes_dir: Option<PathBuf>,
}

pub struct App {
    pub model: Model,
    pub opts: Options,
    pub theme: Theme,
    pub keymap: Keymap,
    pub now: DateTime<Utc>,
    pub focus: Pane,
    pub lists: [List; 4],
    pub detail: Option<Detail>,
    pub mode: Mode,
    pub filter: Filter,
    pub scope: Scope,
    /// The order of the items pane, the SLA board and the inbox.
    pub orders: [Order; 3],
    /// Columns the operator hid with `:columns`.
    pub hidden: columns::Hidden,
    /// The events pane shows the engine's own progress records too.
    pub chatter: bool,
    pub toasts: VecDeque<Toast>,
    pub messages: VecDeque<Message>,
    /// The incident groups while their view is open (kept current with the model).
    pub groups: Vec<incidents::Group>,
    /// The workflow versions while their view is open (kept current with the model).
    pub versions: Vec<workflows::VersionRow>,
    /// A skip waiting for its item's detail, to say what goes with it.
    skip_plan: Option<skip::SkipPlan>,
    pub quit: bool,
    /// Something visible changed since the last frame.
    pub dirty: bool,
    /// How far the detail or help can scroll, as last drawn (the view knows the height).
    pub scroll_max: Cell<usize>,
    /// The `:` prompt's history and completion.
    pub cmdline: cmdline::CmdLine,
    /// When to ring the bell, and what waits to be said.
    pub alerts: alerts::Alerts,
    /// The key being handled changed nothing on screen.
    idle_key: bool,
    views: lists::Views,
}

/// A key pressed with alt, which a terminal also sends for Esc and a key in one read.
fn escaped(key: &KeyEvent) -> bool {
    key.modifiers.contains(KeyModifiers::ALT) && matches!(key.code, KeyCode::Char(_))
}

impl App {
    pub fn new(opts: Options, theme: Theme, keymap: Keymap, now: DateTime<Utc>) -> App {
        App {
            model: Model::default(),
            opts,
            theme,
            keymap,
            now,
            focus: Pane::Items,
            lists: Default::default(),
            detail: None,
            mode: Mode::Normal,
            filter: Filter::default(),
            scope: Scope::All,
            orders: [Pane::Items, Pane::Sla, Pane::Inbox].map(Order::default_for),
            chatter: false,
            hidden: Default::default(),
            toasts: VecDeque::new(),
            messages: VecDeque::new(),
            skip_plan: None,
            groups: Vec::new(),
            versions: Vec::new(),
            quit: false,
            dirty: true,
            scroll_max: Cell::new(usize::MAX),
            cmdline: cmdline::CmdLine::default(),
            alerts: alerts::Alerts::default(),
            idle_key: false,
            views: lists::Views::default(),
        }
    }

    pub fn list(&self, pane: Pane) -> &List {
        &self.lists[pane.index()]
    }

    fn list_mut(&mut self, pane: Pane) -> &mut List {
        &mut self.lists[pane.index()]
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        let was_dirty = self.dirty;
        self.dirty = true;
        match msg {
            Msg::Key(key) if key.kind == KeyEventKind::Release => {
                self.dirty = was_dirty;
                vec![]
            }
            Msg::Key(key) if escaped(&key) && self.keymap.action(&key).is_none() => {
                // Esc and the next key in one read (tmux's escape-time, a slow link)
                // come as alt-key: unbound, it is the two keys it was typed as.
                let esc = KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE);
                let mut effects = self.update(Msg::Key(esc));
                let plain = KeyEvent::new(key.code, key.modifiers - KeyModifiers::ALT);
                effects.extend(self.update(Msg::Key(plain)));
                effects
            }
            Msg::Key(key) => {
                let effects = self.key(key);
                // A key that did nothing leaves a pending frame pending, and adds none.
                if std::mem::take(&mut self.idle_key) {
                    self.dirty = was_dirty;
                }
                effects
            }
            Msg::Update(u) => {
                self.watch(&u);
                self.update_model(u);
                self.due_alerts()
            }
            Msg::Acted(results) => {
                self.acted(results);
                vec![]
            }
            Msg::Tick(now) => {
                self.now = now;
                self.toasts.retain(|t| t.until > now);
                let mut effects = self.due_alerts();
                effects.extend(self.report_due());
                effects
            }
        }
    }

    fn update_model(&mut self, u: Update) {
        if let Update::Detail(id, got) = &u
            && let Some(d) = self.detail.as_mut().filter(|d| d.id == *id)
        {
            match got {
                Ok(data) => {
                    d.data = Some(data.clone());
                    d.error = None;
                }
                Err(e) => d.error = Some(e.to_string()),
            }
            if self.skip_plan.as_ref().and_then(|p| p.items.first()) == Some(id) {
                match got {
                    Ok(data) => self.skip_planned(&data.0),
                    Err(e) => {
                        self.skip_plan = None;
                        self.toast(ToastKind::Error, format!("skip: item {id}: {e}"));
                    }
                }
            }
        }
        if let Update::Lost { error, fatal: true } = &u {
            self.toast(ToastKind::Error, error.to_string());
        }
        if let Update::Report(got) = u {
            self.reported(got);
            return;
        }
        let keys = self.cursor_keys();
        self.model.apply(u, self.now);
        let touched = self.model.take_touched();
        self.refresh_keeping(keys, touched);
        if let Mode::Incidents { cursor } = &mut self.mode {
            self.groups = incidents::groups(&self.model);
            *cursor = (*cursor).min(self.groups.len().saturating_sub(1));
        }
        if let Mode::Workflows { cursor } = &mut self.mode {
            self.versions = workflows::rows(&self.model);
            *cursor = (*cursor).min(self.versions.len().saturating_sub(1));
        }
    }

    /// What each pane's cursor is on (item, task or record), before the rows change. A
    /// cursor on the first row follows the top, so new rows arrive in sight.
    fn cursor_keys(&self) -> [Option<u64>; 4] {
        Pane::ALL.map(|p| match self.list(p).cursor {
            0 => None,
            _ => self.cursor_key(p),
        })
    }

    /// Rebuild the rows and put each cursor back on what it was on, so an action never
    /// lands on a row that moved under it.
    fn refresh_keeping(&mut self, keys: [Option<u64>; 4], touched: Touched) {
        self.views.refresh(
            &self.model,
            &self.filter,
            lists::Shape {
                orders: self.orders,
                scope: self.scope,
                chatter: self.chatter,
            },
            &self.opts,
            self.now,
            &touched,
        );
        for (pane, key) in Pane::ALL.into_iter().zip(keys) {
            let row = key.and_then(|k| self.row_of(pane, k));
            let len = self.len(pane);
            let l = self.list_mut(pane);
            l.cursor = row.unwrap_or(l.cursor).min(len.saturating_sub(1));
            self.count_new(pane);
        }
    }

    /// Keep a pane's count of rows that arrived out of sight: none while its cursor is
    /// on the first row (the list follows the top), else those newer than it saw there.
    fn count_new(&mut self, pane: Pane) {
        let (max, newer) = self.keys_over(pane, self.list(pane).seen);
        let l = self.list_mut(pane);
        if l.cursor == 0 {
            l.seen = l.seen.max(max);
            l.new = 0;
        } else {
            l.new = newer;
        }
    }

    /// Show a message for a few seconds.
    pub fn toast(&mut self, kind: ToastKind, text: impl Into<String>) {
        let text = text.into();
        self.log(kind, text.clone());
        let until = self.now + chrono::Duration::seconds(TOAST_SECS);
        self.toasts.push_back(Toast { text, kind, until });
        while self.toasts.len() > 3 {
            self.toasts.pop_front();
        }
    }

    /// Keep a line for `:messages` without showing a toast.
    fn log(&mut self, kind: ToastKind, text: String) {
        let at = self.now;
        self.messages.push_back(Message { at, kind, text });
        while self.messages.len() > MESSAGES_KEPT {
            self.messages.pop_front();
        }
    }

    /// Every result goes to the message log; the toasts sum them up (one for the
    /// failures, one for the rest, so none is pushed out) and point there for more.
    fn acted(&mut self, results: Vec<(String, Result<Reply, SourceError>)>) {
        let mut failed = Vec::new();
        let mut done = Vec::new();
        for (label, r) in &results {
            match r {
                Err(e) => failed.push(format!("{label}: {e}")),
                Ok(r) => done.push(r.message.clone()),
            }
        }
        let n = results.len();
        if let [one] = failed.as_slice() {
            self.toast(ToastKind::Error, one.clone());
        } else if let Some(first) = failed.first() {
            let sum = format!(
                "{} of {n} failed, first {first}; :messages lists all",
                failed.len()
            );
            self.toast(ToastKind::Error, sum);
            for f in failed {
                self.log(ToastKind::Error, f);
            }
        }
        if let [one] = done.as_slice() {
            self.toast(ToastKind::Ok, one.clone());
        } else if !done.is_empty() {
            self.toast(
                ToastKind::Ok,
                format!("{} of {n} done; :messages lists them", done.len()),
            );
            for d in done {
                self.log(ToastKind::Ok, d);
            }
        }
    }

    fn key(&mut self, key: KeyEvent) -> Vec<Effect> {
        match std::mem::replace(&mut self.mode, Mode::Normal) {
            Mode::Normal => self.normal_key(key),
            Mode::Filter { mut input, before } => {
                match input.key(&key) {
                    Edit::Submit => {
                        if !self.set_filter(&input.text, true) {
                            self.set_filter(&before, false);
                        }
                        return self.find_history();
                    }
                    Edit::Cancel => {
                        self.set_filter(&before, true);
                    }
                    Edit::Changed => {
                        self.set_filter(&input.text, false);
                        self.mode = Mode::Filter { input, before };
                    }
                    Edit::Ignored => self.mode = Mode::Filter { input, before },
                }
                vec![]
            }
            Mode::Command(input) => self.command_key(input, key),
            Mode::QuitDemo => self.quit_demo_key(key),
            Mode::Confirm { question, actions } => match key.code {
                crossterm::event::KeyCode::Char('y' | 'Y') | crossterm::event::KeyCode::Enter => {
                    self.clear_marks();
                    vec![Effect::Act(actions)]
                }
                crossterm::event::KeyCode::Char('n' | 'N') | crossterm::event::KeyCode::Esc => {
                    self.toast(ToastKind::Ok, "nothing changed");
                    vec![]
                }
                _ => {
                    self.mode = Mode::Confirm { question, actions };
                    vec![]
                }
            },
            Mode::Comment { tasks, mut input } => match input.key(&key) {
                Edit::Submit => {
                    self.clear_marks();
                    let comment = Some(input.text.trim().to_string()).filter(|c| !c.is_empty());
                    vec![Effect::Act(actions::decide(&tasks, "rejected", comment))]
                }
                Edit::Cancel => {
                    self.toast(ToastKind::Ok, "nothing changed");
                    vec![]
                }
                _ => {
                    self.mode = Mode::Comment { tasks, input };
                    vec![]
                }
            },
            Mode::Picker(p) => self.picker_key(p, key),
            Mode::Form(d) => self.form_key(d, key),
            Mode::Incidents { cursor } => self.incidents_key(cursor, key),
            Mode::Report(view) => self.report_key(view, key),
            Mode::Workflows { cursor } => self.workflows_key(cursor, key),
            Mode::Search { input, before } => {
                self.search_key(input, before, &key);
                vec![]
            }
            Mode::Messages { scroll } => {
                let up = |by: isize| (scroll as isize).saturating_add(by).max(0) as usize;
                let scroll = match self.keymap.action(&key) {
                    Some(Action::Up) => up(1),
                    Some(Action::Down) => up(-1),
                    Some(Action::PageUp) => up(10),
                    Some(Action::PageDown) => up(-10),
                    Some(Action::Top) => self.messages.len(),
                    Some(Action::Bottom) => 0,
                    Some(Action::Back | Action::Quit | Action::Help) => return vec![],
                    _ if key.code == crossterm::event::KeyCode::Esc => return vec![],
                    _ => scroll,
                };
                self.mode = Mode::Messages {
                    scroll: scroll.min(self.messages.len().saturating_sub(1)),
                };
                vec![]
            }
            Mode::Help { scroll } => {
                let scroll = match self.keymap.action(&key) {
                    Some(Action::Down) => self.scrolled(scroll, 1),
                    Some(Action::Up) => self.scrolled(scroll, -1),
                    Some(Action::PageDown) => self.scrolled(scroll, 10),
                    Some(Action::PageUp) => self.scrolled(scroll, -10),
                    Some(Action::Top) => 0,
                    Some(Action::Bottom) => self.scroll_max.get(),
                    Some(Action::Help | Action::Back | Action::Quit) => return vec![],
                    _ if key.code == crossterm::event::KeyCode::Esc => return vec![],
                    _ => scroll,
                };
                self.mode = Mode::Help { scroll };
                vec![]
            }
        }
    }

    /// Apply the filter as typed; a bad one says why (on Enter) and keeps the old one.
    /// Whether `text` parsed. A new filter rebuilds the lists, each cursor staying on its
    /// row's item where that item still matches; the same filter changes nothing.
    /// When the filter in use may match ended items the mirror no longer holds.
    pub(super) fn find_history(&self) -> Vec<Effect> {
        self.filter
            .history_query()
            .map(Effect::Find)
            .into_iter()
            .collect()
    }

    fn set_filter(&mut self, text: &str, submit: bool) -> bool {
        match Filter::parse(text) {
            Ok(f) if f == self.filter => true,
            Ok(f) => {
                self.filter = f;
                self.refresh_views();
                true
            }
            Err(e) => {
                if submit {
                    self.toast(ToastKind::Error, e.to_string());
                }
                false
            }
        }
    }

    fn picker_key(&mut self, mut p: Picker, key: KeyEvent) -> Vec<Effect> {
        use crossterm::event::KeyCode;
        let n = p.visible().len();
        // A decision picker lists a few options and takes no typing: j/k move.
        let fixed = matches!(p.purpose, PickFor::Decide(_));
        match key.code {
            KeyCode::Up => p.cursor = p.cursor.saturating_sub(1),
            KeyCode::Down => p.cursor = (p.cursor + 1).min(n.saturating_sub(1)),
            KeyCode::Char('k') if fixed => p.cursor = p.cursor.saturating_sub(1),
            KeyCode::Char('j') if fixed => p.cursor = (p.cursor + 1).min(n.saturating_sub(1)),
            _ if fixed && key.code != KeyCode::Esc && key.code != KeyCode::Enter => {}
            KeyCode::Esc => {
                self.toast(ToastKind::Ok, "nothing changed");
                return vec![];
            }
            KeyCode::Enter => {
                let Some(choice) = p.visible().get(p.cursor).cloned() else {
                    self.mode = Mode::Picker(p);
                    return vec![];
                };
                return self.picked(p.purpose, choice);
            }
            _ => {
                if p.query.key(&key) == Edit::Changed {
                    p.cursor = 0;
                }
            }
        }
        self.mode = Mode::Picker(p);
        vec![]
    }

    fn picked(&mut self, purpose: PickFor, choice: String) -> Vec<Effect> {
        match purpose {
            PickFor::Reassign(tasks) => {
                self.clear_marks();
                vec![Effect::Act(actions::reassign(&tasks, &choice))]
            }
            PickFor::Decide(tasks) => self.decided(tasks, choice),
            PickFor::Skip(item) => self.plan_skip(vec![item], choice),
            PickFor::Theme => {
                self.set_theme(&choice);
                vec![]
            }
        }
    }

    pub fn set_theme(&mut self, name: &str) {
        match Theme::load(name, self.opts.depth, self.opts.themes_dir.as_deref()) {
            Ok(t) => {
                self.theme = t;
                self.toast(ToastKind::Ok, format!("theme {name}"));
            }
            Err(e) => self.toast(ToastKind::Error, e.to_string()),
        }
    }

    /// Ask before acting.
    fn confirm(&mut self, question: String, actions: Vec<Pending>) -> Vec<Effect> {
        if actions.is_empty() {
            return vec![];
        }
        self.mode = Mode::Confirm { question, actions };
        vec![]
    }

    fn clear_marks(&mut self) {
        for l in &mut self.lists {
            l.marks.clear();
        }
    }

    fn normal_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(action) = self.keymap.action(&key) else {
            self.idle_key = true;
            return vec![];
        };
        if let Some(effects) = self.detail_key(action) {
            return effects;
        }
        match action {
            Action::Up => self.move_cursor(-1),
            Action::Down => self.move_cursor(1),
            Action::PageUp => self.move_cursor(-20),
            Action::PageDown => self.move_cursor(20),
            Action::Top => self.move_cursor(isize::MIN / 2),
            Action::Bottom => self.move_cursor(isize::MAX / 2),
            Action::NextPane | Action::PrevPane => {
                let by = if action == Action::NextPane { 1 } else { -1 };
                self.focus = self.focus.step(by);
                return self.close_detail();
            }
            Action::FocusItems | Action::FocusSla | Action::FocusInbox | Action::FocusEvents => {
                self.focus = match action {
                    Action::FocusItems => Pane::Items,
                    Action::FocusSla => Pane::Sla,
                    Action::FocusInbox => Pane::Inbox,
                    _ => Pane::Events,
                };
                return self.close_detail();
            }
            Action::Detail => return self.open_detail(),
            Action::Back => return self.back(),
            Action::Mark => self.mark(),
            Action::MarkAll => self.mark_all(),
            Action::Filter => {
                self.mode = Mode::Filter {
                    input: Input::with(&self.filter.text),
                    before: self.filter.text.clone(),
                }
            }
            Action::Command => self.mode = Mode::Command(Input::default()),
            Action::Help => self.mode = Mode::Help { scroll: 0 },
            Action::Quit => return self.quit_key(),
            Action::InboxScope => {
                self.scope = match self.scope {
                    Scope::Mine => Scope::Groups,
                    Scope::Groups => Scope::All,
                    Scope::All => Scope::Mine,
                };
                self.refresh_views();
                self.toast(ToastKind::Ok, format!("inbox: {}", self.scope.name()));
            }
            Action::Sort => self.step_order(1),
            Action::SortPrev => self.step_order(-1),
            Action::Incidents => self.open_incidents(),
            Action::Copy => return self.copy(),
            Action::NextHit | Action::PrevHit => self.idle_key = true,
            Action::Chatter => {
                self.chatter = !self.chatter;
                self.refresh_views();
                let what = if self.chatter { "shown" } else { "hidden" };
                self.toast(ToastKind::Ok, format!("events: engine chatter {what}"));
            }
            Action::RateUp | Action::RateDown => return self.step_rate(action == Action::RateUp),
            Action::Refresh => return vec![Effect::Refresh],
            act => return self.act(act),
        }
        vec![]
    }

    /// The order of a list pane; the events log is the journal's order.
    pub fn order(&self, pane: Pane) -> Option<Order> {
        match pane {
            Pane::Items => Some(self.orders[0]),
            Pane::Sla => Some(self.orders[1]),
            Pane::Inbox => Some(self.orders[2]),
            Pane::Events => None,
        }
    }

    /// Set a pane's order; the cursors keep their rows' items.
    pub(super) fn set_order(&mut self, pane: Pane, order: Order) {
        let slot = match pane {
            Pane::Items => 0,
            Pane::Sla => 1,
            Pane::Inbox => 2,
            Pane::Events => return,
        };
        self.orders[slot] = order;
        self.refresh_views();
        self.toast(
            ToastKind::Ok,
            format!("{} by {}", pane.title().to_lowercase(), order.label()),
        );
    }

    fn step_order(&mut self, by: isize) {
        let pane = self.focus;
        match self.order(pane) {
            Some(o) if self.detail.is_none() => self.set_order(pane, o.step(pane, by)),
            _ => self.toast(
                ToastKind::Error,
                "nothing to sort here: the events log is in the journal's order",
            ),
        }
    }

    /// Derive every list again (the filter, an order, the scope changed).
    fn refresh_views(&mut self) {
        let keys = self.cursor_keys();
        self.model.take_touched();
        self.refresh_keeping(keys, Touched::All);
    }

    fn step_rate(&mut self, up: bool) -> Vec<Effect> {
        const LADDER: [f64; 10] = [
            0.0, 6.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 3000.0, 6000.0,
        ];
        let Some(rate) = self.opts.rate else {
            self.toast(
                ToastKind::Error,
                "no load generator here: rates are for tempi demo",
            );
            return vec![];
        };
        let next = if up {
            LADDER.iter().copied().find(|r| *r > rate).unwrap_or(rate)
        } else {
            LADDER
                .iter()
                .rev()
                .copied()
                .find(|r| *r < rate)
                .unwrap_or(0.0)
        };
        self.set_rate(next)
    }

    pub(crate) fn set_rate(&mut self, rate: f64) -> Vec<Effect> {
        if self.opts.rate.is_none() {
            self.toast(
                ToastKind::Error,
                "no load generator here: rates are for tempi demo",
            );
            return vec![];
        }
        let rate = rate.clamp(0.0, 6000.0);
        self.opts.rate = Some(rate);
        self.toast(ToastKind::Ok, format!("load: {rate} items/min"));
        vec![Effect::Rate(rate)]
    }

    fn scrolled(&self, scroll: usize, by: isize) -> usize {
        let max = self.scroll_max.get().min(isize::MAX as usize) as isize;
        (scroll as isize).saturating_add(by).clamp(0, max) as usize
    }

    fn move_cursor(&mut self, by: isize) {
        let len = self.len(self.focus);
        let l = self.list_mut(self.focus);
        let max = len.saturating_sub(1) as isize;
        l.cursor = (l.cursor as isize + by).clamp(0, max) as usize;
        if l.cursor == 0 && l.new > 0 {
            self.count_new(self.focus);
        }
    }

    fn open_detail(&mut self) -> Vec<Effect> {
        let Some(id) = self.cursor_item() else {
            self.idle_key = true;
            return vec![];
        };
        self.show_detail(id)
    }

    /// Open the detail of `id` (it need not be in the mirror).
    pub(super) fn show_detail(&mut self, id: ItemId) -> Vec<Effect> {
        self.detail = Some(Detail::new(id));
        vec![Effect::Detail(Some(id))]
    }

    fn close_detail(&mut self) -> Vec<Effect> {
        self.skip_plan = None;
        match self.detail.take() {
            Some(_) => vec![Effect::Detail(None)],
            None => vec![],
        }
    }

    fn back(&mut self) -> Vec<Effect> {
        if self.detail.is_some() {
            return self.close_detail();
        }
        if self.lists.iter().any(|l| !l.marks.is_empty()) {
            self.clear_marks();
        } else if !self.filter.is_empty() {
            self.set_filter("", true);
            self.toast(ToastKind::Ok, "filter cleared");
        }
        vec![]
    }

    /// Marks are for items and tasks; the events log has nothing to act on in bulk.
    fn mark(&mut self) {
        if self.focus == Pane::Events && self.detail.is_none() {
            self.idle_key = true;
            return;
        }
        let Some(key) = self.cursor_key(self.focus) else {
            return;
        };
        let l = self.list_mut(self.focus);
        if !l.marks.remove(&key) {
            l.marks.insert(key);
        }
        self.move_cursor(1);
    }

    fn mark_all(&mut self) {
        if self.focus == Pane::Events {
            self.idle_key = true;
            return;
        }
        // A toggle that holds on a live list: while anything is marked it unmarks (a
        // row arriving between the two presses must not turn the second into "mark").
        if !self.list(self.focus).marks.is_empty() {
            self.list_mut(self.focus).marks.clear();
            return;
        }
        let keys: Vec<u64> = (0..self.len(self.focus))
            .filter_map(|i| self.key_at(self.focus, i))
            .collect();
        self.list_mut(self.focus).marks.extend(keys);
    }
}
