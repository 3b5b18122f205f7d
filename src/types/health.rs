//! Whether the engine takes new work: running, refusing it while the journal's disk is
//! full (reads still served), or stopped for good, each with the reason an operator reads;
//! and how far the daemon has verified its journal's hash chain.

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

/// How far the daemon's background check has verified the journal's hash chain (see
/// `store::chain`), for `/healthz`, `/metrics` and the console's header.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditHealth {
    /// The chain verifies from the journal's start through this seq (0: not checked yet).
    pub verified_seq: u64,
    /// Where it does not verify, once found; the check stops there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broken: Option<AuditBreak>,
}

/// The body of `/healthz`: the engine's state (its `state` and `reason` at the top, as
/// before the chain) and the audit check. A broken chain does not stop the engine, so it
/// does not change the status code; `/metrics` has it for alerts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HealthReport {
    #[serde(flatten)]
    pub health: Health,
    pub audit: AuditHealth,
}

/// The first seq the chain does not verify at, and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditBreak {
    pub seq: u64,
    pub problem: String,
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

    #[test]
    fn healthz_keeps_state_and_reason_at_the_top_beside_the_audit() {
        let report = HealthReport {
            health: Health::Refusing("disk full at /d".into()),
            audit: AuditHealth {
                verified_seq: 7,
                broken: None,
            },
        };
        assert_eq!(
            serde_json::to_value(&report).unwrap(),
            serde_json::json!({
                "state": "refusing",
                "reason": "disk full at /d",
                "audit": { "verified_seq": 7 }
            })
        );
    }

    #[test]
    fn audit_health_says_a_break_only_when_there_is_one() {
        let fine = AuditHealth {
            verified_seq: 12,
            broken: None,
        };
        assert_eq!(
            serde_json::to_value(&fine).unwrap(),
            serde_json::json!({ "verified_seq": 12 })
        );
        let bad = AuditHealth {
            verified_seq: 12,
            broken: Some(AuditBreak {
                seq: 13,
                problem: "its hash was changed".into(),
            }),
        };
        let json = serde_json::to_value(&bad).unwrap();
        assert_eq!(json["broken"]["seq"], 13);
        assert_eq!(serde_json::from_value::<AuditHealth>(json).unwrap(), bad);
    }
}
