//! Byte offsets of every element of a JSON text, keyed by JSON path.
//!
//! `serde_json` gives no spans, and diagnostics need line:column for every condition value, so
//! this small scanner walks the (already validated) text once. Object members map to the offset
//! of their key, array elements to the offset of their value.

use std::collections::HashMap;

use crate::model::path_key;

/// Path → byte offset.
pub type Index = HashMap<String, usize>;

struct Scan<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
    out: Index,
    depth: usize,
}

/// Indexes `text` (which should be valid JSON; on malformed input the index is partial).
pub fn index(text: &str) -> Index {
    let mut s = Scan {
        text,
        b: text.as_bytes(),
        i: 0,
        out: HashMap::new(),
        depth: 0,
    };
    s.value("$".to_string());
    s.out
}

impl Scan<'_> {
    fn ws(&mut self) {
        while self.b.get(self.i).is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn string_end(&self, start: usize) -> usize {
        let mut j = start + 1;
        while let Some(&c) = self.b.get(j) {
            match c {
                b'\\' => j += 2,
                b'"' => return j + 1,
                _ => j += 1,
            }
        }
        j
    }

    fn value(&mut self, path: String) {
        self.ws();
        self.out.entry(path.clone()).or_insert(self.i);
        self.depth += 1;
        if self.depth > 256 {
            return;
        }
        match self.b.get(self.i) {
            Some(b'{') => self.object(&path),
            Some(b'[') => self.array(&path),
            Some(b'"') => self.i = self.string_end(self.i),
            Some(_) => {
                while self
                    .b
                    .get(self.i)
                    .is_some_and(|c| !matches!(c, b',' | b']' | b'}') && !c.is_ascii_whitespace())
                {
                    self.i += 1;
                }
            }
            None => {}
        }
        self.depth -= 1;
    }

    fn object(&mut self, path: &str) {
        self.i += 1;
        loop {
            self.ws();
            match self.b.get(self.i) {
                Some(b'}') => {
                    self.i += 1;
                    return;
                }
                Some(b',') => self.i += 1,
                Some(b'"') => {
                    let start = self.i;
                    let end = self.string_end(start);
                    let key: String = self
                        .text
                        .get(start..end)
                        .and_then(|raw| serde_json::from_str(raw).ok())
                        .unwrap_or_default();
                    self.i = end;
                    self.ws();
                    if self.b.get(self.i) == Some(&b':') {
                        self.i += 1;
                    }
                    let child = path_key(path, &key);
                    self.out.entry(child.clone()).or_insert(start);
                    self.value(child);
                }
                _ => return,
            }
        }
    }

    fn array(&mut self, path: &str) {
        self.i += 1;
        let mut n = 0usize;
        loop {
            self.ws();
            match self.b.get(self.i) {
                Some(b']') => {
                    self.i += 1;
                    return;
                }
                Some(b',') => self.i += 1,
                Some(_) => {
                    let before = self.i;
                    self.value(format!("{path}[{n}]"));
                    n += 1;
                    if self.i == before {
                        return;
                    }
                }
                None => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_elements_have_offsets() {
        let text = "{\n  \"Statement\": [\n    {\"Condition\": {\"StringLike\": {\"a:sub\": [\"x\", \"y\"]}}}\n  ]\n}";
        let idx = index(text);
        let at = |p: &str| idx.get(p).and_then(|&o| text.get(o..o + 3)).unwrap_or("");
        assert_eq!(at("$.Statement"), "\"St");
        assert_eq!(
            at("$.Statement[0].Condition.StringLike['a:sub'][1]"),
            "\"y\""
        );
        assert_eq!(at("$.Statement[0].Condition.StringLike['a:sub']"), "\"a:");
    }
}
