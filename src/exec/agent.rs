//! The `agent` executor: an HTTP call answered with a decision and a confidence.

use serde_json::Value;

use super::HttpJob;
use crate::engine::event::StepError;

pub async fn run(client: &reqwest::Client, job: &HttpJob) -> Result<Value, StepError> {
    let _ = (client, job);
    todo!("helper B")
}
