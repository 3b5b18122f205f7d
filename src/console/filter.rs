//! The `/` filter language: `status:incident wf:invoice step:approve sla<30m prio>=5
//! key:INV-2026` plus free words, which match an item's key, title, workflow, step or
//! id. Terms are ANDed; positive `status:` terms are ORed; `-term` leaves out what a
//! term matches; `a,b` lists OR; `a..b` ranges include both ends.

use std::ops::{Bound, RangeBounds};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::types::ItemId;
use crate::types::changes::EventLine;
use crate::types::view::{IdList, ItemFilter, ItemStatus, ItemSummary, TaskView, key_matches};

const FIELDS: &str = "status:, wf:, step:, key:, sla<, sla>, sla:A..B, sla:breached, sla:risk, \
     prio:, prio>, prio<, age>, age<, id:, or a word (-TERM leaves out)";

const STATUSES: &str = "running, waiting, incident, compensating, completed, failed or cancelled";

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("filter, column {column}: {message}")]
pub struct FilterError {
    pub column: usize,
    pub message: String,
}

/// An interval of values: `<x`, `>=x`, `x`, `a..b` (both ends included), `a..`, `..b`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Span<T> {
    lo: Bound<T>,
    hi: Bound<T>,
}

impl<T: PartialOrd + Copy> Span<T> {
    fn exactly(v: T) -> Span<T> {
        Span {
            lo: Bound::Included(v),
            hi: Bound::Included(v),
        }
    }

    fn holds(&self, v: T) -> bool {
        (self.lo, self.hi).contains(&v)
    }
}

/// What an `sla:` value asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum SlaWant {
    Breached,
    AtRisk,
    /// Milliseconds left before the deadline, for items in flight.
    Left(Span<i64>),
}

#[derive(Debug, Clone, PartialEq)]
enum Term {
    /// Only negated status terms; positive ones are gathered in `Filter::statuses`.
    Status(Vec<ItemStatus>),
    Workflow(Vec<String>),
    Step(Vec<String>),
    Sla(Vec<SlaWant>),
    Priority(Vec<Span<i64>>),
    /// Milliseconds since the item started.
    Age(Vec<Span<i64>>),
    Id(Vec<Span<u64>>),
    /// Business keys starting with one of these (lowercase; ASCII case is ignored).
    Key(Vec<String>),
    Word(String),
}

/// A term, or what it leaves out.
#[derive(Debug, Clone, PartialEq)]
struct Clause {
    negated: bool,
    term: Term,
}

/// Ended items fetched for a filter, at most.
pub const HISTORY_PAGE: usize = 500;

/// A parsed filter; the empty filter matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub text: String,
    statuses: Vec<ItemStatus>,
    clauses: Vec<Clause>,
}

/// One piece of the filter text and the column (1-based, in characters) it starts at.
#[derive(Debug, Clone, Copy)]
struct Piece<'a> {
    text: &'a str,
    column: usize,
}

impl<'a> Piece<'a> {
    /// The piece from byte `at` on.
    fn from(self, at: usize) -> Piece<'a> {
        Piece {
            text: &self.text[at..],
            column: self.column + self.text[..at].chars().count(),
        }
    }

    fn err(self, message: String) -> FilterError {
        FilterError {
            column: self.column,
            message,
        }
    }

    /// The comma-separated parts, each with its own column; an empty part is an error.
    fn list(self, field: &str) -> Result<Vec<Piece<'a>>, FilterError> {
        let mut out = Vec::new();
        let mut at = 0;
        for part in self.text.split(',') {
            let p = self.from(at);
            let p = Piece {
                text: part,
                column: p.column,
            };
            if part.is_empty() {
                return Err(p.err(format!("{field}: an empty value; write {field}:a,b")));
            }
            out.push(p);
            at += part.len() + 1;
        }
        Ok(out)
    }
}

/// How a field is compared with its value.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    /// `:` or `=`: a value, a list or a range.
    Is,
}

/// The comparison a field is followed by, and the value after it.
fn split_op(rest: Piece<'_>) -> Option<(Op, Piece<'_>)> {
    for (p, op) in [
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("<", Op::Lt),
        (">", Op::Gt),
        (":", Op::Is),
        ("=", Op::Is),
    ] {
        if rest.text.starts_with(p) {
            return Some((op, rest.from(p.len())));
        }
    }
    None
}

/// Fields that take `<`, `>` and ranges; the others take `:` only.
const RANGED: [&str; 5] = ["sla", "prio", "priority", "age", "id"];
const NAMED: [&str; 5] = ["status", "wf", "workflow", "step", "key"];

/// Values of a ranged field: `<x` etc. give one span, `:a,b..c` a list of them.
fn spans<T: PartialOrd + Copy>(
    op: Op,
    v: Piece<'_>,
    field: &str,
    one: &impl Fn(Piece<'_>) -> Result<T, FilterError>,
) -> Result<Vec<Span<T>>, FilterError> {
    let single = |b: fn(T) -> Bound<T>, lower: bool| -> Result<Vec<Span<T>>, FilterError> {
        let x = one(v)?;
        let (lo, hi) = match lower {
            true => (b(x), Bound::Unbounded),
            false => (Bound::Unbounded, b(x)),
        };
        Ok(vec![Span { lo, hi }])
    };
    match op {
        Op::Lt => single(Bound::Excluded, false),
        Op::Le => single(Bound::Included, false),
        Op::Gt => single(Bound::Excluded, true),
        Op::Ge => single(Bound::Included, true),
        Op::Is => v.list(field)?.into_iter().map(|p| range(p, one)).collect(),
    }
}

/// `a`, `a..b`, `a..` or `..b`.
fn range<T: PartialOrd + Copy>(
    p: Piece<'_>,
    one: &impl Fn(Piece<'_>) -> Result<T, FilterError>,
) -> Result<Span<T>, FilterError> {
    let Some(dots) = p.text.find("..") else {
        return one(p).map(Span::exactly);
    };
    let lo_text = Piece {
        text: &p.text[..dots],
        column: p.column,
    };
    let hi_text = p.from(dots + 2);
    let end = |q: Piece<'_>| -> Result<Bound<T>, FilterError> {
        match q.text.is_empty() {
            true => Ok(Bound::Unbounded),
            false => one(q).map(Bound::Included),
        }
    };
    if lo_text.text.is_empty() && hi_text.text.is_empty() {
        return Err(p.err("'..' needs an end, as in 3..7, 3.. or ..7".into()));
    }
    let span = Span {
        lo: end(lo_text)?,
        hi: end(hi_text)?,
    };
    if let (Bound::Included(a), Bound::Included(b)) = (span.lo, span.hi)
        && a > b
    {
        return Err(p.err(format!(
            "'{}' is an empty range: its start is past its end",
            p.text
        )));
    }
    Ok(span)
}

fn duration(p: Piece<'_>) -> Result<i64, FilterError> {
    humantime::parse_duration(p.text)
        .map(|d: Duration| d.as_millis().min(i64::MAX as u128) as i64)
        .map_err(|_| {
            p.err(format!(
                "'{}' is not a duration (like 90s, 30m, 2h); write sla<30m or sla:10m..1h",
                p.text
            ))
        })
}

fn number(p: Piece<'_>) -> Result<i64, FilterError> {
    p.text.parse().map_err(|_| {
        p.err(format!(
            "'{}' is not a number; write prio>=5 or prio:3..7",
            p.text
        ))
    })
}

fn item_id(p: Piece<'_>) -> Result<u64, FilterError> {
    let t = p.text.strip_prefix('#').unwrap_or(p.text);
    t.parse().map_err(|_| {
        p.err(format!(
            "'{}' is not an item id; write id:42 or id:100..200",
            p.text
        ))
    })
}

fn sla_want(p: Piece<'_>) -> Result<SlaWant, FilterError> {
    match p.text.to_ascii_lowercase().as_str() {
        "breached" => Ok(SlaWant::Breached),
        "risk" | "at-risk" => Ok(SlaWant::AtRisk),
        _ => range(p, &duration).map(SlaWant::Left),
    }
}

fn names(v: Piece<'_>, field: &str) -> Result<Vec<String>, FilterError> {
    Ok(v.list(field)?
        .into_iter()
        .map(|p| p.text.to_lowercase())
        .collect())
}

/// A field's term; `name` is the field as written in lower case, `v` its value.
fn field(name: &str, op: Op, v: Piece<'_>, at: Piece<'_>) -> Result<Term, FilterError> {
    if v.text.is_empty() {
        return Err(v.err(format!("{name}: needs a value")));
    }
    if op != Op::Is && NAMED.contains(&name) {
        return Err(at.err(format!("{name} takes ':' (as in {name}:a,b), not < or >")));
    }
    Ok(match name {
        "status" => Term::Status(
            v.list(name)?
                .into_iter()
                .map(|p| {
                    ItemStatus::parse(&p.text.to_ascii_lowercase()).ok_or_else(|| {
                        p.err(format!("unknown status '{}'; use {STATUSES}", p.text))
                    })
                })
                .collect::<Result<_, _>>()?,
        ),
        "wf" | "workflow" => Term::Workflow(names(v, name)?),
        "step" => Term::Step(names(v, name)?),
        "key" => Term::Key(names(v, name)?),
        "sla" if op == Op::Is => Term::Sla(
            v.list(name)?
                .into_iter()
                .map(sla_want)
                .collect::<Result<_, _>>()?,
        ),
        "sla" => Term::Sla(
            spans(op, v, name, &duration)?
                .into_iter()
                .map(SlaWant::Left)
                .collect(),
        ),
        "prio" | "priority" => Term::Priority(spans(op, v, name, &number)?),
        "age" => Term::Age(spans(op, v, name, &duration)?),
        _ => Term::Id(spans(op, v, name, &item_id)?),
    })
}

fn clause(p: Piece<'_>) -> Result<Clause, FilterError> {
    let (negated, p) = match p.text.strip_prefix(['-', '!']) {
        Some("") => {
            return Err(p.err("nothing after '-' to leave out; write -status:completed".into()));
        }
        Some(_) => (true, p.from(1)),
        None => (false, p),
    };
    let lower = p.text.to_ascii_lowercase();
    let name_len = lower
        .find(|c: char| !(c.is_ascii_alphabetic() || c == '-'))
        .unwrap_or(lower.len());
    let name = &lower[..name_len];
    let rest = p.from(name_len);
    // A field only when a comparison follows (`slack` is a word); `x:` with an unknown x
    // is a typo worth saying so.
    if let Some((op, v)) = split_op(rest)
        && (RANGED.contains(&name) || NAMED.contains(&name))
    {
        let term = field(name, op, v, rest)?;
        return Ok(Clause { negated, term });
    }
    if let Some(colon) = lower.find(':') {
        let key = &p.text[..colon];
        return Err(p.err(format!("unknown field '{key}'; use {FIELDS}")));
    }
    Ok(Clause {
        negated,
        term: Term::Word(p.text.to_lowercase()),
    })
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
                match clause(Piece { text: word, column })? {
                    Clause {
                        negated: false,
                        term: Term::Status(s),
                    } => f.statuses.extend(s),
                    c => f.clauses.push(c),
                }
            }
            column += word.chars().count() + 1;
        }
        Ok(f)
    }

    pub fn is_empty(&self) -> bool {
        self.statuses.is_empty() && self.clauses.is_empty()
    }

    /// What to ask the engine for when this filter may match ended items the mirror
    /// no longer holds: the ids of an `id:` term (any status); the ended statuses asked
    /// for (newest first, a page); a `key:` or a word, as the start of a business key
    /// (`/INV-2026-09387` finds that invoice however long ago it ended). What comes back
    /// joins the mirror and the filter still applies to it; what the engine cannot be
    /// asked (negations, wide id ranges) is left to the mirror.
    pub fn history_query(&self) -> Option<ItemFilter> {
        let ids = self.clauses.iter().find_map(|c| match &c.term {
            Term::Id(spans) if !c.negated => listed(spans),
            _ => None,
        });
        if let Some(ids) = ids {
            return Some(ItemFilter {
                ids: Some(IdList(ids)),
                ..Default::default()
            });
        }
        let mut ended: Vec<ItemStatus> = self
            .statuses
            .iter()
            .copied()
            .filter(|s| s.is_final())
            .collect();
        ended.dedup();
        let key = self.clauses.iter().find_map(|c| match &c.term {
            Term::Key(keys) if !c.negated && keys.len() == 1 => keys.first().cloned(),
            Term::Word(w) if !c.negated && !w.is_empty() => Some(w.clone()),
            _ => None,
        });
        // Items in flight are all in the mirror: a key is worth asking for only when
        // ended ones may match.
        let ended_wanted = self.statuses.is_empty() || !ended.is_empty();
        let key = key.filter(|_| ended_wanted);
        let (status, ended) = match ended.as_slice() {
            [] if key.is_none() => return None,
            [] => (None, false),
            [one] => (Some(*one), false),
            _ => (None, true),
        };
        Some(ItemFilter {
            status,
            ended,
            key_prefix: key,
            limit: Some(HISTORY_PAGE),
            ..Default::default()
        })
    }

    /// Whether what matches changes with time alone (`sla:` and `age:` terms).
    pub fn reads_clock(&self) -> bool {
        self.clauses
            .iter()
            .any(|c| matches!(c.term, Term::Sla(_) | Term::Age(_)))
    }

    pub fn matches_item(&self, it: &ItemSummary, now: DateTime<Utc>) -> bool {
        if !self.statuses.is_empty() && !self.statuses.contains(&it.status) {
            return false;
        }
        self.clauses
            .iter()
            .all(|c| item_term(&c.term, it, now) != c.negated)
    }

    /// Tasks match on their workflow, step, item id, priority and words, and on the
    /// key and title of their item (`item`, when the mirror holds it); the other terms
    /// (status, SLA, age) are about items and let every task through.
    pub fn matches_task(&self, t: &TaskView, item: Option<&ItemSummary>) -> bool {
        self.clauses
            .iter()
            .all(|c| task_term(&c.term, t, item).is_none_or(|hit| hit != c.negated))
    }

    /// Records match when their item does, or when every term is a word found in the
    /// record's kind, particulars or actor (`/task_decided`, `/alice`; `-alice` too).
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
            && self.clauses.iter().all(|c| match &c.term {
                Term::Word(w) => word_matches_event(w, line) != c.negated,
                _ => false,
            })
    }
}

/// The ids of an id list, when it is short enough to ask the engine for.
fn listed(spans: &[Span<u64>]) -> Option<Vec<ItemId>> {
    let mut ids = Vec::new();
    for s in spans {
        let lo = match s.lo {
            Bound::Included(a) => a,
            Bound::Excluded(a) => a.checked_add(1)?,
            Bound::Unbounded => 1,
        };
        let hi = match s.hi {
            Bound::Included(b) => b,
            Bound::Excluded(b) => b.checked_sub(1)?,
            Bound::Unbounded => return None,
        };
        if hi >= lo && hi - lo >= HISTORY_PAGE as u64 {
            return None;
        }
        ids.extend(lo..=hi);
        if ids.len() > HISTORY_PAGE {
            return None;
        }
    }
    Some(ids)
}

fn any_contains(names: &[String], text: &str) -> bool {
    names.iter().any(|n| contains(text, n))
}

/// Whether `text` holds `word` (already lowercase), ignoring case.
fn contains(text: &str, word: &str) -> bool {
    // Most text is ASCII: compare in place instead of lowercasing a copy per row.
    if text.is_ascii() && word.is_ascii() {
        let (t, w) = (text.as_bytes(), word.as_bytes());
        return w.is_empty() || t.windows(w.len()).any(|win| win.eq_ignore_ascii_case(w));
    }
    text.to_lowercase().contains(word)
}

/// Whether an item's key or title holds `word`.
fn named(it: &ItemSummary, word: &str) -> bool {
    it.key.as_deref().is_some_and(|k| contains(k, word))
        || it.title.as_deref().is_some_and(|t| contains(t, word))
}

/// A free word against an item: kept in one place so new fields join here.
fn word_matches_item(w: &str, it: &ItemSummary) -> bool {
    named(it, w) || contains(&it.workflow, w) || contains(&it.current, w) || it.id.to_string() == w
}

/// A free word against a record of the events pane.
fn word_matches_event(w: &str, line: &EventLine) -> bool {
    line.kind.contains(w)
        || line.detail.to_lowercase().contains(w)
        || line.actor.to_lowercase().contains(w)
}

/// A free word against a task, and the key and title of its item.
fn word_matches_task(w: &str, t: &TaskView, item: Option<&ItemSummary>) -> bool {
    contains(&t.title, w)
        || contains(&t.workflow, w)
        || t.id.to_string() == w
        || item.is_some_and(|i| named(i, w))
}

fn sla_holds(want: SlaWant, it: &ItemSummary, now: DateTime<Utc>) -> bool {
    match want {
        SlaWant::Breached => it.sla_breached || it.sla_due.is_some_and(|d| d <= now),
        SlaWant::AtRisk => it.sla_warned > 0 && !it.sla_breached,
        SlaWant::Left(span) => it
            .sla_due
            .is_some_and(|due| !it.status.is_final() && span.holds((due - now).num_milliseconds())),
    }
}

fn item_term(t: &Term, it: &ItemSummary, now: DateTime<Utc>) -> bool {
    match t {
        Term::Status(s) => s.contains(&it.status),
        Term::Workflow(w) => any_contains(w, &it.workflow),
        Term::Step(s) => any_contains(s, &it.current),
        Term::Sla(wants) => wants.iter().any(|w| sla_holds(*w, it, now)),
        Term::Priority(spans) => spans.iter().any(|s| s.holds(i64::from(it.priority))),
        Term::Age(spans) => {
            let age = (now - it.started_at).num_milliseconds();
            spans.iter().any(|s| s.holds(age))
        }
        Term::Id(spans) => spans.iter().any(|s| s.holds(it.id)),
        Term::Key(keys) => keys.iter().any(|k| key_matches(it.key.as_deref(), k, true)),
        Term::Word(w) => word_matches_item(w, it),
    }
}

/// Whether a task matches a term; `None` when the term is not about tasks.
fn task_term(term: &Term, t: &TaskView, item: Option<&ItemSummary>) -> Option<bool> {
    let key = item.and_then(|i| i.key.as_deref());
    Some(match term {
        Term::Workflow(w) => any_contains(w, &t.workflow),
        Term::Step(s) => any_contains(s, &t.step),
        Term::Priority(spans) => spans.iter().any(|s| s.holds(i64::from(t.priority))),
        Term::Id(spans) => spans.iter().any(|s| s.holds(t.item)),
        Term::Key(keys) => keys.iter().any(|k| key_matches(key, k, true)),
        Term::Word(w) => word_matches_task(w, t, item),
        Term::Status(_) | Term::Sla(_) | Term::Age(_) => return None,
    })
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
            key: None,
            title: None,
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
        assert_eq!(e.column, 6, "the value, not the term: {e}");
    }

    fn at(now: DateTime<Utc>, f: &str, it: &ItemSummary) -> bool {
        Filter::parse(f).expect(f).matches_item(it, now)
    }

    fn noon() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
    }

    #[test]
    fn negation_leaves_out_every_kind_of_term() {
        let now = noon();
        let done = item(7, "invoice-approval", ItemStatus::Completed, None);
        let live = item(8, "legacy-billing", ItemStatus::Running, Some(20));
        assert!(!at(now, "-status:completed", &done));
        assert!(at(now, "-status:completed", &live));
        assert!(at(now, "!status:completed", &live), "! negates too");
        assert!(!at(now, "-wf:legacy", &live));
        assert!(at(now, "-wf:legacy", &done));
        assert!(!at(now, "-legacy", &live), "a negated word");
        assert!(at(now, "-legacy", &done));
        assert!(!at(now, "-sla<30m", &live));
        assert!(at(now, "-sla<10m", &live));
        assert!(!at(now, "-prio>7", &live));
        assert!(at(now, "-prio>7", &done));
        assert!(!at(now, "-id:7", &done));
        assert!(at(now, "-id:7", &live));
        assert!(!at(now, "-step:approve", &live));
        let mut breached = live.clone();
        breached.sla_breached = true;
        assert!(!at(now, "-sla:breached", &breached));
        assert!(at(now, "-sla:breached", &live));
        // Terms about items let tasks through, negated or not; the rest apply.
        let task = TaskView {
            id: 3,
            item: 8,
            workflow: "legacy-billing".into(),
            step: "review".into(),
            kind: crate::types::event::TaskKind::Approval,
            title: "Check the bill".into(),
            details: None,
            group: None,
            assignee: None,
            claimed_by: None,
            options: vec![],
            status: crate::types::view::TaskStatus::Open,
            created_at: now,
            due: None,
            overdue: false,
            escalation_level: 0,
            decision: None,
            comment: None,
            decided_by: None,
            priority: 8,
            approvals: 1,
            approved_by: Vec::new(),
            form: Vec::new(),
        };
        let tf = |f: &str| Filter::parse(f).expect(f).matches_task(&task, None);
        assert!(tf("-status:running"));
        assert!(tf("-sla:breached"));
        assert!(!tf("-wf:legacy"));
        assert!(!tf("-bill"));
        assert!(tf("-invoice"));
        assert!(tf("id:1..10 prio:8"));
        assert!(!tf("-id:8"));
    }

    #[test]
    fn lists_or_their_values() {
        let now = noon();
        let f = "status:running,waiting";
        assert!(at(now, f, &item(1, "x", ItemStatus::Waiting, None)));
        assert!(at(now, f, &item(1, "x", ItemStatus::Running, None)));
        assert!(!at(now, f, &item(1, "x", ItemStatus::Incident, None)));
        let f = "wf:invoice,onboard";
        assert!(at(
            now,
            f,
            &item(1, "onboarding", ItemStatus::Running, None)
        ));
        assert!(!at(now, f, &item(1, "legacy", ItemStatus::Running, None)));
        assert!(at(now, "id:3,5", &item(5, "x", ItemStatus::Running, None)));
        assert!(!at(now, "id:3,5", &item(4, "x", ItemStatus::Running, None)));
        assert!(!at(
            now,
            "-status:completed,failed",
            &item(4, "x", ItemStatus::Failed, None)
        ));
        assert!(at(
            now,
            "-status:completed,failed",
            &item(4, "x", ItemStatus::Waiting, None)
        ));
        let mut risky = item(4, "x", ItemStatus::Running, Some(50));
        assert!(!at(now, "sla:breached,risk", &risky));
        risky.sla_warned = 1;
        assert!(at(now, "sla:breached,risk", &risky));
    }

    #[test]
    fn ranges_include_both_ends() {
        let now = noon();
        for (f, id, hit) in [
            ("prio:3..7", 3, true),
            ("prio:3..7", 7, true),
            ("prio:3..7", 8, false),
            ("prio:3..7", 2, false),
            ("prio:5..", 9, true),
            ("prio:..5", 6, false),
            ("id:100..200", 150, true),
            ("id:100..200", 201, false),
            ("id:1,100..200", 1, true),
        ] {
            assert_eq!(
                at(now, f, &item(id, "x", ItemStatus::Running, None)),
                hit,
                "{f} on {id}"
            );
        }
        for (f, due, hit) in [
            ("sla:10m..1h", 10, true),
            ("sla:10m..1h", 60, true),
            ("sla:10m..1h", 61, false),
            ("sla:10m..1h", 9, false),
            ("sla:..30m", 29, true),
        ] {
            assert_eq!(
                at(now, f, &item(1, "x", ItemStatus::Running, Some(due))),
                hit,
                "{f} due in {due}m"
            );
        }
        let mut old = item(1, "x", ItemStatus::Running, None);
        old.started_at = now - chrono::Duration::hours(2);
        assert!(at(now, "age>1h", &old));
        assert!(!at(now, "age<1h", &old));
        assert!(at(now, "age:1h..3h", &old));
        assert!(!at(now, "age>1h", &item(1, "x", ItemStatus::Running, None)));
    }

    #[test]
    fn errors_point_at_the_bad_part() {
        for (text, column, says) in [
            ("sla<abc", 5, "'abc' is not a duration"),
            ("wf:a colour:red", 6, "unknown field 'colour'"),
            ("status:running,sleeping", 16, "unknown status 'sleeping'"),
            ("wf:a -nope:x", 7, "unknown field 'nope'"),
            ("prio:3..x", 9, "'x' is not a number"),
            ("prio:x..3", 6, "'x' is not a number"),
            ("id:9..3", 4, "empty range"),
            ("id:..", 4, "'..' needs an end"),
            ("a -", 3, "nothing after '-'"),
            ("status:", 8, "needs a value"),
            ("wf:a,,b", 6, "an empty value"),
            ("status>running", 7, "takes ':'"),
            ("  age>soon", 7, "'soon' is not a duration"),
            ("é sla<x", 7, "'x' is not a duration"),
        ] {
            let e = Filter::parse(text).expect_err(text);
            assert_eq!(e.column, column, "{text}: {e}");
            assert!(e.to_string().contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn the_engine_is_asked_only_for_what_it_can_answer_and_never_less() {
        let q = |f: &str| Filter::parse(f).expect(f).history_query();
        let ids = |f: &str| q(f).and_then(|q| q.ids).map(|l| l.0);
        assert_eq!(ids("id:5"), Some(vec![5]));
        assert_eq!(ids("id:3,5..7"), Some(vec![3, 5, 6, 7]));
        assert_eq!(ids("id:1..100000"), None, "too wide to list");
        assert_eq!(q("id:1..100000"), None, "and nothing else to ask");
        assert_eq!(q("-id:5"), None, "a negation cannot be asked for");
        assert_eq!(q("-status:completed"), None);
        assert_eq!(q("status:running"), None, "in flight: all in the mirror");
        let one = q("status:completed wf:x").expect("one ended status");
        assert_eq!(
            (one.status, one.ended),
            (Some(ItemStatus::Completed), false)
        );
        assert_eq!(
            one.workflow, None,
            "wf: matches parts of names; the engine's is exact"
        );
        let many = q("status:completed,failed").expect("two ended statuses");
        assert_eq!((many.status, many.ended), (None, true));
        let mixed = q("status:running,cancelled").expect("the ended part");
        assert_eq!(mixed.status, Some(ItemStatus::Cancelled));
        let both = q("status:failed -id:3").expect("the status, not the negated id");
        assert_eq!((both.status, both.ids), (Some(ItemStatus::Failed), None));
    }
    #[test]
    fn words_match_the_key_title_and_workflow() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        let named = |key: Option<&str>, title: Option<&str>| ItemSummary {
            key: key.map(str::to_string),
            title: title.map(str::to_string),
            ..item(39, "incident-response", ItemStatus::Incident, None)
        };
        let invoice = named(Some("INV-2026-09387"), Some("Nordwind Logistics GmbH"));
        let legacy = named(Some("legacy-billing"), Some("sev2 error rate above 5%"));
        let hits =
            |text: &str, it: &ItemSummary| Filter::parse(text).unwrap().matches_item(it, now);
        assert!(hits("INV-2026-09387", &invoice));
        assert!(hits("inv-2026", &invoice), "part of a key, any case");
        assert!(hits("nordwind gmbh", &invoice), "words of the title");
        assert!(!hits("INV-2026-09388", &invoice));
        assert!(hits("legacy", &legacy));
        assert!(
            hits("incident", &legacy),
            "the workflow is matched as before"
        );
        assert!(!hits("legacy", &named(None, None)));
        assert!(
            hits("key:inv-2026-0", &invoice),
            "key: is the start of a key"
        );
        assert!(!hits("key:2026", &invoice), "not the middle");
        assert!(!hits("key:legacy", &named(None, Some("legacy"))));
        let task = TaskView {
            title: "Approve invoice".into(),
            ..crate::console::tests::fixture::tasks()[0].clone()
        };
        let f = Filter::parse("nordwind").unwrap();
        assert!(
            f.matches_task(&task, Some(&invoice)),
            "a task matches its item's title"
        );
        assert!(!f.matches_task(&task, None));
        assert!(
            Filter::parse("key:INV")
                .unwrap()
                .matches_task(&task, Some(&invoice))
        );
    }

    #[test]
    fn words_and_keys_also_ask_for_ended_items_by_key() {
        let q = |text: &str| Filter::parse(text).unwrap().history_query();
        let by_key = q("INV-2026-09387").unwrap();
        assert_eq!(by_key.key_prefix.as_deref(), Some("inv-2026-09387"));
        assert_eq!((by_key.status, by_key.limit), (None, Some(HISTORY_PAGE)));
        let both = q("status:completed key:INV").unwrap();
        assert_eq!(both.status, Some(ItemStatus::Completed));
        assert_eq!(both.key_prefix.as_deref(), Some("inv"));
        assert_eq!(
            q("status:running inv"),
            None,
            "items in flight are all in the mirror"
        );
        assert_eq!(q("wf:invoice sla<30m"), None);
        assert_eq!(q("status:failed").unwrap().key_prefix, None);
    }
}
