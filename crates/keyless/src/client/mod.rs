//! The client side of keyless: what a CI job runs (`keyless assume`) and what an operator runs once
//! (`keyless setup`).
//!
//! Design decision: both commands talk to AWS only through the real AWS SDK crates (`aws-sdk-sts`,
//! `aws-sdk-iam`, `aws-config`), never through keyless's own wire code, so that what works against
//! `keyless serve` works against real AWS and the server is tested by an independent client.
//! Everything that can be decided without the network (endpoint precedence, retry classification
//! and delays, output rendering, trust and permission documents, the plan diff, the workflow) is a
//! pure function here with unit tests; the network shells are thin.

pub mod diff;
pub mod endpoint;
pub mod iam;
pub mod jwt;
pub mod output;
pub mod retry;
pub mod secret;
pub mod sts;
pub mod token;
pub mod trust;
pub mod workflow;

/// The issuer of GitHub Actions ID tokens (also the dev issuer's default `iss`).
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// The audience configure-aws-credentials asks for, and the client id setup registers.
pub const DEFAULT_AUDIENCE: &str = "sts.amazonaws.com";

/// configure-aws-credentials' default `role-session-name`.
pub const DEFAULT_SESSION_NAME: &str = "GitHubActions";
