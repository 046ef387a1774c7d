//! The AWS IAM policy language: parse, validate, evaluate and explain policy documents.
//!
//! Key design decision: this crate is **pure**. It does no I/O, no async and never reads the clock;
//! time-dependent keys such as `aws:CurrentTime` are ordinary context values the caller supplies.
//! That makes every decision reproducible from its inputs, and lets the same engine run in the
//! STS server, in `keyless explain` and in tests.
//!
//! * [`parse`] turns text into a validated [`Policy`] (IAM's `MalformedPolicyDocument` checks),
//!   reporting every error with a JSON path and a line:column.
//! * [`evaluate`] decides a [`Request`] against a [`PolicySet`] with AWS's logic (explicit deny
//!   wins; an allow is needed from the identity or resource policy, and from the boundary and the
//!   session policies when present) and returns a [`Trace`] that explains the decision.
//! * [`wildcard_match`] and [`action_matches`] are the matchers, exposed for linters. They run in
//!   `O(pattern × value)` time without backtracking, so hostile patterns cannot blow up.
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::string_slice
    )
)]
#![warn(missing_docs)]

mod ast;
mod condition;
mod context;
mod error;
mod eval;
mod explain;
mod json;
mod parse;
mod values;
mod variables;
mod wildcard;

pub use ast::{
    BaseOperator, Condition, Effect, Operator, Policy, PolicyKind, PrincipalEntry, PrincipalId,
    PrincipalKind, PrincipalSpec, Qualifier, Statement, Version,
};
pub use context::Context;
pub use error::{ErrorKind, PolicyError, PolicyErrors};
pub use eval::{Decision, Evaluation, Named, PolicySet, Request, evaluate};
pub use explain::{
    ConditionTrace, ElementTrace, MatchedStatement, PolicyRole, PolicyTrace, StatementTrace, Trace,
};
pub use parse::{MAX_DOCUMENT_CHARS, parse, size_limit};
pub use wildcard::{action_matches, arn_matches, wildcard_match};
