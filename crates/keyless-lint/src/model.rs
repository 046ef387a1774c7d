//! A tolerant view of a trust policy, built from `serde_json::Value`.
//!
//! The linter must say something useful about policies that IAM would reject (that is half of
//! its job), so this view never fails: odd shapes become empty lists or `Effect::Other`, and the
//! rules report them. Every element keeps its JSON path for locations.

use serde_json::Value;

/// `Effect` of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// `"Allow"`.
    Allow,
    /// `"Deny"`.
    Deny,
    /// Anything else (IAM rejects it; `allow` in lower case included).
    Other(String),
}

/// The principal element of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// `"*"` or `{"AWS": "*"}`: everyone.
    Everyone,
    /// `(kind, value)` pairs, e.g. `("Federated", "arn:aws:iam::1:oidc-provider/…")`.
    List(Vec<(String, String)>),
    /// No principal element.
    Missing,
}

/// Set qualifier of a condition operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    /// No qualifier.
    Single,
    /// `ForAllValues:`.
    ForAll,
    /// `ForAnyValue:`.
    ForAny,
}

/// One `operator → key → values` triple of a condition block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The operator as written, e.g. `ForAllValues:StringLikeIfExists`.
    pub operator: String,
    /// Lower-case base operator without qualifier or `IfExists`, e.g. `stringlike`.
    pub base: String,
    /// Set qualifier.
    pub set: SetOp,
    /// Whether the operator ends in `IfExists`.
    pub if_exists: bool,
    /// The key as written.
    pub key: String,
    /// The values, stringified (numbers and booleans as JSON text).
    pub values: Vec<String>,
    /// JSON path of the key inside the policy.
    pub path: String,
}

impl Condition {
    /// Whether the base operator is a negated one (NOR semantics, true when the key is absent).
    pub fn negated(&self) -> bool {
        matches!(
            self.base.as_str(),
            "stringnotequals"
                | "stringnotequalsignorecase"
                | "stringnotlike"
                | "arnnotequals"
                | "arnnotlike"
                | "numericnotequals"
                | "datenotequals"
                | "notipaddress"
        )
    }

    /// Whether the condition evaluates to true when its key is missing from the request.
    pub fn passes_when_absent(&self) -> bool {
        if self.base == "null" {
            return self.values.iter().any(|v| v.eq_ignore_ascii_case("true"));
        }
        self.if_exists || self.set == SetOp::ForAll || (self.negated() && self.set != SetOp::ForAny)
    }

    /// Whether this is a positive string test (`StringEquals`, `StringLike`,
    /// `StringEqualsIgnoreCase`, with or without qualifiers).
    pub fn positive_string(&self) -> bool {
        matches!(
            self.base.as_str(),
            "stringequals" | "stringlike" | "stringequalsignorecase"
        )
    }

    /// JSON path of value `i`.
    pub fn value_path(&self, i: usize) -> String {
        if self.values.len() == 1 {
            self.path.clone()
        } else {
            format!("{}[{i}]", self.path)
        }
    }
}

/// One statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// Position in the `Statement` list.
    pub index: usize,
    /// JSON path of the statement.
    pub path: String,
    /// `Sid`, if any.
    pub sid: Option<String>,
    /// Effect.
    pub effect: Effect,
    /// Principal (or the list under `NotPrincipal`).
    pub principal: Principal,
    /// Whether the principal came from `NotPrincipal`.
    pub not_principal: bool,
    /// Actions (or the list under `NotAction`).
    pub actions: Vec<String>,
    /// Whether the actions came from `NotAction`.
    pub not_action: bool,
    /// Conditions, flattened.
    pub conditions: Vec<Condition>,
    /// Whether a `Condition` element exists at all.
    pub has_condition_element: bool,
}

impl Statement {
    /// Federated principal values.
    pub fn federated(&self) -> impl Iterator<Item = &str> {
        let list: &[(String, String)] = match &self.principal {
            Principal::List(l) => l,
            _ => &[],
        };
        list.iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("federated"))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the statement's actions can cover `action`.
    pub fn covers_action(&self, action: &str) -> bool {
        let hit = self
            .actions
            .iter()
            .any(|a| crate::eval::wildcard_match(a, action, true));
        hit != self.not_action
    }

    /// Conditions on `key` (case-insensitive).
    pub fn on_key<'a>(&'a self, key: &str) -> impl Iterator<Item = &'a Condition> + use<'a> {
        let key = key.to_string();
        self.conditions
            .iter()
            .filter(move |c| c.key.eq_ignore_ascii_case(&key))
    }
}

/// A parsed trust policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy {
    /// Statements in document order.
    pub statements: Vec<Statement>,
}

/// Appends an object key to a JSON path, quoting it when it is not a plain identifier.
pub fn path_key(base: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !key.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        format!("{base}.{key}")
    } else {
        format!("{base}['{}']", key.replace('\'', "\\'"))
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a.iter().filter_map(scalar).collect(),
        other => scalar(other).into_iter().collect(),
    }
}

/// Splits an operator into (base lower-case, set qualifier, if-exists).
pub fn split_operator(op: &str) -> (String, SetOp, bool) {
    let lower = op.to_ascii_lowercase();
    let (set, rest) = if let Some(r) = lower.strip_prefix("forallvalues:") {
        (SetOp::ForAll, r.to_string())
    } else if let Some(r) = lower.strip_prefix("foranyvalue:") {
        (SetOp::ForAny, r.to_string())
    } else {
        (SetOp::Single, lower)
    };
    match rest.strip_suffix("ifexists") {
        Some(base) => (base.to_string(), set, true),
        None => (rest, set, false),
    }
}

impl Policy {
    /// Builds the view from a policy document value (object with `Statement`).
    pub fn from_value(doc: &Value) -> Policy {
        let stmts: Vec<(String, &Value)> = match doc.get("Statement") {
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("$.Statement[{i}]"), s))
                .collect(),
            Some(obj @ Value::Object(_)) => vec![("$.Statement".to_string(), obj)],
            _ => Vec::new(),
        };
        let statements = stmts
            .into_iter()
            .enumerate()
            .map(|(index, (path, s))| statement(index, path, s))
            .collect();
        Policy { statements }
    }
}

fn principal(v: &Value) -> Principal {
    match v {
        Value::String(s) if s == "*" => Principal::Everyone,
        Value::Object(map) => {
            let mut list = Vec::new();
            for (k, vals) in map {
                for val in strings(vals) {
                    if val == "*" && k.eq_ignore_ascii_case("aws") {
                        return Principal::Everyone;
                    }
                    list.push((k.clone(), val));
                }
            }
            Principal::List(list)
        }
        Value::String(s) => Principal::List(vec![("AWS".into(), s.clone())]),
        _ => Principal::Missing,
    }
}

fn statement(index: usize, path: String, s: &Value) -> Statement {
    let effect = match s.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        Some(other) => Effect::Other(other.to_string()),
        None => Effect::Other(String::new()),
    };
    let (principal, not_principal) = match (s.get("Principal"), s.get("NotPrincipal")) {
        (Some(p), _) => (principal(p), false),
        (None, Some(p)) => (principal(p), true),
        (None, None) => (Principal::Missing, false),
    };
    let (actions, not_action) = match (s.get("Action"), s.get("NotAction")) {
        (Some(a), _) => (strings(a), false),
        (None, Some(a)) => (strings(a), true),
        (None, None) => (Vec::new(), false),
    };
    let mut conditions = Vec::new();
    let cond_el = s.get("Condition");
    if let Some(Value::Object(ops)) = cond_el {
        let cpath = format!("{path}.Condition");
        for (op, keys) in ops {
            let (base, set, if_exists) = split_operator(op);
            let opath = path_key(&cpath, op);
            if let Value::Object(keys) = keys {
                for (key, vals) in keys {
                    conditions.push(Condition {
                        operator: op.clone(),
                        base: base.clone(),
                        set,
                        if_exists,
                        key: key.clone(),
                        values: strings(vals),
                        path: path_key(&opath, key),
                    });
                }
            }
        }
    }
    Statement {
        index,
        sid: s.get("Sid").and_then(Value::as_str).map(str::to_string),
        path,
        effect,
        principal,
        not_principal,
        actions,
        not_action,
        conditions,
        has_condition_element: cond_el
            .is_some_and(|c| c.as_object().is_some_and(|o| !o.is_empty())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_split_into_parts() {
        assert_eq!(
            split_operator("ForAllValues:StringLikeIfExists"),
            ("stringlike".into(), SetOp::ForAll, true)
        );
        assert_eq!(
            split_operator("StringEquals"),
            ("stringequals".into(), SetOp::Single, false)
        );
    }

    #[test]
    fn paths_quote_odd_keys() {
        assert_eq!(path_key("$", "Statement"), "$.Statement");
        assert_eq!(path_key("$.C", "a:sub"), "$.C['a:sub']");
    }

    #[test]
    fn single_statement_object_is_accepted() {
        let v: Value = serde_json::from_str(
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"sts:*","Condition":{"StringNotLike":{"k":["a","b"]}}}}"#,
        )
        .unwrap_or_default();
        let p = Policy::from_value(&v);
        assert_eq!(p.statements.len(), 1);
        let s = &p.statements[0];
        assert_eq!(s.principal, Principal::Everyone);
        assert!(s.conditions[0].negated());
        assert!(s.conditions[0].passes_when_absent());
        assert_eq!(
            s.conditions[0].value_path(1),
            "$.Statement.Condition.StringNotLike.k[1]"
        );
    }
}
