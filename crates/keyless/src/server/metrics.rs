//! Prometheus metrics (`GET /metrics`, OpenMetrics text): requests by action and outcome,
//! latency histograms, JWKS cache hits and fetches, database errors.
//!
//! Recording is a few atomic adds behind a read lock, so it stays off the hot path's profile;
//! label values are `&'static str` on success (actions come from the served lists, anything else
//! is `unknown`) and AWS's error code on failure (a set keyless defines), so a client cannot grow
//! the label space.

use std::borrow::Cow;
use std::fmt::Write as _;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A label value that is usually static and owned only in rare cases.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct Value(pub Cow<'static, str>);

impl EncodeLabelValue for Value {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        encoder.write_str(&self.0)
    }
}

/// Labels of `keyless_requests`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `sts` or `iam`.
    pub service: Value,
    /// The AWS action, or `unknown`.
    pub action: Value,
    /// `ok`, or AWS's error code.
    pub outcome: Value,
}

/// Labels of `keyless_request_duration_seconds`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    /// The AWS action, or `unknown`.
    pub action: Value,
}

/// Labels of `keyless_database_errors`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DbLabels {
    /// What failed: `audit` (a commit), `iam_write`, `sts` (a call that needed the database),
    /// `sync` (a change-feed poll), `ready` (the readiness query).
    pub operation: Value,
}

/// Counters the JWKS key source updates.
#[derive(Debug, Clone, Default)]
pub struct JwksCounters {
    /// Key sets served from the cache (or the local dev issuer).
    pub hits: Counter,
    /// Discovery + JWKS fetches started.
    pub fetches: Counter,
    /// Fetches that failed.
    pub fetch_errors: Counter,
}

fn latency_histogram() -> Histogram {
    // 100 µs … ~3.3 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// Every metric of a `keyless serve` process.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<ActionLabels, Histogram, fn() -> Histogram>,
    db_errors: Family<DbLabels, Counter>,
    /// JWKS cache counters, shared with the key source.
    pub jwks: JwksCounters,
    /// Audit records waiting for their commit.
    pub audit_queue: Gauge,
    /// Audit records in the local spool of a node on PostgreSQL, not yet moved there.
    pub audit_spooled: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// All metrics registered, at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("keyless");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "STS and IAM calls by service, action and outcome (ok or the AWS error code)",
            requests.clone(),
        );
        let latency = Family::<ActionLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register(
            "request_duration_seconds",
            "Time from request to response of STS and IAM calls, including the audit commit",
            latency.clone(),
        );
        let jwks = JwksCounters::default();
        registry.register(
            "jwks_cache_hits",
            "Web identity key sets served from the JWKS cache or the local dev issuer",
            jwks.hits.clone(),
        );
        registry.register(
            "jwks_fetches",
            "Discovery document and JWKS fetches from OIDC issuers",
            jwks.fetches.clone(),
        );
        registry.register(
            "jwks_fetch_errors",
            "Discovery document and JWKS fetches that failed",
            jwks.fetch_errors.clone(),
        );
        let db_errors = Family::<DbLabels, Counter>::default();
        registry.register(
            "database_errors",
            "Failed database operations by kind",
            db_errors.clone(),
        );
        let audit_queue = Gauge::default();
        registry.register(
            "audit_queue",
            "Audit records handed to the writer and not yet committed",
            audit_queue.clone(),
        );
        let audit_spooled = Gauge::default();
        registry.register(
            "audit_spooled",
            "Audit records in the local spool (a node on PostgreSQL), waiting to be moved there",
            audit_spooled.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            db_errors,
            jwks,
            audit_queue,
            audit_spooled,
        }
    }

    /// Records one finished STS/IAM call.
    pub fn request(
        &self,
        service: &'static str,
        action: &'static str,
        outcome: Cow<'static, str>,
        seconds: f64,
    ) {
        self.requests
            .get_or_create(&RequestLabels {
                service: Value(Cow::Borrowed(service)),
                action: Value(Cow::Borrowed(action)),
                outcome: Value(outcome),
            })
            .inc();
        self.latency
            .get_or_create(&ActionLabels {
                action: Value(Cow::Borrowed(action)),
            })
            .observe(seconds);
    }

    /// Records one failed database operation.
    pub fn db_error(&self, operation: &'static str) {
        self.db_errors
            .get_or_create(&DbLabels {
                operation: Value(Cow::Borrowed(operation)),
            })
            .inc();
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_its_labels() {
        let m = Metrics::new();
        m.request(
            "sts",
            "AssumeRoleWithWebIdentity",
            Cow::Borrowed("ok"),
            0.002,
        );
        m.request(
            "sts",
            "AssumeRoleWithWebIdentity",
            Cow::Borrowed("InvalidIdentityToken"),
            0.001,
        );
        m.jwks.hits.inc();
        m.db_error("audit");
        let text = m.render();
        assert!(text.contains(
            "keyless_requests_total{service=\"sts\",action=\"AssumeRoleWithWebIdentity\",outcome=\"ok\"} 1"
        ));
        assert!(text.contains("outcome=\"InvalidIdentityToken\"} 1"));
        assert!(text.contains(
            "keyless_request_duration_seconds_count{action=\"AssumeRoleWithWebIdentity\"} 2"
        ));
        assert!(text.contains("keyless_jwks_cache_hits_total 1"));
        assert!(text.contains("keyless_database_errors_total{operation=\"audit\"} 1"));
        assert!(text.ends_with("# EOF\n"));
    }
}
