//! CloudTrail-format audit records.
//!
//! Handlers fill an [`AuditNote`] as a call proceeds (core adds what only it learns: the token's
//! issuer and subject, the session, the policy engine's explanation of a denial); [`record`] turns
//! the note and the outcome into one CloudTrail-shaped JSON record.

use serde_json::{Map, Value, json};

use crate::store::AuditRow;

/// What is known about one API call, for its audit record.
#[derive(Debug, Default, Clone)]
pub struct AuditNote {
    /// `sts.amazonaws.com` or `iam.amazonaws.com`.
    pub event_source: &'static str,
    /// The action (`AssumeRoleWithWebIdentity`).
    pub event_name: String,
    /// Region the client signed for (or `us-east-1`).
    pub region: String,
    /// Client address.
    pub source_ip: String,
    /// Client `User-Agent`.
    pub user_agent: String,
    /// Request id returned to the client.
    pub request_id: String,
    /// Event time, unix seconds.
    pub time: u64,
    /// Account the call acted in.
    pub account: String,
    /// `userIdentity`, built by the handler from the caller.
    pub user_identity: Option<Value>,
    /// Request parameters safe to record (never tokens, secrets or policy text in full).
    pub request_parameters: Map<String, Value>,
    /// Response elements safe to record.
    pub response_elements: Option<Value>,
    /// Role session name, indexed for `keyless audit --session`.
    pub session_name: Option<String>,
    /// Web identity issuer.
    pub issuer: Option<String>,
    /// Web identity subject, indexed for `keyless audit --subject`.
    pub subject: Option<String>,
    /// Web identity audience.
    pub audience: Option<String>,
    /// For denials: the policy engine's trace.
    pub explanation: Option<Value>,
    /// For denials: the one-line reason.
    pub reason: Option<String>,
    /// Read-only call?
    pub read_only: bool,
}

/// Builds the CloudTrail record for a call that ended with `error` (code, message) or success.
pub fn record(note: &AuditNote, error: Option<(&str, &str)>) -> AuditRow {
    let mut r = Map::new();
    r.insert("eventVersion".into(), json!("1.08"));
    r.insert(
        "userIdentity".into(),
        note.user_identity
            .clone()
            .unwrap_or_else(|| json!({"type": "Unknown"})),
    );
    r.insert("eventTime".into(), json!(keyless_wire::iso8601(note.time)));
    r.insert("eventSource".into(), json!(note.event_source));
    r.insert("eventName".into(), json!(note.event_name));
    r.insert("awsRegion".into(), json!(note.region));
    r.insert("sourceIPAddress".into(), json!(note.source_ip));
    r.insert("userAgent".into(), json!(note.user_agent));
    if let Some((code, message)) = error {
        r.insert("errorCode".into(), json!(code));
        r.insert("errorMessage".into(), json!(message));
    }
    r.insert(
        "requestParameters".into(),
        Value::Object(note.request_parameters.clone()),
    );
    r.insert(
        "responseElements".into(),
        if error.is_some() {
            Value::Null
        } else {
            note.response_elements.clone().unwrap_or(Value::Null)
        },
    );
    let mut extra = Map::new();
    if let Some(v) = &note.issuer {
        extra.insert("identityProvider".into(), json!(v));
    }
    if let Some(v) = &note.subject {
        extra.insert("subject".into(), json!(v));
    }
    if let Some(v) = &note.audience {
        extra.insert("audience".into(), json!(v));
    }
    if let Some(v) = &note.reason {
        extra.insert("denialReason".into(), json!(v));
    }
    if let Some(v) = &note.explanation {
        extra.insert("explanation".into(), v.clone());
    }
    if !extra.is_empty() {
        r.insert("additionalEventData".into(), Value::Object(extra));
    }
    r.insert("requestID".into(), json!(note.request_id));
    r.insert("eventID".into(), json!(uuid::Uuid::new_v4().to_string()));
    r.insert("readOnly".into(), json!(note.read_only));
    r.insert("eventType".into(), json!("AwsApiCall"));
    r.insert("managementEvent".into(), json!(true));
    r.insert("recipientAccountId".into(), json!(note.account));
    r.insert("eventCategory".into(), json!("Management"));
    AuditRow {
        time: note.time,
        session_name: note.session_name.clone(),
        subject: note.subject.clone(),
        denied: error.is_some(),
        record: Value::Object(r).to_string(),
    }
}
