//! The STS calls of `keyless assume` through the real `aws-sdk-sts` crate, and the translation of
//! their failures into what the user should do.

use std::time::Duration;

use aws_sdk_sts::config::retry::RetryConfig;
use aws_sdk_sts::config::timeout::TimeoutConfig;
use aws_sdk_sts::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sts::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use super::jwt::PeekedClaims;
use super::retry::Transience;
use super::secret::Secret;

/// Temporary credentials and who they belong to.
#[derive(Debug, Clone)]
pub struct Issued {
    /// `ASIA…`.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Secret,
    /// The session token.
    pub session_token: Secret,
    /// Expiry, RFC 3339 (`2026-12-03T08:00:00Z`).
    pub expiration: String,
    /// `arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`.
    pub assumed_role_arn: String,
    /// `AROA…:SESSION`.
    pub assumed_role_id: String,
    /// The token's `sub`, as STS read it (web identity only).
    pub subject: Option<String>,
}

impl Issued {
    /// The account id, from the assumed-role ARN.
    pub fn account_id(&self) -> Option<&str> {
        self.assumed_role_arn
            .split(':')
            .nth(4)
            .filter(|a| !a.is_empty())
    }
}

/// Where and how to call STS.
#[derive(Debug, Clone)]
pub struct StsTarget {
    /// Signing region (and the default endpoint's region).
    pub region: String,
    /// Explicit endpoint, `None` for the SDK's default.
    pub endpoint: Option<String>,
}

/// What one STS call asks for.
#[derive(Debug, Clone)]
pub struct AssumeParams {
    /// Role to assume.
    pub role_arn: String,
    /// `RoleSessionName`.
    pub session_name: String,
    /// `DurationSeconds`.
    pub duration: i32,
    /// Inline session policy (JSON).
    pub policy: Option<String>,
    /// Managed session policy ARNs.
    pub policy_arns: Vec<String>,
}

/// A failed STS call, reduced to what matters for retrying and for the message.
#[derive(Debug, Clone)]
pub enum StsFailure {
    /// STS answered with an error document or an error status.
    Service {
        /// AWS error code (`AccessDenied`, …), `Unknown` when the body had none.
        code: String,
        /// AWS's message.
        message: String,
        /// HTTP status.
        status: u16,
    },
    /// No answer: connection refused, DNS, TLS, timeout.
    Network(String),
    /// Anything else (the SDK could not build the request, an unreadable response).
    Other(String),
}

impl std::fmt::Display for StsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StsFailure::Service {
                code,
                message,
                status,
            } => write!(f, "{code} (HTTP {status}): {message}"),
            StsFailure::Network(m) => write!(f, "network error: {m}"),
            StsFailure::Other(m) => f.write_str(m),
        }
    }
}

/// Throttling, IdP trouble, 5xx and network errors are transient; everything else is an answer.
pub fn classify(f: &StsFailure) -> Transience {
    match f {
        StsFailure::Service { code, status, .. } => {
            let transient_code = matches!(
                code.as_str(),
                "Throttling"
                    | "ThrottlingException"
                    | "RequestLimitExceeded"
                    | "TooManyRequestsException"
                    | "RequestThrottled"
                    | "IDPCommunicationError"
                    | "ServiceUnavailable"
                    | "InternalFailure"
                    | "InternalError"
            );
            if transient_code || *status >= 500 || *status == 429 {
                Transience::Transient
            } else {
                Transience::Permanent
            }
        }
        StsFailure::Network(_) => Transience::Transient,
        StsFailure::Other(_) => Transience::Permanent,
    }
}

fn from_sdk<E>(e: SdkError<E, aws_sdk_sts::config::http::HttpResponse>) -> StsFailure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match &e {
        SdkError::ServiceError(se) => {
            let err = se.err();
            StsFailure::Service {
                code: err.code().unwrap_or("Unknown").to_owned(),
                message: err.message().unwrap_or("").to_owned(),
                status: se.raw().status().as_u16(),
            }
        }
        SdkError::ResponseError(re) => {
            let status = re.raw().status().as_u16();
            if status >= 500 {
                StsFailure::Service {
                    code: "Unknown".into(),
                    message: "unreadable error response".into(),
                    status,
                }
            } else {
                StsFailure::Other(DisplayErrorContext(&e).to_string())
            }
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
            StsFailure::Network(DisplayErrorContext(&e).to_string())
        }
        _ => StsFailure::Other(DisplayErrorContext(&e).to_string()),
    }
}

/// An STS client for `target`: SDK retries off (ours classify better), short timeouts, and
/// `credentials` when the call must be signed (role chaining).
pub fn client(target: &StsTarget, credentials: Option<&Issued>) -> aws_sdk_sts::Client {
    let mut b = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(target.region.clone()))
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(20))
                .build(),
        );
    if let Some(ep) = &target.endpoint {
        b = b.endpoint_url(ep.clone());
    }
    if let Some(c) = credentials {
        b = b.credentials_provider(Credentials::new(
            c.access_key_id.clone(),
            c.secret_access_key.expose().to_owned(),
            Some(c.session_token.expose().to_owned()),
            None,
            "keyless-assume",
        ));
    }
    aws_sdk_sts::Client::from_conf(b.build())
}

fn issued(
    creds: Option<&aws_sdk_sts::types::Credentials>,
    user: Option<&aws_sdk_sts::types::AssumedRoleUser>,
    subject: Option<&str>,
) -> Result<Issued, StsFailure> {
    let c = creds.ok_or_else(|| StsFailure::Other("STS answered without Credentials".into()))?;
    let expiration = c
        .expiration()
        .fmt(aws_smithy_types_format())
        .map_err(|e| StsFailure::Other(format!("unprintable Expiration: {e}")))?;
    Ok(Issued {
        access_key_id: c.access_key_id().to_owned(),
        secret_access_key: Secret::new(c.secret_access_key()),
        session_token: Secret::new(c.session_token()),
        expiration,
        assumed_role_arn: user.map(|u| u.arn().to_owned()).unwrap_or_default(),
        assumed_role_id: user
            .map(|u| u.assumed_role_id().to_owned())
            .unwrap_or_default(),
        subject: subject.map(str::to_owned),
    })
}

fn aws_smithy_types_format() -> aws_sdk_sts::primitives::DateTimeFormat {
    aws_sdk_sts::primitives::DateTimeFormat::DateTime
}

/// One `AssumeRoleWithWebIdentity` attempt (unsigned, as the SDKs send it).
pub async fn assume_with_web_identity(
    client: &aws_sdk_sts::Client,
    p: &AssumeParams,
    token: &Secret,
) -> Result<Issued, StsFailure> {
    let out = client
        .assume_role_with_web_identity()
        .role_arn(&p.role_arn)
        .role_session_name(&p.session_name)
        .web_identity_token(token.expose())
        .duration_seconds(p.duration)
        .set_policy(p.policy.clone())
        .set_policy_arns(policy_arns(&p.policy_arns))
        .send()
        .await
        .map_err(from_sdk)?;
    issued(
        out.credentials(),
        out.assumed_role_user(),
        out.subject_from_web_identity_token(),
    )
}

/// One `AssumeRole` attempt, signed with the first hop's credentials (role chaining).
pub async fn assume_role(
    client: &aws_sdk_sts::Client,
    p: &AssumeParams,
) -> Result<Issued, StsFailure> {
    let out = client
        .assume_role()
        .role_arn(&p.role_arn)
        .role_session_name(&p.session_name)
        .duration_seconds(p.duration)
        .set_policy(p.policy.clone())
        .set_policy_arns(policy_arns(&p.policy_arns))
        .send()
        .await
        .map_err(from_sdk)?;
    issued(out.credentials(), out.assumed_role_user(), None)
}

fn policy_arns(arns: &[String]) -> Option<Vec<aws_sdk_sts::types::PolicyDescriptorType>> {
    if arns.is_empty() {
        return None;
    }
    Some(
        arns.iter()
            .map(|a| {
                aws_sdk_sts::types::PolicyDescriptorType::builder()
                    .arn(a)
                    .build()
            })
            .collect(),
    )
}

/// Which call failed, for the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `AssumeRoleWithWebIdentity`.
    WebIdentity,
    /// The chained `AssumeRole`.
    Chain,
}

/// Everything a failure message may name.
#[derive(Debug, Clone)]
pub struct FailureContext<'a> {
    /// Which call.
    pub step: Step,
    /// The role of that call.
    pub role_arn: &'a str,
    /// The endpoint, and the setting it came from (`None`: SDK default).
    pub endpoint: Option<(&'a str, &'a str)>,
    /// The token's claims, read unverified.
    pub claims: Option<&'a PeekedClaims>,
    /// The first hop's ARN (chaining only).
    pub first_arn: Option<&'a str>,
    /// Attempts made.
    pub attempts: u32,
    /// Current time, seconds since the epoch (for "expired N s ago").
    pub now: i64,
}

/// A failure turned into a message for the user and an exit status (1 refusal or unreachable
/// service, 2 bad input).
pub fn explain(f: &StsFailure, cx: &FailureContext<'_>) -> (String, u8) {
    let action = match cx.step {
        Step::WebIdentity => "AssumeRoleWithWebIdentity",
        Step::Chain => "AssumeRole",
    };
    let sub = cx.claims.and_then(|c| c.sub.as_deref()).unwrap_or("?");
    let aud = cx.claims.and_then(|c| c.aud.as_deref()).unwrap_or("?");
    let iss = cx
        .claims
        .and_then(|c| c.iss.as_deref())
        .unwrap_or(super::GITHUB_ISSUER);
    let iss_host = iss.trim_start_matches("https://");
    let role_name = cx.role_arn.rsplit('/').next().unwrap_or(cx.role_arn);
    let account = cx.role_arn.split(':').nth(4).unwrap_or("ACCOUNT");
    let where_ = match cx.endpoint {
        Some((url, from)) => format!("`{url}` (from {from})"),
        None => "the default AWS endpoint".to_owned(),
    };
    match f {
        StsFailure::Service { code, message, .. } => match (code.as_str(), cx.step) {
            ("AccessDenied", Step::WebIdentity) => (
                format!(
                    "refused: STS denied {action} on `{}`: {message}\n  the token's sub is `{sub}` and its aud `{aud}`\n  help: the role's trust policy admits no such subject; a job with `environment:` gets `repo:OWNER/REPO:environment:NAME`, a pull request `repo:OWNER/REPO:pull_request`, a tag `repo:OWNER/REPO:ref:refs/tags/TAG`\n  help: see which statement decides:\n    aws iam get-role --role-name {role_name} --query Role.AssumeRolePolicyDocument > trust.json\n    keyless explain --policy trust.json --action sts:AssumeRoleWithWebIdentity --principal arn:aws:iam::{account}:oidc-provider/{iss_host} --context {iss_host}:sub={sub} --context {iss_host}:aud={aud}",
                    cx.role_arn
                ),
                1,
            ),
            ("AccessDenied", Step::Chain) => (
                format!(
                    "refused: STS denied role chaining to `{}`: {message}\n  help: the chained role's trust policy must name `{}` (or its role ARN) as an `AWS` principal allowed `sts:AssumeRole`",
                    cx.role_arn,
                    cx.first_arn.unwrap_or("the first role")
                ),
                1,
            ),
            ("InvalidIdentityToken", _)
                if message.contains("audience") || message.contains("aud") =>
            {
                (
                    format!(
                        "refused: the token's audience `{aud}` is not a client id of the OIDC provider for `{iss}` (STS: {message})\n  help: ask for a registered audience with `--audience` (configure-aws-credentials uses `sts.amazonaws.com`), or register it:\n    aws iam add-client-id-to-open-id-connect-provider --open-id-connect-provider-arn arn:aws:iam::{account}:oidc-provider/{iss_host} --client-id {aud}"
                    ),
                    1,
                )
            }
            ("InvalidIdentityToken", _) if message.contains("No OpenIDConnect provider") => (
                format!(
                    "refused: account {account} has no OIDC provider for the token's issuer `{iss}` (STS: {message})\n  help: `keyless setup --repo OWNER/REPO --branch main --role-name {role_name}` creates it, or: aws iam create-open-id-connect-provider --url {iss} --client-id-list sts.amazonaws.com"
                ),
                1,
            ),
            ("InvalidIdentityToken", _) => (
                format!(
                    "refused: STS rejected the ID token: {message}\n  help: check the token's issuer `{iss}` and that it is a fresh, unmodified JWT"
                ),
                1,
            ),
            ("ExpiredTokenException", _) => {
                let ago = cx
                    .claims
                    .and_then(|c| c.exp)
                    .map(|exp| format!(" (exp {exp}, {} s ago)", cx.now - exp))
                    .unwrap_or_default();
                (
                    format!(
                        "refused: the ID token has expired{ago}: {message}\n  help: GitHub's tokens live minutes; fetch the token right before `keyless assume` (a token file must be refreshed by whatever writes it)"
                    ),
                    1,
                )
            }
            ("IDPRejectedClaim", _) => (
                format!("refused: STS rejected a claim of the token: {message}"),
                1,
            ),
            ("ValidationError", _)
            | ("MalformedPolicyDocument", _)
            | ("PackedPolicyTooLarge", _) => {
                let help = if message.contains("MaxSessionDuration") {
                    "\n  help: lower `--duration`, or raise the role's limit: aws iam update-role --role-name NAME --max-session-duration SECONDS"
                } else if message.contains("role chaining") {
                    "\n  help: AWS caps chained sessions at 3600 seconds; use `--duration 3600` or less"
                } else {
                    ""
                };
                (
                    format!(
                        "STS rejected the request to {action} `{}`: {code}: {message}{help}",
                        cx.role_arn
                    ),
                    2,
                )
            }
            _ => (
                format!(
                    "{action} on `{}` failed after {} attempt(s) at {where_}: {f}",
                    cx.role_arn, cx.attempts
                ),
                1,
            ),
        },
        StsFailure::Network(m) => (
            format!(
                "cannot reach STS at {where_} after {} attempt(s): {m}\n  help: check the endpoint URL and that the service is running (`--endpoint-url`, AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL)",
                cx.attempts
            ),
            1,
        ),
        StsFailure::Other(m) => (format!("{action} on `{}` failed: {m}", cx.role_arn), 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(code: &str, status: u16) -> StsFailure {
        StsFailure::Service {
            code: code.into(),
            message: "m".into(),
            status,
        }
    }

    #[test]
    fn only_transient_failures_are_retried() {
        assert_eq!(classify(&svc("Throttling", 400)), Transience::Transient);
        assert_eq!(
            classify(&svc("IDPCommunicationError", 400)),
            Transience::Transient
        );
        assert_eq!(classify(&svc("Unknown", 503)), Transience::Transient);
        assert_eq!(
            classify(&StsFailure::Network("refused".into())),
            Transience::Transient
        );
        assert_eq!(classify(&svc("AccessDenied", 403)), Transience::Permanent);
        assert_eq!(
            classify(&svc("InvalidIdentityToken", 400)),
            Transience::Permanent
        );
        assert_eq!(
            classify(&svc("ExpiredTokenException", 400)),
            Transience::Permanent
        );
        assert_eq!(
            classify(&svc("ValidationError", 400)),
            Transience::Permanent
        );
    }

    fn cx<'a>(claims: &'a PeekedClaims) -> FailureContext<'a> {
        FailureContext {
            step: Step::WebIdentity,
            role_arn: "arn:aws:iam::123456789012:role/deploy",
            endpoint: Some(("http://127.0.0.1:1", "--endpoint-url")),
            claims: Some(claims),
            first_arn: None,
            attempts: 1,
            now: 100,
        }
    }

    #[test]
    fn access_denied_names_sub_aud_and_explain() {
        let claims = PeekedClaims {
            iss: Some(crate::client::GITHUB_ISSUER.into()),
            sub: Some("repo:acme/app:ref:refs/heads/dev".into()),
            aud: Some("sts.amazonaws.com".into()),
            exp: Some(50),
        };
        let (msg, code) = explain(&svc("AccessDenied", 403), &cx(&claims));
        assert_eq!(code, 1);
        assert!(msg.contains("`repo:acme/app:ref:refs/heads/dev`"), "{msg}");
        assert!(msg.contains("keyless explain"));
        assert!(msg.contains("oidc-provider/token.actions.githubusercontent.com"));
        let (msg, _) = explain(&svc("ExpiredTokenException", 400), &cx(&claims));
        assert!(msg.contains("50 s ago"), "{msg}");
    }

    #[test]
    fn validation_errors_are_input_errors() {
        let claims = PeekedClaims::default();
        let (_, code) = explain(&svc("ValidationError", 400), &cx(&claims));
        assert_eq!(code, 2);
    }

    #[test]
    fn account_comes_from_the_assumed_role_arn() {
        let i = Issued {
            access_key_id: "ASIA".into(),
            secret_access_key: Secret::new("s"),
            session_token: Secret::new("t"),
            expiration: "x".into(),
            assumed_role_arn: "arn:aws:sts::123456789012:assumed-role/deploy/s".into(),
            assumed_role_id: "AROA:s".into(),
            subject: None,
        };
        assert_eq!(i.account_id(), Some("123456789012"));
    }
}
