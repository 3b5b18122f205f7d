//! `cargo bench`: the engine benchmark of `tempi bench`, printed as text.

use tempi::bench::{BenchOptions, CountingAlloc, run};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn main() {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench: cannot start tokio: {e}");
            std::process::exit(1);
        }
    };
    match rt.block_on(run(&BenchOptions::default())) {
        Ok(report) => println!("{report}"),
        Err(e) => {
            eprintln!("bench failed: {e:#}");
            std::process::exit(1);
        }
    }
}
