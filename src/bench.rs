//! `tempi bench`: the real engine and journal (synchronous=FULL, the `serve` code path)
//! running many items of a multi-step `pass` workflow, measured end to end.

use serde::Serialize;

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Items to push through the engine.
    pub items: u64,
    /// Items left in flight for the restart measurement.
    pub restart_items: u64,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            items: 20_000,
            restart_items: 100_000,
        }
    }
}

/// What was measured; `--json` prints this.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub steps_per_sec: f64,
    pub transitions_per_sec: f64,
    pub step_latency_p50_ms: f64,
    pub step_latency_p99_ms: f64,
    pub restart_ms: f64,
    pub bytes_per_item: f64,
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "steps/s            {:>12.0}", self.steps_per_sec)?;
        writeln!(f, "transitions/s      {:>12.0}", self.transitions_per_sec)?;
        writeln!(
            f,
            "step latency p50   {:>12.2} ms",
            self.step_latency_p50_ms
        )?;
        writeln!(
            f,
            "step latency p99   {:>12.2} ms",
            self.step_latency_p99_ms
        )?;
        writeln!(f, "restart to ready   {:>12.0} ms", self.restart_ms)?;
        write!(f, "memory per item    {:>12.0} bytes", self.bytes_per_item)
    }
}

/// Run the benchmark in a fresh temporary data dir.
pub async fn run(options: &BenchOptions) -> anyhow::Result<BenchReport> {
    let _ = options;
    todo!("bench")
}
