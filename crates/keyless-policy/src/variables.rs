//! Policy variables: `${key}`, `${key, 'default'}` and the escapes `${*}`, `${?}`, `${$}`.
//!
//! Only documents with `Version: 2012-10-17` substitute variables; elsewhere `${…}` is literal.
//! A variable resolves when its key has exactly one value in the context (multi-valued keys do
//! not resolve), else to its default, else the whole policy value is *unresolved* and matches
//! nothing (so positive conditions fail, negated ones hold, a Resource matches nothing).
//! Substituted text and escapes are literal: a `*` that came from a variable is not a wildcard.

use crate::context::Context;
use crate::wildcard::Tok;

/// A policy value after variable substitution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resolved<'a> {
    /// No variables: the text as written (wildcards, if the operator has them, are live).
    Plain(&'a str),
    /// Variables were substituted: literal characters and live wildcards.
    Tokens(Vec<Tok>),
    /// A variable had no single value and no default.
    Unresolved(String),
}

impl Resolved<'_> {
    /// The text with every token literal (for exact-comparison operators).
    pub(crate) fn to_text(&self) -> Option<String> {
        match self {
            Resolved::Plain(s) => Some((*s).to_string()),
            Resolved::Tokens(t) => Some(
                t.iter()
                    .map(|t| match t {
                        Tok::Lit(c) => *c,
                        Tok::Star => '*',
                        Tok::Any => '?',
                    })
                    .collect(),
            ),
            Resolved::Unresolved(_) => None,
        }
    }
}

/// One piece of a value with variables.
enum Piece<'a> {
    Text(&'a str),
    Literal(char),
    Var {
        key: &'a str,
        default: Option<&'a str>,
    },
}

/// Splits the text into pieces; malformed `${` sequences stay literal text.
fn pieces(s: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        let (before, from) = rest.split_at(i);
        let Some(body_and_more) = from.get(2..) else {
            break;
        };
        let Some(close) = body_and_more.find('}') else {
            break;
        };
        let (body, after) = body_and_more.split_at(close);
        if !before.is_empty() {
            out.push(Piece::Text(before));
        }
        let trimmed = body.trim();
        match trimmed {
            "*" => out.push(Piece::Literal('*')),
            "?" => out.push(Piece::Literal('?')),
            "$" => out.push(Piece::Literal('$')),
            _ => match trimmed.split_once(',') {
                Some((key, default)) => {
                    let d = default.trim();
                    let unquoted = d
                        .strip_prefix('\'')
                        .and_then(|d| d.strip_suffix('\''))
                        .unwrap_or(d);
                    out.push(Piece::Var {
                        key: key.trim(),
                        default: Some(unquoted),
                    });
                }
                None => out.push(Piece::Var {
                    key: trimmed,
                    default: None,
                }),
            },
        }
        rest = after.get(1..).unwrap_or("");
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    out
}

/// Whether the text contains something that looks like a variable.
pub(crate) fn has_variables(s: &str) -> bool {
    s.contains("${")
}

/// Substitutes variables in `s`. With `wildcards`, `*` and `?` in the written text stay live.
pub(crate) fn resolve<'a>(
    s: &'a str,
    context: &Context,
    enabled: bool,
    wildcards: bool,
) -> Resolved<'a> {
    if !enabled || !has_variables(s) {
        return Resolved::Plain(s);
    }
    let mut toks = Vec::with_capacity(s.len());
    for piece in pieces(s) {
        match piece {
            Piece::Text(t) => toks.extend(t.chars().map(|c| match c {
                '*' if wildcards => Tok::Star,
                '?' if wildcards => Tok::Any,
                c => Tok::Lit(c),
            })),
            Piece::Literal(c) => toks.push(Tok::Lit(c)),
            Piece::Var { key, default } => {
                let value = match context.get(key) {
                    Some([one]) => Some(one.as_str()),
                    _ => default,
                };
                match value {
                    Some(v) => toks.extend(v.chars().map(Tok::Lit)),
                    None => return Resolved::Unresolved(key.to_string()),
                }
            }
        }
    }
    Resolved::Tokens(toks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        let mut c = Context::new();
        c.insert("aws:username", "alice");
        c.insert("aws:TagKeys", "a");
        c.insert("aws:TagKeys", "b");
        c
    }

    #[test]
    fn substitutes_and_escapes() {
        let c = ctx();
        let r = resolve("home/${AWS:UserName}/${*}", &c, true, true);
        assert_eq!(r.to_text().unwrap(), "home/alice/*");
        let Resolved::Tokens(t) = r else { panic!() };
        assert_eq!(t.last(), Some(&Tok::Lit('*')));
        assert_eq!(
            resolve("${aws:missing, 'dflt'}", &c, true, false)
                .to_text()
                .unwrap(),
            "dflt"
        );
        assert!(matches!(
            resolve("${aws:missing}", &c, true, false),
            Resolved::Unresolved(_)
        ));
        // Multi-valued keys do not resolve.
        assert!(matches!(
            resolve("${aws:TagKeys}", &c, true, false),
            Resolved::Unresolved(_)
        ));
        assert_eq!(
            resolve("${$}{x}", &c, true, false).to_text().unwrap(),
            "${x}"
        );
        // Legacy versions keep the text.
        assert_eq!(
            resolve("${aws:username}", &c, false, false),
            Resolved::Plain("${aws:username}")
        );
        // Unterminated stays literal.
        assert_eq!(resolve("a${b", &c, true, false).to_text().unwrap(), "a${b");
    }
}
