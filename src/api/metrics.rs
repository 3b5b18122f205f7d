//! `GET /metrics`: the engine's counters in the Prometheus text exposition format, the
//! figures of `tempi report` with a `workflow` label, and durations as histograms.

use std::fmt::Write as _;

use crate::types::health::Health;
use crate::types::tally::{BOUNDS, Counts, Hist, Totals, bound_us};
use crate::types::view::Metrics;

/// The metrics in the Prometheus text exposition format, with whether the engine takes
/// work (so an alert can fire on a full disk before anyone opens `/healthz`).
pub fn prometheus(m: &Metrics, totals: &Totals, health: &Health) -> String {
    let mut out = String::new();
    gauges(&mut out, m, health);
    per_workflow(&mut out, totals);
    out
}

fn gauges(out: &mut String, m: &Metrics, health: &Health) {
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, f64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, v) in samples {
            let _ = writeln!(out, "{name}{labels} {v}");
        }
    };
    let g = |v: u64| v as f64;
    let is = |state: bool| if state { 1.0 } else { 0.0 };
    metric(
        "tempi_engine_state",
        "gauge",
        "1 for the engine's current state: running, refusing (new work refused while the journal's disk is full) or stopped.",
        &[
            ("{state=\"running\"}", is(matches!(health, Health::Running))),
            (
                "{state=\"refusing\"}",
                is(matches!(health, Health::Refusing(_))),
            ),
            (
                "{state=\"stopped\"}",
                is(matches!(health, Health::Stopped(_))),
            ),
        ],
    );
    metric(
        "tempi_items_in_flight",
        "gauge",
        "Work items not yet ended.",
        &[("", g(m.in_flight))],
    );
    metric(
        "tempi_items_waiting_on_humans",
        "gauge",
        "Items waiting on a human task.",
        &[("", g(m.waiting_on_humans))],
    );
    metric(
        "tempi_incidents",
        "gauge",
        "Items with an open incident.",
        &[("", g(m.incidents))],
    );
    metric(
        "tempi_items_at_risk",
        "gauge",
        "In-flight items past an SLA warning threshold.",
        &[("", g(m.at_risk))],
    );
    metric(
        "tempi_items_breached",
        "gauge",
        "In-flight items past their SLA deadline.",
        &[("", g(m.breached))],
    );
    metric(
        "tempi_items_total",
        "counter",
        "Items that ended, by final status.",
        &[
            ("{status=\"completed\"}", g(m.completed)),
            ("{status=\"failed\"}", g(m.failed)),
            ("{status=\"cancelled\"}", g(m.cancelled)),
        ],
    );
    metric(
        "tempi_tasks_open",
        "gauge",
        "Open human tasks.",
        &[("", g(m.open_tasks))],
    );
    metric(
        "tempi_steps_total",
        "counter",
        "Step attempts that ended, by result.",
        &[
            ("{result=\"succeeded\"}", g(m.steps_succeeded)),
            ("{result=\"failed\"}", g(m.steps_failed)),
        ],
    );
    metric(
        "tempi_journal_seq",
        "counter",
        "Sequence number of the last committed journal record.",
        &[("", g(m.journal_seq))],
    );
    metric(
        "tempi_journal_commits_total",
        "counter",
        "Journal commits.",
        &[("", g(m.commits))],
    );
    metric(
        "tempi_audit_verified_seq",
        "gauge",
        "The journal's hash chain verifies from its start through this seq (0: not checked yet).",
        &[("", g(m.audit.verified_seq))],
    );
    metric(
        "tempi_audit_broken",
        "gauge",
        "1 when the journal's hash chain does not verify (`tempi audit --verify` names where).",
        &[("", is(m.audit.broken.is_some()))],
    );
}

/// A label value as the exposition format writes it.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The bounds a histogram is exposed with: 1, 2.5 and 5 of each decade (the stored
/// buckets are finer; these are a subset of them, so the counts are exact).
fn exposed_bounds() -> impl Iterator<Item = u64> {
    (0..BOUNDS).filter_map(bound_us).filter(|us| {
        let mut m = *us;
        while m >= 100 && m % 10 == 0 {
            m /= 10;
        }
        matches!(m, 10 | 25 | 50)
    })
}

/// Seconds from microseconds, as the exposition format writes them.
fn secs(us: u64) -> String {
    let s = format!("{}.{:06}", us / 1_000_000, us % 1_000_000);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn histogram(out: &mut String, name: &str, labels: &str, h: &Hist) {
    for le in exposed_bounds() {
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels},le=\"{}\"}} {}",
            secs(le),
            h.at_or_below(le)
        );
    }
    let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum_us as f64 / 1e6);
    let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count);
}

/// One figure of a workflow's counts.
type Count = fn(&Counts) -> u64;

/// What `tempi report` counts, per workflow, since the journal began (step durations
/// since this daemon started).
fn per_workflow(out: &mut String, totals: &Totals) {
    let counters: [(&str, &str, Count); 8] = [
        (
            "tempi_workflow_items_started_total",
            "Items started.",
            |c| c.started,
        ),
        (
            "tempi_workflow_items_completed_total",
            "Items that completed.",
            |c| c.completed,
        ),
        (
            "tempi_workflow_items_failed_total",
            "Items that failed.",
            |c| c.failed,
        ),
        (
            "tempi_workflow_items_cancelled_total",
            "Items cancelled.",
            |c| c.cancelled,
        ),
        (
            "tempi_workflow_incidents_total",
            "Incidents raised (exception volume).",
            |c| c.incidents,
        ),
        (
            "tempi_workflow_sla_breaches_total",
            "SLA deadlines passed while the item was in flight.",
            |c| c.breached,
        ),
        (
            "tempi_workflow_sla_met_total",
            "Items with an SLA that completed or failed by their deadline.",
            |c| c.sla_met,
        ),
        (
            "tempi_workflow_sla_missed_total",
            "Items with an SLA that completed or failed after their deadline.",
            |c| c.sla_missed,
        ),
    ];
    for (name, help, get) in counters {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (wf, c) in &totals.workflows {
            let _ = writeln!(out, "{name}{{workflow=\"{}\"}} {}", label(wf), get(c));
        }
    }
    let name = "tempi_workflow_sla_met_ratio";
    let _ = writeln!(
        out,
        "# HELP {name} Items with an SLA that completed or failed by their deadline, over all such items (0..1).\n# TYPE {name} gauge"
    );
    for (wf, c) in &totals.workflows {
        if let Some(pct) = c.sla_met_pct() {
            let _ = writeln!(out, "{name}{{workflow=\"{}\"}} {}", label(wf), pct / 100.0);
        }
    }
    for (name, help, pick) in [
        (
            "tempi_workflow_cycle_time_seconds",
            "Start to end of the items that completed.",
            (|c| &c.cycle) as fn(&Counts) -> &Hist,
        ),
        (
            "tempi_workflow_human_wait_seconds",
            "Creation to decision of human tasks.",
            |c| &c.wait,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (wf, c) in &totals.workflows {
            histogram(out, name, &format!("workflow=\"{}\"", label(wf)), pick(c));
        }
    }
    let name = "tempi_step_duration_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} First attempt to success of each step, since this daemon started.\n# TYPE {name} histogram"
    );
    for (wf, steps) in &totals.steps {
        for (step, h) in steps {
            let labels = format!("workflow=\"{}\",step=\"{}\"", label(wf), label(step));
            histogram(out, name, &labels, h);
        }
    }
}
