//! Executors at the edge: they take a fully rendered `Job` and do the outside work
//! (an HTTP call, a program, an agent call), answering with an output or a `StepError`,
//! and for an HTTP call the exchange it made.

use std::sync::Arc;

pub mod agent;
pub mod groups;
pub mod http;
pub mod shell;

pub use crate::types::job::{HttpJob, Job, Outcome, ShellJob};

/// Where an attempt's outcome goes; an executor answers once (a test double may answer
/// never, late or twice: the engine drops what is stale). A result alone becomes an
/// outcome with `.into()`.
pub type Answer = Box<dyn Fn(Outcome) + Send + Sync>;

/// What runs jobs for the engine: the real executors, or a test double.
pub trait Executor: Send + Sync {
    /// Start one attempt; its result goes to `answer`.
    fn start(&self, job: Job, answer: Answer);

    /// `start`, handing back what ends the attempt early: aborting the task drops its
    /// work (the shell executor kills the process group, an HTTP request is closed).
    /// `None` when the attempt cannot be ended (the default, for test doubles).
    fn start_abortable(&self, job: Job, answer: Answer) -> Option<tokio::task::AbortHandle> {
        self.start(job, answer);
        None
    }
}

/// Shared resources the executors need (one HTTP client with its connection pool).
#[derive(Clone)]
pub struct Executors {
    pub client: reqwest::Client,
    /// Where shell steps record their process groups (none: not recorded).
    pub groups: Option<Arc<groups::Groups>>,
}

impl Executors {
    pub fn new() -> Self {
        Executors {
            client: http::client(),
            groups: None,
        }
    }

    /// Run one attempt to its end (or its timeout). Only HTTP calls have an exchange.
    pub async fn run(&self, job: Job) -> Outcome {
        match job {
            Job::Http(j) => http::run_recorded(&self.client, &j).await,
            Job::Shell(j) => shell::run_recorded(&j, self.groups.as_deref()).await.into(),
            Job::Agent(j) => agent::run_recorded(&self.client, &j).await,
        }
    }
}

/// The real executors, each attempt on a task of the current tokio runtime.
pub struct Spawned {
    pub executors: Executors,
    pub rt: tokio::runtime::Handle,
}

impl Executor for Spawned {
    fn start(&self, job: Job, answer: Answer) {
        self.start_abortable(job, answer);
    }

    fn start_abortable(&self, job: Job, answer: Answer) -> Option<tokio::task::AbortHandle> {
        let executors = self.executors.clone();
        let task = self.rt.spawn(async move {
            answer(executors.run(job).await);
        });
        Some(task.abort_handle())
    }
}

impl Default for Executors {
    fn default() -> Self {
        Self::new()
    }
}
