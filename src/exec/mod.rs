//! Executors at the edge: they take a fully rendered `Job` and do the outside work
//! (an HTTP call, a program, an agent call), answering with an output or a `StepError`.

use serde_json::Value;

use crate::types::event::StepError;

pub mod agent;
pub mod http;
pub mod shell;

pub use crate::types::job::{HttpJob, Job, ShellJob};

/// Where an attempt's result goes; an executor answers once (a test double may answer
/// never, late or twice: the engine drops what is stale).
pub type Answer = Box<dyn Fn(Result<Value, StepError>) + Send + Sync>;

/// What runs jobs for the engine: the real executors, or a test double.
pub trait Executor: Send + Sync {
    /// Start one attempt; its result goes to `answer`.
    fn start(&self, job: Job, answer: Answer);
}

/// Shared resources the executors need (one HTTP client with its connection pool).
#[derive(Clone)]
pub struct Executors {
    pub client: reqwest::Client,
}

impl Executors {
    pub fn new() -> Self {
        Executors {
            client: http::client(),
        }
    }

    /// Run one attempt to its end (or its timeout).
    pub async fn run(&self, job: Job) -> Result<Value, StepError> {
        match job {
            Job::Http(j) => http::run(&self.client, &j).await,
            Job::Shell(j) => shell::run(&j).await,
            Job::Agent(j) => agent::run(&self.client, &j).await,
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
        let executors = self.executors.clone();
        self.rt.spawn(async move {
            answer(executors.run(job).await);
        });
    }
}

impl Default for Executors {
    fn default() -> Self {
        Self::new()
    }
}
