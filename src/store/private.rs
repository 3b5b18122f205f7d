//! Private by default: what the engine creates only its user can read (umask 077), and a
//! data dir it owns is tightened on start (the dir and its folders 0700, files 0600).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::StoreError;

/// Make every file and folder this process creates from now on private to its user,
/// including the ones others create for us (SQLite's WAL and SHM, the log files).
pub fn restrict_umask() {
    // SAFETY: umask only swaps the process's file mode mask.
    unsafe {
        libc::umask(0o077);
    }
}

/// This process's effective user id.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// Tighten `dir` and everything under it (not following links) to 0700 folders and
/// 0600 files, when this user owns `dir`. A dir of another user is left alone.
pub fn tighten(dir: &Path) -> Result<(), StoreError> {
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::io("inspect", dir, e)),
    };
    let me = euid();
    if !meta.is_dir() || meta.uid() != me {
        return Ok(());
    }
    tighten_tree(dir, me, 0)
}

/// Deeper than this is not a layout tempi makes; it is left as it is.
const MAX_DEPTH: usize = 4;

fn tighten_tree(dir: &Path, me: u32, depth: usize) -> Result<(), StoreError> {
    set_mode(dir, 0o700)?;
    if depth >= MAX_DEPTH {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|e| StoreError::io("list", dir, e))?;
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.uid() != me || meta.file_type().is_symlink() {
            continue;
        }
        if meta.is_dir() {
            tighten_tree(&path, me, depth + 1)?;
        } else if meta.is_file() && meta.permissions().mode() & 0o077 != 0 {
            let mode = meta.permissions().mode() & 0o700;
            set_mode(&path, mode | 0o600)?;
        }
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<(), StoreError> {
    let current = std::fs::symlink_metadata(path)
        .map(|m| m.permissions().mode() & 0o777)
        .map_err(|e| StoreError::io("inspect", path, e))?;
    if current == mode {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| StoreError::io("restrict the mode of", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn an_open_data_dir_is_tightened_files_and_folders() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        for f in ["journal.db", "journal.db-wal", "logs/tempi.log.2026-01-01"] {
            std::fs::write(dir.join(f), "x").unwrap();
            std::fs::set_permissions(dir.join(f), PermissionsExt::from_mode(0o644)).unwrap();
        }
        std::fs::set_permissions(&dir, PermissionsExt::from_mode(0o755)).unwrap();
        std::fs::set_permissions(dir.join("logs"), PermissionsExt::from_mode(0o755)).unwrap();
        tighten(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("logs")), 0o700);
        for f in ["journal.db", "journal.db-wal", "logs/tempi.log.2026-01-01"] {
            assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
        }
    }

    #[test]
    fn links_are_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside.txt");
        std::fs::write(&outside, "x").unwrap();
        std::fs::set_permissions(&outside, PermissionsExt::from_mode(0o644)).unwrap();
        let dir = tmp.path().join("data");
        std::fs::create_dir(&dir).unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("link")).unwrap();
        tighten(&dir).unwrap();
        assert_eq!(mode(&outside), 0o644);
    }
}
