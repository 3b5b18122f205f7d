//! The `/` filter language: `status:incident wf:invoice step:approve sla<30m prio>=5`
//! plus free words. Terms are ANDed; repeated `status:` terms are ORed.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::types::ItemId;
use crate::types::changes::EventLine;
use crate::types::view::{IdList, ItemFilter, ItemStatus, ItemSummary, TaskView};

const FIELDS: &str =
    "status:, wf:, step:, sla<, sla>, sla:breached, sla:risk, prio>, prio<, prio:, id:, or a word";

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("filter, column {column}: {message}")]
pub struct FilterError {
    pub column: usize,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

impl Cmp {
    fn holds<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
            Cmp::Eq => a == b,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Term {
    Workflow(String),
    Step(String),
    Sla(Cmp, Duration),
    Breached,
    AtRisk,
    Priority(Cmp, i32),
    Id(u64),
    Word(String),
}

/// Ended items fetched for a filter, at most.
pub const HISTORY_PAGE: usize = 500;

/// A parsed filter; the empty filter matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub text: String,
    statuses: Vec<ItemStatus>,
    terms: Vec<Term>,
}

fn split_op(rest: &str) -> (Cmp, &str) {
    for (p, c) in [
        ("<=", Cmp::Le),
        (">=", Cmp::Ge),
        ("<", Cmp::Lt),
        (">", Cmp::Gt),
        (":", Cmp::Eq),
        ("=", Cmp::Eq),
    ] {
        if let Some(v) = rest.strip_prefix(p) {
            return (c, v);
        }
    }
    (Cmp::Eq, rest)
}

fn term(word: &str, column: usize) -> Result<(Option<ItemStatus>, Option<Term>), FilterError> {
    let err = |message: String| FilterError { column, message };
    let lower = word.to_lowercase();
    if let Some(v) = lower.strip_prefix("status:") {
        let status = ItemStatus::parse(v).ok_or_else(|| {
            err(format!(
                "unknown status '{v}'; use running, waiting, incident, compensating, completed, failed or cancelled"
            ))
        })?;
        return Ok((Some(status), None));
    }
    for key in ["wf:", "workflow:"] {
        if let Some(v) = lower.strip_prefix(key) {
            return Ok((None, Some(Term::Workflow(v.to_string()))));
        }
    }
    if let Some(v) = lower.strip_prefix("step:") {
        return Ok((None, Some(Term::Step(v.to_string()))));
    }
    // `sla` and `prio` are fields only when a comparison follows: `slack` is a word.
    let compares = |rest: &str| rest.starts_with(['<', '>', '=', ':']);
    if let Some(rest) = lower.strip_prefix("sla").filter(|r| compares(r)) {
        return match rest {
            ":breached" => Ok((None, Some(Term::Breached))),
            ":risk" | ":at-risk" => Ok((None, Some(Term::AtRisk))),
            _ => {
                let (cmp, v) = split_op(rest);
                let d = humantime::parse_duration(v).map_err(|_| {
                    err(format!(
                        "'{v}' is not a duration (like 90s, 30m, 2h); write sla<30m"
                    ))
                })?;
                Ok((None, Some(Term::Sla(cmp, d))))
            }
        };
    }
    for key in ["priority", "prio"] {
        if let Some(rest) = lower.strip_prefix(key).filter(|r| compares(r)) {
            let (cmp, v) = split_op(rest);
            let n = v
                .parse()
                .map_err(|_| err(format!("'{v}' is not a number; write prio>=5")))?;
            return Ok((None, Some(Term::Priority(cmp, n))));
        }
    }
    if let Some(v) = lower.strip_prefix("id:") {
        let n = v
            .parse()
            .map_err(|_| err(format!("'{v}' is not an item id")))?;
        return Ok((None, Some(Term::Id(n))));
    }
    if let Some((key, _)) = lower.split_once(':') {
        return Err(err(format!("unknown field '{key}'; use {FIELDS}")));
    }
    Ok((None, Some(Term::Word(lower))))
}

impl Filter {
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        let mut f = Filter {
            text: text.trim().to_string(),
            ..Filter::default()
        };
        let mut column = 1;
        for word in text.split(' ') {
            if !word.is_empty() {
                let (status, t) = term(word, column)?;
                f.statuses.extend(status);
                f.terms.extend(t);
            }
            column += word.chars().count() + 1;
        }
        Ok(f)
    }

    pub fn is_empty(&self) -> bool {
        self.statuses.is_empty() && self.terms.is_empty()
    }

    /// What to ask the engine for when this filter may match ended items the mirror
    /// no longer holds: an `id:` (any status), or one ended status (newest first, a
    /// page). Other filters are answered by the mirror alone.
    pub fn history_query(&self) -> Option<ItemFilter> {
        let ids: Vec<ItemId> = self
            .terms
            .iter()
            .filter_map(|t| match t {
                Term::Id(id) => Some(*id),
                _ => None,
            })
            .collect();
        if !ids.is_empty() {
            return Some(ItemFilter {
                ids: Some(IdList(ids)),
                ..Default::default()
            });
        }
        let status = match self.statuses.as_slice() {
            [s] if s.is_final() => *s,
            _ => return None,
        };
        Some(ItemFilter {
            status: Some(status),
            limit: Some(HISTORY_PAGE),
            ..Default::default()
        })
    }

    pub fn matches_item(&self, it: &ItemSummary, now: DateTime<Utc>) -> bool {
        if !self.statuses.is_empty() && !self.statuses.contains(&it.status) {
            return false;
        }
        self.terms.iter().all(|t| item_term(t, it, now))
    }

    /// Tasks match on their workflow, step, item id, priority and words.
    pub fn matches_task(&self, t: &TaskView) -> bool {
        self.terms.iter().all(|term| match term {
            Term::Workflow(w) => t.workflow.to_lowercase().contains(w),
            Term::Step(s) => t.step.to_lowercase().contains(s),
            Term::Priority(cmp, n) => cmp.holds(t.priority, *n),
            Term::Id(id) => t.item == *id,
            Term::Word(w) => {
                t.title.to_lowercase().contains(w)
                    || t.workflow.to_lowercase().contains(w)
                    || t.id.to_string() == *w
            }
            Term::Sla(..) | Term::Breached | Term::AtRisk => true,
        })
    }

    /// Records match when their item does, or when every term is a word found in the
    /// record's kind, particulars or actor (`/task_decided`, `/alice`).
    pub fn matches_event(
        &self,
        line: &EventLine,
        item: Option<&ItemSummary>,
        now: DateTime<Utc>,
    ) -> bool {
        if self.is_empty() || item.is_some_and(|i| self.matches_item(i, now)) {
            return true;
        }
        self.statuses.is_empty()
            && self.terms.iter().all(|t| match t {
                Term::Word(w) => {
                    line.kind.contains(w.as_str())
                        || line.detail.to_lowercase().contains(w)
                        || line.actor.to_lowercase().contains(w)
                }
                _ => false,
            })
    }
}

fn item_term(t: &Term, it: &ItemSummary, now: DateTime<Utc>) -> bool {
    match t {
        Term::Workflow(w) => it.workflow.to_lowercase().contains(w),
        Term::Step(s) => it.current.to_lowercase().contains(s),
        Term::Sla(cmp, d) => it.sla_due.is_some_and(|due| {
            let left = (due - now).num_milliseconds();
            !it.status.is_final() && cmp.holds(left, d.as_millis() as i64)
        }),
        Term::Breached => it.sla_breached || it.sla_due.is_some_and(|d| d <= now),
        Term::AtRisk => it.sla_warned > 0 && !it.sla_breached,
        Term::Priority(cmp, n) => cmp.holds(it.priority, *n),
        Term::Id(id) => it.id == *id,
        Term::Word(w) => {
            it.workflow.to_lowercase().contains(w)
                || it.current.to_lowercase().contains(w)
                || it.id.to_string() == *w
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn item(id: u64, wf: &str, status: ItemStatus, due_in: Option<i64>) -> ItemSummary {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        ItemSummary {
            id,
            workflow: wf.into(),
            version: 1,
            status,
            current: "approve".into(),
            priority: id as i32,
            started_at: now,
            updated_at: now,
            ended_at: None,
            sla_due: due_in.map(|m| now + chrono::Duration::minutes(m)),
            sla_warned: 0,
            sla_breached: false,
            incident: None,
        }
    }

    #[test]
    fn the_brief_example_filters_as_written() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        let f = Filter::parse("status:failed wf:invoice sla<30m").unwrap();
        let hit = item(1, "invoice-approval", ItemStatus::Failed, Some(10));
        assert!(
            !f.matches_item(&hit, now),
            "failed items are final: no SLA clock"
        );
        let f = Filter::parse("status:incident wf:invoice sla<30m").unwrap();
        assert!(f.matches_item(
            &item(1, "invoice-approval", ItemStatus::Incident, Some(10)),
            now
        ));
        assert!(!f.matches_item(
            &item(2, "invoice-approval", ItemStatus::Incident, Some(45)),
            now
        ));
        assert!(!f.matches_item(&item(3, "onboarding", ItemStatus::Incident, Some(10)), now));
        assert!(!f.matches_item(
            &item(4, "invoice-approval", ItemStatus::Running, Some(10)),
            now
        ));
        assert!(!f.matches_item(
            &item(5, "invoice-approval", ItemStatus::Incident, None),
            now
        ));
    }

    #[test]
    fn statuses_or_and_other_terms_and() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        let f = Filter::parse("status:running status:waiting prio>=3").unwrap();
        assert!(f.matches_item(&item(3, "x", ItemStatus::Waiting, None), now));
        assert!(!f.matches_item(&item(2, "x", ItemStatus::Waiting, None), now));
        assert!(!f.matches_item(&item(5, "x", ItemStatus::Incident, None), now));
        assert!(
            Filter::parse("slack priority-review").is_ok(),
            "words, not fields"
        );
        let words = Filter::parse("APPROVE").unwrap();
        assert!(words.matches_item(&item(1, "x", ItemStatus::Running, None), now));
        assert!(Filter::parse("  ").unwrap().is_empty());
    }

    #[test]
    fn errors_say_where_and_what() {
        let e = Filter::parse("wf:a colour:red").unwrap_err();
        assert_eq!(e.column, 6);
        assert!(e.to_string().contains("unknown field 'colour'"), "{e}");
        let e = Filter::parse("status:sleeping").unwrap_err();
        assert!(e.to_string().contains("unknown status 'sleeping'"), "{e}");
        let e = Filter::parse("sla<soon").unwrap_err();
        assert!(e.to_string().contains("'soon' is not a duration"), "{e}");
        let e = Filter::parse("prio>high").unwrap_err();
        assert!(e.to_string().contains("column 1"), "{e}");
    }
}
