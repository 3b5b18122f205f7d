//! The read-only verbs: `items`, `item`, `tasks` and `audit` as tables for humans or
//! the raw API views with `--json`.

use chrono::Utc;
use serde::Serialize;

use super::daemon::Daemon;
use super::format::{ago, clip, countdown, printable, table};
use super::{Globals, Page};
use crate::api::AuditQuery;
use crate::types::view::{ItemFilter, ItemStatus, ItemSummary, TaskFilter, TaskStatus, TaskView};
use crate::types::{ItemId, Record};

fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn sla(now: chrono::DateTime<Utc>, s: &ItemSummary) -> String {
    match (s.sla_due, s.status.is_final()) {
        (Some(due), false) => countdown(now, due),
        (Some(_), true) if s.sla_breached => "breached".into(),
        (Some(_), true) if s.status == ItemStatus::Completed => "met".into(),
        _ => "-".into(),
    }
}

pub async fn items(g: &Globals, filter: ItemFilter, json: bool) -> anyhow::Result<()> {
    let daemon = Daemon::connect(g)?;
    let list = daemon
        .client
        .items(&filter)
        .await
        .map_err(|e| daemon.explain(e))?;
    if let (Some(name), true) = (&filter.workflow, list.is_empty()) {
        known_workflow(&daemon, name).await?;
    }
    if json {
        return print_json(&list);
    }
    let now = Utc::now();
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|s| {
            vec![
                s.id.to_string(),
                s.status.name().to_string(),
                format!("{} v{}", s.workflow, s.version),
                s.key.clone().unwrap_or_else(|| "-".into()),
                clip(s.title.as_deref().unwrap_or("-"), 40),
                clip(&s.current, 30),
                s.priority.to_string(),
                ago(now, s.started_at),
                sla(now, s),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "ID", "STATUS", "WORKFLOW", "KEY", "TITLE", "CURRENT", "PRI", "STARTED", "SLA"
            ],
            &rows
        )
    );
    Ok(())
}

/// A workflow name a filter gives must be loaded, unless items of it were found (an
/// unloaded workflow's items remain, in flight or ended): a typo would otherwise list
/// nothing and look like an answer.
async fn known_workflow(daemon: &Daemon, name: &str) -> anyhow::Result<()> {
    let loaded = daemon
        .client
        .workflows()
        .await
        .map_err(|e| daemon.explain(e))?;
    if loaded.iter().any(|w| w.name == name) {
        return Ok(());
    }
    let mut names: Vec<&str> = loaded.iter().map(|w| w.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    match names.is_empty() {
        true => anyhow::bail!("no workflow {name} is loaded (none is)"),
        false => anyhow::bail!(
            "no workflow {name} is loaded (loaded: {})",
            names.join(", ")
        ),
    }
}

/// Every audit record of one item (or all) after `after`, paging through the journal.
async fn all_records(
    daemon: &Daemon,
    item: Option<ItemId>,
    after: u64,
) -> anyhow::Result<Vec<Record>> {
    let mut out: Vec<Record> = Vec::new();
    loop {
        let query = AuditQuery {
            item,
            after: out.last().map_or(after, |r| r.seq),
            limit: Some(1000),
        };
        let page = daemon
            .client
            .audit(&query)
            .await
            .map_err(|e| daemon.explain(e))?;
        if page.is_empty() {
            return Ok(out);
        }
        out.extend(page);
    }
}

pub async fn item(g: &Globals, id: ItemId, json: bool) -> anyhow::Result<()> {
    let daemon = Daemon::connect(g)?;
    let detail = daemon
        .client
        .item(id)
        .await
        .map_err(|e| daemon.explain(e))?;
    let audit = all_records(&daemon, Some(id), 0).await?;
    if json {
        let both = serde_json::json!({ "item": detail, "audit": audit });
        return print_json(&both);
    }
    let now = Utc::now();
    let s = &detail.summary;
    let line = format!(
        "item {}  {} v{}  {}",
        s.id,
        s.workflow,
        s.version,
        s.status.name()
    );
    println!("{}", printable(&line));
    if s.key.is_some() || s.title.is_some() {
        let named = [("key", &s.key), ("title", &s.title)]
            .iter()
            .filter_map(|(what, v)| Some(format!("{what} {}", v.as_deref()?)))
            .collect::<Vec<_>>()
            .join("  ");
        println!("{}", printable(&named));
    }
    println!(
        "priority {}  started {}  sla {}",
        s.priority,
        ago(now, s.started_at),
        sla(now, s)
    );
    println!("input {}", printable(&clip(&detail.input.to_string(), 100)));
    if let Some((step, err)) = &detail.incident {
        println!("{}", printable(&format!("INCIDENT at {step}: {err}")));
    }
    println!();
    let rows: Vec<Vec<String>> = detail
        .steps
        .iter()
        .map(|st| {
            let note = match (&st.error, &st.waiting_on, st.task) {
                (Some(e), _, _) => e.to_string(),
                (None, Some(w), _) => format!("waiting on {w}"),
                (None, None, Some(t)) => format!("task {t}"),
                _ => String::new(),
            };
            vec![
                st.id.clone(),
                st.kind.clone(),
                format!("{:?}", st.status).to_lowercase(),
                st.attempts.to_string(),
                clip(&note, 60),
            ]
        })
        .collect();
    print!(
        "{}",
        table(&["STEP", "KIND", "STATUS", "ATTEMPTS", "NOTE"], &rows)
    );
    println!();
    print!("{}", audit_table(&audit));
    Ok(())
}

pub async fn tasks(
    g: &Globals,
    mine: bool,
    all: bool,
    page: Page,
    json: bool,
) -> anyhow::Result<()> {
    let daemon = Daemon::connect(g)?;
    // Mine is whoever the daemon takes this client for (its token, its socket user).
    let me = match (mine, &g.acting_for) {
        (false, _) => None,
        (true, Some(person)) => Some(person.clone()),
        (true, None) => Some(
            daemon
                .client
                .whoami()
                .await
                .map_err(|e| daemon.explain(e))?
                .name,
        ),
    };
    let filter = TaskFilter {
        mine: me,
        all,
        limit: page.limit.map(|n| n as usize),
        after: page.after,
    };
    let list = daemon
        .client
        .tasks(&filter)
        .await
        .map_err(|e| daemon.explain(e))?;
    if json {
        return print_json(&list);
    }
    let now = Utc::now();
    let rows: Vec<Vec<String>> = list.iter().map(|t| task_row(now, t)).collect();
    print!(
        "{}",
        table(
            &["ID", "ITEM", "STATUS", "FOR", "CREATED", "DUE", "TITLE"],
            &rows
        )
    );
    Ok(())
}

fn task_row(now: chrono::DateTime<Utc>, t: &TaskView) -> Vec<String> {
    let who = t
        .claimed_by
        .as_ref()
        .or(t.assignee.as_ref())
        .or(t.group.as_ref())
        .cloned()
        .unwrap_or_else(|| "-".into());
    let status = match &t.decision {
        Some(d) => d.clone(),
        None => t
            .approvals_text()
            .unwrap_or_else(|| format!("{:?}", t.status).to_lowercase()),
    };
    vec![
        t.id.to_string(),
        t.item.to_string(),
        status,
        who,
        ago(now, t.created_at),
        task_due(now, t),
        clip(&t.title, 60),
    ]
}

/// An open task's countdown; for one that has ended, how it ended against its due:
/// `overdue` when it went past its due first (as its JSON says), `met` when decided in
/// time.
fn task_due(now: chrono::DateTime<Utc>, t: &TaskView) -> String {
    match (t.due, t.status) {
        (None, _) => "-".into(),
        (Some(due), TaskStatus::Open | TaskStatus::Claimed) => countdown(now, due),
        (Some(_), _) if t.overdue => "overdue".into(),
        (Some(_), TaskStatus::Decided) => "met".into(),
        (Some(_), TaskStatus::Cancelled) => "-".into(),
    }
}

fn audit_row(r: &Record) -> Vec<String> {
    vec![
        r.seq.to_string(),
        r.at.format("%Y-%m-%d %H:%M:%S").to_string(),
        r.item.map_or_else(|| "-".into(), |i| i.to_string()),
        r.actor.clone(),
        r.event.name().to_string(),
        clip(&r.event.detail(), 70),
        r.reason.clone().unwrap_or_default(),
    ]
}

const AUDIT_HEADER: [&str; 7] = ["SEQ", "AT", "ITEM", "ACTOR", "EVENT", "DETAIL", "REASON"];

fn audit_table(records: &[Record]) -> String {
    let rows: Vec<Vec<String>> = records.iter().map(audit_row).collect();
    table(&AUDIT_HEADER, &rows)
}

pub async fn audit(
    g: &Globals,
    item: Option<ItemId>,
    json: bool,
    follow: bool,
    page: Page,
) -> anyhow::Result<()> {
    let daemon = Daemon::connect(g)?;
    if !follow {
        let records = match page.limit {
            Some(limit) => {
                let query = AuditQuery {
                    item,
                    after: page.after.unwrap_or(0),
                    limit: Some(limit as usize),
                };
                daemon
                    .client
                    .audit(&query)
                    .await
                    .map_err(|e| daemon.explain(e))?
            }
            None => all_records(&daemon, item, page.after.unwrap_or(0)).await?,
        };
        // No records of an item that does not exist is "not found", not an empty trail
        // (`item N` and the acting verbs say so too).
        if let (Some(id), true) = (item, records.is_empty()) {
            daemon
                .client
                .item(id)
                .await
                .map_err(|e| daemon.explain(e))?;
        }
        return if json {
            print_json(&records)
        } else {
            print!("{}", audit_table(&records));
            Ok(())
        };
    }
    let mut follower = daemon.client.follow(item, page.after.unwrap_or(0));
    if !json {
        println!("{}", AUDIT_HEADER.join("  "));
    }
    loop {
        let rec = follower.next().await.map_err(|e| daemon.explain(e))?;
        if json {
            println!("{}", serde_json::to_string(&rec)?);
        } else {
            println!("{}", printable(audit_row(&rec).join("  ").trim_end()));
        }
    }
}

/// `tempi audit --archive DIR`: records retention archived, as `audit` prints them.
pub fn archived(
    dir: &std::path::Path,
    item: Option<ItemId>,
    json: bool,
    page: Page,
) -> anyhow::Result<()> {
    let mut records = crate::store::archive::read(dir, item, page.after.unwrap_or(0))?;
    if let Some(limit) = page.limit {
        records.truncate(limit as usize);
    }
    if json {
        return print_json(&records);
    }
    print!("{}", audit_table(&records));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn task(
        now: chrono::DateTime<Utc>,
        status: TaskStatus,
        due_in: i64,
        overdue: bool,
    ) -> TaskView {
        TaskView {
            id: 1,
            item: 1,
            workflow: "w".into(),
            step: "s".into(),
            kind: crate::types::event::TaskKind::Approval,
            title: "t".into(),
            details: None,
            group: None,
            assignee: None,
            claimed_by: None,
            options: Vec::new(),
            status,
            created_at: now,
            due: Some(now + Duration::seconds(due_in)),
            overdue,
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

    #[test]
    fn an_ended_task_says_how_it_ended_not_a_countdown() {
        let now = Utc::now();
        let open = task(now, TaskStatus::Open, 600, false);
        assert_eq!(task_due(now, &open), "in 10m");
        let late_open = task(now, TaskStatus::Claimed, -240, true);
        assert_eq!(task_due(now, &late_open), "breached 4m ago");
        // Decided on time, its due long past now: what the issue saw as `breached 4m ago`.
        let in_time = task(now, TaskStatus::Decided, -240, false);
        assert_eq!(task_due(now, &in_time), "met");
        let late = task(now, TaskStatus::Decided, -240, true);
        assert_eq!(task_due(now, &late), "overdue");
        let cancelled = task(now, TaskStatus::Cancelled, -240, false);
        assert_eq!(task_due(now, &cancelled), "-");
        let cancelled_late = task(now, TaskStatus::Cancelled, -240, true);
        assert_eq!(task_due(now, &cancelled_late), "overdue");
        let mut undue = task(now, TaskStatus::Decided, 0, false);
        undue.due = None;
        assert_eq!(task_due(now, &undue), "-");
    }
}
