//! AWS Signature Version 4 verification, in both forms: the `Authorization` header and
//! presigned query parameters (`X-Amz-Signature=…`).
//!
//! Split in two steps on purpose. [`parse_sigv4`] reads *who claims to have signed* (access key
//! id, scope, session token) without any secret, so the caller can look the key up; then
//! [`verify_sigv4`] recomputes the signature with that key's secret and the caller's clock.
//!
//! Security choices worth knowing:
//! - The signature is compared in constant time.
//! - A payload hash sent in `x-amz-content-sha256` is checked against the body: otherwise a
//!   captured request could be replayed with a different body (and so a different `Action`)
//!   under the same signature.
//! - `UNSIGNED-PAYLOAD` is only accepted with an empty body, for the same reason: awsQuery
//!   merges body and query parameters, so an unsigned body could smuggle parameters.
//! - `host` must be among the signed headers, so a request signed for one endpoint cannot be
//!   replayed against another.
//! - Tolerances, each bounded to at most four HMACs on the failure path: a presigned request
//!   with an empty body is accepted whether its signer used the empty-body hash or
//!   `UNSIGNED-PAYLOAD`, and with `X-Amz-Security-Token` inside or outside the signed query
//!   (some presigners append the token after signing; the caller checks the token anyway).
//!
//! Conformance: every normalised case of AWS's signing test suite (vendored under
//! `tests/data/aws-signing-test-suite`) verifies, in header and presigned form, and requests
//! signed by the official `aws-sigv4` crate verify (see `tests/main.rs`).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use aws_lc_rs::{digest, hmac};
use subtle::ConstantTimeEq;

use crate::error::WireError;
use crate::ids::{amz_date, rfc3986_encode_bytes};

/// The only SigV4 algorithm accepted (SigV4a and SigV2 are not supported).
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Allowed clock difference between the request's date and the server's clock, as on AWS.
pub const MAX_CLOCK_SKEW_SECS: u64 = 15 * 60;
/// Longest presign validity AWS allows (`X-Amz-Expires`), seven days.
pub const MAX_PRESIGN_EXPIRES_SECS: u64 = 7 * 24 * 60 * 60;
/// Payload-hash placeholder for presigned requests whose body is not signed.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// SHA-256 of the empty string.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The parts of an HTTP request that SigV4 covers.
///
/// `Debug` shows header names and sizes only: header values and the query string can carry a
/// session token (`X-Amz-Security-Token`), which must not reach logs.
#[derive(Clone, Copy)]
pub struct HttpRequestParts<'a> {
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// The path exactly as received (still percent-encoded), e.g. `/`.
    pub path: &'a str,
    /// The raw query string without `?` (empty when there is none).
    pub query: &'a str,
    /// All headers, names lower-case, values as received; a name may repeat.
    pub headers: &'a [(String, String)],
    /// The request body.
    pub body: &'a [u8],
}

impl fmt::Debug for HttpRequestParts<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("HttpRequestParts")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query_len", &self.query.len())
            .field("header_names", &names)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl HttpRequestParts<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a SigV4-signed request claims: the key, the scope, the signature. Nothing here is
/// trusted until [`verify_sigv4`] succeeds.
#[derive(Clone, PartialEq, Eq)]
pub struct SigV4Auth {
    /// The access key id from the credential scope.
    pub access_key_id: String,
    /// The request time, `YYYYMMDDTHHMMSSZ` (from `X-Amz-Date`, or converted from `Date`).
    pub amz_date: String,
    /// The credential scope's date, `YYYYMMDD`.
    pub scope_date: String,
    /// The credential scope's region.
    pub region: String,
    /// The credential scope's service (`sts`, `iam`).
    pub service: String,
    /// Signed header names, in the order given by the client.
    pub signed_headers: Vec<String>,
    /// The signature, hex.
    pub signature: String,
    /// `X-Amz-Security-Token` (session credentials), if sent.
    pub security_token: Option<String>,
    /// True for the presigned-query form.
    pub presigned: bool,
    /// `X-Amz-Expires` of a presigned request, seconds.
    pub expires: Option<u64>,
}

impl fmt::Debug for SigV4Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigV4Auth")
            .field("access_key_id", &self.access_key_id)
            .field("amz_date", &self.amz_date)
            .field("scope_date", &self.scope_date)
            .field("region", &self.region)
            .field("service", &self.service)
            .field("signed_headers", &self.signed_headers)
            .field("signature", &self.signature)
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "[redacted]"),
            )
            .field("presigned", &self.presigned)
            .field("expires", &self.expires)
            .finish()
    }
}

impl SigV4Auth {
    /// The credential scope string `date/region/service/aws4_request`.
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.scope_date, self.region, self.service
        )
    }

    /// Checks that the credential is scoped to `expected` (`sts` or `iam`), in AWS's words.
    pub fn check_service(&self, expected: &str) -> Result<(), WireError> {
        if self.service == expected {
            Ok(())
        } else {
            Err(WireError::BadCredentialScope(format!(
                "Credential should be scoped to correct service: '{expected}'. "
            )))
        }
    }
}

/// Reads the SigV4 claims of a request without checking them.
///
/// `Ok(None)`: the request is not signed (no `Authorization` header, no `X-Amz-Signature`);
/// whether that is acceptable is the caller's business (`AssumeRoleWithWebIdentity` is
/// unsigned, other calls answer `MissingAuthenticationToken`). Malformed signing data →
/// `IncompleteSignature` with AWS's wording.
pub fn parse_sigv4(req: &HttpRequestParts<'_>) -> Result<Option<SigV4Auth>, WireError> {
    if let Some(authz) = req.header("authorization") {
        return parse_header_form(req, authz).map(Some);
    }
    let qp = query_pairs(req.query);
    let has = |n: &str| qp.iter().any(|(k, _)| k == n);
    if has("X-Amz-Algorithm") || has("X-Amz-Signature") || has("X-Amz-Credential") {
        return parse_presigned(&qp).map(Some);
    }
    Ok(None)
}

fn parse_header_form(req: &HttpRequestParts<'_>, authz: &str) -> Result<SigV4Auth, WireError> {
    let authz_trim = authz.trim();
    let Some(rest) = authz_trim.strip_prefix(ALGORITHM) else {
        let algo = authz_trim.split_whitespace().next().unwrap_or("");
        return Err(WireError::IncompleteSignature(format!(
            "Unsupported AWS 'algorithm': '{algo}'. Only '{ALGORITHM}' is supported."
        )));
    };
    if !rest.starts_with(' ') {
        let algo = authz_trim.split_whitespace().next().unwrap_or("");
        return Err(WireError::IncompleteSignature(format!(
            "Unsupported AWS 'algorithm': '{algo}'. Only '{ALGORITHM}' is supported."
        )));
    }
    let (mut credential, mut signed, mut signature) = (None, None, None);
    // Components are separated by commas and/or whitespace (values never contain either), so a
    // stray space inside a value shows up as a component without `=`, as AWS reports it.
    for part in rest.split([',', ' ', '\t']) {
        if part.is_empty() {
            continue;
        }
        let Some((k, v)) = part.split_once('=') else {
            return Err(WireError::IncompleteSignature(format!(
                "'{part}' not a valid key=value pair (missing equal-sign) in Authorization header: '{authz}'."
            )));
        };
        match k.trim() {
            "Credential" => credential = Some(v.trim()),
            "SignedHeaders" => signed = Some(v.trim()),
            "Signature" => signature = Some(v.trim()),
            _ => {}
        }
    }
    let date = match req.header("x-amz-date") {
        Some(d) => Some(d.trim().to_owned()),
        None => req.header("date").map(http_date_to_amz).transpose()?,
    };
    let mut missing = String::new();
    if credential.is_none() {
        missing.push_str("Authorization header requires 'Credential' parameter. ");
    }
    if signature.is_none() {
        missing.push_str("Authorization header requires 'Signature' parameter. ");
    }
    if signed.is_none() {
        missing.push_str("Authorization header requires 'SignedHeaders' parameter. ");
    }
    if date.is_none() {
        missing.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
        );
    }
    let (Some(credential), Some(signed), Some(signature), Some(date)) =
        (credential, signed, signature, date)
    else {
        missing.push_str("Authorization=");
        missing.push_str(authz);
        return Err(WireError::IncompleteSignature(missing));
    };
    build_auth(
        credential,
        signed,
        signature,
        date,
        req.header("x-amz-security-token").map(str::to_owned),
        false,
        None,
    )
}

fn parse_presigned(qp: &[(String, String)]) -> Result<SigV4Auth, WireError> {
    let get = |n: &str| qp.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    let names = [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Signature",
        "X-Amz-SignedHeaders",
        "X-Amz-Date",
        "X-Amz-Expires",
    ];
    if names.iter().any(|n| get(n).is_none()) {
        return Err(WireError::IncompleteSignature(
            "AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', \
             'X-Amz-Signature', 'X-Amz-SignedHeaders', 'X-Amz-Date' and 'X-Amz-Expires'. \
             Re-examine the query-string parameters."
                .into(),
        ));
    }
    let algo = get("X-Amz-Algorithm").unwrap_or_default();
    if algo != ALGORITHM {
        return Err(WireError::IncompleteSignature(format!(
            "Unsupported AWS 'algorithm': '{algo}'. Only '{ALGORITHM}' is supported."
        )));
    }
    let expires_raw = get("X-Amz-Expires").unwrap_or_default();
    let expires = expires_raw
        .parse::<u64>()
        .ok()
        .filter(|e| (1..=MAX_PRESIGN_EXPIRES_SECS).contains(e))
        .ok_or_else(|| {
            WireError::IncompleteSignature(format!(
                "X-Amz-Expires must be a whole number of seconds from 1 to {MAX_PRESIGN_EXPIRES_SECS} \
                 (one week), not '{expires_raw}'."
            ))
        })?;
    build_auth(
        get("X-Amz-Credential").unwrap_or_default(),
        get("X-Amz-SignedHeaders").unwrap_or_default(),
        get("X-Amz-Signature").unwrap_or_default(),
        get("X-Amz-Date").unwrap_or_default().to_owned(),
        get("X-Amz-Security-Token").map(str::to_owned),
        true,
        Some(expires),
    )
}

fn build_auth(
    credential: &str,
    signed: &str,
    signature: &str,
    date: String,
    security_token: Option<String>,
    presigned: bool,
    expires: Option<u64>,
) -> Result<SigV4Auth, WireError> {
    // Credential = AKID/YYYYMMDD/region/service/aws4_request
    let parts: Vec<&str> = credential.split('/').collect();
    let [akid, scope_date, region, service, terminator] = parts.as_slice() else {
        return Err(WireError::IncompleteSignature(format!(
            "Credential must have the form <access key id>/<date>/<region>/<service>/aws4_request, not '{credential}'."
        )));
    };
    if akid.is_empty() {
        return Err(WireError::IncompleteSignature(format!(
            "Credential has an empty access key id: '{credential}'."
        )));
    }
    if *terminator != "aws4_request" {
        return Err(WireError::BadCredentialScope(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'. "
        )));
    }
    if parse_amz_date(&date).is_none() {
        return Err(WireError::IncompleteSignature(format!(
            "Date must be in ISO-8601 'basic format'. Got '{date}'. See http://en.wikipedia.org/wiki/ISO_8601"
        )));
    }
    let signed_headers: Vec<String> = signed
        .split(';')
        .filter(|h| !h.is_empty())
        .map(|h| h.to_ascii_lowercase())
        .collect();
    if !signed_headers
        .iter()
        .any(|h| h == "host" || h == ":authority")
    {
        return Err(WireError::IncompleteSignature(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }
    Ok(SigV4Auth {
        access_key_id: (*akid).to_owned(),
        amz_date: date,
        scope_date: (*scope_date).to_owned(),
        region: (*region).to_owned(),
        service: (*service).to_owned(),
        signed_headers,
        signature: signature.to_owned(),
        security_token,
        presigned,
        expires,
    })
}

/// `Date: Fri, 24 Oct 2014 23:00:23 GMT` → `20141024T230023Z`.
fn http_date_to_amz(value: &str) -> Result<String, WireError> {
    let parsed =
        time::OffsetDateTime::parse(value.trim(), &time::format_description::well_known::Rfc2822)
            .ok()
            .and_then(|t| u64::try_from(t.unix_timestamp()).ok());
    match parsed {
        Some(secs) => Ok(amz_date(secs)),
        None => Err(WireError::IncompleteSignature(format!(
            "Date must be in ISO-8601 'basic format'. Got '{value}'. See http://en.wikipedia.org/wiki/ISO_8601"
        ))),
    }
}

/// `YYYYMMDDTHHMMSSZ` → Unix seconds.
fn parse_amz_date(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 16 || b.get(8) != Some(&b'T') || b.get(15) != Some(&b'Z') {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        let digits = b.get(from..to)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    };
    let year = i32::try_from(num(0, 4)?).ok()?;
    let month = time::Month::try_from(u8::try_from(num(4, 6)?).ok()?).ok()?;
    let date = time::Date::from_calendar_date(year, month, u8::try_from(num(6, 8)?).ok()?).ok()?;
    let t = time::Time::from_hms(
        u8::try_from(num(9, 11)?).ok()?,
        u8::try_from(num(11, 13)?).ok()?,
        u8::try_from(num(13, 15)?).ok()?,
    )
    .ok()?;
    u64::try_from(
        time::PrimitiveDateTime::new(date, t)
            .assume_utc()
            .unix_timestamp(),
    )
    .ok()
}

/// Derived SigV4 signing keys, cached per (secret, date, region, service).
///
/// Deriving a key costs four HMACs; verifying with a cached key costs one HMAC plus one SHA-256.
/// Secrets are never stored: the map is keyed by the secret's SHA-256. The cache is bounded
/// (it is cleared when it reaches [`SigningKeyCache::CAPACITY`] entries) because keys are derived
/// before the signature is known to be good, so an attacker could otherwise grow it.
pub struct SigningKeyCache {
    keys: RwLock<HashMap<CacheKey, Arc<hmac::Key>>>,
}

/// SHA-256 of (secret, date, region, service), each length-prefixed.
type CacheKey = [u8; 32];

impl fmt::Debug for SigningKeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyCache")
            .field("entries", &self.len())
            .finish()
    }
}

impl Default for SigningKeyCache {
    fn default() -> Self {
        Self::new()
    }
}

impl SigningKeyCache {
    /// Most entries held at once.
    pub const CAPACITY: usize = 4096;

    /// An empty cache.
    pub fn new() -> Self {
        Self {
            keys: RwLock::new(HashMap::new()),
        }
    }

    /// Number of cached keys.
    pub fn len(&self) -> usize {
        self.keys
            .read()
            .map(|m| m.len())
            .unwrap_or_else(|e| e.into_inner().len())
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn signing_key(&self, secret: &str, date: &str, region: &str, service: &str) -> Arc<hmac::Key> {
        // One SHA-256 over the length-prefixed inputs: a fixed-size key, no allocation, and no
        // secret kept in the map.
        let mut ctx = digest::Context::new(&digest::SHA256);
        for part in [secret, date, region, service] {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part.as_bytes());
        }
        let key: CacheKey = ctx.finish().as_ref().try_into().unwrap_or([0u8; 32]);
        {
            let map = self.keys.read().unwrap_or_else(|e| e.into_inner());
            if let Some(k) = map.get(&key) {
                return Arc::clone(k);
            }
        }
        let derived = Arc::new(derive_signing_key(secret, date, region, service));
        let mut map = self.keys.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= Self::CAPACITY {
            map.clear();
        }
        map.insert(key, Arc::clone(&derived));
        derived
    }
}

fn hmac_sign(key: &[u8], data: &[u8]) -> hmac::Tag {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
}

/// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").
fn derive_signing_key(secret: &str, date: &str, region: &str, service: &str) -> hmac::Key {
    let mut k_secret = String::with_capacity(4 + secret.len());
    k_secret.push_str("AWS4");
    k_secret.push_str(secret);
    let k_date = hmac_sign(k_secret.as_bytes(), date.as_bytes());
    let k_region = hmac_sign(k_date.as_ref(), region.as_bytes());
    let k_service = hmac_sign(k_region.as_ref(), service.as_bytes());
    let k_signing = hmac_sign(k_service.as_ref(), b"aws4_request");
    hmac::Key::new(hmac::HMAC_SHA256, k_signing.as_ref())
}

/// Verifies a SigV4 signature with the secret of `auth.access_key_id`, at time `now` (Unix
/// seconds).
///
/// Checks, in order: the scope's date matches the request date; the request date is within
/// 15 minutes of `now` (header form) or the presign window has not passed; a declared payload
/// hash matches the body; then recomputes the canonical request, string to sign and signature
/// exactly as AWS does and compares in constant time.
pub fn verify_sigv4(
    req: &HttpRequestParts<'_>,
    auth: &SigV4Auth,
    secret_access_key: &str,
    now: u64,
    cache: &SigningKeyCache,
) -> Result<(), WireError> {
    let signed_at = parse_amz_date(&auth.amz_date).ok_or_else(|| {
        WireError::IncompleteSignature(format!(
            "Date must be in ISO-8601 'basic format'. Got '{}'. See http://en.wikipedia.org/wiki/ISO_8601",
            auth.amz_date
        ))
    })?;
    let date_part = auth.amz_date.get(..8).unwrap_or_default();
    if auth.scope_date != date_part {
        return Err(WireError::BadCredentialScope(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{}'.",
            auth.scope_date, date_part, auth.amz_date
        )));
    }
    check_time(auth, signed_at, now)?;

    // The payload hashes to try. Usually exactly one; a presigned request with an empty body
    // may have been signed with the empty-body hash (AWS's reference signers) or with
    // UNSIGNED-PAYLOAD (S3-style signers), and both describe the same empty body.
    let declared = req.header("x-amz-content-sha256").map(str::trim);
    let body_hash: String;
    let computed: [&str; 1];
    let candidates: &[&str] = match declared {
        Some(v) if v == UNSIGNED_PAYLOAD => {
            if !req.body.is_empty() {
                return Err(WireError::SignatureMismatch);
            }
            &[UNSIGNED_PAYLOAD]
        }
        Some(v) if v.starts_with("STREAMING-") => {
            return Err(WireError::IncompleteSignature(format!(
                "Streaming payloads ('{v}') are not supported by this service."
            )));
        }
        Some(v) => {
            let actual = hex::encode(digest::digest(&digest::SHA256, req.body));
            if !v.eq_ignore_ascii_case(&actual) {
                return Err(WireError::SignatureMismatch);
            }
            // The client signed the value it declared.
            computed = [v];
            &computed
        }
        None if auth.presigned && req.body.is_empty() => &[EMPTY_SHA256, UNSIGNED_PAYLOAD],
        None => {
            body_hash = hex::encode(digest::digest(&digest::SHA256, req.body));
            computed = [body_hash.as_str()];
            &computed
        }
    };
    // Some presigners add `X-Amz-Security-Token` to the URL after signing (AWS's suite case
    // `post-sts-header-after`); the token is still checked by the caller against the key id.
    let token_variants: &[bool] = if auth.presigned && auth.security_token.is_some() {
        &[false, true]
    } else {
        &[false]
    };

    let key = cache.signing_key(
        secret_access_key,
        &auth.scope_date,
        &auth.region,
        &auth.service,
    );
    let scope = auth.scope();
    for &omit_token in token_variants {
        let prefix = canonical_request_prefix(req, auth, omit_token)?;
        for payload_hash in candidates {
            let mut creq = String::with_capacity(prefix.len() + payload_hash.len());
            creq.push_str(&prefix);
            creq.push_str(payload_hash);
            let sts = string_to_sign(&auth.amz_date, &scope, &creq);
            let expected = hex::encode(hmac::sign(&key, sts.as_bytes()));
            if bool::from(expected.as_bytes().ct_eq(auth.signature.as_bytes())) {
                return Ok(());
            }
        }
    }
    Err(WireError::SignatureMismatch)
}

fn check_time(auth: &SigV4Auth, signed_at: u64, now: u64) -> Result<(), WireError> {
    if signed_at > now.saturating_add(MAX_CLOCK_SKEW_SECS) {
        return Err(WireError::SignatureNotYetCurrent {
            signed: auth.amz_date.clone(),
            latest: amz_date(now.saturating_add(MAX_CLOCK_SKEW_SECS)),
            now: amz_date(now),
        });
    }
    if auth.presigned {
        let expires = auth.expires.unwrap_or(0);
        if now > signed_at.saturating_add(expires) {
            return Err(WireError::PresignExpired);
        }
    } else if signed_at < now.saturating_sub(MAX_CLOCK_SKEW_SECS) {
        return Err(WireError::SignatureExpired {
            signed: auth.amz_date.clone(),
            earliest: amz_date(now.saturating_sub(MAX_CLOCK_SKEW_SECS)),
            now: amz_date(now),
        });
    }
    Ok(())
}

/// The string to sign: algorithm, date, scope and the hex SHA-256 of the canonical request.
fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    let hash = hex::encode(digest::digest(
        &digest::SHA256,
        canonical_request.as_bytes(),
    ));
    let mut s = String::with_capacity(ALGORITHM.len() + amz_date.len() + scope.len() + 67);
    s.push_str(ALGORITHM);
    s.push('\n');
    s.push_str(amz_date);
    s.push('\n');
    s.push_str(scope);
    s.push('\n');
    s.push_str(&hash);
    s
}

/// The canonical request up to (not including) the payload hash:
/// method, canonical URI, canonical query, canonical headers, signed headers.
fn canonical_request_prefix(
    req: &HttpRequestParts<'_>,
    auth: &SigV4Auth,
    omit_token: bool,
) -> Result<String, WireError> {
    let mut c = String::with_capacity(256);
    c.push_str(req.method);
    c.push('\n');
    c.push_str(&canonical_uri(req.path));
    c.push('\n');
    c.push_str(&canonical_query(req.query, auth.presigned, omit_token));
    c.push('\n');
    for name in &auth.signed_headers {
        let mut values = req
            .headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str());
        let Some(first) = values.next() else {
            // A header the client says it signed is not in the request: it was stripped or
            // the client is lying; either way the signature cannot match.
            return Err(WireError::SignatureMismatch);
        };
        c.push_str(name);
        c.push(':');
        push_header_value(&mut c, first);
        for v in values {
            c.push(',');
            push_header_value(&mut c, v);
        }
        c.push('\n');
    }
    c.push('\n');
    c.push_str(&auth.signed_headers.join(";"));
    c.push('\n');
    Ok(c)
}

/// Trims the value and collapses runs of spaces and tabs into one space.
fn push_header_value(out: &mut String, value: &str) {
    let mut first = true;
    for word in value.split([' ', '\t']).filter(|w| !w.is_empty()) {
        if !first {
            out.push(' ');
        }
        out.push_str(word);
        first = false;
    }
}

/// The canonical URI of a non-S3 service: the path normalised (empty and `.` segments dropped,
/// `..` removes the previous segment, a trailing slash kept), then each segment URI-encoded once
/// more. The received path is already encoded once, so this is AWS's "double encoding".
fn canonical_uri(path: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            s => kept.push(s),
        }
    }
    let mut out = String::with_capacity(path.len() + 8);
    out.push('/');
    for (i, segment) in kept.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        rfc3986_encode_bytes(&mut out, segment.as_bytes());
    }
    let trailing_slash = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    if trailing_slash && !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// The raw query string split into pairs, each decoded (`+` is a space; malformed `%` kept
/// literally). Used to read presign parameters and to build the canonical query.
fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (lossless_decode(k), lossless_decode(v))
        })
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(&k).into_owned(),
                String::from_utf8_lossy(&v).into_owned(),
            )
        })
        .collect()
}

fn lossless_decode(s: &str) -> Vec<u8> {
    let replaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&replaced).collect()
}

/// Canonical query: every pair decoded then re-encoded with the RFC 3986 unreserved set, sorted
/// by name then value; `X-Amz-Signature` left out for presigned requests, and
/// `X-Amz-Security-Token` too when `omit_token` (signers that add the token after signing).
fn canonical_query(query: &str, presigned: bool, omit_token: bool) -> String {
    if query.is_empty() {
        return String::new();
    }
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let mut ek = String::with_capacity(k.len());
            rfc3986_encode_bytes(&mut ek, &lossless_decode(k));
            let mut ev = String::with_capacity(v.len());
            rfc3986_encode_bytes(&mut ev, &lossless_decode(v));
            (ek, ev)
        })
        .filter(|(k, _)| {
            let skip = (presigned && k == "X-Amz-Signature")
                || (omit_token && k == "X-Amz-Security-Token");
            !skip
        })
        .collect();
    pairs.sort();
    let mut out = String::with_capacity(query.len() + 16);
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(h: &[(&str, &str)]) -> Vec<(String, String)> {
        h.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The `get-vanilla` case of the AWS SigV4 test suite (service `service`, region
    /// `us-east-1`, the documented example secret), known signature.
    #[test]
    fn aws_test_suite_get_vanilla() {
        let h = headers(&[
            ("host", "example.amazonaws.com"),
            ("x-amz-date", "20150830T123600Z"),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                 SignedHeaders=host;x-amz-date, \
                 Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ),
        ]);
        let req = HttpRequestParts {
            method: "GET",
            path: "/",
            query: "",
            headers: &h,
            body: b"",
        };
        let auth = parse_sigv4(&req).unwrap().unwrap();
        assert_eq!(auth.access_key_id, "AKIDEXAMPLE");
        assert_eq!(auth.region, "us-east-1");
        assert_eq!(auth.service, "service");
        assert!(!auth.presigned);
        let now = parse_amz_date("20150830T123600Z").unwrap();
        let cache = SigningKeyCache::new();
        verify_sigv4(
            &req,
            &auth,
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            now,
            &cache,
        )
        .unwrap();
        assert_eq!(cache.len(), 1);
        // Warm cache gives the same answer.
        verify_sigv4(
            &req,
            &auth,
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            now,
            &cache,
        )
        .unwrap();
        assert_eq!(
            verify_sigv4(&req, &auth, "wrong", now, &cache),
            Err(WireError::SignatureMismatch)
        );
    }

    #[test]
    fn unsigned_requests_are_none() {
        let h = headers(&[("host", "x")]);
        let req = HttpRequestParts {
            method: "POST",
            path: "/",
            query: "",
            headers: &h,
            body: b"Action=X",
        };
        assert_eq!(parse_sigv4(&req).unwrap(), None);
    }

    #[test]
    fn malformed_headers_are_incomplete_signature() {
        let cases = [
            (
                "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/sts/aws4_request",
                "'Signature'",
            ),
            (
                "AWS4-HMAC-SHA256 Credential=A /20150830/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=00",
                "missing equal-sign",
            ),
            (
                "AWS4-HMAC-SHA256 Credential=A/x, SignedHeaders=host, Signature=00",
                "Credential must have",
            ),
            (
                "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/sts/aws4_request, SignedHeaders=x-amz-date, Signature=00",
                "'Host'",
            ),
            ("AWS AKID:sig", "Unsupported AWS 'algorithm'"),
            (
                "AWS4-HMAC-SHA256X Credential=A",
                "Unsupported AWS 'algorithm'",
            ),
        ];
        for (authz, needle) in cases {
            let h = headers(&[
                ("host", "x"),
                ("x-amz-date", "20150830T123600Z"),
                ("authorization", authz),
            ]);
            let req = HttpRequestParts {
                method: "POST",
                path: "/",
                query: "",
                headers: &h,
                body: b"",
            };
            let e = parse_sigv4(&req).unwrap_err();
            let aws = e.to_aws();
            assert_eq!(aws.code, "IncompleteSignature", "{authz}");
            assert!(aws.message.contains(needle), "{authz}: {}", aws.message);
        }
        let h = headers(&[
            ("host", "x"),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=00",
            ),
        ]);
        let req = HttpRequestParts {
            method: "POST",
            path: "/",
            query: "",
            headers: &h,
            body: b"",
        };
        assert!(
            parse_sigv4(&req)
                .unwrap_err()
                .to_aws()
                .message
                .contains("'X-Amz-Date' or a 'Date' header")
        );
        let h = headers(&[
            ("host", "x"),
            ("x-amz-date", "2015-08-30"),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=00",
            ),
        ]);
        let req = HttpRequestParts {
            method: "POST",
            path: "/",
            query: "",
            headers: &h,
            body: b"",
        };
        assert!(
            parse_sigv4(&req)
                .unwrap_err()
                .to_aws()
                .message
                .contains("ISO-8601")
        );
    }

    #[test]
    fn bad_terminator_and_scope_date() {
        let h = headers(&[
            ("host", "x"),
            ("x-amz-date", "20150830T123600Z"),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/sts/aws5_request, SignedHeaders=host, Signature=00",
            ),
        ]);
        let req = HttpRequestParts {
            method: "POST",
            path: "/",
            query: "",
            headers: &h,
            body: b"",
        };
        assert_eq!(
            parse_sigv4(&req).unwrap_err().to_aws().code,
            "SignatureDoesNotMatch"
        );

        let h = headers(&[
            ("host", "x"),
            ("x-amz-date", "20150830T123600Z"),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=A/20150831/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=00",
            ),
        ]);
        let req = HttpRequestParts {
            method: "POST",
            path: "/",
            query: "",
            headers: &h,
            body: b"",
        };
        let auth = parse_sigv4(&req).unwrap().unwrap();
        let now = parse_amz_date("20150830T123600Z").unwrap();
        let e = verify_sigv4(&req, &auth, "s", now, &SigningKeyCache::new())
            .unwrap_err()
            .to_aws();
        assert_eq!(
            e.message,
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20150831' != '20150830', from '20150830T123600Z'."
        );
        assert!(auth.check_service("sts").is_ok());
        assert!(
            auth.check_service("iam")
                .unwrap_err()
                .to_aws()
                .message
                .contains("'iam'")
        );
    }

    #[test]
    fn skew_messages_follow_aws() {
        let auth = SigV4Auth {
            access_key_id: "A".into(),
            amz_date: "20220127T001427Z".into(),
            scope_date: "20220127".into(),
            region: "us-east-1".into(),
            service: "sts".into(),
            signed_headers: vec!["host".into()],
            signature: String::new(),
            security_token: None,
            presigned: false,
            expires: None,
        };
        let signed = parse_amz_date("20220127T001427Z").unwrap();
        let now = parse_amz_date("20220127T015928Z").unwrap();
        let e = check_time(&auth, signed, now).unwrap_err().to_aws();
        assert_eq!(e.code, "SignatureDoesNotMatch");
        assert_eq!(
            e.message,
            "Signature expired: 20220127T001427Z is now earlier than 20220127T014428Z (20220127T015928Z - 15 min.)"
        );
        assert!(check_time(&auth, signed, signed + 900).is_ok());
        assert!(check_time(&auth, signed, signed - 900).is_ok());
        let e = check_time(&auth, signed, signed - 901)
            .unwrap_err()
            .to_aws();
        assert!(
            e.message
                .starts_with("Signature not yet current: 20220127T001427Z is still later than"),
            "{}",
            e.message
        );
    }

    #[test]
    fn canonical_uri_double_encodes_and_normalises() {
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri("/a%20b/c"), "/a%2520b/c");
        assert_eq!(canonical_uri("/a/./b/../c"), "/a/c");
        assert_eq!(canonical_uri("/a/b/.."), "/a/");
        assert_eq!(canonical_uri("//"), "/");
        assert_eq!(canonical_uri("//example//"), "/example/");
        assert_eq!(canonical_uri("/../x/./"), "/x/");
        assert_eq!(canonical_uri("/a/b"), "/a/b");
    }

    #[test]
    fn canonical_query_sorts_and_reencodes() {
        assert_eq!(canonical_query("b=2&a=1&a=0", false, false), "a=0&a=1&b=2");
        assert_eq!(
            canonical_query("x=a+b&y=%7e&z", false, false),
            "x=a%20b&y=~&z="
        );
        assert_eq!(
            canonical_query("X-Amz-Signature=abc&A=1", true, false),
            "A=1"
        );
        assert_eq!(canonical_query("", false, false), "");
    }

    #[test]
    fn header_values_are_trimmed_and_collapsed() {
        let mut s = String::new();
        push_header_value(&mut s, "  a   b\t c  ");
        assert_eq!(s, "a b c");
    }

    #[test]
    fn amz_dates() {
        assert_eq!(parse_amz_date("20141024T230023Z"), Some(1_414_191_623));
        assert_eq!(parse_amz_date("20141324T230023Z"), None);
        assert_eq!(parse_amz_date("2014-10-24T23:00"), None);
        assert_eq!(parse_amz_date("+0141024T230023Z"), None);
        assert_eq!(
            http_date_to_amz("Fri, 24 Oct 2014 23:00:23 GMT").unwrap(),
            "20141024T230023Z"
        );
    }

    #[test]
    fn debug_redacts_session_token() {
        let auth = SigV4Auth {
            access_key_id: "A".into(),
            amz_date: String::new(),
            scope_date: String::new(),
            region: String::new(),
            service: String::new(),
            signed_headers: vec![],
            signature: String::new(),
            security_token: Some("SECRET-TOKEN".into()),
            presigned: false,
            expires: None,
        };
        let d = format!("{auth:?}");
        assert!(!d.contains("SECRET-TOKEN"));
        assert!(d.contains("[redacted]"));
        let h = headers(&[("host", "x"), ("x-amz-security-token", "SECRET-TOKEN")]);
        let req = HttpRequestParts {
            method: "GET",
            path: "/",
            query: "X-Amz-Security-Token=SECRET-TOKEN",
            headers: &h,
            body: b"",
        };
        let d = format!("{req:?}");
        assert!(!d.contains("SECRET-TOKEN"), "{d}");
        assert!(d.contains("x-amz-security-token"));
    }
}
