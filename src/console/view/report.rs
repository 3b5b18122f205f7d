//! The KPI view (`:report`): per workflow and in total, what started, completed and
//! failed over the window, error rate, incidents, cycle time, SLA met, breaches and
//! human wait, as `tempi report` prints them.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Clear, Row, Table};

use super::overlay::dialog;
use crate::console::app::App;
use crate::console::app::report::ReportView;
use crate::console::theme::Role;
use crate::text::{clip, printable};
use crate::types::report::Figures;

const HEADS: [&str; 13] = [
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
];

fn secs(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(s) if s < 10.0 => format!("{s:.1}s"),
        Some(s) => crate::cli::format::span(s.round() as i64),
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |p| format!("{p:.1}%"))
}

fn cells(name: &str, f: &Figures) -> [String; 13] {
    [
        name.to_string(),
        f.started.to_string(),
        f.completed.to_string(),
        f.failed.to_string(),
        f.cancelled.to_string(),
        pct(f.error_rate.map(|r| r * 100.0)),
        f.incidents.to_string(),
        secs(f.cycle_time_p50_s),
        secs(f.cycle_time_p95_s),
        pct(f.sla_met_pct),
        f.breached.to_string(),
        f.human_tasks.to_string(),
        secs(f.human_wait_p50_s),
    ]
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

fn row<'a>(app: &App, name: &str, f: &Figures, total: bool) -> Row<'a> {
    let t = &app.theme;
    let texts = cells(name, f);
    let cells: Vec<Cell> = texts
        .into_iter()
        .enumerate()
        .map(|(i, text)| {
            let role = match i {
                3 if f.failed > 0 => Role::Incident,
                6 if f.incidents > 0 => Role::Incident,
                9 => met_role(f.sla_met_pct),
                10 if f.breached > 0 => Role::SlaBreached,
                _ if total => Role::Title,
                _ => Role::Base,
            };
            Cell::from(Span::styled(printable(&text).into_owned(), t.style(role)))
        })
        .collect();
    Row::new(cells)
}

pub fn draw(f: &mut Frame, app: &App, area: Rect, view: &ReportView) {
    let t = &app.theme;
    let rows_n = match &view.report {
        Some(Ok(r)) => r.workflows.len() + 1,
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
            let mut rows: Vec<Row> = rep
                .workflows
                .iter()
                .map(|wf| row(app, &wf.workflow, &wf.figures, false))
                .collect();
            rows.push(row(app, "total", &rep.total, true));
            let name_w = rep
                .workflows
                .iter()
                .map(|w| w.workflow.chars().count())
                .max()
                .unwrap_or(8)
                .clamp(8, 28) as u16;
            let mut widths = vec![Constraint::Length(name_w)];
            widths.extend(
                HEADS[1..]
                    .iter()
                    .map(|h| Constraint::Length(h.len().max(6) as u16)),
            );
            let header = Row::new(
                HEADS
                    .iter()
                    .map(|h| Cell::from(Span::styled(*h, t.style(Role::Header)))),
            );
            f.render_widget(
                Table::new(rows, widths).header(header).column_spacing(2),
                body,
            );
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
