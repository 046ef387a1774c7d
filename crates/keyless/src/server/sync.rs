//! Following the other nodes: a background task that polls the store's change feed and applies
//! what changed to this node's in-memory state (IAM entities, sealing keys, issuer keys).
//!
//! Every node keeps all state in memory so the request path never waits for the database; writes
//! go through to the store first and append to its change feed in the same transaction. This task
//! asks the feed every `--sync-interval` for what changed since it last looked, re-reads those
//! entities, and replaces them in memory. The bound that follows, and that the documentation
//! states: **a change acknowledged by one node is in effect on every node within one sync
//! interval plus the time one poll takes** (one query, then one read per changed entity).
//!
//! Key rotations have no such window: a node publishes a new sealing or issuer key at once but
//! seals or signs with it only after [`activation_delay`] (twice the interval plus rounding to
//! whole seconds), by which time every node following at the same interval knows the key;
//! credentials and tokens issued by any node right after a rotation are therefore accepted by
//! every node. Run every node with the same
//! `--sync-interval`.
//!
//! Failures never stop the task: a database error is logged (the store's messages never carry the
//! password) and the same position is asked again at the next tick; applying a change twice is
//! harmless because each change is applied by reading the entity's current value. A node that
//! fell so far behind that the feed was pruned past its position reloads everything.

use std::sync::Arc;
use std::time::{Duration, Instant};

use keyless_core::Store;
use keyless_core::iam::Iam;
use keyless_core::keys::{IssuerKeys, SealingKeys};

/// Shortest accepted `--sync-interval`: below this the polling itself becomes the load.
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// Longest accepted `--sync-interval`.
pub const MAX_INTERVAL: Duration = Duration::from_secs(3600);

/// How long (whole seconds) a new sealing or issuer key waits before it is used on a node following the feed
/// every `interval`: two intervals (one for the others' poll to come, one for a slow poll), plus
/// two seconds because key and session times are whole seconds.
pub fn activation_delay(interval: Duration) -> u64 {
    let two = interval.saturating_mul(2);
    let secs = two.as_secs() + u64::from(two.subsec_nanos() > 0);
    secs + 2
}

/// Pages applied in one tick at most, so one tick stays short even after a long pause; the rest
/// follows at the next tick.
const PAGES_PER_TICK: usize = 50;

/// What the task keeps in step with the store.
#[derive(Clone)]
pub struct Followers {
    /// The store with the feed.
    pub store: Arc<dyn Store>,
    /// IAM state.
    pub iam: Arc<Iam>,
    /// Sealing keys.
    pub sealing: Arc<SealingKeys>,
    /// The dev issuer's keys.
    pub issuer_keys: Arc<IssuerKeys>,
}

/// Parses `--sync-interval`: a number with a unit, `ms` or `s` (`250ms`, `1s`, `1.5s`).
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else {
        return Err(format!("`{text}`: give a unit, e.g. `1s` or `250ms`"));
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like `1s` or `250ms`"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("`{text}` is not a duration like `1s` or `250ms`"));
    }
    let d = Duration::try_from_secs_f64(value * scale)
        .map_err(|_| format!("`{text}` is out of range"))?;
    if d < MIN_INTERVAL || d > MAX_INTERVAL {
        return Err(format!(
            "`{text}` must be between {}ms and {}s",
            MIN_INTERVAL.as_millis(),
            MAX_INTERVAL.as_secs()
        ));
    }
    Ok(d)
}

/// Outcome of one tick, for logs and tests.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tick {
    /// Feed entries applied.
    pub applied: usize,
    /// Whether everything was reloaded because the feed had lost entries.
    pub reloaded: bool,
}

/// Applies everything after `*at` (moving `*at` past what was applied). On error `*at` stays
/// at the start of the page that failed, so the next tick applies it again.
pub fn tick(f: &Followers, at: &mut u64) -> Result<Tick, String> {
    let mut out = Tick::default();
    for _ in 0..PAGES_PER_TICK {
        let page = f.store.changes_since(*at).map_err(|e| e.to_string())?;
        if page.gap {
            // Read the position first: whatever is written during the reload is applied (again)
            // at the next tick.
            let latest = f.store.latest_change().map_err(|e| e.to_string())?;
            f.sealing.reload().map_err(|e| e.to_string())?;
            f.issuer_keys.reload().map_err(|e| e.to_string())?;
            f.iam.reload().map_err(|e| e.to_string())?;
            *at = latest;
            out.reloaded = true;
            continue;
        }
        if !page.changes.is_empty() {
            // Keys first: a role created together with a key rotation must never be served
            // with credentials this node cannot open yet.
            f.sealing
                .apply_changes(&page.changes)
                .map_err(|e| e.to_string())?;
            f.issuer_keys
                .apply_changes(&page.changes)
                .map_err(|e| e.to_string())?;
            f.iam
                .apply_changes(&page.changes)
                .map_err(|e| e.to_string())?;
            out.applied += page.changes.len();
        }
        *at = page.next;
        if !page.more {
            break;
        }
    }
    Ok(out)
}

/// Starts the task on the current tokio runtime, following the feed from `from` (the position
/// read before the state was loaded). Each poll runs on a blocking thread, since the store is
/// synchronous.
/// Failed polls count in `metrics` as `keyless_database_errors_total{operation="sync"}`.
pub fn spawn(
    f: Followers,
    from: u64,
    interval: Duration,
    metrics: Arc<crate::server::metrics::Metrics>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut at = from;
        let mut failing = false;
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let followers = f.clone();
            let started = Instant::now();
            let result = tokio::task::spawn_blocking(move || {
                let r = tick(&followers, &mut at);
                // Roles' last use, noted by assumes that must not wait for the database.
                followers.iam.flush_touches();
                (r, at)
            })
            .await;
            match result {
                Ok((Ok(t), next)) => {
                    at = next;
                    if failing {
                        tracing::info!(position = at, "following the change feed again");
                        failing = false;
                    }
                    if t.reloaded {
                        tracing::warn!(
                            position = at,
                            "this node fell behind the change feed and reloaded all state"
                        );
                    }
                    if t.applied > 0 {
                        tracing::debug!(
                            applied = t.applied,
                            position = at,
                            took_ms = started.elapsed().as_millis(),
                            "applied changes from the store"
                        );
                    }
                }
                Ok((Err(e), next)) => {
                    at = next;
                    metrics.db_error("sync");
                    // Once per outage at warn level, then quietly, so a long outage does not
                    // flood the log.
                    if failing {
                        tracing::debug!(error = %e, "still cannot follow the change feed");
                    } else {
                        tracing::warn!(error = %e, "cannot follow the change feed; retrying every tick");
                        failing = true;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "the change-feed poll failed unexpectedly; retrying");
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use keyless_core::SystemClock;
    use keyless_core::iam::NewRole;
    use keyless_store::SqliteStore;

    #[test]
    fn the_activation_delay_covers_two_intervals_in_whole_seconds() {
        assert_eq!(activation_delay(Duration::from_secs(1)), 4);
        assert_eq!(activation_delay(Duration::from_millis(200)), 3);
        assert_eq!(activation_delay(Duration::from_millis(10)), 3);
        assert_eq!(activation_delay(Duration::from_secs(30)), 62);
    }

    #[test]
    fn intervals_parse_with_units_and_bounds() {
        assert_eq!(parse_interval("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_interval("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_interval("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_interval("1").is_err());
        assert!(parse_interval("1ms").is_err());
        assert!(parse_interval("-1s").is_err());
        assert!(parse_interval("NaNs").is_err());
        assert!(parse_interval("2h").is_err());
        assert!(parse_interval("7200s").is_err());
    }

    fn node(store: Arc<dyn Store>) -> Followers {
        Followers {
            iam: Arc::new(Iam::load(store.clone(), Arc::new(SystemClock)).unwrap()),
            sealing: Arc::new(SealingKeys::load(store.clone(), 1_800_000_000).unwrap()),
            issuer_keys: Arc::new(IssuerKeys::load_deferred(store.clone()).unwrap()),
            store,
        }
    }

    #[test]
    fn a_tick_applies_another_nodes_role_and_key_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.db");
        let a = node(Arc::new(SqliteStore::open(&path).unwrap()));
        let b_store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
        let mut at = b_store.latest_change().unwrap();
        let b = node(b_store);
        assert_eq!(a.sealing.ids(), b.sealing.ids());
        a.iam
            .create_role(
                "123456789012",
                NewRole {
                    name: "deploy".into(),
                    trust_policy: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#.into(),
                    ..Default::default()
                },
            )
            .unwrap();
        let new_key = a.sealing.rotate(1_800_000_100).unwrap();
        let t = tick(&b, &mut at).unwrap();
        assert_eq!(t.applied, 3);
        assert!(b.iam.role("123456789012", "deploy").is_ok());
        assert_eq!(b.sealing.ids().first(), Some(&new_key));
        // Nothing new: nothing applied, position unchanged.
        let before = at;
        assert_eq!(tick(&b, &mut at).unwrap(), Tick::default());
        assert_eq!(at, before);
    }
}
