//! The terminal: raw mode and the alternate screen on the way in, restored on the way
//! out (quit, panic, signal); each frame is buffered and written in one synchronized
//! update, and a frame that changes nothing writes nothing.

use std::io::{self, Write};

use crossterm::terminal::{
    self, BeginSynchronizedUpdate, EndSynchronizedUpdate, EnterAlternateScreen,
    LeaveAlternateScreen,
};
use crossterm::{cursor, execute};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use super::sgr::Lean;

/// Collects one frame's bytes so they can be checked and wrapped before they go out.
#[derive(Debug, Default)]
pub struct FrameBuf {
    pub bytes: Vec<u8>,
}

impl Write for FrameBuf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What ratatui's crossterm backend writes after every diff: colours and attributes
/// back to the defaults.
const STYLE_RESET: &[u8] = b"\x1b[39m\x1b[49m\x1b[59m\x1b[0m";
const HIDE: &[u8] = b"\x1b[?25l";
const SHOW: &[u8] = b"\x1b[?25h";

/// The cursor sequence a frame ends with: hiding it, or showing it somewhere.
fn trailing_cursor(bytes: &[u8]) -> Option<&[u8]> {
    if bytes.ends_with(HIDE) {
        return Some(HIDE);
    }
    let at = bytes.windows(SHOW.len()).rposition(|w| w == SHOW)?;
    let tail = &bytes[at..];
    is_cursor_sequence(tail).then_some(tail)
}

/// Whether bytes are only cursor moves: `ESC[?25h` then `ESC[row;colH`.
fn is_cursor_sequence(bytes: &[u8]) -> bool {
    let Some(rest) = bytes.strip_prefix(b"\x1b[?25h\x1b[") else {
        return false;
    };
    rest.ends_with(b"H")
        && rest[..rest.len() - 1]
            .iter()
            .all(|b| b.is_ascii_digit() || *b == b';')
}

/// Turns a frame's bytes into what goes to the terminal: colours only where they change
/// (carried over between frames), wrapped in one synchronized update, or nothing at all
/// when the frame changes nothing but restates the cursor.
#[derive(Debug)]
pub struct Output {
    lean: Lean,
    last_cursor: Vec<u8>,
    /// Bytes sent so far (for the benchmark).
    pub written: u64,
}

impl Default for Output {
    /// The console hides the cursor as it takes the screen.
    fn default() -> Self {
        Output {
            lean: Lean::default(),
            last_cursor: HIDE.to_vec(),
            written: 0,
        }
    }
}

impl Output {
    /// The terminal's width, so a move after text at the right edge is never guessed.
    pub fn set_width(&mut self, width: u16) {
        self.lean.width = width;
    }

    /// Something else wrote to the terminal: the cursor is no longer where it was.
    pub fn forget_cursor(&mut self) {
        self.lean.forget_cursor();
    }

    /// The bytes that put colours and attributes back to the defaults (and remember it).
    pub fn reset_style(&mut self) -> Vec<u8> {
        self.lean.reset_style()
    }

    /// What to write for a frame that produced `bytes` (empty when nothing changed).
    pub fn frame(&mut self, bytes: &[u8]) -> Vec<u8> {
        // ratatui ends every frame with a style reset and the cursor, changed or not.
        let rest = bytes.strip_prefix(STYLE_RESET).unwrap_or(bytes);
        if rest.is_empty() || rest == self.last_cursor {
            return Vec::new();
        }
        if let Some(c) = trailing_cursor(bytes) {
            self.last_cursor = c.to_vec();
        }
        let lean = self.lean.frame(bytes);
        let mut out = Vec::with_capacity(lean.len() + 16);
        let _ = crossterm::queue!(out, BeginSynchronizedUpdate);
        out.extend_from_slice(&lean);
        let _ = crossterm::queue!(out, EndSynchronizedUpdate);
        self.written += out.len() as u64;
        out
    }
}

pub type Term = Terminal<CrosstermBackend<FrameBuf>>;

/// Owns the real terminal while the console runs; dropping it restores the terminal.
pub struct Screen {
    pub term: Term,
    out: Output,
}

/// Put the terminal back as it was; safe to call more than once.
pub fn restore() {
    let mut stdout = io::stdout();
    let _ = execute!(
        stdout,
        EndSynchronizedUpdate,
        crossterm::style::ResetColor,
        crossterm::style::SetAttribute(crossterm::style::Attribute::Reset),
        LeaveAlternateScreen,
        cursor::Show
    );
    let _ = terminal::disable_raw_mode();
}

impl Screen {
    pub fn enter() -> io::Result<Screen> {
        if !io::IsTerminal::is_terminal(&io::stdout()) {
            return Err(io::Error::other(
                "the console needs a terminal; stdout is not one (use tempi items, tasks, … in scripts)",
            ));
        }
        install_panic_hook();
        terminal::enable_raw_mode()?;
        let set_up = execute!(io::stdout(), EnterAlternateScreen, cursor::Hide)
            .and_then(|_| Terminal::new(CrosstermBackend::new(FrameBuf::default())));
        let term = match set_up {
            Ok(t) => t,
            Err(e) => {
                restore();
                return Err(e);
            }
        };
        Ok(Screen {
            term,
            out: Output::default(),
        })
    }

    /// Draw one frame and send only what changed.
    pub fn draw(&mut self, render: impl FnOnce(&mut ratatui::Frame)) -> io::Result<()> {
        self.term.autoresize()?;
        let width = self.term.size()?.width;
        self.out.set_width(width);
        self.term.draw(render)?;
        let bytes = std::mem::take(&mut self.term.backend_mut().writer_mut().bytes);
        let out = self.out.frame(&bytes);
        if !out.is_empty() {
            let mut stdout = io::stdout().lock();
            stdout.write_all(&out)?;
            stdout.flush()?;
        }
        Ok(())
    }

    /// Send bytes that are not a frame (an OSC 52 copy) straight to the terminal.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut stdout = io::stdout().lock();
        stdout.write_all(bytes)?;
        stdout.flush()
    }

    /// After a resize the whole screen is redrawn.
    pub fn clear(&mut self) -> io::Result<()> {
        self.term.clear()?;
        self.out.forget_cursor();
        let bytes = std::mem::take(&mut self.term.backend_mut().writer_mut().bytes);
        let mut stdout = io::stdout().lock();
        // Clear with the default colours (some terminals fill with the current ones).
        stdout.write_all(&self.out.reset_style())?;
        stdout.write_all(&bytes)?;
        stdout.flush()
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore();
    }
}

fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
        // A panic anywhere (a background task too) ends the console: it must not go on
        // drawing onto a terminal that is no longer in raw mode.
        std::process::exit(101);
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_that_change_nothing_write_nothing() {
        let mut out = Output::default();
        assert!(out.frame(b"").is_empty());
        assert!(
            out.frame(b"\x1b[?25l").is_empty(),
            "a hidden cursor stays hidden"
        );
        let cursor = b"\x1b[?25h\x1b[50;3H";
        assert!(!out.frame(cursor).is_empty(), "the cursor moved");
        assert!(out.frame(cursor).is_empty(), "the same cursor again");
        let frame = out.frame(b"\x1b[1;1Hhello\x1b[?25l");
        assert!(
            frame.starts_with(b"\x1b[?2026h"),
            "synchronized update begins"
        );
        assert!(frame.ends_with(b"\x1b[?2026l"), "and ends");
        assert!(out.written > 0);
    }

    /// The real bytes ratatui's backend writes, not made-up ones.
    #[test]
    fn an_unchanged_redraw_writes_nothing_with_the_real_backend() {
        use ratatui::text::Line;
        let backend = CrosstermBackend::new(FrameBuf::default());
        let viewport = ratatui::Viewport::Fixed(ratatui::layout::Rect::new(0, 0, 40, 5));
        let mut term = Terminal::with_options(backend, ratatui::TerminalOptions { viewport })
            .expect("terminal");
        let mut out = Output::default();
        let mut frame = |text: &str, cursor: bool| {
            term.draw(|f| {
                f.render_widget(Line::from(text.to_string()), f.area());
                if cursor {
                    f.set_cursor_position((3, 0));
                }
            })
            .expect("draw");
            let bytes = std::mem::take(&mut term.backend_mut().writer_mut().bytes);
            out.frame(&bytes).len()
        };
        assert!(frame("hello", false) > 0, "the first frame draws");
        assert_eq!(frame("hello", false), 0, "the same frame again");
        assert!(frame("hellO", false) > 0, "one changed cell");
        assert!(frame("hellO", true) > 0, "the cursor appears");
        assert_eq!(frame("hellO", true), 0, "the same cursor again");
    }
}
