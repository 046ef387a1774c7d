//! XML responses in AWS's awsQuery shape.
//!
//! Why a hand-written writer instead of an XML library: we only ever *emit* XML, never parse it,
//! and only a fixed, flat vocabulary of element names chosen by our own code (`RoleArn`,
//! `member`, …) with no attributes other than the root's `xmlns`. What must be right is the
//! escaping of text content, which is where user data goes; that fits in one small function that
//! is tested below. A dependency would add surface without adding safety.

/// The XML namespace of an AWS service's responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Namespace {
    /// STS, API version `2011-06-15`.
    Sts,
    /// IAM, API version `2010-05-08`.
    Iam,
}

impl Namespace {
    /// The namespace URI AWS puts on the root element of every response of the service.
    pub fn uri(&self) -> &'static str {
        match self {
            Namespace::Sts => "https://sts.amazonaws.com/doc/2011-06-15/",
            Namespace::Iam => "https://iam.amazonaws.com/doc/2010-05-08/",
        }
    }

    /// The API version string clients send in `Version=`.
    pub fn version(&self) -> &'static str {
        match self {
            Namespace::Sts => "2011-06-15",
            Namespace::Iam => "2010-05-08",
        }
    }
}

/// A minimal streaming XML writer for response bodies.
///
/// Element names are trusted (they come from our code, not from the request); anything that is
/// not an XML name character is dropped from them as a last line of defence. Text is always
/// escaped. The writer does not check that `open` and `close` pair up: responses are built by a
/// few straight-line functions whose output is pinned by tests.
#[derive(Debug, Default, Clone)]
pub struct XmlWriter {
    buf: String,
}

impl XmlWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self {
            buf: String::with_capacity(512),
        }
    }

    /// Writes `<name>`.
    pub fn open(&mut self, name: &str) {
        self.buf.push('<');
        push_name(&mut self.buf, name);
        self.buf.push('>');
    }

    /// Writes `</name>`.
    pub fn close(&mut self, name: &str) {
        self.buf.push_str("</");
        push_name(&mut self.buf, name);
        self.buf.push('>');
    }

    /// Writes `<name>text</name>` with `text` escaped.
    pub fn elem(&mut self, name: &str, text: &str) {
        self.open(name);
        escape_text_into(&mut self.buf, text);
        self.close(name);
    }

    /// Writes `<name>text</name>` when `text` is `Some`, nothing otherwise: AWS omits absent
    /// optional members rather than sending empty elements.
    pub fn opt_elem(&mut self, name: &str, text: Option<&str>) {
        if let Some(text) = text {
            self.elem(name, text);
        }
    }

    /// Appends the content of another writer (for building nested parts separately).
    pub fn append(&mut self, other: XmlWriter) {
        self.buf.push_str(&other.buf);
    }

    /// The XML written so far.
    pub fn into_string(self) -> String {
        self.buf
    }

    /// The XML written so far, borrowed.
    pub fn as_str(&self) -> &str {
        &self.buf
    }
}

/// Element names are our own; keep only characters that are safe in an XML name.
fn push_name(buf: &mut String, name: &str) {
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':');
    if name.chars().all(valid) {
        buf.push_str(name);
        return;
    }
    buf.extend(name.chars().filter(|&c| valid(c)));
}

/// Escapes text content. Besides the five markup characters, `\r` is written as a character
/// reference so that XML line-end normalisation does not turn it into `\n` on the client, and
/// characters XML 1.0 cannot carry at all (C0 controls other than tab, newline and carriage
/// return; U+FFFE, U+FFFF) become U+FFFD so the document stays well-formed.
pub fn escape_text_into(buf: &mut String, text: &str) {
    let bytes = text.as_bytes();
    // Runs that need no escaping (all of a session token) are copied whole; the scan for the
    // next byte that may need it is one bit test per byte. Every such byte is ASCII or the
    // lead byte of U+FFFE/U+FFFF, so `start` and `i` are always char boundaries.
    let mut start = 0;
    let mut i = 0;
    while let Some(skip) = bytes
        .get(i..)
        .and_then(|rest| rest.iter().position(|&b| may_escape(b)))
    {
        i += skip;
        let b = bytes.get(i).copied().unwrap_or_default();
        let (replacement, len) = match b {
            b'&' => ("&amp;", 1),
            b'<' => ("&lt;", 1),
            b'>' => ("&gt;", 1),
            b'"' => ("&quot;", 1),
            b'\'' => ("&apos;", 1),
            b'\r' => ("&#xD;", 1),
            0xEF if matches!(bytes.get(i + 1..i + 3), Some([0xBF, 0xBE | 0xBF])) => ("\u{FFFD}", 3),
            0xEF => {
                i += 1;
                continue;
            }
            _ => ("\u{FFFD}", 1),
        };
        buf.push_str(text.get(start..i).unwrap_or_default());
        buf.push_str(replacement);
        i += len;
        start = i;
    }
    buf.push_str(text.get(start..).unwrap_or_default());
}

/// Whether [`escape_text_into`] must look at byte `b`: markup, carriage return, C0 controls
/// other than tab and newline, and 0xEF (which starts U+FFFE and U+FFFF, among others). Below
/// 64 it is one bit of a mask, so the scan costs a shift and a test per byte.
fn may_escape(b: u8) -> bool {
    const LOW: u64 = (0xFFFF_FFFF & !(1 << b'\t') & !(1 << b'\n'))
        | 1 << b'&'
        | 1 << b'<'
        | 1 << b'>'
        | 1 << b'"'
        | 1 << b'\'';
    if b < 64 {
        (LOW >> b) & 1 == 1
    } else {
        b == 0xEF
    }
}

/// Escapes text content into a new string (see [`escape_text_into`]).
pub fn escape_text(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    escape_text_into(&mut s, text);
    s
}

/// A complete success document:
/// `<OpResponse xmlns="…"><OpResult>…</OpResult><ResponseMetadata><RequestId>…</RequestId></ResponseMetadata></OpResponse>`.
///
/// `result` is the content of `OpResult`; with `None` the `OpResult` element is omitted, as AWS
/// does for operations without output (e.g. `DeleteRole`).
pub fn success_response(
    op: &str,
    ns: Namespace,
    request_id: &str,
    result: Option<XmlWriter>,
) -> String {
    let mut w = XmlWriter::new();
    w.buf.push('<');
    push_name(&mut w.buf, op);
    w.buf.push_str("Response xmlns=\"");
    w.buf.push_str(ns.uri());
    w.buf.push_str("\">");
    if let Some(result) = result {
        let result_name = format!("{op}Result");
        w.open(&result_name);
        w.append(result);
        w.close(&result_name);
    }
    w.open("ResponseMetadata");
    w.elem("RequestId", request_id);
    w.close("ResponseMetadata");
    w.close(&format!("{op}Response"));
    w.into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_controls() {
        assert_eq!(
            escape_text("a<b>&\"c'\r\n\t\u{1}\u{FFFF}"),
            "a&lt;b&gt;&amp;&quot;c&apos;&#xD;\n\t\u{FFFD}\u{FFFD}"
        );
        assert_eq!(escape_text("plain é ✓"), "plain é ✓");
    }

    #[test]
    fn success_with_result() {
        let mut r = XmlWriter::new();
        r.open("Roles");
        r.open("member");
        r.elem("RoleName", "a<b");
        r.opt_elem("Description", None);
        r.close("member");
        r.close("Roles");
        let doc = success_response("ListRoles", Namespace::Iam, "rid-1", Some(r));
        assert_eq!(
            doc,
            "<ListRolesResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><ListRolesResult>\
             <Roles><member><RoleName>a&lt;b</RoleName></member></Roles></ListRolesResult>\
             <ResponseMetadata><RequestId>rid-1</RequestId></ResponseMetadata></ListRolesResponse>"
        );
    }

    #[test]
    fn success_without_result_omits_result_element() {
        let doc = success_response("DeleteRole", Namespace::Iam, "x", None);
        assert!(!doc.contains("DeleteRoleResult"));
        assert!(doc.starts_with(
            "<DeleteRoleResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">"
        ));
        assert!(doc.ends_with("</DeleteRoleResponse>"));
    }

    #[test]
    fn names_are_sanitised() {
        let mut w = XmlWriter::new();
        w.elem("a b\"><x", "t");
        assert_eq!(w.into_string(), "<abx>t</abx>");
    }

    #[test]
    fn namespaces() {
        assert_eq!(
            Namespace::Sts.uri(),
            "https://sts.amazonaws.com/doc/2011-06-15/"
        );
        assert_eq!(Namespace::Iam.version(), "2010-05-08");
    }
}
