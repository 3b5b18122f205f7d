//! The cursor stays on the item or task it was on when rows arrive above it.

use crossterm::event::KeyCode;

use super::fixture::{app, items, key, now};
use crate::console::app::Pane;
use crate::console::model::Update;
use crate::engine::view::ItemStatus;

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
    a.update(crate::console::app::Msg::Update(Update::Delta {
        items: vec![fresh],
        tasks: None,
        metrics: None,
        records: vec![],
    }));
    assert_eq!(
        a.item_at(Pane::Items, 0).map(|i| i.id),
        Some(10_000),
        "newest first"
    );
    assert_eq!(a.cursor_item(), Some(before), "still on the same item");
    assert_eq!(a.list(Pane::Items).cursor, 4, "one row further down");
}
