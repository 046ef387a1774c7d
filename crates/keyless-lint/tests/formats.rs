//! Output formats: snapshots of text, JSON and SARIF, SARIF structure, exit codes.

use std::collections::HashMap;
use std::path::PathBuf;

use keyless_lint::{Format, LintArgs, RULES, Severity, lint_document, report, run};
use serde_json::Value;

fn input(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/data/inputs/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn render(format: Format, name: &str) -> String {
    let text = input(name);
    let findings = lint_document(name, &text).unwrap();
    let mut out = Vec::new();
    match format {
        Format::Text => {
            let sources = HashMap::from([(name.to_string(), text)]);
            report::text(&mut out, &findings, &sources).unwrap();
        }
        Format::Json => report::json(&mut out, &findings).unwrap(),
        Format::Sarif => report::sarif(&mut out, &findings, &[]).unwrap(),
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn text_report_of_a_cloudformation_template() {
    insta::assert_snapshot!(render(Format::Text, "cfn-role.yaml"));
}

#[test]
fn text_report_of_terraform() {
    insta::assert_snapshot!(render(Format::Text, "main.tf"));
}

#[test]
fn json_report_of_get_role_output() {
    let out = render(Format::Json, "get-role.json");
    let v: Value = serde_json::from_str(&out).unwrap();
    for f in v.as_array().unwrap() {
        for field in ["rule", "severity", "message", "location", "fix"] {
            assert!(f.get(field).is_some(), "missing {field}");
        }
        for field in ["file", "line", "column", "json_path"] {
            assert!(
                f["location"].get(field).is_some(),
                "missing location.{field}"
            );
        }
    }
    insta::assert_snapshot!(out);
}

/// The fields SARIF 2.1.0 requires (and GitHub code scanning reads) are present and typed.
#[test]
fn sarif_has_the_required_structure() {
    let out = render(Format::Sarif, "main.tf");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["version"], "2.1.0");
    assert!(v["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let driver = &runs[0]["tool"]["driver"];
    assert_eq!(driver["name"], "keyless-lint");
    let rules = driver["rules"].as_array().unwrap();
    assert_eq!(rules.len(), RULES.len());
    for r in rules {
        assert!(r["id"].is_string() && r["shortDescription"]["text"].is_string());
        let level = r["defaultConfiguration"]["level"].as_str().unwrap();
        assert!(["none", "note", "warning", "error"].contains(&level));
        let score: f64 = r["properties"]["security-severity"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((0.0..=10.0).contains(&score));
    }
    let results = runs[0]["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for res in results {
        let id = res["ruleId"].as_str().unwrap();
        let idx = res["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[idx]["id"], id, "ruleIndex points at the rule");
        assert!(
            res["message"]["text"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        );
        assert!(["none", "note", "warning", "error"].contains(&res["level"].as_str().unwrap()));
        let loc = &res["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "main.tf");
        assert!(loc["region"]["startLine"].as_u64().unwrap() >= 1);
        assert!(loc["region"]["startColumn"].as_u64().unwrap() >= 1);
    }
    insta::assert_snapshot!(out);
}

fn args(paths: &[&str], format: Format, fail_on: Severity) -> LintArgs {
    LintArgs {
        paths: paths
            .iter()
            .map(|p| {
                PathBuf::from(format!(
                    "{}/tests/data/inputs/{p}",
                    env!("CARGO_MANIFEST_DIR")
                ))
            })
            .collect(),
        format,
        fail_on,
        min_severity: Severity::Info,
    }
}

#[test]
fn exit_codes_follow_fail_on() {
    let mut sink = Vec::new();
    assert_eq!(
        run(
            &args(&["get-role.json"], Format::Json, Severity::Medium),
            &mut sink
        ),
        1
    );
    sink.clear();
    // A clean policy exits 0; only an info finding stays below the default threshold.
    let dir = std::env::temp_dir().join(format!("keyless-lint-exit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let clean = dir.join("trust.json");
    std::fs::write(&clean, r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com"},"StringLike":{"token.actions.githubusercontent.com:sub":"repo:acme/app:ref:refs/heads/main"}}}]}"#).unwrap();
    let a = LintArgs {
        paths: vec![clean.clone()],
        format: Format::Text,
        fail_on: Severity::Medium,
        min_severity: Severity::Info,
    };
    assert_eq!(run(&a, &mut sink), 0);
    assert!(String::from_utf8_lossy(&sink).contains("KL012"));
    let strict = LintArgs {
        fail_on: Severity::Info,
        ..a.clone()
    };
    assert_eq!(run(&strict, &mut Vec::new()), 1);
    // Critical-only gating ignores the high findings of the plan.
    assert_eq!(
        run(
            &args(&["plan.json"], Format::Json, Severity::Critical),
            &mut Vec::new()
        ),
        0
    );
    // Unreadable input wins: 2.
    assert_eq!(
        run(
            &args(
                &["broken.json", "get-role.json"],
                Format::Sarif,
                Severity::Medium
            ),
            &mut Vec::new()
        ),
        2
    );
    assert_eq!(
        run(
            &args(&["missing.json"], Format::Text, Severity::Medium),
            &mut Vec::new()
        ),
        2
    );
    // A directory walk skips files that hold no policy but reports the broken one.
    let walk = LintArgs {
        paths: vec![dir.clone()],
        ..a
    };
    std::fs::write(dir.join("package.json"), r#"{"name":"x"}"#).unwrap();
    std::fs::write(dir.join("chart.yaml"), "a: {{ .Values.x }}\n  - : [").unwrap();
    assert_eq!(
        run(&walk, &mut Vec::new()),
        0,
        "unrelated and unparseable walked files are skipped"
    );
    std::fs::write(dir.join("bad-trust.json"), r#"{"Statement": [}"#).unwrap();
    assert_eq!(
        run(&walk, &mut Vec::new()),
        2,
        "a broken policy in a walked directory is an error"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
