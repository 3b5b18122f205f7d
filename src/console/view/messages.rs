//! The message log (`:messages`): every toast and every result of a bulk action, newest
//! at the bottom, wrapped so no result is cut off.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::overlay::dialog;
use crate::console::app::{App, ToastKind};
use crate::console::theme::Role;
use crate::text::{printable, wrap};

pub fn draw(f: &mut Frame, app: &App, area: Rect, scroll: usize) {
    let t = &app.theme;
    let w = area.width.saturating_sub(6).clamp(20, 140);
    let h = area.height.saturating_sub(4).max(5);
    let r = Rect::new(
        area.x + (area.width.saturating_sub(w)) / 2,
        area.y + (area.height.saturating_sub(h)) / 2,
        w.min(area.width),
        h.min(area.height),
    );
    f.render_widget(Clear, r);
    let title = format!("Messages ({})  Esc closes", app.messages.len());
    let block = dialog(app, &title);
    let inner = block.inner(r);
    f.render_widget(block, r);
    let text_w = (inner.width as usize).saturating_sub(11).max(10);
    // Newest at the bottom: build lines from the newest back until the pane is full.
    let mut lines: Vec<Line> = Vec::new();
    let want = inner.height as usize + scroll;
    for m in app.messages.iter().rev() {
        let (role, mark) = match m.kind {
            ToastKind::Ok => (Role::Completed, "✓"),
            ToastKind::Error => (Role::Incident, "✗"),
        };
        let wrapped = wrap(&printable(&m.text), text_w);
        for (k, part) in wrapped.into_iter().enumerate().rev() {
            let lead = match k {
                0 => Line::from(vec![
                    Span::styled(m.at.format("%H:%M:%S ").to_string(), t.style(Role::Dim)),
                    Span::styled(format!("{mark} "), t.style(role)),
                    Span::raw(part),
                ]),
                _ => Line::from(format!("{:11}{part}", "")),
            };
            lines.push(lead);
        }
        if lines.len() >= want {
            break;
        }
    }
    if lines.is_empty() {
        lines.push(Line::styled("No messages yet.", t.style(Role::Dim)));
    }
    // `lines` runs from the bottom up; `scroll` lines of it are below the view.
    let from = scroll.min(lines.len().saturating_sub(1));
    let to = (from + inner.height as usize).min(lines.len());
    let shown: Vec<Line> = lines[from..to].iter().rev().cloned().collect();
    f.render_widget(Paragraph::new(shown).style(t.style(Role::Base)), inner);
}
