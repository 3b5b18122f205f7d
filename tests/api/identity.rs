//! Who acts is who they are, over TCP: operators registered with the CLI, each acting
//! with their own token; spoofing, roles, candidates, four eyes and revocation refused
//! with the rule named; every change to the directory in the audit trail.

use reqwest::Method;
use serde_json::{Value, json};

use super::Daemon;

const FOUR: &str = r#"name: spend
version: 1
steps:
  - id: approve
    kind: human
    title: "Approve spend {{ input.n }}"
    group: finance
    approvals: 2
    self_approval: false
"#;

impl Daemon {
    /// `tempi operator add`, returning the token from the last line of stdout.
    fn add_operator(&self, name: &str, role: &str, groups: &str) -> String {
        let o = self.cli(&["operator", "add", name, "--role", role, "--groups", groups]);
        assert!(o.status.success(), "{}", super::stderr(&o));
        let out = String::from_utf8(o.stdout).unwrap();
        let token = out.lines().last().unwrap().trim().to_string();
        assert!(token.starts_with("tempi_"), "{out}");
        token
    }

    async fn call_as(
        &self,
        token: &str,
        actor: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut rb = self
            .http()
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(token);
        if let Some(a) = actor {
            rb = rb.header("x-tempi-actor", a);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// The journal's last seq, from the audit trail.
    async fn head(&self) -> u64 {
        let (_, recs) = self
            .call(Method::GET, "/api/audit?after=0&limit=10000", None)
            .await;
        recs.as_array().unwrap().last().unwrap()["seq"]
            .as_u64()
            .unwrap()
    }
}

fn decide(decision: &str) -> Option<Value> {
    Some(json!({ "decision": decision }))
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_are_identities_and_the_engine_enforces_who_may_decide() {
    let d = Daemon::start();
    let file = d.data.parent().unwrap().join("spend.yaml");
    std::fs::write(&file, FOUR).unwrap();
    let o = d.cli(&["deploy", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", super::stderr(&o));

    let alice = d.add_operator("alice", "approver", "finance");
    let carol = d.add_operator("carol", "approver", "finance");
    let bob = d.add_operator("bob", "approver", "sales");
    let vic = d.add_operator("vic", "viewer", "");
    let olga = d.add_operator("olga", "operator", "finance,ops");
    let adam = d.add_operator("adam", "admin", "");
    let again = d.cli(&["operator", "add", "alice"]);
    assert_eq!(again.status.code(), Some(1), "registered twice");

    // A viewer reads and changes nothing.
    let (s, _) = d.call_as(&vic, None, Method::GET, "/api/items", None).await;
    assert_eq!(s, 200);
    let before = d.head().await;
    let start = Some(json!({"workflow": "order", "input": {"n": 1}}));
    let (s, e) = d
        .call_as(&vic, None, Method::POST, "/api/items", start.clone())
        .await;
    assert_eq!((s, e["error"].as_str()), (403, Some("forbidden")), "{e}");
    assert!(e["message"].as_str().unwrap().contains("viewer"), "{e}");
    assert_eq!(d.head().await, before, "a refused request changes nothing");

    // An operator starts; the order's task is for group ops.
    let (s, r) = d
        .call_as(&olga, None, Method::POST, "/api/items", start)
        .await;
    assert_eq!(s, 201, "{r}");
    let item = r["item"].as_u64().unwrap();
    let task = d.open_task_of(item).await;
    let path = format!("/api/tasks/{task}/decide");

    // Spoofing: bob names alice; the engine's own name is nobody's, admins included.
    let before = d.head().await;
    let (s, e) = d
        .call_as(&bob, Some("alice"), Method::POST, &path, decide("approved"))
        .await;
    assert_eq!(s, 403, "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("you are bob"),
        "{e}"
    );
    let (s, _) = d
        .call_as(
            &adam,
            Some("engine"),
            Method::POST,
            &path,
            decide("approved"),
        )
        .await;
    assert_eq!(s, 403);
    // Candidates: the task is for ops; bob is in sales.
    let (s, e) = d
        .call_as(&bob, None, Method::POST, &path, decide("approved"))
        .await;
    assert_eq!(s, 403, "{e}");
    let says = e["message"].as_str().unwrap();
    assert!(
        says.contains("is for group ops; you are in sales"),
        "{says}"
    );
    let (s, _) = d
        .call_as(
            &bob,
            None,
            Method::POST,
            &format!("/api/tasks/{task}/claim"),
            None,
        )
        .await;
    assert_eq!(s, 403, "a non-candidate cannot claim either");
    assert_eq!(d.head().await, before, "refusals changed nothing");

    // An admin acting for someone: judged as the admin, both names journaled.
    let (s, r) = d
        .call_as(&adam, Some("dora"), Method::POST, &path, decide("approved"))
        .await;
    assert_eq!(s, 200, "{r}");
    let (_, recs) = d
        .call(Method::GET, &format!("/api/audit?item={item}"), None)
        .await;
    let decided = recs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["event"]["type"] == "task_decided")
        .unwrap();
    assert_eq!(
        (&decided["actor"], &decided["via"]),
        (&json!("dora"), &json!("adam"))
    );

    // Four eyes: two distinct approvers, never the one who started the item.
    let (s, r) = d
        .call_as(
            &olga,
            None,
            Method::POST,
            "/api/items",
            Some(json!({"workflow": "spend", "input": {"n": 2}})),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    let spend = r["item"].as_u64().unwrap();
    let task = d.open_task_of(spend).await;
    let path = format!("/api/tasks/{task}/decide");
    let (s, e) = d
        .call_as(&olga, None, Method::POST, &path, decide("approved"))
        .await;
    assert_eq!(s, 403, "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("started item"),
        "{e}"
    );
    let (s, e) = d
        .call_as(
            &alice,
            None,
            Method::POST,
            &format!("/api/tasks/{task}/claim"),
            None,
        )
        .await;
    assert_eq!(
        s, 422,
        "a task that needs two approvals cannot be claimed: {e}"
    );
    let (s, r) = d
        .call_as(&alice, None, Method::POST, &path, decide("approved"))
        .await;
    assert_eq!(
        (s, r["message"].as_str()),
        (200, Some(&*format!("task {task}: 1 of 2 approvals")))
    );
    let (s, _) = d
        .call_as(&alice, None, Method::POST, &path, decide("approved"))
        .await;
    assert_eq!(s, 409, "the same person twice is one approval");
    let tasks = d.cli_json(&["tasks", "--json"]);
    let open = tasks
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == task)
        .unwrap();
    assert_eq!(
        (&open["approvals"], &open["approved_by"]),
        (&json!(2), &json!(["alice"]))
    );
    let (s, r) = d
        .call_as(&carol, None, Method::POST, &path, decide("approved"))
        .await;
    assert_eq!(
        (s, r["message"].as_str()),
        (200, Some(&*format!("task {task} approved")))
    );

    // Revoked: the token stops working at once.
    let o = d.cli(&["operator", "revoke", "bob"]);
    assert!(o.status.success(), "{}", super::stderr(&o));
    let (s, _) = d.call_as(&bob, None, Method::GET, "/api/items", None).await;
    assert_eq!(s, 401);

    // The directory: the bootstrap first, bob revoked, no token hash served.
    let list = d.cli_json(&["operator", "list", "--json"]);
    let ops = list["operators"].as_array().unwrap();
    assert_eq!(ops[0]["bootstrap"], true, "{list}");
    let bob_row = ops.iter().find(|o| o["name"] == "bob").unwrap();
    assert!(bob_row["revoked"].is_string(), "{list}");
    assert!(
        !list.to_string().contains(&alice),
        "no token is ever listed"
    );

    // Audited: who changed the directory, and no token in the journal.
    let (_, all) = d.call(Method::GET, "/api/audit?limit=10000", None).await;
    let text = all.to_string();
    for t in [&alice, &carol, &bob, &vic, &olga, &adam] {
        assert!(!text.contains(t.as_str()), "a token reached the journal");
    }
    let changes: Vec<(&str, &str)> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["event"]["type"]
                .as_str()
                .unwrap()
                .starts_with("operator_")
        })
        .map(|r| {
            (
                r["event"]["type"].as_str().unwrap(),
                r["actor"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(changes.len(), 7, "{changes:?}");
    assert!(changes.iter().all(|(_, by)| *by == "ann"), "{changes:?}");

    // A restart replays the same directory.
    d.signal(libc::SIGKILL);
    let mut d = d;
    let _ = d.child.wait();
    d.restart();
    let (s, _) = d
        .call_as(&alice, None, Method::GET, "/api/whoami", None)
        .await;
    assert_eq!(s, 200);
    let (s, _) = d
        .call_as(&bob, None, Method::GET, "/api/whoami", None)
        .await;
    assert_eq!(s, 401, "still revoked after a restart");
    let (_, me) = d
        .call_as(&olga, None, Method::GET, "/api/whoami", None)
        .await;
    assert_eq!(
        me,
        json!({"name": "olga", "role": "operator", "groups": ["finance", "ops"], "bootstrap": false, "via": "token"})
    );
}
