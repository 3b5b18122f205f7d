//! Executors at the edge: they take a fully rendered `Job` and do the outside work
//! (an HTTP call, a program, an agent call), answering with an output or a `StepError`.

use std::time::Duration;

use serde_json::Value;

use crate::engine::event::StepError;

pub mod agent;
pub mod http;
pub mod shell;

/// One attempt of a step, rendered from its templates by the engine.
#[derive(Debug, Clone, PartialEq)]
pub enum Job {
    Http(HttpJob),
    Shell(ShellJob),
    Agent(HttpJob),
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpJob {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
    /// Success statuses; empty means any 2xx.
    pub expect: Vec<u16>,
    /// Sent as `Idempotency-Key`; the same for every attempt of one step of one item.
    pub idempotency_key: String,
    /// Per-attempt timeout.
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ShellJob {
    pub argv: Vec<String>,
    /// When set, run by `sh -c` and `argv` is ignored.
    pub script: Option<String>,
    pub env: Vec<(String, String)>,
    pub cwd: Option<String>,
    /// Success exit codes; empty means only 0.
    pub ok_codes: Vec<i32>,
    pub timeout: Option<Duration>,
    /// Exported to the program as `TEMPI_IDEMPOTENCY_KEY`.
    pub idempotency_key: String,
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

impl Default for Executors {
    fn default() -> Self {
        Self::new()
    }
}
