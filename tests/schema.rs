//! `tempi schema`: the JSON Schema of workflow files agrees with the parser.
//!
//! Without Python: the committed copy (docs/workflow.schema.json) is what `tempi schema`
//! prints, the shipped workflows point editors at it, and one fixture uses every key the
//! parser declares. With check-jsonschema (PyPI; CI installs it and these tests fail
//! without it there): every file the parser accepts passes the schema, every broken
//! fixture fails both where it says, and generated values get one verdict from both.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use saphyr::{LoadableYamlNode, Scalar, Yaml};
use serde_json::Value;
use tempi::definition::keys::{self, Key, Ty};
use tempi::definition::{parse_file, parse_str};

const COMMITTED: &str = "docs/workflow.schema.json";
const MODELINE: &str = "# yaml-language-server: $schema=../docs/workflow.schema.json";

fn schema_text() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tempi"))
        .arg("schema")
        .output()
        .expect("run tempi schema");
    assert!(out.status.success(), "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[test]
fn schema_prints_draft_2020_12_json() {
    let v: Value = serde_json::from_str(&schema_text()).expect("JSON");
    assert_eq!(v["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert_eq!(v["$id"], "https://tempi.dev/schema/workflow.json");
    assert_eq!(
        v["required"],
        serde_json::json!(["name", "version", "steps"])
    );
    assert_eq!(v["additionalProperties"], false);
    let http = &v["$defs"]["step_http"];
    assert_eq!(http["additionalProperties"], false, "{http}");
    assert!(http["properties"].get("request").is_some(), "{http}");
    assert!(http["properties"].get("run").is_none(), "{http}");
}

#[test]
fn the_committed_schema_is_what_tempi_schema_prints() {
    let committed = std::fs::read_to_string(COMMITTED).expect(COMMITTED);
    assert!(
        committed == schema_text(),
        "{COMMITTED} is stale: run `cargo run -- schema > {COMMITTED}`"
    );
}

#[test]
fn shipped_workflows_point_editors_at_the_schema() {
    let mut seen = 0;
    for path in yaml_files(Path::new("workflows")) {
        let source = std::fs::read_to_string(&path).unwrap();
        assert_eq!(source.lines().next(), Some(MODELINE), "{}", path.display());
        let target = MODELINE.split_once('=').unwrap().1;
        assert!(Path::new("workflows").join(target).is_file());
        seen += 1;
    }
    assert!(seen >= 4, "{seen} shipped workflows");
}

/// The `*.yaml` files of a directory and the directories under it, sorted.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

const EVERY_KEY: &str = "tests/fixtures/schema/good/every-key.yaml";

/// The fixture of every key is valid and uses each key of each mapping the tables
/// declare (a key added to the parser needs a use here, so the schema tests see it).
#[test]
fn one_fixture_uses_every_declared_key() {
    let source = std::fs::read_to_string(EVERY_KEY).unwrap();
    parse_str(EVERY_KEY, &source).unwrap_or_else(|d| panic!("{d:#?}"));
    let docs = Yaml::load_from_str(&source).unwrap();
    let mut used: Vec<String> = Vec::new();
    walk_keys(&docs[0], "workflow", keys::WORKFLOW.keys, &mut used);
    let mut declared = Vec::new();
    declared_of("workflow", keys::WORKFLOW.keys, &mut declared);
    let missing: Vec<&String> = declared.iter().filter(|k| !used.contains(k)).collect();
    assert!(missing.is_empty(), "{EVERY_KEY} never uses {missing:?}");
}

fn walk_keys(node: &Yaml, id: &str, keys: &[Key], used: &mut Vec<String>) {
    let Yaml::Mapping(m) = node else { return };
    for (k, v) in m {
        let Yaml::Value(Scalar::String(name)) = k else {
            continue;
        };
        if let Some(key) = keys.iter().find(|key| key.name == name.as_ref()) {
            used.push(format!("{id}.{name}"));
            walk_value(v, &key.ty, used);
        }
    }
}

fn walk_value(node: &Yaml, ty: &Ty, used: &mut Vec<String>) {
    match (ty, node) {
        (Ty::Mapping(s), _) => walk_keys(node, s.id, s.keys, used),
        (Ty::ByKind(k), Yaml::Mapping(m)) => {
            walk_keys(node, k.id, k.common, used);
            let kind = m.iter().find_map(|(key, v)| match (key, v) {
                (Yaml::Value(Scalar::String(key)), Yaml::Value(Scalar::String(v)))
                    if key == "kind" =>
                {
                    Some(v.to_string())
                }
                _ => None,
            });
            if let Some((kind, s)) = k.kinds.iter().find(|(n, _)| Some(*n) == kind.as_deref()) {
                walk_keys(node, &format!("{}_{kind}", k.id), s.keys, used);
            }
        }
        (Ty::List { of, .. } | Ty::OneOrList(of), Yaml::Sequence(items)) => {
            items.iter().for_each(|i| walk_value(i, of, used));
        }
        _ => {}
    }
}

fn declared_of(id: &str, keys: &[Key], out: &mut Vec<String>) {
    for k in keys {
        let name = format!("{id}.{}", k.name);
        if out.contains(&name) {
            continue;
        }
        out.push(name);
        declared_ty(&k.ty, out);
    }
}

fn declared_ty(ty: &Ty, out: &mut Vec<String>) {
    match ty {
        Ty::Mapping(s) => declared_of(s.id, s.keys, out),
        Ty::ByKind(k) => {
            declared_of(k.id, k.common, out);
            for (kind, s) in k.kinds {
                declared_of(&format!("{}_{kind}", k.id), s.keys, out);
            }
        }
        Ty::List { of, .. } | Ty::OneOrList(of) => declared_ty(of, out),
        _ => {}
    }
}

// ---- with check-jsonschema ----

/// check-jsonschema, or None (with a note) when it is not installed outside CI.
fn checker() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("check-jsonschema"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "check-jsonschema is not installed (.ci/run installs it from PyPI)"
        );
        eprintln!(
            "note: check-jsonschema is not installed, so the schema is not checked against \
             files (python3 -m pip install check-jsonschema)"
        );
    }
    found
}

/// Each file's schema errors as `path: message` (empty when it passes).
fn check(tool: &Path, schema: &Path, files: &[PathBuf]) -> BTreeMap<PathBuf, Vec<String>> {
    let out = Command::new(tool)
        .args(["--output-format", "json", "--schemafile"])
        .arg(schema)
        .args(files)
        .output()
        .expect("run check-jsonschema");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "check-jsonschema said no JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let parse_errors = report["parse_errors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(parse_errors.is_empty(), "{parse_errors:#?}");
    let mut by_file: BTreeMap<PathBuf, Vec<String>> =
        files.iter().map(|f| (f.clone(), Vec::new())).collect();
    for e in report["errors"].as_array().into_iter().flatten() {
        let file = PathBuf::from(e["filename"].as_str().unwrap_or_default());
        let line = format!(
            "{}: {}",
            e["path"].as_str().unwrap_or_default(),
            e["message"].as_str().unwrap_or_default()
        );
        by_file.entry(file).or_default().push(line);
    }
    let failed = by_file.values().any(|e| !e.is_empty());
    assert_eq!(out.status.success(), !failed, "{report:#}");
    by_file
}

/// `tempi schema` written to a file in `dir`.
fn schema_in(dir: &Path) -> PathBuf {
    let path = dir.join("workflow.schema.json");
    std::fs::write(&path, schema_text()).unwrap();
    path
}

#[test]
fn the_schema_is_a_valid_draft_2020_12_schema() {
    let Some(tool) = checker() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(tool)
        .arg("--check-metaschema")
        .arg(schema_in(dir.path()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

/// The shipped workflows, every fixture the parser accepts and the documented example
/// pass the schema.
#[test]
fn every_file_the_parser_accepts_passes_the_schema() {
    let Some(tool) = checker() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut files = yaml_files(Path::new("workflows"));
    files.extend(
        yaml_files(Path::new("tests/fixtures"))
            .into_iter()
            .filter(|f| parse_file(f).is_ok()),
    );
    let doc = std::fs::read_to_string("docs/workflows.md").unwrap();
    let example = doc.split("```yaml\n").nth(1).unwrap().split("```").next();
    let example_file = dir.path().join("documented-example.yaml");
    std::fs::write(&example_file, example.unwrap()).unwrap();
    assert!(parse_file(&example_file).is_ok());
    files.push(example_file);
    assert!(files.len() >= 7, "{files:?}");
    assert!(files.contains(&PathBuf::from(EVERY_KEY)));
    let verdicts = check(&tool, &schema_in(dir.path()), &files);
    let failed: Vec<_> = verdicts.iter().filter(|(_, e)| !e.is_empty()).collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

/// Each file under tests/fixtures/schema/bad says in its first lines what `validate`
/// and the schema say of it (`# validate: …`, `# schema: PATH: …`); both must refuse it
/// so. The old broken fixtures with unknown keys and wrong types fail the schema too.
#[test]
fn broken_files_fail_the_schema_and_the_parser_where_they_say() {
    let Some(tool) = checker() else { return };
    let dir = tempfile::tempdir().unwrap();
    let bad = yaml_files(Path::new("tests/fixtures/schema/bad"));
    assert!(bad.len() >= 15, "{bad:?}");
    let mut files = bad.clone();
    for old in [
        "unknown-keys",
        "wrong-types",
        "unknown-kind",
        "durations",
        "form",
    ] {
        files.push(PathBuf::from(format!("tests/fixtures/bad/{old}.yaml")));
    }
    let verdicts = check(&tool, &schema_in(dir.path()), &files);
    for file in &files {
        assert!(
            !verdicts[file].is_empty(),
            "{} passes the schema",
            file.display()
        );
        assert!(
            parse_file(file).is_err(),
            "{} passes validate",
            file.display()
        );
    }
    for file in &bad {
        let source = std::fs::read_to_string(file).unwrap();
        let said = |tag: &str| {
            source
                .lines()
                .find_map(|l| l.strip_prefix(tag))
                .unwrap_or_else(|| panic!("{} has no `{tag}` line", file.display()))
                .to_string()
        };
        let (validate, schema) = (said("# validate: "), said("# schema: "));
        let (path, message) = schema.split_once(": ").expect("PATH: message");
        let diags = parse_file(file).unwrap_err();
        assert!(
            diags.iter().any(|d| d.message.contains(&validate)),
            "{}: validate said {diags:#?}",
            file.display()
        );
        let errors = &verdicts[file];
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with(&format!("{path}: ")) && e.contains(message)),
            "{}: the schema said {errors:#?}",
            file.display()
        );
    }
}

/// Values whose rules the schema states (names, ids, durations, signals, error kinds,
/// methods, thresholds, times, ranges) get the same verdict from the parser and the
/// schema. (Not stated by the schema, so not here: the 10-year limit on durations,
/// `sla.warn` as strings out of 1..99 or not ascending, and what templates say.)
#[test]
fn generated_values_get_one_verdict_from_the_parser_and_the_schema() {
    let Some(tool) = checker() else { return };
    let dir = tempfile::tempdir().unwrap();
    let quoted = |v: &str| serde_json::to_string(v).unwrap();
    let top =
        |top: String| format!("name: t\nversion: 1\n{top}\nsteps: [{{ id: a, kind: pass }}]\n");
    let step = |body: String| format!("name: t\nversion: 1\nsteps:\n  - id: a\n    {body}\n");
    let mut cases: Vec<String> = Vec::new();
    for v in ["a", "a-b_c", "9lives", "-a", "A", "a b", "ä", ""] {
        cases.push(format!(
            "name: {}\nversion: 1\nsteps: [{{ id: a, kind: pass }}]\n",
            quoted(v)
        ));
    }
    for v in ["0", "1", "4294967295", "4294967296", "-1", "1.5", "\"2\""] {
        cases.push(format!(
            "name: t\nversion: {v}\nsteps: [{{ id: a, kind: pass }}]\n"
        ));
    }
    for v in ["a", "a_1", "1a", "a-b", "A", "_a", ""] {
        cases.push(format!(
            "name: t\nversion: 1\nsteps: [{{ id: {}, kind: pass }}]\n",
            quoted(v)
        ));
    }
    for v in [
        "30s",
        "1h 30m",
        "1h30m",
        "1.5h",
        "2weeks",
        "500ms",
        "5 m",
        " 1d ",
        "1 µs",
        "3 months",
        "30",
        "30 parsecs",
        "h",
        "",
        "1h-30m",
        "1,5h",
        "1M",
        "2 yrs",
    ] {
        cases.push(top(format!("sla: {{ due: {} }}", quoted(v))));
        cases.push(step(format!("kind: pass\n    timeout: {}", quoted(v))));
    }
    for v in ["30", "1.5", "true"] {
        cases.push(step(format!("kind: pass\n    deadline: {v}")));
    }
    for v in ["go", "order.shipped-1", "A_b", "a b", "", "ü", "a/b"] {
        cases.push(step(format!("kind: wait\n    signal: {}", quoted(v))));
    }
    for v in [
        "timeout",
        " timeout ",
        "status:404",
        "status : 404",
        "status:99",
        "status:600",
        "status:+404",
        "exit:3",
        "exit:-1",
        "exit: x",
        "timeout:3",
        "nope",
        "status",
        "Status",
    ] {
        cases.push(step(format!(
            "kind: pass\n    retry: {{ non_retryable: [{}] }}",
            quoted(v)
        )));
    }
    for v in ["get", "Post", "pAtCh", "HEAD", "FETCH", "GET ", ""] {
        cases.push(step(format!(
            "kind: http\n    request: {{ method: {}, url: x }}",
            quoted(v)
        )));
    }
    for v in ["75%", " 75 %", "75", "75 percent", "%"] {
        cases.push(top(format!("sla: {{ due: 1h, warn: [{}] }}", quoted(v))));
    }
    for v in ["0", "1", "99", "100", "50.5"] {
        cases.push(top(format!("sla: {{ due: 1h, warn: [{v}] }}")));
    }
    for v in [
        "2026-01-31T17:00:00Z",
        "2026-01-31T17:00:00.5+02:00",
        "2026-01-31t17:00:00z",
        "2026-01-31",
        "17:00",
        "tomorrow",
        "{{ input.at }}",
        "{% if true %}2026-01-31T17:00:00Z{% endif %}",
    ] {
        cases.push(step(format!("kind: wait\n    until: {}", quoted(v))));
    }
    let form = |field: String| {
        step(format!(
            "kind: human\n    title: T\n    group: g\n    form: [{field}]"
        ))
    };
    for v in [
        "a",
        "cost_centre",
        "A",
        "a-b",
        "1a",
        &"a".repeat(32),
        &"a".repeat(33),
    ] {
        cases.push(form(format!("{{ name: {}, type: string }}", quoted(v))));
    }
    for v in [
        "Cost centre",
        "x",
        " x",
        "x ",
        "",
        "a\u{7}b",
        "a\u{202e}b",
        "tab\tin",
        &"é".repeat(80),
        &"é".repeat(81),
    ] {
        cases.push(form(format!(
            "{{ name: f, type: string, label: {} }}",
            quoted(v)
        )));
        cases.push(form(format!(
            "{{ name: f, type: enum, options: [{}] }}",
            quoted(v)
        )));
    }
    for (key, values) in [
        ("attempts", &["0", "1", "100", "101", "2.5"][..]),
        ("multiplier", &["0.5", "1", "10", "10.5", "\"2\""]),
        ("jitter", &["-0.1", "0", "1", "1.1"]),
    ] {
        for v in values {
            cases.push(step(format!("kind: pass\n    retry: {{ {key}: {v} }}")));
        }
    }
    for v in ["-0.1", "0", "0.85", "1", "1.5"] {
        cases.push(step(format!(
            "kind: agent\n    request: {{ url: x }}\n    min_confidence: {v}\n    review: {{ group: g }}"
        )));
    }
    for v in ["99", "100", "599", "600", "\"200\""] {
        cases.push(step(format!(
            "kind: http\n    request: {{ url: x }}\n    expect: [{v}]"
        )));
    }
    let mut files = Vec::new();
    for (i, source) in cases.iter().enumerate() {
        let path = dir.path().join(format!("case-{i:03}.yaml"));
        std::fs::write(&path, source).unwrap();
        files.push(path);
    }
    let verdicts = check(&tool, &schema_in(dir.path()), &files);
    let mut differ = Vec::new();
    for (path, source) in files.iter().zip(&cases) {
        let parser = parse_str("case.yaml", source)
            .map(|_| ())
            .map_err(|d| d.into_iter().map(|d| d.message).collect::<Vec<_>>());
        let schema = &verdicts[path];
        if parser.is_ok() != schema.is_empty() {
            differ.push(format!(
                "{source}  parser: {parser:?}\n  schema: {schema:?}"
            ));
        }
    }
    let accepted = files.iter().filter(|f| verdicts[*f].is_empty()).count();
    assert!(differ.is_empty(), "{}", differ.join("\n\n"));
    assert!(
        accepted > 40 && accepted < files.len() - 40,
        "{accepted} of {} accepted",
        files.len()
    );
}
