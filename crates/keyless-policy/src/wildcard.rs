//! Wildcard (`*`, `?`) matching for actions, resources and `*Like` conditions.
//!
//! The matcher never backtracks across `*`: the pattern is cut at its stars into segments; the
//! first segment must be a prefix, the last a suffix, and each middle segment is matched at its
//! leftmost position after the previous one (leftmost is always safe because a later `*` can absorb
//! anything the earlier choice skipped). Each segment is tried at most once per value position,
//! so the cost is `O(pattern × value)` in the worst case — linear in the value for a given
//! pattern — whatever the mix of `*` and `?`. `?` matches exactly one character (not byte).

/// One element of a compiled pattern. Literal `*`/`?` (from `${*}`, `${?}` or substituted
/// variable values) are `Lit`, so they match only themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok {
    Lit(char),
    Star,
    Any,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Star,
    Any,
    Lit,
}

trait PatElem<C>: Copy {
    fn kind(self) -> Kind;
    fn eq_value(self, c: C, ci: bool) -> bool;
}

fn chars_eq_ci(a: char, b: char) -> bool {
    a == b || (a.is_ascii() && b.is_ascii() && a.eq_ignore_ascii_case(&b)) || {
        !(a.is_ascii() && b.is_ascii()) && a.to_lowercase().eq(b.to_lowercase())
    }
}

impl PatElem<u8> for u8 {
    fn kind(self) -> Kind {
        match self {
            b'*' => Kind::Star,
            b'?' => Kind::Any,
            _ => Kind::Lit,
        }
    }
    fn eq_value(self, c: u8, ci: bool) -> bool {
        if ci {
            self.eq_ignore_ascii_case(&c)
        } else {
            self == c
        }
    }
}

impl PatElem<char> for char {
    fn kind(self) -> Kind {
        match self {
            '*' => Kind::Star,
            '?' => Kind::Any,
            _ => Kind::Lit,
        }
    }
    fn eq_value(self, c: char, ci: bool) -> bool {
        if ci { chars_eq_ci(self, c) } else { self == c }
    }
}

impl PatElem<char> for Tok {
    fn kind(self) -> Kind {
        match self {
            Tok::Star => Kind::Star,
            Tok::Any => Kind::Any,
            Tok::Lit(_) => Kind::Lit,
        }
    }
    fn eq_value(self, c: char, ci: bool) -> bool {
        match self {
            Tok::Lit(l) => {
                if ci {
                    chars_eq_ci(l, c)
                } else {
                    l == c
                }
            }
            Tok::Any => true,
            Tok::Star => false,
        }
    }
}

/// Matches a star-free segment against a value slice of the same length.
fn segment_eq<P: PatElem<C>, C: Copy>(seg: &[P], val: &[C], ci: bool) -> bool {
    seg.len() == val.len()
        && seg
            .iter()
            .zip(val)
            .all(|(p, c)| p.kind() == Kind::Any || p.eq_value(*c, ci))
}

fn glob<P: PatElem<C>, C: Copy>(pat: &[P], val: &[C], ci: bool) -> bool {
    let mut segments = pat.split(|p| p.kind() == Kind::Star);
    let Some(first) = segments.next() else {
        return val.is_empty();
    };
    // The literal prefix decides most mismatches; check it before anything else.
    if first.len() == pat.len() {
        return segment_eq(first, val, ci);
    }
    let Some(head) = val.get(..first.len()) else {
        return false;
    };
    if !segment_eq(first, head, ci) {
        return false;
    }
    let star_count = pat.iter().filter(|p| p.kind() == Kind::Star).count();
    // The last segment (after the last star) is anchored at the end.
    let last = pat.rsplit(|p| p.kind() == Kind::Star).next().unwrap_or(&[]);
    let Some(tail_start) = val.len().checked_sub(last.len()) else {
        return false;
    };
    if tail_start < first.len() {
        return false;
    }
    let Some(tail) = val.get(tail_start..) else {
        return false;
    };
    if !segment_eq(last, tail, ci) {
        return false;
    }
    // Middle segments, leftmost-first within val[first.len()..tail_start].
    let mut pos = first.len();
    for seg in segments.take(star_count.saturating_sub(1)) {
        if seg.is_empty() {
            continue;
        }
        let mut found = false;
        while pos + seg.len() <= tail_start {
            if let Some(window) = val.get(pos..pos + seg.len())
                && segment_eq(seg, window, ci)
            {
                found = true;
                break;
            }
            pos += 1;
        }
        if !found {
            return false;
        }
        pos += seg.len();
    }
    true
}

/// Matches `value` against `pattern`, where `*` matches any run of characters (including none,
/// and including `/` and `:`) and `?` matches exactly one character. Runs in
/// `O(pattern × value)` time with no backtracking blow-up.
pub fn wildcard_match(pattern: &str, value: &str, case_insensitive: bool) -> bool {
    if pattern.is_ascii() && value.is_ascii() {
        glob(pattern.as_bytes(), value.as_bytes(), case_insensitive)
    } else {
        let p: Vec<char> = pattern.chars().collect();
        let v: Vec<char> = value.chars().collect();
        glob(&p, &v, case_insensitive)
    }
}

/// Matches a compiled pattern (which may contain literal `*`/`?`) against a value.
pub(crate) fn tokens_match(pattern: &[Tok], value: &str, case_insensitive: bool) -> bool {
    let v: Vec<char> = value.chars().collect();
    glob(pattern, &v, case_insensitive)
}

/// Whether an `Action` pattern (`s3:Get*`, `*`) matches an action name (`s3:GetObject`). Service
/// prefix and action name are both case-insensitive.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    pattern == "*" || wildcard_match(pattern, action, true)
}

/// Splits an ARN into its six parts (`arn`, partition, service, region, account, resource);
/// the resource part keeps any further colons. `None` if there are fewer than five colons.
fn split_arn<T: Copy>(s: &[T], is_colon: impl Fn(T) -> bool) -> Option<[&[T]; 6]> {
    let mut parts: [&[T]; 6] = [&[]; 6];
    let mut rest = s;
    for part in parts.iter_mut().take(5) {
        let i = rest.iter().position(|c| is_colon(*c))?;
        let (head, tail) = rest.split_at(i);
        *part = head;
        rest = tail.get(1..)?;
    }
    parts[5] = rest;
    Some(parts)
}

fn arn_glob<P: PatElem<C>, C: Copy>(
    pat: &[P],
    val: &[C],
    pat_colon: impl Fn(P) -> bool,
    val_colon: impl Fn(C) -> bool,
) -> bool {
    match (split_arn(pat, pat_colon), split_arn(val, val_colon)) {
        (Some(p), Some(v)) => p.iter().zip(v.iter()).all(|(p, v)| glob(p, v, false)),
        // A pattern that is not ARN-shaped (e.g. `*`, `arn:aws:*`) is one glob over the whole
        // value; an ARN pattern never matches a value that is not an ARN.
        (None, _) => glob(pat, val, false),
        (Some(_), None) => false,
    }
}

/// Whether a resource/ARN pattern matches an ARN, segment by segment: a wildcard in the
/// partition, service, region or account part stays inside that part; in the resource part (after
/// the fifth colon) `*` spans `/` and `:`. Case-sensitive.
pub fn arn_matches(pattern: &str, value: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if pattern.is_ascii() && value.is_ascii() {
        arn_glob(
            pattern.as_bytes(),
            value.as_bytes(),
            |c| c == b':',
            |c| c == b':',
        )
    } else {
        let p: Vec<char> = pattern.chars().collect();
        let v: Vec<char> = value.chars().collect();
        arn_glob(&p, &v, |c| c == ':', |c| c == ':')
    }
}

/// [`arn_matches`] for a compiled pattern.
pub(crate) fn arn_tokens_match(pattern: &[Tok], value: &str) -> bool {
    let v: Vec<char> = value.chars().collect();
    arn_glob(pattern, &v, |t| t == Tok::Lit(':'), |c| c == ':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basics() {
        assert!(wildcard_match("*", "", false));
        assert!(wildcard_match("", "", false));
        assert!(!wildcard_match("", "a", false));
        assert!(wildcard_match("a*c", "abbbc", false));
        assert!(wildcard_match("a*c", "ac", false));
        assert!(!wildcard_match("a*c", "ab", false));
        assert!(wildcard_match("a?c", "abc", false));
        assert!(!wildcard_match("a?c", "ac", false));
        assert!(wildcard_match("*b*b*", "abxb", false));
        assert!(!wildcard_match("*b*b*", "ab", false));
        assert!(wildcard_match("a*b?d*", "axxbcdzz", false));
        assert!(wildcard_match(
            "repo:org/*",
            "repo:org/x:ref:refs/heads/main",
            false
        ));
        assert!(!wildcard_match("ABC", "abc", false));
        assert!(wildcard_match("ABC", "abc", true));
        assert!(wildcard_match("é?", "éü", false));
        assert!(wildcard_match("*aa", "aaa", false));
        assert!(wildcard_match("aa*aa", "aaa aa", false));
        assert!(!wildcard_match("aa*aa", "aaa", false));
    }

    #[test]
    fn hostile_pattern_is_fast() {
        let value = "a".repeat(100_000);
        let t = std::time::Instant::now();
        let pattern = "*?".repeat(500) + "b";
        assert!(!wildcard_match(&pattern, &value, false));
        // A middle segment that almost matches everywhere, many stars: still one pass.
        let pattern = "*?".repeat(50) + "*" + &"a".repeat(40) + "b*" + &"?*".repeat(50) + "a";
        assert!(!wildcard_match(&pattern, &value, false));
        let pattern = "*".repeat(1000) + &"a".repeat(40) + "*" + &"?".repeat(100) + "*a";
        assert!(wildcard_match(&pattern, &value, false));
        assert!(t.elapsed().as_secs() < 5, "{:?}", t.elapsed());
    }

    #[test]
    fn actions() {
        assert!(action_matches("s3:Get*", "S3:GETOBJECT"));
        assert!(action_matches("*", "iam:CreateRole"));
        assert!(!action_matches("s3:Get*", "s3:PutObject"));
        assert!(action_matches(
            "sts:AssumeRole*",
            "sts:AssumeRoleWithWebIdentity"
        ));
    }

    #[test]
    fn arns_segment_by_segment() {
        assert!(arn_matches(
            "arn:aws:s3:::bucket/*",
            "arn:aws:s3:::bucket/a/b:c"
        ));
        assert!(arn_matches(
            "arn:aws:iam::*:role/x",
            "arn:aws:iam::123456789012:role/x"
        ));
        // A wildcard in the account segment cannot eat the colon into the resource part.
        assert!(!arn_matches(
            "arn:aws:iam::1*:role/x",
            "arn:aws:iam::1:2:role/x"
        ));
        assert!(wildcard_match(
            "arn:aws:iam::1*:role/x",
            "arn:aws:iam::1:2:role/x",
            false
        ));
        // A pattern that is not ARN-shaped is one glob.
        assert!(arn_matches("arn:aws:iam::1*", "arn:aws:iam::1:role/x"));
        assert!(!arn_matches("arn:aws:s3:::Bucket", "arn:aws:s3:::bucket"));
        assert!(arn_matches("*", "anything"));
        assert!(!arn_matches("arn:aws:s3:::b", "not-an-arn"));
    }
}
