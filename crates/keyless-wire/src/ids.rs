//! AWS identifier formats: unique ids, access keys, request ids, ARNs, name rules, timestamps.

use std::fmt;
use std::str::FromStr;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::WireError;

/// The 32-character alphabet of AWS unique ids and access key ids (RFC 4648 base32).
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// The 64-character alphabet of secret access keys.
const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// How many bytes of CSPRNG output a thread fetches at a time.
///
/// Why buffer: each call into aws-lc's generator reseeds from the CPU's `RDRAND` for prediction
/// resistance and runs its DRBG once, a fixed cost of about half a microsecond on this kind of
/// virtual machine, and one `AssumeRoleWithWebIdentity` took six such calls (request id, event
/// id, access key id, secret, sealing nonce, …): 3 % of its CPU time (BENCHMARKS.md, session I).
/// One call now serves several requests. Every byte is handed out once and wiped from the buffer
/// as it is, so the buffer never holds output that has already been used.
const RANDOM_POOL: usize = 512;

struct RandomPool {
    bytes: [u8; RANDOM_POOL],
    /// Bytes at the start of `bytes` already handed out (and wiped).
    used: usize,
}

thread_local! {
    static POOL: std::cell::RefCell<RandomPool> = const {
        std::cell::RefCell::new(RandomPool { bytes: [0; RANDOM_POOL], used: RANDOM_POOL })
    };
}

/// Fills `out` from the CSPRNG (aws-lc's, seeded by the operating system), through a
/// per-thread buffer of 512 bytes: each call into the generator has a fixed cost, so one call
/// serves several requests, and every byte is handed out once and wiped as it is.
#[expect(
    clippy::expect_used,
    reason = "a failing OS random generator is unrecoverable, and handing out predictable \
              credentials instead would be worse than stopping"
)]
pub fn random_fill(out: &mut [u8]) {
    if out.len() > RANDOM_POOL / 4 {
        aws_lc_rs::rand::fill(out).expect("the operating system's random generator failed");
        return;
    }
    POOL.with_borrow_mut(|pool| {
        if RANDOM_POOL - pool.used < out.len() {
            aws_lc_rs::rand::fill(&mut pool.bytes)
                .expect("the operating system's random generator failed");
            pool.used = 0;
        }
        let end = pool.used + out.len();
        match pool.bytes.get_mut(pool.used..end) {
            Some(taken) => {
                out.copy_from_slice(taken);
                taken.fill(0);
                pool.used = end;
            }
            // Not reached (refilled above); never hand out unfilled bytes.
            None => {
                aws_lc_rs::rand::fill(out).expect("the operating system's random generator failed")
            }
        }
    });
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    random_fill(&mut buf);
    buf
}

/// `n` random characters from an alphabet whose length divides 256 (so `b % len` is uniform).
fn random_chars<const N: usize>(alphabet: &[u8]) -> String {
    let len = alphabet.len().max(1);
    random_bytes::<N>()
        .iter()
        .map(|b| char::from(alphabet.get(usize::from(*b) % len).copied().unwrap_or(b'A')))
        .collect()
}

/// A unique id as IAM issues them: `prefix` + 17 characters of `A–Z2–7` (e.g. `AROA…` for
/// roles, `ANPA…` for managed policies): 21 characters with a 4-character prefix.
pub fn unique_id(prefix: &str) -> String {
    let mut s = String::with_capacity(prefix.len() + 17);
    s.push_str(prefix);
    s.push_str(&random_chars::<17>(BASE32));
    s
}

/// Bits of an account number in an access key id (12 decimal digits fit in 40).
const KEY_ACCOUNT_BITS: u32 = 40;

/// An access key id as AWS makes them today: `prefix` + 16 characters of `A–Z2–7` (20 in all
/// for `ASIA…`), i.e. 80 bits whose first is set (a key of the current generation), whose next
/// 40 are the number of `account` and whose last 39 are random. AWS's `GetAccessKeyInfo` reads
/// the account from the id alone, and so do the tools people use to triage a leaked key; keys
/// issued here answer both the same way ([`access_key_account`]). An `account` that is not a
/// 12-digit number is encoded as account 0.
pub fn access_key_id(prefix: &str, account: &str) -> String {
    let number = account
        .parse::<u64>()
        .ok()
        .filter(|n| *n < 1 << KEY_ACCOUNT_BITS)
        .unwrap_or(0);
    let random = random_bytes::<5>()
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
        >> 1;
    let bits = (1u128 << 79) | (u128::from(number) << 39) | u128::from(random);
    let mut s = String::with_capacity(prefix.len() + 16);
    s.push_str(prefix);
    for group in (0..16u32).rev() {
        let index = usize::try_from((bits >> (group * 5)) & 31).unwrap_or(0);
        s.push(char::from(BASE32.get(index).copied().unwrap_or(b'A')));
    }
    s
}

/// The account an access key id of the current generation names (see [`access_key_id`]), as
/// 12 digits; `None` for any other string, including keys of AWS's earlier generation, which
/// carry no account.
pub fn access_key_account(id: &str) -> Option<String> {
    let payload = id.get(4..).filter(|p| p.len() == 16)?;
    let mut bits = 0u128;
    for c in payload.bytes() {
        let value = BASE32.iter().position(|a| *a == c)?;
        bits = (bits << 5) | u128::try_from(value).ok()?;
    }
    if bits >> 79 == 0 {
        return None;
    }
    let number = (bits >> 39) & ((1 << KEY_ACCOUNT_BITS) - 1);
    (number <= 999_999_999_999).then(|| format!("{number:012}"))
}

/// A secret access key: 40 characters of `A–Za–z0–9+/`, as AWS issues them (240 bits).
pub fn secret_access_key() -> String {
    random_chars::<40>(BASE64)
}

/// A request id in UUID form (`xxxxxxxx-xxxx-7xxx-yxxx-xxxxxxxxxxxx`), as AWS sends in
/// `x-amzn-RequestId` and `<RequestId>`; also the audit records' `eventID`.
///
/// Version 7 (RFC 9562): the first 48 bits are the Unix time in milliseconds, the other 74 are
/// random. Clients treat the id as opaque (AWS's own are version 4 or version 1), but the audit
/// store indexes it for exactly-once storage, and an index of ids that grow with time takes
/// each new one at its right edge instead of at a random leaf of a tree that outgrows memory.
#[expect(
    clippy::disallowed_methods,
    reason = "the time only orders ids in the audit index; no rule depends on it (and this pure \
              crate has no clock of its own)"
)]
pub fn request_id() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    request_id_at(u64::try_from(millis).unwrap_or(u64::MAX))
}

/// [`request_id`] for the given Unix time in milliseconds (only its low 48 bits are used).
pub fn request_id_at(unix_millis: u64) -> String {
    let random = random_bytes::<10>();
    let [_, _, t0, t1, t2, t3, t4, t5] = unix_millis.to_be_bytes();
    let [r0, r1, r2, r3, r4, r5, r6, r7, r8, r9] = random;
    let bytes = [
        t0,
        t1,
        t2,
        t3,
        t4,
        t5,
        (r0 & 0x0f) | 0x70,
        r1,
        (r2 & 0x3f) | 0x80,
        r3,
        r4,
        r5,
        r6,
        r7,
        r8,
        r9,
    ];
    let hex = |n: u8| char::from(if n < 10 { b'0' + n } else { b'a' + n - 10 });
    let mut s = String::with_capacity(36);
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push(hex(byte >> 4));
        s.push(hex(byte & 0x0f));
    }
    s
}

/// An Amazon Resource Name: `arn:partition:service:region:account:resource`.
///
/// Parsed once at the boundary so the rest of the code handles a type, not a string. The
/// resource part is kept whole (it may contain `:` and `/`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Arn {
    /// `aws`, `aws-cn`, `aws-us-gov`, …
    pub partition: String,
    /// `iam`, `sts`, `s3`, …
    pub service: String,
    /// Empty for global services such as IAM and STS.
    pub region: String,
    /// 12-digit account id, `aws` for AWS-managed policies, or empty (e.g. S3 buckets).
    pub account: String,
    /// Everything after the fifth colon, e.g. `role/path/Name`.
    pub resource: String,
}

impl FromStr for Arn {
    type Err = WireError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| WireError::InvalidArn {
            arn: s.to_owned(),
            reason: why.to_owned(),
        };
        let mut parts = s.splitn(6, ':');
        if parts.next() != Some("arn") {
            return Err(bad("it does not start with `arn:`"));
        }
        let (Some(partition), Some(service), Some(region), Some(account), Some(resource)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(bad(
                "it has fewer than six colon-separated parts (arn:partition:service:region:account:resource)",
            ));
        };
        let lower_word = |x: &str| {
            x.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        if partition.is_empty() || !lower_word(partition) {
            return Err(bad(
                "the partition must be lower-case letters, digits and `-` (e.g. `aws`)",
            ));
        }
        if service.is_empty() || !lower_word(service) {
            return Err(bad(
                "the service must be lower-case letters, digits and `-` (e.g. `iam`)",
            ));
        }
        if !lower_word(region) {
            return Err(bad(
                "the region must be lower-case letters, digits and `-`, or empty",
            ));
        }
        let account_ok = account.is_empty()
            || account == "aws"
            || (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()));
        if !account_ok {
            return Err(bad("the account must be 12 digits, `aws`, or empty"));
        }
        if resource.is_empty() {
            return Err(bad("the resource part is empty"));
        }
        Ok(Arn {
            partition: partition.to_owned(),
            service: service.to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
            resource: resource.to_owned(),
        })
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:{}:{}:{}:{}",
            self.partition, self.service, self.region, self.account, self.resource
        )
    }
}

/// `[\w+=,.@-]`: the character class of role session names and IAM entity names.
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | '-')
}

/// A role session name: 2–64 characters of `[\w+=,.@-]` (so `dependabot[bot]` is invalid, as
/// on AWS).
pub fn valid_role_session_name(s: &str) -> bool {
    (2..=64).contains(&s.len()) && s.chars().all(is_name_char)
}

/// An IAM entity name (role, policy, …): 1–128 characters of `[\w+=,.@-]`. Roles allow only
/// 64; use [`valid_iam_name_max`] for the per-entity limit.
pub fn valid_iam_name(s: &str) -> bool {
    valid_iam_name_max(s, 128)
}

/// An IAM entity name of at most `max` characters (64 for roles, 128 for policies).
pub fn valid_iam_name_max(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.len()) && s.chars().all(is_name_char)
}

/// Everything except RFC 3986 unreserved characters (`A–Z a–z 0–9 - . _ ~`).
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes a policy document as IAM returns it in `AssumeRolePolicyDocument`,
/// `PolicyDocument` and `Document` (RFC 3986: space is `%20`, not `+`; UTF-8 bytes as `%XX`).
pub fn url_encode_document(doc: &str) -> String {
    utf8_percent_encode(doc, RFC3986).to_string()
}

/// Percent-encodes with the RFC 3986 unreserved set (shared with SigV4 canonicalisation).
pub(crate) fn rfc3986_encode_bytes(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(
                HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0'),
            ));
            out.push(char::from(
                HEX.get(usize::from(b & 0x0f)).copied().unwrap_or(b'0'),
            ));
        }
    }
}

/// Largest instant we format: 9999-12-31T23:59:59Z. Later values are clamped to it.
const MAX_FORMATTABLE: u64 = 253_402_300_799;

fn utc(unix_secs: u64) -> time::OffsetDateTime {
    let secs = i64::try_from(unix_secs.min(MAX_FORMATTABLE)).unwrap_or(0);
    time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// An ISO-8601 UTC timestamp with seconds, as AWS returns them: `2014-10-24T23:00:23Z`.
/// Instants after year 9999 are clamped.
pub fn iso8601(unix_secs: u64) -> String {
    timestamp(unix_secs, true)
}

/// `YYYY-MM-DDThh:mm:ssZ` (`extended`) or `YYYYMMDDThhmmssZ`, written digit by digit: several
/// timestamps go into every response and audit record, and the `format!` machinery costs more
/// than the rest of their making.
fn timestamp(unix_secs: u64, extended: bool) -> String {
    let t = utc(unix_secs);
    // The year is 1970..=9999 after `utc`'s clamp; the other fields fit two digits.
    let year = u32::try_from(t.year()).unwrap_or(0);
    let mut out = String::with_capacity(20);
    for div in [1000, 100, 10, 1] {
        out.push(digit(year / div));
    }
    let fields = [
        ('-', u32::from(u8::from(t.month()))),
        ('-', u32::from(t.day())),
        ('T', u32::from(t.hour())),
        (':', u32::from(t.minute())),
        (':', u32::from(t.second())),
    ];
    for (sep, n) in fields {
        if extended || sep == 'T' {
            out.push(sep);
        }
        out.push(digit(n / 10));
        out.push(digit(n));
    }
    out.push('Z');
    out
}

/// The last decimal digit of `n`.
fn digit(n: u32) -> char {
    char::from_digit(n % 10, 10).unwrap_or('0')
}

/// The SigV4 "basic format" timestamp: `20141024T230023Z`.
pub fn amz_date(unix_secs: u64) -> String {
    timestamp(unix_secs, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Buffered output is still fresh output: no piece is handed out twice or left unfilled,
    /// whether a request fits in the pool, crosses a refill, or bypasses it.
    #[test]
    fn random_fill_never_repeats_across_refills() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..2_000usize {
            let mut piece = vec![0u8; [10, 16, 40, 12, 7, 128, 300][i % 7]];
            random_fill(&mut piece);
            assert!(piece.iter().any(|b| *b != 0), "piece {i} left unfilled");
            // 7 bytes collide by chance with odds of about 2^-40 here.
            assert!(seen.insert(piece), "piece {i} handed out twice");
        }
        let pool_left = POOL.with_borrow(|p| p.bytes[..p.used].iter().all(|b| *b == 0));
        assert!(pool_left, "bytes handed out stay in the pool");
    }

    #[test]
    fn id_formats() {
        let r = unique_id("AROA");
        assert_eq!(r.len(), 21);
        assert!(r.starts_with("AROA"));
        assert!(r.bytes().skip(4).all(|b| BASE32.contains(&b)));
        let k = access_key_id("ASIA", "123456789012");
        assert_eq!(k.len(), 20);
        assert!(k.bytes().skip(4).all(|b| BASE32.contains(&b)));
        let s = secret_access_key();
        assert_eq!(s.len(), 40);
        assert!(s.bytes().all(|b| BASE64.contains(&b)));
        assert_ne!(unique_id("ANPA"), unique_id("ANPA"));
    }

    #[test]
    fn access_key_ids_name_their_account() {
        // A temporary key AWS issued to account 609629065308 (published in write-ups of the
        // format): the decoding agrees with AWS's `GetAccessKeyInfo` on it.
        assert_eq!(
            access_key_account("ASIAY34FZKBOKMUTVV7A").as_deref(),
            Some("609629065308")
        );
        for account in [
            "000000000000",
            "000000000001",
            "123456789012",
            "999999999999",
        ] {
            let ids: Vec<String> = (0..50).map(|_| access_key_id("ASIA", account)).collect();
            for id in &ids {
                assert_eq!(access_key_account(id).as_deref(), Some(account), "{id}");
                // The first character after the prefix carries the generation bit: Q–Z or 2–7.
                assert!(
                    id.as_bytes()
                        .get(4)
                        .is_some_and(|c| b"QRSTUVWXYZ234567".contains(c))
                );
            }
            // The last 39 bits are random: 50 keys of one account are 50 keys.
            let distinct: std::collections::HashSet<_> = ids.iter().collect();
            assert_eq!(distinct.len(), ids.len());
        }
        // Keys of the earlier generation (first payload bit clear) and strings that are not
        // keys name no account.
        for id in [
            "AKIAIOSFODNN7EXAMPLE",
            "ASIAY34FZKBOKMUTVV7",
            "ASIAY34FZKBOKMUTVV7a",
            "test",
            "",
        ] {
            assert_eq!(access_key_account(id), None, "{id}");
        }
    }

    #[test]
    fn request_id_is_uuid_v7() {
        let id = request_id_at(0x0193_a5f2_8c4e);
        assert_eq!(id.len(), 36);
        let groups: Vec<&str> = id.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert_eq!((groups[0], groups[1]), ("0193a5f2", "8c4e"));
        assert!(groups[2].starts_with('7'));
        assert!(matches!(
            groups[3].chars().next(),
            Some('8' | '9' | 'a' | 'b')
        ));
        assert!(
            id.bytes()
                .all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_ne!(request_id_at(1), request_id_at(1));
    }

    #[test]
    fn request_ids_sort_by_time() {
        // Byte order (what the audit store's index compares) follows the millisecond.
        let ids: Vec<String> = (0..200u64)
            .map(|i| request_id_at(1_700_000_000_000 + i * 7))
            .collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        let now = request_id();
        assert!(request_id_at(1_700_000_000_000) < now);
    }

    #[test]
    fn arn_round_trip() {
        for s in [
            "arn:aws:iam::123456789012:role/path/Deploy",
            "arn:aws:sts::123456789012:assumed-role/Deploy/gha-1",
            "arn:aws:iam::aws:policy/AdministratorAccess",
            "arn:aws:s3:::bucket/key:with:colons",
            "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com",
            "arn:aws-us-gov:ec2:us-gov-west-1:123456789012:instance/i-1",
        ] {
            let a: Arn = s.parse().unwrap();
            assert_eq!(a.to_string(), s);
        }
        let a: Arn = "arn:aws:iam::123456789012:role/R".parse().unwrap();
        assert_eq!(
            (a.service.as_str(), a.account.as_str(), a.resource.as_str()),
            ("iam", "123456789012", "role/R")
        );
    }

    #[test]
    fn arn_errors_name_the_problem() {
        let cases = [
            ("role/R", "arn:"),
            ("arn:aws:iam::123", "six"),
            ("arn:AWS:iam::123456789012:role/R", "partition"),
            ("arn:aws::us-east-1:123456789012:x", "service"),
            ("arn:aws:iam::12345:role/R", "account"),
            ("arn:aws:iam::123456789012:", "resource"),
        ];
        for (s, needle) in cases {
            let e = s.parse::<Arn>().unwrap_err();
            assert!(e.to_string().contains(needle), "{s}: {e}");
        }
    }

    #[test]
    fn names() {
        assert!(valid_role_session_name("gha-123"));
        assert!(valid_role_session_name("a.b@c=d,e+f_g"));
        assert!(!valid_role_session_name("a"));
        assert!(!valid_role_session_name("dependabot[bot]"));
        assert!(!valid_role_session_name("a b"));
        assert!(!valid_role_session_name("a/b"));
        assert!(!valid_role_session_name(&"x".repeat(65)));
        assert!(valid_role_session_name(&"x".repeat(64)));
        assert!(valid_iam_name("R"));
        assert!(!valid_iam_name(""));
        assert!(!valid_iam_name("a:b"));
        assert!(!valid_iam_name_max(&"x".repeat(65), 64));
        assert!(!valid_iam_name("é"));
    }

    #[test]
    fn documents_encode_as_iam_returns_them() {
        assert_eq!(
            url_encode_document("{\"Version\": \"2012-10-17\"}"),
            "%7B%22Version%22%3A%20%222012-10-17%22%7D"
        );
        assert_eq!(url_encode_document("a-b_c.d~é"), "a-b_c.d~%C3%A9");
    }

    #[test]
    fn timestamps() {
        assert_eq!(iso8601(1_414_191_623), "2014-10-24T23:00:23Z");
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(amz_date(1_414_191_623), "20141024T230023Z");
        assert_eq!(iso8601(u64::MAX), "9999-12-31T23:59:59Z");
    }

    proptest::proptest! {
        /// The digit-by-digit timestamps agree with `format!` on the same fields.
        #[test]
        fn timestamps_agree_with_formatting(secs in 0u64..=MAX_FORMATTABLE + 10) {
            let t = utc(secs);
            let (y, mo, d) = (t.year(), u8::from(t.month()), t.day());
            let (h, mi, s) = (t.hour(), t.minute(), t.second());
            proptest::prop_assert_eq!(
                iso8601(secs),
                format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
            );
            proptest::prop_assert_eq!(
                amz_date(secs),
                format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
            );
        }
    }
}
