//! The `tempi` binary: parse the command line and hand off to `tempi::cli`.

use tempi::cli::Cmd;

/// Counts live heap bytes so `tempi bench` can report memory per in-flight item.
#[global_allocator]
static ALLOC: tempi::bench::CountingAlloc = tempi::bench::CountingAlloc;

fn main() -> std::process::ExitCode {
    let cli = tempi::cli::parse();
    if !matches!(cli.command, Cmd::Serve { .. }) {
        // A listing piped into `head` ends quietly, as other command-line tools do.
        // The daemon keeps Rust's default (EPIPE as an error) for its sockets.
        // SAFETY: called before any other thread exists; restores the default action.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    tempi::cli::run(cli)
}
