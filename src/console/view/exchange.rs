//! The HTTP section of an opened step: the call's headline, then the headers and body
//! of each side, wrapped at spaces like the rest of the detail.

use ratatui::text::{Line, Span};

use crate::console::theme::{Role, Theme};
use crate::text::{printable_lines, wrap};
use crate::types::exchange::{Exchange, Shown};

/// What a header or body line is indented by, under the section's own padding.
const INDENT: &str = "  ";

/// Push the section's lines: `pad` leads each, `room` is the width after it.
pub(super) fn lines(t: &Theme, x: &Exchange, pad: &'static str, room: usize, out: &mut Vec<Line>) {
    let failed = x.response.as_ref().is_none_or(|r| r.status >= 400);
    let mut push = |spans: Vec<Span<'static>>| {
        let mut all = vec![Span::raw(pad)];
        all.extend(spans);
        out.push(Line::from(all));
    };
    push(vec![Span::styled("HTTP", t.style(Role::Dim))]);
    for part in x.shown() {
        match part {
            Shown::Headline(text) => {
                let role = if failed { Role::Failed } else { Role::Base };
                for l in wrap(&printable_lines(&text), room) {
                    push(vec![Span::styled(l, t.style(role))]);
                }
            }
            Shown::Title(text) => push(vec![Span::styled(text, t.style(Role::Dim))]),
            Shown::Header(name, value) => {
                // The name leads the first line; what wraps lines up under the value.
                let lead = format!("{INDENT}{name}: ");
                let room = room.saturating_sub(lead.chars().count()).max(10);
                let blank = " ".repeat(lead.chars().count());
                for (k, l) in wrap(&printable_lines(&value), room).into_iter().enumerate() {
                    let head = if k == 0 { lead.clone() } else { blank.clone() };
                    push(vec![Span::styled(head, t.style(Role::Dim)), Span::raw(l)]);
                }
            }
            Shown::Text(text) => {
                let room = room.saturating_sub(INDENT.len()).max(10);
                for l in wrap(&printable_lines(&text), room) {
                    push(vec![
                        Span::raw(INDENT),
                        Span::styled(l, t.style(Role::Base)),
                    ]);
                }
            }
        }
    }
}
