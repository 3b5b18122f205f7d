//! Every shipped workflow validates cleanly, and every broken fixture reports exactly
//! the problems it was written to show, at the right file:line:col.

use std::path::Path;

use tempi::definition::{Diagnostic, parse_file};

fn diags(path: &str) -> Vec<String> {
    match parse_file(Path::new(path)) {
        Ok(_) => Vec::new(),
        Err(d) => d.iter().map(Diagnostic::to_string).collect(),
    }
}

#[test]
#[ignore = "debugging aid: TEMPI_DUMP=path cargo test --test validate dump -- --ignored"]
fn dump() {
    if let Ok(p) = std::env::var("TEMPI_DUMP") {
        for d in diags(&p) {
            println!("{d}");
        }
    }
}
