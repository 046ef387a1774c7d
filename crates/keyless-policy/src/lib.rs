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
//!
//! ```
//! use keyless_policy::{
//!     Context, Decision, Named, PolicyKind, PolicySet, PrincipalId, PrincipalKind, Request,
//!     evaluate, parse,
//! };
//!
//! let provider = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com";
//! let trust = parse(
//!     &format!(r#"{{"Version": "2012-10-17", "Statement": [{{
//!         "Sid": "GitHubMain", "Effect": "Allow",
//!         "Principal": {{"Federated": "{provider}"}},
//!         "Action": "sts:AssumeRoleWithWebIdentity",
//!         "Condition": {{"StringEquals": {{
//!             "token.actions.githubusercontent.com:sub": "repo:acme/app:ref:refs/heads/main"}}}}
//!     }}]}}"#),
//!     PolicyKind::Trust,
//! )?;
//! let mut context = Context::new();
//! context.insert("token.actions.githubusercontent.com:sub", "repo:acme/app:pull_request");
//! let set = PolicySet {
//!     resource: Some(Named { name: "trust", policy: &trust }),
//!     ..PolicySet::default()
//! };
//! let principal = [PrincipalId::new(PrincipalKind::Federated, provider)];
//! let evaluation = evaluate(&set, &Request {
//!     principal: &principal,
//!     action: "sts:AssumeRoleWithWebIdentity",
//!     resource: "arn:aws:iam::123456789012:role/deploy",
//!     context: &context,
//! });
//! assert_eq!(evaluation.decision, Decision::ImplicitDeny);
//! assert!(evaluation.trace.summary().starts_with(r#"statement "GitHubMain" did not apply: StringEquals"#));
//! # Ok::<(), keyless_policy::PolicyErrors>(())
//! ```
//!
//! Not modelled: SCPs/RCPs, and the same-account rule by which a resource policy naming the
//! *session* ARN grants despite boundary or session-policy gaps (AWS §5.5.4); here every
//! resource-policy allow is still limited by the boundary and session policies.
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
pub use parse::{MAX_DOCUMENT_CHARS, guess_kind, parse, parse_bytes, size_limit};
pub use wildcard::{action_matches, arn_matches, wildcard_match};
