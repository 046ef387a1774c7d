//! STS actions: decode parameters, call core, render AWS's XML.

use keyless_core::sts::{AssumeRoleInput, Assumed, WebIdentityInput};
use keyless_wire::{AwsError, QueryRequest, XmlWriter};

use super::aws::{ApiError, Call, opt_string, required};

/// Actions served as STS.
pub(crate) const ACTIONS: &[&str] = &[
    "AssumeRoleWithWebIdentity",
    "AssumeRole",
    "GetCallerIdentity",
    "AssumeRoleWithSAML",
    "GetSessionToken",
    "GetFederationToken",
    "DecodeAuthorizationMessage",
    "GetAccessKeyInfo",
];

pub(crate) async fn dispatch(
    call: &mut Call<'_>,
    action: &str,
) -> Result<Option<XmlWriter>, ApiError> {
    match action {
        "AssumeRoleWithWebIdentity" => assume_role_with_web_identity(call).await,
        "AssumeRole" => assume_role(call),
        "GetCallerIdentity" => get_caller_identity(call),
        "GetAccessKeyInfo" => get_access_key_info(call),
        other => Err(ApiError::Aws(AwsError::new(
            "InvalidAction",
            format!("keyless does not implement the STS action {other}"),
            400,
        ))),
    }
}

async fn assume_role_with_web_identity(call: &mut Call<'_>) -> Result<Option<XmlWriter>, ApiError> {
    let q = call.q;
    let input = WebIdentityInput {
        role_arn: required(q, "RoleArn")?,
        session_name: required(q, "RoleSessionName")?,
        token: required(q, "WebIdentityToken")?,
        duration: q.int("DurationSeconds")?,
        policy: opt_string(q, "Policy"),
        policy_arns: policy_arns(q)?,
    };
    if q.get("ProviderId").is_some() {
        return Err(ApiError::Aws(AwsError::new(
            "InvalidParameterValue",
            "ProviderId is only for OAuth 2.0 access tokens from www.amazon.com or graph.facebook.com; omit it for OpenID Connect ID tokens",
            400,
        )));
    }
    let assumed = call
        .state
        .sts
        .assume_role_with_web_identity(input, &call.info, &mut call.note)
        .await?;
    let mut w = XmlWriter::new();
    write_credentials(&mut w, &assumed);
    w.opt_elem("SubjectFromWebIdentityToken", assumed.subject.as_deref());
    write_assumed_user(&mut w, &assumed);
    if let Some(p) = assumed.packed_policy_size {
        w.elem("PackedPolicySize", &p.to_string());
    }
    w.opt_elem("Provider", assumed.provider.as_deref());
    w.opt_elem("Audience", assumed.audience.as_deref());
    w.opt_elem("SourceIdentity", assumed.source_identity.as_deref());
    Ok(Some(w))
}

fn assume_role(call: &mut Call<'_>) -> Result<Option<XmlWriter>, ApiError> {
    let q = call.q;
    check_mfa_and_contexts(q)?;
    let input = AssumeRoleInput {
        role_arn: required(q, "RoleArn")?,
        session_name: required(q, "RoleSessionName")?,
        duration: q.int("DurationSeconds")?,
        policy: opt_string(q, "Policy"),
        policy_arns: policy_arns(q)?,
        tags: q.tags("Tags")?,
        transitive_tag_keys: q.list("TransitiveTagKeys"),
        external_id: opt_string(q, "ExternalId"),
        source_identity: opt_string(q, "SourceIdentity"),
    };
    let caller = call.caller()?.clone();
    let assumed = call
        .state
        .sts
        .assume_role(&caller, input, &call.info, &mut call.note)?;
    let mut w = XmlWriter::new();
    write_credentials(&mut w, &assumed);
    write_assumed_user(&mut w, &assumed);
    if let Some(p) = assumed.packed_policy_size {
        w.elem("PackedPolicySize", &p.to_string());
    }
    w.opt_elem("SourceIdentity", assumed.source_identity.as_deref());
    Ok(Some(w))
}

fn get_caller_identity(call: &mut Call<'_>) -> Result<Option<XmlWriter>, ApiError> {
    let caller = call.caller()?;
    let mut w = XmlWriter::new();
    w.elem("UserId", &caller.user_id());
    w.elem("Account", caller.account());
    w.elem("Arn", &caller.arn());
    Ok(Some(w))
}

fn get_access_key_info(call: &mut Call<'_>) -> Result<Option<XmlWriter>, ApiError> {
    let key = required(call.q, "AccessKeyId")?;
    // AWS's key ids are 16-128 word characters; the dev root key and 12-digit account keys
    // are keyless's own and are answered too.
    let own =
        key == call.state.sts.config().root_access_key || keyless_core::model::is_account_id(&key);
    if !own {
        check_length(&key, "accessKeyId", 16, 128)?;
        check_chars(&key, "accessKeyId", "[\\w]*", |c| {
            c.is_ascii_alphanumeric() || c == '_'
        })?;
    }
    call.note
        .request_parameters
        .insert("accessKeyId".into(), serde_json::Value::String(key.clone()));
    // Keys of the current form carry their account (`ASIA…` keys issued here do); the dev root
    // key and 12-digit keys are the roots of their accounts; for anything else the caller's
    // own account is the best answer there is.
    let account = if key == call.state.sts.config().root_access_key {
        call.state.sts.config().default_account.clone()
    } else if keyless_core::model::is_account_id(&key) {
        key
    } else if let Some(account) = keyless_wire::access_key_account(&key) {
        account
    } else {
        call.account()?
    };
    let mut w = XmlWriter::new();
    w.elem("Account", &account);
    Ok(Some(w))
}

/// `PolicyArns.member.N.arn`, each 20-2048 characters as AWS's model says (whether the policy
/// exists is the core's question).
fn policy_arns(q: &QueryRequest) -> Result<Vec<String>, ApiError> {
    let arns = q.struct_list("PolicyArns", "arn");
    for (i, arn) in arns.iter().enumerate() {
        check_length(arn, &format!("policyArns.{}.member.arn", i + 1), 20, 2048)?;
    }
    Ok(arns)
}

/// AssumeRole's MFA and trusted-context parameters, checked as AWS's model constrains them:
/// `SerialNumber` 9-256 of `[\w+=/:,.@-]`, `TokenCode` six digits, each provided context's
/// `ProviderArn` 20-2048 and `ContextAssertion` 4-2048 characters.
fn check_mfa_and_contexts(q: &QueryRequest) -> Result<(), ApiError> {
    if let Some(serial) = q.get("SerialNumber") {
        check_length(serial, "serialNumber", 9, 256)?;
        check_chars(serial, "serialNumber", "[\\w+=/:,.@-]*", |c| {
            c.is_ascii_alphanumeric() || "_+=/:,.@-".contains(c)
        })?;
    }
    if let Some(code) = q.get("TokenCode") {
        check_length(code, "tokenCode", 6, 6)?;
        check_chars(code, "tokenCode", "[\\d]*", |c| c.is_ascii_digit())?;
    }
    let providers = q.struct_list("ProvidedContexts", "ProviderArn");
    for (i, arn) in providers.iter().enumerate() {
        let at = format!("providedContexts.{}.member.providerArn", i + 1);
        check_length(arn, &at, 20, 2048)?;
    }
    let assertions = q.struct_list("ProvidedContexts", "ContextAssertion");
    for (i, assertion) in assertions.iter().enumerate() {
        let at = format!("providedContexts.{}.member.contextAssertion", i + 1);
        check_length(assertion, &at, 4, 2048)?;
    }
    Ok(())
}

fn check_length(value: &str, field: &str, min: usize, max: usize) -> Result<(), ApiError> {
    let len = value.chars().count();
    let constraint = if len < min {
        format!("Member must have length greater than or equal to {min}")
    } else if len > max {
        format!("Member must have length less than or equal to {max}")
    } else {
        return Ok(());
    };
    Err(validation(value, field, constraint))
}

fn check_chars(
    value: &str,
    field: &str,
    pattern: &str,
    allowed: impl Fn(char) -> bool,
) -> Result<(), ApiError> {
    if value.chars().all(allowed) {
        return Ok(());
    }
    let constraint = format!("Member must satisfy regular expression pattern: {pattern}");
    Err(validation(value, field, constraint))
}

fn validation(value: &str, field: &str, constraint: String) -> ApiError {
    ApiError::Aws(AwsError::new(
        "ValidationError",
        keyless_wire::validation_message(&[(value.to_owned(), field.to_owned(), constraint)]),
        400,
    ))
}

fn write_credentials(w: &mut XmlWriter, a: &Assumed) {
    w.open("Credentials");
    w.elem("AccessKeyId", &a.credentials.access_key_id);
    w.elem("SecretAccessKey", &a.credentials.secret_access_key);
    w.elem("SessionToken", &a.credentials.session_token);
    w.elem(
        "Expiration",
        &keyless_wire::iso8601(a.credentials.expiration),
    );
    w.close("Credentials");
}

fn write_assumed_user(w: &mut XmlWriter, a: &Assumed) {
    w.open("AssumedRoleUser");
    w.elem("AssumedRoleId", &a.assumed_role_id);
    w.elem("Arn", &a.arn);
    w.close("AssumedRoleUser");
}
