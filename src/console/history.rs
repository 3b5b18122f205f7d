//! The `:` history file, `$XDG_STATE_HOME/tempi/history` (else `~/.local/state/…`): one
//! command per line, private (0700 dir, 0600 file), read at start, appended to as
//! commands run. It lives with the operator, not the engine, so `attach` keeps it too.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::app::cmdline::{HISTORY_MAX, LINE_MAX, keepable};

/// The most of the file read at start: its tail, enough for the lines kept.
const READ_MAX: u64 = (2 * HISTORY_MAX * (LINE_MAX + 1)) as u64;

/// Where the history goes, from the environment; `None` without a home.
pub fn default_path(env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let state = env("XDG_STATE_HOME")
        .filter(|d| d.starts_with('/'))
        .map(PathBuf::from)
        .or_else(|| {
            env("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".local/state"))
        })?;
    Some(state.join("tempi").join("history"))
}

/// The open history: the lines kept and the file they go to.
#[derive(Debug)]
pub struct HistoryFile {
    path: PathBuf,
    lines: Vec<String>,
    /// Lines in the file now (it is rewritten to the newest when it doubles).
    in_file: usize,
    /// A write failed: said once in the log, not tried again.
    broken: bool,
}

impl HistoryFile {
    /// Read the history at `path`. A missing file is an empty history; an unreadable one
    /// is ignored with a warning in the log, and lines that are not clean text are left out.
    pub fn open(path: PathBuf) -> HistoryFile {
        let mut h = HistoryFile {
            path,
            lines: Vec::new(),
            in_file: 0,
            broken: false,
        };
        match read_tail(&h.path) {
            Ok(None) => {}
            Ok(Some((lines, dropped))) => {
                h.in_file = lines.len() + dropped;
                if dropped > 0 {
                    tracing::warn!(path = %h.path.display(), dropped, "history: left out lines that are not clean text");
                }
                h.lines = lines;
                let extra = h.lines.len().saturating_sub(HISTORY_MAX);
                h.lines.drain(..extra);
                if h.in_file > h.lines.len() {
                    h.rewrite();
                }
            }
            Err(e) => {
                tracing::warn!(path = %h.path.display(), error = %e, "history: cannot read it; starting without");
                h.broken = true;
            }
        }
        h
    }

    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// Add a line at the end of the file (lines that are not clean text are not kept).
    pub fn append(&mut self, line: &str) {
        if self.broken || !keepable(line) {
            return;
        }
        self.lines.push(line.to_string());
        if self.lines.len() > HISTORY_MAX {
            self.lines.remove(0);
        }
        if self.in_file + 1 >= 2 * HISTORY_MAX {
            self.rewrite();
            return;
        }
        let written = self.dir().and_then(|_| {
            let mut f = private_file(&self.path, false)?;
            f.write_all(format!("{line}\n").as_bytes())
        });
        match written {
            Ok(()) => self.in_file += 1,
            Err(e) => self.fail(e),
        }
    }

    /// Replace the file with the lines kept (through a temporary file, so a crash leaves
    /// the old one or the new one).
    fn rewrite(&mut self) {
        let tmp = self.path.with_extension("tmp");
        let written = self.dir().and_then(|_| {
            let mut f = private_file(&tmp, true)?;
            let mut text = self.lines.join("\n");
            text.push('\n');
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, &self.path)
        });
        match written {
            Ok(()) => self.in_file = self.lines.len(),
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                self.fail(e);
            }
        }
    }

    fn fail(&mut self, e: std::io::Error) {
        tracing::warn!(path = %self.path.display(), error = %e, "history: cannot write it; not kept from now on");
        self.broken = true;
    }

    /// The history's dir, made private.
    fn dir(&self) -> std::io::Result<()> {
        let Some(dir) = self.path.parent() else {
            return Ok(());
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        // Tightened only when it is a directory of ours, not through a symlink to one
        // that may be shared (the file itself is 0600 either way).
        let meta = fs::symlink_metadata(dir)?;
        let ours = meta.uid() == crate::store::private::euid();
        if meta.is_dir() && ours && meta.mode() & 0o077 != 0 {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }
}

/// A 0600 file, never through a symlink; appended to, or emptied when `truncate`.
fn private_file(path: &Path, truncate: bool) -> std::io::Result<File> {
    let f = OpenOptions::new()
        .create(true)
        .append(!truncate)
        .write(true)
        .truncate(truncate)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    regular(&f, path)?;
    f.set_permissions(fs::Permissions::from_mode(0o600))?;
    Ok(f)
}

/// Refuse what is not a plain file (a FIFO would block the console for good).
fn regular(f: &File, path: &Path) -> std::io::Result<()> {
    match f.metadata()?.is_file() {
        true => Ok(()),
        false => Err(std::io::Error::other(format!(
            "{} is not a regular file",
            path.display()
        ))),
    }
}

/// The clean lines of the file's tail and how many others there were; `None` when
/// there is no file.
fn read_tail(path: &Path) -> std::io::Result<Option<(Vec<String>, usize)>> {
    let mut f = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    regular(&f, path)?;
    let len = f.metadata()?.len();
    let from = len.saturating_sub(READ_MAX);
    f.seek(SeekFrom::Start(from))?;
    let mut bytes = Vec::new();
    f.take(READ_MAX).read_to_end(&mut bytes)?;
    let mut parts: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    if from > 0 && !parts.is_empty() {
        // Cut mid-line: the first part is the end of a line not read.
        parts.remove(0);
    }
    let mut lines = Vec::new();
    let mut dropped = 0;
    for part in parts.into_iter().filter(|p| !p.is_empty()) {
        match std::str::from_utf8(part) {
            Ok(l) if keepable(l) => lines.push(l.to_string()),
            _ => dropped += 1,
        }
    }
    Ok(Some((lines, dropped)))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::FileTypeExt;

    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).expect("exists").permissions().mode() & 0o7777
    }

    #[test]
    fn the_path_follows_xdg_then_home() {
        let env = |k: &str| match k {
            "XDG_STATE_HOME" => Some("/s".to_string()),
            "HOME" => Some("/h".to_string()),
            _ => None,
        };
        assert_eq!(default_path(env), Some(PathBuf::from("/s/tempi/history")));
        let home = |k: &str| (k == "HOME").then(|| "/h".to_string());
        assert_eq!(
            default_path(home),
            Some(PathBuf::from("/h/.local/state/tempi/history"))
        );
        let relative = |k: &str| match k {
            "XDG_STATE_HOME" => Some("rel".to_string()),
            _ => None,
        };
        assert_eq!(
            default_path(relative),
            None,
            "a relative XDG dir is ignored"
        );
    }

    #[test]
    fn appends_privately_and_reads_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state/tempi/history");
        let mut h = HistoryFile::open(path.clone());
        assert!(h.lines().is_empty(), "no file: no history");
        h.append("item 42");
        h.append("theme\u{1b}[2J");
        h.append(&"x".repeat(LINE_MAX + 1));
        h.append("task 7");
        assert_eq!(
            fs::read_to_string(&path).expect("written"),
            "item 42\ntask 7\n"
        );
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().expect("dir")), 0o700);
        let again = HistoryFile::open(path);
        assert_eq!(again.lines(), ["item 42", "task 7"]);
    }

    #[test]
    fn the_file_stays_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("history");
        let mut h = HistoryFile::open(path.clone());
        for i in 0..3 * HISTORY_MAX {
            h.append(&format!("item {i}"));
        }
        let lines = fs::read_to_string(&path).expect("written").lines().count();
        assert!(lines < 2 * HISTORY_MAX, "{lines} lines in the file");
        let again = HistoryFile::open(path);
        assert_eq!(again.lines().len(), HISTORY_MAX);
        assert_eq!(
            again.lines().last().map(String::as_str),
            Some(&*format!("item {}", 3 * HISTORY_MAX - 1))
        );
    }

    #[test]
    fn a_corrupt_or_unreadable_file_is_ignored_not_fatal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("history");
        fs::write(&path, b"item 1\n\xff\xfe\x00garbage\nsla\x07\nitem 2\n").expect("written");
        let h = HistoryFile::open(path.clone());
        assert_eq!(h.lines(), ["item 1", "item 2"], "the clean lines survive");
        assert_eq!(
            fs::read_to_string(&path).expect("rewritten"),
            "item 1\nitem 2\n"
        );
        let not_a_file = dir.path().join("a-dir");
        fs::create_dir(&not_a_file).expect("a dir");
        let mut h = HistoryFile::open(not_a_file.clone());
        assert!(h.lines().is_empty());
        h.append("item 3");
        assert!(not_a_file.is_dir(), "left alone");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&path, &link).expect("a symlink");
        let mut h = HistoryFile::open(link);
        h.append("item 4");
        assert_eq!(
            fs::read_to_string(&path).expect("unchanged"),
            "item 1\nitem 2\n",
            "never through a symlink"
        );
    }

    /// A FIFO would block the console before it draws anything, with raw mode on.
    #[test]
    fn a_fifo_is_skipped_not_waited_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("history");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
        // SAFETY: a valid, NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
        let mut h = HistoryFile::open(fifo.clone());
        assert!(h.lines().is_empty());
        h.append("item 1");
        assert!(
            fs::symlink_metadata(&fifo)
                .expect("there")
                .file_type()
                .is_fifo()
        );
    }

    /// A state dir linked to a shared one keeps its mode (a 1777 dir stays so).
    #[test]
    fn a_linked_dir_is_not_tightened() {
        let dir = tempfile::tempdir().expect("tempdir");
        let shared = dir.path().join("shared");
        fs::create_dir(&shared).expect("dir");
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).expect("chmod");
        let state = dir.path().join("state");
        std::os::unix::fs::symlink(&shared, &state).expect("symlink");
        let mut h = HistoryFile::open(state.join("history"));
        h.append("item 1");
        assert_eq!(mode(&shared), 0o1777, "left as it was");
        assert_eq!(mode(&shared.join("history")), 0o600, "the file is private");
    }
}
