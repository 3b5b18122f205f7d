//! The engine's interface for everything outside it (API server, CLI in-process, console):
//! commands that act, queries that read a consistent snapshot, and a resumable event stream.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::definition::{Named, Workflow};
use crate::engine::core::{Core, refuse_ended};
use crate::feed::{self, Commit};
use crate::store::{self, Reader};
use crate::types::Health;
use crate::types::command::{Command, CommandError, Reply};
use crate::types::deploy::{
    DeployFile, Deployment, MAX_DEPLOY_FILES, MAX_PATH_CHARS, WorkflowInfo,
};
use crate::types::event::{ItemId, Phase, Record, TaskId};
use crate::types::identity::{Directory, Who, token_hash};
use crate::types::job::Outcome;
use crate::types::report::Report;
use crate::types::tally::{Totals, minute_of};
use crate::types::view::{ItemDetail, ItemFilter, ItemSummary, Metrics, TaskFilter, TaskView};

/// Messages into the engine loop.
pub(crate) enum Request {
    Command {
        who: Who,
        reason: Option<String>,
        cmd: Command,
        /// The hash of a token drawn for a command that issues one.
        token: Option<String>,
        reply: oneshot::Sender<Result<Reply, CommandError>>,
    },
    Items {
        filter: ItemFilter,
        reply: oneshot::Sender<Vec<ItemSummary>>,
    },
    Item {
        id: ItemId,
        reply: oneshot::Sender<Option<ItemDetail>>,
    },
    Tasks {
        filter: TaskFilter,
        reply: oneshot::Sender<Vec<TaskView>>,
    },
    Metrics {
        reply: oneshot::Sender<Metrics>,
    },
    /// The latest state of some items and tasks, and the counters, in one turn.
    Changed {
        items: Vec<ItemId>,
        tasks: Vec<TaskId>,
        reply: oneshot::Sender<Changed>,
    },
    /// Load these parsed files' versions as `who`, all or none.
    Deploy {
        who: Who,
        reason: Option<String>,
        files: Vec<Named>,
        reply: oneshot::Sender<Result<Deployment, CommandError>>,
    },
    Workflows {
        reply: oneshot::Sender<Vec<WorkflowInfo>>,
    },
    /// What the engine counted, with its time and the names of the loaded workflows.
    Counted {
        reply: oneshot::Sender<Counted>,
    },
    /// One loaded workflow version with its source (to rebuild an ended item).
    Workflow {
        name: String,
        version: u32,
        reply: oneshot::Sender<Option<(Arc<Workflow>, Arc<str>)>>,
    },
    /// An executor finished an attempt.
    StepDone {
        item: ItemId,
        step: Arc<str>,
        attempt: u32,
        phase: Phase,
        outcome: Outcome,
    },
}

/// What the engine holds of some changed items and tasks, and the counters.
pub(crate) type Changed = (Vec<ItemSummary>, Vec<TaskView>, Metrics);

/// The engine's totals at its `now`, and the names of its loaded workflows.
pub struct Counted {
    pub now: DateTime<Utc>,
    pub totals: Totals,
    pub workflows: Vec<String>,
}

/// A cheap, cloneable handle on a running engine.
#[derive(Clone)]
pub struct EngineHandle {
    pub(crate) tx: mpsc::Sender<Request>,
    pub(crate) events: broadcast::Sender<Commit>,
    pub(crate) data_dir: PathBuf,
    /// What all watchers of this engine share: the change feed, the catch-up reader.
    pub(crate) feed: Arc<feed::Shared>,
    /// The journal's id, for `Metrics::journal_id`.
    pub(crate) journal_id: Arc<str>,
    /// Running, refusing work (a full disk), or stopped; set by the journal writer.
    pub(crate) health: watch::Receiver<Health>,
    /// How far the journal's hash chain is verified; set by the audit thread.
    pub(crate) audit: watch::Receiver<crate::types::health::AuditHealth>,
    /// How long ended items are kept (None: forever): a report's default window.
    pub(crate) retention: Option<std::time::Duration>,
    /// The journal writer's counters (group commits), for the metrics.
    pub(crate) stats: Arc<std::sync::Mutex<super::runtime::RuntimeStats>>,
    /// The operator directory as last changed, for authenticating requests.
    pub(crate) directory: watch::Receiver<Arc<Directory>>,
}

/// A new operator token: 32 random bytes from the OS, URL-safe base64, prefixed so a
/// leaked one is recognisable.
fn new_token() -> String {
    use base64::Engine;
    use rand::{RngCore, SeedableRng};
    let mut bytes = [0u8; 32];
    rand::rngs::StdRng::from_os_rng().fill_bytes(&mut bytes);
    format!(
        "tempi_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// How often a read whose answer was dropped (its batch failed to commit) is asked again.
const READ_TRIES: usize = 3;

impl EngineHandle {
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Request) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(make(tx)).await.ok()?;
        rx.await.ok()
    }

    /// A read: asked again when its answer was dropped because the batch it waited on
    /// did not commit (the engine then rebuilds its state and answers from that).
    async fn query<T>(&self, make: impl Fn(oneshot::Sender<T>) -> Request) -> Option<T> {
        for _ in 0..READ_TRIES {
            let (tx, rx) = oneshot::channel();
            self.tx.send(make(tx)).await.ok()?;
            if let Ok(answer) = rx.await {
                return Some(answer);
            }
        }
        None
    }

    /// Whether the engine takes work, and if not why.
    pub fn health(&self) -> Health {
        self.health.borrow().clone()
    }

    /// How far the journal's hash chain is verified, or where it breaks.
    pub fn audit_health(&self) -> crate::types::health::AuditHealth {
        self.audit.borrow().clone()
    }

    /// Waits until the engine has stopped for good; returns why.
    pub async fn stopped(&self) -> String {
        let mut rx = self.health.clone();
        let _ = rx.wait_for(|h| matches!(h, Health::Stopped(_))).await;
        match &*rx.borrow() {
            Health::Stopped(why) => why.clone(),
            _ => "the engine task ended unexpectedly (see the log under the data dir)".into(),
        }
    }

    /// Why a request got no answer: the engine's own reason when it has one.
    fn gone(&self) -> CommandError {
        CommandError::Unavailable(match self.health() {
            Health::Running => "the engine has stopped".into(),
            Health::Refusing(why) => why,
            Health::Stopped(why) => format!("the engine has stopped: {why}"),
        })
    }

    /// The operator directory as it now stands.
    pub fn directory(&self) -> Arc<Directory> {
        self.directory.borrow().clone()
    }

    /// Run a read of the journal on a blocking thread.
    pub(crate) async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Reader) -> Result<T, store::StoreError> + Send + 'static,
    ) -> Result<T, CommandError> {
        let dir = self.data_dir.clone();
        tokio::task::spawn_blocking(move || f(&Reader::open(&dir)?))
            .await
            .map_err(|e| CommandError::Unavailable(e.to_string()))?
            .map_err(|e| CommandError::Unavailable(e.to_string()))
    }

    /// Apply an operator command as `who`; answers once its events are durable. A
    /// command that registers an operator or renews a token answers with the token.
    pub async fn command(
        &self,
        who: &Who,
        reason: Option<String>,
        cmd: Command,
    ) -> Result<Reply, CommandError> {
        let target = (cmd.item(), cmd.task());
        let fresh = cmd.issues_token().then(new_token);
        let token = fresh.as_deref().map(token_hash);
        let answer = self
            .ask(|reply| Request::Command {
                who: who.clone(),
                reason,
                cmd,
                token,
                reply,
            })
            .await
            .unwrap_or_else(|| Err(self.gone()));
        let answer = answer.map(|mut r| {
            r.token = fresh;
            r
        });
        match answer {
            Err(e @ CommandError::NotFound(_)) => Err(self.explain_missing(target, e).await),
            answer => answer,
        }
    }

    /// An item or task the engine no longer holds may have ended: say so, as the
    /// engine would have while it held it.
    async fn explain_missing(
        &self,
        (item, task): (Option<ItemId>, Option<TaskId>),
        not_found: CommandError,
    ) -> CommandError {
        if item.is_none() && task.is_none() {
            return not_found;
        }
        let found = self
            .read(move |r| {
                let task = match task {
                    Some(t) => r.ended_task(t)?,
                    None => None,
                };
                let item = match item {
                    Some(i) => r.ended_item(i)?.map(|row| row.summary),
                    None => None,
                };
                Ok((item, task))
            })
            .await;
        match found {
            Ok((item, task)) => refuse_ended(item.as_ref(), task.as_ref()).unwrap_or(not_found),
            Err(_) => not_found,
        }
    }

    /// Items in flight from the engine, ended ones from the journal's index, newest
    /// first, merged.
    pub async fn items(&self, filter: ItemFilter) -> Result<Vec<ItemSummary>, CommandError> {
        let wants_ended = !filter.active && filter.status.is_none_or(|s| s.is_final());
        let live = self
            .query(|reply| Request::Items {
                filter: filter.clone(),
                reply,
            })
            .await
            .ok_or_else(|| self.gone())?;
        if !wants_ended {
            return Ok(live);
        }
        if let Some(ids) = &filter.ids {
            return self.items_by_id(&ids.0, live).await;
        }
        let limit = filter.limit.unwrap_or(usize::MAX);
        let f = filter.clone();
        let ended = self.read(move |r| r.ended_items(&f, limit)).await?;
        Ok(merge_newest_first(live, ended, limit))
    }

    async fn items_by_id(
        &self,
        ids: &[ItemId],
        live: Vec<ItemSummary>,
    ) -> Result<Vec<ItemSummary>, CommandError> {
        let mut found: std::collections::HashMap<ItemId, ItemSummary> =
            live.into_iter().map(|s| (s.id, s)).collect();
        let missing: Vec<ItemId> = ids
            .iter()
            .copied()
            .filter(|i| !found.contains_key(i))
            .collect();
        if !missing.is_empty() {
            let rows = self
                .read(move |r| {
                    let mut out = Vec::new();
                    for id in missing {
                        out.extend(r.ended_item(id)?);
                    }
                    Ok(out)
                })
                .await?;
            found.extend(rows.into_iter().map(|r| (r.summary.id, r.summary)));
        }
        Ok(ids.iter().filter_map(|i| found.remove(i)).collect())
    }

    /// One item: in flight from the engine, ended rebuilt from its own records.
    pub async fn item(&self, id: ItemId) -> Result<Option<ItemDetail>, CommandError> {
        if let Some(live) = self
            .query(|reply| Request::Item { id, reply })
            .await
            .ok_or_else(|| self.gone())?
        {
            return Ok(Some(live));
        }
        let Some((row, records)) = self.read(move |r| r.ended_item_with_records(id)).await? else {
            return Ok(None);
        };
        let (name, version) = (row.summary.workflow.clone(), row.summary.version);
        let Some((wf, source)) = self
            .query(|reply| Request::Workflow {
                name: name.clone(),
                version,
                reply,
            })
            .await
            .ok_or_else(|| self.gone())?
        else {
            return Ok(None);
        };
        Ok(Core::rebuild(wf, source, &records))
    }

    /// Tasks of items in flight, and with `all` those of ended items too, by id.
    pub async fn tasks(&self, filter: TaskFilter) -> Result<Vec<TaskView>, CommandError> {
        let mut live = self
            .query(|reply| Request::Tasks {
                filter: filter.clone(),
                reply,
            })
            .await
            .ok_or_else(|| self.gone())?;
        if !filter.all {
            return Ok(live);
        }
        let limit = filter.limit.unwrap_or(usize::MAX);
        let after = filter.after.unwrap_or(0);
        let mine = filter.mine.clone();
        let ended = self
            .read(move |r| {
                let mut out = Vec::new();
                let mut from = after;
                // Filtering by person happens here, so read in pages until enough match.
                loop {
                    let page = r.ended_tasks(from, 1000)?;
                    let Some(last) = page.last() else { break };
                    from = last.id;
                    out.extend(page.into_iter().filter(|t| mine_matches(&mine, t)));
                    if out.len() >= limit {
                        break;
                    }
                }
                Ok(out)
            })
            .await?;
        live.extend(ended);
        live.sort_by_key(|t| t.id);
        live.dedup_by_key(|t| t.id);
        live.truncate(limit);
        Ok(live)
    }

    /// The latest state of these items and tasks (ended ones from the journal's index,
    /// unknown ids left out) and the counters: what a batch of changes carries.
    pub async fn changed(
        &self,
        items: Vec<ItemId>,
        tasks: Vec<TaskId>,
    ) -> Result<Changed, CommandError> {
        let (want_items, want_tasks) = (items.clone(), tasks.clone());
        let (mut found_items, mut found_tasks, mut metrics) = self
            .query(|reply| Request::Changed {
                items: items.clone(),
                tasks: tasks.clone(),
                reply,
            })
            .await
            .ok_or_else(|| self.gone())?;
        let have: HashSet<ItemId> = found_items.iter().map(|i| i.id).collect();
        let missing_items: Vec<ItemId> = want_items
            .into_iter()
            .filter(|i| !have.contains(i))
            .collect();
        let have: HashSet<TaskId> = found_tasks.iter().map(|t| t.id).collect();
        let missing_tasks: Vec<TaskId> = want_tasks
            .into_iter()
            .filter(|t| !have.contains(t))
            .collect();
        if !missing_items.is_empty() || !missing_tasks.is_empty() {
            let (items, tasks) = self
                .read(move |r| {
                    let mut items = Vec::new();
                    for id in missing_items {
                        items.extend(r.ended_item(id)?.map(|row| row.summary));
                    }
                    let mut tasks = Vec::new();
                    for id in missing_tasks {
                        tasks.extend(r.ended_task(id)?);
                    }
                    Ok((items, tasks))
                })
                .await?;
            found_items.extend(items);
            found_tasks.extend(tasks);
        }
        metrics.journal_id = self.journal_id.to_string();
        metrics.audit = self.audit_health();
        Ok((found_items, found_tasks, metrics))
    }

    pub async fn metrics(&self) -> Result<Metrics, CommandError> {
        let mut m = self
            .query(|reply| Request::Metrics { reply })
            .await
            .ok_or_else(|| self.gone())?;
        m.journal_id = self.journal_id.to_string();
        m.audit = self.audit_health();
        if let Ok(s) = self.stats.lock() {
            m.commits = s.commits;
        }
        Ok(m)
    }

    /// What the engine counted since the journal began, at its time.
    pub async fn counted(&self) -> Result<Counted, CommandError> {
        self.query(|reply| Request::Counted { reply })
            .await
            .ok_or_else(|| self.gone())
    }

    /// The report from `since` (by default, as far back as ended items are kept; all
    /// that was counted when they are kept forever) to the engine's now.
    pub async fn report(&self, since: Option<DateTime<Utc>>) -> Result<Report, CommandError> {
        let counted = self.counted().await?;
        if let Some(s) = since.filter(|s| *s > counted.now) {
            return Err(CommandError::Invalid(format!(
                "since {} is after now ({}): a report covers what already happened",
                s.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                counted
                    .now
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )));
        }
        let since = since.or_else(|| {
            let keep = chrono::Duration::from_std(self.retention?).ok()?;
            counted.now.checked_sub_signed(keep)
        });
        let from = since.map(|s| s.timestamp());
        let (sums, first) = self.read(move |r| r.rollup_sums(from)).await?;
        // The window starts where its first counted bucket does.
        let start = match (since, first) {
            (Some(s), first) => {
                let minute = minute_of(s);
                Some(first.map_or(minute, |f| f.min(minute)))
            }
            (None, first) => first,
        }
        .and_then(|secs| DateTime::from_timestamp(secs, 0));
        Ok(Report::build(start, counted.now, sums, counted.workflows))
    }

    /// Every loaded workflow version, sorted, with the items in flight on it.
    pub async fn workflows(&self) -> Result<Vec<WorkflowInfo>, CommandError> {
        self.query(|reply| Request::Workflows { reply })
            .await
            .ok_or_else(|| self.gone())
    }

    /// Validate workflow files as `tempi validate` does and load their versions as
    /// `who`, all in one commit or none: every problem of every file is `Invalid`
    /// (`file:line:col: message`, one a line), a version already loaded with other
    /// content is a `Conflict`. Answers once the deployment is durable.
    pub async fn deploy(
        &self,
        who: &Who,
        reason: Option<String>,
        files: Vec<DeployFile>,
    ) -> Result<Deployment, CommandError> {
        check_deploy(&files)?;
        // Parsing a megabyte of YAML is work for a blocking thread, not the engine loop.
        let (files, diags) = tokio::task::spawn_blocking(move || {
            crate::definition::parse_all(files.into_iter().map(|f| (f.path, Ok(f.source))))
        })
        .await
        .map_err(|e| CommandError::Internal(format!("validating the files failed: {e}")))?;
        if !diags.is_empty() {
            let lines: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
            return Err(CommandError::Invalid(lines.join("\n")));
        }
        self.ask(|reply| Request::Deploy {
            who: who.clone(),
            reason,
            files,
            reply,
        })
        .await
        .unwrap_or_else(|| Err(self.gone()))
    }

    /// The committed journal records of one item (or all) with `seq > after`, in order.
    pub async fn audit(
        &self,
        item: Option<ItemId>,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Record>, CommandError> {
        self.read(move |r| r.records(item, after, limit)).await
    }

    /// When records after a stream's position `after` may have been removed by
    /// retention: the reason, for the stream to answer "resync" instead of a gap.
    /// (Unreadable floors count as none.)
    pub async fn gap_after(&self, after: u64) -> Option<String> {
        if after == 0 {
            return None;
        }
        let floors = self.read(|r| r.floors()).await.ok()?;
        feed::records::gap(after, floors.pruned_through)
    }

    /// Live records as they commit. Use `audit(None, last_seen, ..)` first to catch up;
    /// subscribe before reading the backlog so nothing falls in between.
    pub fn subscribe(&self) -> broadcast::Receiver<Commit> {
        self.events.subscribe()
    }
}

/// A deploy's own limits: how many files, how long their names; the body's size is
/// the API's to limit, each file's the parser's.
fn check_deploy(files: &[DeployFile]) -> Result<(), CommandError> {
    if files.is_empty() {
        return Err(CommandError::Invalid(
            "nothing to deploy: the request names no files".into(),
        ));
    }
    if files.len() > MAX_DEPLOY_FILES {
        return Err(CommandError::Invalid(format!(
            "{} files in one deploy; at most {MAX_DEPLOY_FILES} go together",
            files.len()
        )));
    }
    for (i, f) in files.iter().enumerate() {
        let n = f.path.chars().count();
        if f.path.trim().is_empty() || n > MAX_PATH_CHARS || f.path.chars().any(char::is_control) {
            return Err(CommandError::Invalid(format!(
                "file {}: a path must be 1 to {MAX_PATH_CHARS} characters without control \
                 characters (it names the file in messages)",
                i + 1
            )));
        }
    }
    Ok(())
}

/// Whether a task is one `mine` may act on (see `TaskFilter::mine`).
fn mine_matches(mine: &Option<String>, t: &TaskView) -> bool {
    match mine {
        None => true,
        Some(me) => {
            t.assignee.as_deref() == Some(me.as_str())
                || t.claimed_by.as_deref() == Some(me.as_str())
        }
    }
}

/// Two newest-first listings as one, an id in both taken once (the ended row wins: it
/// is the later state), cut at `limit`.
fn merge_newest_first(
    live: Vec<ItemSummary>,
    ended: Vec<store::EndedRow>,
    limit: usize,
) -> Vec<ItemSummary> {
    let mut out = Vec::with_capacity(live.len() + ended.len());
    let mut a = live.into_iter().peekable();
    let mut b = ended.into_iter().map(|r| r.summary).peekable();
    while out.len() < limit {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x.id == y.id => {
                a.next();
                b.next()
            }
            (Some(x), Some(y)) if x.id > y.id => a.next(),
            (Some(_), Some(_)) | (None, Some(_)) => b.next(),
            (Some(_), None) => a.next(),
            (None, None) => None,
        };
        match next {
            Some(s) => out.push(s),
            None => break,
        }
    }
    out
}
