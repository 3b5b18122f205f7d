//! Text helpers every layer shares: clipping for narrow columns, and making data safe
//! to print to a terminal.

use std::borrow::Cow;

/// `text` with its control characters (ESC and the rest of C0, DEL, the C1 range) shown
/// as spaces, so data printed to a terminal can never move its cursor, clear its screen
/// or forge a line of output.
pub fn printable(text: &str) -> Cow<'_, str> {
    shown(text, |_| false)
}

/// The same, keeping line breaks: for text of several lines.
pub fn printable_lines(text: &str) -> Cow<'_, str> {
    shown(text, |c| c == '\n')
}

fn shown(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    let bad = |c: char| c.is_control() && !keep(c);
    if !text.chars().any(bad) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.chars().map(|c| if bad(c) { ' ' } else { c }).collect())
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

/// `text` as lines of at most `width` characters: its own line breaks kept, long lines
/// broken at spaces (a word longer than a line is cut), control characters shown as
/// spaces.
pub fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out = Vec::new();
    for line in printable_lines(text).split('\n') {
        let mut cur = String::new();
        let mut cur_w = 0;
        for word in line.split(' ') {
            let w = word.chars().count();
            if cur_w > 0 && cur_w + 1 + w > width {
                out.push(std::mem::take(&mut cur));
                cur_w = 0;
            }
            if cur_w > 0 {
                cur.push(' ');
                cur_w += 1;
            }
            let mut rest: Vec<char> = word.chars().collect();
            while cur_w + rest.len() > width {
                let take = width - cur_w;
                cur.extend(rest.drain(..take));
                out.push(std::mem::take(&mut cur));
                cur_w = 0;
            }
            cur_w += rest.len();
            cur.extend(rest);
        }
        out.push(cur.trim_end().to_string());
    }
    out
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
}
