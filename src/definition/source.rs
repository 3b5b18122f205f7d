//! Checks on a workflow's source text before any tree is built from it: its size, the
//! characters it may hold, how deep it nests and how many aliases it uses. A tree too
//! deep to walk (or even to drop) or an alias bomb is refused here, where refusing
//! costs one flat pass over the parser's events.

use saphyr_parser::{Event, Parser};

/// The largest workflow file read: the shipped ones are under 4 KiB.
pub const MAX_SOURCE_BYTES: usize = 256 * 1024;
/// How deep mappings and lists may nest (a workflow needs about eight levels).
pub const MAX_NESTING: usize = 48;
/// The loader copies the anchored node at every alias, so nested aliases can expand a
/// small file exponentially ("billion laughs"); a few aliases are all a workflow needs.
pub const MAX_ALIASES: usize = 32;

/// A problem found in the source text, at a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl Refused {
    fn at(line: usize, col: usize, message: impl Into<String>) -> Self {
        Refused {
            line,
            col,
            message: message.into(),
        }
    }
}

/// The text to parse (without a leading byte-order mark), or the first reason it is
/// refused. Syntax errors are left to the loader, which reports them with positions.
pub fn check(source: &str) -> Result<&str, Refused> {
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    if source.len() > MAX_SOURCE_BYTES {
        return Err(Refused::at(
            1,
            1,
            format!(
                "the file is {} KiB; a workflow file may be at most {} KiB",
                source.len().div_ceil(1024),
                MAX_SOURCE_BYTES / 1024
            ),
        ));
    }
    control_characters(source)?;
    structure(source)
        .map(|()| source)
        .map_err(|(line, col, message)| Refused::at(line, col, message))
}

/// YAML allows tabs and line breaks but no other control characters; a NUL byte would
/// otherwise end the text early and be reported as missing keys.
fn control_characters(source: &str) -> Result<(), Refused> {
    for (n, line) in source.split('\n').enumerate() {
        for (col, c) in line.chars().enumerate() {
            let allowed = matches!(c, '\t' | '\r' | '\u{85}')
                || !(c.is_control() || ('\u{fff9}'..='\u{fffb}').contains(&c));
            if !allowed {
                let name = match c {
                    '\0' => " (NUL)".to_string(),
                    '\u{1b}' => " (ESC)".to_string(),
                    _ => String::new(),
                };
                return Err(Refused::at(
                    n + 1,
                    col + 1,
                    format!(
                        "control character U+{:04X}{name} is not allowed in a workflow file; \
                         the file must be YAML text",
                        c as u32
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// One pass over the parser's events (the parser keeps an explicit stack and never
/// expands aliases): nesting depth and alias count.
fn structure(source: &str) -> Result<(), (usize, usize, String)> {
    let mut depth = 0usize;
    let mut aliases = 0usize;
    for event in Parser::new_from_str(source) {
        // A syntax error: the loader reports it with its position.
        let Ok((event, span)) = event else {
            return Ok(());
        };
        let at = (span.start.line().max(1), span.start.col() + 1);
        match event {
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                depth += 1;
                if depth > MAX_NESTING {
                    let message = format!(
                        "nested deeper than {MAX_NESTING} levels of mappings and lists; \
                         a workflow needs far fewer"
                    );
                    return Err((at.0, at.1, message));
                }
            }
            Event::SequenceEnd | Event::MappingEnd => depth = depth.saturating_sub(1),
            Event::Alias(_) => {
                aliases += 1;
                if aliases > MAX_ALIASES {
                    let message = format!(
                        "too many YAML aliases (`*name`): at most {MAX_ALIASES} are allowed per file"
                    );
                    return Err((at.0, at.1, message));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_order_mark_is_skipped() {
        assert_eq!(check("\u{feff}name: x\n").unwrap(), "name: x\n");
    }

    #[test]
    fn a_nul_byte_is_named_where_it_is() {
        let e = check("name: x\nversion: 1\u{0}\n").unwrap_err();
        assert_eq!((e.line, e.col), (2, 11), "{e:?}");
        assert!(e.message.contains("U+0000 (NUL)"), "{e:?}");
    }

    #[test]
    fn a_quote_inside_a_key_does_not_hide_aliases() {
        let mut src = String::from("a: &a [1, 2, 3]\n");
        for i in 0..40 {
            src.push_str(&format!("b's{i}: [*a]\n"));
        }
        let e = check(&src).unwrap_err();
        assert!(e.message.contains("too many YAML aliases"), "{e:?}");
        assert_eq!(e.line, 34);
    }

    #[test]
    fn deep_block_nesting_is_refused_before_loading() {
        let mut src = String::from("x:\n");
        for i in 0..200 {
            src.push_str(&" ".repeat(i + 1));
            src.push_str("-\n");
        }
        let e = check(&src).unwrap_err();
        assert!(e.message.contains("nested deeper than"), "{e:?}");
    }

    #[test]
    fn size_is_checked_first() {
        let src = "#".repeat(MAX_SOURCE_BYTES + 1);
        assert!(check(&src).unwrap_err().message.contains("KiB"));
    }
}
