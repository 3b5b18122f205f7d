//! Limits on template and `when:` text, checked on the text itself before minijinja
//! compiles it: size, operators per expression (a long `a and b and …` chain is a
//! syntax tree deep enough to overflow the stack when compiled, evaluated or dropped),
//! the statements allowed, and the filter, test and function names used.

/// The longest template or expression string.
pub const MAX_TEMPLATE_BYTES: usize = 16 * 1024;
/// Operators, attribute reads, filters and brackets in one `{{ }}`, `{% %}` or `when:`.
pub const MAX_OPERATORS: usize = 64;
/// Statements a workflow template may use. Macros, calls, includes, imports and
/// recursive loops are refused: they let a template recurse or reach other files.
const STATEMENTS: &[&str] = &[
    "if",
    "elif",
    "else",
    "endif",
    "for",
    "endfor",
    "set",
    "endset",
    "with",
    "endwith",
    "filter",
    "endfilter",
];
/// Global functions a template may call (`namespace` and `debug` are removed: one
/// carries values across loop turns, the other prints the whole scope).
pub const FUNCTIONS: &[&str] = &["range", "dict"];

/// Whether the text is a `{{ }}` template or a bare `when:` expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Template,
    Expression,
}

/// The filter and test names a text uses, for the validator to look up.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Names<'a> {
    pub filters: Vec<&'a str>,
    pub tests: Vec<&'a str>,
}

/// Check `src` against the limits; the names it uses come back for the validator.
pub fn scan(src: &str, kind: Kind) -> Result<Names<'_>, String> {
    if src.len() > MAX_TEMPLATE_BYTES {
        return Err(format!(
            "the text is {} KiB; a template or expression may be at most {} KiB",
            src.len().div_ceil(1024),
            MAX_TEMPLATE_BYTES / 1024
        ));
    }
    let mut names = Names::default();
    match kind {
        Kind::Expression => {
            // minijinja's lexer panics ("empty lexer stack") on a stray `}}` or `%}`
            // in an expression compiled on its own.
            for close in ["}}", "%}"] {
                if find_outside_strings(src, close).is_some() {
                    return Err(format!("an expression cannot contain `{close}`"));
                }
            }
            expression(src, &mut names)?;
        }
        Kind::Template => {
            for (statement, body) in tags(src)? {
                if statement {
                    self::statement(body, &mut names)?;
                } else {
                    expression(body, &mut names)?;
                }
            }
        }
    }
    Ok(names)
}

/// The bodies of `{{ }}` (false) and `{% %}` (true) tags; comments are skipped and
/// `{% raw %}` blocks are plain text.
fn tags(src: &str) -> Result<Vec<(bool, &str)>, String> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = match after.chars().next() {
            Some('{') => "}}",
            Some('%') => "%}",
            Some('#') => "#}",
            _ => {
                rest = after;
                continue;
            }
        };
        let body_start = &after[1..];
        let Some(end) = find_outside_strings(body_start, close) else {
            // Unterminated: minijinja's compiler reports it with a better message.
            return Ok(out);
        };
        let body =
            body_start[..end].trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
        rest = &body_start[end + 2..];
        match close {
            "}}" => out.push((false, body)),
            "%}" if first_word(body) == "raw" => match rest.find("endraw") {
                Some(at) => rest = &rest[at..],
                None => return Ok(out),
            },
            "%}" => out.push((true, body)),
            _ => {}
        }
    }
    Ok(out)
}

fn first_word(body: &str) -> &str {
    let end = body
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(body.len());
    &body[..end]
}

/// Where `needle` first occurs outside quoted strings.
fn find_outside_strings(s: &str, needle: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut quote = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(_) if b == b'\\' => i += 1,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if bytes[i..].starts_with(needle.as_bytes()) => return Some(i),
            None => {}
        }
        i += 1;
    }
    None
}

fn statement<'a>(body: &'a str, names: &mut Names<'a>) -> Result<(), String> {
    let word = first_word(body);
    if !STATEMENTS.contains(&word) {
        return Err(format!(
            "`{{% {word} %}}` is not allowed in workflow templates (allowed: {})",
            STATEMENTS.join(", ")
        ));
    }
    let rest = &body[word.len()..];
    if word == "filter" {
        let name = first_word(rest.trim_start());
        if !name.is_empty() {
            names.filters.push(name);
        }
    }
    let tokens = expression(rest, names)?;
    if word == "for" && tokens.contains(&Tok::Ident("recursive")) {
        return Err("recursive loops are not allowed in workflow templates".to_string());
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok<'a> {
    Ident(&'a str),
    Op(&'a str),
    Open(u8),
    Close,
    Literal,
}

/// Count one expression's operators and collect its filter and test names.
fn expression<'a>(src: &'a str, names: &mut Names<'a>) -> Result<Vec<Tok<'a>>, String> {
    let tokens = tokenize(src);
    let mut operators = 0usize;
    for (i, tok) in tokens.iter().enumerate() {
        let prev = i.checked_sub(1).map(|p| tokens[p]);
        let next = tokens.get(i + 1).copied();
        match *tok {
            Tok::Op(_) | Tok::Open(_) => operators += 1,
            Tok::Ident("and" | "or" | "not" | "in" | "is" | "if" | "else") => operators += 1,
            Tok::Ident(name) => match prev {
                Some(Tok::Op("|")) => names.filters.push(name),
                Some(Tok::Ident("is")) => names.tests.push(name),
                Some(Tok::Ident("not")) if i >= 2 && tokens[i - 2] == Tok::Ident("is") => {
                    names.tests.push(name)
                }
                Some(Tok::Op(".")) => {}
                _ if next == Some(Tok::Open(b'(')) && !FUNCTIONS.contains(&name) => {
                    return Err(match name {
                        "loop" => "recursive loops are not allowed in workflow templates".into(),
                        _ => format!(
                            "unknown function `{name}()` (templates may call: {})",
                            FUNCTIONS.join(", ")
                        ),
                    });
                }
                _ => {}
            },
            Tok::Close | Tok::Literal => {}
        }
    }
    if operators > MAX_OPERATORS {
        return Err(format!(
            "an expression has {operators} operators; at most {MAX_OPERATORS} are allowed \
             (split it into steps, or compute the value in a step's output)"
        ));
    }
    Ok(tokens)
}

/// A rough lexer: identifiers, literals, brackets and operators (two-character ones
/// kept whole). It only has to count and name, not to parse.
fn tokenize(src: &str) -> Vec<Tok<'_>> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let start = i;
        i += 1;
        match b {
            b if b.is_ascii_whitespace() => {}
            b'"' | b'\'' => {
                while i < bytes.len() && bytes[i] != b {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.push(Tok::Literal);
            }
            b'0'..=b'9' => {
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'.' | b'_'))
                {
                    i += 1;
                }
                out.push(Tok::Literal);
            }
            b if b.is_ascii_alphabetic() || b == b'_' || b >= 0x80 => {
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] >= 0x80)
                {
                    i += 1;
                }
                out.push(Tok::Ident(&src[start..i]));
            }
            b'(' | b'[' | b'{' => out.push(Tok::Open(b)),
            b')' | b']' | b'}' => out.push(Tok::Close),
            b',' | b':' => {}
            _ => {
                let two = src.get(start..start + 2);
                let op = match two {
                    Some("==" | "!=" | "<=" | ">=" | "**" | "//") => {
                        i += 1;
                        two.unwrap_or_default()
                    }
                    _ => src.get(start..i).unwrap_or_default(),
                };
                out.push(Tok::Op(op));
            }
        }
    }
    out.retain(|t| *t != Tok::Op(""));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_chain_is_refused_by_count() {
        let chain = vec!["1"; 2_000].join(" and ");
        let e = scan(&chain, Kind::Expression).unwrap_err();
        assert!(e.contains("1999 operators"), "{e}");
        let long = vec!["1"; 10_000].join(" and ");
        assert!(scan(&long, Kind::Expression).unwrap_err().contains("KiB"));
        let ok = vec!["1"; 60].join(" and ");
        assert!(scan(&ok, Kind::Expression).is_ok());
    }

    #[test]
    fn names_are_collected_from_tags() {
        let src = "{{ input.x | default(0) | nosuchfilter }} {% if a is not defined %}{% endif %}";
        let names = scan(src, Kind::Template).unwrap();
        assert_eq!(names.filters, ["default", "nosuchfilter"]);
        assert_eq!(names.tests, ["defined"]);
    }

    #[test]
    fn macros_includes_and_recursion_are_refused() {
        for src in [
            "{% macro f(x) %}{{ f(x ~ x) }}{% endmacro %}",
            "{% include 'x' %}",
            "{% for x in y recursive %}{{ loop(x) }}{% endfor %}",
            "{{ namespace(a=1) }}",
            "{{ debug() }}",
        ] {
            assert!(scan(src, Kind::Template).is_err(), "{src}");
        }
        assert!(scan("{% raw %}{% macro %}{% endraw %}", Kind::Template).is_ok());
    }

    #[test]
    fn a_stray_closing_tag_in_an_expression_is_refused_not_panicked_on() {
        // Found by tests/fuzz_workflows.rs: minijinja panics compiling this.
        let e = scan("''\"\"}}*a", Kind::Expression).unwrap_err();
        assert!(e.contains("cannot contain `}}`"), "{e}");
        assert!(scan("x == '}}'", Kind::Expression).is_ok());
    }

    #[test]
    fn strings_hide_their_contents() {
        let src = "{{ 'a | b and c }}' ~ \"%}\" }}";
        assert_eq!(scan(src, Kind::Template).unwrap(), Names::default());
    }
}
