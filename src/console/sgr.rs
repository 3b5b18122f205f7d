//! Fewer bytes per frame over SSH: ratatui's backend restates colours at the start of
//! every frame, resets them at its end, and moves the cursor with absolute addresses.
//! This rewrites a frame's byte stream so that colours and attributes are sent only where
//! the terminal's actual state differs from what the next text needs (carried over from
//! frame to frame), and cursor moves use the shortest form from where the cursor is.

use std::collections::BTreeSet;

/// Colours and attributes as SGR parameters (`None` is the terminal default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sgr {
    fg: Option<String>,
    bg: Option<String>,
    underline: Option<String>,
    attrs: BTreeSet<u16>,
}

/// The parameter that turns an attribute off.
fn off(attr: u16) -> u16 {
    match attr {
        1 | 2 => 22,
        5 | 6 => 25,
        n => n + 20,
    }
}

/// A colour parameter starting at `p[i]` (`38;5;n`, `38;2;r;g;b` or a plain code) and how
/// many parameters it takes.
fn colour(p: &[&str], i: usize) -> (String, usize) {
    match p.get(i + 1).copied() {
        Some("5") if i + 2 < p.len() => (p[i..i + 3].join(";"), 3),
        Some("2") if i + 4 < p.len() => (p[i..i + 5].join(";"), 5),
        _ => (p[i].to_string(), 1),
    }
}

impl Sgr {
    /// Apply the parameters of one `ESC [ … m` sequence.
    pub fn apply(&mut self, params: &str) {
        let p: Vec<&str> = params.split(';').collect();
        let mut i = 0;
        while i < p.len() {
            let n: u16 = p[i].parse().unwrap_or(0);
            let mut used = 1;
            match n {
                0 => *self = Sgr::default(),
                1..=9 => {
                    self.attrs.insert(n);
                }
                22 => {
                    self.attrs.remove(&1);
                    self.attrs.remove(&2);
                }
                25 => {
                    self.attrs.remove(&5);
                    self.attrs.remove(&6);
                }
                21 | 23 | 24 | 27 | 28 | 29 => {
                    self.attrs.remove(&(n - 20));
                }
                30..=37 | 90..=97 => self.fg = Some(n.to_string()),
                40..=47 | 100..=107 => self.bg = Some(n.to_string()),
                38 | 48 | 58 => {
                    let (c, k) = colour(&p, i);
                    used = k;
                    match n {
                        38 => self.fg = Some(c),
                        48 => self.bg = Some(c),
                        _ => self.underline = Some(c),
                    }
                }
                39 => self.fg = None,
                49 => self.bg = None,
                59 => self.underline = None,
                _ => {}
            }
            i += used;
        }
    }

    /// The shortest `ESC [ … m` that takes a terminal from `self` to `to` (empty when
    /// they already agree).
    pub fn diff(&self, to: &Sgr) -> String {
        if self == to {
            return String::new();
        }
        let from_reset = Sgr::default().params_to(to, true);
        let step = self.params_to(to, false);
        let params = if from_reset.len() < step.len() {
            from_reset
        } else {
            step
        };
        format!("\x1b[{}m", params.join(";"))
    }

    fn params_to(&self, to: &Sgr, reset: bool) -> Vec<String> {
        let from = if reset { &Sgr::default() } else { self };
        let mut out: Vec<String> = Vec::new();
        if reset {
            out.push("0".into());
        }
        let mut attrs = from.attrs.clone();
        for a in from.attrs.difference(&to.attrs) {
            let o = off(*a);
            if !out.contains(&o.to_string()) {
                out.push(o.to_string());
            }
            // One "off" can clear two attributes (22 clears bold and dim).
            attrs.retain(|x| off(*x) != o);
        }
        for a in to.attrs.difference(&attrs) {
            out.push(a.to_string());
        }
        let colours = [
            (&from.fg, &to.fg, "39"),
            (&from.bg, &to.bg, "49"),
            (&from.underline, &to.underline, "59"),
        ];
        for (a, b, default) in colours {
            if a != b {
                out.push(b.clone().unwrap_or_else(|| default.into()));
            }
        }
        out
    }
}

/// Rewrites frames, remembering the terminal's colours and cursor between them.
#[derive(Debug, Default)]
pub struct Lean {
    /// What the terminal shows now.
    physical: Sgr,
    /// Where the cursor is (column, row; 0-based), when known for sure.
    cursor: Option<(u16, u16)>,
    /// The terminal's width: text that reaches the last column leaves the cursor in a
    /// state terminals disagree about, so its position becomes unknown.
    pub width: u16,
}

/// `ESC [ row ; col H` as (column, row), 0-based.
fn parse_move(params: &[u8]) -> Option<(u16, u16)> {
    let text = std::str::from_utf8(params).ok()?;
    let (row, col) = text.split_once(';').unwrap_or((text, "1"));
    let row: u16 = if row.is_empty() { 1 } else { row.parse().ok()? };
    let col: u16 = if col.is_empty() { 1 } else { col.parse().ok()? };
    Some((col.max(1) - 1, row.max(1) - 1))
}

/// The shortest way from `from` to `to`.
fn shortest_move(from: Option<(u16, u16)>, to: (u16, u16)) -> Vec<u8> {
    let absolute = format!("\x1b[{};{}H", to.1 + 1, to.0 + 1).into_bytes();
    let Some((cx, cy)) = from else {
        return absolute;
    };
    if (cx, cy) == to {
        return Vec::new();
    }
    let mut rel = Vec::new();
    let (dx, dy) = (to.0 as i32 - cx as i32, to.1 as i32 - cy as i32);
    let n = |k: i32| {
        if k.abs() == 1 {
            String::new()
        } else {
            k.abs().to_string()
        }
    };
    if dy != 0 {
        let dir = if dy > 0 { 'B' } else { 'A' };
        rel.extend(format!("\x1b[{}{dir}", n(dy)).into_bytes());
    }
    match dx {
        0 => {}
        -3..=-1 => rel.extend(std::iter::repeat_n(b'\x08', dx.unsigned_abs() as usize)),
        _ => {
            let dir = if dx > 0 { 'C' } else { 'D' };
            let column = format!("\x1b[{}G", to.0 + 1).into_bytes();
            let step = format!("\x1b[{}{dir}", n(dx)).into_bytes();
            rel.extend(if column.len() < step.len() {
                column
            } else {
                step
            });
        }
    }
    if rel.len() < absolute.len() {
        rel
    } else {
        absolute
    }
}

impl Lean {
    /// Forget the cursor (after something else wrote to the terminal).
    pub fn forget_cursor(&mut self) {
        self.cursor = None;
    }

    /// Colours and attributes back to the defaults.
    pub fn reset_style(&mut self) -> Vec<u8> {
        self.physical = Sgr::default();
        b"\x1b[0m".to_vec()
    }

    /// The frame with its SGR sequences replaced by the differences that matter and its
    /// moves made short. ratatui starts each frame believing the terminal is reset, so
    /// the logical colours start at the default.
    pub fn frame(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut logical = Sgr::default();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == 0x1b && bytes.get(i + 1) == Some(&b'[') {
                let Some(end) = (i + 2..bytes.len()).find(|&j| (0x40..=0x7e).contains(&bytes[j]))
                else {
                    // A sequence cut short: pass it on and stop guessing the cursor.
                    out.extend_from_slice(&bytes[i..]);
                    self.cursor = None;
                    break;
                };
                let seq = &bytes[i..=end];
                let params = &seq[2..seq.len() - 1];
                match bytes[end] {
                    b'm' => logical.apply(&String::from_utf8_lossy(params)),
                    b'H' if params.first() != Some(&b'?') => match parse_move(params) {
                        Some(to) => {
                            out.extend(shortest_move(self.cursor, to));
                            self.cursor = Some(to);
                        }
                        None => {
                            out.extend_from_slice(seq);
                            self.cursor = None;
                        }
                    },
                    // Showing or hiding the cursor and synchronized output do not move it.
                    b'h' | b'l' if params.first() == Some(&b'?') => out.extend_from_slice(seq),
                    _ => {
                        out.extend_from_slice(seq);
                        self.cursor = None;
                    }
                }
                i = end + 1;
                continue;
            }
            if bytes[i] == 0x1b {
                // An escape that is not a CSI sequence: pass it on, cursor unknown.
                out.push(0x1b);
                self.cursor = None;
                i += 1;
                continue;
            }
            let end = (i..bytes.len())
                .find(|&j| bytes[j] == 0x1b)
                .unwrap_or(bytes.len());
            out.extend_from_slice(self.physical.diff(&logical).as_bytes());
            self.physical = logical.clone();
            let text = &bytes[i..end];
            out.extend_from_slice(text);
            self.advance(text);
            i = end;
        }
        out
    }

    /// Move the known cursor past printed text; only plain ASCII is counted for sure.
    fn advance(&mut self, text: &[u8]) {
        self.cursor = match self.cursor {
            Some((x, y)) if text.iter().all(|b| (0x20..0x7f).contains(b)) => {
                let x = x as usize + text.len();
                (x < self.width as usize).then_some((x as u16, y))
            }
            _ => None,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_apply_and_diff_back() {
        let mut a = Sgr::default();
        a.apply("38;2;1;2;3;48;5;17;1");
        let mut b = a.clone();
        b.apply("22;38;2;9;9;9");
        assert_eq!(a.diff(&b), "\x1b[22;38;2;9;9;9m");
        assert_eq!(a.diff(&a), "");
        let mut check = a.clone();
        check.apply("22;38;2;9;9;9");
        assert_eq!(check, b);
        assert_eq!(b.diff(&Sgr::default()), "\x1b[0m", "reset is shortest");
        let mut dim_bold = Sgr::default();
        dim_bold.apply("1;2");
        let mut just_dim = Sgr::default();
        just_dim.apply("2");
        let d = dim_bold.diff(&just_dim);
        let mut x = dim_bold.clone();
        x.apply(&d[2..d.len() - 1]);
        assert_eq!(x, just_dim, "22 clears both, then dim comes back: {d:?}");
    }

    #[test]
    fn a_frame_keeps_only_the_colour_changes_that_matter() {
        let mut lean = Lean {
            width: 80,
            ..Lean::default()
        };
        let frame = b"\x1b[1;1H\x1b[38;2;1;1;1;48;2;2;2;2mab\x1b[1;9H\x1b[38;2;1;1;1;48;2;2;2;2mcd\x1b[39m\x1b[49m\x1b[59m\x1b[0m";
        let first = lean.frame(frame);
        let want = b"\x1b[1;1H\x1b[38;2;1;1;1;48;2;2;2;2mab\x1b[6Ccd";
        assert_eq!(first, want.to_vec());
        let again =
            lean.frame(b"\x1b[1;2H\x1b[38;2;1;1;1;48;2;2;2;2mX\x1b[39m\x1b[49m\x1b[59m\x1b[0m");
        assert_eq!(again, b"\x1b[9DX".to_vec(), "same colours, short move");
        let plain = lean.frame(b"\x1b[2;1Hz\x1b[0m");
        let want = b"\x1b[B\x08\x08\x1b[0mz";
        assert_eq!(plain, want.to_vec(), "default text resets first");
    }

    #[test]
    fn broken_escapes_pass_through_without_hanging() {
        let mut lean = Lean {
            width: 80,
            ..Lean::default()
        };
        assert_eq!(lean.frame(b"a\x1bXb"), b"a\x1bXb".to_vec());
        assert_eq!(lean.cursor, None);
        assert_eq!(lean.frame(b"\x1b[1;1Hz\x1b["), b"\x1b[1;1Hz\x1b[".to_vec());
        assert_eq!(lean.cursor, None);
    }

    #[test]
    fn moves_take_the_shortest_form_and_forget_at_the_edge() {
        assert_eq!(shortest_move(None, (4, 2)), b"\x1b[3;5H");
        assert_eq!(shortest_move(Some((4, 2)), (4, 2)), b"");
        assert_eq!(shortest_move(Some((5, 2)), (4, 3)), b"\x1b[B\x08");
        assert_eq!(shortest_move(Some((100, 9)), (120, 9)), b"\x1b[20C");
        assert_eq!(shortest_move(Some((100, 9)), (100, 3)), b"\x1b[6A");
        assert_eq!(shortest_move(Some((150, 40)), (2, 1)), b"\x1b[2;3H");
        let mut lean = Lean {
            width: 10,
            ..Lean::default()
        };
        lean.frame(b"\x1b[1;6Hhello");
        assert_eq!(lean.cursor, None, "text up to the last column: unknown");
        lean.frame(b"\x1b[1;1Hhi");
        assert_eq!(lean.cursor, Some((2, 0)));
        lean.frame("\x1b[1;1H─".as_bytes());
        assert_eq!(lean.cursor, None, "non-ASCII text is not counted");
    }
}
