//! What each simulated service answers, as plain functions of the request and the
//! estate's memory; `estate` wraps them in HTTP with latency, faults and idempotency.

use std::collections::{HashMap, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};

use axum::http::StatusCode;
use chrono::{Duration as Span, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// A status and a JSON body.
pub(super) type Reply = (StatusCode, Value);
/// `Err` is a refusal (4xx); both sides are sent as they are.
pub(super) type Answer = Result<Reply, Reply>;

/// How many records of each kind the estate remembers before forgetting the oldest, so
/// that a demo left running for days stays small.
const MEMORY: usize = 20_000;

/// The agent's threshold in the shipped invoice workflow; confidences straddle it.
const REVIEW_THRESHOLD: f64 = 0.85;

const PLANS: [(&str, u32); 4] = [
    ("starter", 29),
    ("team", 99),
    ("business", 399),
    ("enterprise", 2500),
];
const REGIONS: [&str; 4] = ["eu-west", "eu-central", "us-east", "ap-southeast"];
const ON_CALL: [&str; 6] = ["dana", "sam", "priya", "jonas", "mei", "tomás"];

/// A map that forgets its oldest entries beyond a cap.
pub(super) struct Bounded<V> {
    map: HashMap<String, V>,
    order: VecDeque<String>,
    cap: usize,
}

impl<V> Bounded<V> {
    pub(super) fn new(cap: usize) -> Self {
        Bounded {
            map: HashMap::new(),
            order: VecDeque::new(),
            cap,
        }
    }

    pub(super) fn insert(&mut self, key: String, value: V) {
        if !self.map.contains_key(&key) {
            self.order.push_back(key.clone());
            if self.order.len() > self.cap
                && let Some(old) = self.order.pop_front()
            {
                self.map.remove(&old);
            }
        }
        self.map.insert(key, value);
    }

    pub(super) fn get(&self, key: &str) -> Option<&V> {
        self.map.get(key)
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.map.get_mut(key)
    }
}

/// The estate's memory: its random source, and what its services have created.
pub(super) struct Sim {
    pub(super) rng: StdRng,
    /// Chance that a call is refused for a business reason.
    pub(super) reject_rate: f64,
    /// Makes ids unique across estate runs, so an id remembered in a journal from an
    /// earlier run never names a record of this one.
    run: String,
    next_id: u64,
    customers: Bounded<Value>,
    workspaces: Bounded<Value>,
    payments: Bounded<Value>,
    documents: Bounded<Value>,
}

impl Sim {
    pub(super) fn new(seed: u64, reject_rate: f64) -> Self {
        let run = Utc::now().timestamp().rem_euclid(36_i64.pow(4));
        Sim {
            rng: StdRng::seed_from_u64(seed),
            reject_rate,
            run: base36(run as u64, 4),
            next_id: 0,
            customers: Bounded::new(MEMORY),
            workspaces: Bounded::new(MEMORY),
            payments: Bounded::new(MEMORY),
            documents: Bounded::new(MEMORY),
        }
    }

    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}_{}{:06}", self.run, self.next_id)
    }

    fn rejects(&mut self) -> bool {
        self.reject_rate > 0.0 && self.rng.random::<f64>() < self.reject_rate
    }

    fn pick<'a, T>(&mut self, from: &'a [T]) -> &'a T {
        &from[self.rng.random_range(0..from.len())]
    }

    /// Put an invoice into the document store, as a scanner would; `ocr_extract` reads it.
    pub(super) fn file_document(&mut self, path: String, fields: Value) {
        self.documents.insert(path, fields);
    }
}

fn base36(mut n: u64, width: usize) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(n % 36) as usize];
        n /= 36;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn refuse(status: StatusCode, message: impl Into<String>) -> Reply {
    (status, json!({ "error": message.into() }))
}

fn bad(message: impl Into<String>) -> Reply {
    refuse(StatusCode::BAD_REQUEST, message)
}

/// A required, non-empty string field of the request body.
fn text<'a>(body: &'a Value, name: &str) -> Result<&'a str, Reply> {
    match body.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
        Some(Value::String(_)) => Err(bad(format!("`{name}` is empty"))),
        Some(_) => Err(bad(format!("`{name}` must be a string"))),
        None => Err(bad(format!("`{name}` is required"))),
    }
}

/// A positive amount, sent as a number or as numeric text.
fn amount(body: &Value, name: &str) -> Result<f64, Reply> {
    let value = match body.get(name) {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match value {
        Some(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(bad(format!("`{name}` must be a positive amount"))),
    }
}

fn plan_price(plan: &str) -> Result<u32, Reply> {
    PLANS
        .iter()
        .find(|(name, _)| *name == plan)
        .map(|(_, price)| *price)
        .ok_or_else(|| {
            bad(format!(
                "unknown plan {plan:?} (starter, team, business, enterprise)"
            ))
        })
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn stable_hash(parts: &[&str]) -> u64 {
    let mut h = DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

fn slug(name: &str) -> String {
    let s: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let parts: Vec<&str> = s.split('-').filter(|p| !p.is_empty()).collect();
    let joined = parts.join("-");
    if joined.is_empty() {
        "workspace".into()
    } else {
        joined.chars().take(40).collect()
    }
}

// --- CRM ------------------------------------------------------------------------------

pub(super) fn crm_create(sim: &mut Sim, body: &Value) -> Answer {
    let name = text(body, "name")?;
    let email = text(body, "email")?;
    let plan = text(body, "plan")?;
    if !email.contains('@') {
        return Err(bad(format!("`email` {email:?} is not an address")));
    }
    plan_price(plan)?;
    if sim.rejects() {
        return Err(refuse(
            StatusCode::CONFLICT,
            format!("a customer with email {email} already exists"),
        ));
    }
    let id = sim.id("cus");
    let record = json!({
        "id": id, "name": name, "email": email, "plan": plan,
        "status": "active", "created_at": now(),
    });
    sim.customers.insert(id, record.clone());
    Ok((StatusCode::CREATED, record))
}

pub(super) fn crm_get(sim: &mut Sim, id: &str) -> Answer {
    match sim.customers.get(id) {
        Some(c) => Ok((StatusCode::OK, c.clone())),
        None => Err(refuse(StatusCode::NOT_FOUND, format!("no customer {id}"))),
    }
}

/// Deleting is idempotent, and a customer this estate run never saw counts as gone
/// already: the estate forgets everything when the demo restarts, the journal does not.
pub(super) fn crm_delete(sim: &mut Sim, id: &str) -> Answer {
    if let Some(c) = sim.customers.get_mut(id) {
        c["status"] = json!("deleted");
    }
    Ok((StatusCode::OK, json!({ "id": id, "deleted": true })))
}

// --- provisioning -----------------------------------------------------------------------

pub(super) fn workspace_create(sim: &mut Sim, body: &Value) -> Answer {
    let customer = text(body, "customer_id")?;
    let plan = text(body, "plan")?;
    let region = text(body, "region")?;
    plan_price(plan)?;
    if !REGIONS.contains(&region) {
        return Err(bad(format!(
            "unknown region {region:?} ({})",
            REGIONS.join(", ")
        )));
    }
    let id = sim.id("ws");
    let name = sim
        .customers
        .get(customer)
        .and_then(|c| c["name"].as_str())
        .map(slug)
        .unwrap_or_else(|| id.replace('_', "-"));
    let record = json!({
        "workspace_id": id, "customer_id": customer, "plan": plan, "region": region,
        "url": format!("https://{name}.{region}.tempi-demo.example"),
        "status": "ready", "created_at": now(),
    });
    sim.workspaces.insert(id, record.clone());
    Ok((StatusCode::CREATED, record))
}

pub(super) fn workspace_delete(sim: &mut Sim, id: &str) -> Answer {
    if let Some(w) = sim.workspaces.get_mut(id) {
        w["status"] = json!("deleted");
    }
    Ok((
        StatusCode::OK,
        json!({ "workspace_id": id, "deleted": true }),
    ))
}

// --- mail and billing -------------------------------------------------------------------

pub(super) fn mail_send(sim: &mut Sim, body: &Value) -> Answer {
    let to = text(body, "to")?;
    let template = text(body, "template")?;
    if !to.contains('@') {
        return Err(bad(format!("`to` {to:?} is not an address")));
    }
    let id = sim.id("msg");
    Ok((
        StatusCode::ACCEPTED,
        json!({ "message_id": id, "to": to, "template": template, "status": "queued" }),
    ))
}

pub(super) fn subscription_create(sim: &mut Sim, body: &Value) -> Answer {
    let customer = text(body, "customer_id")?;
    let plan = text(body, "plan")?;
    let workspace = text(body, "workspace")?;
    let price = plan_price(plan)?;
    if sim.rejects() {
        return Err(refuse(
            StatusCode::PAYMENT_REQUIRED,
            format!("the card on file for {customer} was declined"),
        ));
    }
    let id = sim.id("sub");
    let renews = Utc::now() + Span::days(30);
    Ok((
        StatusCode::CREATED,
        json!({
            "id": id, "customer_id": customer, "workspace": workspace, "plan": plan,
            "status": "active", "amount_monthly": price, "currency": "EUR",
            "current_period_end": renews.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }),
    ))
}

// --- invoices: OCR, risk agent, bank ------------------------------------------------------

pub(super) fn ocr_extract(sim: &mut Sim, body: &Value) -> Answer {
    let doc = text(body, "doc")?;
    let supplier = body["supplier"].as_str().unwrap_or("").trim();
    if sim.rejects() {
        return Err(refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{doc} is unreadable (scan too blurry); ask the supplier for a new copy"),
        ));
    }
    let mut fields = match sim.documents.get(doc) {
        Some(filed) => filed.clone(),
        None => synthetic_invoice(doc, supplier),
    };
    if let Value::Object(m) = &mut fields {
        m.insert("doc".into(), json!(doc));
        let certainty = 0.9 + sim.rng.random::<f64>() * 0.09;
        m.insert("ocr_confidence".into(), json!(round(certainty, 3)));
    }
    Ok((StatusCode::OK, fields))
}

/// What OCR "reads" from a document nobody filed (one started by hand): stable per doc.
fn synthetic_invoice(doc: &str, supplier: &str) -> Value {
    let h = stable_hash(&[doc, supplier]);
    let amount = 50.0 + (h % 1_500_000) as f64 / 100.0;
    let supplier = if supplier.is_empty() {
        "Unknown supplier"
    } else {
        supplier
    };
    json!({
        "number": format!("INV-{:06}", h % 1_000_000),
        "supplier": supplier,
        "amount": round(amount, 2),
        "currency": "EUR",
        "po_number": format!("PO-{:06}", (h >> 20) % 1_000_000),
        "lines": [{ "description": "Services as agreed", "quantity": 1, "unit_price": round(amount, 2) }],
    })
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

/// A risk opinion whose confidence falls below the review threshold more often for
/// large invoices, so some land in the review inbox and some pass straight through.
pub(super) fn agent_review(sim: &mut Sim, body: &Value) -> Answer {
    let invoice = body.get("invoice").unwrap_or(body);
    let amount = match invoice.get("amount") {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        Some(Value::String(s)) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    };
    let unsure_chance = match amount {
        a if a >= 50_000.0 => 0.6,
        a if a >= 10_000.0 => 0.4,
        _ => 0.18,
    };
    let unsure = sim.rng.random::<f64>() < unsure_chance;
    let confidence = if unsure {
        sim.rng.random_range(0.45..REVIEW_THRESHOLD)
    } else {
        sim.rng.random_range(0.86..0.995)
    };
    let (decision, reason) = risk_opinion(sim, amount, unsure);
    Ok((
        StatusCode::OK,
        json!({
            "decision": decision,
            "confidence": round(confidence, 3),
            "reason": reason,
            "model": "risk-reviewer-2",
        }),
    ))
}

fn risk_opinion(sim: &mut Sim, amount: f64, unsure: bool) -> (&'static str, &'static str) {
    const LOW: [&str; 3] = [
        "amount and supplier match previous invoices",
        "PO matched, bank details unchanged",
        "recurring supplier, amount within usual range",
    ];
    const MEDIUM: [&str; 3] = [
        "amount is well above this supplier's average",
        "invoice date precedes the purchase order",
        "line items do not add up to the stated total",
    ];
    const HIGH: [&str; 2] = [
        "supplier bank details changed last week",
        "possible duplicate of an invoice paid this month",
    ];
    let roll = sim.rng.random::<f64>();
    if unsure && roll < 0.25 {
        ("high_risk", *sim.pick(&HIGH))
    } else if unsure || (amount >= 10_000.0 && roll < 0.3) {
        ("medium_risk", *sim.pick(&MEDIUM))
    } else {
        ("low_risk", *sim.pick(&LOW))
    }
}

pub(super) fn payment_create(sim: &mut Sim, body: &Value) -> Answer {
    let amount = amount(body, "amount")?;
    let currency = text(body, "currency")?;
    let reference = text(body, "reference")?;
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(bad(format!(
            "`currency` {currency:?} is not an ISO 4217 code"
        )));
    }
    if sim.rejects() {
        return Err(refuse(
            StatusCode::PAYMENT_REQUIRED,
            format!("insufficient funds in the {currency} operating account"),
        ));
    }
    let id = sim.id("pay");
    let record = json!({
        "id": id, "status": "executed", "amount": amount, "currency": currency,
        "reference": reference, "executed_at": now(),
    });
    sim.payments.insert(id, record.clone());
    Ok((StatusCode::CREATED, record))
}

pub(super) fn payment_get(sim: &mut Sim, id: &str) -> Answer {
    match sim.payments.get(id) {
        Some(p) => Ok((StatusCode::OK, p.clone())),
        None => Err(refuse(StatusCode::NOT_FOUND, format!("no payment {id}"))),
    }
}

/// Voiding twice is fine; an id from an earlier estate run is treated as voided already.
pub(super) fn payment_void(sim: &mut Sim, id: &str) -> Answer {
    let at = now();
    match sim.payments.get_mut(id) {
        Some(p) => {
            p["status"] = json!("voided");
            if p.get("voided_at").is_none() {
                p["voided_at"] = json!(at);
            }
            Ok((StatusCode::OK, p.clone()))
        }
        None => Ok((StatusCode::OK, json!({ "id": id, "status": "voided" }))),
    }
}

// --- incidents: monitor, deploys, pager -----------------------------------------------------

pub(super) fn health(sim: &mut Sim, service: &str) -> Answer {
    let roll = sim.rng.random::<f64>();
    let status = match roll {
        r if r < 0.2 => "down",
        r if r < 0.7 => "degraded",
        _ => "ok",
    };
    let total: u32 = sim.rng.random_range(3..13);
    let healthy = match status {
        "down" => 0,
        "degraded" => sim.rng.random_range(1..total),
        _ => total,
    };
    let error_rate = match status {
        "ok" => sim.rng.random_range(0.0..0.01),
        _ => sim.rng.random_range(0.02..0.4),
    };
    Ok((
        StatusCode::OK,
        json!({
            "service": service, "status": status,
            "error_rate": round(error_rate, 4),
            "p99_ms": sim.rng.random_range(80..4000),
            "instances": { "healthy": healthy, "total": total },
            "checked_at": now(),
        }),
    ))
}

pub(super) fn deploys(sim: &mut Sim, service: &str, limit: usize) -> Answer {
    const AUTHORS: [&str; 5] = ["ci-bot", "dana", "jonas", "mei", "renovate"];
    let mut at = Utc::now();
    let mut minor = sim.rng.random_range(10..80u32);
    let mut list = Vec::with_capacity(limit);
    for _ in 0..limit {
        at -= Span::minutes(sim.rng.random_range(7..2000));
        let rolled_back = sim.rng.random::<f64>() < 0.08;
        let id = sim.id("dep");
        list.push(json!({
            "id": id,
            "version": format!("v2.{minor}.{}", sim.rng.random_range(0..10u32)),
            "author": *sim.pick(&AUTHORS),
            "status": if rolled_back { "rolled_back" } else { "succeeded" },
            "at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }));
        minor = minor.saturating_sub(1);
    }
    Ok((
        StatusCode::OK,
        json!({ "service": service, "deploys": list }),
    ))
}

/// Services the simulated pager has no escalation policy for.
pub(crate) const UNPAGED: [&str; 1] = ["legacy-billing"];

pub(super) fn page(sim: &mut Sim, body: &Value) -> Answer {
    let service = text(body, "service")?;
    let severity = text(body, "severity")?;
    let summary = text(body, "summary")?;
    if UNPAGED.contains(&service) {
        return Err(bad(format!(
            "no escalation policy for service {service}; nobody can be paged"
        )));
    }
    let on_call = ON_CALL[(stable_hash(&[service]) % ON_CALL.len() as u64) as usize];
    let id = sim.id("pg");
    Ok((
        StatusCode::ACCEPTED,
        json!({
            "id": id, "status": "triggered", "service": service, "severity": severity,
            "summary": summary, "on_call": on_call,
            "escalation_policy": format!("{service}-primary"),
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(a: Answer) -> Reply {
        a.unwrap_or_else(|r| r)
    }

    #[test]
    fn agent_confidence_straddles_the_threshold_and_is_seeded() {
        let mut a = Sim::new(7, 0.0);
        let mut b = Sim::new(7, 0.0);
        let mut low = 0;
        let mut high = 0;
        for i in 0..400 {
            let amount = if i % 2 == 0 { 800.0 } else { 60_000.0 };
            let body = json!({ "invoice": { "amount": amount }, "supplier": "Acme" });
            let (status, x) = answer(agent_review(&mut a, &body));
            let (_, y) = answer(agent_review(&mut b, &body));
            assert_eq!(status, StatusCode::OK);
            assert_eq!(x, y, "same seed, same answers");
            let checked = crate::exec::agent::validate(x).unwrap();
            let c = checked["confidence"].as_f64().unwrap();
            if c < REVIEW_THRESHOLD {
                low += 1;
            } else {
                high += 1;
            }
        }
        assert!(low > 60 && high > 60, "low {low}, high {high}");
    }

    #[test]
    fn large_invoices_are_reviewed_more_often() {
        let mut sim = Sim::new(3, 0.0);
        let unsure = |amount: f64, sim: &mut Sim| {
            (0..300)
                .filter(|_| {
                    let body = json!({ "invoice": { "amount": amount } });
                    let (_, v) = answer(agent_review(sim, &body));
                    v["confidence"].as_f64().unwrap_or(1.0) < REVIEW_THRESHOLD
                })
                .count()
        };
        let small = unsure(500.0, &mut sim);
        let large = unsure(80_000.0, &mut sim);
        assert!(large > small + 50, "small {small}, large {large}");
    }

    #[test]
    fn filed_documents_are_what_ocr_reads() {
        let mut sim = Sim::new(1, 0.0);
        let fields = json!({ "number": "INV-2025-00042", "amount": 12500.0, "currency": "GBP" });
        sim.file_document("inbox/INV-2025-00042.pdf".into(), fields);
        let body = json!({ "doc": "inbox/INV-2025-00042.pdf", "supplier": "Acme" });
        let (status, out) = answer(ocr_extract(&mut sim, &body));
        assert_eq!(status, StatusCode::OK);
        assert_eq!(out["number"], "INV-2025-00042");
        assert_eq!(out["currency"], "GBP");
        // An unfiled document is synthesised, the same each time.
        let other = json!({ "doc": "scan-17.pdf", "supplier": "Acme" });
        let (_, first) = answer(ocr_extract(&mut sim, &other));
        let (_, again) = answer(ocr_extract(&mut sim, &other));
        assert_eq!(first["number"], again["number"]);
        assert!(first["amount"].as_f64().is_some_and(|a| a > 0.0));
    }

    #[test]
    fn refusals_say_what_is_wrong() {
        let mut sim = Sim::new(1, 0.0);
        let (status, body) = answer(crm_create(&mut sim, &json!({ "name": "A" })));
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"], "`email` is required");
        let pay = json!({ "amount": "-3", "currency": "EUR", "reference": "x" });
        let (status, body) = answer(payment_create(&mut sim, &pay));
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body["error"].as_str().unwrap().contains("positive amount"));
        let ws = json!({ "customer_id": "c", "plan": "team", "region": "mars" });
        let (status, _) = answer(workspace_create(&mut sim, &ws));
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn business_refusals_follow_the_reject_rate() {
        let mut sim = Sim::new(1, 1.0);
        let body = json!({ "customer_id": "c", "plan": "team", "workspace": "w" });
        let (status, _) = answer(subscription_create(&mut sim, &body));
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
        let crm = json!({ "name": "A", "email": "a@b.example", "plan": "team" });
        assert_eq!(answer(crm_create(&mut sim, &crm)).0, StatusCode::CONFLICT);
    }

    #[test]
    fn bounded_memory_forgets_the_oldest() {
        let mut m = Bounded::new(2);
        m.insert("a".into(), 1);
        m.insert("b".into(), 2);
        m.insert("a".into(), 3);
        m.insert("c".into(), 4);
        assert_eq!(m.get("a"), None);
        assert_eq!(m.get("b"), Some(&2));
        assert_eq!(m.get("c"), Some(&4));
    }

    #[test]
    fn ids_and_slugs() {
        assert_eq!(base36(35, 3), "00z");
        assert_eq!(slug("Copperleaf Health, Inc."), "copperleaf-health-inc");
        assert_eq!(slug("!!!"), "workspace");
        let mut sim = Sim::new(1, 0.0);
        assert_ne!(sim.id("pay"), sim.id("pay"));
    }
}
