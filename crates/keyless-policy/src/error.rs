//! Parse and validation errors.
//!
//! The crate's dependency budget is serde + serde_json only, so the `Display`/`Error` impls are
//! written by hand instead of with `thiserror`.

use std::fmt;

/// What kind of problem a [`PolicyError`] reports; lets callers map errors to AWS's wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The text is not valid JSON (or nests too deeply).
    Syntax,
    /// An object has the same key twice.
    DuplicateKey,
    /// An element that the policy grammar does not know.
    UnknownElement,
    /// An element of the wrong JSON type or with an invalid value.
    InvalidValue,
    /// A required element is missing.
    MissingElement,
    /// An element that this kind of policy forbids (`Principal` in identity policies…).
    ProhibitedElement,
    /// An unknown condition operator.
    UnknownOperator,
    /// A bad principal.
    InvalidPrincipal,
    /// The document is too large or contains characters IAM refuses.
    Limit,
}

impl ErrorKind {
    /// The message AWS IAM gives for this kind of error in a `MalformedPolicyDocument` response,
    /// where AWS's wording is known; otherwise IAM's generic text.
    pub fn aws_message(self) -> &'static str {
        match self {
            ErrorKind::Syntax | ErrorKind::DuplicateKey => "Syntax errors in policy.",
            ErrorKind::InvalidPrincipal => "Invalid principal in policy",
            _ => "Syntax errors in policy.",
        }
    }
}

/// One problem in a policy document, located by JSON path and by line:column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// What kind of problem.
    pub kind: ErrorKind,
    /// What is wrong, lower case, the user's value in backticks.
    pub message: String,
    /// How to fix it, when there is something useful to say.
    pub help: Option<String>,
    /// JSON path of the offending node, e.g. `$.Statement[0].Effect`.
    pub path: String,
    /// 1-based line in the source text.
    pub line: u32,
    /// 1-based column in the source text, counted in characters.
    pub column: u32,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {} (at {})",
            self.line, self.column, self.message, self.path
        )?;
        if let Some(help) = &self.help {
            write!(f, "; help: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyError {}

/// Every problem found in a document: validation reports them all at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyErrors {
    /// The problems, in source order. Never empty when returned by [`crate::parse`].
    pub errors: Vec<PolicyError>,
}

impl PolicyErrors {
    /// The AWS `MalformedPolicyDocument` message for the first error, e.g.
    /// `Has prohibited field Principal` or `Policy statement must contain actions.`.
    pub fn aws_message(&self) -> String {
        let Some(e) = self.errors.first() else {
            return "Syntax errors in policy.".to_string();
        };
        let field = e
            .path
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .trim_end_matches(|c: char| c == ']' || c.is_ascii_digit())
            .trim_end_matches('[');
        match e.kind {
            ErrorKind::ProhibitedElement => format!("Has prohibited field {field}"),
            ErrorKind::MissingElement => match field {
                "Action" | "NotAction" => "Policy statement must contain actions.".to_string(),
                "Resource" | "NotResource" => {
                    "Policy statement must contain resources.".to_string()
                }
                other => format!("Missing required field {other}"),
            },
            ErrorKind::Limit => e.message.clone(),
            kind => kind.aws_message().to_string(),
        }
    }
}

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyErrors {}
