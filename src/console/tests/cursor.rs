//! The cursor stays on the item or task it was on when rows arrive above it.

use crossterm::event::KeyCode;

use super::fixture::{app, items, key, now};
use crate::console::app::Pane;
use crate::console::model::Update;
use crate::types::view::ItemStatus;

#[test]
fn new_items_above_the_cursor_do_not_move_the_selection() {
    let mut a = app();
    for _ in 0..3 {
        a.update(key(KeyCode::Down));
    }
    let before = a.cursor_item().expect("an item under the cursor");
    let mut fresh = items()[0].clone();
    fresh.id = 10_000;
    fresh.status = ItemStatus::Running;
    fresh.started_at = now();
    let metrics = a.model.metrics.clone();
    a.update(crate::console::app::Msg::Update(Update::Changes(
        std::sync::Arc::new(crate::types::changes::Changes {
            items: vec![fresh],
            metrics,
            ..Default::default()
        }),
    )));
    assert_eq!(
        a.item_at(Pane::Items, 0).map(|i| i.id),
        Some(10_000),
        "newest first"
    );
    assert_eq!(a.cursor_item(), Some(before), "still on the same item");
    assert_eq!(a.list(Pane::Items).cursor, 4, "one row further down");
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
