//! Validation: IAM's `MalformedPolicyDocument` cases, each error located by JSON path and
//! line:column.

use keyless_policy::{ErrorKind, PolicyKind, parse};

fn errors(text: &str, kind: PolicyKind) -> Vec<(String, String, u32, u32)> {
    match parse(text, kind) {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => e
            .errors
            .into_iter()
            .map(|e| (e.message, e.path, e.line, e.column))
            .collect(),
    }
}

fn first(text: &str, kind: PolicyKind) -> (String, String, u32, u32) {
    errors(text, kind).into_iter().next().unwrap()
}

#[test]
fn bad_effect_is_located() {
    let text = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [{\n    \"Effect\": \"allow\",\n    \"Action\": \"s3:GetObject\",\n    \"Resource\": \"*\"\n  }]\n}";
    let (msg, path, line, col) = first(text, PolicyKind::Identity);
    assert_eq!(path, "$.Statement[0].Effect");
    assert_eq!((line, col), (4, 15));
    assert!(msg.contains("`allow`"), "{msg}");
}

#[test]
fn every_error_is_reported_at_once() {
    let text = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"s3","Resource":"*"},
        {"Effect":"Allow","Action":"s3:Get","Resource":"bucket"},
        {"Effect":"Maybe","Action":"s3:Get","Resource":"*","Foo":1}]}"#;
    let errs = errors(text, PolicyKind::Identity);
    let paths: Vec<&str> = errs.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(
        paths,
        [
            "$.Statement[0].Action",
            "$.Statement[1].Resource",
            "$.Statement[2].Effect",
            "$.Statement[2].Foo"
        ]
    );
}

#[test]
fn display_is_one_line_per_error() {
    let e = parse(r#"{"Statement":{"Effect":"Allow"}}"#, PolicyKind::Identity).unwrap_err();
    let shown = e.to_string();
    assert_eq!(shown.lines().count(), e.errors.len());
    assert!(shown.contains("1:14: "), "{shown}");
    assert_eq!(e.aws_message(), "Policy statement must contain actions.");
}

#[test]
fn identity_policy_with_principal_is_prohibited() {
    let text = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}}"#;
    let e = parse(text, PolicyKind::Identity).unwrap_err();
    assert_eq!(e.errors[0].kind, ErrorKind::ProhibitedElement);
    assert_eq!(e.errors[0].path, "$.Statement.Principal");
    assert_eq!(e.aws_message(), "Has prohibited field Principal");
}

#[test]
fn trust_policy_rules() {
    // Resource is prohibited in a trust policy.
    let e = parse(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole","Resource":"*"}}"#,
        PolicyKind::Trust,
    )
    .unwrap_err();
    assert_eq!(e.aws_message(), "Has prohibited field Resource");
    // Principal is required.
    let e = parse(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:AssumeRole"}}"#,
        PolicyKind::Trust,
    )
    .unwrap_err();
    assert_eq!(e.errors[0].kind, ErrorKind::MissingElement);
    assert_eq!(e.errors[0].path, "$.Statement.Principal");
    // NotPrincipal is never allowed in a trust policy.
    let e = parse(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotPrincipal":{"AWS":"123456789012"},"Action":"sts:AssumeRole"}}"#,
        PolicyKind::Trust,
    )
    .unwrap_err();
    assert!(
        e.errors
            .iter()
            .any(|e| e.kind == ErrorKind::ProhibitedElement && e.path == "$.Statement.NotPrincipal")
    );
}

#[test]
fn duplicate_keys_are_refused() {
    let text = "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Effect\":\"Deny\",\"Action\":\"*\",\"Resource\":\"*\"}}";
    let (msg, path, line, col) = first(text, PolicyKind::Identity);
    assert!(msg.contains("duplicate key `Effect`"), "{msg}");
    assert_eq!(path, "$.Statement.Effect");
    assert_eq!((line, col), (1, 55));
    // Also inside a condition block.
    let text = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"a:b":"1","a:b":"2"}}}}"#;
    let (_, path, _, _) = first(text, PolicyKind::Identity);
    assert_eq!(path, r#"$.Statement.Condition.StringEquals["a:b"]"#);
}

#[test]
fn unknown_operator_with_suggestion() {
    let text = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"stringequals":{"a:b":"1"}}}}"#;
    let e = parse(text, PolicyKind::Identity).unwrap_err();
    assert_eq!(e.errors[0].kind, ErrorKind::UnknownOperator);
    assert!(
        e.errors[0]
            .help
            .as_deref()
            .unwrap()
            .contains("StringEquals")
    );
    // IfExists is not allowed on Null.
    let text = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NullIfExists":{"a:b":"true"}}}}"#;
    assert_eq!(
        parse(text, PolicyKind::Identity).unwrap_err().errors[0].kind,
        ErrorKind::UnknownOperator
    );
}

#[test]
fn bad_typed_condition_values() {
    for (op, value) in [
        ("IpAddress", "10.0.0.0/33"),
        ("IpAddress", "not-an-ip"),
        ("DateLessThan", "tomorrow"),
        ("NumericEquals", "ten"),
        ("Bool", "yes"),
        ("BinaryEquals", "!!!"),
        ("Null", "maybe"),
    ] {
        let text = format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"*","Resource":"*","Condition":{{"{op}":{{"k:k":"{value}"}}}}}}}}"#
        );
        let e = parse(&text, PolicyKind::Identity).unwrap_err();
        assert_eq!(e.errors[0].kind, ErrorKind::InvalidValue, "{op} {value}");
        assert_eq!(
            e.errors[0].path,
            r#"$.Statement.Condition.IpAddress["k:k"]"#.replace("IpAddress", op)
        );
    }
}

#[test]
fn malformed_json_is_located() {
    let (msg, _, line, col) = first(
        "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [,]\n}",
        PolicyKind::Identity,
    );
    assert!(msg.starts_with("invalid JSON"), "{msg}");
    assert_eq!((line, col), (3, 17));
    let (msg, ..) = first("", PolicyKind::Identity);
    assert!(msg.contains("empty"));
    let (msg, ..) = first(&"[".repeat(100_000), PolicyKind::Resource);
    assert!(msg.contains("nests deeper"), "{msg}");
    // 1 MB of nesting is refused by size before parsing.
    let (msg, ..) = first(&"[".repeat(1_000_000), PolicyKind::Resource);
    assert!(msg.contains("more than the limit"), "{msg}");
}

#[test]
fn size_limits() {
    let actions: Vec<String> = (0..2000).map(|i| format!("\"s3:GetObject{i}\"")).collect();
    let text = format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":[{}],"Resource":"*"}}}}"#,
        actions.join(",")
    );
    let e = parse(&text, PolicyKind::Identity).unwrap_err();
    assert_eq!(e.errors[0].kind, ErrorKind::Limit);
    let huge = " ".repeat(200_000) + "{}";
    assert_eq!(
        parse(&huge, PolicyKind::Identity).unwrap_err().errors[0].kind,
        ErrorKind::Limit
    );
}

#[test]
fn characters_outside_iam_range_are_refused() {
    let text = "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"arn:aws:s3:::☃\"}}";
    let (msg, _, line, col) = first(text, PolicyKind::Identity);
    assert!(msg.contains("U+2603"), "{msg}");
    assert_eq!((line, col), (1, 93));
}

#[test]
fn accepted_shapes() {
    for (text, kind) in [
        // Statement as a single object, no Version (legacy).
        (
            r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
            PolicyKind::Identity,
        ),
        (
            r#"{"Version":"2008-10-17","Id":"x","Statement":[{"Sid":"A1","Effect":"Deny","NotAction":["s3:*","iam:*"],"NotResource":"arn:aws:s3:::b/*"}]}"#,
            PolicyKind::Identity,
        ),
        // Unquoted numbers and booleans in conditions.
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericLessThan":{"s3:max-keys":10},"Bool":{"aws:SecureTransport":true}}}}"#,
            PolicyKind::Identity,
        ),
        // Resource policy with NotPrincipal, account principal, wildcard principal.
        (
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":["123456789012","arn:aws:iam::123456789012:role/x"]},"Action":"s3:*","Resource":"arn:aws:s3:::b/*"},{"Sid":"Public read","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#,
            PolicyKind::Resource,
        ),
        // Trust policy with every principal type.
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"*","Federated":"accounts.google.com","Service":["ec2.amazonaws.com"],"CanonicalUser":"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"},"Action":["sts:AssumeRole","sts:TagSession"]}}"#,
            PolicyKind::Trust,
        ),
        // Policy variables and qualifiers.
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:username}/*","Condition":{"ForAllValues:StringLikeIfExists":{"aws:TagKeys":["team","env*"]},"StringEquals":{"aws:PrincipalTag/team":"${aws:username}"}}}}"#,
            PolicyKind::Identity,
        ),
    ] {
        if let Err(e) = parse(text, kind) {
            panic!("refused:\n{e}\n{text}");
        }
    }
}

#[test]
fn refused_shapes() {
    for (text, kind, path) in [
        (r#"[]"#, PolicyKind::Identity, "$"),
        (
            r#"{"Version":"2012-10-17"}"#,
            PolicyKind::Identity,
            "$.Statement",
        ),
        (
            r#"{"Version":"2013-01-01","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
            PolicyKind::Identity,
            "$.Version",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Action":"*"}}"#,
            PolicyKind::Identity,
            "$.Statement.Resource",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Action":"*","NotAction":"s3:*","Resource":"*"}}"#,
            PolicyKind::Identity,
            "$.Statement.NotAction",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Action":[],"Resource":"*"}}"#,
            PolicyKind::Identity,
            "$.Statement.Action",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Action":["s3:Get",1],"Resource":"*"}}"#,
            PolicyKind::Identity,
            "$.Statement.Action[1]",
        ),
        (
            r#"{"Statement":{"Sid":"has space","Effect":"Allow","Action":"*","Resource":"*"}}"#,
            PolicyKind::Identity,
            "$.Statement.Sid",
        ),
        (
            r#"{"Statement":[{"Sid":"A","Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"A","Effect":"Deny","Action":"*","Resource":"*"}]}"#,
            PolicyKind::Identity,
            "$.Statement[1].Sid",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::*:root"},"Action":"sts:AssumeRole"}}"#,
            PolicyKind::Trust,
            "$.Statement.Principal.AWS",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"alice"},"Action":"sts:AssumeRole"}}"#,
            PolicyKind::Trust,
            "$.Statement.Principal.AWS",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":{"Aws":"123456789012"},"Action":"sts:AssumeRole"}}"#,
            PolicyKind::Trust,
            "$.Statement.Principal.Aws",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":"everyone","Action":"sts:AssumeRole"}}"#,
            PolicyKind::Trust,
            "$.Statement.Principal",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*"}}"#,
            PolicyKind::Resource,
            "$.Statement.Resource",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
            PolicyKind::Resource,
            "$.Statement.Principal",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"a":{"b":"c"}}}}}"#,
            PolicyKind::Identity,
            "$.Statement.Condition.StringEquals.a",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":"x"}}}"#,
            PolicyKind::Identity,
            "$.Statement.Condition.StringEquals",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":[]}}"#,
            PolicyKind::Identity,
            "$.Statement.Condition",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"},"Extra":1}"#,
            PolicyKind::Identity,
            "$.Extra",
        ),
        (
            r#"{"Statement":"Allow"}"#,
            PolicyKind::Identity,
            "$.Statement",
        ),
        (
            r#"{"Statement":[1]}"#,
            PolicyKind::Identity,
            "$.Statement[0]",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Action":"s 3:Get","Resource":"*"}}"#,
            PolicyKind::Identity,
            "$.Statement.Action",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Action":"s3:","Resource":"*"}}"#,
            PolicyKind::Identity,
            "$.Statement.Action",
        ),
    ] {
        let e = match parse(text, kind) {
            Ok(_) => panic!("accepted: {text}"),
            Err(e) => e,
        };
        assert_eq!(e.errors[0].path, path, "{text}\n{e}");
        assert!(e.errors[0].line >= 1 && e.errors[0].column >= 1);
    }
}
