//! The `http` executor: one request with reqwest, idempotency key, expected statuses.

use serde_json::Value;

use super::HttpJob;
use crate::engine::event::StepError;

pub fn client() -> reqwest::Client {
    reqwest::Client::new()
}

pub async fn run(client: &reqwest::Client, job: &HttpJob) -> Result<Value, StepError> {
    let _ = (client, job);
    todo!("helper B")
}
