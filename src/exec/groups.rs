//! Records of live process groups under `<data>/running/`, one private file per group,
//! so a daemon that starts after a crash ends exactly the groups its predecessor left.
//!
//! The file is written by the forked child itself, before it execs the program (the
//! `pre_exec` hook does only `open`, `read`, `write` and `close`, all safe after a
//! fork), so no program runs unrecorded however the daemon dies. It holds the boot id
//! and the leader's own `/proc/self/stat` line (pid, group, start time): pids are
//! reused, the (boot id, pid, start time) triple is not.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The folder of records under a data dir.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("running")
}

/// Where this daemon records its process groups.
#[derive(Debug)]
pub struct Groups {
    dir: PathBuf,
    boot_id: String,
    next: AtomicU64,
}

/// What `sweep` did at start.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Groups of a predecessor still alive, now killed.
    pub killed: Vec<i32>,
    /// Records removed (every one found).
    pub cleared: usize,
}

impl Groups {
    /// Create (mode 0700) or open the folder of records.
    pub fn open(data_dir: &Path) -> io::Result<Groups> {
        let dir = dir(data_dir);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        Ok(Groups {
            dir,
            boot_id: boot_id(),
            next: AtomicU64::new(0),
        })
    }

    /// A record file not yet written, for one spawn; `label` says what runs (for people).
    pub fn reserve(&self, label: &str) -> io::Result<Reserved> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let path = self.dir.join(format!("{}-{n}", std::process::id()));
        let c_path = CString::new(path.as_os_str().as_bytes())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let label: String = label.chars().filter(|c| !c.is_control()).collect();
        let head = format!("{}\n{label}\n", self.boot_id).into_bytes();
        Ok(Reserved { path, c_path, head })
    }

    /// Kill every recorded group whose leader is the very process recorded (same boot,
    /// same pid, same start time), then remove all the records.
    pub fn sweep(&self) -> Swept {
        let mut swept = Swept::default();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return swept;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if let Some(text) = read_record(&path)
                && let Some(pgid) = self.live_group(&text)
            {
                // SAFETY: killpg only sends a signal; `pgid` leads the group recorded
                // (checked against its start time and the boot just now).
                if unsafe { libc::killpg(pgid, libc::SIGKILL) } == 0 {
                    swept.killed.push(pgid);
                }
            }
            if std::fs::remove_file(&path).is_ok() {
                swept.cleared += 1;
            }
        }
        swept
    }

    /// The group of a record, if its leader is still the process recorded.
    fn live_group(&self, text: &str) -> Option<i32> {
        let mut lines = text.splitn(3, '\n');
        let boot = lines.next()?;
        let _label = lines.next()?;
        let recorded = Stat::parse(lines.next()?)?;
        if boot != self.boot_id || recorded.pgrp != recorded.pid || recorded.pid <= 1 {
            return None;
        }
        // Never this daemon nor its own group, whatever a record says.
        // SAFETY: getpid and getpgrp take no arguments and cannot fail.
        let (own_pid, own_group) = unsafe { (libc::getpid(), libc::getpgrp()) };
        if recorded.pid == own_pid || recorded.pgrp == own_group {
            return None;
        }
        let now = std::fs::read_to_string(format!("/proc/{}/stat", recorded.pid)).ok()?;
        let now = Stat::parse(&now)?;
        (now.start == recorded.start && now.pgrp == recorded.pgrp).then_some(recorded.pgrp)
    }
}

/// The longest record read; ours are a boot id, a label and one stat line.
const MAX_RECORD: u64 = 8 * 1024;

/// A record's text if it is a regular file (not a link, a FIFO or a device: opened
/// without following links and without blocking), at most `MAX_RECORD` bytes of it.
fn read_record(path: &Path) -> Option<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut text = String::new();
    file.take(MAX_RECORD).read_to_string(&mut text).ok()?;
    Some(text)
}

/// One spawn's record, prepared before the fork so the child needs no allocation.
#[derive(Debug)]
pub struct Reserved {
    path: PathBuf,
    c_path: CString,
    head: Vec<u8>,
}

impl Reserved {
    /// Write the record from the child, between fork and exec: only async-signal-safe
    /// calls, no allocation. An error stops the exec (the spawn fails).
    pub fn write_from_child(&self) -> io::Result<()> {
        let mut stat = [0u8; 1024];
        // SAFETY: plain syscalls on buffers owned by this frame or by `self`.
        unsafe {
            let proc = c"/proc/self/stat";
            let sfd = libc::open(proc.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
            if sfd < 0 {
                return Err(io::Error::last_os_error());
            }
            let n = libc::read(sfd, stat.as_mut_ptr().cast(), stat.len());
            libc::close(sfd);
            if n <= 0 {
                return Err(io::Error::last_os_error());
            }
            let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC;
            let fd = libc::open(self.c_path.as_ptr(), flags, 0o600 as libc::c_uint);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            let ok = write_all(fd, &self.head) && write_all(fd, &stat[..n as usize]);
            libc::close(fd);
            if !ok {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }

    /// The group has ended (or never started): forget it.
    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// `write` until all of `buf` is written (async-signal-safe).
unsafe fn write_all(fd: libc::c_int, mut buf: &[u8]) -> bool {
    while !buf.is_empty() {
        // SAFETY: `buf` is a live slice; the caller owns `fd`.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n <= 0 {
            return false;
        }
        buf = &buf[n as usize..];
    }
    true
}

/// The fields of `/proc/<pid>/stat` that identify a process and its group.
#[derive(Debug, PartialEq, Eq)]
struct Stat {
    pid: i32,
    pgrp: i32,
    /// Field 22: clock ticks after boot when the process started.
    start: u64,
}

impl Stat {
    fn parse(line: &str) -> Option<Stat> {
        let pid = line.split_whitespace().next()?.parse().ok()?;
        // The command name (field 2) is in parentheses and may hold spaces or `)`.
        let rest = &line[line.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // `rest` starts at field 3 (state).
        let pgrp = fields.get(5 - 3)?.parse().ok()?;
        let start = fields.get(22 - 3)?.parse().ok()?;
        Some(Stat { pid, pgrp, start })
    }
}

/// This boot's id (empty where /proc has none: then no record ever matches).
fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_names_parse() {
        let line = "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 987654 0 0";
        let s = Stat::parse(line).unwrap();
        assert_eq!((s.pid, s.pgrp, s.start), (4242, 4242, 987654));
        assert_eq!(Stat::parse("garbage"), None);
    }

    #[test]
    fn a_record_from_another_boot_or_another_start_kills_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let groups = Groups::open(tmp.path()).unwrap();
        let own = std::fs::read_to_string("/proc/self/stat").unwrap();
        let stat = Stat::parse(&own).unwrap();
        // Pretend this process leads its group, started one tick later than it did.
        let fields: Vec<String> = own[own.rfind(')').unwrap() + 1..]
            .split_whitespace()
            .enumerate()
            .map(|(k, f)| match k + 3 {
                5 => stat.pid.to_string(),
                22 => (stat.start + 1).to_string(),
                _ => f.to_string(),
            })
            .collect();
        let moved = format!("{} (t) {}", stat.pid, fields.join(" "));
        assert_eq!(
            groups.live_group(&format!("{}\nt\n{moved}", groups.boot_id)),
            None
        );
        assert_eq!(groups.live_group(&format!("other-boot\nt\n{own}")), None);
        let mode = std::fs::metadata(dir(tmp.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn hostile_records_neither_block_nor_kill_and_are_cleared() {
        let tmp = tempfile::tempdir().unwrap();
        let groups = Groups::open(tmp.path()).unwrap();
        let running = dir(tmp.path());
        // A FIFO with no writer: a plain open would block the start forever.
        let fifo = CString::new(running.join("fifo").as_os_str().as_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        // A link to an endless device: a plain read would never end.
        std::os::unix::fs::symlink("/dev/zero", running.join("zero")).unwrap();
        // A huge file of garbage.
        let big = std::fs::File::create(running.join("big")).unwrap();
        big.set_len(1 << 32).unwrap();
        std::fs::write(running.join("garbage"), b"\xff\xfe not a record").unwrap();
        // A record naming pid 1 as the leader of its group.
        let init = format!(
            "{}\nx\n1 (init) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0",
            groups.boot_id
        );
        std::fs::write(running.join("init"), init).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let swept = std::thread::spawn(move || tx.send(groups.sweep()).unwrap());
        let swept_result = rx.recv_timeout(std::time::Duration::from_secs(10));
        let result = swept_result.expect("the sweep blocked on a hostile record");
        swept.join().unwrap();
        assert_eq!(result.killed, Vec::<i32>::new());
        assert_eq!(result.cleared, 5);
        assert_eq!(std::fs::read_dir(&running).unwrap().count(), 0);
    }
}
