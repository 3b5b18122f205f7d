//! The decision form dialog: one row per field (required ones marked, choices shown for
//! enums and booleans), a comment row, the last refusal, and the keys.

use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::overlay::{centered, dialog};
use crate::console::app::App;
use crate::console::app::form::FormDialog;
use crate::console::theme::Role;
use crate::text::clip;
use crate::types::form::FieldType;

const WIDTH: u16 = 72;
/// Characters of the label column.
const LABEL: usize = 18;

pub fn draw(f: &mut Frame, app: &App, area: Rect, d: &FormDialog) {
    let t = &app.theme;
    let dim = t.style(Role::Dim);
    let mut lines = Vec::new();
    let title = match d.confidence {
        Some(c) => {
            lines.push(Line::from(vec![
                Span::styled("agent confidence ", dim),
                Span::styled(format!("{:.0}%", c * 100.0), t.style(Role::SlaWarning)),
                Span::styled("  · accept as proposed, or correct a field first", dim),
            ]));
            lines.push(Line::default());
            format!("Review task {}: {}", d.task, d.decision)
        }
        None => format!("Task {}: {}", d.task, d.decision),
    };
    let value_w = WIDTH as usize - 4 - LABEL - 3;
    let mut cursor = None;
    for (k, field) in d.fields.iter().enumerate() {
        let mark = if field.required { "*" } else { " " };
        let label = format!(
            "{mark}{:<w$} ",
            clip(field.title(), LABEL - 1),
            w = LABEL - 1
        );
        let input = &d.inputs[k];
        let focused = k == d.focus;
        let value = match field.kind {
            FieldType::Enum | FieldType::Boolean if focused => format!("‹ {} ›", input.text),
            _ => input.text.clone(),
        };
        let kind = match field.kind {
            FieldType::Enum => field.options.join(" / "),
            other => other.name().to_string(),
        };
        let style = if focused {
            t.style(Role::Selected)
        } else {
            t.style(Role::Base)
        };
        lines.push(Line::from(vec![
            Span::styled(
                label,
                if field.required {
                    t.style(Role::Key)
                } else {
                    dim
                },
            ),
            Span::styled(format!("{:<value_w$}", clip(&value, value_w)), style),
        ]));
        lines.push(Line::from(Span::styled(
            format!("{:LABEL$} {}", "", clip(&kind, value_w)),
            dim,
        )));
        if focused && !matches!(field.kind, FieldType::Enum | FieldType::Boolean) {
            cursor = Some((lines.len() - 2, LABEL + input.cursor));
        }
    }
    let comment = d.comment();
    let on_comment = d.focus == d.fields.len();
    lines.push(Line::from(vec![
        Span::styled(format!(" {:<w$} ", "comment", w = LABEL - 1), dim),
        Span::styled(
            format!("{:<value_w$}", clip(&comment.text, value_w)),
            if on_comment {
                t.style(Role::Selected)
            } else {
                t.style(Role::Base)
            },
        ),
    ]));
    if on_comment {
        cursor = Some((lines.len() - 1, LABEL + comment.cursor));
    }
    lines.push(Line::default());
    if let Some(e) = &d.error {
        lines.push(Line::from(Span::styled(
            format!("✗ {e}"),
            t.style(Role::ToastError),
        )));
    }
    let key = |k: &'static str| Span::styled(k, t.style(Role::Key));
    lines.push(Line::from(vec![
        key("Tab"),
        Span::styled("/", dim),
        key("↑↓"),
        Span::raw(" field   "),
        key("←→"),
        Span::raw(" choose   "),
        key("Enter"),
        Span::raw(format!(" {}   ", d.decision)),
        key("Esc"),
        Span::raw(" cancel   "),
        Span::styled("* required", dim),
    ]));
    let rows = lines.len() as u16 + 2;
    let r = centered(area, WIDTH, rows);
    f.render_widget(Clear, r);
    let p = Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .block(dialog(app, &title).padding(ratatui::widgets::Padding::horizontal(1)));
    f.render_widget(p, r);
    if let Some((row, col)) = cursor {
        let x = (r.x + 2 + col as u16).min(r.right().saturating_sub(2));
        let y = (r.y + 1 + row as u16).min(r.bottom().saturating_sub(2));
        f.set_cursor_position(Position::new(x, y));
    }
}

/// `cost_centre*, note`: a form's fields, required ones starred.
pub fn field_names(form: &[crate::types::form::FormField]) -> String {
    let names: Vec<String> = form
        .iter()
        .map(|f| format!("{}{}", f.name, if f.required { "*" } else { "" }))
        .collect();
    names.join(", ")
}
