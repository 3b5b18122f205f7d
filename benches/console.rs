//! `cargo bench --bench console`: the console budgets of `tempi bench --console-only`
//! (frame time with 100,000 items, bytes per countdown tick, key-to-screen latency at
//! 10,000 events/s, attach and console traffic at scale, event-stream subscribers),
//! printed as text.

use tempi::console::bench::{ConsoleOptions, run};

fn main() {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench: cannot start tokio: {e}");
            std::process::exit(1);
        }
    };
    match rt.block_on(run(&ConsoleOptions::default())) {
        Ok(report) => println!("{report}"),
        Err(e) => {
            eprintln!("bench failed: {e:#}");
            std::process::exit(1);
        }
    }
}
