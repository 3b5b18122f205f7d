//! TEMPORARY stand-in for the data-dir helpers of `crate::store` (token, daemon.json)
//! until the store branch lands; same names and shapes, deleted at the merge.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::store::StoreError;

/// Where a running daemon listens, written to `daemon.json` in the data dir.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonInfo {
    pub url: String,
    pub pid: u32,
}

fn io(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Other(format!("{what} {}: {e}", path.display()))
}

pub fn default_data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("tempi");
    }
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".local/share/tempi"),
        None => PathBuf::from(".tempi"),
    }
}

pub fn load_or_create_token(dir: &Path) -> Result<String, StoreError> {
    let path = dir.join("token");
    match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => return Ok(t.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("cannot read", &path, e)),
    }
    std::fs::create_dir_all(dir).map_err(|e| io("cannot create", dir, e))?;
    let mut bytes = [0u8; 32];
    {
        use rand::{RngCore, SeedableRng};
        rand::rngs::StdRng::from_os_rng().fill_bytes(&mut bytes);
    }
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(&path, &token).map_err(|e| io("cannot write", &path, e))?;
    Ok(token)
}

pub fn write_daemon_info(dir: &Path, info: &DaemonInfo) -> Result<(), StoreError> {
    let path = dir.join("daemon.json");
    let text = serde_json::to_string(info).map_err(|e| StoreError::Other(e.to_string()))?;
    std::fs::write(&path, text).map_err(|e| io("cannot write", &path, e))
}

pub fn read_daemon_info(dir: &Path) -> Result<Option<DaemonInfo>, StoreError> {
    let path = dir.join("daemon.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StoreError::Other(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("cannot read", &path, e)),
    }
}

pub fn remove_daemon_info(dir: &Path) -> Result<(), StoreError> {
    let path = dir.join("daemon.json");
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("cannot remove", &path, e)),
        _ => Ok(()),
    }
}
