//! Text helpers every layer shares: clipping for narrow columns, and making data safe
//! to print to a terminal.

use std::borrow::Cow;

/// `text` with its control characters (ESC and the rest of C0, DEL, the C1 range) and
/// bidirectional overrides shown as spaces, so data printed to a terminal can never move
/// its cursor, clear its screen, forge a line of output or read backwards.
pub fn printable(text: &str) -> Cow<'_, str> {
    shown(text, |_| false)
}

/// The same, keeping line breaks: for text of several lines.
pub fn printable_lines(text: &str) -> Cow<'_, str> {
    shown(text, |c| c == '\n')
}

fn shown(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    let bad = |c: char| (c.is_control() || is_bidi_control(c)) && !keep(c);
    if !text.chars().any(bad) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.chars().map(|c| if bad(c) { ' ' } else { c }).collect())
}

/// The marks and overrides that reorder text on screen (U+202E shows `exe.txt` as
/// `txt.exe`): never shown as they are.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Cut long text to `max` characters with an ellipsis.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// `1,405`: counts an operator reads at a glance.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (k, c) in s.chars().enumerate() {
        if k > 0 && (s.len() - k).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Lines of at most `width` characters, broken at spaces where there are any (a word
/// longer than the line is cut), keeping the text's own line breaks.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out = Vec::new();
    for line in text.split('\n') {
        // A line's indent (pretty JSON's nesting) stays, and its wrapped parts hang
        // under it; at most half the width, so text always has room.
        let body = line.trim_start_matches(' ');
        let indent = " ".repeat((line.len() - body.len()).min(width / 2));
        let start = indent.len();
        let mut cur = indent.clone();
        let mut len = start;
        for word in body.split(' ') {
            let mut word: Vec<char> = word.chars().collect();
            if len > start && len + 1 + word.len() > width {
                out.push(std::mem::replace(&mut cur, indent.clone()));
                len = start;
            }
            if len > start {
                cur.push(' ');
                len += 1;
            }
            while len + word.len() > width {
                let rest = word.split_off(width - len);
                cur.extend(word);
                out.push(std::mem::replace(&mut cur, indent.clone()));
                len = start;
                word = rest;
            }
            len += word.len();
            cur.extend(word);
        }
        out.push(cur);
    }
    out
}

/// `wrap` for data: its control characters shown as spaces first (line breaks kept).
pub fn wrap_words(text: &str, width: usize) -> Vec<String> {
    wrap(&printable_lines(text), width)
}

/// The 1-based line and column (in characters) of a byte offset into `text`, for
/// file:line:col messages.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_reach_a_terminal() {
        let evil = "ok\u{1b}[2J\u{1b}]0;owned\u{7}\r\ttail\u{9b}31m\u{7f}";
        let shown = printable(evil);
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert!(shown.starts_with("ok [2J ]0;owned"));
        assert_eq!(printable_lines("a\nb\u{1b}c"), "a\nb c");
        assert!(matches!(printable("plain"), Cow::Borrowed(_)));
        assert_eq!(
            printable("gpj\u{202e}.exe \u{2066}x"),
            "gpj .exe  x",
            "no bidi override"
        );
    }

    #[test]
    fn indented_lines_wrap_under_their_indent() {
        let text = "{\n  \"note\": \"one two three\"\n}";
        assert_eq!(
            wrap(text, 12),
            ["{", "  \"note\":", "  \"one two", "  three\"", "}"]
        );
        // A deep indent leaves half the line to the text.
        assert_eq!(wrap("        abcdef", 8), ["    abcd", "    ef"]);
    }

    #[test]
    fn wrapping_keeps_line_breaks_and_breaks_at_spaces() {
        let text = "Supplier: Nordwind Logistics GmbH\nPO match: matched PO 4471\u{1b}[2J";
        assert_eq!(
            wrap_words(text, 20),
            vec![
                "Supplier: Nordwind",
                "Logistics GmbH",
                "PO match: matched PO",
                "4471 [2J"
            ]
        );
        assert_eq!(wrap_words("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert_eq!(wrap_words("a\n\nb", 4), vec!["a", "", "b"]);
    }

    #[test]
    fn wrapping_breaks_at_spaces_and_keeps_line_breaks() {
        assert_eq!(
            wrap("connect: connection refused by bank", 12),
            ["connect:", "connection", "refused by", "bank"]
        );
        assert_eq!(wrap("a\nb c", 10), ["a", "b c"]);
        assert_eq!(
            wrap(
                "{\n  \"exit_code\": 0,\n    \"note\": \"all went well\"\n}",
                16
            ),
            [
                "{",
                "  \"exit_code\":",
                "  0,",
                "    \"note\": \"all",
                "    went well\"",
                "}"
            ],
            "indents stay and wrapped parts hang under them"
        );
        assert_eq!(
            wrap("abcdefghij", 4),
            ["abcd", "efgh", "ij"],
            "a long word is cut"
        );
        assert_eq!(wrap("ab abcdefgh", 4), ["ab", "abcd", "efgh"]);
        assert_eq!(wrap("", 5), [""]);
        for line in wrap("the quick brown fox jumps over the lazy dog again", 7) {
            assert!(line.chars().count() <= 7, "{line:?}");
        }
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1405), "1,405");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
