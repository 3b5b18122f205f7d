//! Telling the operator before the breach: which changes from the feed deserve a bell or
//! a desktop notification (an item crossing a warning or breaching, a task in their scope
//! escalated or overdue), gathered and sent at most once per interval.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};

use super::{App, Effect, Scope, lists::in_scope};
use crate::console::model::Update;
use crate::types::changes::Changes;

/// How the console gets the operator's attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NotifyMode {
    Off,
    Bell,
    Desktop,
    /// The bell and a desktop notification.
    #[default]
    All,
}

impl NotifyMode {
    pub const NAMES: &str = "all, bell, desktop or off";

    pub fn parse(s: &str) -> Option<NotifyMode> {
        Some(match s {
            "all" => NotifyMode::All,
            "bell" => NotifyMode::Bell,
            "desktop" => NotifyMode::Desktop,
            "off" => NotifyMode::Off,
            _ => return None,
        })
    }
}

/// The shortest time between two notifications, unless configured.
pub const EVERY_SECS: i64 = 30;
/// Ids named in a notification, at most.
const IDS_SHOWN: usize = 5;

/// What the shell writes to the terminal for one notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub bell: bool,
    pub desktop: bool,
    pub title: String,
    pub body: String,
}

/// What has happened since the last notification.
#[derive(Debug, Clone, Default, PartialEq)]
struct Pending {
    breached: BTreeSet<u64>,
    at_risk: BTreeSet<u64>,
    overdue: BTreeSet<u64>,
    escalated: BTreeSet<u64>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.breached.is_empty()
            && self.at_risk.is_empty()
            && self.overdue.is_empty()
            && self.escalated.is_empty()
    }

    /// "2 items breached (#12, #15); task 7 overdue".
    fn text(&self) -> String {
        let mut parts = Vec::new();
        for (set, one, many, what, hash) in [
            (&self.breached, "item", "items", "breached", "#"),
            (&self.at_risk, "item", "items", "at risk", "#"),
            (&self.overdue, "task", "tasks", "overdue", ""),
            (&self.escalated, "task", "tasks", "escalated", ""),
        ] {
            if set.is_empty() {
                continue;
            }
            let mut ids: Vec<String> = set
                .iter()
                .take(IDS_SHOWN)
                .map(|id| format!("{hash}{id}"))
                .collect();
            if set.len() > IDS_SHOWN {
                ids.push("…".into());
            }
            let noun = if set.len() == 1 { one } else { many };
            parts.push(format!("{} {noun} {what} ({})", set.len(), ids.join(", ")));
        }
        parts.join("; ")
    }
}

/// The notification settings and what waits to be said.
#[derive(Debug, Clone)]
pub struct Alerts {
    pub mode: NotifyMode,
    pub every: Duration,
    pending: Pending,
    last: Option<DateTime<Utc>>,
}

impl Default for Alerts {
    fn default() -> Self {
        Alerts {
            mode: NotifyMode::default(),
            every: Duration::seconds(EVERY_SECS),
            pending: Pending::default(),
            last: None,
        }
    }
}

impl App {
    /// Note what in a batch of changes the operator should hear about, before the
    /// mirror takes it in (the mirror holds the state before).
    pub(super) fn watch(&mut self, u: &Update) {
        let Update::Changes(c) = u else {
            return;
        };
        if self.alerts.mode == NotifyMode::Off || self.opts.read_only {
            return;
        }
        self.watch_items(c);
        self.watch_tasks(c);
    }

    /// Items in flight: any operator may act on them.
    fn watch_items(&mut self, c: &Changes) {
        for it in c.items.iter().filter(|i| !i.status.is_final()) {
            let Some(old) = self.model.items.get(&it.id) else {
                continue;
            };
            if it.sla_breached && !old.sla_breached {
                self.alerts.pending.at_risk.remove(&it.id);
                self.alerts.pending.breached.insert(it.id);
            } else if !it.sla_breached && it.sla_warned > old.sla_warned {
                self.alerts.pending.at_risk.insert(it.id);
            }
        }
    }

    /// Open tasks the operator may act on: theirs and their groups'.
    fn watch_tasks(&mut self, c: &Changes) {
        for t in &c.tasks {
            if !in_scope(t, Scope::Groups, &self.opts) {
                continue;
            }
            let old = match self.model.tasks.binary_search_by_key(&t.id, |o| o.id) {
                Ok(at) => &self.model.tasks[at],
                Err(_) => continue,
            };
            let open = matches!(
                t.status,
                crate::types::view::TaskStatus::Open | crate::types::view::TaskStatus::Claimed
            );
            if !open {
                continue;
            }
            if t.overdue && !old.overdue {
                self.alerts.pending.escalated.remove(&t.id);
                self.alerts.pending.overdue.insert(t.id);
            } else if !t.overdue && t.escalation_level > old.escalation_level {
                self.alerts.pending.escalated.insert(t.id);
            }
        }
    }

    /// The notification due now, if something waits and the last one is old enough.
    pub(super) fn due_alerts(&mut self) -> Vec<Effect> {
        if self.alerts.pending.is_empty() {
            return vec![];
        }
        if self
            .alerts
            .last
            .is_some_and(|at| self.now - at < self.alerts.every)
        {
            return vec![];
        }
        let pending = std::mem::take(&mut self.alerts.pending);
        self.alerts.last = Some(self.now);
        let mode = self.alerts.mode;
        vec![Effect::Notify(Notice {
            bell: matches!(mode, NotifyMode::Bell | NotifyMode::All),
            desktop: matches!(mode, NotifyMode::Desktop | NotifyMode::All),
            title: "tempi".into(),
            body: pending.text(),
        })]
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::console::app::Msg;
    use crate::console::tests::fixture;
    use crate::types::view::{ItemSummary, TaskView};

    fn changes(items: Vec<ItemSummary>, tasks: Vec<TaskView>) -> Msg {
        Msg::Update(Update::Changes(Arc::new(Changes {
            items,
            tasks,
            metrics: fixture::metrics(),
            ..Changes::default()
        })))
    }

    /// An item in flight with an SLA, from the fixture, and a copy of it changed by `f`.
    fn item_changed(app: &App, f: impl Fn(&mut ItemSummary)) -> ItemSummary {
        let mut it = app
            .model
            .items
            .values()
            .find(|i| !i.status.is_final() && !i.sla_breached && i.sla_warned == 0)
            .expect("an item in flight, not yet warned")
            .clone();
        f(&mut it);
        it
    }

    fn notices(effects: &[Effect]) -> Vec<Notice> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Notify(n) => Some(n.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_breach_rings_at_once_and_more_are_gathered_into_the_next() {
        let mut app = fixture::app();
        let breached = item_changed(&app, |i| i.sla_breached = true);
        let id = breached.id;
        let n = notices(&app.update(changes(vec![breached], vec![])));
        assert_eq!(n.len(), 1, "{n:?}");
        assert!(n[0].bell && n[0].desktop);
        assert_eq!(n[0].body, format!("1 item breached (#{id})"));

        let others: Vec<ItemSummary> = app
            .model
            .items
            .values()
            .filter(|i| !i.status.is_final() && !i.sla_breached && i.id != id)
            .take(3)
            .cloned()
            .map(|mut i| {
                i.sla_breached = true;
                i
            })
            .collect();
        assert_eq!(others.len(), 3, "the fixture has three more");
        let ids: Vec<String> = others.iter().map(|i| format!("#{}", i.id)).collect();
        let n = notices(&app.update(changes(others, vec![])));
        assert!(n.is_empty(), "within the interval: held back");
        let later = app.now + Duration::seconds(EVERY_SECS - 1);
        assert!(notices(&app.update(Msg::Tick(later))).is_empty());
        let later = app.now + Duration::seconds(1);
        let n = notices(&app.update(Msg::Tick(later)));
        assert_eq!(n.len(), 1, "one notification for three");
        assert!(n[0].body.starts_with("3 items breached ("), "{}", n[0].body);
        for id in ids {
            assert!(n[0].body.contains(&id), "{id} in {}", n[0].body);
        }
        let much_later = app.now + Duration::seconds(EVERY_SECS * 3);
        assert!(
            notices(&app.update(Msg::Tick(much_later))).is_empty(),
            "said once"
        );
    }

    #[test]
    fn what_notifies_and_what_does_not() {
        let mut app = fixture::app();
        let warned = item_changed(&app, |i| i.sla_warned = 1);
        let n = notices(&app.update(changes(vec![warned.clone()], vec![])));
        assert_eq!(n[0].body, format!("1 item at risk (#{})", warned.id));

        let mut app = fixture::app();
        let same = item_changed(&app, |i| i.priority += 1);
        let n = notices(&app.update(changes(vec![same], vec![])));
        assert!(n.is_empty(), "no SLA change: {n:?}");

        let mut ended = item_changed(&app, |i| i.sla_breached = true);
        ended.status = crate::types::view::ItemStatus::Cancelled;
        assert!(
            notices(&app.update(changes(vec![ended], vec![]))).is_empty(),
            "ended items are not acted on"
        );

        // Tasks: the operator's groups (finance in the fixture) and theirs, not others'.
        let mine = app
            .model
            .tasks
            .iter()
            .find(|t| in_scope(t, Scope::Groups, &app.opts) && !t.overdue)
            .cloned()
            .expect("a task for alice or finance");
        let theirs = app
            .model
            .tasks
            .iter()
            .find(|t| !in_scope(t, Scope::Groups, &app.opts) && !t.overdue)
            .cloned()
            .expect("a task for someone else");
        let mut a = mine.clone();
        a.overdue = true;
        let mut b = theirs.clone();
        b.overdue = true;
        let n = notices(&app.update(changes(vec![], vec![a, b])));
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].body, format!("1 task overdue ({})", mine.id));

        let mut read_only = fixture::options();
        read_only.read_only = true;
        let mut app = fixture::app_with(read_only);
        let breached = item_changed(&app, |i| i.sla_breached = true);
        assert!(
            notices(&app.update(changes(vec![breached], vec![]))).is_empty(),
            "off in --read-only"
        );

        let mut app = fixture::app();
        app.alerts.mode = NotifyMode::Bell;
        let breached = item_changed(&app, |i| i.sla_breached = true);
        let n = notices(&app.update(changes(vec![breached], vec![])));
        assert!(n[0].bell && !n[0].desktop, "the bell only");
    }
}
