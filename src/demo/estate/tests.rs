//! The estate over real HTTP: every endpoint the shipped workflows call, faults, hangs
//! and idempotency keys.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;

async fn instant() -> Estate {
    Estate::start(EstateOptions::instant(), 1).await.unwrap()
}

/// Send a request and return the status and JSON body.
async fn call(
    method: &str,
    url: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value, bool) {
    let client = reqwest::Client::new();
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = client.request(method, url);
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let replayed = resp.headers().contains_key("idempotent-replayed");
    let body = resp.json::<Value>().await.unwrap_or(Value::Null);
    (status, body, replayed)
}

#[tokio::test]
async fn env_names_every_service_under_its_prefix() {
    let estate = instant().await;
    let env = estate.env();
    let names: Vec<&str> = env.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "AGENT_URL",
            "BANK_URL",
            "BILLING_URL",
            "CRM_URL",
            "DEPLOY_URL",
            "MAIL_URL",
            "MONITOR_URL",
            "OCR_URL",
            "PAGER_URL",
            "PROVISIONING_URL"
        ]
    );
    assert_eq!(env["CRM_URL"], format!("{}/crm", estate.url()));
    assert!(estate.url().starts_with("http://127.0.0.1:"));
    estate.shutdown().await;
}

#[tokio::test]
async fn onboarding_endpoints_answer_with_the_fields_the_workflow_reads() {
    let estate = instant().await;
    let env = estate.env();
    let customer =
        json!({ "name": "Copperleaf Health", "email": "it@copperleaf.example", "plan": "team" });
    let (st, c, _) = call(
        "POST",
        &format!("{}/customers", env["CRM_URL"]),
        Some("k1"),
        Some(customer),
    )
    .await;
    assert_eq!(st, 201, "{c}");
    let id = c["id"].as_str().unwrap().to_string();
    let (st, got, _) = call(
        "GET",
        &format!("{}/customers/{id}", env["CRM_URL"]),
        None,
        None,
    )
    .await;
    assert_eq!((st, got["name"].as_str()), (200, Some("Copperleaf Health")));

    let ws = json!({ "customer_id": id, "plan": "team", "region": "eu-west" });
    let (st, w, _) = call(
        "POST",
        &format!("{}/workspaces", env["PROVISIONING_URL"]),
        Some("k2"),
        Some(ws),
    )
    .await;
    assert_eq!(st, 201, "{w}");
    let ws_id = w["workspace_id"].as_str().unwrap().to_string();
    assert!(
        w["url"]
            .as_str()
            .unwrap()
            .starts_with("https://copperleaf-health."),
        "{w}"
    );

    let mail =
        json!({ "to": "it@copperleaf.example", "template": "welcome", "vars": { "company": "C" } });
    let (st, m, _) = call(
        "POST",
        &format!("{}/send", env["MAIL_URL"]),
        Some("k3"),
        Some(mail),
    )
    .await;
    assert_eq!(st, 202);
    assert!(m["message_id"].is_string());

    let sub = json!({ "customer_id": id, "plan": "team", "workspace": ws_id });
    let (st, s, _) = call(
        "POST",
        &format!("{}/subscriptions", env["BILLING_URL"]),
        Some("k4"),
        Some(sub),
    )
    .await;
    assert_eq!(st, 201, "{s}");
    assert!(s["id"].is_string());

    let (st, d, _) = call(
        "DELETE",
        &format!("{}/workspaces/{ws_id}", env["PROVISIONING_URL"]),
        Some("k2-undo"),
        None,
    )
    .await;
    assert_eq!((st, &d["deleted"]), (200, &json!(true)));
    let (st, d, _) = call(
        "DELETE",
        &format!("{}/customers/{id}", env["CRM_URL"]),
        Some("k1-undo"),
        None,
    )
    .await;
    assert_eq!((st, &d["deleted"]), (200, &json!(true)));
    let (_, got, _) = call(
        "GET",
        &format!("{}/customers/{id}", env["CRM_URL"]),
        None,
        None,
    )
    .await;
    assert_eq!(got["status"], "deleted");
    estate.shutdown().await;
}

#[tokio::test]
async fn invoice_endpoints_answer_with_the_fields_the_workflow_reads() {
    let estate = instant().await;
    let env = estate.env();
    estate.documents().file(
        "inbox/INV-7.pdf",
        json!({ "number": "INV-7", "amount": 980.5, "currency": "EUR", "po_number": "PO-1" }),
    );
    let doc = json!({ "doc": "inbox/INV-7.pdf", "supplier": "Acme" });
    let (st, inv, _) = call(
        "POST",
        &format!("{}/extract", env["OCR_URL"]),
        Some("o"),
        Some(doc),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(
        (inv["number"].as_str(), inv["amount"].as_f64()),
        (Some("INV-7"), Some(980.5))
    );
    assert_eq!(
        (inv["currency"].as_str(), inv["po_number"].as_str()),
        (Some("EUR"), Some("PO-1"))
    );

    let review = json!({ "invoice": inv, "supplier": "Acme" });
    let (st, risk, _) = call(
        "POST",
        &format!("{}/review", env["AGENT_URL"]),
        Some("a"),
        Some(review),
    )
    .await;
    assert_eq!(st, 200);
    crate::exec::agent::validate(risk).unwrap();

    let pay = json!({ "amount": 980.5, "currency": "EUR", "reference": "INV-7" });
    let url = format!("{}/payments", env["BANK_URL"]);
    let (st, p, replayed) = call("POST", &url, Some("pay-1"), Some(pay.clone())).await;
    assert_eq!((st, replayed), (201, false));
    let id = p["id"].as_str().unwrap().to_string();
    // The same key is the same payment, answered exactly as before.
    let (st, again, replayed) = call("POST", &url, Some("pay-1"), Some(pay.clone())).await;
    assert_eq!((st, replayed), (201, true));
    assert_eq!(again, p);
    let (_, other, _) = call("POST", &url, Some("pay-2"), Some(pay)).await;
    assert_ne!(other["id"], p["id"]);

    let (st, v, _) = call(
        "POST",
        &format!("{url}/{id}/void"),
        Some("pay-1-undo"),
        None,
    )
    .await;
    assert_eq!((st, v["status"].as_str()), (200, Some("voided")));
    let (_, got, _) = call("GET", &format!("{url}/{id}"), None, None).await;
    assert_eq!(got["status"], "voided");
    assert_eq!(estate.stats().replays, 1);
    estate.shutdown().await;
}

#[tokio::test]
async fn incident_endpoints_answer_with_the_fields_the_workflow_reads() {
    let estate = instant().await;
    let env = estate.env();
    let (st, h, _) = call(
        "GET",
        &format!("{}/services/checkout/health", env["MONITOR_URL"]),
        None,
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(h["service"], "checkout");
    assert!(["ok", "degraded", "down"].contains(&h["status"].as_str().unwrap()));

    let url = format!("{}/deploys?service=checkout&limit=5", env["DEPLOY_URL"]);
    let (st, d, _) = call("GET", &url, None, None).await;
    assert_eq!(st, 200);
    assert_eq!(d["deploys"].as_array().map(Vec::len), Some(5));
    let (st, _, _) = call(
        "GET",
        &format!("{}/deploys?limit=5", env["DEPLOY_URL"]),
        None,
        None,
    )
    .await;
    assert_eq!(st, 400);

    let page = json!({ "service": "checkout", "severity": "sev2", "summary": "checkout: 5xx", "health": h, "last_deploy": d });
    let (st, p, _) = call(
        "POST",
        &format!("{}/pages", env["PAGER_URL"]),
        Some("pg"),
        Some(page),
    )
    .await;
    assert_eq!(st, 202);
    assert_eq!(p["status"], "triggered");
    assert!(p["on_call"].is_string());
    estate.shutdown().await;
}

#[tokio::test]
async fn bad_requests_and_unknown_paths_are_refused_with_json() {
    let estate = instant().await;
    let (st, body, _) = call(
        "POST",
        &format!("{}/crm/customers", estate.url()),
        None,
        Some(json!([1])),
    )
    .await;
    assert_eq!(st, 400);
    assert!(body["error"].as_str().unwrap().contains("`name`"), "{body}");
    let (st, body, _) = call("GET", &format!("{}/nope", estate.url()), None, None).await;
    assert_eq!(st, 404);
    assert!(body["error"].as_str().unwrap().contains("GET /nope"));
    assert_eq!(estate.stats().refused, 1);
    estate.shutdown().await;
}

#[tokio::test]
async fn every_call_fails_transiently_at_error_rate_one() {
    let options = EstateOptions {
        error_rate: 1.0,
        ..EstateOptions::instant()
    };
    let estate = Estate::start(options, 9).await.unwrap();
    let env = estate.env();
    for _ in 0..20 {
        let url = format!("{}/services/auth/health", env["MONITOR_URL"]);
        let (st, body, _) = call("GET", &url, None, None).await;
        assert!([429, 500, 502, 503, 504].contains(&st), "{st}");
        assert!(body["error"].as_str().unwrap().ends_with("(simulated)"));
    }
    assert_eq!(estate.stats().errors, 20);
    // Knobs change live.
    estate.set_options(EstateOptions::instant());
    let (st, _, _) = call(
        "GET",
        &format!("{}/services/auth/health", env["MONITOR_URL"]),
        None,
        None,
    )
    .await;
    assert_eq!(st, 200);
    estate.shutdown().await;
}

#[tokio::test]
async fn a_hang_holds_the_answer_and_shutdown_cuts_it_short() {
    let options = EstateOptions {
        hang_rate: 1.0,
        hang: Duration::from_millis(150),
        ..EstateOptions::instant()
    };
    let estate = Estate::start(options.clone(), 2).await.unwrap();
    let url = format!("{}/monitor/services/auth/health", estate.url());
    let began = Instant::now();
    let (st, _, _) = call("GET", &url, None, None).await;
    assert_eq!(st, 200);
    assert!(began.elapsed() >= Duration::from_millis(150));

    estate.set_options(EstateOptions {
        hang: Duration::from_secs(60),
        ..options
    });
    let pending = tokio::spawn(async move { call("GET", &url, None, None).await });
    while estate.stats().hangs < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let began = Instant::now();
    estate.shutdown().await;
    let answered = tokio::time::timeout(Duration::from_secs(3), pending).await;
    assert!(answered.is_ok(), "the hung call was not cut short");
    assert!(began.elapsed() < Duration::from_secs(3));
}

#[test]
fn latency_is_zero_at_scale_zero_and_has_a_tail() {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    assert_eq!(latency(&mut rng, 100.0, 0.0), Duration::ZERO);
    let mut samples: Vec<Duration> = (0..2000).map(|_| latency(&mut rng, 100.0, 1.0)).collect();
    samples.sort();
    let median = samples[1000].as_millis();
    let p99 = samples[1980].as_millis();
    assert!((70..140).contains(&median), "median {median}");
    assert!(p99 > 3 * median, "p99 {p99}, median {median}");
    assert!(samples[1999] <= Duration::from_secs(8));
}
