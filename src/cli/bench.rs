//! `tempi bench`: run the engine benchmark and print its report (text or `--json`).

use crate::bench::{self, BenchOptions};

pub async fn run(json: bool, items: Option<u64>) -> anyhow::Result<()> {
    let mut options = BenchOptions::default();
    if let Some(n) = items {
        anyhow::ensure!(n > 0, "--items: must be at least 1");
        options.items = n;
    }
    let report = bench::run(&options).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    Ok(())
}
