//! Console tests: snapshots of every pane and layout, and key presses against a real
//! embedded engine.
