//! `tempi validate PATH...`: parse workflow files and directories, print every
//! diagnostic as `file:line:col: message` (or all of it as one JSON report), and exit 1
//! when there is any; name the environment variables the workflows read, which serve
//! passes only when told.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;

use crate::definition::{self, Diagnostic};

/// What `validate --json` prints.
#[derive(Debug, Default, Serialize)]
struct Report {
    /// No problem was found.
    ok: bool,
    workflows: Vec<Valid>,
    problems: Vec<Problem>,
    /// The `env.NAME`s the valid workflows read.
    env: BTreeSet<String>,
}

#[derive(Debug, Serialize)]
struct Valid {
    name: String,
    version: u32,
}

#[derive(Debug, Serialize)]
struct Problem {
    file: String,
    line: usize,
    col: usize,
    message: String,
    /// About the path as a whole (missing, empty): its text has no line and column.
    #[serde(skip)]
    whole: bool,
}

impl From<Diagnostic> for Problem {
    fn from(d: Diagnostic) -> Problem {
        Problem {
            file: d.file,
            line: d.line,
            col: d.col,
            message: d.message,
            whole: false,
        }
    }
}

/// A problem with a path as a whole (missing, an empty directory).
fn whole(path: &Path, message: &str) -> Problem {
    Problem {
        file: path.display().to_string(),
        line: 1,
        col: 1,
        message: message.to_string(),
        whole: true,
    }
}

impl Report {
    fn valid(&mut self, w: &definition::Workflow, source: &str) {
        self.env
            .extend(definition::template::env_names(source).map(str::to_string));
        self.workflows.push(Valid {
            name: w.name.clone(),
            version: w.version,
        });
    }

    fn check(&mut self, path: &Path) {
        if path.is_dir() {
            let (valid, diags) = definition::load_dir(path);
            if valid.is_empty() && diags.is_empty() {
                self.problems
                    .push(whole(path, "no workflow files (*.yaml, *.yml)"));
            }
            valid.iter().for_each(|(w, source)| self.valid(w, source));
            self.problems.extend(diags.into_iter().map(Problem::from));
        } else if path.exists() {
            match definition::parse_file(path) {
                Ok((w, source)) => self.valid(&w, &source),
                Err(diags) if diags.is_empty() => {
                    self.problems.push(whole(path, "not a valid workflow"));
                }
                Err(diags) => self.problems.extend(diags.into_iter().map(Problem::from)),
            }
        } else {
            self.problems.push(whole(path, "no such file or directory"));
        }
    }
}

pub fn run(paths: &[PathBuf], json: bool) -> ExitCode {
    let mut report = Report::default();
    for path in paths {
        report.check(path);
    }
    report.ok = report.problems.is_empty();
    let code = match report.ok {
        true => ExitCode::SUCCESS,
        false => ExitCode::from(super::exit::ERROR),
    };
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(super::exit::ERROR);
            }
        }
        return code;
    }
    print_text(&report);
    code
}

fn print_text(report: &Report) {
    let ok = report.workflows.len();
    if !report.ok {
        for p in &report.problems {
            let line = match p.whole {
                true => format!("{}: {}", p.file, p.message),
                false => format!("{}:{}:{}: {}", p.file, p.line, p.col, p.message),
            };
            eprintln!("{}", crate::text::printable_lines(&line));
        }
        let problems = report.problems.len();
        let s = if problems == 1 { "" } else { "s" };
        eprintln!("{problems} problem{s} found; {ok} valid workflow(s)");
        return;
    }
    println!("ok: {ok} workflows");
    if !report.env.is_empty() {
        let names: Vec<&str> = report.env.iter().map(String::as_str).collect();
        let reads: Vec<String> = names.iter().map(|n| format!("env.{n}")).collect();
        println!(
            "note: they read {}; serve passes a variable only when told: --pass-env {} \
             or pass_env in <data>/config.toml",
            reads.join(", "),
            names.join(",")
        );
    }
}
