//! Every shipped workflow validates cleanly, and every broken fixture reports exactly
//! the problems it was written to show, at the right file:line:col.

use std::path::Path;
use std::time::Duration;

use tempi::definition::{
    Diagnostic, OnFailure, StepKind, WaitSpec, Workflow, load_dir, parse_file, parse_str,
};

fn diags(path: &str) -> Vec<String> {
    match parse_file(Path::new(path)) {
        Ok(_) => Vec::new(),
        Err(d) => d.iter().map(Diagnostic::to_string).collect(),
    }
}

/// The fixture reports exactly these `line:col: message` diagnostics, in this order.
fn expect(fixture: &str, wanted: &[&str]) {
    let path = format!("tests/fixtures/bad/{fixture}");
    let got = diags(&path);
    let wanted: Vec<String> = wanted.iter().map(|w| format!("{path}:{w}")).collect();
    assert_eq!(got, wanted, "diagnostics of {fixture}");
}

fn shipped(name: &str) -> Workflow {
    match parse_file(Path::new(&format!("workflows/{name}.yaml"))) {
        Ok((w, _)) => w,
        Err(d) => panic!("{name}: {d:#?}"),
    }
}

fn step<'a>(w: &'a Workflow, id: &str) -> &'a tempi::definition::Step {
    let i = w.step_index(id).unwrap_or_else(|| panic!("no step {id}"));
    &w.steps[i]
}

#[test]
fn every_shipped_workflow_is_valid() {
    let (workflows, diags) = load_dir(Path::new("workflows"));
    let shown: Vec<String> = diags.iter().map(Diagnostic::to_string).collect();
    assert!(shown.is_empty(), "{shown:#?}");
    let mut names: Vec<&str> = workflows.iter().map(|(w, _)| w.name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "bench-pass",
            "customer-onboarding",
            "incident-response",
            "invoice-approval"
        ]
    );
}

#[test]
fn invoice_approval_model() {
    let w = shipped("invoice-approval");
    assert_eq!((w.version, w.on_failure), (4, OnFailure::Compensate));
    // Named by the number OCR reads, which the key waits for, and the supplier.
    let names = w.names();
    assert_eq!(
        names.key.as_deref(),
        Some("{{ steps.extract.output.number }}")
    );
    assert!(names.reads_step(w.step_index("extract").expect("extract")));
    assert_eq!(names.title.as_deref(), Some("{{ input.supplier }}"));
    let sla = w.sla.as_ref().expect("sla");
    assert_eq!(sla.due, Duration::from_secs(4 * 3600));
    assert_eq!(sla.warn, vec![50, 75, 90]);
    assert_eq!(sla.escalate[1].after, Duration::from_secs(3 * 3600 + 1800));
    let StepKind::Agent(agent) = &step(&w, "risk").kind else {
        panic!("risk is not an agent step");
    };
    assert_eq!(agent.min_confidence, 0.85);
    assert_eq!(agent.review.group.as_deref(), Some("ap-reviewers"));
    assert_eq!(agent.review.due, Some(Duration::from_secs(3600)));
    let extract = step(&w, "extract");
    assert_eq!(extract.retry.attempts, 5);
    assert_eq!(extract.retry.max_backoff, Duration::from_secs(60));
    assert_eq!(extract.retry.non_retryable, vec!["status:422"]);
    assert_eq!(extract.timeout, Some(Duration::from_secs(30)));
    let StepKind::Human(approve) = &step(&w, "approve").kind else {
        panic!("approve is not a human step");
    };
    assert_eq!(approve.options, vec!["approved", "rejected", "needs_info"]);
    assert_eq!(approve.escalate[1].repeat, Some(Duration::from_secs(900)));
    let pay = step(&w, "pay");
    assert_eq!(pay.needs, vec!["approve"]);
    assert!(pay.when.is_some());
    let Some(StepKind::Http(void)) = pay.compensate.as_deref() else {
        panic!("pay has no http compensation");
    };
    assert_eq!(void.method, "POST");
    assert!(void.url.ends_with("/void"));
}

#[test]
fn incident_response_signal_takes_the_step_timeout() {
    let w = shipped("incident-response");
    let resolved = step(&w, "resolved");
    assert_eq!(
        resolved.kind,
        StepKind::Wait(WaitSpec::Signal {
            name: "resolved".into(),
            timeout: Some(Duration::from_secs(45 * 60)),
        })
    );
    assert_eq!(resolved.timeout, None);
    let StepKind::Http(deploys) = &step(&w, "recent_deploys").kind else {
        panic!("recent_deploys is not http");
    };
    assert_eq!(deploys.method, "GET", "methods are stored uppercase");
}

#[test]
fn onboarding_compensates_crm_and_provisioning() {
    let w = shipped("customer-onboarding");
    let undone: Vec<&str> = w
        .steps
        .iter()
        .filter(|s| s.compensate.is_some())
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(undone, ["crm_record", "provision"]);
    assert_eq!(step(&w, "billing").needs, ["crm_record", "provision"]);
}

#[test]
fn bench_pass_is_a_fan_out_of_pass_steps() {
    let w = shipped("bench-pass");
    assert_eq!(w.steps.len(), 5);
    assert!(w.steps.iter().all(|s| matches!(s.kind, StepKind::Pass(_))));
    assert_eq!(step(&w, "d").needs, ["b", "c"]);
    assert_eq!(step(&w, "e").needs, ["d"], "a single id is a list of one");
}

#[test]
fn the_documented_example_is_valid() {
    let doc = std::fs::read_to_string("docs/workflows.md").expect("docs/workflows.md");
    let example = doc
        .split("```yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a yaml block");
    let w = parse_str("docs/workflows.md", example).unwrap_or_else(|d| panic!("{d:#?}"));
    assert_eq!(w.name, "invoice-approval");
    assert_eq!(w.steps.len(), 4);
}

#[test]
fn shell_defaults_and_script() {
    let src = "name: s\nversion: 2\nsteps:\n  - id: a\n    kind: shell\n    script: \"echo {{ input.x }} | wc -c\"\n    env: { N: 3 }\n    ok_codes: [0, 3]\n";
    let w = parse_str("s.yaml", src).expect("valid");
    let StepKind::Shell(sh) = &w.steps[0].kind else {
        panic!("not shell");
    };
    assert!(sh.run.is_empty());
    assert_eq!(sh.script.as_deref(), Some("echo {{ input.x }} | wc -c"));
    assert_eq!(sh.env.get("N").map(String::as_str), Some("3"));
    assert_eq!(sh.ok_codes, [0, 3]);
}

#[test]
fn compensation_may_read_its_own_step() {
    let src = "name: c\nversion: 1\nsteps:\n  - id: pay\n    kind: pass\n    output: 1\n    compensate: { kind: shell, run: [echo, \"{{ steps.pay.output }}\"] }\n";
    assert!(parse_str("c.yaml", src).is_ok());
}

#[test]
fn duplicate_name_and_version_across_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = "name: dup\nversion: 1\nsteps:\n  - id: a\n    kind: pass\n";
    std::fs::write(dir.path().join("a.yaml"), body).expect("write");
    std::fs::write(dir.path().join("b.yml"), format!("# again\n{body}")).expect("write");
    std::fs::write(dir.path().join("notes.txt"), "not a workflow").expect("write");
    let (workflows, diags) = load_dir(dir.path());
    assert_eq!(workflows.len(), 1);
    assert_eq!(diags.len(), 1, "{diags:?}");
    let d = &diags[0];
    assert!(d.file.ends_with("b.yml"), "{d}");
    assert_eq!((d.line, d.col), (2, 1));
    assert!(
        d.message.contains("'dup' version 1 is already defined in"),
        "{d}"
    );
}

#[test]
fn unreadable_and_binary_files() {
    let missing = diags("tests/fixtures/bad/no-such-file.yaml");
    assert_eq!(missing.len(), 1);
    assert!(missing[0].contains("cannot read the file"), "{missing:?}");
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("bin.yaml");
    std::fs::write(&p, b"name: x\nver\xff\xfesion: 1\n").expect("write");
    let d = parse_file(&p).expect_err("binary");
    assert_eq!((d[0].line, d[0].col), (2, 4));
    assert!(d[0].message.contains("UTF-8"));
}

#[test]
fn garbage_is_reported_not_panicked_on() {
    let noise: String = (0..2000u32)
        .map(|i| char::from_u32((i * 7919) % 0x2FF + 1).unwrap_or('?'))
        .collect();
    for src in [
        noise.as_str(),
        "{",
        "]",
        "&a\n",
        "*a",
        "%YAML 9\n",
        "\t\tx: 1",
    ] {
        assert!(parse_str("g.yaml", src).is_err(), "{src:?}");
    }
}

#[test]
fn bad_cycle() {
    expect(
        "cycle.yaml",
        &["6:13: cycle: a -> c -> b -> a", "15:12: cycle: d -> d"],
    );
}

#[test]
fn bad_durations() {
    expect(
        "durations.yaml",
        &[
            "3:13: `sla.due`: invalid duration `4 hours and a bit` (expected number at 8); use e.g. `30s`, `2h`, `1h 30m`",
            "3:44: `sla.warn` must be strictly ascending; 40% follows 50%",
            "3:49: `sla.warn` thresholds must be percentages from 1 to 99, like `75%`",
            "7:15: `duration` must be a duration with a unit, like `30s` or `30m`",
            "11:14: `timeout`: invalid duration `soon` (expected number at 0); use e.g. `30s`, `2h`, `1h 30m`",
            "12:15: `deadline`: invalid duration `2x` (unknown time unit \"x\", supported units: ns, us/µs, ms, sec, min, hours, days, weeks, months, years (and few variations)); use e.g. `30s`, `2h`, `1h 30m`",
        ],
    );
}

#[test]
fn bad_empty() {
    expect(
        "empty.yaml",
        &["1:1: the file is empty; expected a workflow mapping"],
    );
}

#[test]
fn bad_ids() {
    expect(
        "ids.yaml",
        &[
            "6:5: a step is missing required key `id`",
            "8:9: duplicate step id 'fetch' (first defined on line 4)",
            "10:9: invalid step id 'Bad-Id': use lowercase letters, digits and `_`, starting with a letter",
        ],
    );
}

#[test]
fn bad_kinds() {
    expect(
        "kinds.yaml",
        &[
            "7:13: `run` and `script` are exclusive; use one of them",
            "10:24: unknown HTTP method 'FETCH' (expected one of GET, POST, PUT, PATCH, DELETE, HEAD)",
            "11:21: `min_confidence` must be between 0 and 1, found 1.5",
            "12:13: `review` needs a `group` or an `assignee` to send the task to",
            "13:5: a human step needs a `group` or an `assignee` to send the task to",
            "19:5: a wait step takes exactly one of `duration`, `until` or `signal`",
            "22:25: unknown compensate kind 'human' (expected one of http, shell, pass)",
            "22:32: `needs` is not allowed in `compensate`: a compensate action is only an undo action (no needs, when, retry or timeouts)",
        ],
    );
}

#[test]
fn bad_many() {
    expect(
        "many.yaml",
        &[
            "1:7: invalid workflow name 'Many Problems': use lowercase letters, digits, `-` and `_`, starting with a letter or digit",
            "2:10: `version` must be between 1 and 4294967295, found 0",
            "3:13: unknown on_failure 'rollback' (expected incident, compensate or fail)",
            "6:11: unknown step kind 'htp' (expected one of http, shell, agent, human, wait, pass)",
            "9:16: step 'b' needs 'zz', which is not a step in this workflow",
            "10:14: `timeout`: invalid duration `5 parsecs` (unknown time unit \"parsecs\", supported units: ns, us/µs, ms, sec, min, hours, days, weeks, months, years (and few variations)); use e.g. `30s`, `2h`, `1h 30m`",
            "11:13: step 'b' reads steps.c but does not need it (add it to needs)",
            "14:13: cycle: c -> c",
            "15:24: `retry.attempts` must be between 1 and 100, found 1000",
        ],
    );
}

#[test]
fn bad_retry() {
    expect(
        "retry.yaml",
        &[
            "8:17: `retry.attempts` must be between 1 and 100, found 0",
            "10:19: `retry.multiplier` must be between 1 and 10, found 11",
            "11:20: `retry.max_backoff` (5s) must not be shorter than the backoff (10s)",
            "12:15: `retry.jitter` must be between 0 and 1, found 1.5",
            "13:32: 'status:999': a status code must be 100..=599",
            "13:46: unknown error kind 'explode'; expected one of timeout, deadline, connect, status, decode, exit, spawn, template, signal",
            "13:55: 'connect:1': only `status` and `exit` take a code (like `status:404` or `exit:3`)",
        ],
    );
}

#[test]
fn bad_syntax() {
    expect(
        "syntax.yaml",
        &["6:24: YAML syntax error: while parsing a flow sequence, expected ',' or ']'"],
    );
}

#[test]
fn bad_templates() {
    expect(
        "templates.yaml",
        &[
            "7:12: invalid template in `url`: syntax error: unexpected end of input, expected end of variable block",
            "8:25: invalid template in `json`: syntax error: unexpected end of input, expected end of block",
            "12:11: invalid `when` expression: syntax error: unexpected end of input, expected expression",
            "16:11: `when` is an expression, not a template: write `input.x > 1`, without `{{ }}`",
        ],
    );
}

#[test]
fn bad_top_list() {
    expect(
        "top-list.yaml",
        &["1:1: a workflow file (top level) must be a mapping, found a list"],
    );
}

#[test]
fn bad_unknown_keys() {
    expect(
        "unknown-keys.yaml",
        &[
            "3:1: unknown key `stesp` in the workflow (did you mean `steps`?)",
            "7:5: unknown key `timout` in step 'call' (did you mean `timeout`?)",
            "8:5: `run` is not allowed in step 'call': it belongs to shell steps, not http steps",
            "9:45: unknown key `methd` in `request` (did you mean `method`?)",
            "14:5: unknown key `bogus_thing` in step 'ask' (expected one of: id, kind, needs, when, retry, timeout, deadline, compensate, title, details, group, assignee, options, due, escalate, form, approvals, self_approval, distinct_from)",
        ],
    );
}

#[test]
fn bad_unknown_kind() {
    expect(
        "unknown-kind.yaml",
        &[
            "5:11: unknown step kind 'email' (expected one of http, shell, agent, human, wait, pass)",
            "6:5: unknown key `to` in step 'notify' (expected one of: id, kind, needs, when, retry, timeout, deadline, compensate, request, expect, run, script, env, cwd, ok_codes, min_confidence, review, title, details, group, assignee, options, due, escalate, form, approvals, self_approval, distinct_from, duration, until, signal, output)",
            "8:5: step 'later' is missing required key `kind`",
        ],
    );
}

#[test]
fn bad_unknown_needs() {
    expect(
        "unknown-needs.yaml",
        &[
            "8:13: step 'approve' needs 'extrct', which is not a step in this workflow (did you mean 'extract'?)",
            "8:21: step 'approve' needs 'nothing_like_it', which is not a step in this workflow",
            "8:38: 'extrct' is listed twice in `needs`",
        ],
    );
}

#[test]
fn bad_upstream() {
    expect(
        "upstream.yaml",
        &[
            "15:11: step 'pay' reads steps.approve but does not need it (add it to needs)",
            "17:12: step 'pay' reads its own steps.pay, which only its compensate action can read",
            "18:18: step 'pay' reads steps.ghost, which is not a step in this workflow",
            "21:23: step 'pay' reads steps.approve but does not need it (add it to needs)",
        ],
    );
}

#[test]
fn bad_wrong_types() {
    expect(
        "wrong-types.yaml",
        &[
            "2:10: `version` must be an integer, found a string",
            "3:14: `description` must be a string, found a list",
            "9:16: `headers` must be a mapping, found a list",
            "10:13: `expect` must be a list, found an integer",
            "16:14: `options` must be a list, found a string",
        ],
    );
}

#[test]
fn mutilated_workflows_never_panic() {
    let (workflows, _) = load_dir(Path::new("workflows"));
    for (_, source) in &workflows {
        let lines: Vec<&str> = source.lines().collect();
        for skip in 0..lines.len() {
            let mut cut = lines.clone();
            cut.remove(skip);
            let _ = parse_str("cut.yaml", &cut.join("\n"));
        }
        let chars: Vec<(usize, char)> = source.char_indices().collect();
        for (at, _) in chars.iter().step_by(23) {
            let _ = parse_str("short.yaml", &source[..*at]);
            let swapped = format!("{}]{}", &source[..*at], &source[*at..]);
            let _ = parse_str("bracket.yaml", &swapped);
        }
    }
}

/// A chain of `n` pass steps, each reading the one before it.
fn chain(n: usize) -> String {
    let mut src = String::from("name: chain\nversion: 1\nsteps:\n");
    for i in 0..n {
        src.push_str(&format!("  - id: s{i}\n    kind: pass\n"));
        if i > 0 {
            let p = i - 1;
            src.push_str(&format!(
                "    needs: [s{p}]\n    output: {{ n: \"{{{{ steps.s{p}.output.n }}}}\" }}\n"
            ));
        }
    }
    src
}

#[test]
fn steps_per_workflow_are_limited() {
    use tempi::definition::parse::MAX_STEPS;
    let w = parse_str("chain.yaml", &chain(MAX_STEPS)).expect("a chain at the limit");
    assert_eq!(w.steps.len(), MAX_STEPS);
    assert_eq!(w.step_index("s999"), Some(999));
    assert_eq!(w.dependents(998), [999]);
    let d = parse_str("chain.yaml", &chain(MAX_STEPS + 1)).unwrap_err();
    let shown: Vec<String> = d.iter().map(Diagnostic::to_string).collect();
    // At the first step over the limit: s1000, after s0 (2 lines) and 999 of 4 lines.
    let line = 4 + 2 + 4 * 999;
    assert_eq!(
        shown,
        [format!(
            "chain.yaml:{line}:5: too many steps: this workflow has 1001, at most 1000 are \
             allowed; split it into smaller workflows"
        )]
    );
}

#[test]
fn reads_far_up_a_long_chain_are_checked() {
    let src = chain(1000)
        .replace("{{ steps.s998.output.n }}", "{{ steps.s0.output.n }}")
        .replace("{{ steps.s4.output.n }}", "{{ steps.s9.output.n }}");
    let d = parse_str("chain.yaml", &src).unwrap_err();
    let shown: Vec<String> = d.iter().map(Diagnostic::to_string).collect();
    let line = 4 + 2 + 4 * 4 + 3;
    assert_eq!(
        shown,
        [format!(
            "chain.yaml:{line}:18: step 's5' reads steps.s9 but does not need it (add it to needs)"
        )]
    );
}

/// What `validate` must say of each poison fixture (files that once crashed, hung or
/// exhausted `validate` or `serve`); `None` for the ones that are valid and only fail
/// when an item runs them (their runtime tests are in the engine's core).
const POISON: &[(&str, Option<&str>)] = &[
    (
        "alias-bomb",
        Some("8:32: too many YAML aliases (`*name`): at most 32 are allowed per file"),
    ),
    ("bom", None),
    (
        "chain-when",
        Some(
            "7:11: invalid `when` expression: an expression has 1999 operators; at most 64 are allowed (split it into steps, or compute the value in a step's output)",
        ),
    ),
    (
        "deep-nesting",
        Some(
            "53:97: nested deeper than 48 levels of mappings and lists; a workflow needs far fewer",
        ),
    ),
    (
        "deep-when",
        Some(
            "7:11: invalid `when` expression: the text is 59 KiB; a template or expression may be at most 16 KiB",
        ),
    ),
    ("grow", None),
    (
        "huge-timeout",
        Some("8:14: `timeout`: `300000years` is longer than the limit of 10 years (3650d)"),
    ),
    ("loops", None),
    (
        "nul",
        Some(
            "3:11: control character U+0000 (NUL) is not allowed in a workflow file; the file must be YAML text",
        ),
    ),
];

#[test]
fn poison_fixtures_are_refused_with_what_validate_must_say() {
    for (name, wanted) in POISON {
        let path = format!("tests/fixtures/poison/{name}.yaml");
        let got = diags(&path);
        let wanted: Vec<String> = wanted.iter().map(|w| format!("{path}:{w}")).collect();
        assert_eq!(got, wanted, "diagnostics of {name}");
    }
    let all = std::fs::read_dir("tests/fixtures/poison").unwrap().count();
    assert_eq!(
        all,
        POISON.len() + 1,
        "every poison fixture has its expectation"
    );
}

#[test]
fn unknown_filters_tests_functions_and_statements_are_named_where_they_are() {
    expect_at(
        "tests/fixtures/poison/unknown-filter.yaml",
        &[
            "8:10: invalid template in `output`: unknown filter `nosuchfilter`",
            "9:10: invalid template in `output`: unknown test `nosuchtest`",
            "10:10: invalid template in `output`: unknown function `nosuchfunction()` (templates may call: range, dict)",
            "11:10: invalid template in `output`: `{% macro %}` is not allowed in workflow templates (allowed: if, elif, else, endif, for, endfor, set, endset, with, endwith, filter, endfilter)",
            "12:10: invalid template in `output`: unknown function `namespace()` (templates may call: range, dict)",
        ],
    );
    let ok = "name: t\nversion: 1\nsteps:\n  - id: a\n    kind: pass\n    output: { x: \"{{ input | tojson }}\" }\n";
    assert!(
        parse_str("t.yaml", ok).is_ok(),
        "`tojson` is documented and exists"
    );
}

fn expect_at(path: &str, wanted: &[&str]) {
    let wanted: Vec<String> = wanted.iter().map(|w| format!("{path}:{w}")).collect();
    assert_eq!(diags(path), wanted, "diagnostics of {path}");
}

#[test]
fn bad_form() {
    expect(
        "form.yaml",
        &[
            "10:17: invalid field name 'CostCentre': use lowercase letters, digits and `_`, starting with a letter",
            "11:31: unknown field type 'money' (expected one of: string, number, integer, boolean, enum)",
            "12:9: an enum field needs `options`, the values it may take",
            "13:46: `default`: field 'note' must be text, found 3",
            "14:9: field 'note' is listed twice",
        ],
    );
}

#[test]
fn the_invoice_approval_asks_for_a_cost_centre_with_a_default() {
    let w = shipped("invoice-approval");
    let StepKind::Human(h) = &step(&w, "approve").kind else {
        panic!("approve is a human step");
    };
    let names: Vec<(&str, bool)> = h
        .form
        .iter()
        .map(|f| (f.name.as_str(), f.default.is_some()))
        .collect();
    assert_eq!(names, [("cost_centre", true), ("payment_run", true)]);
    assert!(
        h.form.iter().all(|f| !f.required),
        "the demo's colleagues decide without fields"
    );
}
