//! The HTTP exchange behind a step attempt, kept for debugging: the request as sent and
//! the response when there was one, bounded, with sensitive header values hidden.

use serde::{Deserialize, Serialize};

use crate::text::thousands;

/// The most of a body an exchange keeps, in bytes (cut at a character boundary).
pub const BODY_MAX: usize = 4 * 1024;
/// The most headers an exchange keeps of each side.
pub const HEADERS_MAX: usize = 32;
/// The most characters of a header value an exchange keeps.
pub const VALUE_MAX: usize = 256;
/// What a sensitive header's value is replaced with.
pub const HIDDEN: &str = "[hidden]";

/// One request and its response (absent after a transport error or a timeout).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Exchange {
    pub request: Request,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Response>,
    /// From sending the request to the end of its response (or of the attempt).
    pub duration_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ExchangeRequest)]
pub struct Request {
    pub method: String,
    /// Without user name and password; the query is kept.
    pub url: String,
    /// In the order sent, as `[name, value]`; at most [`HEADERS_MAX`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    /// Headers past [`HEADERS_MAX`], left out.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub headers_omitted: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Body>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ExchangeResponse)]
pub struct Response {
    pub status: u16,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub headers_omitted: u32,
    /// Kept when the attempt failed; on success the step's output holds the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Body>,
}

/// The start of a body as text, and how long the body really was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ExchangeBody)]
pub struct Body {
    /// At most [`BODY_MAX`] bytes of it (invalid UTF-8 shown as `�`).
    pub excerpt: String,
    /// The body's length in bytes: as read, or as its `Content-Length` said.
    pub bytes: u64,
    /// `excerpt` is not all of the body.
    #[serde(default, skip_serializing_if = "is_false")]
    pub cut: bool,
    /// The body was not read to its end (past the engine's limit): it had more than
    /// `bytes`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub unread: bool,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Body {
    /// The excerpt of `bytes` (the start of a body of `total` bytes, or all of it).
    pub fn of(bytes: &[u8], total: u64) -> Body {
        let total = total.max(bytes.len() as u64);
        let mut head = &bytes[..bytes.len().min(BODY_MAX)];
        if (head.len() as u64) < total
            && let Err(e) = std::str::from_utf8(head)
            && e.error_len().is_none()
        {
            // A character split by the cut is left out rather than shown as `�`.
            head = &head[..e.valid_up_to()];
        }
        let mut cut = (head.len() as u64) < total;
        let mut excerpt = String::from_utf8_lossy(head).into_owned();
        if excerpt.len() > BODY_MAX {
            // Each invalid byte became three: cut again, at a character.
            excerpt.truncate(excerpt.floor_char_boundary(BODY_MAX));
            cut = true;
        }
        Body {
            excerpt,
            bytes: total,
            cut,
            unread: false,
        }
    }
}

/// Whether a header's value must not be kept: credentials, cookies, and anything whose
/// name says key, token, secret, password or session (but `Idempotency-Key`, which
/// the engine sets and an operator needs).
pub fn is_sensitive(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    if name == "idempotency-key" {
        return false;
    }
    const EXACT: [&str; 4] = [
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
    ];
    const PARTS: [&str; 6] = ["token", "secret", "key", "auth", "password", "session"];
    EXACT.contains(&name.as_str()) || PARTS.iter().any(|p| name.contains(p))
}

/// Headers as an exchange keeps them: the first [`HEADERS_MAX`], sensitive values
/// hidden, long values cut; with how many were left out.
pub fn headers<'a>(all: impl Iterator<Item = (&'a str, &'a [u8])>) -> (Vec<(String, String)>, u32) {
    let mut kept = Vec::new();
    let mut omitted = 0u32;
    for (name, value) in all {
        if kept.len() == HEADERS_MAX {
            omitted = omitted.saturating_add(1);
            continue;
        }
        let value = if is_sensitive(name) {
            HIDDEN.to_string()
        } else {
            cut_value(&String::from_utf8_lossy(value))
        };
        kept.push((name.to_string(), value));
    }
    (kept, omitted)
}

/// A header value of at most [`VALUE_MAX`] characters, ending in `…` when cut.
fn cut_value(value: &str) -> String {
    match value.char_indices().nth(VALUE_MAX - 1) {
        Some((at, _)) if value[at..].chars().nth(1).is_some() => format!("{}…", &value[..at]),
        _ => value.to_string(),
    }
}

/// One piece of an exchange as text, in the order it is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    /// `POST https://host/path?q → 503 Service Unavailable · 123 ms`
    Headline(String),
    /// `request headers`, `response body (4,096 of 10,240 bytes)`
    Title(String),
    Header(String, String),
    /// A line of a body (pretty JSON when the excerpt is whole JSON).
    Text(String),
}

impl Exchange {
    /// Visit each text that was cut short (a body excerpt, a header value ending in
    /// `…`, without it): whatever a cut split is at its end.
    pub fn cut_texts(&mut self, mut f: impl FnMut(&mut String)) {
        let (mut headers, mut bodies) = (vec![&mut self.request.headers], vec![]);
        bodies.extend(self.request.body.as_mut());
        if let Some(r) = &mut self.response {
            headers.push(&mut r.headers);
            bodies.extend(r.body.as_mut());
        }
        for (_, value) in headers.into_iter().flatten() {
            if value.ends_with('…') {
                value.pop();
                f(value);
                value.push('…');
            }
        }
        for body in bodies.into_iter().filter(|b| b.cut) {
            f(&mut body.excerpt);
        }
    }

    /// `POST https://host/path?q → 503 Service Unavailable · 123 ms`.
    pub fn headline(&self) -> String {
        let answer = match &self.response {
            Some(r) => status_text(r.status),
            None => "no response".to_string(),
        };
        let r = &self.request;
        format!(
            "{} {} → {answer} · {} ms",
            r.method,
            r.url,
            thousands(self.duration_ms)
        )
    }

    /// The exchange as the console and `y` show it: headline, then each side's headers
    /// and body.
    pub fn shown(&self) -> Vec<Shown> {
        let mut out = vec![Shown::Headline(self.headline())];
        let r = &self.request;
        side(
            &mut out,
            "request",
            &r.headers,
            r.headers_omitted,
            r.body.as_ref(),
        );
        if let Some(r) = &self.response {
            side(
                &mut out,
                "response",
                &r.headers,
                r.headers_omitted,
                r.body.as_ref(),
            );
        }
        out
    }

    /// [`shown`](Self::shown) as plain lines, for copying.
    pub fn text(&self) -> String {
        let lines: Vec<String> = self
            .shown()
            .into_iter()
            .map(|s| match s {
                Shown::Headline(t) | Shown::Title(t) => t,
                Shown::Header(n, v) => format!("  {n}: {v}"),
                Shown::Text(t) => format!("  {t}"),
            })
            .collect();
        lines.join("\n")
    }
}

/// `503 Service Unavailable`, or the bare code when it has no standard reason.
pub fn status_text(code: u16) -> String {
    let reason = reqwest::StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason());
    match reason {
        Some(r) => format!("{code} {r}"),
        None => code.to_string(),
    }
}

fn side(
    out: &mut Vec<Shown>,
    which: &str,
    headers: &[(String, String)],
    omitted: u32,
    body: Option<&Body>,
) {
    if !headers.is_empty() || omitted > 0 {
        let more = match omitted {
            0 => String::new(),
            n => format!(" ({n} more left out)"),
        };
        out.push(Shown::Title(format!("{which} headers{more}")));
        for (n, v) in headers {
            out.push(Shown::Header(n.clone(), v.clone()));
        }
    }
    let Some(b) = body else {
        return;
    };
    let size = match (b.cut, b.unread) {
        (_, true) => format!("{} bytes read, more unread", thousands(b.bytes)),
        (true, false) => format!(
            "first {} of {} bytes",
            thousands(b.excerpt.len() as u64),
            thousands(b.bytes)
        ),
        (false, false) => format!("{} bytes", thousands(b.bytes)),
    };
    out.push(Shown::Title(format!("{which} body ({size})")));
    for line in pretty(b).lines() {
        out.push(Shown::Text(line.to_string()));
    }
}

/// A whole JSON body indented; anything else as it is.
fn pretty(b: &Body) -> String {
    if !b.cut
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(&b.excerpt)
        && (v.is_object() || v.is_array())
    {
        return serde_json::to_string_pretty(&v).unwrap_or_else(|_| b.excerpt.clone());
    }
    b.excerpt.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs<'a>(list: &'a [(&'a str, &'a str)]) -> impl Iterator<Item = (&'a str, &'a [u8])> {
        list.iter().map(|(n, v)| (*n, v.as_bytes()))
    }

    #[test]
    fn a_body_is_cut_at_a_character_and_keeps_its_length() {
        let whole = Body::of(b"{\"a\":1}", 7);
        assert_eq!(
            (whole.excerpt.as_str(), whole.bytes, whole.cut),
            ("{\"a\":1}", 7, false)
        );
        // 'é' is two bytes: the cut at 4096 falls inside one.
        let text = format!("x{}", "é".repeat(5000));
        let b = Body::of(text.as_bytes(), text.len() as u64);
        assert!(b.cut);
        assert_eq!(b.bytes, text.len() as u64);
        assert_eq!(b.excerpt.len(), BODY_MAX - 1);
        assert!(text.starts_with(&b.excerpt));
        // Invalid bytes grow into `�`, three bytes each: still at most BODY_MAX.
        let binary = vec![0xffu8; BODY_MAX];
        let b = Body::of(&binary, BODY_MAX as u64);
        assert!(b.excerpt.len() <= BODY_MAX && b.cut, "{}", b.excerpt.len());
        // Only the start was read: the length says how long it really was.
        let head = Body::of(b"abc", 10_000);
        assert_eq!((head.bytes, head.cut), (10_000, true));
    }

    #[test]
    fn sensitive_headers_are_named_by_what_they_hold() {
        for name in [
            "Authorization",
            "proxy-authorization",
            "Cookie",
            "set-cookie",
            "X-Api-Key",
            "x-auth-user",
            "X-Access-Token",
            "x-client-secret",
            "x-password",
            "X-Session-Id",
        ] {
            assert!(is_sensitive(name), "{name}");
        }
        for name in ["Idempotency-Key", "content-type", "x-request-id", "accept"] {
            assert!(!is_sensitive(name), "{name}");
        }
    }

    #[test]
    fn headers_are_hidden_cut_and_counted() {
        let long = "v".repeat(300);
        let list = [
            ("authorization", "Bearer abc"),
            ("idempotency-key", "item-1/pay/run"),
            ("x-long", long.as_str()),
        ];
        let (kept, omitted) = headers(pairs(&list));
        assert_eq!(omitted, 0);
        assert_eq!(kept[0], ("authorization".into(), HIDDEN.into()));
        assert_eq!(kept[1].1, "item-1/pay/run");
        assert_eq!(kept[2].1.chars().count(), VALUE_MAX);
        assert!(kept[2].1.ends_with("v…"));
        let exact = "w".repeat(VALUE_MAX);
        let (kept, _) = headers(pairs(&[("x-exact", exact.as_str())]));
        assert_eq!(kept[0].1, exact, "a value of exactly the limit is whole");

        let many: Vec<(String, String)> = (0..40).map(|k| (format!("x-{k}"), "v".into())).collect();
        let (kept, omitted) = headers(many.iter().map(|(n, v)| (n.as_str(), v.as_bytes())));
        assert_eq!((kept.len(), omitted), (HEADERS_MAX, 8));
    }

    fn failed() -> Exchange {
        Exchange {
            request: Request {
                method: "POST".into(),
                url: "https://crm.example/v2/accounts?dry=1".into(),
                headers: vec![("content-type".into(), "application/json".into())],
                headers_omitted: 0,
                body: Some(Body::of(br#"{"name":"Acme"}"#, 15)),
            },
            response: Some(Response {
                status: 503,
                headers: vec![("retry-after".into(), "30".into())],
                headers_omitted: 2,
                body: Some(Body::of(b"upstream down", 13)),
            }),
            duration_ms: 1234,
        }
    }

    #[test]
    fn shown_as_a_headline_headers_and_bodies() {
        let x = failed();
        assert_eq!(
            x.headline(),
            "POST https://crm.example/v2/accounts?dry=1 → 503 Service Unavailable · 1,234 ms"
        );
        let text = x.text();
        assert!(
            text.contains("request body (15 bytes)\n  {\n    \"name\": \"Acme\"\n  }"),
            "{text}"
        );
        assert!(
            text.contains("response headers (2 more left out)\n  retry-after: 30"),
            "{text}"
        );
        assert!(
            text.ends_with("response body (13 bytes)\n  upstream down"),
            "{text}"
        );
        let lost = Exchange {
            response: None,
            ..x
        };
        assert!(lost.headline().contains("→ no response · 1,234 ms"));
        assert_eq!(status_text(599), "599");
    }

    #[test]
    fn cut_texts_visits_what_was_cut_without_its_ellipsis() {
        let mut x = failed();
        x.request.headers.push(("x-long".into(), "abc…".into()));
        if let Some(r) = &mut x.response {
            r.body = Some(Body::of(b"0123456789", 20));
        }
        let mut seen = Vec::new();
        x.cut_texts(|t| {
            seen.push(t.clone());
            t.pop();
        });
        assert_eq!(seen, ["abc", "0123456789"]);
        assert_eq!(x.request.headers[1].1, "ab…");
    }

    #[test]
    fn the_journal_form_is_compact_and_reads_back() {
        let x = failed();
        let json = serde_json::to_string(&x).unwrap();
        assert!(
            json.contains(r#""headers":[["content-type","application/json"]]"#),
            "{json}"
        );
        assert!(
            !json.contains("\"cut\""),
            "false flags are left out: {json}"
        );
        assert_eq!(serde_json::from_str::<Exchange>(&json).unwrap(), x);
    }
}
