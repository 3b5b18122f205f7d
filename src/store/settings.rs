//! The error of a small settings file in the data dir (`config.toml`, `secrets.toml`):
//! it could not be read, or something in it is wrong at a line and column.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}:{col}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        col: usize,
        message: String,
    },
}

impl SettingsError {
    /// `message` about `path`, at the byte `offset` of its `text`.
    pub fn at(path: &Path, text: &str, offset: usize, message: String) -> SettingsError {
        let (line, col) = crate::text::line_col(text, offset);
        SettingsError::Invalid {
            path: path.to_path_buf(),
            line,
            col,
            message,
        }
    }
}
