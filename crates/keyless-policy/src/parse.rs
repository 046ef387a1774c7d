//! Parse and validate a policy document the way IAM does before it stores one
//! (the `MalformedPolicyDocument` cases), collecting every error with its JSON path and
//! line:column.

use crate::ast::{
    BaseOperator, Condition, Effect, Operator, Policy, PolicyData, PolicyKind, PrincipalEntry,
    PrincipalKind, PrincipalSpec, Statement, Version,
};
use crate::error::{ErrorKind, PolicyError, PolicyErrors};
use crate::json::{self, Member, Node, Pos, Value};
use crate::values;
use crate::variables::has_variables;

/// The largest document accepted at all, in characters (IAM's API limit on a policy document
/// parameter). Documents beyond it are refused before parsing.
pub const MAX_DOCUMENT_CHARS: usize = 131_072;

/// The largest size (characters excluding whitespace) `parse` accepts for each kind: the highest
/// quota AWS can grant (trust policy 4,096; inline identity policies 10,240 per role; resource
/// policies 20,480 as for S3 bucket policies). Callers enforce the account's actual quota
/// (e.g. 2,048 for trust policies, 6,144 for managed policies) with
/// [`Policy::size_without_whitespace`].
pub fn size_limit(kind: PolicyKind) -> usize {
    match kind {
        PolicyKind::Identity => 10_240,
        PolicyKind::Resource => 20_480,
        PolicyKind::Trust => 4_096,
    }
}

/// A JSON path built without allocating; rendered only when an error needs it.
#[derive(Clone, Copy)]
enum Seg<'a> {
    Root,
    Key(&'a str),
    Index(usize),
}

#[derive(Clone, Copy)]
struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    seg: Seg<'a>,
}

impl<'a> Path<'a> {
    const ROOT: Path<'static> = Path {
        parent: None,
        seg: Seg::Root,
    };

    fn key(&'a self, key: &'a str) -> Path<'a> {
        Path {
            parent: Some(self),
            seg: Seg::Key(key),
        }
    }

    fn index(&'a self, i: usize) -> Path<'a> {
        Path {
            parent: Some(self),
            seg: Seg::Index(i),
        }
    }

    fn render(&self) -> String {
        let mut segs = Vec::new();
        let mut cur = Some(self);
        while let Some(p) = cur {
            segs.push(p.seg);
            cur = p.parent;
        }
        let mut out = String::new();
        for seg in segs.iter().rev() {
            match seg {
                Seg::Root => out.push('$'),
                Seg::Index(i) => {
                    out.push('[');
                    out.push_str(&i.to_string());
                    out.push(']');
                }
                Seg::Key(k) => {
                    let plain = k
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                    if plain {
                        out.push('.');
                        out.push_str(k);
                    } else {
                        out.push('[');
                        out.push_str(&serde_json::to_string(k).unwrap_or_default());
                        out.push(']');
                    }
                }
            }
        }
        out
    }
}

struct Validator {
    kind: PolicyKind,
    errors: Vec<PolicyError>,
}

impl Validator {
    fn push(
        &mut self,
        kind: ErrorKind,
        path: &Path<'_>,
        pos: Pos,
        message: String,
        help: Option<&str>,
    ) {
        self.errors.push(PolicyError {
            kind,
            message,
            help: help.map(str::to_string),
            path: path.render(),
            line: pos.line,
            column: pos.column,
        });
    }

    /// Reports duplicate keys of an object (IAM refuses them; JSON parsers differ on which wins).
    fn check_duplicates(&mut self, members: &[Member], path: &Path<'_>) {
        for (i, m) in members.iter().enumerate() {
            if members.iter().take(i).any(|earlier| earlier.key == m.key) {
                self.push(
                    ErrorKind::DuplicateKey,
                    &path.key(&m.key),
                    m.key_pos,
                    format!("duplicate key `{}`", m.key),
                    Some("each element may appear only once; merge the values into one list"),
                );
            }
        }
    }

    fn expect_string<'n>(
        &mut self,
        node: &'n Node,
        path: &Path<'_>,
        what: &str,
    ) -> Option<&'n str> {
        match &node.value {
            Value::String(s) => Some(s),
            other => {
                self.push(
                    ErrorKind::InvalidValue,
                    path,
                    node.start,
                    format!("{what} must be a string, found {}", other.type_name()),
                    None,
                );
                None
            }
        }
    }

    /// A string or a non-empty array of strings.
    /// A string-or-list element whose every value must pass `check`; `None` (with each bad value
    /// reported at its own position) when any fails.
    fn checked_list(
        &mut self,
        node: &mut Node,
        path: &Path<'_>,
        what: &str,
        check: fn(&str) -> Result<(), String>,
        help: &'static str,
    ) -> Option<Vec<String>> {
        let list = self.string_list(node, path, what)?;
        let is_array = matches!(node.value, Value::Array(_));
        let mut ok = true;
        for (i, (v, pos)) in list.iter().enumerate() {
            let vp = if is_array { path.index(i) } else { *path };
            if let Err(msg) = check(v) {
                ok = false;
                self.push(ErrorKind::InvalidValue, &vp, *pos, msg, Some(help));
            }
        }
        ok.then(|| list.into_iter().map(|(s, _)| s).collect())
    }

    fn string_list(
        &mut self,
        node: &mut Node,
        path: &Path<'_>,
        what: &str,
    ) -> Option<Vec<(String, Pos)>> {
        let start = node.start;
        match &mut node.value {
            Value::String(s) => Some(vec![(std::mem::take(s).into_owned(), start)]),
            Value::Array(items) => {
                if items.is_empty() {
                    self.push(
                        ErrorKind::InvalidValue,
                        path,
                        start,
                        format!("{what} must not be an empty list"),
                        None,
                    );
                    return None;
                }
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for (i, item) in items.iter_mut().enumerate() {
                    match &mut item.value {
                        Value::String(s) => out.push((std::mem::take(s).into_owned(), item.start)),
                        other => {
                            ok = false;
                            self.push(
                                ErrorKind::InvalidValue,
                                &path.index(i),
                                item.start,
                                format!(
                                    "each value of {what} must be a string, found {}",
                                    other.type_name()
                                ),
                                None,
                            );
                        }
                    }
                }
                ok.then_some(out)
            }
            other => {
                self.push(
                    ErrorKind::InvalidValue,
                    path,
                    start,
                    format!(
                        "{what} must be a string or a list of strings, found {}",
                        other.type_name()
                    ),
                    None,
                );
                None
            }
        }
    }

    fn document(&mut self, root: &mut Node) -> Option<(Version, Option<String>, Vec<Statement>)> {
        let path = Path::ROOT;
        let root_start = root.start;
        let root_type = root.value.type_name();
        let Value::Object(members) = &mut root.value else {
            self.push(
                ErrorKind::InvalidValue,
                &path,
                root_start,
                format!("a policy must be a JSON object, found {root_type}"),
                None,
            );
            return None;
        };
        self.check_duplicates(members, &path);
        let mut version = Version::Absent;
        let mut id = None;
        let mut statements = None;
        for m in members.iter_mut() {
            let p = path.key(&m.key);
            match m.key.as_ref() {
                "Version" => {
                    if let Some(v) = self.expect_string(&m.value, &p, "`Version`") {
                        match v {
                            "2012-10-17" => version = Version::V2012_10_17,
                            "2008-10-17" => version = Version::V2008_10_17,
                            other => self.push(
                                ErrorKind::InvalidValue,
                                &p,
                                m.value.start,
                                format!("unknown policy version `{other}`"),
                                Some("use `2012-10-17`"),
                            ),
                        }
                    }
                }
                "Id" => {
                    id = self
                        .expect_string(&m.value, &p, "`Id`")
                        .map(str::to_string);
                }
                "Statement" => statements = Some(self.statements(&mut m.value, &p)),
                other => self.push(
                    ErrorKind::UnknownElement,
                    &p,
                    m.key_pos,
                    format!("unknown top-level element `{other}`"),
                    Some("a policy has only `Version`, `Id` and `Statement` (names are case-sensitive)"),
                ),
            }
        }
        let Some(statements) = statements else {
            self.push(
                ErrorKind::MissingElement,
                &path.key("Statement"),
                root_start,
                "the policy has no `Statement`".to_string(),
                None,
            );
            return None;
        };
        // Sids must be unique within a policy.
        for (i, s) in statements.iter().enumerate() {
            if let Some(sid) = &s.sid
                && statements
                    .iter()
                    .take(i)
                    .any(|e| e.sid.as_deref() == Some(sid.as_str()))
            {
                let sp = path.key("Statement");
                let ip = sp.index(i);
                self.push(
                    ErrorKind::InvalidValue,
                    &ip.key("Sid"),
                    Pos {
                        line: s.line,
                        column: s.column,
                    },
                    format!("duplicate `Sid` `{sid}`"),
                    Some("statement ids must be unique within a policy"),
                );
            }
        }
        Some((version, id, statements))
    }

    fn statements(&mut self, node: &mut Node, path: &Path<'_>) -> Vec<Statement> {
        if matches!(node.value, Value::Object(_)) {
            return self.statement(node, path).into_iter().collect();
        }
        let start = node.start;
        match &mut node.value {
            Value::Object(_) => Vec::new(),
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter_mut().enumerate() {
                    if let Some(s) = self.statement(item, &path.index(i)) {
                        out.push(s);
                    }
                }
                out
            }
            other => {
                self.push(
                    ErrorKind::InvalidValue,
                    path,
                    start,
                    format!(
                        "`Statement` must be an object or a list of objects, found {}",
                        other.type_name()
                    ),
                    None,
                );
                Vec::new()
            }
        }
    }

    fn statement(&mut self, node: &mut Node, path: &Path<'_>) -> Option<Statement> {
        let (start, end) = (node.start, node.end);
        let node_type = node.value.type_name();
        let Value::Object(members) = &mut node.value else {
            self.push(
                ErrorKind::InvalidValue,
                path,
                start,
                format!("a statement must be an object, found {node_type}"),
                None,
            );
            return None;
        };
        self.check_duplicates(members, path);
        let errors_before = self.errors.len();
        let mut sid = None;
        let mut effect = None;
        let mut effect_seen = false;
        let mut principal = None;
        let mut not_principal = None;
        let mut action = None;
        let mut not_action = None;
        let mut resource = None;
        let mut not_resource = None;
        let mut conditions = Vec::new();
        let seen = |name: &str| members.iter().any(|m| m.key == name);
        let has_principal = seen("Principal");
        let has_not_principal = seen("NotPrincipal");
        for m in members.iter_mut() {
            let p = path.key(&m.key);
            match m.key.as_ref() {
                "Sid" => {
                    if let Some(s) = self.expect_string(&m.value, &p, "`Sid`") {
                        if self.kind != PolicyKind::Resource
                            && !s.chars().all(|c| c.is_ascii_alphanumeric())
                        {
                            self.push(
                                ErrorKind::InvalidValue,
                                &p,
                                m.value.start,
                                format!("`Sid` `{s}` may contain only letters and digits"),
                                Some("IAM statement ids are `[A-Za-z0-9]*`"),
                            );
                        }
                        sid = Some(s.to_string());
                    }
                }
                "Effect" => {
                    effect_seen = true;
                    if let Some(s) = self.expect_string(&m.value, &p, "`Effect`") {
                        match s {
                            "Allow" => effect = Some(Effect::Allow),
                            "Deny" => effect = Some(Effect::Deny),
                            other => self.push(
                                ErrorKind::InvalidValue,
                                &p,
                                m.value.start,
                                format!("invalid `Effect` `{other}`"),
                                Some("write `Allow` or `Deny` (case-sensitive)"),
                            ),
                        }
                    }
                }
                "Principal" | "NotPrincipal" => {
                    let not = m.key == "NotPrincipal";
                    let prohibited = match self.kind {
                        PolicyKind::Identity => true,
                        PolicyKind::Trust => not,
                        PolicyKind::Resource => false,
                    };
                    if prohibited {
                        let help = match self.kind {
                            PolicyKind::Identity => "identity, boundary and session policies apply to the principal they are attached to; remove the element",
                            _ => "trust policies cannot use `NotPrincipal`; list the trusted principals in `Principal`",
                        };
                        self.push(
                            ErrorKind::ProhibitedElement,
                            &p,
                            m.key_pos,
                            format!("`{}` is not allowed in {} policy", m.key, with_article(kind_name(self.kind))),
                            Some(help),
                        );
                    } else if let Some(spec) = self.principal(&mut m.value, &p) {
                        if not {
                            not_principal = Some(spec);
                        } else {
                            principal = Some(spec);
                        }
                    }
                }
                "Action" | "NotAction" => {
                    let help = "actions are `service:Name` (wildcards `*` and `?` allowed in the name) or `*`";
                    if let Some(values) = self.checked_list(&mut m.value, &p, element_name(&m.key), check_action, help) {
                        if m.key == "Action" {
                            action = Some(values);
                        } else {
                            not_action = Some(values);
                        }
                    }
                }
                "Resource" | "NotResource" => {
                    if self.kind == PolicyKind::Trust {
                        self.push(
                            ErrorKind::ProhibitedElement,
                            &p,
                            m.key_pos,
                            format!("`{}` is not allowed in a trust policy", m.key),
                            Some("the resource of a trust policy is always the role itself; remove the element"),
                        );
                        continue;
                    }
                    let help = "resources are ARNs (`arn:partition:service:region:account:resource`) or `*`";
                    if let Some(values) = self.checked_list(&mut m.value, &p, element_name(&m.key), check_resource, help) {
                        if m.key == "Resource" {
                            resource = Some(values);
                        } else {
                            not_resource = Some(values);
                        }
                    }
                }
                "Condition" => self.condition(&mut m.value, &p, &mut conditions),
                other => self.push(
                    ErrorKind::UnknownElement,
                    &p,
                    m.key_pos,
                    format!("unknown statement element `{other}`"),
                    Some("a statement has `Sid`, `Effect`, `Principal`, `NotPrincipal`, `Action`, `NotAction`, `Resource`, `NotResource` and `Condition` (case-sensitive)"),
                ),
            }
        }
        let has = |name: &str| members.iter().any(|m| m.key == name);
        if !effect_seen {
            self.push(
                ErrorKind::MissingElement,
                &path.key("Effect"),
                start,
                "the statement has no `Effect`".to_string(),
                Some("add `\"Effect\": \"Allow\"` or `\"Effect\": \"Deny\"`"),
            );
        }
        match (has("Action"), has("NotAction")) {
            (false, false) => self.push(
                ErrorKind::MissingElement,
                &path.key("Action"),
                start,
                "the statement has neither `Action` nor `NotAction`".to_string(),
                None,
            ),
            (true, true) => self.push(
                ErrorKind::InvalidValue,
                &path.key("NotAction"),
                start,
                "the statement has both `Action` and `NotAction`".to_string(),
                Some("use exactly one of them"),
            ),
            _ => {}
        }
        if self.kind != PolicyKind::Trust {
            match (has("Resource"), has("NotResource")) {
                (false, false) => self.push(
                    ErrorKind::MissingElement,
                    &path.key("Resource"),
                    start,
                    "the statement has neither `Resource` nor `NotResource`".to_string(),
                    None,
                ),
                (true, true) => self.push(
                    ErrorKind::InvalidValue,
                    &path.key("NotResource"),
                    start,
                    "the statement has both `Resource` and `NotResource`".to_string(),
                    Some("use exactly one of them"),
                ),
                _ => {}
            }
        }
        match self.kind {
            PolicyKind::Trust if !has_principal => self.push(
                ErrorKind::MissingElement,
                &path.key("Principal"),
                start,
                "the trust policy statement has no `Principal`".to_string(),
                Some("name who may assume the role, e.g. `\"Principal\": {\"Federated\": \"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com\"}`"),
            ),
            PolicyKind::Resource => match (has_principal, has_not_principal) {
                (false, false) => self.push(
                    ErrorKind::MissingElement,
                    &path.key("Principal"),
                    start,
                    "the resource policy statement has neither `Principal` nor `NotPrincipal`".to_string(),
                    None,
                ),
                (true, true) => self.push(
                    ErrorKind::InvalidValue,
                    &path.key("NotPrincipal"),
                    start,
                    "the statement has both `Principal` and `NotPrincipal`".to_string(),
                    Some("use exactly one of them"),
                ),
                _ => {}
            },
            _ => {}
        }
        if self.errors.len() != errors_before {
            return None;
        }
        Some(Statement {
            sid,
            effect: effect?,
            principal,
            not_principal,
            action,
            not_action,
            resource,
            not_resource,
            conditions,
            line: start.line,
            column: start.column,
            end_line: end.line,
            end_column: end.column,
        })
    }

    fn principal(&mut self, node: &mut Node, path: &Path<'_>) -> Option<PrincipalSpec> {
        let start = node.start;
        match &mut node.value {
            Value::String(s) if s == "*" => Some(PrincipalSpec::Any),
            Value::Object(members) => {
                self.check_duplicates(members, path);
                if members.is_empty() {
                    self.push(
                        ErrorKind::InvalidPrincipal,
                        path,
                        start,
                        "the principal is empty".to_string(),
                        Some("name at least one `AWS`, `Federated`, `Service` or `CanonicalUser` principal"),
                    );
                    return None;
                }
                let mut entries = Vec::new();
                let mut ok = true;
                for m in members.iter_mut() {
                    let p = path.key(&m.key);
                    let Some(kind) = PrincipalKind::from_key(&m.key) else {
                        ok = false;
                        self.push(
                            ErrorKind::InvalidPrincipal,
                            &p,
                            m.key_pos,
                            format!("unknown principal type `{}`", m.key),
                            Some("principal types are `AWS`, `Federated`, `Service` and `CanonicalUser` (case-sensitive)"),
                        );
                        continue;
                    };
                    let Some(list) = self.string_list(&mut m.value, &p, "a principal") else {
                        ok = false;
                        continue;
                    };
                    for (i, (v, pos)) in list.iter().enumerate() {
                        let vp = if matches!(m.value.value, Value::Array(_)) {
                            p.index(i)
                        } else {
                            p
                        };
                        if let Err(msg) = check_principal(kind, v) {
                            ok = false;
                            self.push(ErrorKind::InvalidPrincipal, &vp, *pos, msg, None);
                        }
                    }
                    entries.push(PrincipalEntry {
                        kind,
                        values: list.into_iter().map(|(s, _)| s).collect(),
                        line: m.key_pos.line,
                        column: m.key_pos.column,
                    });
                }
                ok.then_some(PrincipalSpec::Map(entries))
            }
            Value::String(s) => {
                self.push(
                    ErrorKind::InvalidPrincipal,
                    path,
                    start,
                    format!("invalid principal `{s}`"),
                    Some("a principal is `\"*\"` or an object such as `{\"AWS\": \"arn:aws:iam::123456789012:root\"}`"),
                );
                None
            }
            other => {
                self.push(
                    ErrorKind::InvalidPrincipal,
                    path,
                    start,
                    format!(
                        "a principal must be `\"*\"` or an object, found {}",
                        other.type_name()
                    ),
                    None,
                );
                None
            }
        }
    }

    fn condition(&mut self, node: &mut Node, path: &Path<'_>, out: &mut Vec<Condition>) {
        let start = node.start;
        let node_type = node.value.type_name();
        let Value::Object(ops) = &mut node.value else {
            self.push(
                ErrorKind::InvalidValue,
                path,
                start,
                format!("`Condition` must be an object, found {node_type}"),
                Some("write `{\"StringEquals\": {\"key\": \"value\"}}`"),
            );
            return;
        };
        self.check_duplicates(ops, path);
        for op_member in ops.iter_mut() {
            let op_path = path.key(&op_member.key);
            let Some(operator) = Operator::parse(&op_member.key) else {
                let help = suggest_operator(&op_member.key);
                self.push(
                    ErrorKind::UnknownOperator,
                    &op_path,
                    op_member.key_pos,
                    format!("unknown condition operator `{}`", op_member.key),
                    Some(help.as_deref().unwrap_or("see the IAM condition operators (names are case-sensitive; `IfExists` is not allowed on `Null`)")),
                );
                continue;
            };
            let body_start = op_member.value.start;
            let body_type = op_member.value.value.type_name();
            let Value::Object(keys) = &mut op_member.value.value else {
                self.push(
                    ErrorKind::InvalidValue,
                    &op_path,
                    body_start,
                    format!(
                        "the body of `{}` must be an object of condition keys, found {body_type}",
                        op_member.key,
                    ),
                    None,
                );
                continue;
            };
            self.check_duplicates(keys, &op_path);
            for k in keys.iter_mut() {
                let kp = op_path.key(&k.key);
                if k.key.is_empty() {
                    self.push(
                        ErrorKind::InvalidValue,
                        &kp,
                        k.key_pos,
                        "empty condition key".to_string(),
                        None,
                    );
                    continue;
                }
                let Some(values) = self.condition_values(&mut k.value, &kp) else {
                    continue;
                };
                for (i, (v, pos)) in values.iter().enumerate() {
                    let vp = if matches!(k.value.value, Value::Array(_)) {
                        kp.index(i)
                    } else {
                        kp
                    };
                    if operator.base.supports_variables() && has_variables(v) {
                        continue;
                    }
                    if let Err(msg) = values::check_value(operator.base, v) {
                        self.push(ErrorKind::InvalidValue, &vp, *pos, msg, None);
                    }
                }
                out.push(Condition {
                    operator,
                    key: std::mem::take(&mut k.key).into_owned(),
                    values: values.into_iter().map(|(s, _)| s).collect(),
                    line: k.key_pos.line,
                    column: k.key_pos.column,
                });
            }
        }
    }

    /// A scalar (string, number, boolean) or a list of scalars; numbers and booleans keep
    /// their JSON text.
    fn condition_values(&mut self, node: &mut Node, path: &Path<'_>) -> Option<Vec<(String, Pos)>> {
        fn scalar(v: &mut Value) -> Option<String> {
            match v {
                Value::String(s) => Some(std::mem::take(s).into_owned()),
                Value::Number(n) => Some((*n).to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            }
        }
        let start = node.start;
        match &mut node.value {
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for (i, item) in items.iter_mut().enumerate() {
                    match scalar(&mut item.value) {
                        Some(s) => out.push((s, item.start)),
                        None => {
                            ok = false;
                            self.push(
                                ErrorKind::InvalidValue,
                                &path.index(i),
                                item.start,
                                format!(
                                    "a condition value must be a string, number or boolean, found {}",
                                    item.value.type_name()
                                ),
                                None,
                            );
                        }
                    }
                }
                ok.then_some(out)
            }
            v => match scalar(v) {
                Some(s) => Some(vec![(s, start)]),
                None => {
                    self.push(
                        ErrorKind::InvalidValue,
                        path,
                        start,
                        format!(
                            "a condition value must be a string, number, boolean or a list of them, found {}",
                            v.type_name()
                        ),
                        None,
                    );
                    None
                }
            },
        }
    }
}

/// The element name in backticks, for messages, without allocating.
fn element_name(key: &str) -> &'static str {
    match key {
        "Action" => "`Action`",
        "NotAction" => "`NotAction`",
        "Resource" => "`Resource`",
        "NotResource" => "`NotResource`",
        _ => "the element",
    }
}

fn kind_name(kind: PolicyKind) -> &'static str {
    match kind {
        PolicyKind::Identity => "identity",
        PolicyKind::Resource => "resource",
        PolicyKind::Trust => "trust",
    }
}

/// Suggests the right spelling for an operator written in the wrong case.
fn suggest_operator(name: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    for q in ["", "ForAllValues:", "ForAnyValue:"] {
        for base in BaseOperator::ALL {
            for suffix in ["", "IfExists"] {
                let candidate = format!("{q}{}{suffix}", base.as_str());
                if candidate.to_ascii_lowercase() == lower && Operator::parse(&candidate).is_some()
                {
                    return Some(format!(
                        "did you mean `{candidate}`? operator names are case-sensitive"
                    ));
                }
            }
        }
    }
    None
}

/// `*`, or `service:name` with a service of letters, digits and `-`, and a non-empty name.
fn check_action(a: &str) -> Result<(), String> {
    if a == "*" {
        return Ok(());
    }
    let Some((service, name)) = a.split_once(':') else {
        return Err(format!("invalid action `{a}`: expected `service:Name`"));
    };
    if service.is_empty()
        || !service
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '*' || c == '?')
    {
        return Err(format!(
            "invalid action `{a}`: bad service prefix `{service}`"
        ));
    }
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '*' | '?' | '-' | '_' | '.'))
    {
        return Err(format!("invalid action `{a}`: bad action name `{name}`"));
    }
    Ok(())
}

fn check_resource(r: &str) -> Result<(), String> {
    if r == "*" || r.starts_with("arn:") || r.starts_with("${") {
        Ok(())
    } else {
        Err(format!("resource `{r}` must be an ARN or `*`"))
    }
}

fn check_principal(kind: PrincipalKind, v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Err(format!("empty `{}` principal", kind.as_str()));
    }
    if v == "*" {
        return Ok(());
    }
    if v.contains('*') || v.contains('?') {
        return Err(format!(
            "invalid principal `{v}`: wildcards are only allowed as the whole value `*`"
        ));
    }
    if kind == PrincipalKind::Aws {
        let account = v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit());
        if !account && !v.starts_with("arn:") {
            return Err(format!(
                "invalid principal `{v}`: expected an account id (12 digits) or an ARN"
            ));
        }
    }
    if v.chars().any(char::is_whitespace) {
        return Err(format!("invalid principal `{v}`: contains whitespace"));
    }
    Ok(())
}

/// The characters IAM accepts in a policy document parameter.
fn allowed_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{a}' | '\u{d}' | '\u{20}'..='\u{ff}')
}

fn position_of(text: &str, byte: usize) -> Pos {
    let mut line = 1u32;
    let mut column = 1u32;
    for (i, c) in text.char_indices() {
        if i >= byte {
            break;
        }
        if c == '\n' {
            line = line.saturating_add(1);
            column = 1;
        } else {
            column = column.saturating_add(1);
        }
    }
    Pos { line, column }
}

/// Guesses which kind a document is meant to be, for tools that take documents without being told
/// (`keyless explain --policy FILE`): a statement with `Principal`/`NotPrincipal` makes it a
/// resource policy if some statement has `Resource`/`NotResource`, else a trust policy; without
/// principals it is an identity policy. `None` if the text is not a JSON object.
pub fn guess_kind(text: &str) -> Option<PolicyKind> {
    let root = json::parse(text).ok()?;
    let Value::Object(members) = &root.value else {
        return None;
    };
    let statements: Vec<&Node> = match members.iter().find(|m| m.key == "Statement") {
        Some(m) => match &m.value.value {
            Value::Array(items) => items.iter().collect(),
            _ => vec![&m.value],
        },
        None => Vec::new(),
    };
    let has = |names: &[&str]| {
        statements.iter().any(|s| match &s.value {
            Value::Object(keys) => keys.iter().any(|k| names.contains(&k.key.as_ref())),
            _ => false,
        })
    };
    Some(if !has(&["Principal", "NotPrincipal"]) {
        PolicyKind::Identity
    } else if has(&["Resource", "NotResource"]) {
        PolicyKind::Resource
    } else {
        PolicyKind::Trust
    })
}

/// Like [`parse`], for raw bytes (e.g. a file): invalid UTF-8 is a located error rather than a
/// failure the caller has to report on its own.
pub fn parse_bytes(bytes: &[u8], kind: PolicyKind) -> Result<Policy, PolicyErrors> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse(text, kind),
        Err(e) => {
            let good = bytes.get(..e.valid_up_to()).unwrap_or_default();
            // The prefix is valid UTF-8 by construction.
            let prefix = std::str::from_utf8(good).unwrap_or_default();
            let pos = position_of(prefix, prefix.len());
            Err(PolicyErrors {
                errors: vec![PolicyError {
                    kind: ErrorKind::Syntax,
                    message: format!("invalid UTF-8 at byte {}", e.valid_up_to()),
                    help: Some("policy documents are UTF-8 JSON text".to_string()),
                    path: "$".to_string(),
                    line: pos.line,
                    column: pos.column,
                }],
            })
        }
    }
}

/// Parses and validates a policy document of the given kind.
///
/// All validation errors are reported at once; a JSON syntax error stops parsing and is reported
/// alone. The returned [`Policy`] keeps the source text unchanged.
pub fn parse(text: &str, kind: PolicyKind) -> Result<Policy, PolicyErrors> {
    let one = |kind: ErrorKind, pos: Pos, message: String, help: Option<&str>| PolicyErrors {
        errors: vec![PolicyError {
            kind,
            message,
            help: help.map(str::to_string),
            path: "$".to_string(),
            line: pos.line,
            column: pos.column,
        }],
    };
    // The character-level facts: length, the first character IAM refuses, and the size without
    // whitespace (pure ASCII, the common case, is counted over bytes).
    let mut chars = 0usize;
    let mut size = 0usize;
    let mut refused: Option<(usize, char)> = None;
    if text.is_ascii() {
        // Written as counts over bytes so the compiler vectorises them; this pass used to be a
        // quarter of the parse time.
        chars = text.len();
        let whitespace = text
            .bytes()
            .filter(|b| matches!(*b, b' ' | 0x09..=0x0d))
            .count();
        size = chars - whitespace;
        let control = |b: u8| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r');
        if text.bytes().filter(|b| control(*b)).count() > 0 {
            refused = text
                .bytes()
                .enumerate()
                .find(|(_, b)| control(*b))
                .map(|(i, b)| (i, char::from(b)));
        }
    } else {
        for (i, c) in text.char_indices() {
            chars += 1;
            if !c.is_whitespace() {
                size += 1;
            }
            if refused.is_none() && !allowed_char(c) {
                refused = Some((i, c));
            }
        }
    }
    if chars > MAX_DOCUMENT_CHARS {
        return Err(one(
            ErrorKind::Limit,
            Pos { line: 1, column: 1 },
            format!(
                "the document has {chars} characters, more than the limit of {MAX_DOCUMENT_CHARS}"
            ),
            None,
        ));
    }
    if text.trim().is_empty() {
        return Err(one(
            ErrorKind::Syntax,
            Pos { line: 1, column: 1 },
            "the document is empty".to_string(),
            None,
        ));
    }
    if kind != PolicyKind::Resource
        && let Some((i, c)) = refused
    {
        return Err(one(
            ErrorKind::Limit,
            position_of(text, i),
            format!(
                "character `{}` (U+{:04X}) is not allowed in an IAM policy",
                c.escape_debug(),
                u32::from(c)
            ),
            Some("IAM accepts tab, newline, carriage return and U+0020 to U+00FF"),
        ));
    }
    let mut root = json::parse(text).map_err(|e| {
        let mut errors = one(
            ErrorKind::Syntax,
            e.pos,
            format!("invalid JSON: {}", e.message),
            None,
        );
        if let Some(first) = errors.errors.first_mut() {
            first.path = e.path;
        }
        errors
    })?;
    let mut v = Validator {
        kind,
        errors: Vec::new(),
    };
    let doc = v.document(&mut root);
    let limit = size_limit(kind);
    if size > limit {
        v.errors.push(PolicyError {
            kind: ErrorKind::Limit,
            message: format!(
                "the policy has {size} characters (whitespace excluded), more than the {} policy limit of {limit}",
                kind_name(kind)
            ),
            help: Some("split it into several policies or use wildcards".to_string()),
            path: "$".to_string(),
            line: 1,
            column: 1,
        });
    }
    match doc {
        Some((version, id, statements)) if v.errors.is_empty() => Ok(Policy {
            inner: std::sync::Arc::new(PolicyData {
                kind,
                version,
                id,
                statements,
                source: text.to_string(),
                size_without_whitespace: size,
            }),
        }),
        _ => {
            v.errors.sort_by_key(|e| (e.line, e.column));
            Err(PolicyErrors { errors: v.errors })
        }
    }
}

/// `a trust`, `an identity`: the article that reads right before a kind name.
fn with_article(name: &str) -> String {
    if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {name}")
    } else {
        format!("a {name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattens_conditions_in_source_order_and_keeps_positions() {
        let text = "{\"Version\":\"2012-10-17\",\"Statement\":[{\n\"Sid\":\"A\",\"Effect\":\"Allow\",\"Action\":\"s3:*\",\"Resource\":\"*\",\n\"Condition\":{\"StringEquals\":{\"a:x\":[\"1\",2,true]},\"Null\":{\"a:y\":\"false\"}}}]}";
        let p = parse(text, PolicyKind::Identity).unwrap();
        assert_eq!(p.version(), Version::V2012_10_17);
        let s = &p.statements()[0];
        assert_eq!((s.line, s.column), (1, 38));
        assert_eq!(s.conditions.len(), 2);
        assert_eq!(s.conditions[0].values, ["1", "2", "true"]);
        assert_eq!(s.conditions[0].key, "a:x");
        assert_eq!((s.conditions[0].line, s.conditions[0].column), (3, 30));
        assert_eq!(s.conditions[1].operator.base, BaseOperator::Null);
        assert_eq!(p.source(), text);
        assert_eq!(
            p.size_without_whitespace(),
            text.chars().filter(|c| !c.is_whitespace()).count()
        );
    }

    #[test]
    fn invalid_utf8_is_located() {
        let e = parse_bytes(b"{\n  \"Id\": \"\xff\"}", PolicyKind::Identity).unwrap_err();
        assert_eq!((e.errors[0].line, e.errors[0].column), (2, 10));
        assert!(e.errors[0].message.contains("UTF-8"));
        assert!(parse_bytes(br#"{"Statement":[]}"#, PolicyKind::Identity).is_ok());
    }

    #[test]
    fn kinds_are_guessed() {
        assert_eq!(
            guess_kind(r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#),
            Some(PolicyKind::Identity)
        );
        assert_eq!(
            guess_kind(
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}]}"#
            ),
            Some(PolicyKind::Trust)
        );
        assert_eq!(
            guess_kind(
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}"#
            ),
            Some(PolicyKind::Resource)
        );
        assert_eq!(guess_kind("[1"), None);
    }

    #[test]
    fn operator_names() {
        let op = Operator::parse("ForAnyValue:StringLikeIfExists").unwrap();
        assert_eq!(op.name(), "ForAnyValue:StringLikeIfExists");
        assert!(Operator::parse("NullIfExists").is_none());
        assert!(Operator::parse("StringEquals ").is_none());
        assert!(Operator::parse("ForAllValue:StringEquals").is_none());
        assert_eq!(
            suggest_operator("stringlike").as_deref(),
            Some("did you mean `StringLike`? operator names are case-sensitive")
        );
    }

    #[test]
    fn principal_and_action_checks() {
        assert!(check_action("*").is_ok());
        assert!(check_action("s3:Get*").is_ok());
        assert!(check_action("s3").is_err());
        assert!(check_action(":Get").is_err());
        assert!(check_principal(PrincipalKind::Aws, "123456789012").is_ok());
        assert!(check_principal(PrincipalKind::Aws, "12345678901").is_err());
        assert!(check_principal(PrincipalKind::Service, "ec2.*.com").is_err());
        assert!(check_principal(PrincipalKind::Federated, "*").is_ok());
    }
}
