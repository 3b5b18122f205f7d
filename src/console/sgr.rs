//! Fewer bytes per frame over SSH: ratatui's backend restates colours at the start of
//! every frame and resets them at its end. This rewrites a frame's byte stream so that
//! colours and attributes are sent only where the terminal's actual state differs from
//! what the next text needs, carried over from frame to frame.

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

/// Rewrites frames, remembering the terminal's colours between them.
#[derive(Debug, Default)]
pub struct Lean {
    /// What the terminal shows now.
    physical: Sgr,
}

impl Lean {
    /// The frame with its SGR sequences replaced by the differences that matter.
    /// ratatui starts each frame believing the terminal is reset, so the logical state
    /// starts at the default.
    pub fn frame(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut logical = Sgr::default();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == 0x1b && bytes.get(i + 1) == Some(&b'[') {
                let end = (i + 2..bytes.len())
                    .find(|&j| (0x40..=0x7e).contains(&bytes[j]))
                    .unwrap_or(bytes.len() - 1);
                let seq = &bytes[i..=end];
                if bytes[end] == b'm' {
                    logical.apply(&String::from_utf8_lossy(&seq[2..seq.len() - 1]));
                } else {
                    out.extend_from_slice(seq);
                }
                i = end + 1;
                continue;
            }
            let end = (i..bytes.len())
                .find(|&j| bytes[j] == 0x1b)
                .unwrap_or(bytes.len());
            out.extend_from_slice(self.physical.diff(&logical).as_bytes());
            self.physical = logical.clone();
            out.extend_from_slice(&bytes[i..end]);
            i = end;
        }
        out
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
        let mut lean = Lean::default();
        let frame = b"\x1b[1;1H\x1b[38;2;1;1;1;48;2;2;2;2mab\x1b[1;9H\x1b[38;2;1;1;1;48;2;2;2;2mcd\x1b[39m\x1b[49m\x1b[59m\x1b[0m";
        let first = lean.frame(frame);
        assert_eq!(
            first,
            b"\x1b[1;1H\x1b[38;2;1;1;1;48;2;2;2;2mab\x1b[1;9Hcd".to_vec()
        );
        let again =
            lean.frame(b"\x1b[1;2H\x1b[38;2;1;1;1;48;2;2;2;2mX\x1b[39m\x1b[49m\x1b[59m\x1b[0m");
        assert_eq!(
            again,
            b"\x1b[1;2HX".to_vec(),
            "the terminal still has those colours"
        );
        let plain = lean.frame(b"\x1b[2;1Hz\x1b[0m");
        assert_eq!(
            plain,
            b"\x1b[2;1H\x1b[0mz".to_vec(),
            "default text resets first"
        );
    }
}
