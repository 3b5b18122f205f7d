//! `<data>/secrets.toml`: flat `NAME = "value"` lines that templates read as
//! `secrets.NAME`. Refused unless only its owner can read it.

use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use super::settings::SettingsError;
use crate::types::secrets::{SecretError, Secrets};

/// The secrets file's name inside the data dir.
pub const SECRETS_FILE: &str = "secrets.toml";

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error(
        "{} is readable by group or others (mode {mode:04o}); secrets must be private: chmod 600 {}",
        path.display(),
        path.display()
    )]
    Exposed { path: PathBuf, mode: u32 },
    #[error(transparent)]
    File(#[from] SettingsError),
}

/// The secrets of `data_dir`; none when it has no secrets file.
pub fn load(data_dir: &Path) -> Result<Secrets, SecretsError> {
    let path = data_dir.join(SECRETS_FILE);
    let read = |source| {
        SecretsError::from(SettingsError::Read {
            path: path.clone(),
            source,
        })
    };
    let meta = match std::fs::metadata(&path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Secrets::default()),
        Err(e) => return Err(read(e)),
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SecretsError::Exposed { path, mode });
    }
    let text = std::fs::read_to_string(&path).map_err(read)?;
    parse(&path, &text)
}

/// Parse secrets TOML; `path` only names the file in errors.
pub fn parse(path: &Path, text: &str) -> Result<Secrets, SecretsError> {
    let invalid = |span: std::ops::Range<usize>, message: String| {
        SecretsError::from(SettingsError::at(path, text, span.start, message))
    };
    let doc = DeTable::parse(text).map_err(|e| {
        let message = format!("TOML syntax: {}", e.message().trim_end());
        invalid(e.span().unwrap_or(0..0), message)
    })?;
    let mut values = std::collections::BTreeMap::new();
    for (name, value) in doc.get_ref() {
        let DeValue::String(v) = value.get_ref() else {
            let message = format!(
                "secret {} must be a string: {} = \"value\" (not a {})",
                name.get_ref(),
                name.get_ref(),
                value.get_ref().type_str()
            );
            return Err(invalid(value.span(), message));
        };
        let one = [(name.get_ref().to_string(), v.to_string())].into();
        if let Err(e) = Secrets::new(one) {
            let span = match e {
                SecretError::TooShort { .. } => value.span(),
                SecretError::BadName { .. } => name.span(),
            };
            return Err(invalid(span, e.to_string()));
        }
        values.insert(name.get_ref().to_string(), v.to_string());
    }
    Secrets::new(values).map_err(|e| invalid(0..0, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str, mode: u32) {
        let path = dir.join(SECRETS_FILE);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_private_file_loads_and_a_missing_one_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().is_empty());
        write(
            dir.path(),
            "API_KEY = \"k-123456\"\nBANK = 'b-654321'\n",
            0o600,
        );
        let s = load(dir.path()).unwrap();
        assert_eq!(s.names().collect::<Vec<_>>(), ["API_KEY", "BANK"]);
        assert_eq!(s.scope_value()["BANK"], "b-654321");
    }

    #[test]
    fn a_file_others_can_read_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "API_KEY = \"k-123456\"\n", 0o644);
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains(&dir.path().join(SECRETS_FILE).display().to_string()),
            "{e}"
        );
        assert!(e.contains("0644") && e.contains("chmod 600"), "{e}");
    }

    #[test]
    fn bad_entries_say_where_and_what() {
        let p = Path::new("/d/secrets.toml");
        let e = parse(p, "A = \"long-enough\"\nB = \"abc\"\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/d/secrets.toml:2:5: secret B is shorter than 4 characters; it would mask too much"
        );
        let e = parse(p, "[db]\npass = \"x-123456\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/d/secrets.toml:1:1: secret db must be a string"),
            "{e}"
        );
        let e = parse(p, "\"a b\" = \"x-123456\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/d/secrets.toml:1:1: secret name"), "{e}");
        let e = parse(p, "A = \n").unwrap_err().to_string();
        assert!(e.starts_with("/d/secrets.toml:1:"), "{e}");
    }
}
