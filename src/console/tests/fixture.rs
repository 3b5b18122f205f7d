//! A console full of realistic, fixed data at a fixed `now`: items in every state of the
//! three shipped workflows, an inbox, counters with throughput history, the event log and
//! one item's detail. Nothing here reads the clock.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::json;

use crate::console::app::{App, Msg, Options};
use crate::console::keymap::Keymap;
use crate::console::model::Update;
use crate::console::theme::{ColorDepth, Theme};
use crate::types::changes::{Changes, EventLine};
use crate::types::deploy::WorkflowInfo;
use crate::types::event::{Phase, StepError, StepErrorKind, TaskKind, WaitOn};
use crate::types::exchange::Exchange;
use crate::types::view::{
    ItemDetail, ItemStatus, ItemSummary, Metrics, StepStatus, StepView, TaskStatus, TaskView,
};
use crate::types::{Event, ItemId, Record, TaskId};

/// The moment every fixture is seen from.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap()
}

fn ago(secs: i64) -> DateTime<Utc> {
    now() - Duration::seconds(secs)
}

fn ahead(secs: i64) -> DateTime<Utc> {
    now() + Duration::seconds(secs)
}

pub fn options() -> Options {
    Options {
        directory: Default::default(),
        me: "alice".into(),
        groups: vec!["finance".into()],
        read_only: false,
        rate: Some(30.0),
        origin: "demo".into(),
        depth: ColorDepth::TrueColor,
        themes_dir: None,
    }
}

/// An empty app with the dark theme and the default keys.
pub fn empty_app(opts: Options) -> App {
    let theme = Theme::builtin("dark", opts.depth).expect("the dark theme is built in");
    App::new(opts, theme, Keymap::default(), now())
}

/// The app with the snapshot and some throughput history fed in.
pub fn app() -> App {
    app_with(options())
}

pub fn app_with(opts: Options) -> App {
    let mut app = empty_app(opts);
    feed(&mut app);
    app
}

/// Feed the snapshot ten seconds ago, then counters every couple of seconds up to `now`,
/// so the sparkline has a shape.
pub fn feed(app: &mut App) {
    let mut t = ago(10);
    app.update(Msg::Tick(t));
    app.update(Msg::Update(snapshot()));
    let mut steps = metrics().steps_succeeded - 410;
    for (secs, grown) in [(2, 60), (2, 110), (1, 40), (2, 90), (1, 20), (2, 90)] {
        t += Duration::seconds(secs);
        steps += grown;
        app.update(Msg::Tick(t));
        app.update(Msg::Update(Update::Changes(Arc::new(Changes {
            metrics: Metrics {
                steps_succeeded: steps,
                ..metrics()
            },
            ..Changes::default()
        }))));
    }
    assert_eq!(t, now(), "the history ends now");
    assert_eq!(steps, metrics().steps_succeeded);
}

pub fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub fn ch(c: char) -> Msg {
    key(KeyCode::Char(c))
}

pub fn ctrl(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

pub fn metrics() -> Metrics {
    Metrics {
        in_flight: 17,
        waiting_on_humans: 6,
        incidents: 3,
        at_risk: 3,
        breached: 1,
        completed: 1284,
        failed: 17,
        cancelled: 6,
        sla_met_pct: Some(97.3),
        open_tasks: 6,
        steps_succeeded: 15_230,
        steps_failed: 212,
        journal_seq: 48_211,
        journal_id: "fixture".into(),
        commits: 9_120,
        audit: crate::types::health::AuditHealth {
            verified_seq: 48_211,
            broken: None,
        },
    }
}

pub fn snapshot() -> Update {
    Update::Snapshot {
        items: items(),
        tasks: tasks(),
        metrics: Box::new(metrics()),
        // invoice-approval v2 is loaded beside v3, with nothing left running on it.
        workflows: [(ONBOARDING, 2), (INCIDENT, 1), (INVOICE, 2), (INVOICE, 3)]
            .into_iter()
            .map(|(name, version)| WorkflowInfo {
                name: name.into(),
                version,
                in_flight: 0,
            })
            .collect(),
        recent: records().iter().map(EventLine::of).collect(),
    }
}

const INVOICE: &str = "invoice-approval";
const ONBOARDING: &str = "customer-onboarding";
const INCIDENT: &str = "incident-response";

/// The SLA of each workflow, in seconds.
fn sla(workflow: &str) -> i64 {
    match workflow {
        INVOICE => 4 * 3600,
        ONBOARDING => 24 * 3600,
        _ => 30 * 60,
    }
}

fn version(workflow: &str) -> u32 {
    match workflow {
        INVOICE => 3,
        ONBOARDING => 2,
        _ => 1,
    }
}

/// One item: started `age` seconds ago, ended `took` seconds after its start.
struct It {
    id: ItemId,
    wf: &'static str,
    status: ItemStatus,
    current: &'static str,
    prio: i32,
    age: i64,
    took: Option<i64>,
    warned: u8,
    breached: bool,
}

impl It {
    fn summary(&self) -> ItemSummary {
        let started = ago(self.age);
        let ended = self.took.map(|t| started + Duration::seconds(t));
        ItemSummary {
            id: self.id,
            workflow: self.wf.into(),
            version: version(self.wf),
            status: self.status,
            current: self.current.into(),
            priority: self.prio,
            started_at: started,
            updated_at: ended.unwrap_or(ago(self.age.min(40))),
            ended_at: ended,
            sla_due: Some(started + Duration::seconds(sla(self.wf))),
            sla_warned: self.warned,
            sla_breached: self.breached,
            incident: (self.status == ItemStatus::Incident)
                .then(|| format!("{}: connect: connection refused (bank)", self.current)),
            key: names(self.id).0.map(str::to_string),
            title: names(self.id).1.map(str::to_string),
        }
    }
}

/// The key and title each item's workflow gave it: invoices by number and supplier
/// (one still being read by OCR has no number yet), customers by email and company,
/// incidents by service and alert.
fn names(id: ItemId) -> (Option<&'static str>, Option<&'static str>) {
    match id {
        101 => (Some("INV-2026-02019"), Some("Wingtip Toys")),
        102 => (Some("it@bluefin-labs.example"), Some("Bluefin Labs (team)")),
        103 => (Some("checkout"), Some("sev2 error rate above 5%")),
        104 => (Some("INV-2026-02041"), Some("Northwind Traders")),
        105 => (
            Some("ops@kestrel-freight.example"),
            Some("Kestrel Freight (business)"),
        ),
        106 => (Some("search"), Some("sev3 p99 latency above 2s")),
        107 => (Some("INV-2026-02038"), Some("Contoso Ltd")),
        108 => (
            Some("hello@marlow-bakery.example"),
            Some("Marlow Bakery (starter)"),
        ),
        109 => (Some("INV-2026-02029"), Some("Litware Inc")),
        110 => (Some("INV-2026-02033"), Some("Fabrikam")),
        111 => (Some("payments-api"), Some("sev1 5xx rate above 20%")),
        112 => (Some("INV-2026-02044"), Some("Adventure Works")),
        113 => (
            Some("finance@oakridge-dental.example"),
            Some("Oakridge Dental (team)"),
        ),
        114 => (Some("legacy-billing"), Some("sev2 error rate above 5%")),
        115 => (Some("admin@acme.example"), Some("Acme GmbH (enterprise)")),
        116 => (None, Some("Tailspin Toys")),
        117 => (Some("INV-2026-02007"), Some("Nordwind Logistics GmbH")),
        118 => (
            Some("it@harbor-analytics.example"),
            Some("Harbor Analytics (starter)"),
        ),
        119 => (
            Some("checkout"),
            Some("sev1 checkout conversion dropped 40%"),
        ),
        120 => (Some("INV-2026-02031"), Some("Coho Winery")),
        121 => (
            Some("ops@silverline-solar.example"),
            Some("Silverline Solar (team)"),
        ),
        122 => (Some("INV-2026-02026"), Some("Proseware Consulting")),
        123 => (Some("auth"), Some("sev3 login errors rising")),
        124 => (Some("INV-2026-02046"), Some("Blue Yonder Airlines")),
        125 => (
            Some("finance@lumen-print.example"),
            Some("Lumen Print (business)"),
        ),
        _ => (None, None),
    }
}

pub fn items() -> Vec<ItemSummary> {
    use ItemStatus::*;
    let it = |id, wf, status, current, prio, age, took: Option<i64>, warned, breached| It {
        id,
        wf,
        status,
        current,
        prio,
        age,
        took,
        warned,
        breached,
    };
    [
        it(101, INVOICE, Completed, "", 0, 8100, Some(8040), 50, false),
        it(
            102,
            ONBOARDING,
            Completed,
            "",
            1,
            72000,
            Some(64800),
            75,
            false,
        ),
        it(103, INCIDENT, Completed, "", 5, 7200, Some(2520), 90, true),
        it(104, INVOICE, Waiting, "approve", 2, 3900, None, 0, false),
        it(
            105,
            ONBOARDING,
            Running,
            "provision",
            0,
            10800,
            None,
            0,
            false,
        ),
        it(106, INCIDENT, Failed, "", 5, 10800, Some(1500), 75, false),
        it(107, INVOICE, Waiting, "approve", 1, 11100, None, 75, false),
        it(
            108,
            ONBOARDING,
            Cancelled,
            "",
            0,
            93600,
            Some(7200),
            0,
            false,
        ),
        it(109, INVOICE, Incident, "pay", 3, 9000, None, 50, false),
        it(110, INVOICE, Waiting, "approve", 1, 13200, None, 90, false),
        it(
            111,
            INCIDENT,
            Running,
            "health,recent_deploys,logs",
            5,
            240,
            None,
            0,
            false,
        ),
        it(112, INVOICE, Waiting, "risk", 0, 2400, None, 0, false),
        it(
            113,
            ONBOARDING,
            Compensating,
            "crm_record",
            0,
            21600,
            None,
            0,
            false,
        ),
        it(114, INCIDENT, Incident, "page", 8, 2040, None, 90, true),
        it(
            115, ONBOARDING, Waiting, "review", 2, 84000, None, 90, false,
        ),
        it(116, INVOICE, Running, "extract", 0, 120, None, 0, false),
        it(117, INVOICE, Completed, "", 0, 15000, Some(14700), 90, true),
        it(
            118,
            ONBOARDING,
            Incident,
            "crm_record",
            1,
            7200,
            None,
            0,
            false,
        ),
        it(
            119,
            INCIDENT,
            Waiting,
            "approve_rollback",
            8,
            1440,
            None,
            75,
            false,
        ),
        it(120, INVOICE, Cancelled, "", 0, 3000, Some(600), 0, false),
        it(121, ONBOARDING, Running, "kyc", 0, 900, None, 0, false),
        it(122, INVOICE, Failed, "", 2, 3600, Some(1800), 0, false),
        it(123, INCIDENT, Running, "triage", 5, 30, None, 0, false),
        it(124, INVOICE, Running, "risk", 0, 360, None, 0, false),
        it(
            125,
            ONBOARDING,
            Waiting,
            "activation",
            0,
            16200,
            None,
            0,
            false,
        ),
    ]
    .iter()
    .map(It::summary)
    .collect()
}

fn task(id: TaskId, item: ItemId, wf: &str, step: &str, title: &str) -> TaskView {
    TaskView {
        id,
        item,
        workflow: wf.into(),
        step: step.into(),
        kind: TaskKind::Approval,
        title: title.into(),
        details: None,
        group: Some("finance".into()),
        assignee: None,
        claimed_by: None,
        options: vec!["approved".into(), "rejected".into()],
        status: TaskStatus::Open,
        created_at: ago(1800),
        due: None,
        overdue: false,
        escalation_level: 0,
        decision: None,
        comment: None,
        decided_by: None,
        priority: 0,
        approvals: 1,
        approved_by: Vec::new(),
        form: Vec::new(),
    }
}

pub fn tasks() -> Vec<TaskView> {
    vec![
        TaskView {
            details: Some("Supplier: Northwind Traders · PO-88213 · net 30".into()),
            created_at: ago(3300),
            due: Some(ahead(3300)),
            priority: 2,
            ..task(
                41,
                104,
                INVOICE,
                "approve",
                "Approve invoice INV-2041 from Northwind Traders (€12,400.00)",
            )
        },
        TaskView {
            assignee: Some("alice".into()),
            created_at: ago(9000),
            due: Some(ahead(1200)),
            priority: 1,
            ..task(
                42,
                107,
                INVOICE,
                "approve",
                "Approve invoice INV-2038 from Contoso Ltd (€3,120.00)",
            )
        },
        TaskView {
            claimed_by: Some("bob".into()),
            status: TaskStatus::Claimed,
            created_at: ago(11000),
            due: Some(ahead(300)),
            escalation_level: 1,
            priority: 1,
            ..task(
                43,
                110,
                INVOICE,
                "approve",
                "Approve invoice INV-2033 from Fabrikam (€48,900.00)",
            )
        },
        TaskView {
            kind: TaskKind::AgentReview {
                proposal: json!({
                    "decision": "approve",
                    "risk": "medium",
                    "amount": 8120.5,
                    "reasons": ["new bank account", "amount above supplier average"]
                }),
                confidence: 0.62,
            },
            group: Some("ap-reviewers".into()),
            created_at: ago(2100),
            due: Some(ahead(1500)),
            ..task(
                44,
                112,
                INVOICE,
                "risk",
                "Check the risk review of invoice INV-2044",
            )
        },
        TaskView {
            group: Some("compliance".into()),
            options: vec!["approved".into(), "rejected".into(), "needs_info".into()],
            created_at: ago(80000),
            due: Some(ago(600)),
            overdue: true,
            escalation_level: 1,
            priority: 2,
            ..task(45, 115, ONBOARDING, "review", "Review KYC for Acme GmbH")
        },
        TaskView {
            group: Some("sre".into()),
            created_at: ago(90),
            due: Some(ahead(360)),
            priority: 8,
            ..task(
                46,
                119,
                INCIDENT,
                "approve_rollback",
                "Roll back payments-api to v2.14.1?",
            )
        },
    ]
}

fn err(kind: StepErrorKind, message: &str, code: Option<&str>) -> StepError {
    let e = StepError::new(kind, message);
    match code {
        Some(c) => e.with_code(c),
        None => e,
    }
}

fn crm_503() -> StepError {
    err(
        StepErrorKind::Status,
        "POST https://crm.internal/customers answered 503 Service Unavailable",
        Some("503"),
    )
}

/// Records of the last minute and a half, oldest first.
pub fn records() -> Vec<Record> {
    let step = |item, step: &str, attempt| (item, step.to_string(), attempt);
    let events: Vec<(Option<ItemId>, &str, Option<&str>, Event)> = vec![
        (
            Some(123),
            "alice",
            None,
            Event::ItemStarted {
                item: 123,
                workflow: INCIDENT.into(),
                version: 1,
                input: json!({ "service": "payments-api", "severity": "sev2" }),
                priority: 5,
                sla_due: Some(ago(30) + Duration::minutes(30)),
                since: None,
            },
        ),
        (Some(123), "engine", None, {
            let (item, step, attempt) = step(123, "triage", 1);
            Event::StepScheduled {
                item,
                step,
                attempt,
                at: ago(88),
                phase: Phase::Run,
            }
        }),
        (Some(123), "engine", None, {
            let (item, step, attempt) = step(123, "triage", 1);
            Event::StepStarted {
                item,
                step,
                attempt,
                timeout_at: None,
                phase: Phase::Run,
            }
        }),
        (Some(124), "engine", None, {
            let (item, step, attempt) = step(124, "extract", 1);
            Event::StepSucceeded {
                item,
                step,
                attempt,
                output: json!({ "number": "INV-2045", "total": 912.4 }),
                phase: Phase::Run,
                exchange: None,
            }
        }),
        (Some(124), "engine", None, {
            let (item, step, attempt) = step(124, "risk", 1);
            Event::StepStarted {
                item,
                step,
                attempt,
                timeout_at: Some(ahead(25)),
                phase: Phase::Run,
            }
        }),
        (Some(118), "engine", None, {
            let (item, step, attempt) = step(118, "crm_record", 3);
            Event::StepFailed {
                item,
                step,
                attempt,
                error: crm_503(),
                phase: Phase::Run,
                exchange: None,
            }
        }),
        (
            Some(118),
            "engine",
            None,
            Event::IncidentRaised {
                item: 118,
                step: "crm_record".into(),
                error: crm_503(),
                phase: Phase::Run,
            },
        ),
        (
            Some(119),
            "engine",
            None,
            Event::TaskCreated {
                task: 46,
                item: 119,
                step: "approve_rollback".into(),
                kind: TaskKind::Approval,
                title: "Roll back payments-api to v2.14.1?".into(),
                details: None,
                group: Some("sre".into()),
                assignee: None,
                options: vec!["approved".into(), "rejected".into()],
                due: Some(ahead(360)),
            },
        ),
        (
            Some(119),
            "engine",
            None,
            Event::StepWaiting {
                item: 119,
                step: "approve_rollback".into(),
                attempt: 1,
                on: WaitOn::Task { task: 46 },
            },
        ),
        (
            Some(107),
            "engine",
            None,
            Event::SlaWarning {
                item: 107,
                percent: 75,
            },
        ),
        (
            Some(110),
            "bob",
            None,
            Event::TaskClaimed {
                task: 43,
                by: "bob".into(),
            },
        ),
        (
            Some(101),
            "alice",
            Some("matches PO-88190"),
            Event::TaskDecided {
                task: 40,
                decision: "approved".into(),
                comment: Some("matches the PO".into()),
                by: "alice".into(),
                fields: None,
            },
        ),
        (Some(101), "engine", None, {
            let (item, step, attempt) = step(101, "pay", 1);
            Event::StepSucceeded {
                item,
                step,
                attempt,
                output: json!({ "id": "pay_7Hq2", "status": "scheduled" }),
                phase: Phase::Run,
                exchange: None,
            }
        }),
        (
            Some(101),
            "engine",
            None,
            Event::ItemCompleted { item: 101 },
        ),
        (Some(114), "engine", None, Event::SlaBreached { item: 114 }),
        (
            Some(114),
            "engine",
            None,
            Event::SlaEscalated {
                item: 114,
                level: 1,
                to: "sre-leads".into(),
            },
        ),
        (Some(109), "engine", None, {
            let (item, step, attempt) = step(109, "pay", 3);
            Event::StepScheduled {
                item,
                step,
                attempt,
                at: ago(40),
                phase: Phase::Run,
            }
        }),
        (Some(109), "engine", None, {
            let (item, step, attempt) = step(109, "pay", 3);
            Event::StepFailed {
                item,
                step,
                attempt,
                error: err(
                    StepErrorKind::Connect,
                    "connection refused (bank.internal:443)",
                    None,
                ),
                phase: Phase::Run,
                exchange: None,
            }
        }),
        (
            Some(109),
            "engine",
            None,
            Event::IncidentRaised {
                item: 109,
                step: "pay".into(),
                error: err(
                    StepErrorKind::Connect,
                    "connection refused (bank.internal:443)",
                    None,
                ),
                phase: Phase::Run,
            },
        ),
        (Some(115), "engine", None, Event::TaskOverdue { task: 45 }),
        (
            Some(115),
            "engine",
            None,
            Event::TaskEscalated {
                task: 45,
                level: 1,
                to: "compliance-leads".into(),
            },
        ),
        (
            Some(113),
            "engine",
            None,
            Event::StepSkipped {
                item: 113,
                step: "notify_sales".into(),
                reason: "when was false".into(),
            },
        ),
        (
            Some(113),
            "dana",
            Some("customer withdrew"),
            Event::CompensationStarted { item: 113 },
        ),
        (Some(113), "engine", None, {
            let (item, step, attempt) = step(113, "crm_record", 1);
            Event::StepStarted {
                item,
                step,
                attempt,
                timeout_at: None,
                phase: Phase::Compensate,
            }
        }),
        (
            Some(111),
            "oncall",
            None,
            Event::SignalReceived {
                item: 111,
                name: "ack".into(),
                data: json!({ "by": "oncall" }),
            },
        ),
        (Some(111), "engine", None, {
            let (item, step, attempt) = step(111, "triage", 1);
            Event::StepSucceeded {
                item,
                step,
                attempt,
                output: json!({ "service": "payments-api", "severity": "sev2" }),
                phase: Phase::Run,
                exchange: None,
            }
        }),
        (Some(111), "engine", None, {
            let (item, step, attempt) = step(111, "health", 1);
            Event::StepStarted {
                item,
                step,
                attempt,
                timeout_at: None,
                phase: Phase::Run,
            }
        }),
        (
            Some(120),
            "carol",
            Some("duplicate invoice"),
            Event::ItemCancelled { item: 120 },
        ),
        (
            Some(107),
            "dana",
            None,
            Event::TaskReassigned {
                task: 42,
                to: "@alice".into(),
            },
        ),
        (
            Some(122),
            "engine",
            None,
            Event::ItemFailed {
                item: 122,
                error: "step pay: status: 422 Unprocessable Entity (IBAN rejected)".into(),
            },
        ),
    ];
    let n = events.len() as u64;
    events
        .into_iter()
        .enumerate()
        .map(|(k, (item, actor, reason, event))| Record {
            seq: metrics().journal_seq - n + 1 + k as u64,
            at: ago(95) + Duration::milliseconds(3_100 * k as i64 + 37 * (k as i64 % 7)),
            item,
            actor: actor.into(),
            via: None,
            reason: reason.map(str::to_string),
            event,
        })
        .collect()
}

/// The item whose detail the snapshots open: an onboarding stuck on a CRM outage.
pub const DETAIL_ITEM: ItemId = 118;

pub fn step_view(id: &str, kind: &str, status: StepStatus, needs: &[&str]) -> StepView {
    StepView {
        id: id.into(),
        kind: kind.into(),
        status,
        attempts: 0,
        needs: needs.iter().map(|s| s.to_string()).collect(),
        when: None,
        started_at: None,
        ended_at: None,
        next_attempt_at: None,
        output: None,
        error: None,
        task: None,
        waiting_on: None,
        exchange: None,
    }
}

pub fn detail() -> (ItemDetail, Vec<Record>) {
    let summary = items()
        .into_iter()
        .find(|i| i.id == DETAIL_ITEM)
        .expect("the detail item is in the fixture");
    let t0 = summary.started_at;
    let at = |secs: i64| t0 + Duration::milliseconds(secs);
    let steps = vec![
        StepView {
            attempts: 1,
            started_at: Some(at(120)),
            ended_at: Some(at(962)),
            output: Some(json!({ "status": "clear", "score": 0.12 })),
            ..step_view("kyc", "http", StepStatus::Succeeded, &[])
        },
        StepView {
            attempts: 1,
            started_at: Some(at(130)),
            ended_at: Some(at(2_410)),
            output: Some(json!({ "decision": "clear", "confidence": 0.97 })),
            ..step_view("sanctions", "agent", StepStatus::Succeeded, &[])
        },
        StepView {
            attempts: 3,
            started_at: Some(at(2_500)),
            ended_at: Some(at(14_800)),
            error: Some(crm_503()),
            ..step_view(
                "crm_record",
                "http",
                StepStatus::Failed,
                &["kyc", "sanctions"],
            )
        },
        step_view("provision", "shell", StepStatus::Pending, &["crm_record"]),
        step_view("activation", "wait", StepStatus::Pending, &["provision"]),
        StepView {
            when: Some("input.plan != 'trial'".into()),
            ..step_view("welcome", "http", StepStatus::Pending, &["activation"])
        },
    ];
    let detail = ItemDetail {
        summary,
        input: json!({
            "company": "Acme GmbH",
            "country": "DE",
            "plan": "enterprise",
            "contact": "jana@acme.example"
        }),
        steps,
        incident: Some(("crm_record".into(), crm_503())),
        compensating: false,
    };
    let failed = |attempt| Event::StepFailed {
        item: DETAIL_ITEM,
        step: "crm_record".into(),
        attempt,
        error: crm_503(),
        phase: Phase::Run,
        exchange: None,
    };
    let events = vec![
        (
            0,
            Event::ItemStarted {
                item: DETAIL_ITEM,
                workflow: ONBOARDING.into(),
                version: 2,
                input: detail.input.clone(),
                priority: 1,
                sla_due: detail.summary.sla_due,
                since: None,
            },
        ),
        (
            962,
            Event::StepSucceeded {
                item: DETAIL_ITEM,
                step: "kyc".into(),
                attempt: 1,
                output: json!({ "status": "clear", "score": 0.12 }),
                phase: Phase::Run,
                exchange: None,
            },
        ),
        (
            2_410,
            Event::StepSucceeded {
                item: DETAIL_ITEM,
                step: "sanctions".into(),
                attempt: 1,
                output: json!({ "decision": "clear", "confidence": 0.97 }),
                phase: Phase::Run,
                exchange: None,
            },
        ),
        (3_700, failed(1)),
        (7_900, failed(2)),
        (14_800, failed(3)),
        (
            14_801,
            Event::IncidentRaised {
                item: DETAIL_ITEM,
                step: "crm_record".into(),
                error: crm_503(),
                phase: Phase::Run,
            },
        ),
    ];
    let trail = events
        .into_iter()
        .enumerate()
        .map(|(k, (ms, event))| Record {
            seq: 30_100 + k as u64 * 7,
            at: at(ms),
            item: Some(DETAIL_ITEM),
            actor: if k == 0 { "alice" } else { "engine" }.into(),
            via: None,
            reason: None,
            event,
        })
        .collect();
    (detail, trail)
}

/// The detail update the sync task would send for `DETAIL_ITEM`.
pub fn detail_update() -> Update {
    Update::Detail(DETAIL_ITEM, Ok(Box::new(detail())))
}

/// The call behind `crm_record`'s last failure: the CRM answered 503.
pub fn crm_exchange() -> Exchange {
    use crate::types::exchange::{Body, Request, Response};
    let sent = json!({ "company": "Acme GmbH", "country": "DE", "plan": "enterprise" });
    let sent = serde_json::to_string(&sent).unwrap_or_default();
    let answer =
        r#"{"error":"unavailable","detail":"accounts shard eu-2 is rebuilding","retry_after":30}"#;
    let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    };
    Exchange {
        request: Request {
            method: "POST".into(),
            url: "https://crm.internal/customers?upsert=true".into(),
            headers: pairs(&[
                ("content-type", "application/json"),
                ("authorization", "[hidden]"),
                ("idempotency-key", "118/crm_record/run"),
            ]),
            headers_omitted: 0,
            body: Some(Body::of(sent.as_bytes(), sent.len() as u64)),
        },
        response: Some(Response {
            status: 503,
            headers: pairs(&[
                ("content-type", "application/json"),
                ("retry-after", "30"),
                (
                    "warning",
                    "199 crm \"degraded: the accounts shard eu-2 is rebuilding its index and refuses writes until it is done\"",
                ),
            ]),
            headers_omitted: 0,
            body: Some(Body::of(answer.as_bytes(), answer.len() as u64)),
        }),
        duration_ms: 2_310,
    }
}

/// The detail update with `crm_record`'s exchange in it.
pub fn detail_update_with_exchange() -> Update {
    let (mut detail, trail) = detail();
    if let Some(s) = detail.steps.iter_mut().find(|s| s.id == "crm_record") {
        s.exchange = Some(crm_exchange());
    }
    Update::Detail(DETAIL_ITEM, Ok(Box::new((detail, trail))))
}
