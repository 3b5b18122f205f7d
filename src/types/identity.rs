//! Who may act: the operator directory (names, roles, groups, token hashes) as the
//! journal builds it, and `Who`, the authenticated identity a command carries.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::event::ENGINE;

/// Most operators a directory holds, and groups one operator is in.
pub const MAX_OPERATORS: usize = 10_000;
pub const MAX_GROUPS: usize = 64;
/// Longest operator or group name.
pub const MAX_NAME: usize = 64;
/// Names no operator may have: the engine's own, and what an unnamed request once was.
pub const RESERVED: [&str; 2] = [ENGINE, "api"];

/// What an operator may do; each role may do everything the ones before it may.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything, changes nothing.
    Viewer,
    /// Decides, claims and passes on the tasks they are a candidate for.
    #[default]
    Approver,
    /// And retries, skips, cancels, compensates, signals, starts and deploys.
    Operator,
    /// And manages operators, and decides any task.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Approver, Role::Operator, Role::Admin];

    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Approver => "approver",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.name() == text.trim())
            .ok_or_else(|| format!("{text:?} is not a role (viewer, approver, operator or admin)"))
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One registered operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operator {
    pub name: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// SHA-256 of their token, hex; the token itself is shown once and kept nowhere.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub token: String,
    pub added: DateTime<Utc>,
    /// When they were revoked: their token no longer works, their name stays in the
    /// audit trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<DateTime<Utc>>,
}

impl Operator {
    pub fn active(&self) -> bool {
        self.revoked.is_none()
    }

    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}

/// Every operator ever registered, by name, with an index of the active ones' tokens.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Vec<Operator>", into = "Vec<Operator>")]
pub struct Directory {
    operators: BTreeMap<String, Operator>,
    tokens: HashMap<String, String>,
}

impl From<Vec<Operator>> for Directory {
    fn from(list: Vec<Operator>) -> Self {
        let mut d = Directory::default();
        for op in list {
            d.put(op);
        }
        d
    }
}

impl From<Directory> for Vec<Operator> {
    fn from(d: Directory) -> Self {
        d.operators.into_values().collect()
    }
}

impl Directory {
    pub fn get(&self, name: &str) -> Option<&Operator> {
        self.operators.get(name)
    }

    /// The registered, unrevoked operator of this name.
    pub fn active(&self, name: &str) -> Option<&Operator> {
        self.get(name).filter(|o| o.active())
    }

    /// The active operator whose token this is.
    pub fn by_token(&self, token: &str) -> Option<&Operator> {
        let name = self.tokens.get(&token_hash(token))?;
        self.active(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Operator> {
        self.operators.values()
    }

    pub fn len(&self) -> usize {
        self.operators.len()
    }

    pub fn is_empty(&self) -> bool {
        self.operators.is_empty()
    }

    /// Active operators in `group`.
    pub fn members<'a>(&'a self, group: &'a str) -> impl Iterator<Item = &'a Operator> + 'a {
        self.iter().filter(move |o| o.active() && o.in_group(group))
    }

    /// Every group some active operator is in, sorted.
    pub fn groups(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .iter()
            .filter(|o| o.active())
            .flat_map(|o| o.groups.iter().cloned())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Register (or re-register a revoked name with a new token).
    pub fn put(&mut self, op: Operator) {
        if let Some(old) = self.operators.get(&op.name) {
            self.tokens.remove(&old.token);
        }
        if op.active() && !op.token.is_empty() {
            self.tokens.insert(op.token.clone(), op.name.clone());
        }
        self.operators.insert(op.name.clone(), op);
    }

    pub fn revoke(&mut self, name: &str, at: DateTime<Utc>) {
        if let Some(op) = self.operators.get_mut(name) {
            self.tokens.remove(&op.token);
            op.revoked.get_or_insert(at);
        }
    }

    pub fn set_groups(&mut self, name: &str, groups: &[String]) {
        if let Some(op) = self.operators.get_mut(name) {
            op.groups = groups.to_vec();
        }
    }

    pub fn set_role(&mut self, name: &str, role: Role) {
        if let Some(op) = self.operators.get_mut(name) {
            op.role = role;
        }
    }

    pub fn set_token(&mut self, name: &str, token: &str) {
        if let Some(op) = self.operators.get_mut(name) {
            self.tokens.remove(&op.token);
            op.token = token.to_string();
            if op.active() {
                self.tokens.insert(op.token.clone(), op.name.clone());
            }
        }
    }
}

/// SHA-256 of a token, as the directory keeps it (hex).
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.trim().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `hash` looks like what `token_hash` gives.
pub fn is_token_hash(hash: &str) -> bool {
    hash.len() == 64
        && hash
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Why an operator or group name is not acceptable, if it is not.
pub fn check_name(name: &str, what: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if name.chars().count() > MAX_NAME {
        return Err(format!(
            "{what} {name:?} is longer than {MAX_NAME} characters"
        ));
    }
    if !name.chars().all(ok_char) || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "{what} {name:?} may hold only ASCII letters, digits, '.', '_' and '-', and starts \
             with a letter or digit (as login names do)"
        ));
    }
    if RESERVED.contains(&name) {
        return Err(format!("{what} {name:?} is reserved for tempi itself"));
    }
    Ok(())
}

/// Groups as given: each checked, duplicates removed, at most `MAX_GROUPS`.
pub fn check_groups(groups: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for g in groups {
        let g = g.trim();
        check_name(g, "group")?;
        if !out.iter().any(|x| x == g) {
            out.push(g.to_string());
        }
    }
    if out.len() > MAX_GROUPS {
        return Err(format!(
            "{} groups; an operator is in at most {MAX_GROUPS}",
            out.len()
        ));
    }
    Ok(out)
}

/// Who a command comes from, as the edge authenticated them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Who {
    /// The authenticated operator (the token's, or the local socket user's).
    pub name: String,
    /// Acting for this person (an admin's `--as`): the journal names both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
    /// The daemon's own user or token: an admin whether registered or not.
    #[serde(default)]
    pub root: bool,
}

impl Who {
    /// The daemon's own user (its token, its socket user, the embedded console).
    pub fn root(name: &str) -> Who {
        Who {
            name: name.to_string(),
            on_behalf_of: None,
            root: true,
        }
    }

    /// A registered operator, as authenticated.
    pub fn operator(name: &str) -> Who {
        Who {
            name: name.to_string(),
            on_behalf_of: None,
            root: false,
        }
    }

    /// The engine itself (startup loads, the engine's own decisions).
    pub fn engine() -> Who {
        Who::root(ENGINE)
    }

    /// The same authority acting for `person` (an admin only; the engine checks).
    pub fn acting_for(mut self, person: Option<&str>) -> Who {
        self.on_behalf_of = person.filter(|p| *p != self.name).map(str::to_string);
        self
    }

    /// The name the journal gives as the actor.
    pub fn actor(&self) -> &str {
        self.on_behalf_of.as_deref().unwrap_or(&self.name)
    }

    /// The authenticated admin behind an actor they act for.
    pub fn via(&self) -> Option<&str> {
        self.on_behalf_of.as_ref().map(|_| self.name.as_str())
    }

    /// Whether `person` is this identity, under either name.
    pub fn is(&self, person: &str) -> bool {
        self.name == person || self.on_behalf_of.as_deref() == Some(person)
    }
}

/// What `GET /api/operators` lists: the directory without token hashes, and the
/// daemon's own bootstrap identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OperatorView {
    pub name: String,
    pub role: Role,
    #[serde(default)]
    pub groups: Vec<String>,
    pub added: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<DateTime<Utc>>,
    /// The daemon's own token and user: an admin nobody registered.
    #[serde(default)]
    pub bootstrap: bool,
    /// Tasks open for them in person (assigned or claimed).
    #[serde(default)]
    pub open_tasks: usize,
}

impl OperatorView {
    /// A registered operator as listed (no token hash), with `open_tasks` of theirs.
    pub fn of(o: &Operator, open_tasks: usize) -> OperatorView {
        OperatorView {
            name: o.name.clone(),
            role: o.role,
            groups: o.groups.clone(),
            added: Some(o.added),
            revoked: o.revoked,
            bootstrap: false,
            open_tasks,
        }
    }
}

/// `GET /api/whoami`: who the request was taken to be, and what they may do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WhoAmI {
    pub name: String,
    pub role: Role,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub bootstrap: bool,
    /// How the daemon knew them: `token`, `socket` or `embedded`.
    pub via: String,
}

/// `GET /api/operators`: everyone who may act (the bootstrap first), and how many open
/// tasks wait on each group with nobody in person on them yet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Listing {
    pub operators: Vec<OperatorView>,
    #[serde(default)]
    pub groups: BTreeMap<String, usize>,
}

/// Open tasks per group and per person, for pickers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Load {
    pub groups: BTreeMap<String, usize>,
    pub people: BTreeMap<String, usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(name: &str, token: &str) -> Operator {
        Operator {
            name: name.into(),
            role: Role::Approver,
            groups: vec!["finance".into()],
            token: token_hash(token),
            added: DateTime::<Utc>::UNIX_EPOCH,
            revoked: None,
        }
    }

    #[test]
    fn a_token_finds_its_operator_until_revoked_and_a_new_one_replaces_it() {
        let mut d = Directory::default();
        d.put(op("alice", "t1"));
        assert_eq!(d.by_token("t1").map(|o| o.name.as_str()), Some("alice"));
        assert!(d.by_token("t2").is_none());
        d.set_token("alice", &token_hash("t2"));
        assert!(d.by_token("t1").is_none(), "the old token stops working");
        assert!(d.by_token("t2").is_some());
        d.revoke("alice", DateTime::<Utc>::UNIX_EPOCH);
        assert!(d.by_token("t2").is_none());
        assert!(d.active("alice").is_none());
        assert!(d.get("alice").is_some(), "a revoked name stays listed");
        let back: Directory = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
        assert_eq!(back, d, "the token index is rebuilt from the list");
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("alice.b-2_x", "operator").is_ok());
        for bad in [
            "",
            "zoë",
            "engine",
            "api",
            "-x",
            "a b",
            "a\u{202e}b",
            &"x".repeat(65),
            "@bob",
        ] {
            assert!(check_name(bad, "operator").is_err(), "{bad:?}");
        }
        let g = check_groups(&["a".into(), "a".into(), "b".into()]).unwrap();
        assert_eq!(g, ["a", "b"]);
        let many: Vec<String> = (0..65).map(|i| format!("g{i}")).collect();
        assert!(check_groups(&many).is_err());
    }

    #[test]
    fn an_admin_acting_for_someone_is_both() {
        let w = Who::operator("root").acting_for(Some("alice"));
        assert_eq!((w.actor(), w.via()), ("alice", Some("root")));
        assert!(w.is("root") && w.is("alice") && !w.is("bob"));
        let same = Who::operator("alice").acting_for(Some("alice"));
        assert_eq!(same.via(), None, "acting as yourself is just you");
    }
}
