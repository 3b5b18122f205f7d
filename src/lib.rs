//! tempi: a terminal operations console with a durable orchestration engine inside.

pub mod api;
pub mod bench;
pub mod cli;
pub mod console;
pub mod definition;
pub mod demo;
pub mod engine;
pub mod exec;
pub mod feed;
pub mod store;
pub mod text;
pub mod types;
