//! A small JSON parser that keeps the position of every node.
//!
//! Why not `serde_json`: policy diagnostics must name the JSON path **and** the line:column of the
//! offending node, and IAM rejects duplicate keys. `serde_json::Value` keeps neither positions nor
//! duplicates (the last key silently wins), so the document is parsed here by hand. `serde_json`
//! is still used to *write* traces.
//!
//! Limits: nesting deeper than [`MAX_DEPTH`] is an error (no recursion blow-up on hostile input);
//! numbers are kept as their source text.

use std::borrow::Cow;

/// Maximum nesting of arrays and objects. Real policies nest at most 5 levels.
pub(crate) const MAX_DEPTH: usize = 64;

/// A position in the source text: 1-based line and column (column in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Pos {
    pub line: u32,
    pub column: u32,
}

/// A JSON value. Strings without escapes borrow from the source text, so parsing a policy
/// allocates only for what the policy keeps.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value<'a> {
    Null,
    Bool(bool),
    /// The number exactly as written.
    Number(&'a str),
    String(Cow<'a, str>),
    Array(Vec<Node<'a>>),
    Object(Vec<Member<'a>>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node<'a> {
    pub value: Value<'a>,
    pub start: Pos,
    /// Position of the last character of the node.
    pub end: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Member<'a> {
    pub key: Cow<'a, str>,
    pub key_pos: Pos,
    pub value: Node<'a>,
}

impl Value<'_> {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }
}

/// A syntax error with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub message: String,
    pub pos: Pos,
    /// JSON path of the innermost container (and key) being read when the error occurred.
    pub path: String,
}

/// Where the parser is, for error paths: an array index or an object key (as a byte range of
/// the raw key text, so tracking costs no allocation).
#[derive(Debug, Clone, Copy)]
enum Frame {
    Index(usize),
    Key(usize, usize),
    NoKey,
}

/// Renders a key for a JSON path: `.Key` when it is an identifier, else `["key"]`.
pub(crate) fn push_key(out: &mut String, key: &str) {
    let plain = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        out.push('.');
        out.push_str(key);
    } else {
        out.push('[');
        out.push_str(&serde_json::to_string(key).unwrap_or_default());
        out.push(']');
    }
}

struct Parser<'a> {
    bytes: &'a [u8],
    text: &'a str,
    offset: usize,
    line: u32,
    column: u32,
    stack: Vec<Frame>,
}

/// Parses one JSON document (surrounding whitespace allowed).
pub(crate) fn parse(text: &str) -> Result<Node<'_>, SyntaxError> {
    let mut p = Parser {
        bytes: text.as_bytes(),
        text,
        offset: 0,
        line: 1,
        column: 1,
        stack: Vec::new(),
    };
    // A byte-order mark is not JSON; IAM refuses it too.
    p.skip_ws();
    let node = match p.value() {
        Ok(node) => node,
        Err(mut e) => {
            e.path = p.path();
            return Err(e);
        }
    };
    p.skip_ws();
    if p.offset < p.bytes.len() {
        let mut e = p.error("unexpected text after the end of the document");
        e.path = "$".to_string();
        return Err(e);
    }
    Ok(node)
}

impl<'a> Parser<'a> {
    fn path(&self) -> String {
        let mut out = String::from("$");
        for frame in &self.stack {
            match *frame {
                Frame::Index(i) => {
                    out.push('[');
                    out.push_str(&i.to_string());
                    out.push(']');
                }
                Frame::Key(start, end) => {
                    push_key(&mut out, self.text.get(start..end).unwrap_or(""))
                }
                Frame::NoKey => {}
            }
        }
        out
    }

    fn set_frame(&mut self, frame: Frame) {
        if let Some(top) = self.stack.last_mut() {
            *top = frame;
        }
    }

    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            column: self.column,
        }
    }

    fn error(&self, message: impl Into<String>) -> SyntaxError {
        SyntaxError {
            message: message.into(),
            pos: self.pos(),
            path: String::new(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.offset).copied()
    }

    /// Advances over one character (UTF-8 aware for the column count).
    fn bump(&mut self) -> Option<char> {
        let c = self.text.get(self.offset..)?.chars().next()?;
        self.offset += c.len_utf8();
        if c == '\n' {
            self.line = self.line.saturating_add(1);
            self.column = 1;
        } else {
            self.column = self.column.saturating_add(1);
        }
        Some(c)
    }

    fn skip_ws(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\r' => {
                    self.offset += 1;
                    self.column = self.column.saturating_add(1);
                }
                b'\n' => {
                    self.offset += 1;
                    self.line = self.line.saturating_add(1);
                    self.column = 1;
                }
                _ => break,
            }
        }
    }

    fn describe_here(&self) -> String {
        match self.text.get(self.offset..).and_then(|s| s.chars().next()) {
            Some(c) => format!("unexpected character `{}`", c.escape_debug()),
            None => "unexpected end of the document".to_string(),
        }
    }

    fn value(&mut self) -> Result<Node<'a>, SyntaxError> {
        let start = self.pos();
        let value = match self.peek() {
            Some(b'{') => self.object()?,
            Some(b'[') => self.array()?,
            Some(b'"') => Value::String(self.string()?),
            Some(b't') => self.literal("true", Value::Bool(true))?,
            Some(b'f') => self.literal("false", Value::Bool(false))?,
            Some(b'n') => self.literal("null", Value::Null)?,
            Some(b'-' | b'0'..=b'9') => self.number()?,
            _ => return Err(self.error(format!("{}, expected a JSON value", self.describe_here()))),
        };
        let end = self.last_pos();
        Ok(Node { value, start, end })
    }

    /// Position of the character just consumed.
    fn last_pos(&self) -> Pos {
        Pos {
            line: self.line,
            column: self.column.saturating_sub(1).max(1),
        }
    }

    fn literal(&mut self, word: &str, value: Value<'a>) -> Result<Value<'a>, SyntaxError> {
        if self.bytes.get(self.offset..self.offset + word.len()) == Some(word.as_bytes()) {
            for _ in 0..word.len() {
                self.bump();
            }
            Ok(value)
        } else {
            Err(self.error(format!("{}, expected a JSON value", self.describe_here())))
        }
    }

    fn number(&mut self) -> Result<Value<'a>, SyntaxError> {
        let begin = self.offset;
        let start = self.pos();
        if self.peek() == Some(b'-') {
            self.bump();
        }
        match self.peek() {
            Some(b'0') => {
                self.bump();
            }
            Some(b'1'..=b'9') => {
                while matches!(self.peek(), Some(b'0'..=b'9')) {
                    self.bump();
                }
            }
            _ => return Err(self.error("invalid number: expected a digit")),
        }
        if self.peek() == Some(b'.') {
            self.bump();
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("invalid number: expected a digit after `.`"));
            }
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.bump();
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.bump();
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.bump();
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("invalid number: expected a digit in the exponent"));
            }
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.bump();
            }
        }
        match self.text.get(begin..self.offset) {
            Some(s) => Ok(Value::Number(s)),
            None => Err(SyntaxError {
                message: "invalid number".to_string(),
                pos: start,
                path: String::new(),
            }),
        }
    }

    fn string(&mut self) -> Result<Cow<'a, str>, SyntaxError> {
        let start = self.pos();
        self.bump(); // opening quote
        // Only strings with escapes need a buffer of their own.
        let mut owned: Option<String> = None;
        let text: &'a str = self.text;
        loop {
            // Fast path: copy a run of plain characters at once.
            let run_start = self.offset;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                if b < 0x80 {
                    self.offset += 1;
                    self.column = self.column.saturating_add(1);
                } else {
                    self.bump();
                }
            }
            let run = text.get(run_start..self.offset).unwrap_or_default();
            match self.peek() {
                None => {
                    return Err(SyntaxError {
                        message: "unterminated string".to_string(),
                        pos: start,
                        path: String::new(),
                    });
                }
                Some(b'"') => {
                    self.bump();
                    return Ok(match owned {
                        Some(mut out) => {
                            out.push_str(run);
                            Cow::Owned(out)
                        }
                        None => Cow::Borrowed(run),
                    });
                }
                Some(b'\\') => {
                    let out = owned.get_or_insert_with(String::new);
                    out.push_str(run);
                    self.bump();
                    let esc_pos = self.pos();
                    match self.bump() {
                        Some('"') => out.push('"'),
                        Some('\\') => out.push('\\'),
                        Some('/') => out.push('/'),
                        Some('b') => out.push('\u{8}'),
                        Some('f') => out.push('\u{c}'),
                        Some('n') => out.push('\n'),
                        Some('r') => out.push('\r'),
                        Some('t') => out.push('\t'),
                        Some('u') => {
                            let c = self.unicode_escape(esc_pos)?;
                            out.push(c);
                        }
                        Some(c) => {
                            return Err(SyntaxError {
                                message: format!(
                                    "invalid escape `\\{}` in string",
                                    c.escape_debug()
                                ),
                                pos: esc_pos,
                                path: String::new(),
                            });
                        }
                        None => {
                            return Err(SyntaxError {
                                message: "unterminated string".to_string(),
                                pos: start,
                                path: String::new(),
                            });
                        }
                    }
                }
                Some(_) => {
                    return Err(self.error(
                        "control character in string (write it as an escape such as `\\n`)",
                    ));
                }
            }
        }
    }

    fn hex4(&mut self, pos: Pos) -> Result<u32, SyntaxError> {
        let mut v: u32 = 0;
        for _ in 0..4 {
            let d = self
                .peek()
                .and_then(|b| (b as char).to_digit(16))
                .ok_or_else(|| SyntaxError {
                    message: "invalid `\\u` escape: expected 4 hex digits".to_string(),
                    pos,
                    path: String::new(),
                })?;
            self.bump();
            v = v * 16 + d;
        }
        Ok(v)
    }

    fn unicode_escape(&mut self, pos: Pos) -> Result<char, SyntaxError> {
        let hi = self.hex4(pos)?;
        let code = if (0xD800..0xDC00).contains(&hi) {
            if self.peek() == Some(b'\\') && self.bytes.get(self.offset + 1) == Some(&b'u') {
                self.bump();
                self.bump();
                let lo = self.hex4(pos)?;
                if !(0xDC00..0xE000).contains(&lo) {
                    return Err(SyntaxError {
                        message: "invalid `\\u` escape: unpaired surrogate".to_string(),
                        pos,
                        path: String::new(),
                    });
                }
                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
            } else {
                return Err(SyntaxError {
                    message: "invalid `\\u` escape: unpaired surrogate".to_string(),
                    pos,
                    path: String::new(),
                });
            }
        } else {
            hi
        };
        char::from_u32(code).ok_or_else(|| SyntaxError {
            message: "invalid `\\u` escape: not a character".to_string(),
            pos,
            path: String::new(),
        })
    }

    fn enter(&mut self, frame: Frame) -> Result<(), SyntaxError> {
        self.stack.push(frame);
        if self.stack.len() > MAX_DEPTH {
            return Err(self.error(format!("the document nests deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn array(&mut self) -> Result<Value<'a>, SyntaxError> {
        self.enter(Frame::Index(0))?;
        self.bump(); // [
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.bump();
            self.stack.pop();
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_ws();
            self.set_frame(Frame::Index(items.len()));
            items.push(self.value()?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.bump();
                }
                Some(b']') => {
                    self.bump();
                    self.stack.pop();
                    return Ok(Value::Array(items));
                }
                _ => {
                    return Err(self.error(format!(
                        "{}, expected `,` or `]` in an array",
                        self.describe_here()
                    )));
                }
            }
        }
    }

    fn object(&mut self) -> Result<Value<'a>, SyntaxError> {
        self.enter(Frame::NoKey)?;
        self.bump(); // {
        let mut members = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.bump();
            self.stack.pop();
            return Ok(Value::Object(members));
        }
        loop {
            self.set_frame(Frame::NoKey);
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.error(format!("{}, expected a quoted key", self.describe_here())));
            }
            let key_pos = self.pos();
            let key_start = self.offset + 1;
            let key = self.string()?;
            self.set_frame(Frame::Key(key_start, self.offset.saturating_sub(1)));
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.error(format!(
                    "{}, expected `:` after the key",
                    self.describe_here()
                )));
            }
            self.bump();
            self.skip_ws();
            let value = self.value()?;
            members.push(Member {
                key,
                key_pos,
                value,
            });
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.bump();
                }
                Some(b'}') => {
                    self.bump();
                    self.stack.pop();
                    return Ok(Value::Object(members));
                }
                _ => {
                    return Err(self.error(format!(
                        "{}, expected `,` or `}}` in an object",
                        self.describe_here()
                    )));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_of_nodes() {
        let n = parse("{\n  \"a\": [1, \"x\"]\n}").unwrap();
        let Value::Object(m) = &n.value else { panic!() };
        assert_eq!(m[0].key_pos, Pos { line: 2, column: 3 });
        assert_eq!(m[0].value.start, Pos { line: 2, column: 8 });
        let Value::Array(items) = &m[0].value.value else {
            panic!()
        };
        assert_eq!(
            items[1].start,
            Pos {
                line: 2,
                column: 12
            }
        );
        assert_eq!(n.end, Pos { line: 3, column: 1 });
    }

    #[test]
    fn syntax_errors_carry_a_path() {
        let e = parse("{\"Statement\": [{\"Effect\": \"Allow\",}]}").unwrap_err();
        assert_eq!(e.path, "$.Statement[0]");
        let e = parse("{\"Condition\": {\"a:b\": [1, tru]}}").unwrap_err();
        assert_eq!(e.path, "$.Condition[\"a:b\"][1]");
        assert_eq!(
            e.pos,
            Pos {
                line: 1,
                column: 27
            }
        );
    }

    #[test]
    fn rejects_trailing_comma_and_garbage() {
        assert!(parse("[1,]").is_err());
        assert!(parse("{} x").is_err());
        assert!(parse("{\"a\" 1}").is_err());
        assert!(parse("01").is_err());
        assert!(parse("\"\\x\"").is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(1_000_000);
        let e = parse(&deep).unwrap_err();
        assert!(e.message.contains("nests deeper"));
    }

    #[test]
    fn escapes_and_unicode() {
        let n = parse(r#""a\u00e9\ud83d\ude00\n""#).unwrap();
        assert_eq!(n.value, Value::String("aé😀\n".into()));
        assert!(parse(r#""\ud83d""#).is_err());
    }

    #[test]
    fn column_counts_characters() {
        let n = parse("[\"é\", 1]").unwrap();
        let Value::Array(items) = &n.value else {
            panic!()
        };
        assert_eq!(items[1].start.column, 7);
    }
}
