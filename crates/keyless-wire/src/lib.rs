//! The AWS wire layer of keyless: awsQuery request decoding, XML responses, AWS error
//! documents, SigV4 verification, ARNs and AWS identifier formats.
//!
//! Key design decision: this crate knows the *shape* of AWS traffic and nothing about what a
//! request means. It holds no business rules, does no I/O and never reads the clock (the current
//! time is always a parameter), so every function here is deterministic apart from the random
//! identifiers in [`ids`] and can be tested and fuzzed in isolation. All mapping from wire
//! failures to AWS error codes happens in one place, [`WireError::to_aws`].
#![warn(missing_docs)]

pub mod error;
pub mod ids;
pub mod query;
pub mod sigv4;
pub mod xml;

pub use error::{AwsError, WireError, validation_message, validation_message_nullable};
pub use ids::{
    Arn, access_key_account, access_key_id, iso8601, random_fill, request_id, secret_access_key,
    unique_id, url_encode_document, valid_iam_name, valid_role_session_name,
};
pub use query::{MAX_BODY_BYTES, MAX_PARAMETERS, QueryRequest, decode_query};
pub use sigv4::{HttpRequestParts, SigV4Auth, SigningKeyCache, parse_sigv4, verify_sigv4};
pub use xml::{Namespace, XmlWriter, success_response};
