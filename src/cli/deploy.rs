//! `tempi deploy PATH...` sends workflow files to the running daemon, which validates
//! them and loads their versions all together or not at all; `tempi workflows` lists the
//! loaded versions with the items in flight on each.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::Globals;
use super::daemon::Daemon;
use super::format::table;
use crate::api::client::ClientError;
use crate::api::{DeployFile, DeployRequest, MAX_BODY_BYTES};
use crate::definition::{self, Diagnostic};
use crate::text::printable_lines;

pub async fn deploy(
    g: &Globals,
    paths: &[PathBuf],
    json: bool,
    reason: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let (files, problems) = collect(paths);
    if !problems.is_empty() {
        return Ok(refused(&problems));
    }
    let req = DeployRequest { files };
    let size = serde_json::to_vec(&req)?.len();
    anyhow::ensure!(
        size <= MAX_BODY_BYTES,
        "the files come to {} KiB as a request; one deploy carries at most {} KiB, so deploy \
         them in smaller groups",
        size.div_ceil(1024),
        MAX_BODY_BYTES / 1024
    );
    let daemon = Daemon::connect(g)?;
    let deployment = match daemon.client.deploy(&req, reason).await {
        Ok(d) => d,
        // The daemon's validator or its loaded versions said no: one problem a line.
        Err(ClientError::Api {
            status: 409 | 422,
            message,
            ..
        }) => {
            let lines: Vec<String> = message.lines().map(str::to_string).collect();
            return Ok(refused(&lines));
        }
        Err(e) => return Err(daemon.explain(e)),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&deployment)?);
    } else {
        for w in &deployment.workflows {
            let line = format!("{} {} v{}", w.status.name(), w.name, w.version);
            println!("{}", crate::text::printable(&line));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Every problem on stderr, then that nothing changed: exit 1.
fn refused(problems: &[String]) -> ExitCode {
    for p in problems {
        eprintln!("{}", printable_lines(p));
    }
    let n = problems.len();
    let s = if n == 1 { "" } else { "s" };
    eprintln!("error: {n} problem{s}; nothing was deployed");
    ExitCode::from(1)
}

/// The files named and those in the directories named (`*.yaml`, `*.yml`), read as
/// `validate` reads them, and every problem reading them.
fn collect(paths: &[PathBuf]) -> (Vec<DeployFile>, Vec<String>) {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    let mut read = |path: &Path, problems: &mut Vec<String>| match definition::read_source(path) {
        Ok(source) => files.push(DeployFile {
            path: path.display().to_string(),
            source,
        }),
        Err(diags) => problems.extend(diags.iter().map(Diagnostic::to_string)),
    };
    for path in paths {
        if path.is_dir() {
            match definition::workflow_files(path) {
                Ok(found) if found.is_empty() => problems.push(format!(
                    "{}: no workflow files (*.yaml, *.yml)",
                    path.display()
                )),
                Ok(found) => found.iter().for_each(|p| read(p, &mut problems)),
                Err(d) => problems.push(d.to_string()),
            }
        } else if path.exists() {
            read(path, &mut problems);
        } else {
            problems.push(format!("{}: no such file or directory", path.display()));
        }
    }
    (files, problems)
}

pub async fn workflows(g: &Globals, json: bool) -> anyhow::Result<()> {
    let daemon = Daemon::connect(g)?;
    let list = daemon
        .client
        .workflows()
        .await
        .map_err(|e| daemon.explain(e))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|w| {
            vec![
                w.name.clone(),
                format!("v{}", w.version),
                w.in_flight.to_string(),
            ]
        })
        .collect();
    print!("{}", table(&["WORKFLOW", "VERSION", "IN FLIGHT"], &rows));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_directories_are_collected_and_every_problem_named() {
        let dir = tempfile::tempdir().unwrap();
        let wf = dir.path().join("wf");
        std::fs::create_dir(&wf).unwrap();
        std::fs::write(wf.join("b.yaml"), "name: b\n").unwrap();
        std::fs::write(wf.join("a.yml"), "name: a\n").unwrap();
        std::fs::write(wf.join("notes.txt"), "not a workflow").unwrap();
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        let one = dir.path().join("one.yaml");
        std::fs::write(&one, "name: one\n").unwrap();
        let binary = dir.path().join("bin.yaml");
        std::fs::write(&binary, b"name: \xff\n").unwrap();
        let missing = dir.path().join("missing.yaml");
        let (files, problems) = collect(&[wf.clone(), one.clone(), empty, binary, missing]);
        let names: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        let want = [wf.join("a.yml"), wf.join("b.yaml"), one];
        let want: Vec<String> = want.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(names, want);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].ends_with("empty: no workflow files (*.yaml, *.yml)"));
        assert!(
            problems[1].ends_with("bin.yaml:1:7: the file is not valid UTF-8 text"),
            "{}",
            problems[1]
        );
        assert!(problems[2].ends_with("missing.yaml: no such file or directory"));
    }
}
