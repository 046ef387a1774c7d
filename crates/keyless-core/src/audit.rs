//! CloudTrail-format audit records.
//!
//! Handlers fill an [`AuditNote`] as a call proceeds (core adds what only it learns: the token's
//! issuer and subject, the session, the policy engine's explanation of a denial); [`record`] turns
//! the note and the outcome into one CloudTrail-shaped JSON record.

use serde::Serialize;
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

/// The CloudTrail record as serialised: borrowed from the note, so building it copies nothing
/// but the output (one record per API call is on every request's path).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Record<'a> {
    event_version: &'static str,
    user_identity: &'a Value,
    event_time: String,
    event_source: &'static str,
    event_name: &'a str,
    aws_region: &'a str,
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: &'a str,
    user_agent: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
    request_parameters: &'a Map<String, Value>,
    response_elements: Option<&'a Value>,
    #[serde(skip_serializing_if = "Extra::is_empty")]
    additional_event_data: Extra<'a>,
    #[serde(rename = "requestID")]
    request_id: &'a str,
    #[serde(rename = "eventID")]
    event_id: &'a str,
    read_only: bool,
    event_type: &'static str,
    management_event: bool,
    recipient_account_id: &'a str,
    event_category: &'static str,
}

/// keyless's own fields under `additionalEventData`.
#[derive(Serialize)]
struct Extra<'a> {
    #[serde(rename = "identityProvider", skip_serializing_if = "Option::is_none")]
    identity_provider: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    audience: Option<&'a str>,
    #[serde(rename = "denialReason", skip_serializing_if = "Option::is_none")]
    denial_reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    explanation: Option<&'a Value>,
}

impl Extra<'_> {
    fn is_empty(&self) -> bool {
        self.identity_provider.is_none()
            && self.subject.is_none()
            && self.audience.is_none()
            && self.denial_reason.is_none()
            && self.explanation.is_none()
    }
}

/// `userIdentity` of a caller nobody authenticated.
static UNKNOWN_IDENTITY: std::sync::LazyLock<Value> =
    std::sync::LazyLock::new(|| json!({"type": "Unknown"}));

/// Builds the CloudTrail record for a call that ended with `error` (code, message) or success.
pub fn record(note: &AuditNote, error: Option<(&str, &str)>) -> AuditRow {
    // From the same user-space generator as request ids: one `getrandom` system call per
    // record (the `uuid` crate's way) is measurable on the request path.
    let event_id = keyless_wire::request_id();
    let r = Record {
        event_version: "1.08",
        user_identity: note.user_identity.as_ref().unwrap_or(&UNKNOWN_IDENTITY),
        event_time: keyless_wire::iso8601(note.time),
        event_source: note.event_source,
        event_name: &note.event_name,
        aws_region: &note.region,
        source_ip_address: &note.source_ip,
        user_agent: &note.user_agent,
        error_code: error.map(|(code, _)| code),
        error_message: error.map(|(_, message)| message),
        request_parameters: &note.request_parameters,
        response_elements: if error.is_some() {
            None
        } else {
            note.response_elements.as_ref()
        },
        additional_event_data: Extra {
            identity_provider: note.issuer.as_deref(),
            subject: note.subject.as_deref(),
            audience: note.audience.as_deref(),
            denial_reason: note.reason.as_deref(),
            explanation: note.explanation.as_ref(),
        },
        request_id: &note.request_id,
        event_id: &event_id,
        read_only: note.read_only,
        event_type: "AwsApiCall",
        management_event: true,
        recipient_account_id: &note.account,
        event_category: "Management",
    };
    AuditRow {
        time: note.time,
        session_name: note.session_name.clone(),
        subject: note.subject.clone(),
        denied: error.is_some(),
        // Serialising plain strings, maps and `Value`s cannot fail; `{}` is never reached.
        record: serde_json::to_string(&r).unwrap_or_else(|_| "{}".to_owned()),
    }
}
