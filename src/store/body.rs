//! How a record is stored in the journal's `body` column: its JSON without what the
//! row already says or what is the rule (the seq is the row's key, an item event's item
//! is in the event, the actor is the engine unless said). Bodies written before this
//! (with every field) read the same.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::types::event::{Event, ItemId, Record};

const ENGINE: &str = "engine";

#[derive(Serialize)]
struct Out<'a> {
    /// Nanoseconds since the epoch: 19 digits instead of 30 characters of text.
    at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    item: Option<ItemId>,
    #[serde(skip_serializing_if = "is_engine")]
    actor: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    via: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    event: &'a Event,
}

fn is_engine(actor: &&str) -> bool {
    *actor == ENGINE
}

/// A record's time: nanoseconds since the epoch, or RFC 3339 text (earlier bodies).
#[derive(Deserialize)]
#[serde(untagged)]
enum At {
    Nanos(i64),
    Text(DateTime<Utc>),
}

#[derive(Deserialize)]
struct In {
    #[serde(default)]
    seq: Option<u64>,
    at: At,
    #[serde(default)]
    item: Option<ItemId>,
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    via: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    event: Event,
}

/// Write `record`'s body into `buf`.
pub fn encode(record: &Record, buf: &mut Vec<u8>) -> serde_json::Result<()> {
    let item = record.item.filter(|i| record.event.item() != Some(*i));
    let Some(at) = record.at.timestamp_nanos_opt() else {
        return Err(serde::ser::Error::custom(format!(
            "record {} is dated {}, outside what the journal stores (1677-2262)",
            record.seq, record.at
        )));
    };
    let out = Out {
        at,
        item,
        actor: &record.actor,
        via: record.via.as_deref(),
        reason: record.reason.as_deref(),
        event: &record.event,
    };
    serde_json::to_writer(buf, &out)
}

/// The record in a body stored under `seq`; an error names what does not fit.
pub fn decode(seq: u64, body: &str) -> Result<Record, String> {
    let b: In = serde_json::from_str(body).map_err(|e| format!("body is not a record: {e}"))?;
    if let Some(said) = b.seq.filter(|s| *s != seq) {
        return Err(format!("body says seq {said}"));
    }
    let item = b.item.or_else(|| b.event.item());
    let at = match b.at {
        At::Nanos(n) => DateTime::from_timestamp_nanos(n),
        At::Text(t) => t,
    };
    Ok(Record {
        seq,
        at,
        item,
        actor: b.actor.unwrap_or_else(|| ENGINE.to_string()),
        via: b.via,
        reason: b.reason,
        event: b.event,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(item: Option<ItemId>, actor: &str, event: Event) -> Record {
        Record {
            seq: 42,
            at: DateTime::from_timestamp(1_700_000_000, 5).unwrap(),
            item,
            actor: actor.into(),
            via: None,
            reason: None,
            event,
        }
    }

    #[test]
    fn bodies_round_trip_and_leave_out_what_the_row_says() {
        let cases = [
            rec(Some(7), "engine", Event::ItemCompleted { item: 7 }),
            rec(
                Some(7),
                "alice",
                Event::TaskClaimed {
                    task: 3,
                    by: "alice".into(),
                },
            ),
            rec(None, "engine", Event::TaskOverdue { task: 9 }),
            rec(Some(8), "engine", Event::ItemCompleted { item: 7 }),
        ];
        for r in cases {
            let mut buf = Vec::new();
            encode(&r, &mut buf).unwrap();
            let text = String::from_utf8(buf).unwrap();
            assert!(!text.contains("\"seq\""), "{text}");
            assert_eq!(text.contains("\"actor\""), r.actor != "engine", "{text}");
            assert_eq!(decode(42, &text).unwrap(), r, "{text}");
        }
    }

    #[test]
    fn full_bodies_of_earlier_versions_read_the_same() {
        let r = rec(Some(7), "engine", Event::ItemCompleted { item: 7 });
        let full = serde_json::to_string(&r).unwrap();
        assert_eq!(decode(42, &full).unwrap(), r);
        assert_eq!(decode(41, &full).unwrap_err(), "body says seq 42");
    }
}
