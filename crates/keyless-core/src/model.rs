//! The IAM entities keyless keeps, as they are stored (JSON in the store) and held in memory.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Default account of a dev server, as in AWS's documentation examples.
pub const DEFAULT_ACCOUNT: &str = "123456789012";

/// Whether `s` is a 12-digit AWS account id.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// An IAM OIDC identity provider.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OidcProvider {
    /// Owning account.
    pub account: String,
    /// The issuer URL as registered, with `https://`; compared byte for byte with `iss`.
    pub url: String,
    /// `arn:aws:iam::ACCOUNT:oidc-provider/HOST/PATH`.
    pub arn: String,
    /// Accepted audiences (`aud`), in registration order.
    pub client_ids: Vec<String>,
    /// TLS thumbprints (kept and returned; AWS ignores them for well-known CAs).
    pub thumbprints: Vec<String>,
    /// Tags.
    pub tags: Vec<(String, String)>,
    /// Creation time, unix seconds.
    pub created: u64,
}

impl OidcProvider {
    /// The condition-key prefix: the URL without `https://` (`token.actions.githubusercontent.com`).
    pub fn key_prefix(&self) -> &str {
        self.url.strip_prefix("https://").unwrap_or(&self.url)
    }
}

/// An IAM role.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Role {
    /// Owning account.
    pub account: String,
    /// Role name; unique per account case-insensitively.
    pub name: String,
    /// Path, `/` by default.
    pub path: String,
    /// `AROA…` unique id.
    pub role_id: String,
    /// `arn:aws:iam::ACCOUNT:role/PATH/NAME`.
    pub arn: String,
    /// The trust policy exactly as submitted (IAM returns it as submitted, URL-encoded).
    pub trust_policy: String,
    /// Free-text description.
    pub description: Option<String>,
    /// Longest session this role grants, 3600…43200 seconds.
    pub max_session_duration: u32,
    /// ARN of the managed policy used as permissions boundary.
    pub permissions_boundary: Option<String>,
    /// Tags.
    pub tags: Vec<(String, String)>,
    /// Creation time, unix seconds.
    pub created: u64,
    /// Inline policies by name.
    pub inline_policies: BTreeMap<String, String>,
    /// Attached managed policy ARNs, in attachment order.
    pub attached: Vec<String>,
    /// Last time the role was assumed (unix seconds).
    #[serde(default)]
    pub last_used: Option<u64>,
}

/// One version of a managed policy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PolicyVersion {
    /// `v1`, `v2`, …
    pub id: String,
    /// The document as submitted.
    pub document: String,
    /// Creation time.
    pub created: u64,
}

/// A customer-managed or AWS-managed policy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ManagedPolicy {
    /// Owning account, or `aws` for AWS-managed policies.
    pub account: String,
    /// Policy name.
    pub name: String,
    /// Path.
    pub path: String,
    /// `ANPA…` unique id.
    pub policy_id: String,
    /// ARN.
    pub arn: String,
    /// Versions, oldest first (at most 5).
    pub versions: Vec<PolicyVersion>,
    /// The version in force.
    pub default_version: String,
    /// Description.
    pub description: Option<String>,
    /// Creation time.
    pub created: u64,
    /// Last update.
    pub updated: u64,
    /// Tags.
    pub tags: Vec<(String, String)>,
    /// Next version number to hand out.
    #[serde(default)]
    pub next_version: u32,
}

impl ManagedPolicy {
    /// The default version's document.
    pub fn document(&self) -> &str {
        self.versions
            .iter()
            .find(|v| v.id == self.default_version)
            .map(|v| v.document.as_str())
            .unwrap_or("")
    }
}

/// A key the dev GitHub issuer signs with; the private part never leaves the server.
#[derive(Clone, Serialize, Deserialize)]
pub struct IssuerKeyRecord {
    /// Key id published in the JWKS.
    pub kid: String,
    /// PKCS#8 DER, base64.
    pub pkcs8_b64: String,
    /// Creation time.
    pub created: u64,
    /// When it stopped signing; it stays in the JWKS for an overlap after that.
    pub retired: Option<u64>,
}

impl std::fmt::Debug for IssuerKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerKeyRecord")
            .field("kid", &self.kid)
            .field("pkcs8_b64", &"[redacted]")
            .finish()
    }
}

/// A symmetric key that seals session tokens (and signs runner request tokens).
#[derive(Clone, Serialize, Deserialize)]
pub struct SealingKeyRecord {
    /// Key id, written in clear in front of every sealed token.
    pub id: String,
    /// 32 bytes, base64.
    pub key_b64: String,
    /// Creation time.
    pub created: u64,
    /// When it stopped sealing; still opens tokens until they expire.
    pub retired: Option<u64>,
}

impl std::fmt::Debug for SealingKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealingKeyRecord")
            .field("id", &self.id)
            .field("key_b64", &"[redacted]")
            .finish()
    }
}
