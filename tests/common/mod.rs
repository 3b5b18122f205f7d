//! What the end-to-end test files share: waiting for a spawned `tempi serve` to come up.

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Where a daemon that came up listens, and its token.
pub struct Up {
    pub url: String,
    pub token: String,
}

/// Wait (at most 30 s) until `data/daemon.json` names `child`; kill it and panic if it
/// exits or does not come up.
pub fn wait_up(child: &mut Child, data: &Path) -> Up {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let info = std::fs::read_to_string(data.join("daemon.json")).ok();
        let info: Option<Value> = info.and_then(|t| serde_json::from_str(&t).ok());
        if let Some(info) = info.filter(|i| i["pid"] == child.id()) {
            let token = std::fs::read_to_string(data.join("token")).unwrap_or_default();
            return Up {
                url: info["url"].as_str().unwrap_or_default().to_string(),
                token: token.trim().to_string(),
            };
        }
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("daemon did not come up");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
