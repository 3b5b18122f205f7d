//! Whether the engine takes new work: running, refusing it while the journal's disk is
//! full (reads still served), or stopped for good, each with the reason an operator reads.

use serde::{Deserialize, Serialize};

/// The engine's state, as `/healthz` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "state", content = "reason", rename_all = "snake_case")]
pub enum Health {
    #[default]
    Running,
    /// New work is refused until a write to the journal succeeds again.
    Refusing(String),
    /// The engine ended; only a restart helps.
    Stopped(String),
}

impl Health {
    pub fn is_running(&self) -> bool {
        matches!(self, Health::Running)
    }

    /// Why work is not taken, if it is not.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Health::Running => None,
            Health::Refusing(r) | Health::Stopped(r) => Some(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_is_a_state_with_a_reason_in_json() {
        let json = serde_json::to_value(Health::Refusing("disk full at /d".into())).unwrap();
        assert_eq!(
            json,
            serde_json::json!({ "state": "refusing", "reason": "disk full at /d" })
        );
        let json = serde_json::to_value(Health::Running).unwrap();
        assert_eq!(json, serde_json::json!({ "state": "running" }));
    }
}
