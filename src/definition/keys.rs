//! The keys of every mapping in a workflow file, with their types and meaning: the
//! parser refuses any key not listed here, and `tempi schema` is generated from them.

/// A key of a mapping.
#[derive(Debug)]
pub struct Key {
    pub name: &'static str,
    pub ty: Ty,
    pub required: bool,
    pub doc: &'static str,
}

/// What a key's value may be, as the parser reads it.
#[derive(Debug)]
pub enum Ty {
    /// A string, and nothing else.
    Text,
    /// A string matching an ECMA-262 pattern, of at most `max` characters.
    Pattern {
        pattern: &'static str,
        max: Option<usize>,
    },
    /// A minijinja template (a number or boolean is read as its text), of at most `max`
    /// bytes; `non_blank` refuses one that is only spaces.
    Template {
        max: Option<usize>,
        non_blank: bool,
    },
    /// A minijinja expression, without `{{ }}` (a number or boolean is read as text).
    Expression,
    /// A duration with units, such as `30s` or `1h 30m`.
    Duration,
    Int {
        min: i64,
        max: i64,
    },
    Number {
        min: f64,
        max: f64,
    },
    Bool,
    /// One of these strings; with `any_case`, in any letter case.
    Choice {
        values: &'static [&'static str],
        any_case: bool,
    },
    /// A step kind of the mapping this key is in (see [`Kinds`]).
    Kind,
    /// A string, number or boolean (never a list or mapping).
    Scalar,
    /// Any YAML value; its strings are templates.
    Json,
    List {
        of: &'static Ty,
        min: usize,
        max: Option<usize>,
        unique: bool,
    },
    /// One value, or a list of them.
    OneOrList(&'static Ty),
    /// A mapping from names to templates (headers, environment variables).
    TemplateMap,
    /// A mapping with the keys of a section.
    Mapping(&'static Section),
    /// A mapping whose keys depend on its `kind:`.
    ByKind(&'static Kinds),
    /// Any one of these.
    AnyOf(&'static [Ty]),
    /// `retry.non_retryable`'s error kind: one of [`ERROR_KINDS`], `status:CODE` or `exit:CODE`.
    ErrorKind,
    /// An RFC 3339 time, or a template that renders to one.
    Time,
    /// Text a decider is shown and types back (a label, an option): at most
    /// `types::form::MAX_LABEL` characters, no spaces around it, no control characters
    /// or bidi overrides.
    Shown,
}

/// A rule over the keys of one mapping that the keys alone do not say.
#[derive(Debug)]
pub enum Rule {
    /// Exactly one of these keys must be there.
    ExactlyOne(&'static [&'static str]),
    /// At least one of these keys must be there.
    AtLeastOne(&'static [&'static str]),
    /// `key` must be there when `field` is `value`, and must not be otherwise.
    OnlyWhen {
        key: &'static str,
        field: &'static str,
        value: &'static str,
    },
}

/// A mapping with a fixed set of keys.
#[derive(Debug)]
pub struct Section {
    /// Its name in the schema's `$defs` (the keys of a kind are named there as
    /// `<kinds id>_<kind>`, such as `step_http`).
    pub id: &'static str,
    pub doc: &'static str,
    pub keys: &'static [Key],
    pub rules: &'static [Rule],
}

impl Section {
    pub fn names(&self) -> Vec<&'static str> {
        self.keys.iter().map(|k| k.name).collect()
    }
}

/// A mapping whose `kind:` decides which keys it may have besides the common ones.
#[derive(Debug)]
pub struct Kinds {
    /// Its name in the schema's `$defs`.
    pub id: &'static str,
    pub doc: &'static str,
    /// The keys of every kind (`kind` among them).
    pub common: &'static [Key],
    /// Each kind with the keys it adds.
    pub kinds: &'static [(&'static str, &'static Section)],
}

impl Kinds {
    pub fn names(&self) -> Vec<&'static str> {
        self.kinds.iter().map(|(k, _)| *k).collect()
    }

    pub fn common_names(&self) -> Vec<&'static str> {
        self.common.iter().map(|k| k.name).collect()
    }

    /// The keys a kind adds to the common ones; none for a kind that is not one of these.
    pub fn keys_of(&self, kind: &str) -> Vec<&'static str> {
        self.kinds
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or_else(Vec::new, |(_, s)| s.names())
    }
}

const fn key(name: &'static str, ty: Ty, doc: &'static str) -> Key {
    Key {
        name,
        ty,
        required: false,
        doc,
    }
}

const fn required(name: &'static str, ty: Ty, doc: &'static str) -> Key {
    Key {
        name,
        ty,
        required: true,
        doc,
    }
}

/// The HTTP methods a request may use (in any letter case).
pub const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"];

/// The kinds of error `retry.non_retryable` may name.
pub const ERROR_KINDS: &[&str] = &[
    "timeout", "deadline", "connect", "status", "decode", "exit", "spawn", "template", "signal",
];

/// What `on_failure` may say.
pub const ON_FAILURE: &[&str] = &["incident", "compensate", "fail"];

/// The types of a form field (the names of `types::form::FieldType`).
pub const FIELD_TYPES: &[&str] = &["string", "number", "integer", "boolean", "enum"];

const TEMPLATE: Ty = Ty::Template {
    max: None,
    non_blank: false,
};
/// An item's `key:` or `title:`.
const NAME_TEMPLATE: Ty = Ty::Template {
    max: Some(super::parse::MAX_NAME_TEMPLATE),
    non_blank: true,
};
const STEP_ID: Ty = Ty::Pattern {
    pattern: "^[a-z][a-z0-9_]*$",
    max: None,
};
const ESCALATE: Ty = Ty::List {
    of: &Ty::Mapping(&ESCALATION),
    min: 0,
    max: None,
    unique: false,
};

/// The top level of a workflow file.
pub const WORKFLOW: Section = Section {
    id: "workflow",
    doc: "A tempi workflow: a name, a version and the steps every work item runs.",
    keys: &[
        required(
            "name",
            Ty::Pattern {
                pattern: "^[a-z0-9][a-z0-9_-]*$",
                max: None,
            },
            "The workflow's name, used by `tempi start NAME`: lowercase letters, digits, `-` \
             and `_`, starting with a letter or digit.",
        ),
        required(
            "version",
            Ty::Int {
                min: 1,
                max: u32::MAX as i64,
            },
            "The definition's version; running items keep the version they started with. \
             Two files must not define the same name and version.",
        ),
        key(
            "description",
            Ty::Text,
            "What the workflow does, shown in the console.",
        ),
        key(
            "key",
            NAME_TEMPLATE,
            "Each item's business key (an invoice number), a template rendered when the item \
             starts and again whenever a step it reads succeeds. Searchable with \
             `tempi items --key`.",
        ),
        key(
            "title",
            NAME_TEMPLATE,
            "Each item's title for people (a customer's name), a template rendered like `key`.",
        ),
        key(
            "sla",
            Ty::Mapping(&SLA),
            "The item's deadline, warning thresholds and escalation chain.",
        ),
        key(
            "on_failure",
            Ty::Choice {
                values: ON_FAILURE,
                any_case: false,
            },
            "What happens when a step has exhausted its retries: `incident` (default) parks \
             the item for an operator; `compensate` undoes completed steps newest first and \
             fails the item; `fail` fails it at once.",
        ),
        required(
            "steps",
            Ty::List {
                of: &Ty::ByKind(&STEP),
                min: 1,
                max: Some(super::parse::MAX_STEPS),
                unique: false,
            },
            "The steps of the workflow; `needs` makes them a graph, and steps whose needs are \
             done run in parallel.",
        ),
    ],
    rules: &[],
};

/// `sla:` of a workflow.
pub const SLA: Section = Section {
    id: "sla",
    doc: "The item's deadline, counted from its start.",
    keys: &[
        required(
            "due",
            Ty::Duration,
            "Time from the item's start to its deadline.",
        ),
        key(
            "warn",
            Ty::List {
                of: &Ty::AnyOf(&[
                    Ty::Int { min: 1, max: 99 },
                    Ty::Pattern {
                        pattern: "^\\s*\\+?[0-9]+\\s*%\\s*$",
                        max: None,
                    },
                ]),
                min: 0,
                max: None,
                unique: false,
            },
            "Warning thresholds: percent of `due` elapsed, 1 to 99, strictly ascending, with \
             or without `%` (`[50%, 75%, 90%]`).",
        ),
        key(
            "escalate",
            ESCALATE,
            "Escalation levels that fire before the breach; delays from the item's start.",
        ),
    ],
    rules: &[],
};

/// A level of an escalation chain (`sla.escalate`, a human step's `escalate`, an agent's
/// `review.escalate`).
pub const ESCALATION: Section = Section {
    id: "escalation",
    doc: "A level of an escalation chain.",
    keys: &[
        required(
            "after",
            Ty::Duration,
            "Delay from the start of the clock (the item's start, or the task's creation).",
        ),
        required("to", Ty::Text, "The group or user the work is handed to."),
        key(
            "repeat",
            Ty::Duration,
            "Fire again every `repeat` until the task is decided.",
        ),
    ],
    rules: &[],
};

/// `retry:` of a step.
pub const RETRY: Section = Section {
    id: "retry",
    doc: "How a failed attempt is retried; keys left out keep their defaults.",
    keys: &[
        key(
            "attempts",
            Ty::Int { min: 1, max: 100 },
            "Attempts in all, the first included (default 1: no retry).",
        ),
        key(
            "backoff",
            Ty::Duration,
            "Delay before the second attempt (default 1s).",
        ),
        key(
            "multiplier",
            Ty::Number {
                min: 1.0,
                max: 10.0,
            },
            "Growth of the delay per attempt (default 2).",
        ),
        key(
            "max_backoff",
            Ty::Duration,
            "Cap on the delay, not shorter than `backoff` (default 5m, or `backoff` if that is \
             longer).",
        ),
        key(
            "jitter",
            Ty::Number { min: 0.0, max: 1.0 },
            "Fraction of each delay that is randomised (default 0).",
        ),
        key(
            "non_retryable",
            Ty::List {
                of: &Ty::ErrorKind,
                min: 0,
                max: None,
                unique: false,
            },
            "Errors that are not retried: timeout, deadline, connect, status, decode, exit, \
             spawn, template, signal; `status` and `exit` may name a code (`status:404`, \
             `exit:3`).",
        ),
    ],
    rules: &[],
};

/// The keys every step has.
const STEP_COMMON: &[Key] = &[
    required(
        "id",
        STEP_ID,
        "The step's id, unique within the workflow: lowercase letters, digits and `_`, \
         starting with a letter. Later steps read its results as `steps.<id>`.",
    ),
    required(
        "kind",
        Ty::Kind,
        "What the step does: `http` calls an API, `shell` runs a program, `agent` asks an AI \
         agent, `human` opens an inbox task, `wait` waits for a time or a signal, `pass` maps \
         data.",
    ),
    key(
        "needs",
        Ty::OneOrList(&STEP_ID),
        "Steps that must finish (succeed or be skipped) before this one runs: a list of ids, \
         or one id.",
    ),
    key(
        "when",
        Ty::Expression,
        "An expression (without `{{ }}`), e.g. `steps.approve.decision == 'approved'`; when \
         false the step is skipped.",
    ),
    key(
        "retry",
        Ty::Mapping(&RETRY),
        "How a failed attempt is retried.",
    ),
    key(
        "timeout",
        Ty::Duration,
        "Per attempt; default 5m for http, 1h for shell, 10m for agent. For a signal wait: \
         how long to wait for the signal.",
    ),
    key(
        "deadline",
        Ty::Duration,
        "The whole step, across all attempts and backoffs; never retried.",
    ),
    key(
        "compensate",
        Ty::ByKind(&COMPENSATE),
        "The undo action, run when the item is compensated after this step succeeded: an \
         http, shell or pass action that may read this step's own output.",
    ),
];

/// A step of the workflow, by kind.
pub const STEP: Kinds = Kinds {
    id: "step",
    doc: "A step of the workflow; the keys it may have besides the common ones depend on its \
          `kind`.",
    common: STEP_COMMON,
    kinds: &[
        ("http", &HTTP),
        ("shell", &SHELL),
        ("agent", &AGENT),
        ("human", &HUMAN),
        ("wait", &WAIT),
        ("pass", &PASS),
    ],
};

/// A step's `compensate:` action: a few kinds, their keys and nothing else.
pub const COMPENSATE: Kinds = Kinds {
    id: "compensate",
    doc: "An undo action: an http, shell or pass action with that kind's keys and nothing \
          else (no needs, when, retry or timeouts).",
    common: &[required(
        "kind",
        Ty::Kind,
        "What the undo action does: `http`, `shell` or `pass`.",
    )],
    kinds: &[("http", &HTTP), ("shell", &SHELL), ("pass", &PASS)],
};

pub const HTTP: Section = Section {
    id: "http",
    doc: "Call an API; the response JSON is the step's output. Every call carries an \
          Idempotency-Key, stable across retries.",
    keys: &[
        required(
            "request",
            Ty::Mapping(&REQUEST),
            "The request: method, URL, headers and JSON body.",
        ),
        key(
            "expect",
            Ty::List {
                of: &Ty::Int { min: 100, max: 599 },
                min: 0,
                max: None,
                unique: false,
            },
            "Statuses that count as success (default: any 2xx).",
        ),
    ],
    rules: &[],
};

/// `request:` of an http or agent step.
pub const REQUEST: Section = Section {
    id: "request",
    doc: "An HTTP request.",
    keys: &[
        key(
            "method",
            Ty::Choice {
                values: METHODS,
                any_case: true,
            },
            "GET (default), POST, PUT, PATCH, DELETE or HEAD, in any case.",
        ),
        required("url", TEMPLATE, "The URL, a template."),
        key(
            "headers",
            Ty::TemplateMap,
            "Request headers: names to templates.",
        ),
        key(
            "json",
            Ty::Json,
            "The JSON body: any YAML, whose strings are templates. A string that is exactly \
             one `{{ expr }}` becomes the JSON value of `expr`.",
        ),
    ],
    rules: &[],
};

pub const SHELL: Section = Section {
    id: "shell",
    doc: "Run a program; exactly one of `run` (an argv list, no shell) or `script` (run with \
          `sh -c`). Its stdout is the step's output.",
    keys: &[
        key(
            "run",
            Ty::List {
                of: &TEMPLATE,
                min: 1,
                max: None,
                unique: false,
            },
            "The program and its arguments, each a template; run directly, without a shell.",
        ),
        key(
            "script",
            TEMPLATE,
            "A script run with `sh -c`, a template: for when a pipeline really is needed.",
        ),
        key(
            "env",
            Ty::TemplateMap,
            "Environment variables for the program, names to templates. It sees only PATH, \
             HOME and LANG of the daemon's environment besides these.",
        ),
        key("cwd", TEMPLATE, "The working directory, a template."),
        key(
            "ok_codes",
            Ty::List {
                of: &Ty::Int {
                    min: i32::MIN as i64,
                    max: i32::MAX as i64,
                },
                min: 0,
                max: None,
                unique: false,
            },
            "Exit codes that count as success (default: only 0).",
        ),
    ],
    rules: &[Rule::ExactlyOne(&["run", "script"])],
};

pub const AGENT: Section = Section {
    id: "agent",
    doc: "Ask an AI agent endpoint, which answers with a decision and a confidence; below \
          `min_confidence` a person reviews the proposal.",
    keys: &[
        required(
            "request",
            Ty::Mapping(&REQUEST),
            "The request to the agent, with the keys of an http step's request.",
        ),
        required(
            "min_confidence",
            Ty::Number { min: 0.0, max: 1.0 },
            "Below this confidence (0.0 to 1.0) the proposal goes to a review task instead of \
             being acted on.",
        ),
        required(
            "review",
            Ty::Mapping(&REVIEW),
            "The review task a person gets when the agent is unsure.",
        ),
    ],
    rules: &[],
};

/// `review:` of an agent step.
pub const REVIEW: Section = Section {
    id: "review",
    doc: "The task that reviews an unsure agent's proposal; it needs a `group` or an \
          `assignee`.",
    keys: &[
        key("title", TEMPLATE, "The task's title, a template."),
        key("group", Ty::Text, "The group whose members may decide."),
        key("assignee", Ty::Text, "The user who decides."),
        key(
            "due",
            Ty::Duration,
            "The task's deadline from its creation.",
        ),
        key(
            "escalate",
            ESCALATE,
            "Escalation levels; delays from the task's creation.",
        ),
    ],
    rules: &[Rule::AtLeastOne(&["group", "assignee"])],
};

pub const HUMAN: Section = Section {
    id: "human",
    doc: "A task in the inbox; later steps read `steps.<id>.decision` and `.comment`. It \
          needs a `group` or an `assignee`.",
    keys: &[
        required("title", TEMPLATE, "The task's title, a template."),
        key(
            "details",
            TEMPLATE,
            "What the decider is shown, a template.",
        ),
        key("group", Ty::Text, "The group whose members may decide."),
        key("assignee", Ty::Text, "The user who decides."),
        key(
            "options",
            Ty::List {
                of: &Ty::Text,
                min: 1,
                max: None,
                unique: true,
            },
            "The decisions on offer (default [approved, rejected]).",
        ),
        key(
            "due",
            Ty::Duration,
            "The task's deadline from its creation.",
        ),
        key(
            "escalate",
            ESCALATE,
            "Escalation levels; delays from the task's creation.",
        ),
        key(
            "form",
            Ty::List {
                of: &Ty::Mapping(&FIELD),
                min: 1,
                max: Some(crate::types::form::MAX_FIELDS),
                unique: false,
            },
            "Typed values the decision fills in, read as `steps.<id>.output.fields.<name>`.",
        ),
        key(
            "approvals",
            Ty::Int { min: 1, max: 10 },
            "Distinct operators who must approve (default 1); one rejection (any other \
             decision) decides at once. Such a task cannot be claimed; `options` must offer \
             `approved`.",
        ),
        key(
            "self_approval",
            Ty::Bool,
            "Whether whoever started the item may decide it (default true); false holds for \
             admins too.",
        ),
        key(
            "distinct_from",
            Ty::OneOrList(&STEP_ID),
            "Human steps whose deciders may not decide this one (four eyes).",
        ),
    ],
    rules: &[Rule::AtLeastOne(&["group", "assignee"])],
};

/// A field of a human step's `form:`.
pub const FIELD: Section = Section {
    id: "form_field",
    doc: "A typed value a human decision fills in.",
    keys: &[
        required(
            "name",
            Ty::Pattern {
                pattern: "^[a-z][a-z0-9_]*$",
                max: Some(crate::types::form::MAX_NAME),
            },
            "The field's name, unique in the form: lowercase letters, digits and `_`, \
             starting with a letter.",
        ),
        required(
            "type",
            Ty::Choice {
                values: FIELD_TYPES,
                any_case: false,
            },
            "What the field holds.",
        ),
        key(
            "label",
            Ty::Shown,
            "What the console shows instead of the name.",
        ),
        key(
            "required",
            Ty::Bool,
            "A decision without a value (and with no default) is refused (default false).",
        ),
        key(
            "default",
            Ty::Scalar,
            "The value when a decision leaves the field out, of the field's type; never a \
             template.",
        ),
        key(
            "options",
            Ty::List {
                of: &Ty::Shown,
                min: 1,
                max: Some(crate::types::form::MAX_CHOICES),
                unique: true,
            },
            "The values an enum field may take, in the order offered (enum fields only).",
        ),
    ],
    rules: &[Rule::OnlyWhen {
        key: "options",
        field: "type",
        value: "enum",
    }],
};

pub const WAIT: Section = Section {
    id: "wait",
    doc: "Wait: exactly one of `duration`, `until` or `signal`.",
    keys: &[
        key(
            "duration",
            Ty::Duration,
            "A timer from the moment the step starts.",
        ),
        key(
            "until",
            Ty::Time,
            "An RFC 3339 time (2026-01-31T17:00:00Z), or a template that renders to one.",
        ),
        key(
            "signal",
            Ty::Pattern {
                pattern: "^[A-Za-z0-9_.-]+$",
                max: None,
            },
            "Wait for `tempi signal ITEM NAME`: letters, digits, `_`, `-` and `.`. The step's \
             `timeout` says how long.",
        ),
    ],
    rules: &[Rule::ExactlyOne(&["duration", "until", "signal"])],
};

pub const PASS: Section = Section {
    id: "pass",
    doc: "Map data without outside work; the rendered `output` is the step's output.",
    keys: &[key(
        "output",
        Ty::Json,
        "The step's output: any YAML, whose strings are templates.",
    )],
    rules: &[],
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::parse_str;

    /// A document with `@` where a key of the section named first is put, at that
    /// line's indentation. Every section the tables reach must have one.
    const BASES: &[(&str, &str)] = &[
        (
            "workflow",
            "name: t\nversion: 1\nsteps:\n  - id: a\n    kind: pass\n@\n",
        ),
        (
            "sla",
            "name: t\nversion: 1\nsla:\n  due: 1h\n  @\nsteps: [{ id: a, kind: pass }]\n",
        ),
        (
            "escalation",
            "name: t\nversion: 1\nsla:\n  due: 1h\n  escalate:\n    - after: 1m\n      to: x\n      @\nsteps: [{ id: a, kind: pass }]\n",
        ),
        (
            "retry",
            "name: t\nversion: 1\nsteps:\n  - id: a\n    kind: pass\n    retry:\n      attempts: 2\n      @\n",
        ),
        (
            "request",
            "name: t\nversion: 1\nsteps:\n  - id: a\n    kind: http\n    request:\n      url: http://x\n      @\n",
        ),
        (
            "review",
            "name: t\nversion: 1\nsteps:\n  - id: a\n    kind: agent\n    request: { url: http://x }\n    min_confidence: 0.5\n    review:\n      group: g\n      @\n",
        ),
        (
            "form_field",
            "name: t\nversion: 1\nsteps:\n  - id: a\n    kind: human\n    title: T\n    group: g\n    form:\n      - name: f\n        type: string\n        @\n",
        ),
    ];

    /// The keys a step of `kind` cannot do without, at `indent`.
    fn required_of(kind: &str, indent: &str) -> String {
        let lines: &[&str] = match kind {
            "http" => &["request: { url: http://x }"],
            "shell" => &["run: [x]"],
            "agent" => &[
                "request: { url: http://x }",
                "min_confidence: 0.5",
                "review: { group: g }",
            ],
            "human" => &["title: T", "group: g"],
            _ => &[],
        };
        lines.iter().map(|l| format!("{indent}{l}\n")).collect()
    }

    /// The base document of every section and kind, by the id the schema gives it.
    fn bases() -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = BASES
            .iter()
            .map(|(id, doc)| (id.to_string(), doc.to_string()))
            .collect();
        let head = "name: t\nversion: 1\nsteps:\n  - id: a\n";
        out.push(("step".into(), format!("{head}    kind: pass\n    @\n")));
        out.push((
            "compensate".into(),
            format!("{head}    kind: pass\n    compensate:\n      kind: pass\n      @\n"),
        ));
        for (kind, _) in STEP.kinds {
            let req = required_of(kind, "    ");
            out.push((
                format!("step_{kind}"),
                format!("{head}    kind: {kind}\n{req}    @\n"),
            ));
        }
        for (kind, _) in COMPENSATE.kinds {
            let req = required_of(kind, "      ");
            out.push((
                format!("compensate_{kind}"),
                format!(
                    "{head}    kind: pass\n    compensate:\n      kind: {kind}\n{req}      @\n"
                ),
            ));
        }
        out
    }

    /// Every mapping the tables reach, by id, with its keys.
    fn reached() -> Vec<(String, &'static [Key])> {
        fn walk(t: &'static Ty, out: &mut Vec<(String, &'static [Key])>) {
            match t {
                Ty::Mapping(s) => section(s.id.to_string(), s, out),
                Ty::ByKind(k) if !out.iter().any(|(id, _)| id == k.id) => {
                    out.push((k.id.to_string(), k.common));
                    k.common.iter().for_each(|key| walk(&key.ty, out));
                    for (kind, s) in k.kinds {
                        section(format!("{}_{kind}", k.id), s, out);
                    }
                }
                Ty::List { of, .. } | Ty::OneOrList(of) => walk(of, out),
                Ty::AnyOf(tys) => tys.iter().for_each(|t| walk(t, out)),
                _ => {}
            }
        }
        fn section(id: String, s: &'static Section, out: &mut Vec<(String, &'static [Key])>) {
            if !out.iter().any(|(seen, _)| *seen == id) {
                out.push((id, s.keys));
                s.keys.iter().for_each(|key| walk(&key.ty, out));
            }
        }
        let mut out = Vec::new();
        section("workflow".into(), &WORKFLOW, &mut out);
        out
    }

    /// A value of the wrong shape for `t`, which the parser must report where it is.
    fn wrong(t: &Ty) -> &'static str {
        match t {
            Ty::List { .. } | Ty::OneOrList(_) => "{ x: 1 }",
            Ty::Json => "\"{{\"",
            _ => "[1]",
        }
    }

    /// Each declared key is read by the parser, as the type declared: a value of the
    /// wrong shape under it is reported at that value (an unread key would be let
    /// through in silence, an undeclared one refused at the key).
    #[test]
    fn the_parser_reads_every_declared_key_as_its_type() {
        let bases = bases();
        let mut tried = 0;
        for (id, keys) in reached() {
            let Some((_, base)) = bases.iter().find(|(b, _)| *b == id) else {
                panic!("no base document for `{id}`: add one to the test");
            };
            let (at, marker) = base
                .lines()
                .enumerate()
                .find(|(_, l)| l.trim() == "@")
                .expect("a base has an @ line");
            let indent = marker.len() - 1;
            for k in keys {
                let bad = wrong(&k.ty);
                let src = base.replacen('@', &format!("{}: {bad}", k.name), 1);
                let want = (at + 1, indent + k.name.len() + 3);
                let diags = parse_str("t.yaml", &src).err().unwrap_or_default();
                assert!(
                    diags.iter().any(|d| (d.line, d.col) == want),
                    "`{}` of {id} given {bad}: nothing reported at {want:?}: {diags:#?}\n{src}",
                    k.name
                );
                tried += 1;
            }
        }
        assert!(tried > 50, "only {tried} keys tried");
    }

    /// So what the test above finds is the injected value's doing. (A wait step needs
    /// one of the keys that are put in its base, so it is left out here.)
    #[test]
    fn every_base_document_is_valid_without_the_marker() {
        for (id, base) in bases().into_iter().filter(|(id, _)| id != "step_wait") {
            let src: String = base
                .lines()
                .filter(|l| l.trim() != "@")
                .map(|l| format!("{l}\n"))
                .collect();
            assert!(parse_str("t.yaml", &src).is_ok(), "{id}: {src}");
        }
    }

    /// Each value a choice declares is one the parser takes.
    #[test]
    fn every_declared_choice_is_accepted() {
        for v in ON_FAILURE {
            let src =
                format!("name: t\nversion: 1\non_failure: {v}\nsteps: [{{ id: a, kind: pass }}]\n");
            assert!(parse_str("t.yaml", &src).is_ok(), "{v}");
        }
        for m in METHODS {
            for m in [m.to_string(), m.to_ascii_lowercase()] {
                let src = format!(
                    "name: t\nversion: 1\nsteps: [{{ id: a, kind: http, request: {{ method: {m}, url: x }} }}]\n"
                );
                assert!(parse_str("t.yaml", &src).is_ok(), "{m}");
            }
        }
        for t in FIELD_TYPES {
            let options = if *t == "enum" { ", options: [a]" } else { "" };
            let src = format!(
                "name: t\nversion: 1\nsteps: [{{ id: a, kind: human, title: T, group: g, form: [{{ name: f, type: {t}{options} }}] }}]\n"
            );
            assert!(parse_str("t.yaml", &src).is_ok(), "{t}");
        }
        for e in ERROR_KINDS {
            let src = format!(
                "name: t\nversion: 1\nsteps: [{{ id: a, kind: pass, retry: {{ non_retryable: [{e}] }} }}]\n"
            );
            assert!(parse_str("t.yaml", &src).is_ok(), "{e}");
        }
        let names: Vec<&str> = crate::types::form::FieldType::ALL
            .iter()
            .map(|t| t.name())
            .collect();
        assert_eq!(names, FIELD_TYPES);
    }
}
