//! Secrets: the values templates read as `secrets.NAME`, and the mask that replaces
//! them (as they are, base64-encoded or URL-encoded) with `[secret:NAME]` wherever text
//! is kept or shown: the journal, the API, the logs.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Shorter values are refused: they would mask half of every text.
pub const MIN_LEN: usize = 4;

/// Named secret values and their mask. Cheap to clone; empty costs nothing to apply.
#[derive(Clone, Default)]
pub struct Secrets {
    values: Arc<BTreeMap<String, String>>,
    mask: Option<Arc<Mask>>,
}

/// What is wrong with a secret (the loader adds the file and line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("secret {name} is shorter than {MIN_LEN} characters; it would mask too much")]
    TooShort { name: String },
    #[error(
        "secret name {name:?} is not usable as secrets.NAME (letters, digits and _, not starting with a digit)"
    )]
    BadName { name: String },
}

impl std::fmt::Debug for Secrets {
    // Names only: a secret's value never reaches a debug print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.values.keys()).finish()
    }
}

/// Whether `name` can be written as `secrets.NAME` (or `env.NAME`) in a template.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Secrets {
    pub fn new(values: BTreeMap<String, String>) -> Result<Secrets, SecretError> {
        for (name, value) in &values {
            if !is_identifier(name) {
                return Err(SecretError::BadName { name: name.clone() });
            }
            if value.chars().count() < MIN_LEN {
                return Err(SecretError::TooShort { name: name.clone() });
            }
        }
        let mask = Mask::build(&values).map(Arc::new);
        Ok(Secrets {
            values: Arc::new(values),
            mask,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// `secrets` in a template scope: `{ NAME: value }`.
    pub fn scope_value(&self) -> Value {
        Value::Object(
            self.values
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        )
    }

    /// `text` with every secret replaced by `[secret:NAME]`.
    pub fn mask_str<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match &self.mask {
            Some(m) if m.ac.is_match(text) => Cow::Owned(m.ac.replace_all(text, &m.labels)),
            _ => Cow::Borrowed(text),
        }
    }

    /// Take off the end of a text that was cut short (an excerpt) when that end is the
    /// start of a secret: the mask finds only whole ones, and a cut may split one.
    pub fn trim_cut(&self, text: &mut String) {
        let Some(m) = &self.mask else {
            return;
        };
        let longest = m.patterns.iter().filter_map(|p| started(text, p)).max();
        if let Some(n) = longest {
            text.truncate(text.len() - n);
        }
    }

    /// Mask every string (and object key) inside `v`; whether anything changed.
    pub fn mask_value(&self, v: &mut Value) -> bool {
        let Some(m) = &self.mask else {
            return false;
        };
        m.mask_value(v)
    }

    /// `t` with its secrets masked, through its JSON form (which only strings change).
    /// A value that holds no secret is returned as it is, after one scan of its JSON.
    pub fn mask<T: Serialize + DeserializeOwned>(&self, t: T) -> T {
        let Some(m) = &self.mask else {
            return t;
        };
        let Ok(text) = serde_json::to_string(&t) else {
            return t;
        };
        if !m.ac.is_match(&text) {
            return t;
        }
        let Ok(mut v) = serde_json::from_str::<Value>(&text) else {
            return t;
        };
        m.mask_value(&mut v);
        match serde_json::from_value(v) {
            Ok(masked) => masked,
            Err(e) => {
                // Only a secret that looks like a typed field (a date, a number) can get
                // here; the record is kept unmasked rather than lost.
                tracing::warn!("a record holds a secret that cannot be masked: {e}");
                t
            }
        }
    }
}

/// One automaton over every form of every secret.
struct Mask {
    ac: AhoCorasick,
    /// The replacement of each pattern, by pattern index.
    labels: Vec<String>,
    /// Every form of every secret, for [`Secrets::trim_cut`].
    patterns: Vec<String>,
}

impl Mask {
    fn build(values: &BTreeMap<String, String>) -> Option<Mask> {
        let mut patterns: Vec<String> = Vec::new();
        let mut labels = Vec::new();
        for (name, value) in values {
            let label = format!("[secret:{name}]");
            let mut forms = forms(value);
            // The journal's JSON text spells quotes and backslashes escaped.
            let escaped: Vec<String> = forms.iter().filter_map(|f| json_escaped(f)).collect();
            forms.extend(escaped);
            forms.sort();
            forms.dedup();
            for f in forms {
                if f.chars().count() >= MIN_LEN {
                    patterns.push(f);
                    labels.push(label.clone());
                }
            }
        }
        if patterns.is_empty() {
            return None;
        }
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
            .ok()?;
        Some(Mask {
            ac,
            labels,
            patterns,
        })
    }

    fn mask_value(&self, v: &mut Value) -> bool {
        match v {
            Value::String(s) => {
                if !self.ac.is_match(s.as_str()) {
                    return false;
                }
                *s = self.ac.replace_all(s, &self.labels);
                true
            }
            Value::Array(a) => a
                .iter_mut()
                .fold(false, |changed, x| self.mask_value(x) | changed),
            Value::Object(o) => {
                let keyed = o.keys().any(|k| self.ac.is_match(k.as_str()));
                if keyed {
                    let old = std::mem::take(o);
                    for (k, x) in old {
                        o.insert(self.ac.replace_all(&k, &self.labels), x);
                    }
                }
                o.values_mut()
                    .fold(keyed, |changed, x| self.mask_value(x) | changed)
            }
            _ => false,
        }
    }
}

/// The length in bytes of the longest start of `pattern` (not all of it) that `text`
/// ends with.
fn started(text: &str, pattern: &str) -> Option<usize> {
    pattern
        .char_indices()
        .skip(1)
        .map(|(k, _)| k)
        .filter(|&k| text.ends_with(&pattern[..k]))
        .max()
}

fn json_escaped(s: &str) -> Option<String> {
    let quoted = serde_json::to_string(s).ok()?;
    let inner = &quoted[1..quoted.len() - 1];
    (inner != s).then(|| inner.to_string())
}

/// The spellings a secret may take on its way out: as is, URL-encoded the ways clients
/// and servers encode, and base64 (alone, or inside a longer value such as
/// `user:secret` in a Basic credential, at each of the three byte alignments).
fn forms(value: &str) -> Vec<String> {
    use percent_encoding::{AsciiSet, CONTROLS, NON_ALPHANUMERIC, utf8_percent_encode};
    const STRICT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    // The url crate's path-segment and query sets (what reqwest leaves in a URL).
    const PATH: &AsciiSet = &CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'#')
        .add(b'<')
        .add(b'>')
        .add(b'`')
        .add(b'?')
        .add(b'{')
        .add(b'}')
        .add(b'/')
        .add(b'%');
    const QUERY: &AsciiSet = &CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'#')
        .add(b'<')
        .add(b'>')
        .add(b'\'');
    let strict = utf8_percent_encode(value, STRICT).to_string();
    let mut out = vec![
        value.to_string(),
        lower_hex(&strict),
        strict.replace("%20", "+"),
        strict,
        utf8_percent_encode(value, NON_ALPHANUMERIC).to_string(),
        utf8_percent_encode(value, PATH).to_string(),
        utf8_percent_encode(value, QUERY).to_string(),
    ];
    out.extend(template_escaped(value));
    let engines = [
        base64::engine::general_purpose::STANDARD_NO_PAD,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    for engine in engines {
        for offset in 0..3 {
            out.push(base64_inner(&engine, value.as_bytes(), offset));
        }
        out.push(base64::engine::general_purpose::STANDARD.encode(value));
    }
    out
}

/// The spellings of a template's `| tojson` (JSON with `<>&'` as `\u00XX`, safe in
/// HTML) and `| escape` (HTML entities): ordinary ways to put a value into a body.
fn template_escaped(value: &str) -> Vec<String> {
    let mut json = json_escaped(value).unwrap_or_else(|| value.to_string());
    for (c, e) in [
        ('<', "\\u003c"),
        ('>', "\\u003e"),
        ('&', "\\u0026"),
        ('\'', "\\u0027"),
    ] {
        json = json.replace(c, e);
    }
    let mut html = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '<' => html.push_str("&lt;"),
            '>' => html.push_str("&gt;"),
            '&' => html.push_str("&amp;"),
            '"' => html.push_str("&quot;"),
            '\'' => html.push_str("&#x27;"),
            '/' => html.push_str("&#x2f;"),
            c => html.push(c),
        }
    }
    vec![json, html]
}

/// `%2f` for `%2F`: some encoders write lowercase hex.
fn lower_hex(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut rest = encoded;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let hex = rest.get(at..at + 3).unwrap_or(&rest[at..]);
        out.push_str(&hex.to_ascii_lowercase());
        rest = &rest[at + hex.len()..];
    }
    out.push_str(rest);
    out
}

/// The base64 characters that depend on `bytes` alone when they start `offset` bytes
/// into a 3-byte group of a longer encoded value.
fn base64_inner(engine: &impl Engine, bytes: &[u8], offset: usize) -> String {
    let mut padded = vec![0u8; offset];
    padded.extend_from_slice(bytes);
    let text = engine.encode(&padded);
    // Leading characters mixed with the bytes before: none, 2 or 3 of them.
    let skip = [0, 2, 3][offset];
    // Trailing characters mixed with the bytes after: the last of a partial group.
    let drop = usize::from(!padded.len().is_multiple_of(3));
    let end = text.len().saturating_sub(drop);
    text.get(skip..end).unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::json;

    fn secrets(pairs: &[(&str, &str)]) -> Secrets {
        let map = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Secrets::new(map).unwrap()
    }

    #[test]
    fn no_secrets_mask_nothing_and_build_nothing() {
        let s = Secrets::default();
        assert!(s.mask.is_none());
        assert!(matches!(s.mask_str("anything"), Cow::Borrowed(_)));
    }

    #[test]
    fn raw_base64_and_url_encoded_forms_are_masked() {
        let s = secrets(&[("API_KEY", "s3cr3t/k+y=ok")]);
        let b64 = STANDARD.encode("s3cr3t/k+y=ok");
        let text = format!(
            "raw s3cr3t/k+y=ok b64 {b64} url s3cr3t%2Fk%2By%3Dok lower s3cr3t%2fk%2by%3dok path s3cr3t%2Fk+y=ok"
        );
        let masked = s.mask_str(&text);
        assert!(!masked.contains("s3cr3t"), "{masked}");
        assert!(!masked.contains(&b64), "{masked}");
        assert_eq!(masked.matches("[secret:API_KEY]").count(), 5, "{masked}");
    }

    #[test]
    fn a_secret_through_tojson_or_escape_is_masked() {
        // `{{ secrets.TOK | tojson }}` wrote p\u003ca\u0026ss\u0027w0rd into the journal,
        // and `| escape` p&lt;a&amp;ss&#x27;w0rd: neither was a masked form.
        let value = "p<a&ss'w0/rd\"";
        let s = secrets(&[("TOK", value)]);
        let env = minijinja::Environment::new();
        for filter in ["tojson", "escape"] {
            let out = env
                .render_str(
                    &format!("x{{{{ v | {filter} }}}}y"),
                    minijinja::context! { v => value },
                )
                .unwrap();
            let masked = s.mask_str(&out);
            assert!(
                masked.contains("[secret:TOK]"),
                "{filter}: {out} -> {masked}"
            );
            assert!(!masked.contains("w0"), "{filter}: {masked}");
            // And as the journal spells it, inside a JSON string.
            let journaled = serde_json::to_string(&out).unwrap();
            assert!(
                !s.mask_str(&journaled).contains("w0"),
                "{filter}: {journaled}"
            );
        }
    }

    #[test]
    fn a_basic_credential_holding_the_secret_is_masked() {
        let s = secrets(&[("PASS", "hunter2hunter2")]);
        for user in ["a", "ab", "abc"] {
            let basic = STANDARD.encode(format!("{user}:hunter2hunter2"));
            let masked = s.mask_str(&basic);
            assert!(
                masked.contains("[secret:PASS]"),
                "{user}: {basic} -> {masked}"
            );
        }
    }

    #[test]
    fn the_longest_overlapping_secret_wins() {
        let s = secrets(&[("SHORT", "abcd"), ("LONG", "abcdefgh")]);
        assert_eq!(
            s.mask_str("x abcdefgh y abcd"),
            "x [secret:LONG] y [secret:SHORT]"
        );
    }

    #[test]
    fn values_and_keys_inside_json_are_masked() {
        let s = secrets(&[("TOKEN", "tok-123456")]);
        let mut v = json!({ "echo": ["Bearer tok-123456"], "tok-123456": 1, "n": 5 });
        assert!(s.mask_value(&mut v));
        assert_eq!(
            v,
            json!({ "echo": ["Bearer [secret:TOKEN]"], "[secret:TOKEN]": 1, "n": 5 })
        );
    }

    #[test]
    fn a_secret_with_quotes_is_found_in_json_text() {
        let s = secrets(&[("Q", "say \"hi\" now")]);
        let masked: Value = s.mask(json!({ "m": "he said say \"hi\" now" }));
        assert_eq!(masked, json!({ "m": "he said [secret:Q]" }));
    }

    #[test]
    fn short_values_and_bad_names_are_refused() {
        let short = Secrets::new([("A".to_string(), "abc".to_string())].into());
        assert_eq!(
            short.unwrap_err(),
            SecretError::TooShort { name: "A".into() }
        );
        let bad = Secrets::new([("a-b".to_string(), "abcdef".to_string())].into());
        assert!(matches!(bad, Err(SecretError::BadName { .. })));
    }

    #[test]
    fn the_start_of_a_secret_at_a_cut_is_taken_off() {
        let s = secrets(&[("TOKEN", "tok-123456")]);
        let mut cut = "x=1&t=tok-12".to_string();
        s.trim_cut(&mut cut);
        assert_eq!(cut, "x=1&t=");
        // Whole ones are the mask's; an end that starts no secret stays.
        let mut whole = "t=tok-123456".to_string();
        s.trim_cut(&mut whole);
        assert_eq!(whole, "t=tok-123456");
        let mut other = "t=abc!".to_string();
        s.trim_cut(&mut other);
        assert_eq!(other, "t=abc!");
        let mut none = "t=tok".to_string();
        Secrets::default().trim_cut(&mut none);
        assert_eq!(none, "t=tok");
    }

    #[test]
    fn debug_shows_names_not_values() {
        let s = secrets(&[("API_KEY", "s3cr3t-value")]);
        let d = format!("{s:?}");
        assert!(d.contains("API_KEY") && !d.contains("s3cr3t"), "{d}");
    }
}
