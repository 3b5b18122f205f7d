//! `tempi bench --soak SECS`: the engine at a steady rate for minutes, with a short
//! retention window, sampling resident memory, journal size and the rate achieved. Once
//! retention starts removing what ended, all three should stay flat.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{engine_with, journal_files_bytes};
use crate::types::command::Command;

/// What to run.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    pub secs: u64,
    /// Items started per second.
    pub rate: u64,
    /// Ended items are removed this long after they end.
    pub retention: Duration,
    pub scratch: std::path::PathBuf,
}

/// One sample, taken every `EVERY`.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub secs: u64,
    /// Items completed per second since the previous sample.
    pub items_per_sec: f64,
    pub rss_mib: f64,
    /// The journal's files (database and WAL) on disk.
    pub journal_mib: f64,
    pub in_flight: u64,
    pub completed: u64,
}

const EVERY: Duration = Duration::from_secs(10);

/// Resident memory of this process, from /proc (0 where there is none).
fn rss_bytes() -> u64 {
    let page = 4096;
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * page)
}

pub async fn run(o: &SoakOptions) -> anyhow::Result<Vec<Sample>> {
    let dir = super::Scratch::new(&o.scratch, "tempi-soak");
    soak(o, &dir.0).await
}

async fn soak(o: &SoakOptions, dir: &Path) -> anyhow::Result<Vec<Sample>> {
    let run = engine_with(dir, |c| {
        c.retention = Some(o.retention);
        c.retention_check = Duration::from_secs(1);
        c.snapshot_interval = Duration::from_secs(5);
    })
    .await?;
    let load = tokio::spawn(generate(run.handle.clone(), o.rate, o.secs));
    let began = Instant::now();
    let mut samples = Vec::new();
    let mut last = (Instant::now(), 0u64);
    while began.elapsed() < Duration::from_secs(o.secs) {
        tokio::time::sleep(EVERY).await;
        let m = run.handle.metrics().await?;
        let dt = last.0.elapsed().as_secs_f64();
        let sample = Sample {
            secs: began.elapsed().as_secs(),
            items_per_sec: (m.completed - last.1) as f64 / dt,
            rss_mib: rss_bytes() as f64 / 1048576.0,
            journal_mib: journal_files_bytes(dir) as f64 / 1048576.0,
            in_flight: m.in_flight,
            completed: m.completed,
        };
        eprintln!(
            "{:>5}s  {:>8.0} items/s  rss {:>7.1} MiB  journal {:>7.1} MiB  in flight {:>6}  completed {:>9}",
            sample.secs,
            sample.items_per_sec,
            sample.rss_mib,
            sample.journal_mib,
            sample.in_flight,
            sample.completed
        );
        last = (Instant::now(), m.completed);
        samples.push(sample);
    }
    load.abort();
    run.shutdown().await;
    Ok(samples)
}

/// Start `rate` bench-flow items a second, in ticks of 10 ms, for `secs`.
async fn generate(h: crate::engine::EngineHandle, rate: u64, secs: u64) {
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let per_tick = (rate / 100).max(1);
    let end = Instant::now() + Duration::from_secs(secs);
    let mut n = 0u64;
    while Instant::now() < end {
        tick.tick().await;
        for _ in 0..per_tick {
            let h = h.clone();
            n += 1;
            tokio::spawn(async move {
                let cmd = Command::Start {
                    workflow: "bench-flow".into(),
                    version: None,
                    input: serde_json::json!({ "n": n }),
                    priority: 0,
                    since: None,
                };
                let _ = h
                    .command(&crate::types::identity::Who::root("soak"), None, cmd)
                    .await;
            });
        }
    }
}
