//! The load generator: starts items of the shipped workflows at a rate that can change
//! live, with varied inputs, and plays the on-call engineers who resolve incidents.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{Datelike, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::estate::Documents;
use crate::engine::EngineHandle;
use crate::types::ItemId;
use crate::types::command::{Command, CommandError};
use crate::types::identity::Who;

/// The highest rate the generator accepts, items per minute.
pub const MAX_RATE: f64 = 6000.0;
/// The actor recorded for everything the demo does by itself.
pub const ACTOR: &str = "demo";
/// Starts waiting for the engine at once; beyond this the generator waits, not queues.
const MAX_IN_FLIGHT: usize = 64;
/// After a stall, arrivals resume at the rate instead of catching up in a burst.
const MAX_BEHIND: Duration = Duration::from_secs(1);

/// A live handle on the generator's rate and its count of started items.
#[derive(Clone)]
pub struct LoadControl {
    inner: Arc<ControlInner>,
}

struct ControlInner {
    /// Items per minute, as `f64` bits.
    rate: AtomicU64,
    started: AtomicU64,
    changed: Notify,
}

impl LoadControl {
    pub fn new(per_min: f64) -> Self {
        let control = LoadControl {
            inner: Arc::new(ControlInner {
                rate: AtomicU64::new(0f64.to_bits()),
                started: AtomicU64::new(0),
                changed: Notify::new(),
            }),
        };
        control.set_rate(per_min);
        control
    }

    /// Items per minute.
    pub fn rate(&self) -> f64 {
        f64::from_bits(self.inner.rate.load(Ordering::Relaxed))
    }

    /// Clamped to `0..=6000`; 0 pauses. Takes effect at once, not after the next arrival.
    pub fn set_rate(&self, per_min: f64) {
        let rate = if per_min.is_nan() {
            0.0
        } else {
            per_min.clamp(0.0, MAX_RATE)
        };
        self.inner.rate.store(rate.to_bits(), Ordering::Relaxed);
        self.inner.changed.notify_one();
    }

    /// Items the demo has started (seeded and generated).
    pub fn started(&self) -> u64 {
        self.inner.started.load(Ordering::Relaxed)
    }

    pub(super) fn count_started(&self) {
        self.inner.started.fetch_add(1, Ordering::Relaxed);
    }
}

/// The shipped workflows the generator drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Invoice,
    Onboarding,
    Incident,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Invoice, Kind::Onboarding, Kind::Incident];

    pub fn workflow(self) -> &'static str {
        match self {
            Kind::Invoice => "invoice-approval",
            Kind::Onboarding => "customer-onboarding",
            Kind::Incident => "incident-response",
        }
    }
}

/// One item to start, and the invoice document to file first (for invoices).
pub(crate) struct NewItem {
    pub kind: Kind,
    pub command: Command,
    pub document: Option<(String, Value)>,
}

impl NewItem {
    /// The same item with its clock started at `at` (a seeded past).
    pub fn since(mut self, at: Option<chrono::DateTime<Utc>>) -> Self {
        if let Command::Start { since, .. } = &mut self.command {
            *since = at;
        }
        self
    }
}

/// Makes varied, plausible inputs for the shipped workflows.
pub(crate) struct Generator {
    rng: StdRng,
    invoice_no: u64,
    /// incident-response's SLA as loaded; resolutions are timed as shares of it.
    incident_sla: Duration,
}

const SUPPLIERS: [&str; 14] = [
    "Acme Office Supplies",
    "Nordwind Logistics GmbH",
    "Blue Fern Catering",
    "Kestrel Cloud Services",
    "Lumen Facilities Ltd",
    "Orbital Print & Pack",
    "Harbor Freight Partners",
    "Quantum Legal LLP",
    "Sable Security",
    "Tidewater Energy",
    "Vireo Software",
    "Granite & Oak Interiors",
    "Meridian Travel",
    "Polar Data Centres",
];
const LINE_ITEMS: [&str; 8] = [
    "Consulting services",
    "Monthly subscription",
    "Hardware",
    "Maintenance and support",
    "Freight and handling",
    "Licences",
    "Facilities management",
    "Travel expenses",
];
const NAME_HEADS: [&str; 15] = [
    "Bright", "Copper", "North", "Silver", "Iron", "Blue", "Red", "Cedar", "Maple", "Harbor",
    "Summit", "Pine", "Stone", "Swift", "Lake",
];
const NAME_TAILS: [&str; 10] = [
    "water", "leaf", "field", "gate", "bridge", "wood", "line", "point", "ridge", "crest",
];
const NAME_TRADES: [&str; 10] = [
    "Analytics",
    "Health",
    "Robotics",
    "Foods",
    "Logistics",
    "Media",
    "Labs",
    "Energy",
    "Bank",
    "Studios",
];
/// `legacy-billing` has no escalation policy in the simulated pager: paging for it is
/// refused, which leaves the item in an incident for an operator to resolve.
const SERVICES: [&str; 10] = [
    "checkout",
    "legacy-billing",
    "payments-api",
    "search",
    "auth",
    "inventory",
    "notifications",
    "ledger",
    "image-resizer",
    "gateway",
];
const ALERTS: [&str; 8] = [
    "p99 latency above 2s for 5m",
    "error rate 7% (threshold 2%)",
    "pods crash-looping",
    "queue depth 48k and rising",
    "TLS certificate expires in 3 days",
    "disk 93% full on primary",
    "5xx spike after deploy",
    "synthetic check failing from 3 regions",
];

impl Generator {
    pub fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let invoice_no = rng.random_range(1_000..40_000);
        Generator {
            rng,
            invoice_no,
            incident_sla: Duration::from_secs(3600),
        }
    }

    /// Time the on-call engineers against this incident SLA (the demo's is scaled).
    pub fn with_incident_sla(mut self, sla: Duration) -> Self {
        self.incident_sla = sla;
        self
    }

    /// The next item of the usual mix: invoices most, then onboardings, then incidents.
    pub fn next(&mut self) -> NewItem {
        let kind = match self.rng.random_range(0..100) {
            0..45 => Kind::Invoice,
            45..80 => Kind::Onboarding,
            _ => Kind::Incident,
        };
        self.item(kind)
    }

    pub fn item(&mut self, kind: Kind) -> NewItem {
        match kind {
            Kind::Invoice => self.invoice(),
            Kind::Onboarding => self.onboarding(),
            Kind::Incident => self.incident(),
        }
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.rng.random_range(0..from.len())]
    }

    /// Mostly everyday amounts, a lognormal around 1,800; one in twenty a large one.
    fn invoice_amount(&mut self) -> f64 {
        let amount = if self.rng.random::<f64>() < 0.05 {
            self.rng.random_range(20_000.0..250_000.0)
        } else {
            let u1 = 1.0 - self.rng.random::<f64>();
            let u2 = self.rng.random::<f64>();
            let normal = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            1_800.0 * (1.3 * normal).exp()
        };
        (amount.max(25.0) * 100.0).round() / 100.0
    }

    fn invoice(&mut self) -> NewItem {
        self.invoice_no += 1;
        let today = Utc::now().date_naive();
        let number = format!("INV-{}-{:05}", today.year(), self.invoice_no);
        let supplier = self.pick(&SUPPLIERS);
        let amount = self.invoice_amount();
        let currency = match self.rng.random_range(0..20) {
            0..12 => "EUR",
            12..17 => "USD",
            _ => "GBP",
        };
        let doc = format!("inbox/{}/{:02}/{number}.pdf", today.year(), today.month());
        let fields = json!({
            "number": number,
            "supplier": supplier,
            "amount": amount,
            "currency": currency,
            "po_number": format!("PO-{}", self.rng.random_range(100_000..999_999)),
            "issued": today.to_string(),
            "due": (today + chrono::Days::new(30)).to_string(),
            "lines": self.invoice_lines(amount),
        });
        let priority = match amount {
            a if a >= 50_000.0 => 2,
            a if a >= 10_000.0 => 1,
            _ => 0,
        };
        NewItem {
            kind: Kind::Invoice,
            command: start(
                Kind::Invoice,
                json!({ "doc": doc, "supplier": supplier }),
                priority,
            ),
            document: Some((doc, fields)),
        }
    }

    /// One to four lines that add up to the invoice's amount.
    fn invoice_lines(&mut self, amount: f64) -> Value {
        let n = self.rng.random_range(1..=4usize);
        let mut left = (amount * 100.0).round() as i64;
        let mut lines = Vec::with_capacity(n);
        for i in 0..n {
            let cents = if i + 1 == n {
                left
            } else {
                let share = self.rng.random_range(0.15..0.6);
                ((left as f64) * share).round() as i64
            };
            left -= cents;
            lines.push(json!({
                "description": self.pick(&LINE_ITEMS),
                "quantity": 1,
                "unit_price": cents as f64 / 100.0,
            }));
        }
        Value::Array(lines)
    }

    fn onboarding(&mut self) -> NewItem {
        let company = format!(
            "{}{} {}",
            self.pick(&NAME_HEADS),
            self.pick(&NAME_TAILS),
            self.pick(&NAME_TRADES)
        );
        let domain: String = company
            .to_ascii_lowercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join("-");
        let mailbox = self.pick(&["it", "ops", "admin", "finance", "hello"]);
        let plan = match self.rng.random_range(0..10) {
            0..4 => "starter",
            4..7 => "team",
            7..9 => "business",
            _ => "enterprise",
        };
        let mut input = json!({
            "company": company,
            "email": format!("{mailbox}@{domain}.example"),
            "plan": plan,
        });
        // Some leave the region out and get the workflow's default.
        if let Some(region) = match self.rng.random_range(0..20) {
            0..8 => Some("eu-west"),
            8..14 => Some("us-east"),
            14..17 => Some("ap-southeast"),
            _ => None,
        } {
            input["region"] = json!(region);
        }
        let priority = match plan {
            "enterprise" => 2,
            "business" => 1,
            _ => 0,
        };
        NewItem {
            kind: Kind::Onboarding,
            command: start(Kind::Onboarding, input, priority),
            document: None,
        }
    }

    fn incident(&mut self) -> NewItem {
        let service = self.pick(&SERVICES);
        let mut input = json!({ "service": service, "alert": self.pick(&ALERTS) });
        // Some alerts carry no severity and get the workflow's default (sev3).
        let severity = match self.rng.random_range(0..20) {
            0 => Some("sev1"),
            1..5 => Some("sev2"),
            5..14 => Some("sev3"),
            14..17 => Some("sev4"),
            _ => None,
        };
        if let Some(s) = severity {
            input["severity"] = json!(s);
        }
        let priority = match severity {
            Some("sev1") => 3,
            Some("sev2") => 2,
            Some("sev4") => 0,
            _ => 1,
        };
        NewItem {
            kind: Kind::Incident,
            command: start(Kind::Incident, input, priority),
            document: None,
        }
    }

    /// When the on-call engineer resolves an incident, as a share of its SLA: most well
    /// within it, some late enough to cross warnings and escalations, some never (the
    /// wait times out at three quarters of the SLA and the item becomes an incident).
    fn resolution_delay(&mut self) -> Option<Duration> {
        let share = match self.rng.random_range(0..20) {
            0..11 => self.rng.random_range(0.05..0.40),
            11..17 => self.rng.random_range(0.40..0.74),
            _ => return None,
        };
        Some(self.incident_sla.mul_f64(share))
    }
}

pub(crate) fn start(kind: Kind, input: Value, priority: i32) -> Command {
    Command::Start {
        workflow: kind.workflow().into(),
        version: None,
        input,
        priority,
        since: None,
    }
}

/// File the item's document, then start it as `demo`.
pub(crate) async fn start_item(
    engine: &EngineHandle,
    documents: &Documents,
    item: NewItem,
) -> Result<ItemId, CommandError> {
    if let Some((path, fields)) = item.document {
        documents.file(path, fields);
    }
    let reply = engine
        .command(
            &Who::root(ACTOR),
            Some("simulated load".into()),
            item.command,
        )
        .await?;
    reply
        .item
        .ok_or_else(|| CommandError::Unavailable("the engine started an item without an id".into()))
}

/// The running generator.
pub struct Load {
    control: LoadControl,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Load {
    pub fn control(&self) -> LoadControl {
        self.control.clone()
    }

    /// Stop generating; starts already sent to the engine are waited for.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Start generating at `control`'s rate. `incidents` are incident-response items already
/// in flight that the simulated on-call engineers should resolve too.
pub(crate) fn spawn(
    engine: EngineHandle,
    documents: Documents,
    control: LoadControl,
    generator: Generator,
    incidents: Vec<ItemId>,
) -> Load {
    let (stop, stop_rx) = oneshot::channel();
    let mut worker = Worker {
        engine,
        documents,
        control: control.clone(),
        generator,
        starts: JoinSet::new(),
        resolutions: BinaryHeap::new(),
    };
    for item in incidents {
        worker.schedule_resolution(item);
    }
    let task = tokio::spawn(worker.run(stop_rx));
    Load {
        control,
        stop,
        task,
    }
}

struct Worker {
    engine: EngineHandle,
    documents: Documents,
    control: LoadControl,
    generator: Generator,
    starts: JoinSet<(Kind, Result<ItemId, CommandError>)>,
    resolutions: BinaryHeap<Reverse<(Instant, ItemId)>>,
}

impl Worker {
    async fn run(mut self, mut stop: oneshot::Receiver<()>) {
        let control = self.control.clone();
        let mut next = self.next_arrival(Instant::now());
        loop {
            let resolve_at = self.resolutions.peek().map(|Reverse((at, _))| *at);
            tokio::select! {
                biased;
                _ = &mut stop => break,
                _ = control.inner.changed.notified() => next = self.next_arrival(Instant::now()),
                Some(done) = self.starts.join_next(), if !self.starts.is_empty() => self.finished(done),
                _ = at(next) => {
                    self.launch().await;
                    let now = Instant::now();
                    let floor = now.checked_sub(MAX_BEHIND).unwrap_or(now);
                    next = self.next_arrival(next.unwrap_or(now).max(floor));
                }
                _ = at(resolve_at) => self.resolve_due().await,
            }
        }
        while let Some(done) = self.starts.join_next().await {
            self.finished(done);
        }
    }

    /// Poisson arrivals: exponential gaps with the rate's mean; none at rate 0.
    fn next_arrival(&mut self, from: Instant) -> Option<Instant> {
        let rate = self.control.rate();
        if rate <= 0.0 {
            return None;
        }
        let u: f64 = 1.0 - self.generator.rng.random::<f64>();
        let gap = -u.ln() * 60.0 / rate;
        Some(from + Duration::from_secs_f64(gap.min(3_600.0)))
    }

    async fn launch(&mut self) {
        while self.starts.len() >= MAX_IN_FLIGHT {
            match self.starts.join_next().await {
                Some(done) => self.finished(done),
                None => break,
            }
        }
        let item = self.generator.next();
        let (engine, documents) = (self.engine.clone(), self.documents.clone());
        self.starts.spawn(async move {
            let kind = item.kind;
            (kind, start_item(&engine, &documents, item).await)
        });
    }

    fn finished(
        &mut self,
        done: Result<(Kind, Result<ItemId, CommandError>), tokio::task::JoinError>,
    ) {
        match done {
            Ok((kind, Ok(item))) => {
                self.control.count_started();
                if kind == Kind::Incident {
                    self.schedule_resolution(item);
                }
            }
            Ok((kind, Err(e))) => {
                tracing::warn!("demo load: cannot start {}: {e}", kind.workflow());
            }
            Err(e) => tracing::warn!("demo load: a start task failed: {e}"),
        }
    }

    fn schedule_resolution(&mut self, item: ItemId) {
        if let Some(delay) = self.generator.resolution_delay() {
            self.resolutions
                .push(Reverse((Instant::now() + delay, item)));
        }
    }

    async fn resolve_due(&mut self) {
        let now = Instant::now();
        while let Some(Reverse((at, item))) = self.resolutions.peek().copied() {
            if at > now {
                break;
            }
            self.resolutions.pop();
            let by = self
                .generator
                .pick(&["dana", "sam", "priya", "jonas", "mei"]);
            let signal = Command::Signal {
                item,
                name: "resolved".into(),
                data: json!({ "by": by, "note": "mitigated; monitoring" }),
            };
            let reason = Some(format!("{by} (simulated on-call) resolved it"));
            if let Err(e) = self.engine.command(&Who::root(ACTOR), reason, signal).await {
                // Usually the item ended (cancelled, failed) before anyone resolved it.
                tracing::debug!("demo load: item {item} not resolved: {e}");
            }
        }
    }
}

async fn at(when: Option<Instant>) {
    match when {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_is_clamped_and_nan_pauses() {
        let c = LoadControl::new(30.0);
        assert_eq!(c.rate(), 30.0);
        c.set_rate(1e9);
        assert_eq!(c.rate(), MAX_RATE);
        c.set_rate(-5.0);
        assert_eq!(c.rate(), 0.0);
        c.set_rate(f64::NAN);
        assert_eq!(c.rate(), 0.0);
        assert_eq!(c.started(), 0);
    }

    fn input(item: &NewItem) -> &Value {
        match &item.command {
            Command::Start { input, .. } => input,
            other => panic!("not a start: {other:?}"),
        }
    }

    #[test]
    fn the_mix_covers_every_workflow_with_varied_inputs() {
        let mut g = Generator::new(11);
        let items: Vec<NewItem> = (0..600).map(|_| g.next()).collect();
        for kind in Kind::ALL {
            let n = items.iter().filter(|i| i.kind == kind).count();
            assert!(n > 60, "{kind:?}: {n}");
        }
        let amounts: Vec<f64> = items
            .iter()
            .filter_map(|i| i.document.as_ref())
            .map(|(_, f)| f["amount"].as_f64().unwrap())
            .collect();
        assert!(
            amounts.iter().any(|a| *a > 10_000.0),
            "some need senior approval"
        );
        assert!(amounts.iter().any(|a| *a < 1_000.0));
        let onboarding: Vec<&Value> = items
            .iter()
            .filter(|i| i.kind == Kind::Onboarding)
            .map(input)
            .collect();
        assert!(onboarding.iter().any(|i| i.get("region").is_none()));
        assert!(
            onboarding
                .iter()
                .all(|i| i["email"].as_str().unwrap().contains('@'))
        );
        let incidents: Vec<&Value> = items
            .iter()
            .filter(|i| i.kind == Kind::Incident)
            .map(input)
            .collect();
        assert!(incidents.iter().any(|i| i["severity"] == "sev1"));
        assert!(incidents.iter().any(|i| i.get("severity").is_none()));
    }

    #[test]
    fn invoice_lines_add_up_and_the_document_matches_the_input() {
        let mut g = Generator::new(4);
        for _ in 0..50 {
            let item = g.item(Kind::Invoice);
            let (doc, fields) = item.document.as_ref().unwrap();
            assert_eq!(input(&item)["doc"], json!(doc));
            assert_eq!(input(&item)["supplier"], fields["supplier"]);
            let total: f64 = fields["lines"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["unit_price"].as_f64().unwrap())
                .sum();
            let amount = fields["amount"].as_f64().unwrap();
            assert!((total - amount).abs() < 0.005, "{total} vs {amount}");
        }
    }

    #[test]
    fn resolutions_are_timed_against_the_incident_sla() {
        let sla = Duration::from_secs(120);
        let mut g = Generator::new(5).with_incident_sla(sla);
        let delays: Vec<Option<Duration>> = (0..400).map(|_| g.resolution_delay()).collect();
        let resolved: Vec<Duration> = delays.iter().flatten().copied().collect();
        assert!(
            resolved.iter().all(|d| *d < sla.mul_f64(0.75)),
            "before the wait times out"
        );
        assert!(
            resolved.iter().any(|d| *d < sla.mul_f64(0.25)),
            "some before any warning"
        );
        assert!(
            resolved.iter().any(|d| *d > sla.mul_f64(0.5)),
            "some at risk first"
        );
        let never = delays.len() - resolved.len();
        assert!((20..100).contains(&never), "{never} never resolved");
    }

    #[test]
    fn since_back_dates_the_start_and_nothing_else() {
        let at = Utc::now() - chrono::Duration::minutes(5);
        let mut a = Generator::new(3);
        let mut b = Generator::new(3);
        let plain = a.item(Kind::Invoice);
        let dated = b.item(Kind::Invoice).since(Some(at));
        match (plain.command, dated.command) {
            (
                Command::Start {
                    since: None,
                    input: i1,
                    ..
                },
                Command::Start {
                    since, input: i2, ..
                },
            ) => {
                assert_eq!(since, Some(at));
                assert_eq!(i1, i2);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn same_seed_same_items() {
        let mut a = Generator::new(99);
        let mut b = Generator::new(99);
        for _ in 0..50 {
            assert_eq!(a.next().command, b.next().command);
        }
    }
}
