//! `tempi report`: per workflow and in total, what started, ended and failed over a
//! window, cycle time, SLA met, breaches, incidents and human wait.

use chrono::Utc;

use super::Globals;
use super::daemon::Daemon;
use super::format::{span, table};
use crate::api::ReportQuery;
use crate::types::report::{Figures, Report, Since};

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

/// Seconds as a person reads them: `400ms`, `4.2s`, `42s`, `12m`, `3h05m`.
fn secs(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(s) if s < 1.0 => format!("{}ms", (s * 1000.0).round()),
        Some(s) if s < 10.0 => format!("{s:.1}s"),
        Some(s) => span(s.round() as i64),
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |p| format!("{p:.1}%"))
}

/// One row of figures as text, in the order of the table's columns (the console's KPI
/// view shows the same cells).
pub(crate) fn cells(name: &str, f: &Figures) -> [String; 14] {
    [
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
        .map(|w| cells(&w.workflow, &w.figures).to_vec())
        .collect();
    rows.push(cells("total", &r.total).to_vec());
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
