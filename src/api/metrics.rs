//! `GET /metrics`: the engine's counters in the Prometheus text exposition format.

use std::fmt::Write as _;

use crate::types::health::Health;
use crate::types::view::Metrics;

/// The metrics in the Prometheus text exposition format, with whether the engine takes
/// work (so an alert can fire on a full disk before anyone opens `/healthz`).
pub fn prometheus(m: &Metrics, health: &Health) -> String {
    let mut out = String::new();
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
        "tempi_sla_compliance_ratio",
        "gauge",
        "Share of ended items that ended before their deadline (0..1).",
        &[("", m.sla_compliance / 100.0)],
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
    out
}
