//! Sealed session tokens: the session *is* the token.
//!
//! A session token is `v1.<key id>.<base64url(nonce ‖ AES-256-GCM(ciphertext ‖ tag))>`; the
//! associated data binds the key id and version so a token cannot be re-labelled to another key.
//! Any node with the sealing keys can open any token, so STS needs no session table.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

const VERSION: &str = "v1";
/// Upper bound on a session token we will try to open (a sealed session with the largest session
/// policies and 50 tags fits well below it).
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Everything a temporary credential stands for. `Debug` leaves the secret out.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct Session {
    /// Account of the assumed role.
    pub account: String,
    /// Role name.
    pub role_name: String,
    /// Role ARN including its path.
    pub role_arn: String,
    /// `AROA…` id of the role.
    pub role_id: String,
    /// Role session name.
    pub session_name: String,
    /// The `ASIA…` key id this token belongs to.
    pub access_key_id: String,
    /// The secret access key (only ever inside the sealed token).
    pub secret_access_key: String,
    /// Issue time, unix seconds (`aws:TokenIssueTime`).
    pub issued: u64,
    /// Expiry, unix seconds.
    pub expires: u64,
    /// Inline session policy text.
    pub session_policy: Option<String>,
    /// Managed session policy ARNs; documents are looked up at use time.
    pub session_policy_arns: Vec<String>,
    /// Session tags (`aws:PrincipalTag/…`).
    pub tags: Vec<(String, String)>,
    /// Tag keys that pass on to chained sessions.
    pub transitive_tag_keys: Vec<String>,
    /// Source identity, immutable across chaining.
    pub source_identity: Option<String>,
    /// Whether this session came from role chaining (1-hour cap on further chaining).
    pub chained: bool,
    /// For web-identity sessions: the provider ARN (`aws:FederatedProvider`).
    pub federated_provider: Option<String>,
    /// For web-identity sessions: the token subject.
    pub web_identity_subject: Option<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("role_arn", &self.role_arn)
            .field("session_name", &self.session_name)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"[redacted]")
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// Why a token does not open.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SealError {
    /// Not a token of ours, tampered with, or sealed with a key we do not hold.
    #[error("session token is invalid")]
    Invalid,
    /// The sealing key could not be used.
    #[error("sealing failed")]
    Crypto,
}

/// One sealing key.
pub struct SealingKey {
    id: String,
    key: LessSafeKey,
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealingKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl SealingKey {
    /// A key from its raw 32 bytes.
    pub fn new(id: &str, bytes: &[u8]) -> Result<Self, SealError> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| SealError::Crypto)?;
        Ok(Self {
            id: id.to_owned(),
            key: LessSafeKey::new(unbound),
        })
    }

    /// Fresh random key bytes.
    pub fn generate_bytes() -> Result<zeroize::Zeroizing<Vec<u8>>, SealError> {
        let mut bytes = zeroize::Zeroizing::new(vec![0u8; 32]);
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| SealError::Crypto)?;
        Ok(bytes)
    }

    /// The key id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

fn aad(key_id: &str) -> String {
    format!("keyless-session/{VERSION}/{key_id}")
}

/// Seals `payload` with `key`.
pub fn seal_bytes(key: &SealingKey, payload: &[u8]) -> Result<String, SealError> {
    let mut nonce_bytes = [0u8; NONCE_LEN];
    keyless_wire::random_fill(&mut nonce_bytes);
    let mut buf = payload.to_vec();
    key.key
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce_bytes),
            Aad::from(aad(&key.id).as_bytes()),
            &mut buf,
        )
        .map_err(|_| SealError::Crypto)?;
    let mut out = Vec::with_capacity(NONCE_LEN + buf.len());
    out.extend_from_slice(&nonce_bytes);
    out.extend_from_slice(&buf);
    Ok(format!(
        "{VERSION}.{}.{}",
        key.id,
        URL_SAFE_NO_PAD.encode(out)
    ))
}

/// Opens a token sealed by any of `keys`.
pub fn open_bytes(keys: &[SealingKey], token: &str) -> Result<Vec<u8>, SealError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(SealError::Invalid);
    }
    let mut parts = token.splitn(3, '.');
    let (Some(VERSION), Some(key_id), Some(body)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(SealError::Invalid);
    };
    let key = keys
        .iter()
        .find(|k| k.id == key_id)
        .ok_or(SealError::Invalid)?;
    let raw = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| SealError::Invalid)?;
    if raw.len() < NONCE_LEN {
        return Err(SealError::Invalid);
    }
    let (nonce, sealed) = raw.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Invalid)?;
    let mut buf = sealed.to_vec();
    let plain = key
        .key
        .open_in_place(nonce, Aad::from(aad(key_id).as_bytes()), &mut buf)
        .map_err(|_| SealError::Invalid)?;
    Ok(plain.to_vec())
}

/// Seals a session into a session token.
pub fn seal(key: &SealingKey, session: &Session) -> Result<String, SealError> {
    let json = zeroize::Zeroizing::new(serde_json::to_vec(session).map_err(|_| SealError::Crypto)?);
    seal_bytes(key, &json)
}

/// Opens a session token.
pub fn open(keys: &[SealingKey], token: &str) -> Result<Session, SealError> {
    let plain = zeroize::Zeroizing::new(open_bytes(keys, token)?);
    serde_json::from_slice(&plain).map_err(|_| SealError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session {
            account: "123456789012".into(),
            role_name: "deploy".into(),
            role_arn: "arn:aws:iam::123456789012:role/deploy".into(),
            role_id: "AROAEXAMPLEEXAMPLE12".into(),
            session_name: "gha-1".into(),
            access_key_id: "ASIAEXAMPLEEXAMPLE12".into(),
            secret_access_key: "s".repeat(40),
            issued: 1,
            expires: 3601,
            session_policy: None,
            session_policy_arns: vec![],
            tags: vec![("Project".into(), "x".into())],
            transitive_tag_keys: vec![],
            source_identity: None,
            chained: false,
            federated_provider: None,
            web_identity_subject: Some("repo:acme/app:ref:refs/heads/main".into()),
        }
    }

    #[test]
    fn round_trip_with_rotated_keys() {
        let old = SealingKey::new("k1", &[1u8; 32]).unwrap();
        let new = SealingKey::new("k2", &[2u8; 32]).unwrap();
        let token = seal(&old, &session()).unwrap();
        assert_eq!(open(&[new, old], &token).unwrap(), session());
    }

    #[test]
    fn tampered_token_is_refused() {
        let key = SealingKey::new("k1", &[1u8; 32]).unwrap();
        let token = seal(&key, &session()).unwrap();
        let mut bytes = token.into_bytes();
        let last = bytes.len() - 5;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert_eq!(open(&[key], &tampered), Err(SealError::Invalid));
    }

    #[test]
    fn relabelled_key_id_is_refused() {
        let k1 = SealingKey::new("k1", &[1u8; 32]).unwrap();
        let k2 = SealingKey::new("k2", &[1u8; 32]).unwrap();
        let token = seal(&k1, &session()).unwrap().replacen(".k1.", ".k2.", 1);
        assert_eq!(open(&[k2], &token), Err(SealError::Invalid));
    }

    #[test]
    fn unknown_key_and_garbage_are_refused() {
        let k1 = SealingKey::new("k1", &[1u8; 32]).unwrap();
        let k9 = SealingKey::new("k9", &[9u8; 32]).unwrap();
        let token = seal(&k9, &session()).unwrap();
        assert_eq!(open(&[k1], &token), Err(SealError::Invalid));
        for bad in [
            "",
            "v1",
            "v1.k1",
            "v1.k1.!!!",
            "v2.k1.AAAA",
            &"x".repeat(20000),
        ] {
            let k = SealingKey::new("k1", &[1u8; 32]).unwrap();
            assert_eq!(open(&[k], bad), Err(SealError::Invalid), "{bad}");
        }
    }
}
