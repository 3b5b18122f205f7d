//! `tempi validate PATH...`: parse workflow files and directories, print every
//! diagnostic as `file:line:col: message`, and exit 1 when there is any; name the
//! environment variables the workflows read, which serve passes only when told.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::definition;

pub fn run(paths: &[PathBuf]) -> ExitCode {
    let mut ok = 0usize;
    let mut problems = 0usize;
    let mut env = std::collections::BTreeSet::new();
    let mut reads = |source: &str| {
        env.extend(definition::template::env_names(source).map(str::to_string));
    };
    for path in paths {
        if path.is_dir() {
            let (valid, diags) = definition::load_dir(path);
            let empty = valid.is_empty() && diags.is_empty();
            ok += valid.len();
            valid.iter().for_each(|(_, source)| reads(source));
            problems += diags.len();
            for d in diags {
                eprintln!("{}", crate::text::printable_lines(&d.to_string()));
            }
            if empty {
                problems += 1;
                eprintln!("{}: no workflow files (*.yaml, *.yml)", path.display());
            }
        } else if path.exists() {
            match definition::parse_file(path) {
                Ok((_, source)) => {
                    reads(&source);
                    ok += 1;
                }
                Err(diags) => {
                    problems += diags.len().max(1);
                    for d in diags {
                        eprintln!("{}", crate::text::printable_lines(&d.to_string()));
                    }
                }
            }
        } else {
            problems += 1;
            eprintln!("{}: no such file or directory", path.display());
        }
    }
    if problems > 0 {
        let s = if problems == 1 { "" } else { "s" };
        eprintln!("{problems} problem{s} found; {ok} valid workflow(s)");
        ExitCode::from(1)
    } else {
        println!("ok: {ok} workflows");
        if !env.is_empty() {
            let names: Vec<String> = env.into_iter().collect();
            let reads: Vec<String> = names.iter().map(|n| format!("env.{n}")).collect();
            println!(
                "note: they read {}; serve passes a variable only when told: --pass-env {} \
                 or pass_env in <data>/config.toml",
                reads.join(", "),
                names.join(",")
            );
        }
        ExitCode::SUCCESS
    }
}
