//! Every input format yields its trust policies, with positions in the original file.

use keyless_lint::{LintError, Severity, lint_document, lint_role};

fn input(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/data/inputs/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn rules_of(name: &str) -> Vec<(String, &'static str, usize)> {
    lint_document(name, &input(name))
        .unwrap()
        .into_iter()
        .map(|f| (f.resource.unwrap_or_default(), f.rule, f.location.line))
        .collect()
}

fn has(found: &[(String, &'static str, usize)], resource: &str, rule: &str) -> bool {
    found.iter().any(|(r, id, _)| r == resource && *id == rule)
}

#[test]
fn cloudformation_yaml_with_short_tags() {
    let f = rules_of("cfn-role.yaml");
    assert!(has(&f, "DeployRole", "KL004"), "{f:?}");
    assert!(
        has(&f, "DeployRole", "KL021"),
        "admin policy via !Sub: {f:?}"
    );
    assert!(has(&f, "DeployRole", "KL022"), "{f:?}");
    assert!(
        !f.iter().any(|(r, _, _)| r == "ReadRole"),
        "the tight role is clean: {f:?}"
    );
    let line = f.iter().find(|(_, id, _)| *id == "KL004").map(|x| x.2);
    assert_eq!(line, Some(31), "points at the `sub` line");
}

#[test]
fn cloudformation_json_with_intrinsics() {
    let f = rules_of("cfn-role.json");
    assert!(
        has(&f, "CiRole", "KL001") && has(&f, "CiRole", "KL021") && has(&f, "CiRole", "KL014"),
        "{f:?}"
    );
    let kl001 = f.iter().find(|(_, id, _)| *id == "KL001").map(|x| x.2);
    assert_eq!(kl001, Some(14), "points at the Condition key");
}

#[test]
fn terraform_jsonencode_heredoc_and_data_document() {
    let f = rules_of("main.tf");
    assert!(has(&f, "aws_iam_role.jsonencoded", "KL006"), "{f:?}");
    assert!(
        has(&f, "aws_iam_role.jsonencoded", "KL021"),
        "attachment resolved: {f:?}"
    );
    assert!(has(&f, "aws_iam_role.heredoc", "KL001"), "{f:?}");
    assert!(has(&f, "aws_iam_role.from_data", "KL007"), "{f:?}");
    let heredoc = f
        .iter()
        .find(|(r, id, _)| r == "aws_iam_role.heredoc" && *id == "KL001")
        .map(|x| x.2);
    assert_eq!(heredoc, Some(41), "exact position inside the heredoc");
}

#[test]
fn terraform_plan_json() {
    let f = rules_of("plan.json");
    assert!(has(&f, "module.ci.aws_iam_role.deploy", "KL006"), "{f:?}");
    assert!(has(&f, "module.ci.aws_iam_role.deploy", "KL021"), "{f:?}");
}

#[test]
fn get_role_output_plain_and_url_encoded() {
    for name in ["get-role.json", "get-role-encoded.json"] {
        let f = rules_of(name);
        assert!(
            has(&f, "gha-prod", "KL003") && has(&f, "gha-prod", "KL015"),
            "{name}: {f:?}"
        );
    }
}

#[test]
fn broken_json_is_a_syntax_error_with_position() {
    match lint_document("broken.json", &input("broken.json")) {
        Err(LintError::Syntax { line, column, .. }) => assert_eq!((line, column), (4, 24)),
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn unrelated_json_is_not_a_policy() {
    assert!(matches!(
        lint_document("package.json", r#"{"name": "x"}"#),
        Err(LintError::NoPolicy { .. })
    ));
}

#[test]
fn live_role_entry_point() {
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com","token.actions.githubusercontent.com:sub":"repo:acme/app:environment:prod"}}}]}"#;
    let clean = lint_role("deploy", trust, &[], Some(3600)).unwrap();
    assert!(clean.is_empty(), "{clean:?}");
    let encoded: String = trust.replace('"', "%22").replace(' ', "%20");
    let risky = lint_role(
        "deploy",
        &encoded,
        &["arn:aws:iam::aws:policy/AdministratorAccess".into()],
        Some(43200),
    )
    .unwrap();
    let ids: Vec<&str> = risky.iter().map(|f| f.rule).collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.contains(&"KL021") && ids.contains(&"KL022"));
    assert!(risky.iter().all(|f| f.location.file == "iam:role/deploy"));
    assert!(risky.iter().any(|f| f.severity == Severity::High));
}

#[test]
fn garbage_never_panics() {
    let inputs = [
        "",
        "{",
        "[]",
        "null",
        "{\"Statement\": 3}",
        "{\"Statement\": [null, 1, \"x\", {}]}",
        "{\"Statement\": [{\"Effect\": \"Allow\", \"Principal\": {\"Federated\": []}, \"Condition\": {\"StringLike\": 5}}]}",
        "{\"Statement\": [{\"Effect\": \"Allow\", \"Principal\": \"*\", \"Action\": \"*\", \"Condition\": {\"StringLike\": {\"a:sub\": \"${\"}}}]}",
        "{\"Resources\": {\"R\": {\"Type\": \"AWS::IAM::Role\", \"Properties\": {\"AssumeRolePolicyDocument\": \"%%%\"}}}}",
    ];
    for (i, text) in inputs.iter().enumerate() {
        let _ = lint_document(&format!("g{i}.json"), text);
        let _ = lint_document(&format!("g{i}.yaml"), text);
        let _ = lint_document(&format!("g{i}.tf"), text);
    }
}

/// Every prefix of every fixture and of a sample of corpus policies, read as JSON, YAML and HCL,
/// lints or fails cleanly: no input panics.
#[test]
fn truncated_inputs_never_panic() {
    let mut texts: Vec<String> = [
        "cfn-role.yaml",
        "cfn-role.json",
        "main.tf",
        "plan.json",
        "get-role.json",
    ]
    .iter()
    .map(|n| input(n))
    .collect();
    let dir = format!("{}/tests/corpus/policies", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    texts.extend(
        names
            .iter()
            .step_by(15)
            .map(|p| std::fs::read_to_string(p).unwrap()),
    );
    let mut runs = 0;
    for text in &texts {
        let cuts: Vec<usize> = (0..text.len())
            .step_by(7)
            .filter(|&i| text.is_char_boundary(i))
            .collect();
        for cut in cuts {
            let part = &text[..cut];
            for name in ["x.json", "x.yaml", "x.tf"] {
                let _ = lint_document(name, part);
                runs += 1;
            }
        }
    }
    assert!(runs > 1000, "only {runs} runs");
}
