//! The KPI view (`:report`): per workflow and in total, what started, completed and
//! failed over the window, error rate, incidents, cycle time, SLA met, breaches and
//! human wait, as `tempi report` prints them.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::overlay::dialog;
use crate::cli::report::cells;
use crate::console::app::App;
use crate::console::app::report::ReportView;
use crate::console::theme::Role;
use crate::text::{clip, printable};
use crate::types::report::Figures;

const HEADS: [&str; 14] = [
    "WORKFLOW",
    "STARTED",
    "DONE",
    "FAILED",
    "CANC",
    "ERRORS",
    "INCID",
    "CYCLE P50",
    "P95",
    "SLA MET",
    "BREACHED",
    "TASKS",
    "WAIT P50",
    "P95",
];
/// Space between columns.
const GAP: usize = 2;

/// Which columns go first when the view is too narrow: wait p95, wait p50, tasks,
/// cancelled, cycle p95, started, breached, incidents. Completed, failed, errors, cycle
/// p50 and SLA met stay.
const DROPPED_FIRST: [usize; 8] = [13, 12, 11, 4, 8, 1, 10, 6];

/// The columns shown, each as (column, width): as wide as its widest cell; when that is
/// more than `room`, the names are cut with `…` down to 8 and then the least needed
/// columns go, so no figure is ever cut.
fn fit(rows: &[[String; 14]], room: usize) -> Vec<(usize, usize)> {
    let mut cols: Vec<(usize, usize)> = (0..HEADS.len())
        .map(|i| {
            let w = rows
                .iter()
                .map(|r| r[i].chars().count())
                .chain([HEADS[i].len()])
                .max()
                .unwrap_or(0);
            (i, w)
        })
        .collect();
    let total = |c: &[(usize, usize)]| {
        c.iter().map(|(_, w)| w).sum::<usize>() + GAP * c.len().saturating_sub(1)
    };
    const MIN_NAME: usize = 8;
    let mut drop = DROPPED_FIRST.iter();
    while total(&cols) > room {
        let over = total(&cols) - room;
        if cols[0].1 > MIN_NAME {
            cols[0].1 -= over.min(cols[0].1 - MIN_NAME);
        } else if let Some(gone) = drop.next() {
            cols.retain(|(i, _)| i != gone);
        } else {
            break;
        }
    }
    cols
}

/// How an SLA met figure looks: as the header colours it.
fn met_role(v: Option<f64>) -> Role {
    match v {
        None => Role::Dim,
        Some(p) if p >= 99.0 => Role::SlaOk,
        Some(p) if p >= 95.0 => Role::SlaWarning,
        Some(_) => Role::SlaBreached,
    }
}

fn row<'a>(
    app: &App,
    texts: &[String; 14],
    f: &Figures,
    cols: &[(usize, usize)],
    total: bool,
) -> Line<'a> {
    let t = &app.theme;
    let mut spans = Vec::with_capacity(cols.len() * 2);
    for &(i, w) in cols {
        let role = match i {
            3 if f.failed > 0 => Role::Incident,
            6 if f.incidents > 0 => Role::Incident,
            9 => met_role(f.sla_met_pct),
            10 if f.breached > 0 => Role::SlaBreached,
            _ if total => Role::Title,
            _ => Role::Base,
        };
        let text = clip(&printable(&texts[i]), w);
        spans.push(Span::styled(format!("{text:<w$}"), t.style(role)));
        spans.push(Span::raw(" ".repeat(GAP)));
    }
    spans.pop();
    Line::from(spans)
}

pub fn draw(f: &mut Frame, app: &App, area: Rect, view: &ReportView) {
    let t = &app.theme;
    let rows_n = match &view.report {
        Some(Ok(r)) => r.workflows.len() + 2,
        _ => 1,
    };
    let w = area.width.saturating_sub(4).min(150);
    let h = (rows_n as u16 + 6).clamp(8, area.height.saturating_sub(2).max(8));
    let r = Rect::new(
        area.x + area.width.saturating_sub(w) / 2,
        area.y + area.height.saturating_sub(h) / 2,
        w.min(area.width),
        h.min(area.height),
    );
    f.render_widget(Clear, r);
    let window = match &view.report {
        Some(Ok(rep)) => match rep.since {
            Some(s) => format!(
                "since {} ({})",
                s.format("%Y-%m-%d %H:%M UTC"),
                crate::cli::format::span((rep.until - s).num_seconds())
            ),
            None => "nothing counted yet".to_string(),
        },
        _ => String::new(),
    };
    let title = format!("Report · {} {window}", view.label);
    let block = dialog(app, title.trim_end());
    let inner = block.inner(r);
    f.render_widget(block, r);
    let [body, hint] = Layout::vertical([Constraint::Min(2), Constraint::Length(1)]).areas(inner);
    match &view.report {
        None => f.render_widget(Line::styled("Asking the engine…", t.style(Role::Dim)), body),
        Some(Err(e)) => f.render_widget(
            Line::styled(
                clip(&format!("cannot read the report: {e}"), body.width as usize),
                t.style(Role::ToastError),
            ),
            body,
        ),
        Some(Ok(rep)) => {
            let texts: Vec<[String; 14]> = rep
                .workflows
                .iter()
                .map(|w| cells(&w.workflow, &w.figures))
                .chain([cells("total", &rep.total)])
                .collect();
            let cols = fit(&texts, body.width as usize);
            let head = Line::from(
                cols.iter()
                    .map(|&(i, w)| {
                        Span::styled(
                            format!("{:<w$}{:GAP$}", HEADS[i], ""),
                            t.style(Role::Header),
                        )
                    })
                    .collect::<Vec<_>>(),
            );
            // The header, the workflows from `scroll`, and the total on the last line.
            let room = (body.height as usize).saturating_sub(2);
            let n = rep.workflows.len();
            let from = view.scroll.min(n.saturating_sub(room));
            let mut lines = vec![head];
            lines.extend(
                rep.workflows
                    .iter()
                    .enumerate()
                    .skip(from)
                    .take(room)
                    .map(|(i, w)| row(app, &texts[i], &w.figures, &cols, false)),
            );
            let shown = lines.len() - 1;
            let mut total = row(app, &texts[n], &rep.total, &cols, true);
            if shown == n {
                // Everything fits: the total right under the rows.
                lines.push(total);
                f.render_widget(Paragraph::new(lines), body);
            } else {
                // Some rows are out of sight: the total stays on the last line, saying
                // which rows are shown.
                total.spans.push(Span::styled(
                    format!("   {}–{} of {n} (↑↓)", from + 1, from + shown),
                    t.style(Role::Dim),
                ));
                let [table, last] =
                    Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(body);
                f.render_widget(Paragraph::new(lines), table);
                f.render_widget(total, last);
            }
        }
    }
    let key = |k: &'static str| Span::styled(k, t.style(Role::Key));
    let dim = |s: &'static str| Span::styled(s, t.style(Role::Dim));
    f.render_widget(
        Line::from(vec![
            key("Tab"),
            dim(" window: retained 1h 24h 7d 30d  "),
            key("r"),
            dim(" refresh  "),
            key("Esc"),
            dim(" close   "),
            dim("SLA met: of items with an SLA, those that ended by their deadline"),
        ]),
        hint,
    );
}
