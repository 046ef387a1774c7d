//! Errors of this crate.
//!
//! [`VerifyError`] is what token verification returns: its `Display` is the message AWS STS gives
//! for the same failure (reference §2.3), followed, where AWS says nothing useful, by which check
//! failed; [`VerifyError::sts_code`] is the STS error code. That mapping lives here and nowhere
//! else. [`OidcError`] covers everything else (parsing documents, keys, issuing tokens).

/// The message STS gives when the token is not a JWT at all.
pub const NOT_A_JWT: &str = "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)";

/// The message STS gives when it cannot find or use a verification key (two spaces after the
/// comma are AWS's).
pub const NO_VERIFICATION_KEY: &str = "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements";

/// Longest piece of token-supplied text quoted in an error message.
const MAX_QUOTED_CHARS: usize = 96;

/// Token-supplied text as it may appear in a message: at most [`MAX_QUOTED_CHARS`] characters
/// (then `…`), control characters shown as `?`, so a hostile token cannot blow up responses
/// and logs or forge log lines.
pub(crate) fn clip(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(MAX_QUOTED_CHARS)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().nth(MAX_QUOTED_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// Why a web identity token was refused.
///
/// `Display` starts with the AWS message text (see [`VerifyError::aws_message`]) so clients that
/// match on it keep working; a detail in parentheses says which check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The token is longer than [`crate::MAX_TOKEN_LEN`]; refused before any parsing.
    #[error(
        "1 validation error detected: Value at 'webIdentityToken' failed to satisfy constraint: Member must have length less than or equal to 20000"
    )]
    TooLong {
        /// Length of the token in bytes.
        len: usize,
    },
    /// The token is not a compact JWS with a JSON header and claims.
    #[error("{NOT_A_JWT} ({detail})")]
    Malformed {
        /// Which structural check failed.
        detail: String,
    },
    /// The header names an algorithm outside the allow-list (`none`, `HS256`, …).
    #[error(
        "{NOT_A_JWT} (signing algorithm `{alg}` is not allowed; allowed: RS256 RS384 RS512 ES256 ES384 ES512)"
    )]
    UnsupportedAlgorithm {
        /// The `alg` header value.
        alg: String,
    },
    /// The header tries to bring its own key (`jwk`, `jku`, `x5u`, `x5c`).
    #[error(
        "{NOT_A_JWT} (header parameter `{name}` is not allowed: keys come only from the issuer's JWKS)"
    )]
    ForbiddenHeader {
        /// The offending header parameter.
        name: String,
    },
    /// The header lists a `crit` extension we do not understand.
    #[error("{NOT_A_JWT} (critical header parameter `{name}` is not supported)")]
    UnsupportedCritical {
        /// The unknown critical parameter (or a description of a malformed `crit`).
        name: String,
    },
    /// No IAM OIDC provider matches the token's `iss` (also used when `iss` differs from the
    /// expected provider URL: STS compares them as exact strings).
    #[error("No OpenIDConnect provider found in your account for {issuer}")]
    NoProvider {
        /// The token's `iss`.
        issuer: String,
    },
    /// A required claim is absent.
    #[error("Missing a required claim: {claim}")]
    MissingClaim {
        /// Claim name.
        claim: String,
    },
    /// A claim has the wrong type or an impossible value (e.g. a fractional `exp`).
    #[error("{NOT_A_JWT} (claim `{claim}` {detail})")]
    InvalidClaim {
        /// Claim name.
        claim: String,
        /// What is wrong with it.
        detail: String,
    },
    /// None of the token's audiences is a client id of the provider.
    #[error("Incorrect token audience")]
    IncorrectAudience,
    /// No key in the issuer's JWKS can verify this token (unknown `kid`, no `kid` with several
    /// keys, key type or `alg` incompatible with the header). The caller may refetch the JWKS
    /// once (rate-limited) and retry: see [`VerifyError::is_key_not_found`].
    #[error("{NO_VERIFICATION_KEY} ({detail})")]
    KeyNotFound {
        /// Why no key was selected.
        detail: String,
    },
    /// A key was selected but the signature does not verify with it.
    #[error("{NOT_A_JWT} (the signature does not verify with the issuer's key `{kid}`)")]
    BadSignature {
        /// The `kid` of the key that was tried (`-` when the key has none).
        kid: String,
    },
    /// `exp` is in the past (beyond the leeway).
    #[error("Token expired: current date/time {now} must be before the expiration date/time{exp}")]
    Expired {
        /// Verification time (unix seconds).
        now: u64,
        /// The token's `exp`.
        exp: u64,
    },
    /// `nbf` is in the future (beyond the leeway).
    #[error(
        "{NOT_A_JWT} (token is not valid yet: current date/time {now} is before the not-before date/time {nbf})"
    )]
    NotYetValid {
        /// Verification time (unix seconds).
        now: u64,
        /// The token's `nbf`.
        nbf: u64,
    },
    /// `iat` is in the future (beyond the leeway).
    #[error(
        "{NOT_A_JWT} (token is issued in the future: issued-at date/time {iat} is after current date/time {now})"
    )]
    IssuedInFuture {
        /// Verification time (unix seconds).
        now: u64,
        /// The token's `iat`.
        iat: u64,
    },
    /// The issuer's discovery document or JWKS could not be fetched and no cached keys within
    /// the staleness bound are left. Built by the fetching caller.
    #[error("{NO_VERIFICATION_KEY} (identity provider {issuer} is unreachable: {detail})")]
    IdpCommunication {
        /// The issuer that could not be reached.
        issuer: String,
        /// What failed (timeout, status, oversize response, …).
        detail: String,
    },
    /// The identity provider's documents were fetched but are unusable (bad discovery document,
    /// bad JWKS). Built by the fetching caller from an [`OidcError`].
    #[error("{NO_VERIFICATION_KEY} ({detail})")]
    IdpDocument {
        /// What was wrong with the documents.
        detail: String,
    },
}

impl VerifyError {
    /// The STS error code for this failure (the one place where the mapping is decided).
    ///
    /// `ExpiredTokenException` for an expired token, `IDPCommunicationError` when the issuer is
    /// unreachable, `ValidationError` for a token over 20000 characters (STS refuses it at
    /// parameter validation), `InvalidIdentityToken` for everything else.
    pub fn sts_code(&self) -> &'static str {
        match self {
            Self::TooLong { .. } => "ValidationError",
            Self::Expired { .. } => "ExpiredTokenException",
            Self::IdpCommunication { .. } => "IDPCommunicationError",
            Self::Malformed { .. }
            | Self::UnsupportedAlgorithm { .. }
            | Self::ForbiddenHeader { .. }
            | Self::UnsupportedCritical { .. }
            | Self::NoProvider { .. }
            | Self::MissingClaim { .. }
            | Self::InvalidClaim { .. }
            | Self::IncorrectAudience
            | Self::KeyNotFound { .. }
            | Self::BadSignature { .. }
            | Self::NotYetValid { .. }
            | Self::IssuedInFuture { .. }
            | Self::IdpDocument { .. } => "InvalidIdentityToken",
        }
    }

    /// The HTTP status STS uses with [`Self::sts_code`] (all of these are 400).
    pub fn http_status(&self) -> u16 {
        400
    }

    /// The message text alone, as AWS words it, without our detail.
    pub fn aws_message(&self) -> String {
        match self {
            Self::TooLong { .. }
            | Self::NoProvider { .. }
            | Self::MissingClaim { .. }
            | Self::IncorrectAudience
            | Self::Expired { .. } => self.to_string(),
            Self::KeyNotFound { .. } | Self::IdpCommunication { .. } | Self::IdpDocument { .. } => {
                NO_VERIFICATION_KEY.to_owned()
            }
            Self::Malformed { .. }
            | Self::UnsupportedAlgorithm { .. }
            | Self::ForbiddenHeader { .. }
            | Self::UnsupportedCritical { .. }
            | Self::InvalidClaim { .. }
            | Self::BadSignature { .. }
            | Self::NotYetValid { .. }
            | Self::IssuedInFuture { .. } => NOT_A_JWT.to_owned(),
        }
    }

    /// True when no key of the current key set could be selected: the caller should refetch the
    /// JWKS (if [`crate::JwksCache::may_refetch`] allows) and verify again.
    pub fn is_key_not_found(&self) -> bool {
        matches!(self, Self::KeyNotFound { .. })
    }

    pub(crate) fn malformed(detail: impl Into<String>) -> Self {
        Self::Malformed {
            detail: detail.into(),
        }
    }

    pub(crate) fn invalid_claim(claim: &str, detail: impl Into<String>) -> Self {
        Self::InvalidClaim {
            claim: claim.to_owned(),
            detail: detail.into(),
        }
    }
}

/// Errors from parsing issuer documents, handling keys and issuing tokens.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OidcError {
    /// A fetched document is larger than [`crate::MAX_DOCUMENT_BYTES`].
    #[error("document is {len} bytes, more than the {max} byte limit")]
    DocumentTooLarge {
        /// Size of the document.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The discovery document is unusable.
    #[error("invalid OpenID discovery document: {detail}")]
    InvalidDiscovery {
        /// What is wrong.
        detail: String,
    },
    /// The discovery document names another issuer than the one we asked about.
    #[error("discovery document issuer `{found}` does not match the expected issuer `{expected}`")]
    IssuerMismatch {
        /// Issuer we fetched the document for.
        expected: String,
        /// `issuer` member of the document.
        found: String,
    },
    /// The JWKS document is unusable.
    #[error("invalid JWKS document: {detail}")]
    InvalidJwks {
        /// What is wrong.
        detail: String,
    },
    /// A private key could not be generated, parsed or used.
    #[error("signing key error: {detail}")]
    SigningKey {
        /// What failed.
        detail: String,
    },
    /// The job context cannot produce a token (bad repository name, bad subject template, a
    /// template key without a value, …).
    #[error("invalid job context: {detail}")]
    InvalidContext {
        /// What is wrong, with the offending value.
        detail: String,
    },
    /// The runner request token is malformed or was altered or signed with another key.
    #[error("invalid request token: {detail}")]
    InvalidRequestToken {
        /// What failed.
        detail: String,
    },
    /// The runner request token has expired.
    #[error("request token expired at {expired_at} (now {now})")]
    RequestTokenExpired {
        /// Expiry of the token (unix seconds).
        expired_at: u64,
        /// Verification time.
        now: u64,
    },
}

impl OidcError {
    pub(crate) fn context(detail: impl Into<String>) -> Self {
        Self::InvalidContext {
            detail: detail.into(),
        }
    }

    pub(crate) fn jwks(detail: impl Into<String>) -> Self {
        Self::InvalidJwks {
            detail: detail.into(),
        }
    }

    pub(crate) fn discovery(detail: impl Into<String>) -> Self {
        Self::InvalidDiscovery {
            detail: detail.into(),
        }
    }

    pub(crate) fn key(detail: impl Into<String>) -> Self {
        Self::SigningKey {
            detail: detail.into(),
        }
    }

    pub(crate) fn request_token(detail: impl Into<String>) -> Self {
        Self::InvalidRequestToken {
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_bounds_and_defangs_quoted_text() {
        assert_eq!(clip("RS256"), "RS256");
        assert_eq!(clip("a\nb\u{7}"), "a?b?");
        let long = "x".repeat(1000);
        assert_eq!(clip(&long).chars().count(), MAX_QUOTED_CHARS + 1);
        assert!(clip(&long).ends_with('…'));
        assert_eq!(
            clip(&"é".repeat(MAX_QUOTED_CHARS)),
            "é".repeat(MAX_QUOTED_CHARS)
        );
    }
}
