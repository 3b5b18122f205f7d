//! Text for humans: aligned tables, relative times ("3m ago") and SLA countdowns
//! ("in 12m", "breached 3m ago").

pub use crate::text::{clip, printable};
use chrono::{DateTime, Utc};

/// A compact span: `45s`, `12m`, `3h05m`, `2d04h`.
pub fn span(secs: i64) -> String {
    let s = secs.unsigned_abs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
    }
}

/// `3m ago` (or `in 3m` for a time still ahead).
pub fn ago(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds();
    if secs >= 0 {
        format!("{} ago", span(secs))
    } else {
        format!("in {}", span(secs))
    }
}

/// `in 12m` before the deadline, `breached 3m ago` after it.
pub fn countdown(now: DateTime<Utc>, due: DateTime<Utc>) -> String {
    // Whole seconds rounded up while time is left: 0.8 s to go is `in 1s`, not breached.
    let left_ms = (due - now).num_milliseconds();
    if left_ms > 0 {
        format!("in {}", span((left_ms + 999) / 1000))
    } else {
        format!("breached {} ago", span(left_ms / 1000))
    }
}

/// Left-aligned columns separated by two spaces; the last column is not padded. Cells
/// are data: their control characters are shown as spaces.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| printable(c).into_owned()).collect())
        .collect();
    let rows = &rows;
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let head: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    let mut out = String::new();
    for row in std::iter::once(&head).chain(rows) {
        let last = row.len().saturating_sub(1);
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
            if i == last {
                line.push_str(cell);
            } else {
                let pad = w.saturating_sub(cell.chars().count());
                line.push_str(cell);
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn relative_times_and_countdowns() {
        let now = Utc::now();
        assert_eq!(ago(now, now - Duration::seconds(185)), "3m ago");
        assert_eq!(
            countdown(now, now + Duration::seconds(12 * 60 + 5)),
            "in 12m"
        );
        assert_eq!(
            countdown(now, now - Duration::seconds(180)),
            "breached 3m ago"
        );
        // Not breached while time is left, however little.
        assert_eq!(countdown(now, now + Duration::milliseconds(800)), "in 1s");
        assert_eq!(countdown(now, now), "breached 0s ago");
        assert_eq!(span(3 * 3600 + 5 * 60), "3h05m");
        assert_eq!(span(2 * 86400 + 4 * 3600), "2d04h");
    }

    #[test]
    fn tables_align_columns() {
        let t = table(
            &["ID", "STATUS", "NAME"],
            &[
                vec!["1".into(), "running".into(), "a".into()],
                vec!["100".into(), "ok".into(), "b".into()],
            ],
        );
        assert_eq!(t, "ID   STATUS   NAME\n1    running  a\n100  ok       b\n");
        let t = table(&["T"], &[vec!["x\u{1b}[2Jy\nz".into()]]);
        assert_eq!(t, "T\nx [2Jy z\n");
    }
}
