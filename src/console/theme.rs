//! Colour themes: TOML files mapping each UI role to a style, reduced to what the terminal
//! can show (truecolor, 256, 16 colours or none at all).

use std::ops::Range;
use std::path::{Path, PathBuf};

use ratatui::style::{Color, Modifier, Style};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// What a piece of the screen is, so the theme can say how it looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Normal text on the background.
    Base,
    /// Secondary text.
    Dim,
    Border,
    BorderFocus,
    Title,
    /// The header bar.
    Header,
    HeaderValue,
    /// The cursor row.
    Selected,
    /// Rows marked for a bulk action.
    Marked,
    Running,
    Waiting,
    Incident,
    Compensating,
    Completed,
    Failed,
    Cancelled,
    SlaOk,
    SlaWarning,
    SlaCritical,
    SlaBreached,
    /// Key names in hints and help.
    Key,
    ToastOk,
    ToastError,
    Prompt,
    Accent,
    Sparkline,
}

impl Role {
    /// Every role, in declaration order.
    pub const ALL: [Role; 26] = [
        Role::Base,
        Role::Dim,
        Role::Border,
        Role::BorderFocus,
        Role::Title,
        Role::Header,
        Role::HeaderValue,
        Role::Selected,
        Role::Marked,
        Role::Running,
        Role::Waiting,
        Role::Incident,
        Role::Compensating,
        Role::Completed,
        Role::Failed,
        Role::Cancelled,
        Role::SlaOk,
        Role::SlaWarning,
        Role::SlaCritical,
        Role::SlaBreached,
        Role::Key,
        Role::ToastOk,
        Role::ToastError,
        Role::Prompt,
        Role::Accent,
        Role::Sparkline,
    ];

    /// The key used for this role in theme files.
    pub fn name(self) -> &'static str {
        match self {
            Role::Base => "base",
            Role::Dim => "dim",
            Role::Border => "border",
            Role::BorderFocus => "border_focus",
            Role::Title => "title",
            Role::Header => "header",
            Role::HeaderValue => "header_value",
            Role::Selected => "selected",
            Role::Marked => "marked",
            Role::Running => "running",
            Role::Waiting => "waiting",
            Role::Incident => "incident",
            Role::Compensating => "compensating",
            Role::Completed => "completed",
            Role::Failed => "failed",
            Role::Cancelled => "cancelled",
            Role::SlaOk => "sla_ok",
            Role::SlaWarning => "sla_warning",
            Role::SlaCritical => "sla_critical",
            Role::SlaBreached => "sla_breached",
            Role::Key => "key",
            Role::ToastOk => "toast_ok",
            Role::ToastError => "toast_error",
            Role::Prompt => "prompt",
            Role::Accent => "accent",
            Role::Sparkline => "sparkline",
        }
    }

    /// The role with this theme-file key.
    pub fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// How many colours the terminal can show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorDepth {
    TrueColor,
    Ansi256,
    Ansi16,
    /// No colour at all (`NO_COLOR`, dumb terminals): modifiers only.
    Mono,
}

impl ColorDepth {
    /// Reads the colour depth from the environment (`env` is a lookup such as
    /// `|k| std::env::var(k).ok()`).
    pub fn detect(env: impl Fn(&str) -> Option<String>) -> ColorDepth {
        if env("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            return ColorDepth::Mono;
        }
        let colorterm = env("COLORTERM").unwrap_or_default().to_ascii_lowercase();
        if colorterm == "truecolor" || colorterm == "24bit" {
            return ColorDepth::TrueColor;
        }
        let term = env("TERM").unwrap_or_default();
        if term.contains("256color") {
            ColorDepth::Ansi256
        } else if term == "dumb" {
            ColorDepth::Mono
        } else {
            ColorDepth::Ansi16
        }
    }
}

/// Why a theme could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error(
        "unknown theme {name:?}: the known themes are {known}; or give the path to a .toml file"
    )]
    UnknownTheme { name: String, known: String },
    #[error("{}: cannot read theme: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}:{col}: {message}")]
    Invalid {
        file: String,
        line: usize,
        col: usize,
        message: String,
    },
}

const BUILTIN: [(&str, &str); 5] = [
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    (
        "colour-blind-safe",
        include_str!("../../themes/colour-blind-safe.toml"),
    ),
    ("monochrome", include_str!("../../themes/monochrome.toml")),
];

const BUILTIN_NAMES: [&str; 5] = [
    BUILTIN[0].0,
    BUILTIN[1].0,
    BUILTIN[2].0,
    BUILTIN[3].0,
    BUILTIN[4].0,
];

/// The names of the themes compiled into the binary; the first is the default.
pub fn builtin_names() -> &'static [&'static str] {
    &BUILTIN_NAMES
}

/// The theme to use when the user chose none: without colour, the colour themes lose
/// what tells rows apart, so pick the one built from modifiers.
pub fn default_name(depth: ColorDepth) -> &'static str {
    match depth {
        ColorDepth::Mono => "monochrome",
        _ => "dark",
    }
}

/// A loaded theme: one style per role, already reduced to the colour depth.
#[derive(Clone, Debug, PartialEq)]
pub struct Theme {
    pub name: String,
    pub depth: ColorDepth,
    styles: [Style; Role::ALL.len()],
}

impl Theme {
    /// How `role` looks.
    pub fn style(&self, role: Role) -> Style {
        self.styles[role as usize]
    }

    /// A theme compiled into the binary, or `None` for an unknown name.
    pub fn builtin(name: &str, depth: ColorDepth) -> Option<Theme> {
        let (name, text) = BUILTIN.iter().find(|(n, _)| *n == name)?;
        Theme::from_toml(name, text, depth).ok()
    }

    /// Loads a theme by built-in name, by name from `user_dir` (`NAME.toml`, which wins over
    /// a built-in of the same name), or from a path to a `.toml` file.
    pub fn load(
        name_or_path: &str,
        depth: ColorDepth,
        user_dir: Option<&Path>,
    ) -> Result<Theme, ThemeError> {
        if looks_like_path(name_or_path) {
            return load_file(Path::new(name_or_path), depth);
        }
        if let Some(file) = user_dir.map(|d| d.join(format!("{name_or_path}.toml")))
            && file.is_file()
        {
            return load_file(&file, depth);
        }
        if let Some((name, text)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
            return Theme::from_toml(name, text, depth);
        }
        Err(ThemeError::UnknownTheme {
            name: name_or_path.to_string(),
            known: known_themes(user_dir),
        })
    }

    /// Parses a theme from TOML text; `name` names the theme and the source in errors.
    pub fn from_toml(name: &str, text: &str, depth: ColorDepth) -> Result<Theme, ThemeError> {
        parse_theme(name, name, text, depth)
    }
}

fn looks_like_path(s: &str) -> bool {
    s.ends_with(".toml") || s.contains(std::path::MAIN_SEPARATOR) || s.contains('/')
}

fn load_file(path: &Path, depth: ColorDepth) -> Result<Theme, ThemeError> {
    let text = std::fs::read_to_string(path).map_err(|source| ThemeError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let name = path.file_stem().map_or_else(
        || path.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    );
    parse_theme(&name, &path.display().to_string(), &text, depth)
}

fn known_themes(user_dir: Option<&Path>) -> String {
    let mut known = builtin_names().join(", ") + " (built in)";
    let Some(dir) = user_dir else { return known };
    let mut user: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    user.sort();
    if !user.is_empty() {
        known += &format!(" and {} (in {})", user.join(", "), dir.display());
    }
    known
}

/// Where in a file a problem is, for building errors.
struct Source<'a> {
    file: &'a str,
    text: &'a str,
}

impl Source<'_> {
    fn error(&self, span: Range<usize>, message: impl Into<String>) -> ThemeError {
        let (line, col) = line_col(self.text, span.start);
        ThemeError::Invalid {
            file: self.file.to_string(),
            line,
            col,
            message: message.into(),
        }
    }
}

fn parse_theme(name: &str, file: &str, text: &str, depth: ColorDepth) -> Result<Theme, ThemeError> {
    let src = Source { file, text };
    let doc = DeTable::parse(text).map_err(|e| {
        src.error(
            e.span().unwrap_or(0..0),
            format!("TOML syntax: {}", e.message().trim_end()),
        )
    })?;
    let roles = roles_table(&src, &doc)?;
    let mut styles: [Option<Style>; Role::ALL.len()] = [None; Role::ALL.len()];
    for (key, value) in sorted_entries(roles.get_ref()) {
        let role = Role::from_name(key.get_ref()).ok_or_else(|| {
            let hint = suggest(key.get_ref(), Role::ALL.iter().map(|r| r.name()));
            src.error(
                key.span(),
                format!("unknown role {:?}{hint}", key.get_ref()),
            )
        })?;
        styles[role as usize] = Some(parse_role(&src, role, value, depth)?);
    }
    let missing: Vec<&str> = Role::ALL
        .iter()
        .filter(|r| styles[**r as usize].is_none())
        .map(|r| r.name())
        .collect();
    if !missing.is_empty() {
        let message = format!(
            "missing role(s) in [roles]: {}; every role must be defined",
            missing.join(", ")
        );
        return Err(src.error(roles.span(), message));
    }
    Ok(Theme {
        name: name.to_string(),
        depth,
        styles: styles.map(Option::unwrap_or_default),
    })
}

fn roles_table<'t, 'i>(
    src: &Source,
    doc: &'t Spanned<DeTable<'i>>,
) -> Result<Spanned<&'t DeTable<'i>>, ThemeError> {
    if let Some((key, _)) = doc.get_ref().iter().find(|(k, _)| k.get_ref() != "roles") {
        let message = format!(
            "unknown section {:?}: a theme has only [roles]",
            key.get_ref()
        );
        return Err(src.error(key.span(), message));
    }
    let Some(roles) = doc.get_ref().get("roles") else {
        return Err(src.error(0..0, "no [roles] table: a theme maps each role to a style"));
    };
    match roles.get_ref() {
        DeValue::Table(t) => Ok(Spanned::new(roles.span(), t)),
        _ => Err(src.error(roles.span(), "roles must be a table: [roles]")),
    }
}

type Entry<'t, 'i> = (
    &'t Spanned<std::borrow::Cow<'i, str>>,
    &'t Spanned<DeValue<'i>>,
);

/// Table entries in file order, so the first problem in the file is the one reported.
pub(crate) fn sorted_entries<'t, 'i>(table: &'t DeTable<'i>) -> Vec<Entry<'t, 'i>> {
    let mut entries: Vec<Entry> = table.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    entries
}

fn parse_role(
    src: &Source,
    role: Role,
    value: &Spanned<DeValue>,
    depth: ColorDepth,
) -> Result<Style, ThemeError> {
    let DeValue::Table(table) = value.get_ref() else {
        let message = format!(
            "role {} must be a table like {{ fg = \"#c0caf5\", bg = \"#1a1b26\", modifiers = [\"bold\"] }}",
            role.name()
        );
        return Err(src.error(value.span(), message));
    };
    let mut style = Style::new();
    for (key, value) in sorted_entries(table) {
        style = match key.get_ref().as_ref() {
            "fg" => match map_depth(parse_color(src, value)?, depth) {
                Some(c) => style.fg(c),
                None => style,
            },
            "bg" => match map_depth(parse_color(src, value)?, depth) {
                Some(c) => style.bg(c),
                None => style,
            },
            "modifiers" => style.add_modifier(parse_modifiers(src, value)?),
            other => {
                let hint = suggest(other, ["fg", "bg", "modifiers"]);
                let message = format!(
                    "unknown field {other:?} in role {}: expected fg, bg or modifiers{hint}",
                    role.name()
                );
                return Err(src.error(key.span(), message));
            }
        };
    }
    Ok(style)
}

/// A colour as written in a theme file, before reducing it to the terminal's depth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ThemeColor {
    Rgb(u8, u8, u8),
    Named(Color),
}

const COLOR_NAMES: [(&str, Color); 17] = [
    ("reset", Color::Reset),
    ("black", Color::Black),
    ("red", Color::Red),
    ("green", Color::Green),
    ("yellow", Color::Yellow),
    ("blue", Color::Blue),
    ("magenta", Color::Magenta),
    ("cyan", Color::Cyan),
    ("white", Color::Gray),
    ("bright-black", Color::DarkGray),
    ("bright-red", Color::LightRed),
    ("bright-green", Color::LightGreen),
    ("bright-yellow", Color::LightYellow),
    ("bright-blue", Color::LightBlue),
    ("bright-magenta", Color::LightMagenta),
    ("bright-cyan", Color::LightCyan),
    ("bright-white", Color::White),
];

fn parse_color(src: &Source, value: &Spanned<DeValue>) -> Result<ThemeColor, ThemeError> {
    let text = value.get_ref().as_str();
    if let Some(color) = text.and_then(color_from_str) {
        return Ok(color);
    }
    let what = item_text(value);
    let names: Vec<&str> = COLOR_NAMES.iter().map(|(n, _)| *n).collect();
    let message = format!(
        "bad colour {what}: write \"#rrggbb\" or one of {}",
        names.join(", ")
    );
    Err(src.error(value.span(), message))
}

fn color_from_str(text: &str) -> Option<ThemeColor> {
    if let Some(hex) = text.strip_prefix('#') {
        return parse_hex(hex);
    }
    let name = text.to_ascii_lowercase().replace('_', "-");
    let name = if name == "default" { "reset" } else { &name };
    COLOR_NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, c)| ThemeColor::Named(*c))
}

fn parse_hex(hex: &str) -> Option<ThemeColor> {
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let channel = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some(ThemeColor::Rgb(channel(0)?, channel(2)?, channel(4)?))
}

const MODIFIERS: [(&str, Modifier); 5] = [
    ("bold", Modifier::BOLD),
    ("dim", Modifier::DIM),
    ("italic", Modifier::ITALIC),
    ("underlined", Modifier::UNDERLINED),
    ("reversed", Modifier::REVERSED),
];

fn parse_modifiers(src: &Source, value: &Spanned<DeValue>) -> Result<Modifier, ThemeError> {
    let DeValue::Array(items) = value.get_ref() else {
        let message = "modifiers must be a list like [\"bold\", \"underlined\"]";
        return Err(src.error(value.span(), message));
    };
    let mut modifier = Modifier::empty();
    for item in items {
        let name = item.get_ref().as_str().unwrap_or_default();
        let Some((_, m)) = MODIFIERS.iter().find(|(n, _)| *n == name) else {
            let hint = suggest(name, MODIFIERS.iter().map(|(n, _)| *n));
            let message = format!(
                "unknown modifier {}: expected bold, dim, italic, underlined or reversed{hint}",
                item_text(item)
            );
            return Err(src.error(item.span(), message));
        };
        modifier |= *m;
    }
    Ok(modifier)
}

fn item_text(item: &Spanned<DeValue>) -> String {
    match item.get_ref().as_str() {
        Some(s) => format!("{s:?}"),
        None => format!("(type {})", item.get_ref().type_str()),
    }
}

/// Reduces a theme colour to what the terminal shows; `None` means "no colour".
fn map_depth(color: ThemeColor, depth: ColorDepth) -> Option<Color> {
    match (color, depth) {
        (_, ColorDepth::Mono) => None,
        (ThemeColor::Named(c), _) => Some(c),
        (ThemeColor::Rgb(r, g, b), ColorDepth::TrueColor) => Some(Color::Rgb(r, g, b)),
        (ThemeColor::Rgb(r, g, b), ColorDepth::Ansi256) => {
            Some(Color::Indexed(nearest_256(r, g, b)))
        }
        (ThemeColor::Rgb(r, g, b), ColorDepth::Ansi16) => Some(nearest_16(r, g, b)),
    }
}

/// The channel levels of the xterm 6×6×6 colour cube (indices 16–231).
const CUBE_LEVELS: [u8; 6] = [0, 95, 135, 175, 215, 255];

fn distance(a: (u8, u8, u8), b: (u8, u8, u8)) -> u32 {
    let d = |x: u8, y: u8| (i32::from(x) - i32::from(y)).unsigned_abs().pow(2);
    d(a.0, b.0) + d(a.1, b.1) + d(a.2, b.2)
}

fn nearest_level(v: u8) -> usize {
    (0..CUBE_LEVELS.len())
        .min_by_key(|&i| (i32::from(CUBE_LEVELS[i]) - i32::from(v)).unsigned_abs())
        .unwrap_or(0)
}

/// The nearest xterm-256 index among the colour cube and the grey ramp (232–255); the
/// first 16 are left out because terminals redefine them.
pub fn nearest_256(r: u8, g: u8, b: u8) -> u8 {
    let (ri, gi, bi) = (nearest_level(r), nearest_level(g), nearest_level(b));
    let cube = (CUBE_LEVELS[ri], CUBE_LEVELS[gi], CUBE_LEVELS[bi]);
    let cube_index = 16 + 36 * ri + 6 * gi + bi;
    let avg = (u32::from(r) + u32::from(g) + u32::from(b)) / 3;
    let grey_step = (avg.saturating_sub(3) / 10).min(23);
    let grey = (8 + 10 * grey_step) as u8;
    let grey_index = 232 + grey_step as usize;
    let pick = if distance((grey, grey, grey), (r, g, b)) < distance(cube, (r, g, b)) {
        grey_index
    } else {
        cube_index
    };
    u8::try_from(pick).unwrap_or(u8::MAX)
}

/// xterm's default values for the 16 ANSI colours.
const ANSI16: [((u8, u8, u8), Color); 16] = [
    ((0, 0, 0), Color::Black),
    ((205, 0, 0), Color::Red),
    ((0, 205, 0), Color::Green),
    ((205, 205, 0), Color::Yellow),
    ((0, 0, 238), Color::Blue),
    ((205, 0, 205), Color::Magenta),
    ((0, 205, 205), Color::Cyan),
    ((229, 229, 229), Color::Gray),
    ((127, 127, 127), Color::DarkGray),
    ((255, 0, 0), Color::LightRed),
    ((0, 255, 0), Color::LightGreen),
    ((255, 255, 0), Color::LightYellow),
    ((92, 92, 255), Color::LightBlue),
    ((255, 0, 255), Color::LightMagenta),
    ((0, 255, 255), Color::LightCyan),
    ((255, 255, 255), Color::White),
];

/// The nearest of the 16 ANSI colours (by xterm's default palette).
pub fn nearest_16(r: u8, g: u8, b: u8) -> Color {
    ANSI16
        .iter()
        .min_by_key(|(rgb, _)| distance(*rgb, (r, g, b)))
        .map_or(Color::Reset, |(_, c)| *c)
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// `"; did you mean X?"` when some candidate is close to `word`, else `""`.
pub(crate) fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    let best = candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((d, c)) if d <= (word.chars().count() / 3).max(2) => {
            format!("; did you mean {c:?}?")
        }
        _ => String::new(),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != *cb);
            cur.push(substitute.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEPTHS: [ColorDepth; 4] = [
        ColorDepth::TrueColor,
        ColorDepth::Ansi256,
        ColorDepth::Ansi16,
        ColorDepth::Mono,
    ];

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    /// A theme file whose roles are all `{}` except the lines given.
    fn theme_text(extra: &str, skip: Option<Role>) -> String {
        let mut text = String::from("[roles]\n");
        text.push_str(extra);
        for role in Role::ALL.iter().filter(|r| Some(**r) != skip) {
            text.push_str(&format!("{} = {{}}\n", role.name()));
        }
        text
    }

    fn error_of(text: &str) -> String {
        match Theme::from_toml("broken.toml", text, ColorDepth::TrueColor) {
            Ok(_) => panic!("expected an error for:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn every_shipped_theme_loads_at_every_depth() {
        for name in builtin_names() {
            for depth in DEPTHS {
                let theme = Theme::builtin(name, depth);
                assert!(theme.is_some(), "{name} at {depth:?}");
            }
        }
    }

    #[test]
    fn every_shipped_file_defines_every_role_once() {
        for (name, text) in BUILTIN {
            for role in Role::ALL {
                let prefix = format!("\n{} ", role.name());
                assert_eq!(text.matches(&prefix).count(), 1, "{name}: {}", role.name());
            }
        }
    }

    #[test]
    fn shipped_files_on_disk_match_the_embedded_ones() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("themes");
        for name in builtin_names() {
            let path = dir.join(format!("{name}.toml"));
            let from_disk = Theme::load(&path.display().to_string(), ColorDepth::TrueColor, None);
            assert_eq!(from_disk.ok(), Theme::builtin(name, ColorDepth::TrueColor));
        }
    }

    #[test]
    fn dark_is_the_default_and_monochrome_without_colour() {
        assert_eq!(builtin_names()[0], "dark");
        assert_eq!(default_name(ColorDepth::Ansi16), "dark");
        assert_eq!(default_name(ColorDepth::Mono), "monochrome");
    }

    #[test]
    fn truecolor_keeps_hex_colours() -> Result<(), ThemeError> {
        let theme = Theme::from_toml("t", &theme_text("", None), ColorDepth::TrueColor)?;
        assert_eq!(theme.style(Role::Base), Style::new());
        let dark = Theme::builtin("dark", ColorDepth::TrueColor).unwrap_or_else(|| unreachable!());
        assert_eq!(
            dark.style(Role::Base).bg,
            Some(Color::Rgb(0x1a, 0x1b, 0x26))
        );
        assert!(
            dark.style(Role::Title)
                .add_modifier
                .contains(Modifier::BOLD)
        );
        Ok(())
    }

    #[test]
    fn pure_red_maps_to_196_and_bright_red() {
        assert_eq!(nearest_256(0xff, 0, 0), 196);
        assert_eq!(nearest_16(0xff, 0, 0), Color::LightRed);
        assert_eq!(nearest_16(0xcd, 0, 0), Color::Red);
    }

    #[test]
    fn greys_map_to_the_grey_ramp() {
        assert_eq!(nearest_256(0x80, 0x80, 0x80), 244);
        assert_eq!(nearest_256(0x1a, 0x1b, 0x26), 234);
        assert_eq!(nearest_256(0, 0, 0), 16);
        assert_eq!(nearest_256(0xff, 0xff, 0xff), 231);
        assert_eq!(nearest_16(0x1a, 0x1b, 0x26), Color::Black);
    }

    #[test]
    fn cube_colours_map_to_their_index() {
        // #5f87af is cube (1, 2, 3) = 16 + 36 + 12 + 3
        assert_eq!(nearest_256(0x5f, 0x87, 0xaf), 67);
        assert_eq!(nearest_256(0x00, 0xff, 0x00), 46);
    }

    #[test]
    fn depth_decides_the_colour_kind() -> Result<(), ThemeError> {
        let text =
            theme_text("", Some(Role::Base)) + "base = { fg = \"#ff0000\", bg = \"blue\" }\n";
        let at = |depth| Theme::from_toml("t", &text, depth).map(|t| t.style(Role::Base));
        assert_eq!(at(ColorDepth::TrueColor)?.fg, Some(Color::Rgb(255, 0, 0)));
        assert_eq!(at(ColorDepth::Ansi256)?.fg, Some(Color::Indexed(196)));
        assert_eq!(at(ColorDepth::Ansi16)?.fg, Some(Color::LightRed));
        assert_eq!(at(ColorDepth::Ansi16)?.bg, Some(Color::Blue));
        assert_eq!(at(ColorDepth::Mono)?, Style::new());
        Ok(())
    }

    #[test]
    fn mono_drops_every_colour_and_keeps_modifiers() {
        for name in builtin_names() {
            let Some(theme) = Theme::builtin(name, ColorDepth::Mono) else {
                panic!("{name} does not load");
            };
            for role in Role::ALL {
                let style = theme.style(role);
                assert_eq!((style.fg, style.bg), (None, None), "{name} {role:?}");
            }
            let bold = theme
                .style(Role::Title)
                .add_modifier
                .contains(Modifier::BOLD);
            assert!(bold, "{name} lost its modifiers");
        }
    }

    #[test]
    fn monochrome_tells_states_apart_by_modifiers() {
        let Some(mono) = Theme::builtin("monochrome", ColorDepth::Mono) else {
            panic!("monochrome does not load");
        };
        let roles = [
            Role::Base,
            Role::Selected,
            Role::Marked,
            Role::Incident,
            Role::Failed,
            Role::SlaWarning,
            Role::SlaCritical,
            Role::SlaBreached,
        ];
        for (i, a) in roles.iter().enumerate() {
            for b in &roles[i + 1..] {
                assert_ne!(mono.style(*a), mono.style(*b), "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn monochrome_has_no_colours_even_in_truecolor() {
        let Some(mono) = Theme::builtin("monochrome", ColorDepth::TrueColor) else {
            panic!("monochrome does not load");
        };
        assert!(Role::ALL.iter().all(|r| mono.style(*r).fg.is_none()));
        assert!(Role::ALL.iter().all(|r| mono.style(*r).bg.is_none()));
    }

    #[test]
    fn colour_names_are_accepted() -> Result<(), ThemeError> {
        let line = "base = { fg = \"bright-blue\", bg = \"reset\" }\n";
        let text = theme_text(line, Some(Role::Base));
        let base = Theme::from_toml("t", &text, ColorDepth::Ansi16)?.style(Role::Base);
        assert_eq!(
            (base.fg, base.bg),
            (Some(Color::LightBlue), Some(Color::Reset))
        );
        Ok(())
    }

    #[test]
    fn bad_colour_says_where_and_the_accepted_forms() {
        let text = theme_text("base = { fg = \"#ff00\" }\n", Some(Role::Base));
        let msg = error_of(&text);
        assert!(
            msg.starts_with("broken.toml:2:15: bad colour \"#ff00\""),
            "{msg}"
        );
        assert!(
            msg.contains("#rrggbb") && msg.contains("bright-blue"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_role_suggests_the_closest() {
        let msg = error_of(&theme_text("sla_breach = {}\n", None));
        assert!(
            msg.starts_with("broken.toml:2:1: unknown role \"sla_breach\""),
            "{msg}"
        );
        assert!(msg.contains("did you mean \"sla_breached\"?"), "{msg}");
    }

    #[test]
    fn missing_role_is_named() {
        let msg = error_of(&theme_text("", Some(Role::Sparkline)));
        assert!(msg.starts_with("broken.toml:1:1: missing role(s)"), "{msg}");
        assert!(msg.contains("sparkline"), "{msg}");
    }

    #[test]
    fn unknown_modifier_says_where_and_what() {
        let text = theme_text(
            "\ntitle = { modifiers = [\"bold\", \"blink\"] }\n",
            Some(Role::Title),
        );
        let msg = error_of(&text);
        assert!(
            msg.starts_with("broken.toml:3:32: unknown modifier \"blink\""),
            "{msg}"
        );
        assert!(msg.contains("underlined or reversed"), "{msg}");
    }

    #[test]
    fn unknown_field_suggests_the_closest() {
        let text = theme_text("title = { fgg = \"red\" }\n", Some(Role::Title));
        let msg = error_of(&text);
        assert!(
            msg.starts_with("broken.toml:2:11: unknown field \"fgg\""),
            "{msg}"
        );
        assert!(msg.contains("did you mean \"fg\"?"), "{msg}");
    }

    #[test]
    fn toml_syntax_error_says_where() {
        let msg = error_of("[roles]\nbase = { fg = \"#ffffff\" \n");
        assert!(msg.starts_with("broken.toml:2:"), "{msg}");
        assert!(msg.contains("TOML syntax"), "{msg}");
    }

    #[test]
    fn file_errors_name_the_file() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("mine.toml");
        std::fs::write(
            &path,
            theme_text("accent = { fg = \"chartreuse\" }\n", Some(Role::Accent)),
        )?;
        let err = Theme::load(&path.display().to_string(), ColorDepth::TrueColor, None);
        let msg = err.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            msg.starts_with(&format!("{}:2:17: bad colour", path.display())),
            "{msg}"
        );
        Ok(())
    }

    #[test]
    fn user_dir_themes_load_by_name() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let text = theme_text("accent = { fg = \"#123456\" }\n", Some(Role::Accent));
        std::fs::write(dir.path().join("mine.toml"), text)?;
        let theme = Theme::load("mine", ColorDepth::TrueColor, Some(dir.path()));
        let accent = theme
            .ok()
            .map(|t| (t.name.clone(), t.style(Role::Accent).fg));
        assert_eq!(
            accent,
            Some(("mine".to_string(), Some(Color::Rgb(0x12, 0x34, 0x56))))
        );
        Ok(())
    }

    #[test]
    fn unknown_theme_lists_the_known_ones() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("mine.toml"), "")?;
        let err = Theme::load("drak", ColorDepth::TrueColor, Some(dir.path()));
        let msg = err.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.starts_with("unknown theme \"drak\""), "{msg}");
        assert!(msg.contains("dark, light, high-contrast, colour-blind-safe, monochrome"));
        assert!(msg.contains("mine (in"), "{msg}");
        Ok(())
    }

    #[test]
    fn missing_file_is_a_read_error() {
        let err = Theme::load("/nonexistent/x.toml", ColorDepth::TrueColor, None);
        let msg = err.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            msg.starts_with("/nonexistent/x.toml: cannot read theme"),
            "{msg}"
        );
    }

    #[test]
    fn detect_follows_the_environment() {
        let cases: [(&[(&str, &str)], ColorDepth); 8] = [
            (
                &[("NO_COLOR", "1"), ("COLORTERM", "truecolor")],
                ColorDepth::Mono,
            ),
            (
                &[("NO_COLOR", ""), ("COLORTERM", "truecolor")],
                ColorDepth::TrueColor,
            ),
            (
                &[("COLORTERM", "24bit"), ("TERM", "xterm")],
                ColorDepth::TrueColor,
            ),
            (&[("TERM", "xterm-256color")], ColorDepth::Ansi256),
            (
                &[("TERM", "tmux-256color"), ("COLORTERM", "yes")],
                ColorDepth::Ansi256,
            ),
            (&[("TERM", "dumb")], ColorDepth::Mono),
            (&[("TERM", "xterm")], ColorDepth::Ansi16),
            (&[], ColorDepth::Ansi16),
        ];
        for (vars, expected) in cases {
            assert_eq!(ColorDepth::detect(env(vars)), expected, "{vars:?}");
        }
    }

    #[test]
    fn role_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::from_name(role.name()), Some(role));
            assert_eq!(Role::ALL[role as usize], role);
        }
    }
}
