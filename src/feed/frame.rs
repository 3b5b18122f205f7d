//! A committed record as watchers receive it: shared, and encoded as a server-sent
//! event once, by whichever watcher needs it first.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use crate::types::Record;

/// The records of one commit, as one message to every watcher (a wake-up per commit,
/// not per record).
pub type Commit = Arc<[Arc<Committed>]>;

pub struct Committed {
    pub record: Record,
    sse: OnceLock<Bytes>,
}

impl Committed {
    pub fn new(record: Record) -> Arc<Committed> {
        Arc::new(Committed {
            record,
            sse: OnceLock::new(),
        })
    }

    /// `id: SEQ` and `data: JSON`, a whole event.
    pub fn sse(&self) -> &Bytes {
        self.sse.get_or_init(|| {
            let data = serde_json::to_string(&self.record).unwrap_or_else(|e| {
                serde_json::json!({ "seq": self.record.seq, "error": e.to_string() }).to_string()
            });
            message(None, Some(self.record.seq), &data)
        })
    }
}

/// One server-sent event. `data` is one line: JSON text never holds a raw newline.
/// Without an `id`, a client keeps the last one it had.
pub fn message(event: Option<&str>, id: Option<u64>, data: &str) -> Bytes {
    let mut out = String::with_capacity(data.len() + 40);
    if let Some(event) = event {
        out.push_str("event: ");
        out.push_str(event);
        out.push('\n');
    }
    if let Some(id) = id {
        out.push_str("id: ");
        out.push_str(&id.to_string());
        out.push('\n');
    }
    out.push_str("data: ");
    out.push_str(data);
    out.push_str("\n\n");
    Bytes::from(out)
}
