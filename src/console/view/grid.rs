//! The panes' tables, drawn straight into the frame's buffer: a header, rows of one
//! line per cell at fixed column widths, and the cursor's row highlighted. It draws
//! what ratatui's `Table` draws for such rows, without the layout solver and with
//! plain ASCII written cell by cell, which is most of a frame with 100,000 items.

use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Rect};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Block, Widget};

use super::fit::SPACING;

/// A table whose column widths are already known (0: the column is left out).
pub struct Grid<'a> {
    widths: Vec<u16>,
    head: Option<(Vec<Line<'a>>, Style)>,
    rows: Vec<(Vec<Line<'a>>, Style)>,
    highlight: Style,
    block: Option<Block<'a>>,
}

impl<'a> Grid<'a> {
    /// Rows of cells, one per column of `widths` (a column of width 0 is skipped, and
    /// its cell with it).
    pub fn new(widths: Vec<u16>, rows: Vec<(Vec<Line<'a>>, Style)>) -> Grid<'a> {
        Grid {
            widths,
            head: None,
            rows,
            highlight: Style::default(),
            block: None,
        }
    }

    pub fn header(self, cells: Vec<Line<'a>>, style: Style) -> Grid<'a> {
        Grid {
            head: Some((cells, style)),
            ..self
        }
    }

    pub fn block(self, block: Block<'a>) -> Grid<'a> {
        Grid {
            block: Some(block),
            ..self
        }
    }

    /// The style laid over the selected row, after its cells are drawn.
    pub fn highlight(self, style: Style) -> Grid<'a> {
        Grid {
            highlight: style,
            ..self
        }
    }

    /// Draw into `area`, the row at `selected` (counted from the first row, not the
    /// header) highlighted.
    pub fn render(self, area: Rect, buf: &mut Buffer, selected: Option<usize>) {
        let inner = match &self.block {
            Some(b) => {
                let inner = b.inner(area);
                b.render(area, buf);
                inner
            }
            None => area,
        };
        let inner = inner.intersection(buf.area);
        if inner.is_empty() {
            return;
        }
        let mut y = inner.y;
        if let Some((cells, style)) = &self.head {
            self.row(buf, inner, y, cells, *style);
            y += 1;
        }
        for (k, (cells, style)) in self.rows.iter().enumerate() {
            if y >= inner.bottom() {
                break;
            }
            self.row(buf, inner, y, cells, *style);
            if selected == Some(k) {
                buf.set_style(
                    Rect {
                        y,
                        height: 1,
                        ..inner
                    },
                    self.highlight,
                );
            }
            y += 1;
        }
    }

    fn row(&self, buf: &mut Buffer, inner: Rect, y: u16, cells: &[Line], style: Style) {
        if style != Style::default() {
            buf.set_style(
                Rect {
                    y,
                    height: 1,
                    ..inner
                },
                style,
            );
        }
        let mut x = inner.x;
        let shown = self.widths.iter().zip(cells).filter(|(w, _)| **w > 0);
        for (&w, line) in shown {
            if x >= inner.right() {
                break;
            }
            let width = w.min(inner.right() - x);
            put(buf, Rect::new(x, y, width, 1), line);
            x = x.saturating_add(w).saturating_add(SPACING);
        }
    }
}

/// One cell's line in `area` (one row, inside the buffer): printable ASCII that fits
/// is written cell by cell; anything else (wide or combining characters, a line
/// that must be cut) goes through ratatui's own line rendering.
fn put(buf: &mut Buffer, area: Rect, line: &Line) {
    let plain = line
        .spans
        .iter()
        .all(|s| s.content.bytes().all(|b| (b' '..=b'~').contains(&b)));
    let width: usize = line.spans.iter().map(|s| s.content.len()).sum();
    if !plain || width > usize::from(area.width) {
        line.render(area, buf);
        return;
    }
    if width == 0 {
        return;
    }
    if line.style != Style::default() {
        buf.set_style(area, line.style);
    }
    let indent = match line.alignment {
        Some(Alignment::Right) => area.width as usize - width,
        Some(Alignment::Center) => (area.width as usize - width) / 2,
        Some(Alignment::Left) | None => 0,
    };
    let row = usize::from(area.y - buf.area.y) * usize::from(buf.area.width);
    let mut at = row + usize::from(area.x - buf.area.x) + indent;
    for span in &line.spans {
        for b in span.content.bytes() {
            buf.content[at]
                .set_char(char::from(b))
                .set_style(span.style);
            at += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use ratatui::layout::Constraint;
    use ratatui::style::{Color, Modifier};
    use ratatui::text::Span;
    use ratatui::widgets::{Borders, Cell, Row, StatefulWidget, Table, TableState};

    use super::*;

    fn lines(texts: &[Line<'static>]) -> Vec<Line<'static>> {
        texts.to_vec()
    }

    /// The grid draws exactly what ratatui's table draws for the same rows.
    #[test]
    fn draws_what_a_table_of_the_same_rows_draws() {
        let widths = vec![3, 0, 7, 6, 9];
        let red = Style::new().fg(Color::Red);
        let rows: Vec<(Vec<Line<'static>>, Style)> = vec![
            (
                lines(&[
                    Line::from("12"),
                    Line::from("gone"),
                    Line::from(Span::styled("running", red)),
                    Line::from(vec![Span::styled("▲ ", red), Span::raw("4:05")]).right_aligned(),
                    Line::from("Nordwind Logistics GmbH"),
                ]),
                Style::default(),
            ),
            (
                lines(&[
                    Line::from("7"),
                    Line::from("x"),
                    Line::from("wait"),
                    Line::from("1h02m").right_aligned(),
                    Line::from("Zoë Ünal 日本"),
                ]),
                Style::new().add_modifier(Modifier::BOLD),
            ),
            (
                lines(&[
                    Line::from("9"),
                    Line::from(""),
                    Line::from("").style(red),
                    Line::from("x").centered(),
                    Line::from("tab\there"),
                ]),
                Style::new().bg(Color::Blue),
            ),
        ];
        let head = lines(&[
            Line::from("ID"),
            Line::from("NOPE"),
            Line::from("STATUS"),
            Line::from("SLA"),
            Line::from("TITLE"),
        ]);
        let area = Rect::new(0, 0, 30, 6);
        let block = || Block::new().borders(Borders::ALL).title(" t ");
        for selected in [None, Some(0), Some(2)] {
            let mut ours = Buffer::empty(area);
            Grid::new(widths.clone(), rows.clone())
                .header(head.clone(), Style::new().dim())
                .block(block())
                .highlight(Style::new().reversed())
                .render(area, &mut ours, selected);

            let keep = |cells: &[Line<'static>]| -> Vec<Cell<'static>> {
                cells
                    .iter()
                    .zip(&widths)
                    .filter(|(_, w)| **w > 0)
                    .map(|(c, _)| Cell::from(c.clone()))
                    .collect()
            };
            let constraints: Vec<Constraint> = widths
                .iter()
                .filter(|w| **w > 0)
                .map(|w| Constraint::Length(*w))
                .collect();
            let table = Table::new(
                rows.iter().map(|(c, s)| Row::new(keep(c)).style(*s)),
                constraints,
            )
            .header(Row::new(keep(&head)).style(Style::new().dim()))
            .column_spacing(SPACING)
            .block(block())
            .row_highlight_style(Style::new().reversed());
            let mut theirs = Buffer::empty(area);
            let mut state = TableState::default().with_selected(selected);
            StatefulWidget::render(table, area, &mut theirs, &mut state);
            assert_eq!(ours, theirs, "selected {selected:?}");
        }
    }

    #[test]
    fn a_row_past_the_bottom_or_a_column_past_the_edge_is_left_out() {
        let area = Rect::new(2, 1, 6, 2);
        let mut buf = Buffer::empty(Rect::new(0, 0, 10, 4));
        let rows = (0..5)
            .map(|k| {
                (
                    vec![Line::from(k.to_string()), Line::from("abcdef")],
                    Style::default(),
                )
            })
            .collect();
        Grid::new(vec![1, 9], rows).render(area, &mut buf, Some(4));
        assert_eq!(
            buf,
            Buffer::with_lines(["          ", "  0 abcd  ", "  1 abcd  ", "          "])
        );
    }
}
