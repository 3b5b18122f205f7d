//! `tempi audit --verify | --export FILE | --anchor | --check FILE`: the journal's hash
//! chain, read from the journal file itself (whether or not a daemon runs): verified with
//! the tables derived from it, written out as a self-checking export, its head printed to
//! keep elsewhere, or an export checked on its own. A break exits 1, naming the seq.

use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;
use serde_json::json;

use super::Globals;
use crate::store::export::{self, ExportError, Verified};
use crate::store::verify::{Anchor, AnchorCheck, Audit, Break, Depth, Position};

/// What the command was asked to do.
#[derive(Debug, Clone)]
pub enum Mode {
    Verify,
    Export(std::path::PathBuf),
    Anchor,
    Check(std::path::PathBuf),
}

/// What `--json` prints when the chain verified.
#[derive(Serialize)]
struct Passed<'a> {
    ok: bool,
    records: u64,
    tombstones: u64,
    head: Head<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    anchor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    export: Option<String>,
}

#[derive(Serialize)]
struct Head<'a> {
    seq: u64,
    hash: &'a str,
}

pub fn run(g: &Globals, mode: Mode, against: Option<Anchor>, json: bool) -> ExitCode {
    let outcome = match &mode {
        Mode::Check(file) => export::check(file, against).map_err(Failed::from),
        Mode::Export(file) => exported(&g.data_dir, file),
        Mode::Verify | Mode::Anchor => verified(&g.data_dir, against),
    };
    match outcome {
        Ok(done) => passed(&mode, &done, against, json),
        Err(failed) => failed.report(json),
    }
}

/// Why the command exits 1.
enum Failed {
    /// The chain (or an anchor, or a derived table) does not match.
    Broken {
        journal: String,
        verified: u64,
        broken: Break,
    },
    /// An anchor the chain does not pass through.
    Anchor { journal: String, why: String },
    /// Anything else: no journal, an unreadable export, an export line that does not
    /// check.
    Error(anyhow::Error),
}

impl From<ExportError> for Failed {
    fn from(e: ExportError) -> Failed {
        Failed::Error(e.into())
    }
}

impl From<crate::store::StoreError> for Failed {
    fn from(e: crate::store::StoreError) -> Failed {
        Failed::Error(e.into())
    }
}

impl Failed {
    fn report(self, json: bool) -> ExitCode {
        let (message, value) = match self {
            Failed::Broken {
                journal,
                verified,
                broken,
            } => (
                format!("audit of {journal} failed at {broken}"),
                json!({
                    "ok": false,
                    "verified_seq": verified,
                    "break": { "seq": broken.seq, "problem": broken.problem, "message": broken.problem.to_string() },
                }),
            ),
            Failed::Anchor { journal, why } => (
                format!("audit of {journal} failed: {why}"),
                json!({ "ok": false, "anchor": why }),
            ),
            Failed::Error(e) => {
                let text = super::chain(&e);
                (text.clone(), json!({ "ok": false, "error": text }))
            }
        };
        // As validate: the report on stdout either way, the one line on stderr.
        if json {
            println!("{value}");
        }
        eprintln!("error: {}", crate::text::printable_lines(&message));
        ExitCode::from(super::exit::ERROR)
    }
}

fn passed(mode: &Mode, done: &Verified, against: Option<Anchor>, json: bool) -> ExitCode {
    if json {
        let value = Passed {
            ok: true,
            records: done.records,
            tombstones: done.tombstones,
            head: Head {
                seq: done.seq,
                hash: &done.hash,
            },
            anchor: against.map(|a| a.to_string()),
            export: match mode {
                Mode::Export(f) => Some(f.display().to_string()),
                _ => None,
            },
        };
        match serde_json::to_string(&value) {
            Ok(text) => println!("{text}"),
            Err(e) => return Failed::Error(e.into()).report(false),
        }
        return ExitCode::SUCCESS;
    }
    let what = format!(
        "{} records, {} tombstones, head seq {} hash {}",
        done.records, done.tombstones, done.seq, done.hash
    );
    let anchored = against.map_or(String::new(), |a| format!("; passes through anchor {a}"));
    match mode {
        Mode::Anchor => println!("{}:{}", done.seq, done.hash),
        Mode::Verify => println!("audit verified: {what}{anchored}"),
        Mode::Export(f) => println!("audit verified and exported to {}: {what}", f.display()),
        Mode::Check(f) => println!("export {} verified: {what}{anchored}", f.display()),
    }
    ExitCode::SUCCESS
}

/// The whole chain and the derived tables, in one read of the journal.
fn verified(data: &Path, against: Option<Anchor>) -> Result<Verified, Failed> {
    let audit = Audit::open(data)?;
    let journal = audit.path().display().to_string();
    let mut anchor = against.map(AnchorCheck::new);
    let (walked, ended) = audit.snapshot(|a| {
        let mut visit = |e: crate::store::verify::Element<'_>| {
            if let Some(a) = anchor.as_mut() {
                a.see(&e);
            }
            Ok(())
        };
        let walked = a.walk(Position::default(), u64::MAX, Depth::Records, &mut visit)?;
        let ended = match walked.broken {
            None => a.check_ended()?,
            Some(_) => None,
        };
        Ok((walked, ended))
    })?;
    if let Some(broken) = walked.broken.or(ended) {
        return Err(Failed::Broken {
            journal,
            verified: walked.at.seq(),
            broken,
        });
    }
    if let Some(a) = anchor {
        a.result(walked.at.seq())
            .map_err(|why| Failed::Anchor { journal, why })?;
    }
    Ok(walked.at.into())
}

fn exported(data: &Path, file: &Path) -> Result<Verified, Failed> {
    let audit = Audit::open(data)?;
    let journal = audit.path().display().to_string();
    match export::write(&audit, file) {
        Ok(done) => Ok(done),
        Err(ExportError::Broken(broken)) => Err(Failed::Broken {
            journal,
            verified: broken.seq.saturating_sub(1),
            broken,
        }),
        Err(e) => Err(e.into()),
    }
}
