//! The policy document as typed data.
//!
//! Every node keeps the line and column (1-based, columns counted in characters) where it starts
//! in the source text, so that linters and explanations can point at it.

use serde::Serialize;
use std::sync::Arc;

/// Which kind of document is being parsed; decides which elements are required or forbidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyKind {
    /// An identity policy (inline or managed), also used for permissions boundaries and session
    /// policies: `Principal`/`NotPrincipal` forbidden, `Resource`/`NotResource` required.
    Identity,
    /// A resource-based policy (e.g. an S3 bucket policy): `Principal` or `NotPrincipal` and
    /// `Resource` or `NotResource` required.
    Resource,
    /// A role trust policy: `Principal` required; `NotPrincipal`, `Resource`, `NotResource`
    /// forbidden.
    Trust,
}

/// The `Version` element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Version {
    /// `2012-10-17`: the current language, with policy variables.
    #[serde(rename = "2012-10-17")]
    V2012_10_17,
    /// `2008-10-17`: the legacy language; `${…}` is literal text.
    #[serde(rename = "2008-10-17")]
    V2008_10_17,
    /// No `Version` element: AWS treats the document as legacy, so variables are literal.
    #[serde(rename = "absent")]
    Absent,
}

impl Version {
    /// Whether policy variables (`${…}`) are substituted under this version.
    pub fn supports_variables(self) -> bool {
        matches!(self, Version::V2012_10_17)
    }
}

/// `Allow` or `Deny` (case-sensitive in the source, as in IAM).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Effect {
    /// Grants the request if nothing denies it.
    Allow,
    /// Denies the request, whatever else allows it.
    Deny,
}

impl Effect {
    /// The spelling used in policy documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        }
    }
}

/// The four kinds of principal identifiers IAM knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum PrincipalKind {
    /// `AWS`: accounts, IAM users, roles, assumed-role sessions.
    #[serde(rename = "AWS")]
    Aws,
    /// `Federated`: OIDC/SAML provider ARNs or built-in web identity providers.
    Federated,
    /// `Service`: AWS service principals such as `ec2.amazonaws.com`.
    Service,
    /// `CanonicalUser`: S3 canonical user ids.
    CanonicalUser,
}

impl PrincipalKind {
    /// The spelling used as a key in a `Principal` map.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::Aws => "AWS",
            PrincipalKind::Federated => "Federated",
            PrincipalKind::Service => "Service",
            PrincipalKind::CanonicalUser => "CanonicalUser",
        }
    }

    pub(crate) fn from_key(key: &str) -> Option<Self> {
        match key {
            "AWS" => Some(PrincipalKind::Aws),
            "Federated" => Some(PrincipalKind::Federated),
            "Service" => Some(PrincipalKind::Service),
            "CanonicalUser" => Some(PrincipalKind::CanonicalUser),
            _ => None,
        }
    }
}

/// One identifier of the requesting principal, e.g. `(Federated, arn:aws:iam::1:oidc-provider/…)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct PrincipalId {
    /// Which namespace the value lives in.
    pub kind: PrincipalKind,
    /// The identifier (ARN, account id, service name, canonical user id).
    pub value: String,
}

impl PrincipalId {
    /// Builds an identifier.
    pub fn new(kind: PrincipalKind, value: impl Into<String>) -> Self {
        PrincipalId {
            kind,
            value: value.into(),
        }
    }
}

/// The value of a `Principal` or `NotPrincipal` element.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalSpec {
    /// `"*"`: everyone, including anonymous callers.
    Any,
    /// A map from principal kind to values, in source order. `"AWS": "123456789012"` is kept as
    /// written here; matching normalises it to `arn:aws:iam::123456789012:root`.
    Map(Vec<PrincipalEntry>),
}

/// One `kind: values` entry of a `Principal` map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrincipalEntry {
    /// The key (`AWS`, `Federated`, `Service`, `CanonicalUser`).
    pub kind: PrincipalKind,
    /// The values, a single string being a one-element list.
    pub values: Vec<String>,
    /// Line of the key.
    pub line: u32,
    /// Column of the key.
    pub column: u32,
}

/// A set qualifier for multi-valued condition keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Qualifier {
    /// `ForAllValues:`: every request value must match; true when the key is absent or empty.
    ForAllValues,
    /// `ForAnyValue:`: at least one request value must match; false when absent or empty.
    ForAnyValue,
}

/// The condition operators IAM defines, without qualifier or `IfExists` suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[allow(missing_docs)] // the variant names are AWS's operator names
pub enum BaseOperator {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Null,
}

impl BaseOperator {
    /// Every operator, for lookups and tests.
    pub const ALL: [BaseOperator; 27] = [
        BaseOperator::StringEquals,
        BaseOperator::StringNotEquals,
        BaseOperator::StringEqualsIgnoreCase,
        BaseOperator::StringNotEqualsIgnoreCase,
        BaseOperator::StringLike,
        BaseOperator::StringNotLike,
        BaseOperator::NumericEquals,
        BaseOperator::NumericNotEquals,
        BaseOperator::NumericLessThan,
        BaseOperator::NumericLessThanEquals,
        BaseOperator::NumericGreaterThan,
        BaseOperator::NumericGreaterThanEquals,
        BaseOperator::DateEquals,
        BaseOperator::DateNotEquals,
        BaseOperator::DateLessThan,
        BaseOperator::DateLessThanEquals,
        BaseOperator::DateGreaterThan,
        BaseOperator::DateGreaterThanEquals,
        BaseOperator::Bool,
        BaseOperator::BinaryEquals,
        BaseOperator::IpAddress,
        BaseOperator::NotIpAddress,
        BaseOperator::ArnEquals,
        BaseOperator::ArnLike,
        BaseOperator::ArnNotEquals,
        BaseOperator::ArnNotLike,
        BaseOperator::Null,
    ];

    /// AWS's name of the operator.
    pub fn as_str(self) -> &'static str {
        match self {
            BaseOperator::StringEquals => "StringEquals",
            BaseOperator::StringNotEquals => "StringNotEquals",
            BaseOperator::StringEqualsIgnoreCase => "StringEqualsIgnoreCase",
            BaseOperator::StringNotEqualsIgnoreCase => "StringNotEqualsIgnoreCase",
            BaseOperator::StringLike => "StringLike",
            BaseOperator::StringNotLike => "StringNotLike",
            BaseOperator::NumericEquals => "NumericEquals",
            BaseOperator::NumericNotEquals => "NumericNotEquals",
            BaseOperator::NumericLessThan => "NumericLessThan",
            BaseOperator::NumericLessThanEquals => "NumericLessThanEquals",
            BaseOperator::NumericGreaterThan => "NumericGreaterThan",
            BaseOperator::NumericGreaterThanEquals => "NumericGreaterThanEquals",
            BaseOperator::DateEquals => "DateEquals",
            BaseOperator::DateNotEquals => "DateNotEquals",
            BaseOperator::DateLessThan => "DateLessThan",
            BaseOperator::DateLessThanEquals => "DateLessThanEquals",
            BaseOperator::DateGreaterThan => "DateGreaterThan",
            BaseOperator::DateGreaterThanEquals => "DateGreaterThanEquals",
            BaseOperator::Bool => "Bool",
            BaseOperator::BinaryEquals => "BinaryEquals",
            BaseOperator::IpAddress => "IpAddress",
            BaseOperator::NotIpAddress => "NotIpAddress",
            BaseOperator::ArnEquals => "ArnEquals",
            BaseOperator::ArnLike => "ArnLike",
            BaseOperator::ArnNotEquals => "ArnNotEquals",
            BaseOperator::ArnNotLike => "ArnNotLike",
            BaseOperator::Null => "Null",
        }
    }

    /// Negated operators hold when the request value matches *none* of the policy values, and
    /// hold when the key is absent.
    pub fn is_negated(self) -> bool {
        matches!(
            self,
            BaseOperator::StringNotEquals
                | BaseOperator::StringNotEqualsIgnoreCase
                | BaseOperator::StringNotLike
                | BaseOperator::NumericNotEquals
                | BaseOperator::DateNotEquals
                | BaseOperator::NotIpAddress
                | BaseOperator::ArnNotEquals
                | BaseOperator::ArnNotLike
        )
    }

    /// Whether `${…}` policy variables are substituted in this operator's values.
    pub fn supports_variables(self) -> bool {
        matches!(
            self,
            BaseOperator::StringEquals
                | BaseOperator::StringNotEquals
                | BaseOperator::StringEqualsIgnoreCase
                | BaseOperator::StringNotEqualsIgnoreCase
                | BaseOperator::StringLike
                | BaseOperator::StringNotLike
                | BaseOperator::ArnEquals
                | BaseOperator::ArnLike
                | BaseOperator::ArnNotEquals
                | BaseOperator::ArnNotLike
                | BaseOperator::Bool
        )
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        BaseOperator::ALL.into_iter().find(|op| op.as_str() == name)
    }
}

/// A full condition operator: optional set qualifier, base operator, optional `IfExists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Operator {
    /// `ForAllValues:` / `ForAnyValue:`, if written.
    pub qualifier: Option<Qualifier>,
    /// The operator proper.
    pub base: BaseOperator,
    /// Whether the `IfExists` suffix was written (never for `Null`).
    pub if_exists: bool,
}

impl Operator {
    /// Parses an operator name as written in a policy, e.g. `ForAnyValue:StringLikeIfExists`.
    /// Names are case-sensitive.
    pub fn parse(name: &str) -> Option<Operator> {
        let (qualifier, rest) = if let Some(rest) = name.strip_prefix("ForAllValues:") {
            (Some(Qualifier::ForAllValues), rest)
        } else if let Some(rest) = name.strip_prefix("ForAnyValue:") {
            (Some(Qualifier::ForAnyValue), rest)
        } else {
            (None, name)
        };
        if let Some(base) = BaseOperator::from_name(rest) {
            return Some(Operator {
                qualifier,
                base,
                if_exists: false,
            });
        }
        let stem = rest.strip_suffix("IfExists")?;
        let base = BaseOperator::from_name(stem)?;
        if base == BaseOperator::Null {
            return None;
        }
        Some(Operator {
            qualifier,
            base,
            if_exists: true,
        })
    }

    /// The name as AWS spells it.
    pub fn name(&self) -> String {
        let mut out = String::new();
        match self.qualifier {
            Some(Qualifier::ForAllValues) => out.push_str("ForAllValues:"),
            Some(Qualifier::ForAnyValue) => out.push_str("ForAnyValue:"),
            None => {}
        }
        out.push_str(self.base.as_str());
        if self.if_exists {
            out.push_str("IfExists");
        }
        out
    }
}

impl std::fmt::Display for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// One `operator → key → values` test of a `Condition` element.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Condition {
    /// The operator.
    pub operator: Operator,
    /// The condition key as written (matching is case-insensitive).
    pub key: String,
    /// The policy values (OR'ed; NOR'ed for negated operators). Unquoted numbers and booleans are
    /// kept as their JSON text.
    pub values: Vec<String>,
    /// Line of the key.
    pub line: u32,
    /// Column of the key.
    pub column: u32,
}

/// One statement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Statement {
    /// `Sid`, if any.
    pub sid: Option<String>,
    /// `Effect`.
    pub effect: Effect,
    /// `Principal`, if any.
    pub principal: Option<PrincipalSpec>,
    /// `NotPrincipal`, if any.
    pub not_principal: Option<PrincipalSpec>,
    /// `Action` values (`None` when the statement uses `NotAction`).
    pub action: Option<Vec<String>>,
    /// `NotAction` values.
    pub not_action: Option<Vec<String>>,
    /// `Resource` values (`None` when absent, as in trust policies).
    pub resource: Option<Vec<String>>,
    /// `NotResource` values.
    pub not_resource: Option<Vec<String>>,
    /// Flattened `Condition` element, in source order; all must hold.
    pub conditions: Vec<Condition>,
    /// Line where the statement object starts.
    pub line: u32,
    /// Column where the statement object starts.
    pub column: u32,
    /// Line where the statement object ends (its `}`).
    pub end_line: u32,
    /// Column where the statement object ends.
    pub end_column: u32,
}

/// A parsed and validated policy document.
///
/// Cloning is cheap (the data is shared), so evaluation traces can keep the policies they
/// explain without copying them.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub(crate) inner: Arc<PolicyData>,
}

#[derive(Debug, PartialEq, Serialize)]
pub(crate) struct PolicyData {
    pub(crate) kind: PolicyKind,
    pub(crate) version: Version,
    pub(crate) id: Option<String>,
    pub(crate) statements: Vec<Statement>,
    #[serde(skip)]
    pub(crate) source: String,
    pub(crate) size_without_whitespace: usize,
}

impl Serialize for Policy {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.inner.serialize(serializer)
    }
}

impl Policy {
    /// The statements in document order.
    pub fn statements(&self) -> &[Statement] {
        &self.inner.statements
    }

    /// The `Version` element.
    pub fn version(&self) -> Version {
        self.inner.version
    }

    /// The `Id` element.
    pub fn id(&self) -> Option<&str> {
        self.inner.id.as_deref()
    }

    /// The kind the document was validated as.
    pub fn kind(&self) -> PolicyKind {
        self.inner.kind
    }

    /// The text the policy was parsed from, unchanged (IAM returns documents as submitted).
    pub fn source(&self) -> &str {
        &self.inner.source
    }

    /// The size IAM's quotas count: the number of characters that are not whitespace (AWS says
    /// whitespace does not count; we also skip whitespace inside strings, the lenient reading).
    pub fn size_without_whitespace(&self) -> usize {
        self.inner.size_without_whitespace
    }
}
