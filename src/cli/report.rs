//! `tempi report`: per workflow and in total, what started, ended and failed over a
//! window, cycle time, SLA met, breaches, incidents and human wait.

use chrono::{DateTime, NaiveDate, Utc};

use super::Globals;
use super::daemon::Daemon;
use super::format::{span, table};
use crate::api::ReportQuery;
use crate::types::report::{Figures, Report};

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

pub async fn run(g: &Globals, since: Option<Since>, json: bool) -> anyhow::Result<()> {
    let daemon = Daemon::connect(g)?;
    let query = ReportQuery {
        since: since.map(|s| s.at(Utc::now())),
    };
    let report = daemon
        .client
        .report(&query)
        .await
        .map_err(|e| daemon.explain(e))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", text(&report));
    }
    Ok(())
}

/// Seconds as a person reads them: `0.4s`, `42s`, `12m`, `3h05m`.
fn secs(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(s) if s < 10.0 => format!("{s:.1}s"),
        Some(s) => span(s.round() as i64),
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |p| format!("{p:.1}%"))
}

fn row(name: &str, f: &Figures) -> Vec<String> {
    vec![
        name.to_string(),
        f.started.to_string(),
        f.completed.to_string(),
        f.failed.to_string(),
        f.cancelled.to_string(),
        pct(f.error_rate.map(|r| r * 100.0)),
        f.incidents.to_string(),
        secs(f.cycle_time_p50_s),
        secs(f.cycle_time_p95_s),
        pct(f.sla_met_pct),
        f.breached.to_string(),
        f.human_tasks.to_string(),
        secs(f.human_wait_p50_s),
        secs(f.human_wait_p95_s),
    ]
}

/// The report as a table, with the window on the line above.
pub fn text(r: &Report) -> String {
    let window = match r.since {
        Some(s) => format!(
            "from {} to {} ({})\n",
            s.format("%Y-%m-%d %H:%M UTC"),
            r.until.format("%Y-%m-%d %H:%M UTC"),
            span((r.until - s).num_seconds())
        ),
        None => format!(
            "nothing counted yet (to {})\n",
            r.until.format("%Y-%m-%d %H:%M UTC")
        ),
    };
    let mut rows: Vec<Vec<String>> = r
        .workflows
        .iter()
        .map(|w| row(&w.workflow, &w.figures))
        .collect();
    rows.push(row("total", &r.total));
    window
        + &table(
            &[
                "WORKFLOW",
                "STARTED",
                "COMPLETED",
                "FAILED",
                "CANCELLED",
                "ERRORS",
                "INCIDENTS",
                "CYCLE P50",
                "P95",
                "SLA MET",
                "BREACHED",
                "TASKS",
                "WAIT P50",
                "P95",
            ],
            &rows,
        )
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
