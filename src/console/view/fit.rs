//! Column widths that follow the content and the terminal: each column is as wide as
//! its header and its visible cells need (within bounds); optional columns leave when
//! even the narrowest layout does not fit, the widest columns give way first, and room
//! to spare goes to the columns that fill (titles). Only the rows on screen are measured.

use ratatui::style::Style;
use ratatui::text::Line;

use super::grid::Grid;

/// Space between columns.
pub const SPACING: u16 = 1;

/// How one column may be sized.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Col {
    /// Never narrower than this while shown (`None`: as wide as its content, never cut).
    pub min: Option<u16>,
    pub max: u16,
    /// Takes the room left over.
    pub fill: bool,
    /// Left out when there is no room, lowest first; 0 never.
    pub drop: u8,
    /// Gives way half as readily as the others (names: the business key and the title
    /// are what tell rows apart).
    pub keeps_room: bool,
    /// Cut in the middle (`INV-20…02041`): both ends of a key tell keys apart.
    pub middle: bool,
    /// At least this wide while shown: a countdown that grows a digit as it ticks
    /// (`9:59` to `-10:00`) must not move every column beside it, resending each row.
    pub floor: u16,
}

impl Col {
    /// As wide as its content, never cut, never left out.
    pub const fn whole() -> Col {
        Col {
            min: None,
            max: u16::MAX,
            fill: false,
            drop: 0,
            keeps_room: false,
            middle: false,
            floor: 0,
        }
    }

    /// As wide as its content up to `max`, cut down to `min` (ending in `…`) when room
    /// is short.
    pub const fn cut(min: u16, max: u16) -> Col {
        Col {
            min: Some(min),
            max,
            fill: false,
            drop: 0,
            keeps_room: false,
            middle: false,
            floor: 0,
        }
    }

    /// A countdown: as wide as its widest usual value (`✖ -23h59m` with its mark), so
    /// it never changes width as it ticks.
    pub const fn countdown(marked: bool) -> Col {
        Col {
            floor: if marked { 9 } else { 7 },
            ..Col::whole()
        }
    }

    /// A business key: gives way half as readily, and is cut in the middle.
    pub const fn key(min: u16, max: u16) -> Col {
        Col {
            keeps_room: true,
            middle: true,
            ..Col::cut(min, max)
        }
    }

    pub const fn keeps_room(self) -> Col {
        Col {
            keeps_room: true,
            ..self
        }
    }

    pub const fn fill(self) -> Col {
        Col { fill: true, ..self }
    }

    pub const fn drop(self, rank: u8) -> Col {
        Col { drop: rank, ..self }
    }

    /// Left out altogether unless `shown` (a key column when no row on screen has one).
    pub const fn shown_if(self, shown: bool) -> Col {
        if shown { self } else { Col { max: 0, ..self } }
    }
}

/// The width of each column (0 for one left out) in `avail` cells, given what each
/// column's content needs (`want`, header included).
pub fn widths(cols: &[Col], want: &[u16], avail: u16) -> Vec<u16> {
    let n = cols.len();
    let want: Vec<u16> = (0..n)
        .map(|i| match want.get(i).copied().unwrap_or(0) {
            0 => 0,
            w => w.max(cols[i].floor).min(cols[i].max),
        })
        .collect();
    let min = |i: usize| cols[i].min.map_or(want[i], |m| m.min(want[i]));
    let mut shown: Vec<bool> = want.iter().map(|w| *w > 0).collect();
    let total = |w: &dyn Fn(usize) -> u16, shown: &[bool]| -> u32 {
        let on: Vec<usize> = (0..n).filter(|&i| shown[i]).collect();
        let cells: u32 = on.iter().map(|&i| u32::from(w(i))).sum();
        cells + u32::from(SPACING) * on.len().saturating_sub(1) as u32
    };
    // Leave out optional columns while even their narrowest layout does not fit.
    while total(&min, &shown) > u32::from(avail) {
        let next = (0..n)
            .filter(|&i| shown[i] && cols[i].drop > 0)
            .min_by_key(|&i| (cols[i].drop, std::cmp::Reverse(i)));
        match next {
            Some(i) => shown[i] = false,
            None => break,
        }
    }
    let mut w: Vec<u16> = (0..n).map(|i| if shown[i] { want[i] } else { 0 }).collect();
    // The widest column that may still give way gives one cell, until it fits; names
    // count half their width, so they end up about twice as wide as the rest.
    let mut over = total(&|i| w[i], &shown).saturating_sub(u32::from(avail));
    let weighed = |i: usize, w: u16| u32::from(w) * if cols[i].keeps_room { 1 } else { 2 };
    while over > 0 {
        let widest = (0..n)
            .filter(|&i| shown[i] && w[i] > min(i))
            .max_by_key(|&i| (weighed(i, w[i]), cols[i].fill, i));
        let Some(i) = widest else { break };
        w[i] -= 1;
        over -= 1;
    }
    // Still too wide (a narrow pane): columns that may be cut go below their minimum,
    // widest first, rather than past the pane's edge where they would end without a `…`.
    while over > 0 {
        let widest = (0..n)
            .filter(|&i| shown[i] && cols[i].min.is_some() && w[i] > 1)
            .max_by_key(|&i| (weighed(i, w[i]), cols[i].fill, i));
        let Some(i) = widest else { break };
        w[i] -= 1;
        over -= 1;
    }
    let spare = u32::from(avail).saturating_sub(total(&|i| w[i], &shown));
    let fills: Vec<usize> = (0..n).filter(|&i| shown[i] && cols[i].fill).collect();
    if let Some((&last, rest)) = fills.split_last() {
        let each = spare / fills.len() as u32;
        for &i in rest {
            w[i] = w[i].saturating_add(each as u16);
        }
        let left = spare - each * rest.len() as u32;
        w[last] = w[last].saturating_add(left.min(u32::from(u16::MAX)) as u16);
    }
    w
}

/// A table of these header and row cells, its columns fitted to `avail` cells: columns
/// left out are left out of every row (they cost no spacing).
pub fn table<'a>(
    cols: &[Col],
    head: Vec<Line<'a>>,
    head_style: Style,
    rows: Vec<(Vec<Line<'a>>, Style)>,
    avail: u16,
) -> Grid<'a> {
    let mut want: Vec<u16> = head.iter().map(|l| l.width() as u16).collect();
    for (cells, _) in &rows {
        for (w, cell) in want.iter_mut().zip(cells) {
            *w = (*w).max(cell.width().min(usize::from(u16::MAX)) as u16);
        }
    }
    let w = widths(cols, &want, avail);
    let cut = |cells: Vec<Line<'a>>| -> Vec<Line<'a>> {
        cells
            .into_iter()
            .enumerate()
            .map(|(i, c)| match (cols.get(i), w.get(i)) {
                (Some(col), Some(&w)) if col.min.is_some() && w > 0 => ellipsis(c, w, col.middle),
                _ => c,
            })
            .collect()
    };
    let rows = rows
        .into_iter()
        .map(|(cells, style)| (cut(cells), style))
        .collect();
    let head = cut(head);
    Grid::new(w, rows).header(head, head_style)
}

/// A line cut to `width` cells with a `…` at the end (or in the `middle`), in the style
/// of its first span, so a cut key or title never passes for a whole one.
fn ellipsis(line: Line<'_>, width: u16, middle: bool) -> Line<'_> {
    let width = usize::from(width);
    if line.width() <= width || width == 0 {
        return line;
    }
    let style = line.spans.first().map_or(line.style, |s| s.style);
    let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
    // The cells each end keeps, the `…` taking one.
    let (head, tail) = match middle {
        true => (width / 2, (width - 1) - width / 2),
        false => (width - 1, 0),
    };
    let start = take(text.chars(), head);
    let end: String = take(text.chars().rev(), tail).chars().rev().collect();
    Line::from(ratatui::text::Span::styled(format!("{start}…{end}"), style))
        .alignment(line.alignment.unwrap_or_default())
}

/// The chars of `chars` that fit in `room` cells.
fn take(chars: impl Iterator<Item = char>, room: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    let mut out = String::new();
    let mut used = 0;
    for c in chars {
        let cw = c.width().unwrap_or(0);
        if used + cw > room {
            break;
        }
        out.push(c);
        used += cw;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: Col = Col::whole();
    const TITLE: Col = Col::cut(10, u16::MAX).fill();
    const STEP: Col = Col::cut(6, 24);
    const AGE: Col = Col::whole().drop(1);

    #[test]
    fn columns_take_what_their_content_needs_and_titles_the_rest() {
        // `approve` needs 7 cells, not the half of the screen it used to get.
        let w = widths(&[ID, STEP, TITLE, AGE], &[3, 7, 20, 3], 100);
        assert_eq!(w, [3, 7, 84, 3]);
        assert_eq!(w.iter().sum::<u16>() + 3 * SPACING, 100);
        assert_eq!(
            widths(&[ID, STEP], &[3, 50], 100),
            [3, 24],
            "a step has a cap"
        );
    }

    #[test]
    fn a_countdown_keeps_its_width_as_it_ticks() {
        let sla = Col::countdown(true);
        for clock in ["4:05", "9:59", "✖ -10:00", "▲ 23h59m"] {
            let w = widths(
                &[ID, TITLE, sla],
                &[3, 20, clock.chars().count() as u16],
                60,
            );
            assert_eq!(w, [3, 46, 9], "{clock}");
        }
        assert_eq!(
            widths(&[ID, sla], &[3, 0], 60)[1],
            0,
            "nothing to show: left out"
        );
    }

    #[test]
    fn names_give_way_half_as_readily() {
        let key = Col::cut(10, 32).keeps_room();
        let w = widths(&[ID, STEP, key, TITLE.keeps_room()], &[3, 20, 14, 30], 50);
        assert_eq!(w, [3, 10, 14, 20], "the step gives way twice as fast");
        let cut = ellipsis(Line::from("Nordwind Logistics GmbH"), 10, false);
        assert_eq!(cut.to_string(), "Nordwind …");
        let key = ellipsis(Line::from("INV-2026-09386"), 11, true);
        assert_eq!(key.to_string(), "INV-2…09386", "both ends of a key stay");
        assert_eq!(
            ellipsis(Line::from("approve"), 7, false).to_string(),
            "approve"
        );
    }

    #[test]
    fn the_widest_gives_way_first_then_optional_columns_leave() {
        let w = widths(&[ID, STEP, TITLE, AGE], &[3, 20, 40, 3], 50);
        assert_eq!(
            w,
            [3, 20, 21, 3],
            "the title gives way before the step is cut"
        );
        let w = widths(&[ID, STEP, TITLE, AGE], &[3, 20, 40, 3], 30);
        assert_eq!(w, [3, 11, 10, 3], "then both, evenly");
        let w = widths(&[ID, STEP, TITLE, AGE], &[3, 20, 40, 3], 21);
        assert_eq!(
            w,
            [3, 6, 10, 0],
            "the age leaves before anything is cut below its min"
        );
        let w = widths(&[ID, STEP, TITLE], &[3, 20, 40], 12);
        assert_eq!(
            w,
            [3, 4, 3],
            "on a narrow pane what may be cut goes below its minimum, widest first"
        );
        let w = widths(&[ID, AGE, TITLE], &[3, 3, 40], 5);
        assert_eq!(w, [3, 0, 1], "what never leaves stays, even past the edge");
        assert_eq!(
            widths(&[ID, ID], &[3, 4], 5),
            [3, 4],
            "whole columns are never cut"
        );
    }
}
