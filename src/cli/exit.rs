//! The exit codes every command keeps, the help text that lists them, and the mapping
//! from an error at the command line's edge to its code.

use super::daemon::{NoDaemon, NoSocketDaemon};
use crate::api::client::ClientError;

/// The command did what it was asked.
pub const OK: u8 = 0;
/// The command was understood but failed: bad input, not found, refused by the engine,
/// problems found by `validate`.
pub const ERROR: u8 = 1;
/// The command line itself is wrong (clap's own code).
pub const USAGE: u8 = 2;
/// No daemon to ask: none running for the data dir, or the one at the URL cannot be
/// reached. Worth trying again once it is up.
pub const NO_DAEMON: u8 = 3;
/// The request reached the daemon but its answer did not come back (the connection
/// broke, the daemon hung): what it asked may or may not have happened.
pub const UNKNOWN: u8 = 4;

/// Each code and what it means, for `--help` and the man page.
pub const CODES: [(u8, &str); 5] = [
    (OK, "success"),
    (
        ERROR,
        "error: bad input, not found, refused by the engine, problems found by validate",
    ),
    (
        USAGE,
        "usage: the command line itself is wrong (an unknown command, flag or value)",
    ),
    (
        NO_DAEMON,
        "no daemon: none is running for --data, or the one at the URL cannot be reached",
    ),
    (
        UNKNOWN,
        "outcome unknown: the daemon got the request but no answer came back; check before retrying",
    ),
];

/// What `--json` promises, beside the exit codes.
pub const JSON: &str = "With --json a command prints JSON on stdout (audit --follow: one record per \
line); an error is still one line of text on stderr with the exit code above, never JSON. \
validate --json, and audit --verify, --export, --anchor and --check with --json, print their \
report either way and exit 1 when they found a problem.";

/// The text after `tempi --help`: the exit codes and the `--json` promise.
pub fn help() -> String {
    let mut text = String::from("Exit codes:\n");
    for (code, meaning) in CODES {
        text.push_str(&format!("  {code}  {meaning}\n"));
    }
    text.push('\n');
    text.push_str(JSON);
    text
}

/// The code for an error that reached the edge: 3 when the daemon could not be asked at
/// all, 4 when it was asked and never answered, 1 for everything else.
pub fn code_of(e: &anyhow::Error) -> u8 {
    let interrupted = e.chain().any(|cause| {
        cause
            .downcast_ref::<ClientError>()
            .is_some_and(ClientError::is_interrupted)
    });
    if interrupted {
        return UNKNOWN;
    }
    let unreachable = e.chain().any(|cause| {
        cause.downcast_ref::<NoDaemon>().is_some()
            || cause.downcast_ref::<NoSocketDaemon>().is_some()
            || cause
                .downcast_ref::<ClientError>()
                .is_some_and(ClientError::is_unreachable)
    });
    match unreachable {
        true => NO_DAEMON,
        false => ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_whose_answer_never_came_is_4() {
        let cut = ClientError::Interrupted {
            url: "http://127.0.0.1:9".into(),
            reason: "connection reset".into(),
        };
        assert!(cut.to_string().contains("may have been applied"), "{cut}");
        let e = anyhow::Error::new(cut).context("start invoice-approval");
        assert_eq!(code_of(&e), UNKNOWN);
    }

    #[test]
    fn an_unreachable_daemon_is_3_wherever_it_sits_in_the_chain() {
        let down = ClientError::Unreachable {
            url: "http://127.0.0.1:9".into(),
            reason: "refused".into(),
        };
        assert_eq!(code_of(&anyhow::Error::new(down)), NO_DAEMON);
        let wrapped = anyhow::Error::new(ClientError::Unreachable {
            url: "u".into(),
            reason: "r".into(),
        })
        .context("items");
        assert_eq!(code_of(&wrapped), NO_DAEMON);
        let refused = ClientError::Api {
            status: 409,
            kind: "conflict".into(),
            message: "task 7 was already approved".into(),
        };
        assert_eq!(code_of(&anyhow::Error::new(refused)), ERROR);
        assert_eq!(code_of(&anyhow::anyhow!("--input: expected JSON")), ERROR);
    }

    #[test]
    fn the_help_lists_every_code() {
        let help = help();
        for (code, meaning) in CODES {
            assert!(help.contains(&format!("  {code}  {meaning}")), "{help}");
        }
    }
}
