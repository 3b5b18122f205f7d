//! Snapshots of every pane, layout and dialog, drawn into a `TestBackend` from the fixed
//! fixture, so a change to what the operator sees shows up in review.

use crossterm::event::KeyCode;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::{Color, Modifier};

use super::fixture::{self, ch, ctrl, key};
use crate::console::app::{App, Effect, Mode, Msg, Options, Pane};
use crate::console::source::SourceError;
use crate::console::theme::{ColorDepth, Theme};
use crate::console::view;
use crate::types::Reply;

fn render(app: &App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("a test terminal");
    terminal
        .draw(|f| view::draw(f, app))
        .expect("drawing into a test backend");
    terminal
}

/// The screen as text, one line per row.
fn text(t: &Terminal<TestBackend>) -> String {
    let buf = t.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

fn snap(name: &str, app: &App, w: u16, h: u16) -> String {
    let t = render(app, w, h);
    insta::assert_snapshot!(name, t.backend());
    text(&t)
}

fn focus(app: &mut App, pane: Pane) {
    while app.focus != pane {
        app.update(key(KeyCode::Tab));
    }
}

fn typed(app: &mut App, s: &str) {
    for c in s.chars() {
        app.update(ch(c));
    }
}

#[test]
fn wide_default() {
    let app = fixture::app();
    let s = snap("wide_default", &app, 200, 50);
    assert!(
        s.contains("open tasks 6  mine 1"),
        "alice's one task is counted: {s}"
    );
    for pane in Pane::ALL {
        assert!(s.contains(pane.title()), "{} is on screen", pane.title());
    }
    assert!(
        s.contains("in flight 17"),
        "the header carries the counters"
    );
    assert!(s.contains("10:00:00 UTC"), "the clock is the fixed now");
}

#[test]
fn tabs_items() {
    let app = fixture::app();
    let s = snap("tabs_items", &app, 80, 24);
    assert!(s.contains("Work items (25)"));
}

#[test]
fn tabs_sla() {
    let mut app = fixture::app();
    focus(&mut app, Pane::Sla);
    let s = snap("tabs_sla", &app, 80, 24);
    assert!(s.contains("SLA board ("));
    assert!(s.contains("BREACHED"));
}

#[test]
fn tabs_inbox() {
    let mut app = fixture::app();
    focus(&mut app, Pane::Inbox);
    let s = snap("tabs_inbox", &app, 80, 24);
    assert!(s.contains("Inbox: all (6)"));
}

#[test]
fn tabs_events() {
    let mut app = fixture::app();
    focus(&mut app, Pane::Events);
    let s = snap("tabs_events", &app, 80, 24);
    assert!(
        s.contains("Events (21) · step progress hidden: v shows"),
        "{s}"
    );
    assert!(!s.contains("step_started"), "{s}");
    app.update(ch('v'));
    let s = snap("tabs_events_chatter", &app, 80, 24);
    assert!(
        s.contains("Events (30)") && s.contains("step_started"),
        "{s}"
    );
}

/// The inbox at full height shows the selected task's context, here the agent review.
#[test]
fn wide_inbox_agent_review() {
    let mut app = fixture::app();
    focus(&mut app, Pane::Inbox);
    while app.task_at(app.list(Pane::Inbox).cursor).map(|t| t.id) != Some(44) {
        app.update(key(KeyCode::Down));
    }
    let s = snap("wide_inbox_agent_review", &app, 200, 50);
    assert!(s.contains("agent confidence 62%"));
}

fn open_detail(app: &mut App) {
    while app.cursor_item() != Some(fixture::DETAIL_ITEM) {
        app.update(key(KeyCode::Down));
    }
    let effects = app.update(key(KeyCode::Enter));
    assert_eq!(effects, vec![Effect::Detail(Some(fixture::DETAIL_ITEM))]);
    app.update(Msg::Update(fixture::detail_update()));
}

#[test]
fn detail_wide() {
    let mut app = fixture::app();
    open_detail(&mut app);
    let s = snap("detail_wide", &app, 200, 50);
    assert!(s.contains("Item 118"));
    assert!(s.contains("INCIDENT"));
    assert!(s.contains("audit trail (7 records)"));
}

/// `s` on an incident names every step skipped with it, and those left to a `when`.
#[test]
fn skip_confirm_lists_what_goes_with_it() {
    let mut app = fixture::app();
    open_detail(&mut app);
    assert_eq!(app.update(ch('s')), vec![]);
    let s = snap("skip_confirm", &app, 120, 30);
    assert!(s.contains("Skip step crm_record of item 118?"), "{s}");
    let Mode::Confirm { question, .. } = &app.mode else {
        panic!("expected the skip confirm, got {:?}", app.mode);
    };
    assert_eq!(
        question,
        "Skip step crm_record of item 118? Skipped with it, as they need it: \
         provision, activation. Left to their `when`: welcome."
    );
}

/// From a list the detail is fetched first, then the same question.
#[test]
fn skip_from_a_list_asks_once_the_detail_is_in() {
    let mut app = fixture::app();
    while app.cursor_item() != Some(fixture::DETAIL_ITEM) {
        app.update(key(KeyCode::Down));
    }
    assert_eq!(
        app.update(ch('s')),
        vec![Effect::Detail(Some(fixture::DETAIL_ITEM))]
    );
    assert!(matches!(app.mode, Mode::Normal), "nothing to ask yet");
    app.update(Msg::Update(fixture::detail_update()));
    match &app.mode {
        Mode::Confirm { question, actions } => {
            assert!(question.contains("provision, activation"), "{question}");
            assert_eq!(actions.len(), 1);
        }
        other => panic!("expected the skip confirm, got {other:?}"),
    }
}

/// Incidents grouped by cause: numbers in the error do not split a group.
#[test]
fn incident_groups() {
    let mut app = fixture::app();
    let base = app.model.items[&109].clone();
    let more: Vec<_> = [(130, 3), (131, 4)]
        .into_iter()
        .map(|(id, tries)| {
            let mut it = base.clone();
            it.id = id;
            it.incident = Some(format!(
                "pay: connect: connection refused (bank) after {tries} tries"
            ));
            it
        })
        .collect();
    let metrics = app.model.metrics.clone();
    app.update(Msg::Update(crate::console::model::Update::Changes(
        std::sync::Arc::new(crate::types::changes::Changes {
            items: more,
            metrics,
            ..Default::default()
        }),
    )));
    app.update(ch('I'));
    assert!(matches!(app.mode, Mode::Incidents { cursor: 0 }));
    let s = snap("incident_groups", &app, 120, 30);
    assert!(s.contains("Incidents by cause (5 in 4 groups)"), "{s}");
    let g = &app.groups[0];
    assert_eq!(
        (g.items.len(), g.step.as_str()),
        (2, "pay"),
        "{:?}",
        app.groups
    );
    app.update(key(KeyCode::Enter));
    assert_eq!(
        app.filter.text,
        "status:incident wf:invoice-approval step:pay"
    );
    assert_eq!(
        app.len(Pane::Items),
        3,
        "the group's items and 109, same step and workflow"
    );
}

/// A step opened with Enter: its whole error, its records, wrapped at words; `/` finds
/// text in the detail and says which hit is current.
#[test]
fn detail_step_opened_and_searched() {
    let mut app = fixture::app();
    open_detail(&mut app);
    app.update(key(KeyCode::Down));
    app.update(key(KeyCode::Down));
    app.update(key(KeyCode::Enter));
    let s = snap("detail_step_opened", &app, 100, 40);
    assert!(s.contains("▾ crm_record"), "{s}");
    assert!(s.contains("needs kyc, sanctions"), "{s}");
    assert!(s.contains("error (status, code 503)"), "{s}");
    assert!(s.contains("step_failed"), "the step's own records: {s}");
    app.update(ch('/'));
    typed(&mut app, "503");
    app.update(key(KeyCode::Enter));
    let s = snap("detail_searched", &app, 100, 40);
    let hits = app.detail.as_ref().map(|d| d.hits.get()).unwrap_or(0);
    assert!(hits >= 3, "{hits} hits: {s}");
    assert!(s.contains(&format!("/503: 1 of {hits}")), "{s}");
    app.update(ch('n'));
    let s = snap("detail_searched_next", &app, 100, 40);
    assert!(s.contains(&format!("/503: 2 of {hits}")), "{s}");
}

/// An opened HTTP step that failed shows its call, wrapped, searchable and copyable.
#[test]
fn detail_http_exchange() {
    let mut app = fixture::app();
    open_detail(&mut app);
    app.update(Msg::Update(fixture::detail_update_with_exchange()));
    app.update(key(KeyCode::Down));
    app.update(key(KeyCode::Down));
    app.update(key(KeyCode::Enter));
    let s = snap("detail_http_exchange", &app, 100, 60);
    assert!(
        s.contains(
            "POST https://crm.internal/customers?upsert=true → 503 Service Unavailable · 2,310 ms"
        ),
        "{s}"
    );
    for line in [
        "request headers",
        "authorization: [hidden]",
        "request body (58 bytes)",
        "      \"company\": \"Acme GmbH\",",
        "response headers",
        "retry-after: 30",
        "response body (85 bytes)",
        "\"retry_after\": 30",
    ] {
        assert!(s.contains(line), "{line}: {s}");
    }
    app.update(ch('/'));
    typed(&mut app, "retry-after");
    app.update(key(KeyCode::Enter));
    render(&app, 100, 60);
    let hits = app.detail.as_ref().map(|d| d.hits.get()).unwrap_or(0);
    assert_eq!(hits, 1, "the header is found by the search");
    let effects = app.update(ch('y'));
    let Some(Effect::Copy(text)) = effects.first() else {
        panic!("expected a copy, got {effects:?}");
    };
    assert!(
        text.starts_with("status: POST https://crm.internal"),
        "{text}"
    );
    assert!(
        text.contains("\n\nPOST https://crm.internal/customers?upsert=true → 503"),
        "{text}"
    );
    assert!(text.contains("\n  retry-after: 30\n"), "{text}");
}

/// `y` copies the selected step's output in a detail, and the row's id in a list.
#[test]
fn y_copies_what_is_selected() {
    let mut app = fixture::app();
    let id = app.cursor_item().expect("an item");
    assert_eq!(app.update(ch('y')), vec![Effect::Copy(id.to_string())]);
    open_detail(&mut app);
    let effects = app.update(ch('y'));
    let Some(Effect::Copy(text)) = effects.first() else {
        panic!("expected a copy, got {effects:?}");
    };
    assert!(
        text.contains("\"status\": \"clear\""),
        "kyc's output, indented: {text}"
    );
    assert!(
        app.toasts
            .back()
            .is_some_and(|t| t.text == "copied the output of step kyc")
    );
}

#[test]
fn detail_tabs() {
    let mut app = fixture::app();
    open_detail(&mut app);
    let s = snap("detail_tabs", &app, 80, 24);
    assert!(s.contains("Item 118"));
    assert!(s.contains("crm_record"));
}

#[test]
fn too_small() {
    let app = fixture::app();
    let s = snap("too_small", &app, 50, 12);
    assert!(s.contains("The console needs at least 60×16"));
}

#[test]
fn help_overlay() {
    let mut app = fixture::app();
    app.update(ch('?'));
    assert!(matches!(app.mode, Mode::Help { .. }));
    let s = snap("help_overlay", &app, 200, 50);
    assert!(s.contains("Help"));
    assert!(s.contains("cancel the item (confirms)"));
}

#[test]
fn help_overlay_tabs() {
    let mut app = fixture::app();
    app.update(ch('?'));
    let s = snap("help_overlay_tabs", &app, 80, 24);
    assert!(s.contains("Help"));
}

#[test]
fn confirm_cancel() {
    let mut app = fixture::app();
    let target = app.cursor_item().expect("an item under the cursor");
    assert_eq!(
        app.update(ctrl('k')),
        vec![],
        "nothing is sent before the answer"
    );
    assert!(matches!(app.mode, Mode::Confirm { .. }));
    let s = snap("confirm_cancel", &app, 80, 24);
    assert!(s.contains("Confirm"));
    assert!(s.contains(&format!("Cancel item {target}?")));
}

#[test]
fn reject_comment() {
    let mut app = fixture::app();
    focus(&mut app, Pane::Inbox);
    app.update(ch('x'));
    typed(&mut app, "PO number does not match");
    assert!(
        matches!(&app.mode, Mode::Comment { input, .. } if input.text == "PO number does not match")
    );
    let s = snap("reject_comment", &app, 80, 24);
    assert!(s.contains("> PO number does not match"));
}

#[test]
fn reassign_picker() {
    let mut app = fixture::app();
    focus(&mut app, Pane::Inbox);
    app.update(ch('r'));
    assert!(matches!(app.mode, Mode::Picker(_)));
    let s = snap("reassign_picker", &app, 80, 24);
    assert!(s.contains("@alice"));
    assert!(s.contains("finance"));
}

#[test]
fn filter_prompt() {
    let mut app = fixture::app();
    app.update(ch('/'));
    typed(&mut app, "status:incident");
    assert!(matches!(app.mode, Mode::Filter { .. }));
    assert_eq!(app.len(Pane::Items), 3, "the filter applies as typed");
    let s = snap("filter_prompt", &app, 80, 24);
    assert!(s.contains("/status:incident"));
}

#[test]
fn toast_after_acted() {
    let mut app = fixture::app();
    app.update(Msg::Acted(vec![
        (
            "task 41".into(),
            Ok(Reply {
                item: Some(104),
                task: Some(41),
                message: "task 41 approved".into(),
                seq: 48_212,
                token: None,
            }),
        ),
        (
            "task 3".into(),
            Err(SourceError::Refused(
                "task 3 is already decided by bob".into(),
            )),
        ),
    ]));
    let s = snap("toast_after_acted", &app, 80, 24);
    assert!(s.contains("✓ task 41 approved"));
    assert!(s.contains("✗ task 3: task 3 is already decided by bob"));
}

/// Ten retries, nine refused: the toast sums them up without running off the screen,
/// and `:messages` holds every result.
#[test]
fn bulk_results_and_the_message_log() {
    let mut app = fixture::app();
    let results = (1..=10)
        .map(|k| {
            let label = format!("item {k}");
            let r = match k {
                1 => Ok(Reply {
                    item: Some(1),
                    task: None,
                    message: "item 1: step pay retried".into(),
                    seq: 48_212,
                    token: None,
                }),
                _ => Err(SourceError::Refused(format!(
                    "item {k} has no incident to retry; it is waiting on a human task"
                ))),
            };
            (label, r)
        })
        .collect();
    app.update(Msg::Acted(results));
    let s = snap("bulk_results_toast", &app, 80, 24);
    assert!(s.contains("9 of 10 failed"), "{s}");
    assert!(s.contains(":messages"), "{s}");
    typed(&mut app, ":messages");
    app.update(key(KeyCode::Enter));
    let s = snap("message_log", &app, 100, 30);
    for k in 2..=10 {
        assert!(
            s.contains(&format!("item {k}: item {k} has no incident")),
            "{k}: {s}"
        );
    }
    assert!(s.contains("item 1: step pay retried"), "{s}");
}

/// `:columns -prio -age` leaves those columns out of the items pane.
#[test]
fn columns_hidden() {
    let mut app = fixture::app();
    app.update(ch(':'));
    typed(&mut app, "columns -prio -age");
    app.update(key(KeyCode::Enter));
    let s = snap("columns_hidden", &app, 120, 30);
    let head = s
        .lines()
        .find(|l| l.contains("WORKFLOW"))
        .unwrap_or_default();
    assert!(
        head.contains("STEP") && !head.contains("PRIO") && !head.contains("AGE"),
        "{head}"
    );
}

#[test]
fn read_only_refusal() {
    let mut app = fixture::app_with(Options {
        read_only: true,
        ..fixture::options()
    });
    assert_eq!(app.update(ctrl('k')), vec![]);
    let s = snap("read_only_refusal", &app, 80, 24);
    assert!(s.contains("read-only: cancel is disabled"));
}

#[test]
fn audit_verified_and_broken_in_the_header() {
    let app = fixture::app();
    let wide = text(&render(&app, 200, 50));
    assert!(wide.contains("audit verified to seq 48211"), "{wide}");
    let narrow = text(&render(&app, 80, 24));
    assert!(!narrow.contains("audit"), "a calm cell gives way: {narrow}");
    let mut app = fixture::app();
    app.model.metrics.audit.broken = Some(crate::types::health::AuditBreak {
        seq: 40_007,
        problem: "its body was changed".into(),
    });
    let s = snap("audit_broken", &app, 80, 24);
    let lines: Vec<&str> = s.lines().collect();
    assert!(
        lines[0].contains("at risk 3 breached 1"),
        "the SLA counts stay: {s}"
    );
    assert!(lines[1].starts_with(" audit BROKEN at seq 40007 "), "{s}");
    assert!(!s.contains("audit verified"), "{s}");
}

#[test]
fn monochrome() {
    let mut app = fixture::app_with(Options {
        depth: ColorDepth::Mono,
        ..fixture::options()
    });
    app.theme = Theme::builtin("monochrome", ColorDepth::Mono).expect("a built-in theme");
    let marked = app.cursor_item().expect("a selected item");
    app.update(ch(' '));
    let selected = app.cursor_item().expect("a selected item");
    assert_ne!(marked, selected, "marking moves the cursor down");
    let t = render(&app, 200, 50);
    insta::assert_snapshot!("monochrome", t.backend());
    let buf = t.backend().buffer();
    for (k, cell) in buf.content().iter().enumerate() {
        let (x, y) = (k as u16 % buf.area.width, k as u16 / buf.area.width);
        assert_eq!(cell.fg, Color::Reset, "fg of {x},{y} ({:?})", cell.symbol());
        assert_eq!(cell.bg, Color::Reset, "bg of {x},{y} ({:?})", cell.symbol());
        assert_eq!(cell.underline_color, Color::Reset, "underline of {x},{y}");
    }
    let lines = text(&t);
    let row_of = |prefix: String| {
        lines
            .lines()
            .position(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("a row starting {prefix:?}")) as u16
    };
    // The work items pane spans x 1..115 at 200 columns.
    let cells = |y: u16| (1..115).map(move |x| &buf[(x, y)]);
    let sel = row_of(format!("┃  {selected} "));
    assert!(
        cells(sel).all(|c| c.modifier.contains(Modifier::REVERSED)),
        "the selected row is reversed"
    );
    let mark = row_of(format!("┃● {marked} "));
    assert!(
        cells(mark).all(|c| c.modifier.contains(Modifier::UNDERLINED)
            && !c.modifier.contains(Modifier::REVERSED)),
        "the marked row is underlined, not reversed"
    );
    assert!(
        cells(sel + 1).all(|c| !c.modifier.contains(Modifier::REVERSED)),
        "the row below the selection is not reversed"
    );
}

fn select_task(app: &mut App, id: u64) {
    focus(app, Pane::Inbox);
    while app.task_at(app.list(Pane::Inbox).cursor).map(|t| t.id) != Some(id) {
        app.update(key(KeyCode::Down));
    }
}

fn task_mut(app: &mut App, id: u64) -> &mut crate::types::view::TaskView {
    app.model
        .tasks
        .iter_mut()
        .find(|t| t.id == id)
        .expect("the fixture has this task")
}

/// `a` on a task with three options: the options as declared, the cursor on the first.
#[test]
fn decide_picker() {
    let mut app = fixture::app();
    select_task(&mut app, 45);
    app.update(ch('a'));
    app.update(ch('j'));
    let s = snap("decide_picker", &app, 100, 30);
    assert!(s.contains("Decide task 45"));
    let at = |o: &str| s.lines().position(|l| l.contains(&format!("║ {o} ")));
    let rows = [at("approved"), at("rejected"), at("needs_info")];
    assert!(
        rows.iter().all(Option::is_some),
        "every option is listed: {s}"
    );
    assert!(rows[0] < rows[1] && rows[1] < rows[2], "in declared order");
    assert!(
        matches!(&app.mode, Mode::Picker(p) if p.cursor == 1),
        "j moved down"
    );
    assert!(s.contains("Enter decide"));
    assert!(!s.contains("> "), "no text prompt in a decision picker");
}

fn form_fields() -> Vec<crate::types::form::FormField> {
    use crate::types::form::{FieldType, FormField};
    let f = FormField::new;
    vec![
        FormField {
            label: Some("Cost centre".into()),
            required: true,
            ..f("cost_centre", FieldType::String)
        },
        FormField {
            default: Some(serde_json::json!(12400)),
            ..f("amount", FieldType::Number)
        },
        FormField {
            default: Some(serde_json::json!("standard")),
            options: vec!["standard".into(), "urgent".into()],
            ..f("payment_run", FieldType::Enum)
        },
    ]
}

/// A human step's form: defaults filled in, the required field marked, a refusal shown.
#[test]
fn decision_form() {
    let mut app = fixture::app();
    task_mut(&mut app, 41).form = form_fields();
    select_task(&mut app, 41);
    app.update(ch('a'));
    app.update(key(KeyCode::Enter));
    app.update(key(KeyCode::Tab));
    app.update(key(KeyCode::Tab));
    app.update(key(KeyCode::Right));
    let s = snap("decision_form", &app, 100, 30);
    assert!(s.contains("Task 41: approved"));
    assert!(s.contains("*Cost centre"));
    assert!(s.contains("12400"));
    assert!(s.contains("‹ urgent ›"));
    assert!(s.contains("✗ field 'cost_centre' is required"));
}

/// An agent review: the proposal's fields prefilled with the agent's values.
#[test]
fn review_form() {
    let mut app = fixture::app();
    let t = task_mut(&mut app, 44);
    if let crate::types::event::TaskKind::AgentReview { proposal, .. } = &t.kind {
        t.form = crate::types::form::proposal_form(proposal);
    }
    select_task(&mut app, 44);
    app.update(ch('a'));
    app.update(key(KeyCode::Down));
    app.update(ctrl('u'));
    typed(&mut app, "high");
    let s = snap("review_form", &app, 100, 30);
    assert!(s.contains("Review task 44: approved"));
    assert!(s.contains("agent confidence 62%"));
    assert!(s.contains("8120.5"));
    match &app.mode {
        Mode::Form(d) => {
            assert_eq!(
                d.inputs[0].text, "approve",
                "the agent's decision is prefilled"
            );
            assert_eq!(d.inputs[1].text, "high");
        }
        other => panic!("no form: {other:?}"),
    }
}

/// Task details keep their line breaks in the inbox preview.
#[test]
fn inbox_details_keep_lines() {
    let mut app = fixture::app();
    task_mut(&mut app, 41).details =
        Some("Supplier: Nordwind Logistics GmbH\nPO match: matched PO 4471\nRisk: low_risk".into());
    select_task(&mut app, 41);
    let s = snap("inbox_details_keep_lines", &app, 120, 40);
    let line = |text: &str| s.lines().position(|l| l.contains(text));
    let (a, b) = (
        line("Supplier: Nordwind Logistics GmbH"),
        line("PO match: matched PO 4471"),
    );
    assert!(a.is_some() && b == a.map(|a| a + 1), "{s}");
    assert!(!s.contains("GmbHPO"));
}

/// At 120 columns each list pane fits its columns to what is on screen: whole keys,
/// titles with the room, STEP and STATE no wider than their widest value.
#[test]
fn fitted_columns_at_120() {
    let mut app = fixture::app();
    let items = snap("fitted_items_120", &app, 120, 40);
    assert!(items.contains("INV-2026-02041") && items.contains("Northwind Traders"));
    let head = items
        .lines()
        .find(|l| l.contains("WORKFLOW"))
        .unwrap_or_default();
    let step = head.find("STEP").unwrap_or(0);
    let age = head.find("AGE").unwrap_or(0);
    assert!(
        age > step && age - step <= 25,
        "STEP is as wide as its widest step: {head}"
    );
    assert!(
        items.contains("│ in flight 17  waiting on humans 6"),
        "full labels at 120"
    );
    focus(&mut app, Pane::Sla);
    let sla = snap("fitted_sla_120", &app, 120, 40);
    let row = sla
        .lines()
        .find(|l| l.contains("BREACHED"))
        .unwrap_or_default();
    assert!(
        row.trim_end_matches(['┃', '│', '"']).ends_with("BREACHED"),
        "STATE is the last column and no wider than BREACHED: {row:?}"
    );
    focus(&mut app, Pane::Inbox);
    let inbox = snap("fitted_inbox_120", &app, 120, 40);
    assert!(inbox.contains("Approve invoice INV-2041 from Northwind Traders (€12,400.00)"));
    assert!(
        inbox.contains("INV-2026-02041"),
        "the key beside the title at 120"
    );
}

/// `/` matches a business key: the invoice is found by its number.
#[test]
fn filter_by_key() {
    let mut app = fixture::app();
    app.update(ch('/'));
    typed(&mut app, "INV-2026-02041");
    app.update(key(KeyCode::Enter));
    let s = snap("filter_by_key", &app, 200, 50);
    assert!(s.contains("Work items (1)"), "one item has that key");
    assert!(s.contains("Northwind Traders"));
    assert!(s.contains("SLA board (1)"));
}

#[test]
fn command_completions() {
    let mut app = fixture::app();
    app.update(ch(':'));
    typed(&mut app, "s");
    app.update(key(KeyCode::Tab));
    app.update(key(KeyCode::Tab));
    let s = snap("command_completions", &app, 100, 24);
    let footer = s.lines().last().unwrap_or_default();
    assert!(
        footer.starts_with(":skip "),
        "the second Tab puts the second candidate in the line: {footer}"
    );
    for verb in ["signal", "skip", "sla", "start"] {
        assert!(footer.contains(verb), "{verb} is offered: {footer}");
    }
    assert!(footer.contains("[2/"), "which of how many: {footer}");
}

#[test]
fn quit_demo_confirm() {
    let mut app = fixture::app();
    app.update(ch('q'));
    let s = snap("quit_demo_confirm", &app, 80, 24);
    assert!(s.contains("Quit the demo?"), "{s}");
}

/// The KPI view: `:report` asks for the default window, shows the figures when they
/// come, Tab asks for the next window and keeps the figures until they arrive.
#[test]
fn report_view() {
    use crate::console::model::Update;
    use crate::types::report::Report;
    use crate::types::tally::{Counts, Fact, Totals};
    let mut app = fixture::app();
    typed(&mut app, ":report");
    let effects = app.update(key(KeyCode::Enter));
    assert!(
        effects.contains(&Effect::Report(None)),
        "the retained window: {effects:?}"
    );
    let waiting = text(&render(&app, 140, 20));
    assert!(waiting.contains("Asking the engine"), "{waiting}");
    let mut t = Totals::default();
    for (wf, cycle_s) in [("invoice-approval", 300), ("invoice-approval", 900)] {
        t.add(wf, Fact::Started);
        t.add(
            wf,
            Fact::Completed {
                cycle_us: cycle_s * 1_000_000,
            },
        );
        t.add(wf, Fact::Sla { met: cycle_s < 600 });
        t.add(
            wf,
            Fact::Decided {
                wait_us: 120_000_000,
            },
        );
    }
    t.add("customer-onboarding", Fact::Started);
    t.add("customer-onboarding", Fact::Failed);
    t.add("customer-onboarding", Fact::Incident);
    let sums: std::collections::BTreeMap<String, Counts> = t.workflows.clone();
    let at = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    let report = Report::build(
        Some(at("2026-11-24T09:00:00Z")),
        at("2026-12-01T09:00:00Z"),
        sums,
        ["incident-response".to_string()],
    );
    app.update(Msg::Update(Update::Report(Ok(Box::new(report)))));
    let s = snap("report_view", &app, 140, 20);
    assert!(
        s.contains("Report · retained since 2026-11-24 09:00 UTC (7d00h)"),
        "{s}"
    );
    assert!(s.contains("invoice-approval"), "{s}");
    assert!(s.contains("50.0%"), "SLA met of invoice-approval: {s}");
    assert!(
        s.contains("100.0%"),
        "error rate of customer-onboarding: {s}"
    );
    // At 80 columns the figures stay whole: names are cut, then the last columns go.
    let narrow = text(&render(&app, 80, 24));
    assert!(narrow.contains("50.0%"), "{narrow}");
    assert!(narrow.contains("100.0%"), "{narrow}");
    assert!(narrow.contains("custome…"), "{narrow}");
    let smallest = text(&render(&app, 60, 16));
    assert!(smallest.contains("50.0%"), "{smallest}");
    // Many workflows: the rows scroll, the total stays in sight.
    let mut many = (0..60)
        .map(|i| (format!("wf-{i:02}"), Counts::default()))
        .collect::<std::collections::BTreeMap<_, _>>();
    many.insert("wf-00".into(), t.workflows["invoice-approval"].clone());
    let big = Report::build(
        Some(at("2026-11-24T09:00:00Z")),
        at("2026-12-01T09:00:00Z"),
        many,
        [],
    );
    app.update(Msg::Update(Update::Report(Ok(Box::new(big)))));
    let s = text(&render(&app, 140, 20));
    assert!(s.contains("total"), "{s}");
    assert!(s.contains(" of 60 (↑↓)") && !s.contains("wf-59"), "{s}");
    app.update(key(KeyCode::End));
    let s = text(&render(&app, 140, 20));
    assert!(s.contains("wf-59") && s.contains("–60 of 60"), "{s}");
    app.update(key(KeyCode::Home));
    // Tab: the last hour, asked for; the figures stay meanwhile.
    let effects = app.update(key(KeyCode::Tab));
    assert!(
        matches!(effects.as_slice(), [Effect::Report(Some(_))]),
        "{effects:?}"
    );
    let s = text(&render(&app, 140, 20));
    assert!(s.contains("Report · 1h"), "{s}");
    assert!(
        s.contains("wf-00"),
        "the last figures stay until the new ones come: {s}"
    );
    // A refused report says why, in the view.
    app.update(Msg::Update(Update::Report(Err(SourceError::Refused(
        "no".into(),
    )))));
    assert!(text(&render(&app, 140, 20)).contains("cannot read the report: no"));
    // A bad window is refused on the command line; Esc closes.
    app.update(key(KeyCode::Esc));
    assert!(matches!(app.mode, Mode::Normal));
    typed(&mut app, ":report last week");
    let effects = app.update(key(KeyCode::Enter));
    assert!(
        !effects.iter().any(|e| matches!(e, Effect::Report(_))),
        "{effects:?}"
    );
    assert!(!matches!(app.mode, Mode::Report(_)));
}

/// A deploy arrives: `:workflows` lists every version with its items in flight (v4 is
/// the newest now, v3 still runs its items), and the events pane says who deployed it.
#[test]
fn workflows_after_a_deploy() {
    use crate::types::changes::{Changes, EventLine};
    use crate::types::deploy::WorkflowVersion;
    let mut app = fixture::app();
    let invoices = |v: u32| {
        app.model
            .items
            .values()
            .filter(|i| i.workflow == "invoice-approval" && i.version == v)
            .filter(|i| !i.status.is_final())
            .count() as u64
    };
    let on_v3 = invoices(3);
    assert!(on_v3 > 0, "the fixture runs invoices on v3");
    let mut started = app.model.items[&109].clone();
    started.id = 140;
    started.version = 4;
    started.status = crate::types::view::ItemStatus::Running;
    started.incident = None;
    let line = EventLine {
        seq: 48_212,
        at: fixture::now(),
        item: None,
        kind: "workflow_loaded".into(),
        detail: "invoice-approval v4".into(),
        actor: "ann".into(),
    };
    let metrics = app.model.metrics.clone();
    app.update(Msg::Update(crate::console::model::Update::Changes(
        std::sync::Arc::new(Changes {
            seq: 48_212,
            items: vec![started],
            metrics,
            lines: vec![line],
            workflows: vec![WorkflowVersion {
                name: "invoice-approval".into(),
                version: 4,
            }],
            ..Default::default()
        }),
    )));
    app.update(ch(':'));
    typed(&mut app, "workflows");
    app.update(key(KeyCode::Enter));
    assert!(matches!(app.mode, Mode::Workflows { cursor: 0 }));
    let s = snap("workflows_after_a_deploy", &app, 120, 30);
    assert!(s.contains("Workflows (5 versions, "), "{s}");
    // The dialog's row of a version: the words between its borders.
    let row = |v: &str| {
        s.lines()
            .filter_map(|l| l.split('║').nth(1))
            .find(|l| l.starts_with("invoice-approval") && l.contains(v))
            .unwrap_or_else(|| panic!("no row of invoice-approval {v}: {s}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(row(" v2 "), "invoice-approval v2 0");
    assert_eq!(row(" v3 "), format!("invoice-approval v3 {on_v3}"));
    assert_eq!(row(" v4 "), "invoice-approval v4 1 newest");
    // `:start` completes the names, each once.
    assert_eq!(
        app.model.workflows,
        [
            "customer-onboarding",
            "incident-response",
            "invoice-approval"
        ]
    );
    // Enter shows the selected workflow's items.
    while !matches!(app.versions.get(match app.mode {
        Mode::Workflows { cursor } => cursor,
        _ => usize::MAX,
    }), Some(v) if v.version == 4)
    {
        app.update(key(KeyCode::Down));
    }
    app.update(key(KeyCode::Enter));
    assert!(matches!(app.mode, Mode::Normal));
    assert_eq!(app.filter.text, "wf:invoice-approval");

    app.update(key(KeyCode::Esc));
    focus(&mut app, Pane::Events);
    let s = snap("events_say_who_deployed", &app, 120, 30);
    assert!(s.contains("invoice-approval v4 deployed by ann"), "{s}");
    assert!(
        !s.contains("loaded invoice-approval"),
        "only the engine loads from the dir: {s}"
    );
}

/// A task that needs two approvals says how many it has and from whom; the reassign
/// picker lists the directory's people with their role and open tasks.
#[test]
fn four_eyes_in_the_inbox_and_people_in_the_picker() {
    let mut app = fixture::app();
    let t = task_mut(&mut app, 41);
    t.approvals = 2;
    t.approved_by = vec!["carol".into()];
    app.opts.directory = crate::types::identity::Listing {
        operators: vec![crate::types::identity::OperatorView {
            name: "dora".into(),
            role: crate::types::identity::Role::Approver,
            groups: vec!["finance".into()],
            added: None,
            revoked: None,
            bootstrap: false,
            open_tasks: 0,
        }],
        groups: Default::default(),
    };
    select_task(&mut app, 41);
    let s = snap("inbox_four_eyes", &app, 120, 40);
    assert!(s.contains("1 of 2 approvals (carol)"), "{s}");
    app.update(ch('r'));
    let s = snap("reassign_picker_directory", &app, 100, 30);
    assert!(s.contains("@dora  approver · 0 open"), "{s}");
    assert!(s.contains("finance  1 person ·"), "{s}");
}
