//! `keyless setup`'s state machine: read what IAM has, plan the difference to what is wanted,
//! render the plan, apply it. The plan is a pure function of the two states, so idempotence
//! ("a second run changes nothing") is a property of `plan`, tested without a server.

use aws_sdk_iam::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use serde_json::Value;

use super::diff;

/// The inline policy name setup owns on the role; other policies on the role are left alone.
pub const POLICY_NAME: &str = "keyless-deploy";

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct Desired {
    /// Issuer URL (`https://token.actions.githubusercontent.com`).
    pub issuer: String,
    /// Client id the provider must list.
    pub audience: String,
    /// Role name.
    pub role_name: String,
    /// Trust policy.
    pub trust: Value,
    /// `MaxSessionDuration`; `None` keeps the role's (3600 on create).
    pub max_session_duration: Option<i32>,
    /// The inline permission policy, with a label for the plan.
    pub permissions: Option<(String, Value)>,
}

/// An existing OIDC provider.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderState {
    /// ARN.
    pub arn: String,
    /// Client ids.
    pub client_ids: Vec<String>,
}

/// An existing role.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleState {
    /// ARN.
    pub arn: String,
    /// Trust policy, URL-decoded and parsed.
    pub trust: Value,
    /// `MaxSessionDuration`.
    pub max_session_duration: i32,
    /// Setup's inline policy, if present.
    pub policy: Option<Value>,
}

/// What IAM has now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Current {
    /// The provider for the issuer.
    pub provider: Option<ProviderState>,
    /// The role.
    pub role: Option<RoleState>,
}

/// One step of the plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// `CreateOpenIDConnectProvider`.
    CreateProvider {
        /// Issuer URL.
        url: String,
        /// Client id.
        audience: String,
    },
    /// `AddClientIDToOpenIDConnectProvider`.
    AddAudience {
        /// Provider ARN.
        arn: String,
        /// Client id.
        audience: String,
    },
    /// `CreateRole`.
    CreateRole {
        /// Role name.
        name: String,
        /// Trust policy.
        trust: Value,
        /// `MaxSessionDuration`.
        max_session_duration: Option<i32>,
    },
    /// `UpdateAssumeRolePolicy`.
    UpdateTrust {
        /// Role name.
        name: String,
        /// Current document.
        old: Value,
        /// Wanted document.
        new: Value,
    },
    /// `UpdateRole` (`MaxSessionDuration`).
    UpdateMaxSession {
        /// Role name.
        name: String,
        /// Current value.
        old: i32,
        /// Wanted value.
        new: i32,
    },
    /// `PutRolePolicy`.
    PutPolicy {
        /// Role name.
        role: String,
        /// What the policy grants, for the plan.
        label: String,
        /// Current document.
        old: Option<Value>,
        /// Wanted document.
        new: Value,
    },
}

/// The changes that turn `current` into `desired`; empty when nothing differs.
pub fn plan(desired: &Desired, current: &Current) -> Vec<Change> {
    let mut out = Vec::new();
    match &current.provider {
        None => out.push(Change::CreateProvider {
            url: desired.issuer.clone(),
            audience: desired.audience.clone(),
        }),
        Some(p) if !p.client_ids.iter().any(|c| c == &desired.audience) => {
            out.push(Change::AddAudience {
                arn: p.arn.clone(),
                audience: desired.audience.clone(),
            });
        }
        Some(_) => {}
    }
    match &current.role {
        None => out.push(Change::CreateRole {
            name: desired.role_name.clone(),
            trust: desired.trust.clone(),
            max_session_duration: desired.max_session_duration,
        }),
        Some(r) => {
            if r.trust != desired.trust {
                out.push(Change::UpdateTrust {
                    name: desired.role_name.clone(),
                    old: r.trust.clone(),
                    new: desired.trust.clone(),
                });
            }
            if let Some(m) = desired.max_session_duration
                && m != r.max_session_duration
            {
                out.push(Change::UpdateMaxSession {
                    name: desired.role_name.clone(),
                    old: r.max_session_duration,
                    new: m,
                });
            }
        }
    }
    if let Some((label, doc)) = &desired.permissions {
        let old = current.role.as_ref().and_then(|r| r.policy.clone());
        if old.as_ref() != Some(doc) {
            out.push(Change::PutPolicy {
                role: desired.role_name.clone(),
                label: label.clone(),
                old,
                new: doc.clone(),
            });
        }
    }
    out
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// The plan as the user reads it: one line per change, policy documents as a diff.
pub fn render_change(c: &Change) -> String {
    const IND: &str = "      ";
    match c {
        Change::CreateProvider { url, audience } => {
            format!("  + create OIDC provider `{url}` with audience `{audience}`\n")
        }
        Change::AddAudience { arn, audience } => {
            format!("  ~ add audience `{audience}` to OIDC provider `{arn}`\n")
        }
        Change::CreateRole {
            name,
            trust,
            max_session_duration,
        } => format!(
            "  + create role `{name}` (max session {} s) with trust policy:\n{}",
            max_session_duration.unwrap_or(3600),
            diff::render_new(&pretty(trust), IND)
        ),
        Change::UpdateTrust { name, old, new } => format!(
            "  ~ update trust policy of role `{name}`:\n{}",
            diff::render(&pretty(old), &pretty(new), IND, 2)
        ),
        Change::UpdateMaxSession { name, old, new } => {
            format!("  ~ change max session of role `{name}` from {old} s to {new} s\n")
        }
        Change::PutPolicy {
            role,
            label,
            old: None,
            new,
        } => format!(
            "  + put inline policy `{POLICY_NAME}` on role `{role}` ({label}):\n{}",
            diff::render_new(&pretty(new), IND)
        ),
        Change::PutPolicy {
            role,
            label,
            old: Some(old),
            new,
        } => format!(
            "  ~ update inline policy `{POLICY_NAME}` on role `{role}` ({label}):\n{}",
            diff::render(&pretty(old), &pretty(new), IND, 2)
        ),
    }
}

/// An IAM call that failed, with AWS's code when there is one.
#[derive(Debug)]
pub struct IamFailure {
    /// The operation.
    pub operation: &'static str,
    /// AWS error code (`AccessDenied`, `MalformedPolicyDocument`, …).
    pub code: Option<String>,
    /// Full message.
    pub message: String,
}

impl std::fmt::Display for IamFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IAM {} failed: {}", self.operation, self.message)
    }
}

impl std::error::Error for IamFailure {}

fn fail<E, R>(operation: &'static str, e: SdkError<E, R>) -> IamFailure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = e.code().map(str::to_owned);
    let message = match (e.code(), e.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        _ => DisplayErrorContext(&e).to_string(),
    };
    IamFailure {
        operation,
        code,
        message,
    }
}

/// IAM returns policy documents URL-encoded (RFC 3986); some endpoints return them plain.
pub fn decode_document(text: &str) -> Result<Value, String> {
    if let Ok(v) = serde_json::from_str(text) {
        return Ok(v);
    }
    let decoded = percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map_err(|e| format!("policy document is not UTF-8 after URL-decoding: {e}"))?;
    serde_json::from_str(&decoded).map_err(|e| format!("policy document is not JSON: {e}"))
}

/// The host part of an issuer URL, as IAM names providers (`token.actions.githubusercontent.com`).
pub fn issuer_host(issuer: &str) -> &str {
    issuer.trim_start_matches("https://")
}

/// Reads the provider for the issuer and the role (with setup's inline policy).
pub async fn read_current(
    c: &aws_sdk_iam::Client,
    desired: &Desired,
) -> Result<Current, IamFailure> {
    let suffix = format!(":oidc-provider/{}", issuer_host(&desired.issuer));
    let list = c
        .list_open_id_connect_providers()
        .send()
        .await
        .map_err(|e| fail("ListOpenIDConnectProviders", e))?;
    let mut provider = None;
    for entry in list.open_id_connect_provider_list() {
        let Some(arn) = entry.arn() else { continue };
        if !arn.ends_with(&suffix) {
            continue;
        }
        let got = c
            .get_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .send()
            .await
            .map_err(|e| fail("GetOpenIDConnectProvider", e))?;
        provider = Some(ProviderState {
            arn: arn.to_owned(),
            client_ids: got.client_id_list().to_vec(),
        });
        break;
    }
    let role = match c.get_role().role_name(&desired.role_name).send().await {
        Ok(out) => {
            let r = out.role().ok_or_else(|| IamFailure {
                operation: "GetRole",
                code: None,
                message: "the answer has no Role".into(),
            })?;
            let trust =
                decode_document(r.assume_role_policy_document().unwrap_or("{}")).map_err(|m| {
                    IamFailure {
                        operation: "GetRole",
                        code: None,
                        message: m,
                    }
                })?;
            let policy = match c
                .get_role_policy()
                .role_name(&desired.role_name)
                .policy_name(POLICY_NAME)
                .send()
                .await
            {
                Ok(p) => Some(
                    decode_document(p.policy_document()).map_err(|m| IamFailure {
                        operation: "GetRolePolicy",
                        code: None,
                        message: m,
                    })?,
                ),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_no_such_entity_exception()) =>
                {
                    None
                }
                Err(e) => return Err(fail("GetRolePolicy", e)),
            };
            Some(RoleState {
                arn: r.arn().to_owned(),
                trust,
                max_session_duration: r.max_session_duration().unwrap_or(3600),
                policy,
            })
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_no_such_entity_exception()) =>
        {
            None
        }
        Err(e) => return Err(fail("GetRole", e)),
    };
    Ok(Current { provider, role })
}

/// Applies the changes in order; stops at the first failure (what was applied stays applied and
/// a re-run plans only the rest).
pub async fn apply(c: &aws_sdk_iam::Client, changes: &[Change]) -> Result<(), IamFailure> {
    for ch in changes {
        match ch {
            Change::CreateProvider { url, audience } => {
                c.create_open_id_connect_provider()
                    .url(url)
                    .client_id_list(audience)
                    .send()
                    .await
                    .map_err(|e| fail("CreateOpenIDConnectProvider", e))?;
            }
            Change::AddAudience { arn, audience } => {
                c.add_client_id_to_open_id_connect_provider()
                    .open_id_connect_provider_arn(arn)
                    .client_id(audience)
                    .send()
                    .await
                    .map_err(|e| fail("AddClientIDToOpenIDConnectProvider", e))?;
            }
            Change::CreateRole {
                name,
                trust,
                max_session_duration,
            } => {
                c.create_role()
                    .role_name(name)
                    .assume_role_policy_document(pretty(trust))
                    .description("GitHub Actions OIDC role, managed by keyless setup")
                    .set_max_session_duration(*max_session_duration)
                    .tags(
                        aws_sdk_iam::types::Tag::builder()
                            .key("managed-by")
                            .value("keyless-setup")
                            .build()
                            .map_err(|e| IamFailure {
                                operation: "CreateRole",
                                code: None,
                                message: e.to_string(),
                            })?,
                    )
                    .send()
                    .await
                    .map_err(|e| fail("CreateRole", e))?;
            }
            Change::UpdateTrust { name, new, .. } => {
                c.update_assume_role_policy()
                    .role_name(name)
                    .policy_document(pretty(new))
                    .send()
                    .await
                    .map_err(|e| fail("UpdateAssumeRolePolicy", e))?;
            }
            Change::UpdateMaxSession { name, new, .. } => {
                c.update_role()
                    .role_name(name)
                    .max_session_duration(*new)
                    .send()
                    .await
                    .map_err(|e| fail("UpdateRole", e))?;
            }
            Change::PutPolicy { role, new, .. } => {
                c.put_role_policy()
                    .role_name(role)
                    .policy_name(POLICY_NAME)
                    .policy_document(pretty(new))
                    .send()
                    .await
                    .map_err(|e| fail("PutRolePolicy", e))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn desired() -> Desired {
        Desired {
            issuer: "https://token.actions.githubusercontent.com".into(),
            audience: "sts.amazonaws.com".into(),
            role_name: "deploy".into(),
            trust: json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow"}]}),
            max_session_duration: Some(3600),
            permissions: Some(("S3".into(), json!({"Version":"2012-10-17"}))),
        }
    }

    fn applied(d: &Desired) -> Current {
        Current {
            provider: Some(ProviderState {
                arn: "arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com".into(),
                client_ids: vec!["sts.amazonaws.com".into()],
            }),
            role: Some(RoleState {
                arn: "arn:aws:iam::1:role/deploy".into(),
                trust: d.trust.clone(),
                max_session_duration: 3600,
                policy: d.permissions.as_ref().map(|p| p.1.clone()),
            }),
        }
    }

    #[test]
    fn empty_account_gets_everything_created() {
        let p = plan(&desired(), &Current::default());
        assert_eq!(p.len(), 3);
        assert!(matches!(p[0], Change::CreateProvider { .. }));
        assert!(matches!(p[1], Change::CreateRole { .. }));
        assert!(matches!(p[2], Change::PutPolicy { old: None, .. }));
    }

    #[test]
    fn applied_state_plans_nothing() {
        let d = desired();
        assert!(plan(&d, &applied(&d)).is_empty());
    }

    #[test]
    fn key_order_does_not_count_as_a_change() {
        let d = desired();
        let mut cur = applied(&d);
        if let Some(r) = cur.role.as_mut() {
            r.trust = json!({"Statement":[{"Effect":"Allow"}],"Version":"2012-10-17"});
        }
        assert!(plan(&d, &cur).is_empty());
    }

    #[test]
    fn only_what_differs_is_replaced() {
        let d = desired();
        let mut cur = applied(&d);
        if let Some(p) = cur.provider.as_mut() {
            p.client_ids = vec!["other".into()];
        }
        if let Some(r) = cur.role.as_mut() {
            r.trust = json!({"Version":"2012-10-17","Statement":[]});
            r.max_session_duration = 7200;
        }
        let p = plan(&d, &cur);
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(matches!(p[0], Change::AddAudience { .. }));
        assert!(matches!(p[1], Change::UpdateTrust { .. }));
        assert!(matches!(
            p[2],
            Change::UpdateMaxSession {
                old: 7200,
                new: 3600,
                ..
            }
        ));
        let text = render_change(&p[1]);
        assert!(
            text.contains("~ update trust policy of role `deploy`"),
            "{text}"
        );
        assert!(text.contains("+ "), "{text}");
    }

    #[test]
    fn documents_are_url_decoded() {
        let v = decode_document("%7B%22Version%22%3A%222012-10-17%22%7D").unwrap();
        assert_eq!(v, json!({"Version":"2012-10-17"}));
        assert_eq!(decode_document("{\"a\":1}").unwrap(), json!({"a":1}));
        assert!(decode_document("%7Bnope").is_err());
    }
}
