//! Screenshots without a terminal: a ratatui `Buffer` (from `TestBackend`) rendered to a
//! standalone SVG, through ANSI-styled text and anstyle-svg.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Effects};
use ratatui::buffer::{Buffer, Cell, CellWidth as _};
use ratatui::style::{Color, Modifier};

/// The dark theme's text colour, used where a cell says `Color::Reset`.
pub const DARK_FG: Color = Color::Rgb(0xc0, 0xca, 0xf5);
/// The dark theme's background colour, used where a cell says `Color::Reset`.
pub const DARK_BG: Color = Color::Rgb(0x1a, 0x1b, 0x26);

/// Renders `buf` as an SVG on the dark theme's default colours.
pub fn buffer_to_svg(buf: &Buffer) -> String {
    buffer_to_svg_with(buf, DARK_FG, DARK_BG)
}

/// Renders `buf` as an SVG; cells with `Color::Reset` take `default_fg` / `default_bg`
/// (themselves falling back to the dark defaults when `Reset`).
pub fn buffer_to_svg_with(buf: &Buffer, default_fg: Color, default_bg: Color) -> String {
    let fg = to_anstyle(default_fg).or(to_anstyle(DARK_FG));
    let bg = to_anstyle(default_bg).or(to_anstyle(DARK_BG));
    let defaults = (fg, bg);
    let ansi = buffer_to_ansi(buf, defaults);
    let mut term = anstyle_svg::Term::new();
    if let Some(fg) = fg {
        term = term.fg_color(fg);
    }
    if let Some(bg) = bg {
        term = term.bg_color(bg);
    }
    term.render_svg(&ansi)
}

type Defaults = (Option<anstyle::Color>, Option<anstyle::Color>);

fn buffer_to_ansi(buf: &Buffer, defaults: Defaults) -> String {
    let area = buf.area;
    let rows: Vec<String> = (area.top()..area.bottom())
        .map(|y| row_to_ansi(buf, y, defaults))
        .collect();
    rows.join("\n")
}

/// One row as ANSI text; the cells a wide character covers are left out so the columns
/// after it stay where they are.
fn row_to_ansi(buf: &Buffer, y: u16, defaults: Defaults) -> String {
    let area = buf.area;
    let mut out = String::new();
    let mut current = anstyle::Style::new();
    let mut covered: u16 = 0;
    for x in area.left()..area.right() {
        let cell = &buf[(x, y)];
        if covered > 0 {
            covered -= 1;
            continue;
        }
        covered = cell.cell_width().saturating_sub(1);
        let style = cell_style(cell, defaults);
        if style != current {
            let _ = write!(out, "{}{}", current.render_reset(), style.render());
            current = style;
        }
        out.push_str(&printable(cell.symbol()));
    }
    let _ = write!(out, "{}", current.render_reset());
    out
}

/// A cell's symbol without control characters (which would be read as escapes), and
/// never empty (an empty cell still takes its column). `&`, `<` and `>` become lookalikes:
/// anstyle-svg measures a background run after escaping it (`&amp;` counts 5 cells), so
/// a row holding one drew its backgrounds shifted to the right.
fn printable(symbol: &str) -> String {
    let clean: String = symbol
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| match c {
            '&' => '+',
            '<' => '‹',
            '>' => '›',
            c => c,
        })
        .collect();
    if clean.cell_width() == 0 {
        " ".to_string()
    } else {
        clean
    }
}

fn cell_style(cell: &Cell, (default_fg, default_bg): Defaults) -> anstyle::Style {
    let mut fg = to_anstyle(cell.fg);
    let mut bg = to_anstyle(cell.bg);
    // Swapped here rather than left to anstyle-svg, so `Reset` swaps with the defaults.
    if cell.modifier.contains(Modifier::REVERSED) {
        (fg, bg) = (bg.or(default_bg), fg.or(default_fg));
    }
    anstyle::Style::new()
        .fg_color(fg)
        .bg_color(bg)
        .underline_color(to_anstyle(cell.underline_color))
        .effects(effects(cell.modifier))
}

fn effects(modifier: Modifier) -> Effects {
    const MAP: [(Modifier, Effects); 8] = [
        (Modifier::BOLD, Effects::BOLD),
        (Modifier::DIM, Effects::DIMMED),
        (Modifier::ITALIC, Effects::ITALIC),
        (Modifier::UNDERLINED, Effects::UNDERLINE),
        (Modifier::SLOW_BLINK, Effects::BLINK),
        (Modifier::RAPID_BLINK, Effects::BLINK),
        (Modifier::HIDDEN, Effects::HIDDEN),
        (Modifier::CROSSED_OUT, Effects::STRIKETHROUGH),
    ];
    MAP.iter()
        .filter(|(m, _)| modifier.contains(*m))
        .fold(Effects::new(), |acc, (_, e)| acc | *e)
}

/// `None` for `Reset`: the terminal's default.
fn to_anstyle(color: Color) -> Option<anstyle::Color> {
    let ansi = |c: AnsiColor| Some(anstyle::Color::Ansi(c));
    match color {
        Color::Reset => None,
        Color::Black => ansi(AnsiColor::Black),
        Color::Red => ansi(AnsiColor::Red),
        Color::Green => ansi(AnsiColor::Green),
        Color::Yellow => ansi(AnsiColor::Yellow),
        Color::Blue => ansi(AnsiColor::Blue),
        Color::Magenta => ansi(AnsiColor::Magenta),
        Color::Cyan => ansi(AnsiColor::Cyan),
        Color::Gray => ansi(AnsiColor::White),
        Color::DarkGray => ansi(AnsiColor::BrightBlack),
        Color::LightRed => ansi(AnsiColor::BrightRed),
        Color::LightGreen => ansi(AnsiColor::BrightGreen),
        Color::LightYellow => ansi(AnsiColor::BrightYellow),
        Color::LightBlue => ansi(AnsiColor::BrightBlue),
        Color::LightMagenta => ansi(AnsiColor::BrightMagenta),
        Color::LightCyan => ansi(AnsiColor::BrightCyan),
        Color::White => ansi(AnsiColor::BrightWhite),
        Color::Indexed(n) => Some(anstyle::Ansi256Color(n).into()),
        Color::Rgb(r, g, b) => Some(anstyle::RgbColor(r, g, b).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::theme::{ColorDepth, Role, Theme};
    use ratatui::layout::Rect;
    use ratatui::style::Style;

    fn buffer(width: u16, height: u16) -> Buffer {
        Buffer::empty(Rect::new(0, 0, width, height))
    }

    #[test]
    fn output_is_an_svg_with_the_text_and_its_colour() {
        let mut buf = buffer(20, 2);
        buf.set_string(
            0,
            0,
            "in flight 42",
            Style::new().fg(Color::Rgb(0xab, 0xcd, 0xef)),
        );
        buf.set_string(0, 1, "breached", Style::new().bg(Color::Indexed(196)));
        let svg = buffer_to_svg(&buf);
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("in flight 42") && svg.contains("breached"));
        assert!(svg.contains(".fg-rgb-ABCDEF { fill: #ABCDEF }"), "{svg}");
        assert!(svg.contains("bg-ansi256-196"), "{svg}");
    }

    #[test]
    fn reset_uses_the_given_defaults() {
        let mut buf = buffer(4, 1);
        buf.set_string(0, 0, "ok", Style::new());
        let svg = buffer_to_svg_with(&buf, Color::Rgb(1, 2, 3), Color::Rgb(4, 5, 6));
        assert!(svg.contains(".fg { fill: #010203 }"), "{svg}");
        assert!(svg.contains(".bg { fill: #040506 }"), "{svg}");
        let dark = buffer_to_svg(&buf);
        assert!(dark.contains(".bg { fill: #1A1B26 }"), "{dark}");
    }

    #[test]
    fn reversed_cell_swaps_fg_and_bg() {
        let mut buf = buffer(4, 1);
        let style = Style::new()
            .fg(Color::Rgb(0xff, 0, 0))
            .bg(Color::Rgb(0, 0, 0xff))
            .add_modifier(Modifier::REVERSED);
        buf.set_string(0, 0, "sel", style);
        let svg = buffer_to_svg(&buf);
        assert!(
            svg.contains(r#"<tspan class="fg-rgb-0000FF">sel</tspan>"#),
            "{svg}"
        );
        assert!(svg.contains(r#"<tspan class="bg-rgb-FF0000">"#), "{svg}");
        assert!(!svg.contains("fg-rgb-FF0000"), "{svg}");
    }

    #[test]
    fn reversed_reset_cell_swaps_the_defaults() {
        let mut buf = buffer(3, 1);
        buf.set_string(0, 0, "sel", Style::new().add_modifier(Modifier::REVERSED));
        let svg = buffer_to_svg(&buf);
        assert!(
            svg.contains(r#"<tspan class="fg-rgb-1A1B26">sel</tspan>"#),
            "{svg}"
        );
        assert!(svg.contains(r#"<tspan class="bg-rgb-C0CAF5">"#), "{svg}");
    }

    #[test]
    fn modifiers_and_named_colours_come_through() {
        let mut buf = buffer(12, 1);
        let style = Style::new()
            .fg(Color::LightRed)
            .add_modifier(Modifier::BOLD | Modifier::ITALIC | Modifier::UNDERLINED);
        buf.set_string(0, 0, "incident", style);
        let svg = buffer_to_svg(&buf);
        let class = r#"class="fg-bright-red underline bold italic">incident"#;
        assert!(svg.contains(class), "{svg}");
        assert!(svg.contains(".bold { font-weight: bold; }"), "{svg}");
    }

    #[test]
    fn wide_characters_do_not_shift_columns() {
        // 2 + 2 + 1 + 1 + 2 + 1 columns: exactly the width, so a shift would cut off the '|'
        let mut buf = buffer(9, 1);
        buf.set_string(0, 0, "日本ab🦀|", Style::new());
        let svg = buffer_to_svg(&buf);
        assert!(svg.contains("日本ab🦀|</tspan>"), "{svg}");
    }

    #[test]
    fn markup_in_the_buffer_never_reaches_the_svg_and_keeps_backgrounds_aligned() {
        let mut buf = buffer(8, 1);
        buf.set_string(0, 0, "<a&b>", Style::new());
        buf.set_string(5, 0, "X", Style::new().bg(Color::Red));
        let svg = buffer_to_svg(&buf);
        assert!(svg.contains("‹a+b›"), "{svg}");
        assert!(!svg.contains("<a&b>") && !svg.contains("&amp;"), "{svg}");
        assert!(
            svg.contains("<tspan>     </tspan><tspan class=\"bg-red\">█</tspan>"),
            "five cells, then the red one: {svg}"
        );
    }

    #[test]
    fn dark_defaults_match_the_dark_theme() {
        let dark = Theme::builtin("dark", ColorDepth::TrueColor).map(|t| t.style(Role::Base));
        let expected = Style::new().fg(DARK_FG).bg(DARK_BG);
        assert_eq!(dark, Some(expected));
    }
}
