//! `tempi audit --export FILE`: the verified chain as JSON lines that check themselves: a
//! header, one line per record (its seq, its stored body as a string, its hash), one per
//! tombstone, and the head last. `tempi audit --check FILE` recomputes every hash of
//! such a file with no journal at hand.

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::StoreError;
use super::chain::{self, ALGORITHM, GENESIS};
use super::verify::{
    Anchor, AnchorCheck, Audit, Break, Checker, Depth, Element, Position, Problem,
};

/// The header's `format`.
pub const FORMAT: &str = "tempi-audit-export";
pub const VERSION: u64 = 1;
/// A longer line is refused rather than read into memory.
const MAX_LINE: u64 = 64 * 1024 * 1024;

/// What a verified chain ends with.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verified {
    pub records: u64,
    pub tombstones: u64,
    /// The last seq the chain covers, and its hash (hex).
    pub seq: u64,
    pub hash: String,
}

impl From<Position> for Verified {
    fn from(p: Position) -> Verified {
        Verified {
            records: p.records,
            tombstones: p.tombstones,
            seq: p.seq(),
            hash: chain::hex(&p.hash),
        }
    }
}

/// Why an export was not written, or does not check.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The journal does not verify: nothing was written.
    #[error("the journal does not verify at {0}; nothing was exported")]
    Broken(Break),
    /// A line of an export that does not check.
    #[error("{}:{line}: {what}", path.display())]
    Line {
        path: PathBuf,
        line: u64,
        what: String,
    },
}

/// Write the journal's verified chain to `file` (created 0600; an existing file is
/// refused). On any failure the partial file is removed.
pub fn write(audit: &Audit, file: &Path) -> Result<Verified, ExportError> {
    use std::os::unix::fs::OpenOptionsExt;
    let out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => StoreError::Other(format!(
                "{} already exists; remove it or export to another file",
                file.display()
            )),
            _ => StoreError::io("create the export", file, e),
        })?;
    let written = write_to(audit, file, out);
    if written.is_err() {
        let _ = std::fs::remove_file(file);
    }
    written
}

fn write_to(audit: &Audit, file: &Path, out: std::fs::File) -> Result<Verified, ExportError> {
    let io = |e| StoreError::io("write the export", file, e);
    let mut w = std::io::BufWriter::new(out);
    let walked = audit.snapshot(|a| {
        let header = json!({
            "format": FORMAT,
            "version": VERSION,
            "journal_id": a.journal_id()?,
            "algorithm": ALGORITHM,
            "genesis": chain::hex(&GENESIS),
        });
        line(&mut w, &header).map_err(io)?;
        let mut visit = |e: Element<'_>| -> Result<(), StoreError> {
            let value = match e {
                Element::Record { seq, body, hash } => json!({
                    "seq": seq,
                    "hash": chain::hex(&hash),
                    // Verified as text (`Depth::Records`), so this is the stored bytes.
                    "body": String::from_utf8_lossy(body),
                }),
                Element::Tombstone { first, last, hash } => json!({
                    "tombstone": { "first_seq": first, "last_seq": last },
                    "hash": chain::hex(&hash),
                }),
            };
            line(&mut w, &value).map_err(io)
        };
        let walked = a.walk(Position::default(), u64::MAX, Depth::Records, &mut visit)?;
        let ended = match walked.broken {
            None => a.check_ended()?,
            Some(_) => None,
        };
        Ok((walked, ended))
    })?;
    let (walked, ended) = walked;
    if let Some(b) = walked.broken.or(ended) {
        return Err(ExportError::Broken(b));
    }
    let done = Verified::from(walked.at);
    let head = json!({
        "head": { "seq": done.seq, "hash": done.hash },
        "records": done.records,
        "tombstones": done.tombstones,
    });
    line(&mut w, &head).map_err(io)?;
    let file_out = w.into_inner().map_err(|e| io(e.into_error()))?;
    file_out.sync_all().map_err(io)?;
    Ok(done)
}

fn line(w: &mut impl Write, v: &Value) -> std::io::Result<()> {
    serde_json::to_writer(&mut *w, v)?;
    w.write_all(b"\n")
}

/// Check an export on its own: the header, every hash from the genesis on, gap-free seqs,
/// and a head line that matches where the chain ends, with nothing after it; and that
/// the chain passes through `anchor`, when given.
pub fn check(file: &Path, anchor: Option<Anchor>) -> Result<Verified, ExportError> {
    let f = std::fs::File::open(file).map_err(|e| StoreError::io("open the export", file, e))?;
    let mut reader = std::io::BufReader::new(f);
    let mut checker = Checker::new(Position::default());
    let mut text = String::new();
    let mut n = 0u64;
    let mut head: Option<Value> = None;
    let mut anchored = anchor.map(AnchorCheck::new);
    loop {
        text.clear();
        let read = (&mut reader)
            .take(MAX_LINE + 1)
            .read_line(&mut text)
            .map_err(|e| StoreError::io("read the export", file, e))?;
        if read == 0 {
            break;
        }
        n += 1;
        let fail = |what: String| ExportError::Line {
            path: file.to_path_buf(),
            line: n,
            what,
        };
        if read as u64 > MAX_LINE {
            return Err(fail(format!("longer than {MAX_LINE} bytes")));
        }
        if head.is_some() {
            return Err(fail("a line after the head line".into()));
        }
        let v: Value = serde_json::from_str(text.trim_end_matches('\n'))
            .map_err(|e| fail(format!("not JSON: {e}")))?;
        if n == 1 {
            check_header(&v).map_err(fail)?;
            continue;
        }
        if v.get("head").is_some() {
            head = Some(v);
            continue;
        }
        take_line(&mut checker, &v, anchored.as_mut()).map_err(fail)?;
    }
    let at = n + 1;
    let fail = |what: String| ExportError::Line {
        path: file.to_path_buf(),
        line: at,
        what,
    };
    let Some(head) = head else {
        return Err(fail(match n {
            0 => "the file is empty".into(),
            _ => "no head line: the export is cut short".into(),
        }));
    };
    let done = Verified::from(checker.at);
    let said = (
        head["head"]["seq"].as_u64(),
        head["head"]["hash"].as_str().and_then(chain::parse_hex),
        head["records"].as_u64(),
        head["tombstones"].as_u64(),
    );
    let found = (
        Some(done.seq),
        Some(checker.at.hash),
        Some(done.records),
        Some(done.tombstones),
    );
    if said != found {
        return Err(ExportError::Line {
            path: file.to_path_buf(),
            line: n,
            what: format!(
                "the head line says seq {:?}, {:?} records, {:?} tombstones, but the chain ends at seq {} hash {} after {} records and {} tombstones",
                said.0, said.2, said.3, done.seq, done.hash, done.records, done.tombstones
            ),
        });
    }
    if let Some(a) = anchored {
        a.result(done.seq).map_err(|what| ExportError::Line {
            path: file.to_path_buf(),
            line: n,
            what,
        })?;
    }
    Ok(done)
}

fn check_header(v: &Value) -> Result<(), String> {
    if v["format"] != FORMAT {
        return Err(format!(
            "not a tempi audit export (no \"format\": \"{FORMAT}\")"
        ));
    }
    match v["version"].as_u64() {
        Some(VERSION) => Ok(()),
        other => Err(format!(
            "export version {other:?}; this tempi reads version {VERSION}"
        )),
    }
}

/// One record or tombstone line into the chain (and the anchor's watch).
fn take_line(
    checker: &mut Checker,
    v: &Value,
    anchor: Option<&mut AnchorCheck>,
) -> Result<(), String> {
    let hash = v["hash"]
        .as_str()
        .and_then(chain::parse_hex)
        .ok_or("no \"hash\" of 64 hex digits")?;
    if let Some(t) = v.get("tombstone") {
        let (Some(first), Some(last)) = (t["first_seq"].as_u64(), t["last_seq"].as_u64()) else {
            return Err("a tombstone without first_seq and last_seq".into());
        };
        // An export carries no retention mark: a tombstone covers what it says.
        checker
            .tombstone(first, last, Some(hash), u64::MAX)
            .map_err(|b| b.to_string())?;
        if let Some(a) = anchor {
            a.see(&Element::Tombstone { first, last, hash });
        }
        return Ok(());
    }
    let (Some(seq), Some(body)) = (v["seq"].as_u64(), v["body"].as_str()) else {
        return Err("neither a record (seq, body, hash) nor a tombstone".into());
    };
    let body = body.as_bytes();
    match checker.record(seq, body, Some(hash)) {
        Ok(()) => {}
        Err(Some(b)) => return Err(b.to_string()),
        Err(None) => {
            let b = Break {
                seq,
                problem: Problem::Changed,
            };
            return Err(b.to_string());
        }
    }
    if let Some(a) = anchor {
        a.see(&Element::Record { seq, body, hash });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Journal;
    use crate::types::event::{Event, Record};

    fn exported() -> (tempfile::TempDir, PathBuf, Verified) {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path()).unwrap();
        let records: Vec<Record> = (1..=6)
            .map(|seq| Record {
                seq,
                at: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
                item: Some(seq % 2 + 1),
                actor: "ann".into(),
                via: None,
                reason: None,
                event: Event::SlaWarning {
                    item: seq % 2 + 1,
                    percent: 75,
                },
            })
            .collect();
        j.append(&records).unwrap();
        drop(j);
        // A removed run in the middle, as retention leaves it.
        let conn = rusqlite::Connection::open(dir.path().join("journal.db")).unwrap();
        conn.execute_batch(
            "INSERT INTO tombstones SELECT 3, 4, hash FROM events WHERE seq = 4;
             DELETE FROM events WHERE seq IN (3, 4);
             INSERT INTO meta VALUES ('pruned_through', '4');",
        )
        .unwrap();
        let file = dir.path().join("export.jsonl");
        let audit = Audit::open(dir.path()).unwrap();
        let done = write(&audit, &file).unwrap();
        (dir, file, done)
    }

    fn lines(file: &Path) -> Vec<String> {
        std::fs::read_to_string(file)
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    }

    #[test]
    fn an_export_checks_on_its_own_and_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let (_dir, file, done) = exported();
        assert_eq!((done.records, done.tombstones, done.seq), (4, 1, 6));
        assert_eq!(check(&file, None).unwrap(), done);
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let l = lines(&file);
        assert_eq!(l.len(), 1 + 4 + 1 + 1, "header, records, tombstone, head");
        assert!(l[3].contains("\"tombstone\""), "{}", l[3]);
        // The stored body, byte for byte, as a string.
        let rec: Value = serde_json::from_str(&l[1]).unwrap();
        assert!(
            rec["body"].as_str().unwrap().starts_with("{\"at\":"),
            "{rec}"
        );
        let anchor = Anchor {
            seq: done.seq,
            hash: chain::parse_hex(&done.hash).unwrap(),
        };
        assert_eq!(check(&file, Some(anchor)).unwrap(), done);
    }

    #[test]
    fn an_edited_cut_or_padded_export_fails_at_its_line() {
        let (dir, file, _) = exported();
        let original = lines(&file);
        type Edit<'a> = &'a dyn Fn(&mut Vec<String>);
        let cases: [(Edit, u64, &str); 5] = [
            (
                &|l| l[2] = l[2].replace("75", "76"),
                3,
                "body or its hash was changed",
            ),
            (&|l| l.remove(2).clear(), 3, "seq 2: missing: neither"),
            (&|l| l.truncate(5), 6, "no head line"),
            (&|l| l.push("{}".into()), 8, "a line after the head line"),
            (&|l| l[0] = "{}".into(), 1, "not a tempi audit export"),
        ];
        for (edit, line, what) in cases {
            let mut l = original.clone();
            edit(&mut l);
            let bad = dir.path().join("bad.jsonl");
            std::fs::write(&bad, l.join("\n") + "\n").unwrap();
            let err = check(&bad, None).unwrap_err().to_string();
            assert!(err.contains(&format!("bad.jsonl:{line}: ")), "{err}");
            assert!(err.contains(what), "{err}");
        }
        // An anchor of another chain.
        let other = Anchor {
            seq: 6,
            hash: GENESIS,
        };
        let err = check(&file, Some(other)).unwrap_err().to_string();
        assert!(err.contains("rewritten at or before seq 6"), "{err}");
    }

    #[test]
    fn an_existing_file_is_not_overwritten() {
        let (dir, file, _) = exported();
        let before = std::fs::read(&file).unwrap();
        let audit = Audit::open(dir.path()).unwrap();
        let err = write(&audit, &file).unwrap_err().to_string();
        assert!(err.contains("already exists"), "{err}");
        assert_eq!(std::fs::read(&file).unwrap(), before);
    }

    #[test]
    fn a_journal_that_does_not_verify_is_not_exported() {
        let (dir, _, _) = exported();
        let conn = rusqlite::Connection::open(dir.path().join("journal.db")).unwrap();
        conn.execute("UPDATE events SET body = body || ' ' WHERE seq = 5", [])
            .unwrap();
        let file = dir.path().join("again.jsonl");
        let audit = Audit::open(dir.path()).unwrap();
        let err = write(&audit, &file).unwrap_err();
        assert!(
            matches!(&err, ExportError::Broken(b) if b.seq == 5),
            "{err}"
        );
        assert!(!file.exists(), "no partial export is left");
    }
}
