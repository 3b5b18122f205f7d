//! Who a request comes from: the daemon's own token (the admin bootstrap), an operator's
//! token, or the local user on the Unix socket; and whom an admin acts for. The engine
//! judges what they may do; this only says who they are.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, StatusCode, header};

use super::server::{ApiError, AppState, header_text, same_secret};
use super::{ACTOR_HEADER, REASON_HEADER};
use crate::types::identity::{Load, OperatorView, RESERVED, Role, Who, WhoAmI, check_name};
use crate::types::view::{TaskFilter, TaskStatus};

/// The authenticated caller of a request, and the reason it gave.
#[derive(Debug, Clone)]
pub struct Caller {
    pub who: Who,
    pub reason: Option<String>,
    /// How they were known: `token` or `socket`.
    pub by: &'static str,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this request was not authenticated",
            )
        })
    }
}

fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
}

/// Who sent the request: see the module's doc. A request naming another actor is
/// refused unless its caller is an admin.
pub(super) fn authenticate(
    st: &AppState,
    headers: &HeaderMap,
    extensions: &Extensions,
) -> Result<Caller, ApiError> {
    let (who, by) = match local_peer(st, extensions)? {
        Some(who) => (who, "socket"),
        None => (bearer(st, headers)?, "token"),
    };
    let who = match header_text(headers, ACTOR_HEADER) {
        Some(person) if person != who.name => on_behalf(st, who, &person)?,
        None if headers.contains_key(ACTOR_HEADER) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("{ACTOR_HEADER} is empty; leave it out to act as yourself"),
            ));
        }
        _ => who,
    };
    Ok(Caller {
        who,
        reason: header_text(headers, REASON_HEADER),
        by,
    })
}

/// The identity of a Unix-socket peer, if the request came over the socket.
fn local_peer(st: &AppState, extensions: &Extensions) -> Result<Option<Who>, ApiError> {
    let Some(super::peer::Peer::Local {
        user, daemon_user, ..
    }) = extensions.get::<super::peer::Peer>()
    else {
        return Ok(None);
    };
    if *daemon_user {
        return Ok(Some(Who::root(user)));
    }
    match st.handle.directory().active(user) {
        Some(op) => Ok(Some(Who::operator(&op.name))),
        None => Err(forbidden(format!(
            "local user {user} is not a registered operator; the daemon's user (or an admin) \
             registers them with `tempi operator add {user} --role approver --groups GROUP`"
        ))),
    }
}

fn bearer(st: &AppState, headers: &HeaderMap) -> Result<Who, ApiError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(token) = presented else {
        return Err(unauthorized(
            "missing bearer token (Authorization: Bearer <an operator's token, or the \
             daemon's from its data dir>)",
        ));
    };
    if same_secret(token.as_bytes(), st.token.as_bytes()) {
        return Ok(Who::root(&st.daemon_user));
    }
    match st.handle.directory().by_token(token) {
        Some(op) => Ok(Who::operator(&op.name)),
        None => Err(unauthorized(
            "this token is not the daemon's nor an operator's (mistyped, or revoked)",
        )),
    }
}

/// An admin acting for `person`; anyone else naming another actor is refused.
fn on_behalf(st: &AppState, who: Who, person: &str) -> Result<Who, ApiError> {
    if RESERVED.contains(&person) {
        return Err(forbidden(format!(
            "'{person}' is tempi's own name; nobody acts as it"
        )));
    }
    check_name(person, ACTOR_HEADER)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e))?;
    let admin = who.root
        || st
            .handle
            .directory()
            .active(&who.name)
            .is_some_and(|o| o.role == Role::Admin);
    if !admin {
        return Err(forbidden(format!(
            "you are {}; acting as {person} ({ACTOR_HEADER}) needs an admin's token",
            who.name
        )));
    }
    Ok(who.acting_for(Some(person)))
}

/// Whom the daemon takes this request for: name, role, groups, and how it knew.
#[utoipa::path(
    get,
    path = "/api/whoami",
    tag = "operators",
    params(super::openapi::Acting),
    responses(
        (status = 200, body = WhoAmI),
        super::openapi::ParamsRefused,
        super::openapi::Refused
    ),
)]
pub(super) async fn whoami(State(st): State<AppState>, caller: Caller) -> Json<WhoAmI> {
    let dir = st.handle.directory();
    let role = match (caller.who.root, dir.active(&caller.who.name)) {
        (true, _) => Role::Admin,
        (false, Some(o)) => o.role,
        (false, None) => Role::Viewer,
    };
    // Acting for someone: their name and groups, with the authority of the caller.
    let me = caller.who.actor();
    Json(WhoAmI {
        name: me.to_string(),
        role,
        groups: dir.active(me).map(|o| o.groups.clone()).unwrap_or_default(),
        bootstrap: caller.who.root,
        via: caller.by.to_string(),
    })
}

/// `GET /api/operators`: the directory (no token hashes), the bootstrap identity
/// first, each with the open tasks they hold; and open tasks per group. Changes go
/// through `POST /api/commands` (`add_operator`, `revoke_operator`, `set_groups`,
/// `set_role`, `issue_token`: admins only).
#[utoipa::path(
    get,
    path = "/api/operators",
    tag = "operators",
    responses((status = 200, body = crate::types::identity::Listing), super::openapi::Refused),
)]
pub(super) async fn operators(
    State(st): State<AppState>,
    _caller: Caller,
) -> Result<Json<Directory>, ApiError> {
    let load = load(&st).await?;
    Ok(Json(listing(&st, &load)))
}

/// What `GET /api/operators` answers.
pub type Directory = crate::types::identity::Listing;

fn listing(st: &AppState, load: &Load) -> Directory {
    let dir = st.handle.directory();
    let mut operators = vec![OperatorView {
        name: st.daemon_user.to_string(),
        role: Role::Admin,
        groups: dir
            .active(&st.daemon_user)
            .map(|o| o.groups.clone())
            .unwrap_or_default(),
        added: None,
        revoked: None,
        bootstrap: true,
        open_tasks: load.people.get(&*st.daemon_user).copied().unwrap_or(0),
    }];
    operators.extend(
        dir.iter()
            .map(|o| OperatorView::of(o, load.people.get(&o.name).copied().unwrap_or(0))),
    );
    Directory {
        operators,
        groups: load.groups.clone(),
    }
}

/// Open tasks per person (assigned or claimed) and per group (nobody's in person yet).
async fn load(st: &AppState) -> Result<Load, ApiError> {
    let tasks = st.handle.tasks(TaskFilter::default()).await?;
    let mut load = Load::default();
    for t in tasks
        .iter()
        .filter(|t| matches!(t.status, TaskStatus::Open | TaskStatus::Claimed))
    {
        match (t.claimed_by.as_ref().or(t.assignee.as_ref()), &t.group) {
            (Some(p), _) => *load.people.entry(p.clone()).or_default() += 1,
            (None, Some(g)) => *load.groups.entry(g.clone()).or_default() += 1,
            (None, None) => {}
        }
    }
    Ok(load)
}
