//! The bytes of a notification: BEL for the bell, OSC 9 (iTerm2, kitty, WezTerm,
//! Ghostty) or OSC 777 (VTE terminals, foot, urxvt) for the desktop, wrapped for tmux's
//! passthrough when inside tmux. Text from data never carries an escape out.

use super::app::alerts::Notice;

/// The desktop notification sequence a terminal understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Osc {
    /// `OSC 9 ; text ST`
    Nine,
    /// `OSC 777 ; notify ; title ; body ST`
    SevenSevenSeven,
}

/// Where the console writes: which OSC, and whether tmux sits in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terminal {
    pub osc: Osc,
    pub tmux: bool,
}

/// Characters of a notification's text, at most.
const TEXT_MAX: usize = 200;

impl Terminal {
    /// From the environment: `TMUX` says tmux; VTE, foot and urxvt speak OSC 777.
    pub fn detect(env: impl Fn(&str) -> Option<String>) -> Terminal {
        let term = env("TERM").unwrap_or_default();
        let vte = env("VTE_VERSION").is_some_and(|v| !v.is_empty());
        let osc = match vte || term.starts_with("foot") || term.starts_with("rxvt") {
            true => Osc::SevenSevenSeven,
            false => Osc::Nine,
        };
        Terminal {
            osc,
            tmux: env("TMUX").is_some_and(|t| !t.is_empty()),
        }
    }

    /// What to write for `n`.
    pub fn bytes(&self, n: &Notice) -> Vec<u8> {
        let mut out = Vec::new();
        if n.desktop {
            let title = field(&n.title);
            let body = field(&n.body);
            let seq = match self.osc {
                Osc::Nine => format!("\x1b]9;{title}: {body}\x1b\\"),
                Osc::SevenSevenSeven => format!("\x1b]777;notify;{title};{body}\x1b\\"),
            };
            match self.tmux {
                true => out.extend(passthrough(seq.as_bytes())),
                false => out.extend(seq.as_bytes()),
            }
        }
        // tmux takes the bell itself (its bell flag, monitor-bell) and passes it on.
        if n.bell {
            out.push(0x07);
        }
        out
    }
}

/// Text safe inside an OSC field: no control characters (so no escape and no early
/// terminator), no `;` (the field separator), clipped.
fn field(text: &str) -> String {
    let clean = crate::text::printable(text).replace(';', ",");
    crate::text::clip(&clean, TEXT_MAX)
}

/// tmux's DCS passthrough: `ESC P tmux ; <seq with each ESC doubled> ESC \`.
fn passthrough(seq: &[u8]) -> Vec<u8> {
    let mut out = b"\x1bPtmux;".to_vec();
    for b in seq {
        if *b == 0x1b {
            out.push(0x1b);
        }
        out.push(*b);
    }
    out.extend(b"\x1b\\");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(body: &str) -> Notice {
        Notice {
            bell: true,
            desktop: true,
            title: "tempi".into(),
            body: body.into(),
        }
    }

    #[test]
    fn osc9_then_the_bell() {
        let t = Terminal {
            osc: Osc::Nine,
            tmux: false,
        };
        assert_eq!(
            t.bytes(&notice("1 item breached (#12)")),
            b"\x1b]9;tempi: 1 item breached (#12)\x1b\\\x07"
        );
        let quiet = Notice {
            desktop: false,
            ..notice("x")
        };
        assert_eq!(t.bytes(&quiet), b"\x07", "the bell only");
        let silent = Notice {
            bell: false,
            ..notice("x")
        };
        assert_eq!(t.bytes(&silent), b"\x1b]9;tempi: x\x1b\\");
    }

    #[test]
    fn osc777_has_a_title_and_a_body() {
        let t = Terminal {
            osc: Osc::SevenSevenSeven,
            tmux: false,
        };
        assert_eq!(
            t.bytes(&notice("2 tasks overdue (3, 4)")),
            b"\x1b]777;notify;tempi;2 tasks overdue (3, 4)\x1b\\\x07"
        );
    }

    #[test]
    fn inside_tmux_the_osc_passes_through_and_the_bell_does_not() {
        let t = Terminal {
            osc: Osc::Nine,
            tmux: true,
        };
        assert_eq!(
            t.bytes(&notice("x")),
            b"\x1bPtmux;\x1b\x1b]9;tempi: x\x1b\x1b\\\x1b\\\x07"
        );
    }

    #[test]
    fn data_cannot_escape_the_sequence() {
        let t = Terminal {
            osc: Osc::SevenSevenSeven,
            tmux: false,
        };
        let out = t.bytes(&notice("evil\x1b]0;pwned\x07;more\u{9b}2J"));
        let text = String::from_utf8(out).expect("text");
        let inner = &text["\x1b]777;notify;tempi;".len()..text.len() - 3];
        assert!(
            !inner.contains(['\x1b', '\x07', '\u{9b}', ';']),
            "{inner:?}"
        );
        assert!(inner.starts_with("evil"), "{inner:?}");
        let long = t.bytes(&notice(&"x".repeat(1000)));
        assert!(long.len() < 260, "clipped: {}", long.len());
    }

    #[test]
    fn the_terminal_is_read_from_the_environment() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let plain = Terminal::detect(env(&[("TERM", "xterm-256color")]));
        assert_eq!(
            plain,
            Terminal {
                osc: Osc::Nine,
                tmux: false
            }
        );
        let gnome = Terminal::detect(env(&[("VTE_VERSION", "7600"), ("TMUX", "/tmp/t,1,0")]));
        assert_eq!(
            gnome,
            Terminal {
                osc: Osc::SevenSevenSeven,
                tmux: true
            }
        );
        let foot = Terminal::detect(env(&[("TERM", "foot")]));
        assert_eq!(foot.osc, Osc::SevenSevenSeven);
    }
}
