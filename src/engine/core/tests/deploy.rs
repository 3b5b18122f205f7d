//! Deploys: new versions become known together as the operator, running items keep
//! theirs, a conflict anywhere changes nothing, the same content twice writes nothing,
//! and a replay (a restart) keeps what was deployed.

use serde_json::json;

use super::*;
use crate::definition::{Named, parse_str};
use crate::types::deploy::{DeployStatus, Deployment};

/// A workflow file whose one step waits `wait` (so an item stays in flight).
fn file(name: &str, version: u32, wait: &str) -> Named {
    let source = format!(
        "name: {name}\nversion: {version}\nsteps:\n  - id: w\n    kind: wait\n    duration: {wait}\n"
    );
    let path = format!("{name}-v{version}.yaml");
    let workflow = parse_str(&path, &source).unwrap_or_else(|d| panic!("{d:?}"));
    Named {
        file: path,
        workflow,
        source,
    }
}

fn deploy(h: &mut H, files: &[Named]) -> (Result<Deployment, CommandError>, Vec<Record>) {
    h.turn(|c, ctx| {
        c.deploy(
            ctx,
            &crate::types::identity::Who::root("ann"),
            Some("release 4".into()),
            files,
        )
    })
}

fn statuses(d: &Deployment) -> Vec<(String, u32, DeployStatus)> {
    d.workflows
        .iter()
        .map(|w| (w.name.clone(), w.version, w.status))
        .collect()
}

#[test]
fn a_new_version_is_live_for_new_items_and_running_ones_keep_theirs() {
    let mut h = H::new(vec![]);
    let (d, _) = deploy(&mut h, &[file("pay", 1, "1h")]);
    assert_eq!(
        statuses(&d.unwrap()),
        [("pay".into(), 1, DeployStatus::Deployed)]
    );
    let old = h.start("pay", json!({}));
    let (d, recs) = deploy(&mut h, &[file("pay", 2, "2h"), file("pay", 1, "1h")]);
    let d = d.unwrap();
    assert_eq!(
        statuses(&d),
        [
            ("pay".into(), 2, DeployStatus::Deployed),
            ("pay".into(), 1, DeployStatus::Unchanged)
        ]
    );
    // One record, as the operator, with the reason; the answer names its seq.
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(
        (recs[0].actor.as_str(), recs[0].reason.as_deref()),
        ("ann", Some("release 4"))
    );
    assert!(matches!(
        &recs[0].event,
        Event::WorkflowLoaded { name, version: 2, .. } if name == "pay"
    ));
    assert_eq!(d.seq, recs[0].seq);
    let new = h.start("pay", json!({}));
    assert_eq!(h.detail(old).unwrap().summary.version, 1);
    assert_eq!(h.detail(new).unwrap().summary.version, 2);
    let listed: Vec<(String, u32, u64)> = h
        .core
        .workflows()
        .into_iter()
        .map(|w| (w.name, w.version, w.in_flight))
        .collect();
    assert_eq!(listed, [("pay".into(), 1, 1), ("pay".into(), 2, 1)]);
    // The old item ends: v1 stays loaded, with nothing in flight on it.
    h.advance(3600);
    assert_eq!(h.status(old), ItemStatus::Completed);
    assert_eq!(h.core.workflows()[0].in_flight, 0);

    // A restart replays the deployment: both versions, newest picked by start.
    let mut replayed = h.replayed();
    assert_eq!(replayed.workflows().len(), 2);
    assert_eq!(
        replayed.state.workflow("pay", None).map(|w| w.version),
        Some(2)
    );
    let mut draw = || 0.5;
    let mut ctx = Ctx::new(h.now, &mut draw);
    let same = replayed.deploy(
        &mut ctx,
        &crate::types::identity::Who::root("bob"),
        None,
        &[file("pay", 2, "2h")],
    );
    assert_eq!(
        statuses(&same.unwrap()),
        [("pay".into(), 2, DeployStatus::Unchanged)]
    );
    assert!(ctx.records.is_empty(), "unchanged writes nothing");
}

#[test]
fn a_conflict_anywhere_refuses_the_whole_deploy_and_names_each_file() {
    let mut h = H::new(vec![]);
    deploy(&mut h, &[file("pay", 1, "1h")]).0.unwrap();
    let before = h.core.workflows();
    let changed = file("pay", 1, "5h");
    let (d, recs) = deploy(
        &mut h,
        &[file("ship", 1, "1h"), changed, file("pay", 2, "1h")],
    );
    let Err(CommandError::Conflict(message)) = d else {
        panic!("{d:?}");
    };
    assert!(recs.is_empty(), "a refused deploy writes nothing: {recs:?}");
    assert_eq!(h.core.workflows(), before, "nothing was loaded");
    assert_eq!(
        message,
        "pay-v1.yaml:2:1: workflow pay version 1 is already loaded with different content; \
         raise `version:` to deploy a change (running items keep the version they started on)"
    );

    // The same version twice in one deploy with different content: both named.
    let mut twice = file("ship", 1, "2h");
    twice.file = "other.yaml".into();
    let (d, recs) = deploy(&mut h, &[file("ship", 1, "1h"), twice]);
    let Err(CommandError::Conflict(message)) = d else {
        panic!("{d:?}");
    };
    assert!(recs.is_empty());
    assert!(
        message.starts_with("other.yaml:2:1: workflow ship version 1 is also in ship-v1.yaml"),
        "{message}"
    );
    assert!(h.core.state.workflow("ship", None).is_none());
}
