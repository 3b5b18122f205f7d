//! The `shell` executor: run a program in its own process group, capture output, kill on timeout.
//! The group never outlives the attempt: it is killed when the program ends, times out or is dropped.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use super::ShellJob;
use super::groups::{Groups, Reserved};
use crate::types::event::{StepError, StepErrorKind};

/// The daemon's own variables a program gets (besides the step's `env` and
/// `TEMPI_IDEMPOTENCY_KEY`).
pub const INHERITED: [&str; 3] = ["PATH", "HOME", "LANG"];
/// How much of stdout and of stderr is kept; the rest is read and dropped.
pub const MAX_CAPTURE: usize = 64 * 1024;
/// How much of stderr's tail goes into an `Exit` error message.
const TAIL_CHARS: usize = 200;
/// How often a spawn whose group record found no space is tried again.
const SPACE_RETRY: Duration = Duration::from_secs(1);
/// After the group is killed, how long output readers may take to reach end of file
/// (only a process that left the group, e.g. by `setsid`, could hold a pipe open longer).
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// Run one attempt: spawn, capture, wait (or kill on timeout), judge the exit status.
pub async fn run(job: &ShellJob) -> Result<Value, StepError> {
    run_recorded(job, None).await
}

/// `run`, with the process group recorded in `groups` from before the program runs
/// until the group has ended (so a daemon that restarts after a crash can end it).
pub async fn run_recorded(job: &ShellJob, groups: Option<&Groups>) -> Result<Value, StepError> {
    let mut command = command(job)?;
    let record = match groups {
        Some(g) => Some(Arc::new(g.reserve(&job.idempotency_key).map_err(|e| {
            let message = format!("cannot record the process group: {e}");
            StepError::new(StepErrorKind::Spawn, message)
        })?)),
        None => None,
    };
    if let Some(r) = &record {
        let r = r.clone();
        // SAFETY: the hook runs between fork and exec and makes only async-signal-safe
        // calls on buffers prepared before the fork.
        unsafe {
            command.pre_exec(move || r.write_from_child());
        }
    }
    let began = tokio::time::Instant::now();
    let mut child = loop {
        match command.spawn() {
            Ok(child) => break child,
            Err(e) => {
                if let Some(r) = &record {
                    r.remove();
                }
                // The record could not be written for want of space: the step is not at
                // fault, so wait for space (within the attempt's timeout, and until the
                // engine aborts the attempt) instead of failing it.
                let no_space = matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT));
                let time_left = job
                    .timeout
                    .is_none_or(|t| began.elapsed() + SPACE_RETRY < t);
                if record.is_some() && no_space && time_left {
                    tracing::warn!(
                        "no space to record a shell step's process group; trying again in {SPACE_RETRY:?}"
                    );
                    tokio::time::sleep(SPACE_RETRY).await;
                    continue;
                }
                return Err(spawn_error(job, &e));
            }
        }
    };
    let group = GroupGuard::new(&child, record);
    let stdout = child.stdout.take().map(capture);
    let stderr = child.stderr.take().map(capture);
    let waited = wait(&mut child, &group, job.timeout).await;
    // Whatever happened, nothing of this attempt keeps running.
    drop(group);
    let stdout = collect(stdout).await;
    let stderr = collect(stderr).await;
    match waited {
        Waited::Exited(status) => judge(job, status, stdout, stderr),
        Waited::TimedOut(limit) => Err(timed_out(job, limit)),
        Waited::Failed(e) => Err(StepError::new(
            StepErrorKind::Spawn,
            format!("{}: cannot wait for the program: {e}", program(job)),
        )),
    }
}

/// The command for the job: `argv` directly, or `sh -c script`.
fn command(job: &ShellJob) -> Result<Command, StepError> {
    let mut command = match (&job.script, job.argv.split_first()) {
        (Some(script), _) => {
            let mut c = Command::new("sh");
            c.arg("-c").arg(script);
            c
        }
        (None, Some((program, args))) if !program.is_empty() => {
            let mut c = Command::new(program);
            c.args(args);
            c
        }
        _ => {
            let message = "nothing to run: `argv` is empty and there is no `script`";
            return Err(StepError::new(StepErrorKind::Spawn, message));
        }
    };
    if let Some(dir) = &job.cwd {
        if !std::path::Path::new(dir).is_dir() {
            let message = format!("working directory {dir:?} does not exist or is not a directory");
            return Err(StepError::new(StepErrorKind::Spawn, message));
        }
        command.current_dir(dir);
    }
    // Only what the step is given, never the daemon's whole environment.
    command.env_clear();
    for name in INHERITED {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    command
        .envs(job.env.iter().map(|(k, v)| (k, v)))
        .env("TEMPI_IDEMPOTENCY_KEY", &job.idempotency_key)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    Ok(command)
}

/// The program's name as the operator wrote it, for messages.
fn program(job: &ShellJob) -> &str {
    match (&job.script, job.argv.first()) {
        (Some(_), _) => "sh",
        (None, Some(p)) => p,
        (None, None) => "(none)",
    }
}

fn spawn_error(job: &ShellJob, error: &io::Error) -> StepError {
    let name = program(job);
    let message = match error.kind() {
        io::ErrorKind::NotFound => format!("program not found: {name:?}"),
        io::ErrorKind::PermissionDenied => format!("program not executable: {name:?}"),
        _ => format!("cannot start {name:?}: {error}"),
    };
    StepError::new(StepErrorKind::Spawn, message)
}

/// Kills the child's whole process group (SIGKILL) when dropped, then forgets its record.
struct GroupGuard {
    pgid: Option<libc::pid_t>,
    record: Option<Arc<Reserved>>,
}

impl GroupGuard {
    fn new(child: &Child, record: Option<Arc<Reserved>>) -> Self {
        let pgid = child
            .id()
            .and_then(|id| libc::pid_t::try_from(id).ok())
            .filter(|&id| id > 0);
        GroupGuard { pgid, record }
    }

    fn kill(&self) {
        if let Some(pgid) = self.pgid {
            // SAFETY: killpg only sends a signal; `pgid` is the group our child leads
            // (`process_group(0)`), and a pid is not reused while its group has members.
            unsafe {
                libc::killpg(pgid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
        if let Some(r) = &self.record {
            r.remove();
        }
    }
}

enum Waited {
    Exited(ExitStatus),
    TimedOut(Duration),
    Failed(io::Error),
}

async fn wait(child: &mut Child, group: &GroupGuard, timeout: Option<Duration>) -> Waited {
    let Some(limit) = timeout else {
        return child
            .wait()
            .await
            .map_or_else(Waited::Failed, Waited::Exited);
    };
    match tokio::time::timeout(limit, child.wait()).await {
        Ok(Ok(status)) => Waited::Exited(status),
        Ok(Err(e)) => Waited::Failed(e),
        Err(_) => {
            // Kill the whole group while the leader is unreaped (its pid cannot be
            // reused yet), then reap it.
            group.kill();
            let _ = child.wait().await;
            Waited::TimedOut(limit)
        }
    }
}

#[derive(Debug, Default)]
struct Captured {
    bytes: Vec<u8>,
    truncated: bool,
}

/// Read a pipe to its end, keeping the first `MAX_CAPTURE` bytes, so the writer never blocks.
fn capture<R: AsyncRead + Unpin + Send + 'static>(pipe: R) -> JoinHandle<Captured> {
    tokio::spawn(read_capped(pipe, MAX_CAPTURE))
}

async fn read_capped<R: AsyncRead + Unpin>(mut pipe: R, cap: usize) -> Captured {
    let mut captured = Captured::default();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let room = cap.saturating_sub(captured.bytes.len());
        captured.bytes.extend_from_slice(&buf[..n.min(room)]);
        captured.truncated |= n > room;
    }
    captured
}

/// Wait briefly for a reader; one still blocked holds what it has and is stopped.
async fn collect(reader: Option<JoinHandle<Captured>>) -> Captured {
    let Some(mut handle) = reader else {
        return Captured::default();
    };
    match tokio::time::timeout(DRAIN_GRACE, &mut handle).await {
        Ok(Ok(captured)) => captured,
        Ok(Err(_)) => Captured::default(),
        Err(_) => {
            handle.abort();
            Captured {
                bytes: Vec::new(),
                truncated: true,
            }
        }
    }
}

/// Success when the exit code is in `ok_codes` (or is 0 when they are empty).
fn judge(
    job: &ShellJob,
    status: ExitStatus,
    stdout: Captured,
    stderr: Captured,
) -> Result<Value, StepError> {
    let stderr_text = String::from_utf8_lossy(&stderr.bytes).into_owned();
    let Some(code) = status.code() else {
        return Err(signalled(job, status, &stderr_text));
    };
    let ok = if job.ok_codes.is_empty() {
        code == 0
    } else {
        job.ok_codes.contains(&code)
    };
    if !ok {
        let mut message = format!("{} exited with code {code}", program(job));
        append_tail(&mut message, &stderr_text);
        return Err(StepError::new(StepErrorKind::Exit, message).with_code(code.to_string()));
    }
    Ok(output(code, stdout, stderr_text, stderr.truncated))
}

fn output(code: i32, stdout: Captured, stderr: String, stderr_truncated: bool) -> Value {
    let parsed = if stdout.truncated {
        Value::Null
    } else {
        serde_json::from_slice(&stdout.bytes).unwrap_or(Value::Null)
    };
    json!({
        "exit_code": code,
        "stdout": String::from_utf8_lossy(&stdout.bytes),
        "stderr": stderr,
        "truncated": stdout.truncated || stderr_truncated,
        "json": parsed,
    })
}

fn signalled(job: &ShellJob, status: ExitStatus, stderr: &str) -> StepError {
    let signal = status.signal().unwrap_or(0);
    let name = signal_name(signal);
    let mut message = format!("{} was killed by signal {signal} ({name})", program(job));
    append_tail(&mut message, stderr);
    StepError::new(StepErrorKind::Exit, message).with_code(name)
}

fn signal_name(signal: i32) -> String {
    let known = [
        (libc::SIGHUP, "SIGHUP"),
        (libc::SIGINT, "SIGINT"),
        (libc::SIGQUIT, "SIGQUIT"),
        (libc::SIGILL, "SIGILL"),
        (libc::SIGABRT, "SIGABRT"),
        (libc::SIGBUS, "SIGBUS"),
        (libc::SIGFPE, "SIGFPE"),
        (libc::SIGKILL, "SIGKILL"),
        (libc::SIGSEGV, "SIGSEGV"),
        (libc::SIGPIPE, "SIGPIPE"),
        (libc::SIGALRM, "SIGALRM"),
        (libc::SIGTERM, "SIGTERM"),
    ];
    known
        .iter()
        .find(|(n, _)| *n == signal)
        .map_or_else(|| format!("SIG{signal}"), |(_, name)| (*name).to_string())
}

fn append_tail(message: &mut String, stderr: &str) {
    let tail = tail(stderr, TAIL_CHARS);
    if !tail.is_empty() {
        message.push_str(": ");
        message.push_str(&tail);
    }
}

/// The last line(s) of `text`, at most `max` characters, newlines shown as ` | `.
fn tail(text: &str, max: usize) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect();
    let mut picked: Vec<&str> = Vec::new();
    let mut used = 0;
    for line in lines.iter().rev() {
        let cost = line.chars().count() + if picked.is_empty() { 0 } else { 3 };
        if used + cost > max {
            break;
        }
        used += cost;
        picked.push(line);
    }
    if picked.is_empty() {
        // One last line longer than `max`: keep its end, where the error usually is.
        return lines
            .last()
            .map_or_else(String::new, |l| last_chars(l, max));
    }
    picked.reverse();
    picked.join(" | ")
}

fn last_chars(line: &str, max: usize) -> String {
    let count = line.chars().count();
    let skip = count.saturating_sub(max.saturating_sub(1));
    let kept: String = line.chars().skip(skip).collect();
    if skip > 0 { format!("…{kept}") } else { kept }
}

fn timed_out(job: &ShellJob, limit: Duration) -> StepError {
    let message = format!(
        "{} ran past its timeout of {}; its process group was killed",
        program(job),
        humantime::format_duration(limit)
    );
    StepError::new(StepErrorKind::Timeout, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_last_lines_within_limit() {
        let text = "first\nsecond\n\nerror: disk full\n";
        assert_eq!(tail(text, 200), "first | second | error: disk full");
        assert_eq!(tail(text, 20), "error: disk full");
        assert_eq!(tail("", 200), "");
    }

    #[test]
    fn tail_cuts_one_long_line_from_the_front() {
        let line = format!("{}END", "x".repeat(500));
        let t = tail(&line, 200);
        assert_eq!(t.chars().count(), 200);
        assert!(t.starts_with('…') && t.ends_with("END"));
    }

    #[tokio::test]
    async fn read_capped_keeps_prefix_and_marks_truncation() {
        let data = [b'a'; 100];
        let got = read_capped(&data[..], 10).await;
        assert_eq!(got.bytes, vec![b'a'; 10]);
        assert!(got.truncated);
        let got = read_capped(&data[..], 100).await;
        assert_eq!(got.bytes.len(), 100);
        assert!(!got.truncated);
    }

    #[test]
    fn signal_names() {
        assert_eq!(signal_name(libc::SIGKILL), "SIGKILL");
        assert_eq!(signal_name(64), "SIG64");
    }
}
