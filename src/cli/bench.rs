//! `tempi bench`: run the engine and console benchmarks and print their report (text or
//! `--json`).

use serde::Serialize;

use crate::bench::{self, BenchOptions, BenchReport};
use crate::console::bench::{self as console, ConsoleOptions, ConsoleReport};

/// The engine's fields at the top level (as before the console was measured), the
/// console's under `console`.
#[derive(Serialize)]
struct Report {
    #[serde(flatten)]
    engine: Option<BenchReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    console: Option<ConsoleReport>,
}

pub async fn run(
    json: bool,
    items: Option<u64>,
    history_items: Option<u64>,
    engine: bool,
    console: bool,
) -> anyhow::Result<()> {
    let mut options = BenchOptions::default();
    if let Some(n) = items {
        anyhow::ensure!(n > 0, "--items: must be at least 1");
        options.items = n;
    }
    if let Some(n) = history_items {
        options.history_items = n;
    }
    let report = Report {
        engine: match engine {
            true => Some(bench::run(&options).await?),
            false => None,
        },
        console: match console {
            true => Some(console::run(&ConsoleOptions::default()).await?),
            false => None,
        },
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    if let Some(e) = &report.engine {
        println!("{e}");
    }
    if let (Some(_), Some(_)) = (&report.engine, &report.console) {
        println!();
    }
    if let Some(c) = &report.console {
        println!("{c}");
    }
    Ok(())
}

/// `tempi bench --soak SECS`: samples go to stderr as they come, and as JSON at the end.
pub async fn soak(
    json: bool,
    secs: u64,
    rate: u64,
    retention: std::time::Duration,
) -> anyhow::Result<()> {
    anyhow::ensure!(secs >= 10, "--soak: at least 10 seconds (one sample)");
    anyhow::ensure!(
        (1..=100_000).contains(&rate),
        "--rate: from 1 to 100000 items a second"
    );
    anyhow::ensure!(
        !retention.is_zero(),
        "--retention: a soak needs a window, not 0"
    );
    let options = bench::soak::SoakOptions {
        secs,
        rate,
        retention,
        scratch: std::env::temp_dir(),
    };
    let samples = bench::soak::run(&options).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&samples)?);
    }
    Ok(())
}
