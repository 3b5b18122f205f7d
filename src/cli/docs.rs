//! `tempi completions SHELL` and `tempi man`: shell completions and man pages generated
//! from the same clap definitions that parse the command line, so they cannot drift.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use clap::ValueEnum;

/// The shells `tempi completions` writes a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// The completion script for `shell` on stdout.
pub fn completions(shell: Shell) -> anyhow::Result<()> {
    let mut cmd = super::command();
    let mut out = Vec::new();
    let generator = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(generator, &mut cmd, "tempi", &mut out);
    std::io::stdout().write_all(&out)?;
    Ok(())
}

/// Every page of the command tree, the top one first: `tempi`, then `tempi-start`, …
fn pages() -> Vec<clap_mangen::Man> {
    // Building names each subcommand `tempi-start` (its page) and `tempi start` (its
    // synopsis), and gives it the global options.
    let mut root = super::command().disable_help_subcommand(true);
    root.build();
    let mut pages = Vec::new();
    let mut todo = vec![root];
    while let Some(cmd) = todo.pop() {
        let subs: Vec<clap::Command> = cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .cloned()
            .collect();
        // Every page, not only the top one, names the release it documents.
        let source = format!("tempi {}", env!("CARGO_PKG_VERSION"));
        pages.push(clap_mangen::Man::new(cmd).source(source));
        todo.extend(subs.into_iter().rev());
    }
    pages
}

/// The top page with what only it has: the exit codes and the `--json` promise.
fn render_top(man: &clap_mangen::Man, out: &mut Vec<u8>) -> std::io::Result<()> {
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    man.render_subcommands_section(out)?;
    writeln!(out, ".SH \"EXIT STATUS\"")?;
    for (code, meaning) in super::exit::CODES {
        writeln!(out, ".TP\n\\fB{code}\\fR\n{}", roman(meaning))?;
    }
    writeln!(out, ".SH JSON\n{}", roman(super::exit::JSON))?;
    man.render_version_section(out)
}

/// Text for a roff paragraph: backslashes escaped, no line read as a request.
fn roman(text: &str) -> String {
    let text = text.replace('\\', "\\e");
    match text.starts_with(['.', '\'']) {
        true => format!("\\&{text}"),
        false => text,
    }
}

/// `tempi man`: every page, one after the other, on stdout (`man -l -` reads them); with
/// `dir`, one file per page there instead (`tempi.1`, `tempi-start.1`, …).
pub fn man(dir: Option<&Path>) -> anyhow::Result<()> {
    let pages = pages();
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("--dir: cannot create {}", dir.display()))?;
    }
    let mut stream = Vec::new();
    for (i, man) in pages.iter().enumerate() {
        let mut text = Vec::new();
        match i {
            0 => render_top(man, &mut text)?,
            _ => man.render(&mut text)?,
        }
        match dir {
            Some(dir) => {
                let path = dir.join(man.get_filename());
                std::fs::write(&path, &text)
                    .with_context(|| format!("--dir: cannot write {}", path.display()))?;
            }
            None => stream.extend(text),
        }
    }
    std::io::stdout().write_all(&stream)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_is_a_page_for_every_command() {
        let names: Vec<String> = pages().iter().map(|m| m.get_filename()).collect();
        assert_eq!(names[0], "tempi.1");
        for sub in super::super::command().get_subcommands() {
            let page = format!("tempi-{}.1", sub.get_name());
            assert!(names.contains(&page), "{page} missing from {names:?}");
        }
    }

    #[test]
    fn roman_text_never_starts_a_request() {
        assert_eq!(roman(".TH x"), "\\&.TH x");
        assert_eq!(roman("a\\b"), "a\\eb");
    }
}
