//! Domain errors, each already carrying the AWS error code it becomes on the wire.
//!
//! This is the one place where a domain failure is mapped to an AWS code and HTTP status: the
//! server renders [`CoreError::code`], [`CoreError::status`] and the message as an AWS error
//! document and adds nothing.

/// A refusal or failure of an STS or IAM call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// The caller may not do this (`AccessDenied`, 403).
    #[error("{0}")]
    AccessDenied(String),
    /// A parameter violates a constraint (`ValidationError`, 400).
    #[error("{0}")]
    Validation(String),
    /// A required parameter is absent (`MissingParameter`, 400).
    #[error("{0}")]
    MissingParameter(String),
    /// A parameter has a malformed value (`InvalidParameterValue`, 400).
    #[error("{0}")]
    InvalidParameterValue(String),
    /// IAM: the entity does not exist (`NoSuchEntity`, 404).
    #[error("{0}")]
    NoSuchEntity(String),
    /// IAM: the entity exists already (`EntityAlreadyExists`, 409).
    #[error("{0}")]
    EntityAlreadyExists(String),
    /// IAM: something still refers to the entity (`DeleteConflict`, 409).
    #[error("{0}")]
    DeleteConflict(String),
    /// IAM: a quota would be exceeded (`LimitExceeded`, 409).
    #[error("{0}")]
    LimitExceeded(String),
    /// IAM: bad input (`InvalidInput`, 400).
    #[error("{0}")]
    InvalidInput(String),
    /// A policy document is invalid (`MalformedPolicyDocument`, 400).
    #[error("{0}")]
    MalformedPolicyDocument(String),
    /// Session policies and tags do not fit (`PackedPolicyTooLarge`, 400).
    #[error("{0}")]
    PackedPolicyTooLarge(String),
    /// A web identity token failed verification (`InvalidIdentityToken`, 400).
    #[error("{0}")]
    InvalidIdentityToken(String),
    /// A web identity token expired (`ExpiredTokenException`, 400).
    #[error("{0}")]
    ExpiredTokenException(String),
    /// The identity provider could not be reached (`IDPCommunicationError`, 400).
    #[error("{0}")]
    IdpCommunicationError(String),
    /// The identity provider rejected a claim (`IDPRejectedClaim`, 403).
    #[error("{0}")]
    IdpRejectedClaim(String),
    /// Session credentials expired (`ExpiredToken`, 403).
    #[error("The security token included in the request is expired")]
    ExpiredToken,
    /// Unknown access key or a tampered session token (`InvalidClientTokenId`, 403).
    #[error("The security token included in the request is invalid.")]
    InvalidClientTokenId,
    /// The request signature does not match (`SignatureDoesNotMatch`, 403).
    #[error("{0}")]
    SignatureDoesNotMatch(String),
    /// A signed call without a signature (`MissingAuthenticationToken`, 403).
    #[error("{0}")]
    MissingAuthenticationToken(String),
    /// The store failed; details are logged, never sent (`ServiceFailure`/`InternalFailure`, 500).
    #[error("internal error")]
    Internal(String),
    /// The store is unreachable (`ServiceUnavailable`, 503).
    #[error("Service is unavailable; try again later")]
    Unavailable(String),
}

impl CoreError {
    /// The AWS error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::AccessDenied(_) => "AccessDenied",
            Self::Validation(_) => "ValidationError",
            Self::MissingParameter(_) => "MissingParameter",
            Self::InvalidParameterValue(_) => "InvalidParameterValue",
            Self::NoSuchEntity(_) => "NoSuchEntity",
            Self::EntityAlreadyExists(_) => "EntityAlreadyExists",
            Self::DeleteConflict(_) => "DeleteConflict",
            Self::LimitExceeded(_) => "LimitExceeded",
            Self::InvalidInput(_) => "InvalidInput",
            Self::MalformedPolicyDocument(_) => "MalformedPolicyDocument",
            Self::PackedPolicyTooLarge(_) => "PackedPolicyTooLarge",
            Self::InvalidIdentityToken(_) => "InvalidIdentityToken",
            Self::ExpiredTokenException(_) => "ExpiredTokenException",
            Self::IdpCommunicationError(_) => "IDPCommunicationError",
            Self::IdpRejectedClaim(_) => "IDPRejectedClaim",
            Self::ExpiredToken => "ExpiredToken",
            Self::InvalidClientTokenId => "InvalidClientTokenId",
            Self::SignatureDoesNotMatch(_) => "SignatureDoesNotMatch",
            Self::MissingAuthenticationToken(_) => "MissingAuthenticationToken",
            Self::Internal(_) => "InternalFailure",
            Self::Unavailable(_) => "ServiceUnavailable",
        }
    }

    /// The HTTP status AWS answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::AccessDenied(_)
            | Self::IdpRejectedClaim(_)
            | Self::ExpiredToken
            | Self::InvalidClientTokenId
            | Self::SignatureDoesNotMatch(_)
            | Self::MissingAuthenticationToken(_) => 403,
            Self::NoSuchEntity(_) => 404,
            Self::EntityAlreadyExists(_) | Self::DeleteConflict(_) | Self::LimitExceeded(_) => 409,
            Self::Internal(_) => 500,
            Self::Unavailable(_) => 503,
            _ => 400,
        }
    }

    /// The message sent to the client; internal details stay in the logs.
    pub fn public_message(&self) -> String {
        self.to_string()
    }
}

impl From<crate::store::StoreError> for CoreError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Unavailable(m) => Self::Unavailable(m),
            other => Self::Internal(other.to_string()),
        }
    }
}
