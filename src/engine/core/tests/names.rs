//! Items named by their workflow's `key:` and `title:`: rendered at start and as the
//! steps they read succeed, journaled, replayed, snapshotted and kept when they end.

use super::*;
use crate::types::view::ItemSummary;

fn invoices() -> Workflow {
    workflow(
        "invoice",
        vec![http("extract", &[]), human("approve", &["extract"], |_| {})],
    )
    .with_names(
        Some("{{ steps.extract.output.number }}".into()),
        Some("{{ input.supplier }}".into()),
    )
}

fn summary(h: &H, item: ItemId) -> ItemSummary {
    match h.core.item(item) {
        Some(d) => d.summary,
        None => h.ended[&item].summary.clone(),
    }
}

fn named(recs: &[Record]) -> Vec<&Event> {
    recs.iter()
        .map(|r| &r.event)
        .filter(|e| matches!(e, Event::ItemNamed { .. }))
        .collect()
}

fn by_key(h: &H, key: &str, prefix: bool) -> Vec<ItemId> {
    let f = ItemFilter {
        key: (!prefix).then(|| key.to_string()),
        key_prefix: prefix.then(|| key.to_string()),
        ..Default::default()
    };
    h.core.items(&f).iter().map(|s| s.id).collect()
}

#[test]
fn a_key_read_from_a_step_appears_once_the_step_succeeds() {
    let mut h = H::new(vec![invoices()]);
    let item = h.start("invoice", json!({ "supplier": "Nordwind Logistics GmbH" }));
    let s = summary(&h, item);
    assert_eq!(s.title.as_deref(), Some("Nordwind Logistics GmbH"));
    assert_eq!(s.key, None, "the number is not known before OCR");
    let started = h
        .log
        .iter()
        .position(|r| matches!(r.event, Event::ItemStarted { .. }));
    let first_named = h
        .log
        .iter()
        .position(|r| matches!(r.event, Event::ItemNamed { .. }));
    assert_eq!(
        first_named,
        started.map(|s| s + 1),
        "named right after it started"
    );
    assert_eq!(h.log[first_named.unwrap()].actor, "engine");
    h.take_snapshot(false);

    let recs = h.complete("extract", Ok(json!({ "number": "INV-2026-09387" })));
    assert_eq!(
        named(&recs),
        [&Event::ItemNamed {
            item,
            key: Some("INV-2026-09387".into()),
            title: Some("Nordwind Logistics GmbH".into()),
            problem: None,
        }]
    );
    assert_eq!(summary(&h, item).key.as_deref(), Some("INV-2026-09387"));
    assert_eq!(
        by_key(&h, "inv-2026-09387", false),
        [item],
        "case is ignored"
    );
    assert_eq!(by_key(&h, "INV-2026-0938", false), Vec::<ItemId>::new());
    assert_eq!(by_key(&h, "INV-2026", true), [item]);
    assert_eq!(by_key(&h, "INV-2027", true), Vec::<ItemId>::new());

    // Durable: a replay of the journal and a restart from the snapshot (taken before
    // the key was known) both see it.
    let replayed = h.replayed();
    assert_eq!(
        replayed.item(item).unwrap().summary.key.as_deref(),
        Some("INV-2026-09387")
    );
    let restored = h.restored();
    assert_eq!(restored.item(item).unwrap().summary, summary(&h, item));
    h.take_snapshot(true);
    assert_eq!(
        h.restored().item(item).unwrap().summary.key.as_deref(),
        Some("INV-2026-09387"),
        "a snapshot keeps the names"
    );

    // Ended: the store's row keeps them, and a detail rebuilt from the records too.
    let task = h.core.tasks(&TaskFilter::default())[0].id;
    let decide = Command::Decide {
        task,
        decision: "approved".into(),
        comment: None,
        fields: None,
    };
    let recs = h
        .turn(|c, ctx| {
            c.command(
                ctx,
                &crate::types::identity::Who::root("alice"),
                None,
                &decide,
            )
        })
        .1;
    assert!(
        named(&recs).is_empty(),
        "a step the names do not read renders nothing"
    );
    let ended = &h.ended[&item].summary;
    assert_eq!(ended.status, ItemStatus::Completed);
    assert_eq!(ended.key.as_deref(), Some("INV-2026-09387"));
    assert_eq!(ended.title.as_deref(), Some("Nordwind Logistics GmbH"));
    assert_eq!(h.detail(item).unwrap().summary.key, ended.key);
}

#[test]
fn a_name_that_cannot_be_rendered_is_absent_with_the_reason_journaled() {
    let mut h = H::new(vec![invoices()]);
    let no_number = h.start("invoice", json!({ "supplier": "Contoso" }));
    let recs = h.complete_on(no_number, "extract", Ok(json!({ "amount": 12 })));
    let [
        Event::ItemNamed {
            key,
            title,
            problem,
            ..
        },
    ] = named(&recs)[..]
    else {
        panic!("one item_named: {recs:?}");
    };
    assert_eq!((key, title.as_deref()), (&None, Some("Contoso")));
    let problem = problem.as_deref().unwrap_or_default();
    assert!(
        problem.starts_with("key: ") && problem.contains("undefined"),
        "{problem}"
    );
    assert_eq!(
        h.status(no_number),
        ItemStatus::Waiting,
        "the item carries on"
    );

    let long = h.start("invoice", json!({ "supplier": "Fabrikam\u{1b}[31m\nLtd" }));
    assert_eq!(
        summary(&h, long).title.as_deref(),
        Some("Fabrikam [31m Ltd")
    );
    let recs = h.complete_on(long, "extract", Ok(json!({ "number": "9".repeat(129) })));
    let [
        Event::ItemNamed {
            key: None,
            problem: Some(p),
            ..
        },
    ] = named(&recs)[..]
    else {
        panic!("one item_named without a key: {recs:?}");
    };
    assert!(p.contains("129 characters"), "{p}");
    assert_eq!(h.status(long), ItemStatus::Waiting);

    // No input at all: the title fails at once (nothing it reads is pending).
    let bare = h.start("invoice", json!({}));
    let ev = h.log.iter().rev().find_map(|r| match &r.event {
        Event::ItemNamed { item, problem, .. } if *item == bare => problem.clone(),
        _ => None,
    });
    assert!(ev.is_some_and(|p| p.starts_with("title: ")));
    assert_eq!(summary(&h, bare).title, None);
    h.replayed();
}

#[test]
fn workflows_without_names_journal_nothing_more() {
    let mut h = H::new(vec![workflow("plain", vec![http("a", &[])])]);
    let item = h.start("plain", json!({ "supplier": "x" }));
    h.complete("a", Ok(json!({ "number": "1" })));
    assert_eq!(h.count(|e| matches!(e, Event::ItemNamed { .. })), 0);
    let s = &h.ended[&item].summary;
    assert_eq!((s.key.as_deref(), s.title.as_deref()), (None, None));
    let json = serde_json::to_value(s).unwrap();
    assert!(
        json.get("key").is_none(),
        "absent names are left out: {json}"
    );
}
