//! Executors at the edge: they take a fully rendered `Job` and do the outside work
//! (an HTTP call, a program, an agent call), answering with an output or a `StepError`.

use serde_json::Value;

use crate::types::event::StepError;

pub mod agent;
pub mod http;
pub mod shell;

pub use crate::types::job::{HttpJob, Job, ShellJob};

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

impl Default for Executors {
    fn default() -> Self {
        Self::new()
    }
}
