//! `tempi report`: the numbers a process owner watches, per workflow and in total, over a
//! window of time, as the API returns them and the CLI and console show them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::tally::Counts;

/// The report over one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Report {
    /// The window's start: the start of the minute the asked `since` falls in (of its
    /// hour beyond a week back, of its day beyond 400 days); `null` when nothing was
    /// counted.
    pub since: Option<DateTime<Utc>>,
    /// The window's end: the engine's time when the report was made.
    pub until: DateTime<Utc>,
    /// Every loaded workflow and every one with figures in the window, by name.
    pub workflows: Vec<WorkflowFigures>,
    pub total: Figures,
}

/// One workflow's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkflowFigures {
    pub workflow: String,
    #[serde(flatten)]
    pub figures: Figures,
}

/// What happened in the window. Items count when they started (`started`) or ended
/// (the rest); incidents, breaches and decisions when they happened.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Figures {
    pub started: u64,
    pub completed: u64,
    pub failed: u64,
    pub cancelled: u64,
    /// Incidents raised: the exception volume.
    pub incidents: u64,
    /// Failed over ended (completed, failed and cancelled), 0..1; null when none ended.
    pub error_rate: Option<f64>,
    /// Start to end of the items that completed, in seconds (from a histogram whose
    /// neighbouring bounds are at most 25% apart); null when none completed.
    pub cycle_time_p50_s: Option<f64>,
    pub cycle_time_p95_s: Option<f64>,
    /// Items with an SLA that completed or failed by their deadline, percent of all such
    /// items (cancelled ones left out); null when there are none.
    pub sla_met_pct: Option<f64>,
    /// SLA deadlines that passed while their item was in flight.
    pub breached: u64,
    /// Human tasks decided.
    pub human_tasks: u64,
    /// Creation to decision of the human tasks decided, in seconds.
    pub human_wait_p50_s: Option<f64>,
    pub human_wait_p95_s: Option<f64>,
}

impl Figures {
    pub fn of(c: &Counts) -> Figures {
        let ended = c.completed + c.failed + c.cancelled;
        let round = |v: Option<f64>| v.map(|s| (s * 1000.0).round() / 1000.0);
        Figures {
            started: c.started,
            completed: c.completed,
            failed: c.failed,
            cancelled: c.cancelled,
            incidents: c.incidents,
            error_rate: (ended > 0).then(|| c.failed as f64 / ended as f64),
            cycle_time_p50_s: round(c.cycle.quantile(0.5)),
            cycle_time_p95_s: round(c.cycle.quantile(0.95)),
            sla_met_pct: c.sla_met_pct(),
            breached: c.breached,
            human_tasks: c.wait.count,
            human_wait_p50_s: round(c.wait.quantile(0.5)),
            human_wait_p95_s: round(c.wait.quantile(0.95)),
        }
    }
}

impl Report {
    /// The report of these sums, with `names` (the loaded workflows) listed even when
    /// nothing of theirs happened in the window.
    pub fn build(
        since: Option<DateTime<Utc>>,
        until: DateTime<Utc>,
        mut sums: std::collections::BTreeMap<String, Counts>,
        names: impl IntoIterator<Item = String>,
    ) -> Report {
        for name in names {
            sums.entry(name).or_default();
        }
        let mut all = Counts::default();
        let workflows = sums
            .iter()
            .map(|(name, c)| {
                all.merge(c);
                WorkflowFigures {
                    workflow: name.clone(),
                    figures: Figures::of(c),
                }
            })
            .collect();
        Report {
            since,
            until,
            workflows,
            total: Figures::of(&all),
        }
    }
}

/// Where a window starts: so long before now, or at a time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Since {
    Ago(std::time::Duration),
    At(DateTime<Utc>),
}

impl Since {
    pub fn at(self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Since::At(t) => t,
            Since::Ago(d) => chrono::Duration::from_std(d)
                .ok()
                .and_then(|d| now.checked_sub_signed(d))
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
        }
    }
}

/// `7d`, `36h`, `90m` (that long ago), `2026-11-01` (midnight UTC) or an RFC 3339 time.
pub fn parse_since(text: &str) -> Result<Since, String> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(Since::At(t.with_timezone(&Utc)));
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(Since::At(
            d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc(),
        ));
    }
    let d = humantime::parse_duration(text).map_err(|e| {
        format!("{e} (write a duration like 7d, 36h or 90m, a date like 2026-11-01, or a time like 2026-11-01T09:00:00Z)")
    })?;
    if d > std::time::Duration::from_secs(100 * 31_557_600) {
        return Err("a window is limited to 100 years".into());
    }
    Ok(Since::Ago(d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::tally::Fact;

    #[test]
    fn since_takes_durations_dates_and_times() {
        assert_eq!(
            parse_since("7d"),
            Ok(Since::Ago(std::time::Duration::from_secs(7 * 86400)))
        );
        let day = parse_since("2026-11-01").unwrap();
        assert_eq!(
            day,
            Since::At("2026-11-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap())
        );
        let t = parse_since("2026-11-01T09:30:00+01:00").unwrap();
        assert_eq!(
            t,
            Since::At("2026-11-01T08:30:00Z".parse::<DateTime<Utc>>().unwrap())
        );
        let err = parse_since("last week").unwrap_err();
        assert!(err.contains("7d"), "{err}");
        assert!(parse_since("1000years").is_err());
        let now = Utc::now();
        assert_eq!(
            Since::Ago(std::time::Duration::from_secs(60)).at(now),
            now - chrono::Duration::seconds(60)
        );
    }

    #[test]
    fn figures_say_null_where_there_is_nothing_to_divide() {
        let f = Figures::of(&Counts::default());
        assert_eq!(f.error_rate, None);
        assert_eq!(f.sla_met_pct, None);
        assert_eq!(f.cycle_time_p50_s, None);
        let json = serde_json::to_value(&f).unwrap();
        assert!(json["sla_met_pct"].is_null());
        assert_eq!(json["started"], 0);
    }

    #[test]
    fn a_report_lists_loaded_workflows_and_adds_up_the_total() {
        let mut a = Counts::default();
        let mut t = crate::types::tally::Totals::default();
        t.add("a", Fact::Failed);
        t.add(
            "a",
            Fact::Completed {
                cycle_us: 1_000_000,
            },
        );
        a.merge(&t.workflows["a"]);
        let sums = [("a".to_string(), a)].into_iter().collect();
        let r = Report::build(None, Utc::now(), sums, ["b".to_string()]);
        let names: Vec<_> = r.workflows.iter().map(|w| w.workflow.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(r.total.failed, 1);
        assert_eq!(r.total.error_rate, Some(0.5));
        assert_eq!(r.workflows[1].figures, Figures::default());
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["workflows"][0]["workflow"], "a");
        assert_eq!(json["workflows"][0]["completed"], 1);
    }
}
