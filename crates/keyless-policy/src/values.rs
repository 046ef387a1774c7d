//! Typed condition values: numbers, dates, booleans, IP ranges and base64.
//!
//! Each parser returns `None` on malformed input; the evaluator treats an unparsable value as
//! "does not match" (so a negated operator holds), and validation refuses unparsable policy values
//! up front.

use crate::ast::BaseOperator;
use std::net::IpAddr;

/// A decimal number (`-12`, `3.5`, `1e3`).
pub(crate) fn number(s: &str) -> Option<f64> {
    let t = s.trim();
    let body = t.strip_prefix(['-', '+']).unwrap_or(t);
    if body.is_empty() || !body.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    }
    if !body
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
    {
        return None;
    }
    t.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn digits(s: &str, n: usize) -> Option<i64> {
    if s.len() == n && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// A date as milliseconds since the epoch: ISO 8601 in the W3C profile (`2026-01-31`,
/// `2026-01-31T12:00:00Z`, `…T12:00:00.123+02:00`, `…T12:00Z`; a missing zone means UTC) or epoch
/// seconds (`1767225600`, optionally with a fraction).
pub(crate) fn date_millis(s: &str) -> Option<i64> {
    let s = s.trim();
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
        && !s.get(1..)?.contains('-')
    {
        let secs: f64 = s.parse().ok()?;
        if !secs.is_finite() || secs.abs() > 1e14 {
            return None;
        }
        return Some((secs * 1000.0).round() as i64);
    }
    let (date, time) = match s.split_once(['T', 't']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let mut parts = date.split('-');
    let year = digits(parts.next()?, 4)?;
    let month = match parts.next() {
        Some(m) => digits(m, 2)?,
        None => 1,
    };
    let day = match parts.next() {
        Some(d) => digits(d, 2)?,
        None => 1,
    };
    if parts.next().is_some()
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
    {
        return None;
    }
    let mut millis = days_from_civil(year, month, day) * 86_400_000;
    if let Some(time) = time {
        // Split off the zone designator.
        let (clock, offset_minutes) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
            (c, 0)
        } else if let Some(i) = time.rfind(['+', '-']) {
            let (c, zone) = time.split_at(i);
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let zone = zone.get(1..)?;
            let (h, m) = match zone.split_once(':') {
                Some((h, m)) => (digits(h, 2)?, digits(m, 2)?),
                None => (digits(zone.get(..2)?, 2)?, digits(zone.get(2..)?, 2)?),
            };
            if h > 23 || m > 59 {
                return None;
            }
            (c, sign * (h * 60 + m))
        } else {
            (time, 0)
        };
        let mut hms = clock.split(':');
        let h = digits(hms.next()?, 2)?;
        let m = digits(hms.next()?, 2)?;
        let (sec, frac_ms) = match hms.next() {
            Some(sec) => match sec.split_once('.') {
                Some((whole, frac)) => {
                    if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
                        return None;
                    }
                    let ms = format!("{frac:0<3}");
                    (digits(whole, 2)?, ms.get(..3)?.parse::<i64>().ok()?)
                }
                None => (digits(sec, 2)?, 0),
            },
            None => (0, 0),
        };
        if hms.next().is_some() || h > 24 || m > 59 || sec > 60 || (h == 24 && (m > 0 || sec > 0)) {
            return None;
        }
        millis += ((h * 60 + m - offset_minutes) * 60 + sec) * 1000 + frac_ms;
    }
    Some(millis)
}

/// `true`/`false`, case-insensitive.
pub(crate) fn boolean(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// An IP range: address and prefix length. A bare address is a /32 (IPv4) or /128 (IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

pub(crate) fn cidr(s: &str) -> Option<Cidr> {
    let s = s.trim();
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) => {
            if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            p.parse::<u8>().ok().filter(|p| *p <= max)?
        }
        None => max,
    };
    Some(Cidr { addr, prefix })
}

/// An address from the request (`aws:SourceIp`), IPv4-mapped IPv6 treated as IPv4.
pub(crate) fn ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    let addr: IpAddr = s.split_once('/').map_or(s, |(a, _)| a).parse().ok()?;
    Some(match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => addr,
        },
        v4 => v4,
    })
}

impl Cidr {
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// Standard base64 (padding optional).
pub(crate) fn base64(s: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    }
    let body = s.trim().trim_end_matches('=');
    if s.trim().len() - body.len() > 2 || body.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in body.bytes() {
        acc = (acc << 6) | val(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    // Canonical encodings only: the bits left over after the last byte must be zero.
    if bits > 0 && acc & ((1 << bits) - 1) != 0 {
        return None;
    }
    Some(out)
}

/// Validation of one policy value for an operator (values with variables are not checked).
pub(crate) fn check_value(op: BaseOperator, v: &str) -> Result<(), String> {
    use BaseOperator as B;
    let ok = match op {
        B::NumericEquals
        | B::NumericNotEquals
        | B::NumericLessThan
        | B::NumericLessThanEquals
        | B::NumericGreaterThan
        | B::NumericGreaterThanEquals => number(v).is_some(),
        B::DateEquals
        | B::DateNotEquals
        | B::DateLessThan
        | B::DateLessThanEquals
        | B::DateGreaterThan
        | B::DateGreaterThanEquals => date_millis(v).is_some(),
        B::Bool | B::Null => boolean(v).is_some(),
        B::BinaryEquals => base64(v).is_some(),
        B::IpAddress | B::NotIpAddress => cidr(v).is_some(),
        _ => true,
    };
    if ok {
        return Ok(());
    }
    let what = match op {
        B::Bool | B::Null => "`true` or `false`",
        B::BinaryEquals => "base64 data",
        B::IpAddress | B::NotIpAddress => "an IPv4 or IPv6 address or CIDR range",
        B::DateEquals
        | B::DateNotEquals
        | B::DateLessThan
        | B::DateLessThanEquals
        | B::DateGreaterThan
        | B::DateGreaterThanEquals => "an ISO 8601 date (`2026-01-31T00:00:00Z`) or epoch seconds",
        _ => "a number",
    };
    Err(format!(
        "`{v}` is not a valid value for `{}`: expected {what}",
        op.as_str()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(date_millis("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(date_millis("1970-01-02"), Some(86_400_000));
        assert_eq!(date_millis("86400"), Some(86_400_000));
        assert_eq!(date_millis("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(date_millis("1970-01-01T00:00:00.5Z"), Some(500));
        assert_eq!(
            date_millis("2020-02-29"),
            date_millis("2020-02-28T24:00:00Z")
        );
        assert_eq!(date_millis("2000-03-01T00:00:00Z"), Some(951_868_800_000));
        assert!(date_millis("2021-02-29").is_none());
        assert!(date_millis("yesterday").is_none());
        assert!(date_millis("2020-13-01").is_none());
        assert!(date_millis("").is_none());
    }

    #[test]
    fn cidrs() {
        let c = cidr("10.0.0.0/8").unwrap();
        assert!(c.contains(ip("10.1.2.3").unwrap()));
        assert!(!c.contains(ip("11.0.0.1").unwrap()));
        assert!(cidr("10.0.0.1").unwrap().contains(ip("10.0.0.1").unwrap()));
        assert!(cidr("0.0.0.0/0").unwrap().contains(ip("1.2.3.4").unwrap()));
        assert!(
            cidr("2001:db8::/32")
                .unwrap()
                .contains(ip("2001:db8::1").unwrap())
        );
        assert!(
            !cidr("2001:db8::/32")
                .unwrap()
                .contains(ip("10.0.0.1").unwrap())
        );
        assert!(cidr("10.0.0.0/33").is_none());
        assert!(cidr("10.0.0/8").is_none());
        assert!(c.contains(ip("::ffff:10.0.0.1").unwrap()));
    }

    #[test]
    fn base64_and_numbers() {
        assert_eq!(base64("aGk=").unwrap(), b"hi");
        assert_eq!(base64("aGk").unwrap(), b"hi");
        assert!(base64("a").is_none());
        assert!(base64("a$==").is_none());
        assert!(base64("aGVsbG9=").is_none());
        assert_eq!(number("10"), Some(10.0));
        assert_eq!(number("-1.5"), Some(-1.5));
        assert!(number("ten").is_none());
        assert!(number("inf").is_none());
    }
}
