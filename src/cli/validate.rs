//! `tempi validate PATH...`: parse workflow files and directories, print every
//! diagnostic as `file:line:col: message`, and exit 1 when there is any.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::definition;

pub fn run(paths: &[PathBuf]) -> ExitCode {
    let mut ok = 0usize;
    let mut problems = 0usize;
    for path in paths {
        if path.is_dir() {
            let (valid, diags) = definition::load_dir(path);
            let empty = valid.is_empty() && diags.is_empty();
            ok += valid.len();
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
                Ok(_) => ok += 1,
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
        ExitCode::SUCCESS
    }
}
