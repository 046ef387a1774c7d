//! STS actions: decode parameters, call core, render AWS's XML.

use keyless_core::sts::{AssumeRoleInput, Assumed, WebIdentityInput};
use keyless_wire::{AwsError, XmlWriter};

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
        policy_arns: q.struct_list("PolicyArns", "arn"),
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
    let input = AssumeRoleInput {
        role_arn: required(q, "RoleArn")?,
        session_name: required(q, "RoleSessionName")?,
        duration: q.int("DurationSeconds")?,
        policy: opt_string(q, "Policy"),
        policy_arns: q.struct_list("PolicyArns", "arn"),
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
