//! The cursor stays on the item or task it was on when rows arrive above it.

use crossterm::event::KeyCode;

use super::fixture::{app, ch, items, key, now};
use crate::console::app::{App, Msg, Pane};
use crate::console::model::Update;
use crate::types::view::ItemStatus;

/// A new item in flight arrives from the feed.
fn arrive(a: &mut App, id: u64) {
    let mut fresh = items()[0].clone();
    fresh.id = id;
    fresh.status = ItemStatus::Running;
    fresh.started_at = now();
    let metrics = a.model.metrics.clone();
    a.update(Msg::Update(Update::Changes(std::sync::Arc::new(
        crate::types::changes::Changes {
            items: vec![fresh],
            metrics,
            ..Default::default()
        },
    ))));
}

#[test]
fn new_items_above_the_cursor_do_not_move_the_selection() {
    let mut a = app();
    for _ in 0..3 {
        a.update(key(KeyCode::Down));
    }
    let before = a.cursor_item().expect("an item under the cursor");
    arrive(&mut a, 10_000);
    assert_eq!(
        a.item_at(Pane::Items, 0).map(|i| i.id),
        Some(10_000),
        "newest first"
    );
    assert_eq!(a.cursor_item(), Some(before), "still on the same item");
    assert_eq!(a.list(Pane::Items).cursor, 4, "one row further down");
    assert_eq!(a.list(Pane::Items).new, 1, "the title counts it");
    arrive(&mut a, 10_001);
    assert_eq!(a.list(Pane::Items).new, 2);
    assert_eq!(a.cursor_item(), Some(before));
    a.update(ch('g'));
    assert_eq!(
        a.list(Pane::Items).new,
        0,
        "seen once the cursor is back on top"
    );
    assert_eq!(a.cursor_item(), Some(10_001));
}

#[test]
fn on_the_first_row_the_list_follows_new_rows_in() {
    let mut a = app();
    let top = a.cursor_item();
    arrive(&mut a, 10_000);
    assert_eq!(a.list(Pane::Items).cursor, 0);
    assert_eq!(a.cursor_item(), Some(10_000), "the new item, not {top:?}");
    assert_eq!(a.list(Pane::Items).new, 0);
}

#[test]
fn o_sorts_the_focused_pane_and_angle_brackets_step_through_its_columns() {
    use crate::console::app::sort::SortKey;
    let mut a = app();
    a.update(ch('3'));
    let items_before = a.order(Pane::Items);
    a.update(ch('o'));
    assert_eq!(a.order(Pane::Inbox).map(|o| o.key), Some(SortKey::Priority));
    assert_eq!(
        a.order(Pane::Items),
        items_before,
        "o in the inbox sorts the inbox"
    );
    let prios: Vec<i32> = (0..a.len(Pane::Inbox))
        .filter_map(|r| a.task_at(r).map(|t| t.priority))
        .collect();
    assert!(prios.windows(2).all(|w| w[0] >= w[1]), "{prios:?}");
    a.update(ch('<'));
    assert_eq!(a.order(Pane::Inbox).map(|o| o.key), Some(SortKey::Due));
    a.update(ch('1'));
    for c in ":sort -priority".chars() {
        a.update(ch(c));
    }
    a.update(key(KeyCode::Enter));
    let o = a.order(Pane::Items).expect("items sort");
    assert_eq!((o.key, o.reverse), (SortKey::Priority, true));
    let prios: Vec<i32> = (0..a.len(Pane::Items))
        .filter_map(|r| a.item_at(Pane::Items, r).map(|i| i.priority))
        .collect();
    assert!(
        prios.windows(2).all(|w| w[0] <= w[1]),
        "lowest first: {prios:?}"
    );
    for c in ":sort speed".chars() {
        a.update(ch(c));
    }
    a.update(key(KeyCode::Enter));
    assert_eq!(
        a.order(Pane::Items),
        Some(o),
        "a bad column changes nothing"
    );
    let said = a.toasts.back().map(|t| t.text.clone()).unwrap_or_default();
    assert!(
        said.contains("cannot sort by 'speed'") && said.contains("priority"),
        "{said}"
    );
}

#[test]
fn the_events_pane_hides_step_progress_until_asked_and_filters_with_slash() {
    let mut a = app();
    let chatter = |a: &App| {
        (0..a.len(Pane::Events))
            .filter_map(|r| a.record_at(r))
            .filter(|r| r.kind == "step_started" || r.kind == "step_scheduled")
            .count()
    };
    assert!(a.len(Pane::Events) > 0);
    assert_eq!(chatter(&a), 0, "hidden by default");
    a.update(ch('v'));
    assert!(chatter(&a) > 0, "v shows it");
    a.update(ch('/'));
    for c in "task_decided".chars() {
        a.update(ch(c));
    }
    a.update(key(KeyCode::Enter));
    let kinds: Vec<String> = (0..a.len(Pane::Events))
        .filter_map(|r| a.record_at(r).map(|r| r.kind.clone()))
        .collect();
    assert!(!kinds.is_empty());
    assert!(kinds.iter().all(|k| k == "task_decided"), "{kinds:?}");
}

#[test]
fn the_events_pane_pauses_visibly_when_the_cursor_leaves_the_top() {
    let mut a = app();
    a.update(ch('4'));
    a.update(ch('j'));
    let on = a.record_at(a.list(Pane::Events).cursor).map(|r| r.seq);
    let mut line = a.record_at(0).cloned().expect("a record");
    line.seq += 1000;
    line.kind = "sla_breached".into();
    let metrics = a.model.metrics.clone();
    a.update(Msg::Update(Update::Changes(std::sync::Arc::new(
        crate::types::changes::Changes {
            lines: vec![line],
            metrics,
            ..Default::default()
        },
    ))));
    assert_eq!(a.record_at(a.list(Pane::Events).cursor).map(|r| r.seq), on);
    assert_eq!(a.list(Pane::Events).new, 1);
}

#[test]
fn opening_and_leaving_the_filter_prompt_keeps_the_selection() {
    let mut a = app();
    for _ in 0..3 {
        a.update(key(KeyCode::Down));
    }
    let before = a.cursor_item();
    a.update(key(KeyCode::Char('/')));
    a.update(key(KeyCode::Esc));
    assert_eq!(a.cursor_item(), before, "Esc");
    a.update(key(KeyCode::Char('/')));
    a.update(key(KeyCode::Enter));
    assert_eq!(a.cursor_item(), before, "Enter on the same filter");
}

#[test]
fn a_bad_filter_submitted_leaves_the_old_one() {
    let mut a = app();
    a.update(key(KeyCode::Char('/')));
    for c in "status:incdent".chars() {
        a.update(key(KeyCode::Char(c)));
    }
    a.update(key(KeyCode::Enter));
    assert!(
        a.filter.is_empty(),
        "the typo is not half-applied: {:?}",
        a.filter
    );
    assert!(a.len(Pane::Items) > 0);
}

#[test]
fn the_events_pane_has_no_marks() {
    let mut a = app();
    for _ in 0..3 {
        a.update(key(KeyCode::Tab));
    }
    assert_eq!(a.focus, Pane::Events);
    a.update(key(KeyCode::Char(' ')));
    assert!(a.list(Pane::Events).marks.is_empty());
}

#[test]
fn j_and_k_move_like_the_arrows_and_digits_jump_to_panes() {
    use super::fixture::ch;
    let mut a = app();
    a.update(ch('j'));
    a.update(ch('j'));
    assert_eq!(a.list(Pane::Items).cursor, 2);
    a.update(ch('k'));
    assert_eq!(
        a.list(Pane::Items).cursor,
        1,
        "k moves up, it no longer cancels"
    );
    assert!(matches!(a.mode, crate::console::app::Mode::Normal));
    for (digit, pane) in [
        ('2', Pane::Sla),
        ('3', Pane::Inbox),
        ('4', Pane::Events),
        ('1', Pane::Items),
    ] {
        a.update(ch(digit));
        assert_eq!(a.focus, pane, "{digit}");
    }
}

#[test]
fn columns_hides_and_shows_a_panes_columns_by_name() {
    let mut a = app();
    let run = |a: &mut App, line: &str| {
        a.update(ch(':'));
        for c in line.chars() {
            a.update(ch(c));
        }
        a.update(key(KeyCode::Enter));
        a.toasts.back().map(|t| t.text.clone()).unwrap_or_default()
    };
    let said = run(&mut a, "columns -prio -sla");
    assert!(
        !a.shown(Pane::Items, "PRIO") && !a.shown(Pane::Items, "SLA"),
        "{said}"
    );
    assert!(
        said.contains("-prio") && said.contains("-sla") && said.contains("title"),
        "{said}"
    );
    assert!(a.shown(Pane::Sla, "WORKFLOW"), "other panes keep theirs");
    let said = run(&mut a, "columns speed");
    assert!(
        said.contains("no column 'speed'") && said.contains("prio"),
        "{said}"
    );
    let said = run(&mut a, "columns -id");
    assert!(
        said.contains("stays") && a.shown(Pane::Items, "ID"),
        "{said}"
    );
    run(&mut a, "columns prio");
    assert!(a.shown(Pane::Items, "PRIO") && !a.shown(Pane::Items, "SLA"));
    run(&mut a, "columns all");
    assert!(a.shown(Pane::Items, "SLA"));
    a.update(ch('2'));
    run(&mut a, "columns -sla-used");
    assert!(!a.shown(Pane::Sla, "SLA USED"));
}
