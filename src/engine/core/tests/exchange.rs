//! The HTTP exchange of an attempt: journaled with its step event, kept as the step's
//! latest, replayed and restored with the rest, and masked like everything kept.

use super::*;
use crate::types::exchange::{Body, Exchange, Request, Response};
use crate::types::job::Outcome;
use crate::types::secrets::Secrets;

fn exchange(url: &str, status: Option<u16>, body: Option<Body>) -> Box<Exchange> {
    Box::new(Exchange {
        request: Request {
            method: "POST".into(),
            url: url.into(),
            headers: vec![("idempotency-key".into(), "k".into())],
            headers_omitted: 0,
            body: Some(Body::of(br#"{"n":1}"#, 7)),
        },
        response: status.map(|status| Response {
            status,
            headers: vec![("content-type".into(), "text/plain".into())],
            headers_omitted: 0,
            body,
        }),
        duration_ms: 42,
    })
}

fn answer(result: Result<Value, StepError>, x: Box<Exchange>) -> Outcome {
    Outcome {
        result,
        exchange: Some(x),
    }
}

/// The exchange the turn's step event journaled.
fn journaled(recs: &[Record]) -> Option<Exchange> {
    recs.iter().find_map(|r| match &r.event {
        Event::StepSucceeded { exchange, .. } | Event::StepFailed { exchange, .. } => {
            exchange.as_deref().cloned()
        }
        _ => None,
    })
}

fn shown(h: &H, item: ItemId, step: &str) -> Option<Exchange> {
    let d = h.detail(item).expect("the item");
    d.steps.into_iter().find(|s| s.id == step)?.exchange
}

fn status_503() -> StepError {
    StepError::new(StepErrorKind::Status, "unexpected status 503").with_code("503")
}

#[test]
fn the_latest_exchange_is_journaled_shown_replayed_and_restored() {
    let wf = workflow(
        "x",
        vec![
            with(http("a", &[]), |s| s.retry = retry(2, 1, 2.0)),
            http("b", &["a"]),
        ],
    );
    let mut h = H::new(vec![wf]);
    let item = h.start("x", json!({}));
    let a1 = h.take(None, "a", Phase::Run);
    let down = exchange("http://svc/a", Some(503), Some(Body::of(b"down", 4)));
    let recs = h.deliver_outcome(&a1, answer(Err(status_503()), down.clone()));
    assert_eq!(journaled(&recs).as_ref(), Some(&*down));
    assert_eq!(
        shown(&h, item, "a").as_ref(),
        Some(&*down),
        "while it retries"
    );

    h.advance(1);
    let a2 = h.take(None, "a", Phase::Run);
    let up = exchange("http://svc/a", Some(200), None);
    let recs = h.deliver_outcome(&a2, answer(Ok(json!({ "id": 1 })), up.clone()));
    assert_eq!(journaled(&recs).as_ref(), Some(&*up));
    assert_eq!(
        shown(&h, item, "a"),
        None,
        "a success's exchange is in its record only, not held in memory"
    );
    h.take_snapshot(false);
    h.replayed();
    h.restored();

    // An answer with no exchange (a double, a shell step) shows none.
    let recs = h.complete("b", Ok(json!({})));
    assert_eq!(journaled(&recs), None);
    assert_eq!(shown(&h, item, "b"), None);
    assert_eq!(h.status(item), ItemStatus::Completed);
    // Rebuilt from its records once ended, as the handle does: still none held.
    assert_eq!(shown(&h, item, "a"), None);
    h.crash();
    assert_eq!(shown(&h, item, "a"), None);
}

#[test]
fn a_refused_output_and_an_operator_retry() {
    let wf = workflow("x", vec![http("a", &[])]);
    let mut h = H::new(vec![wf]);
    let item = h.start("x", json!({}));
    let a = h.take(None, "a", Phase::Run);
    let x = exchange("http://svc/a", Some(200), None);
    // Past the output limit: a failure, still with the call that gave it.
    let mut deep = json!(1);
    for _ in 0..=crate::engine::core::guard::MAX_DEPTH {
        deep = json!([deep]);
    }
    let recs = h.deliver_outcome(&a, answer(Ok(deep), x.clone()));
    assert!(
        recs.iter()
            .any(|r| matches!(&r.event, Event::StepFailed { error, .. } if error.kind == StepErrorKind::Limit))
    );
    assert_eq!(journaled(&recs).as_ref(), Some(&*x));
    assert_eq!(h.status(item), ItemStatus::Incident);
    h.cmd("op", Command::Retry { item, from: None })
        .expect("retry");
    assert_eq!(shown(&h, item, "a"), None, "a retried step starts over");
    h.replayed();
}

#[test]
fn secrets_in_an_exchange_are_masked_and_a_cut_one_is_not_left_half_shown() {
    const SECRET: &str = "s3cr3t-K3y-9";
    let wf = workflow("x", vec![http("a", &[])]);
    let mut h = H::new(vec![wf]);
    let secrets = Secrets::new([("API_KEY".to_string(), SECRET.to_string())].into()).unwrap();
    h.core.set_secrets(secrets);
    let item = h.start("x", json!({}));
    let a = h.take(None, "a", Phase::Run);
    let mut x = exchange(
        &format!("http://svc/a/{SECRET}?key={SECRET}"),
        Some(401),
        // The excerpt ends where 4 KiB did: inside the secret.
        Some(Body::of(
            format!("bad key {}", &SECRET[..8]).as_bytes(),
            9_000,
        )),
    );
    x.request
        .headers
        .push(("x-trace".into(), format!("t-{SECRET}")));
    x.request.body = Some(Body::of(format!(r#"{{"note":"{SECRET}"}}"#).as_bytes(), 23));
    let recs = h.deliver_outcome(&a, answer(Err(status_503()), x));
    let kept = journaled(&recs).expect("journaled");
    let masked = "[secret:API_KEY]";
    assert_eq!(
        kept.request.url,
        format!("http://svc/a/{masked}?key={masked}")
    );
    assert_eq!(kept.request.headers[1].1, format!("t-{masked}"));
    let sent = kept.request.body.as_ref().map(|b| b.excerpt.as_str());
    assert_eq!(sent, Some(format!(r#"{{"note":"{masked}"}}"#).as_str()));
    let got = kept.response.as_ref().and_then(|r| r.body.as_ref());
    assert_eq!(got.map(|b| b.excerpt.as_str()), Some("bad key "));
    let text = serde_json::to_string(&recs).unwrap();
    assert!(!text.contains(&SECRET[..6]), "{text}");
    assert_eq!(
        shown(&h, item, "a"),
        Some(kept),
        "the detail is the journal's"
    );
}
