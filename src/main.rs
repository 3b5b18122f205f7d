//! The `tempi` binary: parse the command line and hand off to `tempi::cli`.

use clap::Parser;

fn main() -> std::process::ExitCode {
    tempi::cli::run(tempi::cli::Cli::parse())
}
