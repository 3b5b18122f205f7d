//! `tempi deploy PATH...` sends workflow files to the running daemon, which validates
//! them and loads their versions all together or not at all; `tempi workflows` lists the
//! loaded versions with the items in flight on each.

use std::path::PathBuf;
use std::process::ExitCode;

use super::Globals;
use super::daemon::Daemon;
use super::format::table;
use crate::api::client::ClientError;
use crate::api::{DeployFile, DeployRequest, MAX_BODY_BYTES};
use crate::definition::{self, Diagnostic};
use crate::text::{printable, printable_lines};
use crate::types::deploy::MAX_DEPLOY_FILES;

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
    // JSON escapes (a quote, a newline) make the request larger than the files.
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
            println!("{}", printable(&line));
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
/// `validate` reads them, and every problem finding or reading them. Paths are counted
/// before any file is read, and reading stops past the size one request carries, so a
/// huge directory costs nothing.
fn collect(paths: &[PathBuf]) -> (Vec<DeployFile>, Vec<String>) {
    let mut found = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        if path.is_dir() {
            match definition::workflow_files(path) {
                Ok(in_dir) if in_dir.is_empty() => problems.push(format!(
                    "{}: no workflow files (*.yaml, *.yml)",
                    path.display()
                )),
                Ok(in_dir) => found.extend(in_dir),
                Err(d) => problems.push(d.to_string()),
            }
        } else if path.exists() {
            found.push(path.clone());
        } else {
            problems.push(format!("{}: no such file or directory", path.display()));
        }
    }
    // A file named twice (`a.yaml a.yaml`, or a file and its directory) is deployed once.
    let mut seen = std::collections::HashSet::new();
    found.retain(|p| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())));
    if found.len() > MAX_DEPLOY_FILES {
        problems.push(format!(
            "{} workflow files; one deploy takes at most {MAX_DEPLOY_FILES}",
            found.len()
        ));
        return (Vec::new(), problems);
    }
    let mut files = Vec::new();
    let mut bytes = 0;
    for path in found {
        match definition::read_source(&path) {
            Ok(source) => {
                bytes += source.len();
                files.push(DeployFile {
                    // A name only names the file in messages: one a terminal shows as is.
                    path: printable(&path.display().to_string()).into_owned(),
                    source,
                });
            }
            Err(diags) => problems.extend(diags.iter().map(Diagnostic::to_string)),
        }
        if bytes > MAX_BODY_BYTES {
            problems.push(format!(
                "the files come to more than {} KiB; one deploy carries at most that, so \
                 deploy them in smaller groups",
                MAX_BODY_BYTES / 1024
            ));
            break;
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
        // A file named twice, or given and in a directory given, comes once.
        let (files, problems) = collect(&[
            wf.clone(),
            one.clone(),
            one.clone(),
            wf.join("b.yaml"),
            empty,
            binary,
            missing,
        ]);
        let names: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        let want = [wf.join("a.yml"), wf.join("b.yaml"), one];
        let want: Vec<String> = want.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(names, want);
        assert_eq!(problems.len(), 3, "{problems:?}");
        // What is not there first, then what could not be read.
        assert!(problems[0].ends_with("empty: no workflow files (*.yaml, *.yml)"));
        assert!(problems[1].ends_with("missing.yaml: no such file or directory"));
        assert!(
            problems[2].ends_with("bin.yaml:1:7: the file is not valid UTF-8 text"),
            "{}",
            problems[2]
        );
    }

    #[test]
    fn too_many_files_are_refused_before_any_is_read_and_names_are_printable() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..=MAX_DEPLOY_FILES {
            std::fs::write(dir.path().join(format!("w{i}.yaml")), "name: w\n").unwrap();
        }
        let (files, problems) = collect(&[dir.path().to_path_buf()]);
        assert!(files.is_empty());
        assert_eq!(problems, ["65 workflow files; one deploy takes at most 64"]);
        let odd = dir.path().join("red\u{1b}[31m.yaml");
        std::fs::write(&odd, "name: w\n").unwrap();
        let (files, problems) = collect(&[odd]);
        assert!(problems.is_empty(), "{problems:?}");
        assert!(
            files[0].path.ends_with("red [31m.yaml"),
            "{}",
            files[0].path
        );
    }
}
