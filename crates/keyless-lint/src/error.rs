//! The one error type of this crate.
//!
//! Findings are not errors: an error means an input could not be read or parsed at all, which
//! the CLI turns into exit status 2.

use std::path::PathBuf;

/// Why an input could not be linted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LintError {
    /// The file or directory could not be read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The document is not valid JSON / YAML / HCL.
    #[error("{file}:{line}:{column}: cannot parse {format}: {message}")]
    Syntax {
        /// Display name of the input.
        file: String,
        /// What the input was parsed as (`JSON`, `YAML`, `HCL`).
        format: &'static str,
        /// 1-based line of the error (1 when unknown).
        line: usize,
        /// 1-based column of the error (1 when unknown).
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// The parser did not finish within its time budget (a document built to make it slow).
    #[error("{file}: cannot parse {format}: {reason}")]
    TooComplex {
        /// Display name of the input.
        file: String,
        /// What the input was parsed as.
        format: &'static str,
        /// What took too long, and the likely cause.
        reason: String,
    },
    /// The document parsed but holds nothing this linter understands (no trust policy, no role).
    #[error(
        "{file}: no trust policy found (expected an IAM policy, `aws iam get-role` output, a CloudFormation template, Terraform source or a Terraform plan)"
    )]
    NoPolicy {
        /// Display name of the input.
        file: String,
    },
}
