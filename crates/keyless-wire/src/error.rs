//! AWS error documents, and the crate's one error enum with its one mapping to AWS codes.

use crate::xml::{Namespace, XmlWriter};

/// An error as AWS puts it on the wire: a code, a message and an HTTP status.
///
/// Rendered by [`AwsError::to_xml`] as AWS's awsQuery error envelope. `Type` in that envelope is
/// derived from the status (`Sender` for 4xx, `Receiver` for 5xx) so the two cannot disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// AWS error code, e.g. `ValidationError`, `AccessDenied`.
    pub code: String,
    /// Human-readable message in AWS's wording.
    pub message: String,
    /// HTTP status code of the response.
    pub status: u16,
}

impl AwsError {
    /// A new error with the given code, message and HTTP status.
    pub fn new(code: &str, message: impl Into<String>, status: u16) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
            status,
        }
    }

    /// `Sender` for client errors (status < 500), `Receiver` for server errors.
    pub fn fault_type(&self) -> &'static str {
        if self.status >= 500 {
            "Receiver"
        } else {
            "Sender"
        }
    }

    /// The error document:
    /// `<ErrorResponse xmlns="…"><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>`
    /// (`RequestId` is a sibling of `Error`, as AWS sends it).
    pub fn to_xml(&self, ns: Namespace, request_id: &str) -> String {
        let mut w = XmlWriter::new();
        let mut head = String::with_capacity(64);
        head.push_str("<ErrorResponse xmlns=\"");
        head.push_str(ns.uri());
        head.push_str("\">");
        w.open("Error");
        w.elem("Type", self.fault_type());
        w.elem("Code", &self.code);
        w.elem("Message", &self.message);
        w.close("Error");
        w.elem("RequestId", request_id);
        w.close("ErrorResponse");
        head.push_str(w.as_str());
        head
    }

    /// `AccessDenied` (403) with the given message.
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new("AccessDenied", message, 403)
    }

    /// `ValidationError` (400) with the given message (see [`validation_message`]).
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationError", message, 400)
    }

    /// `MissingParameter` (400): `The request must contain the parameter <name>`.
    pub fn missing_parameter(name: &str) -> Self {
        Self::new(
            "MissingParameter",
            format!("The request must contain the parameter {name}"),
            400,
        )
    }

    /// `InvalidAction` (400) for an unknown `Action`.
    pub fn invalid_action(action: &str) -> Self {
        Self::new(
            "InvalidAction",
            format!("The action or operation requested is invalid: {action}"),
            400,
        )
    }

    /// `InvalidAction` (400) in the wording AWS query services use when they know the version:
    /// `Could not find operation <action> for version <version>`.
    pub fn invalid_action_for_version(action: &str, version: &str) -> Self {
        Self::new(
            "InvalidAction",
            format!("Could not find operation {action} for version {version}"),
            400,
        )
    }

    /// `InvalidParameterValue` (400) with the given message.
    pub fn invalid_parameter_value(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterValue", message, 400)
    }

    /// `MissingAuthenticationToken` (403): a call that needs SigV4 came unsigned.
    pub fn missing_authentication_token() -> Self {
        Self::new(
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
            403,
        )
    }

    /// `InvalidClientTokenId` (403): unknown access key id, or a bad session token.
    pub fn invalid_client_token_id() -> Self {
        Self::new(
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
            403,
        )
    }

    /// `ExpiredToken` (403): a signed call with expired session credentials.
    pub fn expired_token() -> Self {
        Self::new(
            "ExpiredToken",
            "The security token included in the request is expired",
            403,
        )
    }

    /// `SignatureDoesNotMatch` (403) with AWS's standard message.
    pub fn signature_does_not_match() -> Self {
        Self::new("SignatureDoesNotMatch", SIGNATURE_MISMATCH_MESSAGE, 403)
    }

    /// `InternalFailure` (500). The message says nothing about the cause on purpose: internal
    /// details are logged, never sent.
    pub fn internal_failure() -> Self {
        Self::new(
            "InternalFailure",
            "The request processing has failed because of an unknown error, exception or failure.",
            500,
        )
    }

    /// `Throttling` (400): `Rate exceeded`.
    pub fn throttling() -> Self {
        Self::new("Throttling", "Rate exceeded", 400)
    }
}

/// AWS's message for a signature that does not match.
pub const SIGNATURE_MISMATCH_MESSAGE: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/// Everything that can go wrong at the wire layer: decoding a request or checking its signature.
///
/// `Display` is for logs and people; the text AWS clients see comes from [`WireError::to_aws`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The body is larger than [`crate::MAX_BODY_BYTES`].
    #[error("request body of {size} bytes is larger than the limit of {limit} bytes")]
    BodyTooLarge {
        /// Bytes received (at least; the caller may stop reading early).
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The form body or query string is not valid `application/x-www-form-urlencoded`.
    #[error("malformed query string: {0}")]
    MalformedQuery(String),
    /// The request has more than [`crate::query::MAX_PARAMETERS`] parameters.
    #[error("request has more than {limit} parameters")]
    TooManyParameters {
        /// The limit.
        limit: usize,
    },
    /// The same parameter appears twice.
    #[error("parameter `{0}` appears more than once")]
    DuplicateParameter(String),
    /// A required parameter is absent.
    #[error("missing required parameter `{0}`")]
    MissingParameter(String),
    /// A parameter that must be an integer is not one.
    #[error("parameter `{name}` has value `{value}`, which is not an integer")]
    InvalidInteger {
        /// Parameter name.
        name: String,
        /// The value sent.
        value: String,
    },
    /// A parameter that must be `true` or `false` is not.
    #[error("parameter `{name}` has value `{value}`, which is not `true` or `false`")]
    InvalidBoolean {
        /// Parameter name.
        name: String,
        /// The value sent.
        value: String,
    },
    /// A constraint on a parameter failed; the message is already in AWS's words.
    #[error("validation failed: {0}")]
    Validation(String),
    /// The SigV4 `Authorization` header or presign parameters are malformed or incomplete.
    #[error("incomplete signature: {0}")]
    IncompleteSignature(String),
    /// The signature (or the payload hash it covers) does not match.
    #[error("signature does not match")]
    SignatureMismatch,
    /// The credential scope is inconsistent with the request (date, terminator, service).
    #[error("bad credential scope: {0}")]
    BadCredentialScope(String),
    /// The request's date is more than the allowed skew before now.
    #[error("signature expired: {signed} is earlier than {earliest} (now {now} minus 15 minutes)")]
    SignatureExpired {
        /// The request's `X-Amz-Date`.
        signed: String,
        /// Earliest accepted date.
        earliest: String,
        /// Server time.
        now: String,
    },
    /// The request's date is more than the allowed skew after now.
    #[error(
        "signature not yet current: {signed} is later than {latest} (now {now} plus 15 minutes)"
    )]
    SignatureNotYetCurrent {
        /// The request's `X-Amz-Date`.
        signed: String,
        /// Latest accepted date.
        latest: String,
        /// Server time.
        now: String,
    },
    /// A presigned request is past `X-Amz-Date + X-Amz-Expires`.
    #[error("presigned request has expired")]
    PresignExpired,
    /// A string that should be an ARN is not one.
    #[error("`{arn}` is not a valid ARN: {reason}")]
    InvalidArn {
        /// The text given.
        arn: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl WireError {
    /// The AWS error for this wire error. This is the only place that maps wire errors to AWS
    /// codes and statuses.
    pub fn to_aws(&self) -> AwsError {
        match self {
            WireError::BodyTooLarge { limit, .. } => AwsError::new(
                "RequestEntityTooLarge",
                format!("Request body must be no larger than {limit} bytes"),
                413,
            ),
            WireError::MalformedQuery(detail) => AwsError::new(
                "MalformedQueryString",
                format!("The query string contains a syntax error: {detail}"),
                400,
            ),
            WireError::DuplicateParameter(name) => AwsError::new(
                "MalformedQueryString",
                format!(
                    "The query string contains a syntax error: parameter {name} appears more than once"
                ),
                400,
            ),
            WireError::TooManyParameters { limit } => AwsError::validation(format!(
                "Request has too many parameters: at most {limit} are accepted"
            )),
            WireError::MissingParameter(name) => AwsError::missing_parameter(name),
            WireError::InvalidInteger { name, value } => AwsError::invalid_parameter_value(
                format!("Value ({value}) for parameter {name} is invalid. Expected an integer."),
            ),
            WireError::InvalidBoolean { name, value } => {
                AwsError::invalid_parameter_value(format!(
                    "Value ({value}) for parameter {name} is invalid. Expected 'true' or 'false'."
                ))
            }
            WireError::Validation(message) => AwsError::validation(message.clone()),
            WireError::IncompleteSignature(message) => {
                AwsError::new("IncompleteSignature", message.clone(), 400)
            }
            WireError::SignatureMismatch => AwsError::signature_does_not_match(),
            WireError::BadCredentialScope(message) => {
                AwsError::new("SignatureDoesNotMatch", message.clone(), 403)
            }
            WireError::SignatureExpired {
                signed,
                earliest,
                now,
            } => AwsError::new(
                "SignatureDoesNotMatch",
                format!(
                    "Signature expired: {signed} is now earlier than {earliest} ({now} - 15 min.)"
                ),
                403,
            ),
            WireError::SignatureNotYetCurrent {
                signed,
                latest,
                now,
            } => AwsError::new(
                "SignatureDoesNotMatch",
                format!(
                    "Signature not yet current: {signed} is still later than {latest} ({now} + 15 min.)"
                ),
                403,
            ),
            WireError::PresignExpired => AwsError::access_denied("Request has expired"),
            // STS's wording for a malformed `RoleArn`; IAM handlers that want `InvalidInput`
            // build their own error from the variant's fields.
            WireError::InvalidArn { .. } => AwsError::validation("Request ARN is invalid"),
        }
    }
}

/// AWS's `ValidationError` message for a list of `(value, field, constraint)` failures, `field`
/// in lowerCamel form as AWS prints it:
/// `1 validation error detected: Value 'x' at 'roleSessionName' failed to satisfy constraint: …`,
/// or `N validation errors detected: <a>; <b>` for several.
pub fn validation_message(errors: &[(String, String, String)]) -> String {
    let items: Vec<(Option<&str>, &str, &str)> = errors
        .iter()
        .map(|(v, f, c)| (Some(v.as_str()), f.as_str(), c.as_str()))
        .collect();
    validation_message_nullable(&items)
}

/// Like [`validation_message`], but a `None` value prints as AWS prints an absent member:
/// `Value null at 'tags.1.member.value' failed to satisfy constraint: Member must not be null`.
pub fn validation_message_nullable(errors: &[(Option<&str>, &str, &str)]) -> String {
    let mut out = match errors.len() {
        1 => "1 validation error detected: ".to_owned(),
        n => format!("{n} validation errors detected: "),
    };
    for (i, (value, field, constraint)) in errors.iter().enumerate() {
        if i > 0 {
            out.push_str("; ");
        }
        match value {
            Some(v) => {
                out.push_str("Value '");
                out.push_str(v);
                out.push('\'');
            }
            None => out.push_str("Value null"),
        }
        out.push_str(" at '");
        out.push_str(field);
        out.push_str("' failed to satisfy constraint: ");
        out.push_str(constraint);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_document_shape() {
        let e = AwsError::new("InvalidIdentityToken", "bad <token>", 400);
        assert_eq!(
            e.to_xml(Namespace::Sts, "rid"),
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
             <Code>InvalidIdentityToken</Code><Message>bad &lt;token&gt;</Message></Error>\
             <RequestId>rid</RequestId></ErrorResponse>"
        );
        assert_eq!(AwsError::internal_failure().fault_type(), "Receiver");
        assert_eq!(AwsError::access_denied("x").fault_type(), "Sender");
    }

    #[test]
    fn validation_messages() {
        let one = validation_message(&[(
            "a b".into(),
            "roleSessionName".into(),
            "Member must satisfy regular expression pattern: [\\w+=,.@-]*".into(),
        )]);
        assert_eq!(
            one,
            "1 validation error detected: Value 'a b' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
        );
        let two = validation_message(&[
            (
                "1".into(),
                "durationSeconds".into(),
                "Member must have value greater than or equal to 900".into(),
            ),
            (
                "x".into(),
                "roleArn".into(),
                "Member must have length greater than or equal to 20".into(),
            ),
        ]);
        assert!(two.starts_with("2 validation errors detected: Value '1' at 'durationSeconds'"));
        assert!(two.contains("900; Value 'x' at 'roleArn'"));
        let null = validation_message_nullable(&[(
            None,
            "tags.1.member.value",
            "Member must not be null",
        )]);
        assert_eq!(
            null,
            "1 validation error detected: Value null at 'tags.1.member.value' failed to satisfy constraint: Member must not be null"
        );
    }

    #[test]
    fn wire_errors_map_to_aws() {
        assert_eq!(
            WireError::MissingParameter("RoleArn".into())
                .to_aws()
                .message,
            "The request must contain the parameter RoleArn"
        );
        assert_eq!(
            WireError::SignatureMismatch.to_aws().code,
            "SignatureDoesNotMatch"
        );
        assert_eq!(WireError::SignatureMismatch.to_aws().status, 403);
        let e = WireError::SignatureExpired {
            signed: "20220127T001427Z".into(),
            earliest: "20220127T014428Z".into(),
            now: "20220127T015928Z".into(),
        }
        .to_aws();
        assert_eq!(
            e.message,
            "Signature expired: 20220127T001427Z is now earlier than 20220127T014428Z (20220127T015928Z - 15 min.)"
        );
        let big = WireError::BodyTooLarge { size: 2, limit: 1 }.to_aws();
        assert!(big.status < 500);
        assert_eq!(WireError::PresignExpired.to_aws().code, "AccessDenied");
    }
}
