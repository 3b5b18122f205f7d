//! A fuzz test of the workflow parser: random bytes, and shipped workflows mangled by
//! random edits (tokens that open quotes, aliases, templates, deep nesting), through
//! `parse_str` and `parse_recorded`. No input may panic or abort. CI runs a few hundred
//! cases; run it longer by hand with
//! `PROPTEST_CASES=20000 cargo test --release --test fuzz_workflows`.

use proptest::prelude::*;
use tempi::definition::template::{check_expression, check_template};
use tempi::definition::{parse_recorded, parse_str};

/// Tokens that reach the parser's and the template checker's corners.
const TOKENS: &[&str] = &[
    "*a",
    "&a ",
    "[",
    "]",
    "{",
    "}",
    "'",
    "\"",
    "\\",
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "|",
    " and ",
    " or ",
    " not ",
    "\n",
    "\n  ",
    "\n      ",
    "- ",
    ": ",
    "? ",
    "!!str ",
    "!x ",
    "---\n",
    "...\n",
    "#",
    ",",
    "1e999",
    "300000years",
    "\u{0}",
    "\u{feff}",
    "\t",
    "é",
    "range(10000)",
    "~",
    " * ",
    "steps.a.output",
    "input.x",
    "when: ",
    "kind: pass",
    "kind: http",
    "output: ",
    "timeout: ",
    "needs: [a]",
    "id: b",
    "{% for i in x %}",
    "{% endfor %}",
    "| tojson",
];

fn shipped() -> Vec<String> {
    let mut sources = Vec::new();
    for entry in std::fs::read_dir("workflows").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            sources.push(std::fs::read_to_string(path).unwrap());
        }
    }
    sources.sort();
    sources
}

#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, &'static str),
    Delete(usize, usize),
    /// Copy a range somewhere else, repeatedly (nesting and size grow fast).
    Repeat(usize, usize, usize, u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), prop::sample::select(TOKENS)).prop_map(|(at, t)| Edit::Insert(at, t)),
        (any::<usize>(), 0usize..64).prop_map(|(at, n)| Edit::Delete(at, n)),
        (any::<usize>(), 1usize..200, any::<usize>(), 1u8..40)
            .prop_map(|(from, n, to, times)| Edit::Repeat(from, n, to, times)),
    ]
}

/// The nearest char boundary at or before `at` (mod the length).
fn boundary(s: &str, at: usize) -> usize {
    if s.is_empty() {
        return 0;
    }
    let mut i = at % (s.len() + 1);
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(mut s: String, edits: &[Edit]) -> String {
    for e in edits {
        match *e {
            Edit::Insert(at, t) => {
                let at = boundary(&s, at);
                s.insert_str(at, t);
            }
            Edit::Delete(at, n) => {
                let a = boundary(&s, at);
                let b = boundary(&s, a + n).max(a);
                s.replace_range(a..b, "");
            }
            Edit::Repeat(from, n, to, times) => {
                let a = boundary(&s, from);
                let b = boundary(&s, a + n).max(a);
                let piece = s[a..b].repeat(times as usize);
                let to = boundary(&s, to);
                s.insert_str(to, &piece);
            }
        }
        if s.len() > 1 << 20 {
            break;
        }
    }
    s
}

fn parse_everywhere(source: &str) {
    let _ = parse_str("fuzz.yaml", source);
    let _ = parse_recorded(source);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        parse_everywhere(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn mangled_workflows_never_panic(
        which in any::<prop::sample::Index>(),
        edits in prop::collection::vec(edit(), 1..24),
    ) {
        let sources = shipped();
        let source = apply(which.get(&sources).clone(), &edits);
        parse_everywhere(&source);
    }

    #[test]
    fn random_templates_and_expressions_never_panic(
        parts in prop::collection::vec(prop::sample::select(TOKENS), 0..200),
    ) {
        let text: String = parts.concat();
        let _ = check_template(&text);
        let _ = check_expression(&text);
    }
}
