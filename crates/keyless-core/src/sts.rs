//! STS: `AssumeRoleWithWebIdentity`, `AssumeRole` (role chaining), `GetCallerIdentity`, and the
//! authentication of signed calls.
//!
//! The checks run in the order AWS runs them (AWS reference §2.3), so a request with several
//! problems gets the error AWS would give first.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use keyless_oidc::{Expectations, KeySet, VerifiedToken};
use keyless_policy::{
    Context, Decision, Named, PolicyKind, PolicySet, PrincipalId, PrincipalKind, Request,
};
use serde_json::{Value, json};

use crate::audit::AuditNote;
use crate::clock::Clock;
use crate::error::CoreError;
use crate::iam::{Iam, parse_policy, parse_role_arn};
use crate::keys::SealingKeys;
use crate::model::is_account_id;
use crate::principal::{Caller, session_arn};
use crate::seal::Session;

/// A boxed future, so [`KeySource`] stays object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where verification keys for an issuer come from: the server's own dev issuer, or the
/// issuer's discovery document and JWKS fetched over HTTPS (with a cache).
pub trait KeySource: Send + Sync {
    /// The key set for `issuer`; `kid` is the token's key id, so a source can refetch when it
    /// does not know it.
    fn keys<'a>(
        &'a self,
        issuer: &'a str,
        kid: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Arc<KeySet>, CoreError>>;
}

/// Settings of the STS service.
#[derive(Debug, Clone)]
pub struct StsConfig {
    /// Account whose root the dev key pair is.
    pub default_account: String,
    /// Dev root access key id (`test`).
    pub root_access_key: String,
    /// Dev root secret (`test`); also the secret of 12-digit account keys.
    pub root_secret: String,
    /// Append the one-line reason to `AccessDenied` messages (off with `--opaque-errors`).
    pub explain_denials: bool,
    /// Clock-skew leeway for token times, seconds.
    pub token_leeway: u64,
}

impl Default for StsConfig {
    fn default() -> Self {
        Self {
            default_account: crate::model::DEFAULT_ACCOUNT.into(),
            root_access_key: "test".into(),
            root_secret: "test".into(),
            explain_denials: true,
            token_leeway: keyless_oidc::DEFAULT_LEEWAY,
        }
    }
}

/// Facts about the HTTP request that become global condition keys.
#[derive(Debug, Clone, Default)]
pub struct RequestInfo {
    /// `aws:SourceIp`.
    pub source_ip: String,
    /// `aws:UserAgent`.
    pub user_agent: String,
    /// `aws:RequestedRegion`.
    pub region: String,
    /// `aws:SecureTransport`.
    pub secure_transport: bool,
}

/// Temporary credentials. `Debug` leaves the secret and the session token out.
#[derive(Clone)]
pub struct Credentials {
    /// `ASIA…`.
    pub access_key_id: String,
    /// 40 characters.
    pub secret_access_key: String,
    /// The sealed session.
    pub session_token: String,
    /// Expiry, unix seconds.
    pub expiration: u64,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"[redacted]")
            .field("session_token", &"[redacted]")
            .field("expiration", &self.expiration)
            .finish()
    }
}

/// The result of an assume call.
#[derive(Debug, Clone)]
pub struct Assumed {
    /// The credentials.
    pub credentials: Credentials,
    /// `ROLEID:SESSION`.
    pub assumed_role_id: String,
    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
    pub arn: String,
    /// `PackedPolicySize` when session policies or tags were passed.
    pub packed_policy_size: Option<u32>,
    /// Web identity only: token `sub`.
    pub subject: Option<String>,
    /// Web identity only: the provider ARN.
    pub provider: Option<String>,
    /// Web identity only: the matched audience.
    pub audience: Option<String>,
    /// Source identity, if set.
    pub source_identity: Option<String>,
}

/// Inputs of `AssumeRoleWithWebIdentity`. `Debug` leaves the token out.
#[derive(Clone, Default)]
pub struct WebIdentityInput {
    /// RoleArn.
    pub role_arn: String,
    /// RoleSessionName.
    pub session_name: String,
    /// WebIdentityToken.
    pub token: String,
    /// DurationSeconds.
    pub duration: Option<i64>,
    /// Policy.
    pub policy: Option<String>,
    /// PolicyArns.
    pub policy_arns: Vec<String>,
}

impl std::fmt::Debug for WebIdentityInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebIdentityInput")
            .field("role_arn", &self.role_arn)
            .field("session_name", &self.session_name)
            .field("token", &"[redacted]")
            .field("duration", &self.duration)
            .finish_non_exhaustive()
    }
}

/// Inputs of `AssumeRole`.
#[derive(Debug, Clone, Default)]
pub struct AssumeRoleInput {
    /// RoleArn.
    pub role_arn: String,
    /// RoleSessionName.
    pub session_name: String,
    /// DurationSeconds.
    pub duration: Option<i64>,
    /// Policy.
    pub policy: Option<String>,
    /// PolicyArns.
    pub policy_arns: Vec<String>,
    /// Tags.
    pub tags: Vec<(String, String)>,
    /// TransitiveTagKeys.
    pub transitive_tag_keys: Vec<String>,
    /// ExternalId.
    pub external_id: Option<String>,
    /// SourceIdentity.
    pub source_identity: Option<String>,
}

/// The STS service.
pub struct Sts {
    iam: Arc<Iam>,
    sealing: Arc<SealingKeys>,
    keys: Arc<dyn KeySource>,
    clock: Arc<dyn Clock>,
    config: StsConfig,
}

impl std::fmt::Debug for Sts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sts")
    }
}

const WEB_IDENTITY_DENIED: &str = "Not authorized to perform sts:AssumeRoleWithWebIdentity";
const TAGS_CLAIM: &str = "https://aws.amazon.com/tags";
const SOURCE_IDENTITY_CLAIM: &str = "https://aws.amazon.com/source_identity";
/// GitHub claims STS exposes as condition keys (AWS reference §6.2).
pub const GITHUB_CLAIM_KEYS: &[&str] = &[
    "actor",
    "actor_id",
    "enterprise_id",
    "environment",
    "job_workflow_ref",
    "ref",
    "repository",
    "repository_id",
    "repository_owner_id",
    "workflow",
];
/// The packed-policy budget we measure `PackedPolicySize` against (AWS does not publish its
/// packing; this keeps the 2048-character inline policy plus tags inside 100%).
const PACKED_BUDGET: usize = 2048 + 50 * 64;

impl Sts {
    /// Wires the service.
    pub fn new(
        iam: Arc<Iam>,
        sealing: Arc<SealingKeys>,
        keys: Arc<dyn KeySource>,
        clock: Arc<dyn Clock>,
        config: StsConfig,
    ) -> Self {
        Self {
            iam,
            sealing,
            keys,
            clock,
            config,
        }
    }

    /// The settings.
    pub fn config(&self) -> &StsConfig {
        &self.config
    }

    /// The IAM service behind it.
    pub fn iam(&self) -> &Arc<Iam> {
        &self.iam
    }

    /// The secret for `access_key_id` and who it belongs to; for `ASIA` keys the session token
    /// is opened and checked (expiry → `ExpiredToken`, anything else → `InvalidClientTokenId`);
    /// other keys must come without one.
    pub fn authenticate(
        &self,
        access_key_id: &str,
        security_token: Option<&str>,
    ) -> Result<(Caller, String), CoreError> {
        if access_key_id.starts_with("ASIA") {
            let token = security_token.ok_or(CoreError::InvalidClientTokenId)?;
            let session = self
                .sealing
                .open(token)
                .map_err(|_| CoreError::InvalidClientTokenId)?;
            if !constant_time_eq(session.access_key_id.as_bytes(), access_key_id.as_bytes()) {
                return Err(CoreError::InvalidClientTokenId);
            }
            if self.clock.now() >= session.expires {
                return Err(CoreError::ExpiredToken);
            }
            let secret = session.secret_access_key.clone();
            return Ok((Caller::Session(Box::new(session)), secret));
        }
        // A long-term key signs without a session token. AWS refuses one that carries a token
        // (typically a stale AWS_SESSION_TOKEN left beside user keys), and so does keyless.
        if security_token.is_some() {
            return Err(CoreError::InvalidClientTokenId);
        }
        if access_key_id == self.config.root_access_key {
            return Ok((
                Caller::Root {
                    account: self.config.default_account.clone(),
                },
                self.config.root_secret.clone(),
            ));
        }
        if is_account_id(access_key_id) {
            return Ok((
                Caller::Root {
                    account: access_key_id.to_owned(),
                },
                self.config.root_secret.clone(),
            ));
        }
        Err(CoreError::InvalidClientTokenId)
    }

    /// `AssumeRoleWithWebIdentity`.
    pub async fn assume_role_with_web_identity(
        &self,
        input: WebIdentityInput,
        info: &RequestInfo,
        note: &mut AuditNote,
    ) -> Result<Assumed, CoreError> {
        let now = self.clock.now();
        note_request(note, &input.role_arn, &input.session_name, input.duration);
        // 1. Parameters.
        validate_common(
            &input.role_arn,
            &input.session_name,
            input.duration,
            input.policy.as_deref(),
            &input.policy_arns,
        )?;
        if input.token.len() < 4 || input.token.len() > keyless_oidc::MAX_TOKEN_LEN {
            return Err(CoreError::Validation(keyless_wire::validation_message(&[
                (
                    "(sensitive)".into(),
                    "webIdentityToken".into(),
                    if input.token.len() < 4 {
                        "Member must have length greater than or equal to 4".into()
                    } else {
                        "Member must have length less than or equal to 20000".into()
                    },
                ),
            ])));
        }
        let (account, _) = parse_role_arn(&input.role_arn)
            .ok_or_else(|| CoreError::Validation("Request ARN is invalid".into()))?;
        note.account = account.to_owned();
        // 2. A JWT at all, and whose.
        let unverified = keyless_oidc::verify::danger_decode(&input.token).map_err(verify_error)?;
        let issuer = unverified.danger_issuer().map_err(verify_error)?.to_owned();
        note.issuer = Some(issuer.clone());
        // 3. The provider in the role's account.
        let provider = self
            .iam
            .provider_for_issuer(account, &issuer)?
            .ok_or_else(|| {
                CoreError::InvalidIdentityToken(format!(
                    "No OpenIDConnect provider found in your account for {}",
                    printable(&issuer)
                ))
            })?;
        note.request_parameters
            .insert("identityProvider".into(), json!(provider.arn));
        // 4. Audience, before any key is fetched.
        unverified
            .danger_check_audience(&provider.client_ids)
            .map_err(verify_error)?;
        // 5-6. Keys, signature, claims: the token decoded above is verified as it is, not
        // decoded a second time.
        let keys = self.keys.keys(&provider.url, unverified.kid()).await?;
        let expect = Expectations {
            issuer: &provider.url,
            audiences: &provider.client_ids,
            now,
            leeway: self.config.token_leeway,
        };
        let verified = unverified.verify(&keys, &expect).map_err(verify_error)?;
        note.subject = Some(verified.subject.clone());
        note.audience = Some(verified.audience.clone());
        // 7. Trust policy.
        let Some(role) = self.iam.role_by_arn(&input.role_arn)? else {
            note.reason = Some(format!("role `{}` does not exist", input.role_arn));
            return Err(self.deny(WEB_IDENTITY_DENIED, note));
        };
        let prefix = provider.key_prefix().to_owned();
        let mut ctx = Context::new();
        add_globals(&mut ctx, info, now);
        ctx.set(
            &condition_key(&prefix, "aud"),
            vec![verified.audience.clone()],
        );
        ctx.set(
            &condition_key(&prefix, "sub"),
            vec![verified.subject.clone()],
        );
        if let Some(Value::String(azp)) = verified.claims.get("azp") {
            ctx.set(&condition_key(&prefix, "azp"), vec![azp.clone()]);
        }
        if is_github_prefix(&prefix) {
            for key in GITHUB_CLAIM_KEYS {
                if let Some(v) = claim_string(&verified.claims, key) {
                    ctx.set(&condition_key(&prefix, key), vec![v]);
                }
            }
        }
        ctx.set("sts:RoleSessionName", vec![input.session_name.clone()]);
        let (tags, transitive) = token_tags(&verified)?;
        if !tags.is_empty() {
            for (k, v) in &tags {
                ctx.set(&format!("aws:RequestTag/{k}"), vec![v.clone()]);
            }
            ctx.set("aws:TagKeys", tags.iter().map(|(k, _)| k.clone()).collect());
            if !transitive.is_empty() {
                ctx.set("sts:TransitiveTagKeys", transitive.clone());
            }
        }
        let source_identity = match verified.claims.get(SOURCE_IDENTITY_CLAIM) {
            Some(Value::String(s)) => {
                check_source_identity(s)?;
                ctx.set("sts:SourceIdentity", vec![s.clone()]);
                Some(s.clone())
            }
            Some(_) => {
                return Err(CoreError::InvalidIdentityToken(format!(
                    "claim `{SOURCE_IDENTITY_CLAIM}` must be a string"
                )));
            }
            None => None,
        };
        let principal = [PrincipalId {
            kind: PrincipalKind::Federated,
            value: provider.arn.clone(),
        }];
        let mut actions = vec!["sts:AssumeRoleWithWebIdentity"];
        if !tags.is_empty() {
            actions.push("sts:TagSession");
        }
        if source_identity.is_some() {
            actions.push("sts:SetSourceIdentity");
        }
        for action in actions {
            let set = PolicySet {
                identity: vec![],
                resource: Some(Named {
                    name: "trust policy",
                    policy: &role.trust,
                }),
                boundary: None,
                session: None,
            };
            let eval = keyless_policy::evaluate(
                &set,
                &Request {
                    principal: &principal,
                    action,
                    resource: &role.role.arn,
                    context: &ctx,
                },
            );
            if eval.decision != Decision::Allow {
                note.reason = Some(format!("{action}: {}", eval.trace.summary()));
                note.explanation = serde_json::to_value(&eval.trace).ok();
                return Err(self.deny(WEB_IDENTITY_DENIED, note));
            }
        }
        // 8. Duration.
        let duration = input.duration.unwrap_or(3600);
        if duration > i64::from(role.role.max_session_duration) {
            return Err(CoreError::Validation(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
                    .into(),
            ));
        }
        // 9. Session policies.
        let packed =
            self.session_policies(account, input.policy.as_deref(), &input.policy_arns, &tags)?;
        // 10. Mint.
        let session = Session {
            account: account.to_owned(),
            role_name: role.role.name.clone(),
            role_arn: role.role.arn.clone(),
            role_id: role.role.role_id.clone(),
            session_name: input.session_name.clone(),
            access_key_id: keyless_wire::access_key_id("ASIA", account),
            secret_access_key: keyless_wire::secret_access_key(),
            issued: now,
            expires: now + u64::try_from(duration).unwrap_or(3600),
            session_policy: input.policy.clone(),
            session_policy_arns: input.policy_arns.clone(),
            tags,
            transitive_tag_keys: transitive,
            source_identity: source_identity.clone(),
            chained: false,
            federated_provider: Some(provider.arn.clone()),
            web_identity_subject: Some(verified.subject.clone()),
        };
        let assumed = self.mint(session, packed)?;
        self.iam.touch_role(account, &role.role.name);
        note.user_identity = Some(json!({
            "type": "WebIdentityUser",
            "principalId": format!("{}:{}:{}", provider.arn, verified.audience, verified.subject),
            "userName": verified.subject,
            "identityProvider": provider.arn,
        }));
        note.response_elements = Some(json!({
            "credentials": {"accessKeyId": assumed.credentials.access_key_id, "expiration": keyless_wire::iso8601(assumed.credentials.expiration)},
            "subjectFromWebIdentityToken": verified.subject,
            "assumedRoleUser": {"assumedRoleId": assumed.assumed_role_id, "arn": assumed.arn},
            "provider": provider.arn,
            "audience": verified.audience,
        }));
        Ok(Assumed {
            subject: Some(verified.subject),
            provider: Some(provider.arn.clone()),
            audience: Some(verified.audience),
            ..assumed
        })
    }

    /// `AssumeRole`, for the account root or for a session (role chaining).
    pub fn assume_role(
        &self,
        caller: &Caller,
        input: AssumeRoleInput,
        info: &RequestInfo,
        note: &mut AuditNote,
    ) -> Result<Assumed, CoreError> {
        let now = self.clock.now();
        note_request(note, &input.role_arn, &input.session_name, input.duration);
        validate_common(
            &input.role_arn,
            &input.session_name,
            input.duration,
            input.policy.as_deref(),
            &input.policy_arns,
        )?;
        if let Some(e) = &input.external_id {
            let ok = (2..=1224).contains(&e.len())
                && e.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+=,.@:/-_".contains(c));
            if !ok {
                return Err(CoreError::Validation(keyless_wire::validation_message(&[
                    (
                        e.clone(),
                        "externalId".into(),
                        "Member must satisfy regular expression pattern: [\\w+=,.@:\\/-]*".into(),
                    ),
                ])));
            }
        }
        if input.tags.len() > 50 || input.transitive_tag_keys.len() > 50 {
            return Err(CoreError::Validation("1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50".into()));
        }
        for (i, (k, v)) in input.tags.iter().enumerate() {
            check_tag(k, v)?;
            // Session tag keys are case-insensitive: `Department` and `department` are one key.
            if input
                .tags
                .iter()
                .take(i)
                .any(|(earlier, _)| earlier.eq_ignore_ascii_case(k))
            {
                return Err(CoreError::InvalidParameterValue(
                    "Duplicate tag keys found. Please note that Tag keys are case insensitive."
                        .into(),
                ));
            }
        }
        let denied_msg = format!(
            "User: {} is not authorized to perform: sts:AssumeRole on resource: {}",
            caller.arn(),
            input.role_arn
        );
        let Some(role) = self.iam.role_by_arn(&input.role_arn)? else {
            note.reason = Some(format!("role `{}` does not exist", input.role_arn));
            return Err(self.deny(&denied_msg, note));
        };
        let account = role.role.account.clone();
        note.account = account.clone();
        let chained = matches!(caller, Caller::Session(_));
        // Source identity is immutable once set.
        let inherited_si = match caller {
            Caller::Session(s) => s.source_identity.clone(),
            Caller::Root { .. } => None,
        };
        if let Some(si) = &input.source_identity {
            check_source_identity(si)?;
            if inherited_si.as_ref().is_some_and(|i| i != si) {
                return Err(CoreError::AccessDenied(
                    "SourceIdentity cannot be changed once set for a session".into(),
                ));
            }
        }
        let source_identity = inherited_si.or(input.source_identity.clone());
        // Tags: transitive session tags pass on; explicit tags may not override them.
        let mut tags = input.tags.clone();
        let mut transitive = input.transitive_tag_keys.clone();
        if let Caller::Session(s) = caller {
            for key in &s.transitive_tag_keys {
                if let Some((k, v)) = s.tags.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)) {
                    if tags.iter().any(|(t, _)| t.eq_ignore_ascii_case(k)) {
                        return Err(CoreError::InvalidParameterValue(format!(
                            "tag `{k}` is transitive in the calling session and cannot be set again"
                        )));
                    }
                    tags.push((k.clone(), v.clone()));
                    if !transitive.iter().any(|t| t.eq_ignore_ascii_case(k)) {
                        transitive.push(k.clone());
                    }
                }
            }
        }
        for key in &input.transitive_tag_keys {
            if !tags.iter().any(|(k, _)| k.eq_ignore_ascii_case(key)) {
                return Err(CoreError::InvalidParameterValue(format!(
                    "transitive tag key `{key}` is not one of the session tags"
                )));
            }
        }
        let mut ctx = Context::new();
        add_globals(&mut ctx, info, now);
        caller.add_context(&mut ctx);
        ctx.set("sts:RoleSessionName", vec![input.session_name.clone()]);
        if let Some(e) = &input.external_id {
            ctx.set("sts:ExternalId", vec![e.clone()]);
        }
        if !input.tags.is_empty() {
            for (k, v) in &input.tags {
                ctx.set(&format!("aws:RequestTag/{k}"), vec![v.clone()]);
            }
            ctx.set(
                "aws:TagKeys",
                input.tags.iter().map(|(k, _)| k.clone()).collect(),
            );
        }
        if !input.transitive_tag_keys.is_empty() {
            ctx.set("sts:TransitiveTagKeys", input.transitive_tag_keys.clone());
        }
        if let Some(si) = &input.source_identity {
            ctx.set("sts:SourceIdentity", vec![si.clone()]);
        }
        let mut actions = vec!["sts:AssumeRole"];
        if !input.tags.is_empty() {
            actions.push("sts:TagSession");
        }
        if input.source_identity.is_some() {
            actions.push("sts:SetSourceIdentity");
        }
        for action in actions {
            self.authorize_assume(caller, &role, action, &ctx, &denied_msg, note)?;
        }
        // Duration: chained sessions are capped at one hour.
        let duration = input.duration.unwrap_or(3600);
        if chained && duration > 3600 {
            return Err(CoreError::Validation("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.".into()));
        }
        if duration > i64::from(role.role.max_session_duration) {
            return Err(CoreError::Validation(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
                    .into(),
            ));
        }
        let packed = self.session_policies(
            &account,
            input.policy.as_deref(),
            &input.policy_arns,
            &input.tags,
        )?;
        let session = Session {
            account: account.clone(),
            role_name: role.role.name.clone(),
            role_arn: role.role.arn.clone(),
            role_id: role.role.role_id.clone(),
            session_name: input.session_name.clone(),
            access_key_id: keyless_wire::access_key_id("ASIA", &account),
            secret_access_key: keyless_wire::secret_access_key(),
            issued: now,
            expires: now + u64::try_from(duration).unwrap_or(3600),
            session_policy: input.policy.clone(),
            session_policy_arns: input.policy_arns.clone(),
            tags,
            transitive_tag_keys: transitive,
            source_identity,
            chained,
            federated_provider: None,
            web_identity_subject: match caller {
                Caller::Session(s) => s.web_identity_subject.clone(),
                Caller::Root { .. } => None,
            },
        };
        let assumed = self.mint(session, packed)?;
        self.iam.touch_role(&account, &role.role.name);
        note.response_elements = Some(json!({
            "credentials": {"accessKeyId": assumed.credentials.access_key_id, "expiration": keyless_wire::iso8601(assumed.credentials.expiration)},
            "assumedRoleUser": {"assumedRoleId": assumed.assumed_role_id, "arn": assumed.arn},
        }));
        Ok(assumed)
    }

    /// AWS's rule for AssumeRole: the trust policy must allow the caller; when it names the
    /// caller itself (same account) that is enough, when it names the caller's account (or the
    /// caller is in another account) the caller's identity policies must allow it too. An
    /// explicit deny in the caller's policies always refuses.
    fn authorize_assume(
        &self,
        caller: &Caller,
        role: &crate::iam::RoleEntry,
        action: &str,
        ctx: &Context,
        denied_msg: &str,
        note: &mut AuditNote,
    ) -> Result<(), CoreError> {
        let trust_eval = |principal: &[PrincipalId]| {
            let set = PolicySet {
                identity: vec![],
                resource: Some(Named {
                    name: "trust policy",
                    policy: &role.trust,
                }),
                boundary: None,
                session: None,
            };
            keyless_policy::evaluate(
                &set,
                &Request {
                    principal,
                    action,
                    resource: &role.role.arn,
                    context: ctx,
                },
            )
        };
        let identity = self
            .iam
            .evaluate_caller(caller, action, &role.role.arn, ctx, None)?;
        if identity.decision == Decision::ExplicitDeny {
            note.reason = Some(identity.trace.summary());
            return Err(self.deny(denied_msg, note));
        }
        let same_account = caller.account() == role.role.account;
        let exact = trust_eval(&caller.exact_principal_ids());
        if exact.decision == Decision::ExplicitDeny {
            note.reason = Some(exact.trace.summary());
            note.explanation = serde_json::to_value(&exact.trace).ok();
            return Err(self.deny(denied_msg, note));
        }
        let via_account = || {
            trust_eval(&[PrincipalId {
                kind: PrincipalKind::Aws,
                value: format!("arn:aws:iam::{}:root", caller.account()),
            }])
        };
        let trust_allows =
            exact.decision == Decision::Allow || via_account().decision == Decision::Allow;
        let needs_identity = !(same_account && exact.decision == Decision::Allow);
        if trust_allows && (!needs_identity || identity.decision == Decision::Allow) {
            return Ok(());
        }
        let summary = if !trust_allows {
            let e = via_account();
            note.explanation = serde_json::to_value(&exact.trace).ok();
            format!(
                "the trust policy of {} does not allow {}: {}",
                role.role.name,
                caller.arn(),
                if exact.decision == Decision::ImplicitDeny {
                    exact.trace.summary()
                } else {
                    e.trace.summary()
                }
            )
        } else {
            format!(
                "the trust policy names the account, so {}'s own policies must allow {action}: {}",
                caller.arn(),
                identity.trace.summary()
            )
        };
        note.reason = Some(summary);
        Err(self.deny(denied_msg, note))
    }

    fn deny(&self, message: &str, note: &AuditNote) -> CoreError {
        match (&note.reason, self.config.explain_denials) {
            (Some(reason), true) => {
                CoreError::AccessDenied(format!("{message} (keyless dev mode: {reason})"))
            }
            _ => CoreError::AccessDenied(message.to_owned()),
        }
    }

    /// Validates session policies and computes `PackedPolicySize`.
    fn session_policies(
        &self,
        account: &str,
        policy: Option<&str>,
        arns: &[String],
        tags: &[(String, String)],
    ) -> Result<Option<u32>, CoreError> {
        let mut size = 0usize;
        if let Some(text) = policy {
            parse_policy(text, PolicyKind::Identity)?;
            size += text.chars().filter(|c| !c.is_whitespace()).count();
        }
        for arn in arns {
            let ok = arn.starts_with(&format!("arn:aws:iam::{account}:policy/"))
                || arn.starts_with("arn:aws:iam::aws:policy/");
            if !ok || self.iam.policy(account, arn).is_err() {
                return Err(CoreError::InvalidParameterValue(format!(
                    "Managed session policy `{arn}` does not exist in account {account}"
                )));
            }
            size += arn.len();
        }
        for (k, v) in tags {
            size += k.len() + v.len();
        }
        if policy.is_none() && arns.is_empty() && tags.is_empty() {
            return Ok(None);
        }
        let percent = (size * 100).div_ceil(PACKED_BUDGET);
        if percent > 100 {
            return Err(CoreError::PackedPolicyTooLarge(format!(
                "Packed policy consumes {percent}% of allotted space, please use smaller policy."
            )));
        }
        Ok(Some(u32::try_from(percent).unwrap_or(100)))
    }

    fn mint(&self, session: Session, packed: Option<u32>) -> Result<Assumed, CoreError> {
        let token = self.sealing.seal(&session)?;
        Ok(Assumed {
            credentials: Credentials {
                access_key_id: session.access_key_id.clone(),
                secret_access_key: session.secret_access_key.clone(),
                session_token: token,
                expiration: session.expires,
            },
            assumed_role_id: format!("{}:{}", session.role_id, session.session_name),
            arn: session_arn(&session.account, &session.role_name, &session.session_name),
            packed_policy_size: packed,
            subject: None,
            provider: None,
            audience: None,
            source_identity: session.source_identity.clone(),
        })
    }
}

/// The `userIdentity` block of an audit record for a signed caller.
pub fn user_identity(caller: &Caller, access_key_id: &str) -> Value {
    match caller {
        Caller::Root { account } => json!({
            "type": "Root", "principalId": account, "arn": caller.arn(), "accountId": account, "accessKeyId": access_key_id,
        }),
        Caller::Session(s) => json!({
            "type": "AssumedRole",
            "principalId": caller.user_id(),
            "arn": caller.arn(),
            "accountId": s.account,
            "accessKeyId": access_key_id,
            "sessionContext": {
                "sessionIssuer": {"type": "Role", "principalId": s.role_id, "arn": s.role_arn, "accountId": s.account, "userName": s.role_name},
                "attributes": {"creationDate": keyless_wire::iso8601(s.issued)},
                "sourceIdentity": s.source_identity,
                "webIdFederationData": s.federated_provider.as_ref().map(|p| json!({"federatedProvider": p, "subject": s.web_identity_subject})),
            },
        }),
    }
}

/// Records the parameters every assume call has in its audit note (never the token or policies).
fn note_request(note: &mut AuditNote, role_arn: &str, session_name: &str, duration: Option<i64>) {
    note.session_name = Some(session_name.to_owned());
    let params = &mut note.request_parameters;
    params.insert("roleArn".into(), json!(role_arn));
    params.insert("roleSessionName".into(), json!(session_name));
    if let Some(d) = duration {
        params.insert("durationSeconds".into(), json!(d));
    }
}

fn validate_common(
    role_arn: &str,
    session_name: &str,
    duration: Option<i64>,
    policy: Option<&str>,
    policy_arns: &[String],
) -> Result<(), CoreError> {
    let mut errors: Vec<(String, String, String)> = Vec::new();
    if role_arn.len() < 20 || role_arn.len() > 2048 {
        errors.push((
            role_arn.into(),
            "roleArn".into(),
            if role_arn.len() < 20 {
                "Member must have length greater than or equal to 20".into()
            } else {
                "Member must have length less than or equal to 2048".into()
            },
        ));
    }
    if session_name.chars().count() < 2 {
        errors.push((
            session_name.into(),
            "roleSessionName".into(),
            "Member must have length greater than or equal to 2".into(),
        ));
    } else if session_name.chars().count() > 64 {
        errors.push((
            session_name.into(),
            "roleSessionName".into(),
            "Member must have length less than or equal to 64".into(),
        ));
    } else if !keyless_wire::valid_role_session_name(session_name) {
        errors.push((
            session_name.into(),
            "roleSessionName".into(),
            "Member must satisfy regular expression pattern: [\\w+=,.@-]*".into(),
        ));
    }
    if let Some(d) = duration {
        if d < 900 {
            errors.push((
                d.to_string(),
                "durationSeconds".into(),
                "Member must have value greater than or equal to 900".into(),
            ));
        } else if d > 43200 {
            errors.push((
                d.to_string(),
                "durationSeconds".into(),
                "Member must have value less than or equal to 43200".into(),
            ));
        }
    }
    if let Some(p) = policy {
        if p.is_empty() || p.chars().count() > 2048 {
            errors.push((
                "(policy)".into(),
                "policy".into(),
                if p.is_empty() {
                    "Member must have length greater than or equal to 1".into()
                } else {
                    "Member must have length less than or equal to 2048".into()
                },
            ));
        } else if !p
            .chars()
            .all(|c| matches!(c, '\u{9}' | '\u{a}' | '\u{d}' | '\u{20}'..='\u{ff}'))
        {
            errors.push(("(policy)".into(), "policy".into(), "Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+".into()));
        }
    }
    if policy_arns.len() > 10 {
        errors.push((
            "(list)".into(),
            "policyArns".into(),
            "Member must have length less than or equal to 10".into(),
        ));
    }
    if !errors.is_empty() {
        return Err(CoreError::Validation(keyless_wire::validation_message(
            &errors,
        )));
    }
    if parse_role_arn(role_arn).is_none() {
        return Err(CoreError::Validation("Request ARN is invalid".into()));
    }
    Ok(())
}

/// `prefix:key`, a provider's condition key, built without `format!` (a GitHub token sets a
/// dozen of them on every call).
fn condition_key(prefix: &str, key: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 1 + key.len());
    out.push_str(prefix);
    out.push(':');
    out.push_str(key);
    out
}

fn add_globals(ctx: &mut Context, info: &RequestInfo, now: u64) {
    ctx.set("aws:CurrentTime", vec![keyless_wire::iso8601(now)]);
    ctx.set("aws:EpochTime", vec![now.to_string()]);
    if !info.source_ip.is_empty() {
        ctx.set("aws:SourceIp", vec![info.source_ip.clone()]);
    }
    if !info.user_agent.is_empty() {
        ctx.set("aws:UserAgent", vec![info.user_agent.clone()]);
    }
    ctx.set(
        "aws:RequestedRegion",
        vec![if info.region.is_empty() {
            "us-east-1".into()
        } else {
            info.region.clone()
        }],
    );
    ctx.set(
        "aws:SecureTransport",
        vec![info.secure_transport.to_string()],
    );
}

/// Whether a provider's condition-key prefix is one of GitHub's (github.com, an enterprise slug,
/// or a GHE.com data-residency host), for which STS exposes [`GITHUB_CLAIM_KEYS`].
pub fn is_github_prefix(prefix: &str) -> bool {
    prefix == "token.actions.githubusercontent.com"
        || prefix.starts_with("token.actions.githubusercontent.com/")
        || (prefix.starts_with("token.actions.")
            && prefix
                .split('/')
                .next()
                .is_some_and(|h| h.ends_with(".ghe.com")))
}

fn claim_string(claims: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    match claims.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Session tags (key, value) and the keys of the transitive ones.
type SessionTags = (Vec<(String, String)>, Vec<String>);

/// Session tags from the `https://aws.amazon.com/tags` claim.
fn token_tags(token: &VerifiedToken) -> Result<SessionTags, CoreError> {
    let Some(claim) = token.claims.get(TAGS_CLAIM) else {
        return Ok((vec![], vec![]));
    };
    let bad = |why: &str| CoreError::InvalidIdentityToken(format!("claim `{TAGS_CLAIM}` {why}"));
    let obj = claim.as_object().ok_or_else(|| bad("must be an object"))?;
    let mut tags = Vec::new();
    if let Some(pt) = obj.get("principal_tags") {
        let pt = pt
            .as_object()
            .ok_or_else(|| bad("principal_tags must be an object"))?;
        for (k, v) in pt {
            let value = match v {
                Value::Array(a) if a.len() == 1 => {
                    a.first().and_then(Value::as_str).map(str::to_owned)
                }
                Value::String(s) => Some(s.clone()),
                _ => None,
            }
            .ok_or_else(|| {
                bad(&format!(
                    "principal_tags.{k} must be a one-element string array"
                ))
            })?;
            check_tag(k, &value).map_err(|e| bad(&e.to_string()))?;
            tags.push((k.clone(), value));
        }
    }
    if tags.len() > 50 {
        return Err(bad("has more than 50 tags"));
    }
    let mut transitive = Vec::new();
    if let Some(t) = obj.get("transitive_tag_keys") {
        for k in t
            .as_array()
            .ok_or_else(|| bad("transitive_tag_keys must be an array"))?
        {
            let k = k
                .as_str()
                .ok_or_else(|| bad("transitive_tag_keys must hold strings"))?;
            transitive.push(k.to_owned());
        }
    }
    Ok((tags, transitive))
}

fn check_tag(k: &str, v: &str) -> Result<(), CoreError> {
    let charset = |s: &str| {
        s.chars()
            .all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c))
    };
    if k.is_empty()
        || k.chars().count() > 128
        || v.chars().count() > 256
        || !charset(k)
        || !charset(v)
    {
        return Err(CoreError::Validation(format!(
            "invalid session tag `{k}`: keys 1-128 and values 0-256 characters of letters, digits, spaces and _.:/=+-@"
        )));
    }
    if k.to_ascii_lowercase().starts_with("aws:") {
        return Err(CoreError::Validation(format!(
            "session tag key `{k}` uses the reserved prefix `aws:`"
        )));
    }
    Ok(())
}

fn check_source_identity(s: &str) -> Result<(), CoreError> {
    let ok = (2..=64).contains(&s.chars().count())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
        && !s.to_ascii_lowercase().starts_with("aws:");
    if ok {
        Ok(())
    } else {
        Err(CoreError::Validation(keyless_wire::validation_message(&[
            (
                s.into(),
                "sourceIdentity".into(),
                "Member must satisfy regular expression pattern: [\\w+=,.@-]*".into(),
            ),
        ])))
    }
}

fn verify_error(e: keyless_oidc::VerifyError) -> CoreError {
    let message = e.to_string();
    match e.sts_code() {
        "ExpiredTokenException" => CoreError::ExpiredTokenException(message),
        "IDPCommunicationError" => CoreError::IdpCommunicationError(message),
        "IDPRejectedClaim" => CoreError::IdpRejectedClaim(message),
        "ValidationError" => CoreError::Validation(message),
        _ => CoreError::InvalidIdentityToken(message),
    }
}

/// Token-supplied text quoted in a message: no control characters, bounded length.
fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(256).collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}
