//! STS and IAM semantics, driven directly (no HTTP), with a fixed clock and an in-memory store.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use keyless_core::audit::AuditNote;
use keyless_core::iam::{Iam, NewRole};
use keyless_core::keys::{IssuerKeys, SealingKeys};
use keyless_core::principal::Caller;
use keyless_core::store::{AuditFilter, AuditRow, Kind, Snapshot, Store, StoreError};
use keyless_core::sts::{
    AssumeRoleInput, BoxFuture, KeySource, RequestInfo, Sts, StsConfig, WebIdentityInput,
};
use keyless_core::{Clock, CoreError};
use keyless_oidc::{JobContext, KeySet};

#[derive(Default)]
struct MemStore {
    entities: Mutex<BTreeMap<(String, String), String>>,
    audit: Mutex<Vec<AuditRow>>,
}

impl Store for MemStore {
    fn load(&self) -> Result<Snapshot, StoreError> {
        let e = self.entities.lock().unwrap();
        Ok(Snapshot {
            entities: e
                .iter()
                .map(|((k, key), v)| (Kind::parse(k).unwrap(), key.clone(), v.clone()))
                .collect(),
        })
    }
    fn put(&self, kind: Kind, key: &str, json: &str) -> Result<(), StoreError> {
        self.entities
            .lock()
            .unwrap()
            .insert((kind.as_str().into(), key.into()), json.into());
        Ok(())
    }
    fn delete(&self, kind: Kind, key: &str) -> Result<(), StoreError> {
        self.entities
            .lock()
            .unwrap()
            .remove(&(kind.as_str().into(), key.into()));
        Ok(())
    }
    fn append_audit(&self, rows: &[AuditRow]) -> Result<(), StoreError> {
        self.audit.lock().unwrap().extend_from_slice(rows);
        Ok(())
    }
    fn query_audit(&self, _: &AuditFilter) -> Result<Vec<AuditRow>, StoreError> {
        Ok(self.audit.lock().unwrap().clone())
    }
    fn get(&self, kind: Kind, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .entities
            .lock()
            .unwrap()
            .get(&(kind.as_str().into(), key.into()))
            .cloned())
    }
    fn put_if_absent(&self, kind: Kind, key: &str, json: &str) -> Result<bool, StoreError> {
        // Atomic under the one lock; this store has no change feed (one node).
        let mut e = self.entities.lock().unwrap();
        let k = (kind.as_str().to_owned(), key.to_owned());
        if e.contains_key(&k) {
            return Ok(false);
        }
        e.insert(k, json.into());
        Ok(true)
    }
}

struct FixedClock(AtomicU64);
impl Clock for FixedClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

struct Local(Arc<IssuerKeys>);
impl KeySource for Local {
    fn keys<'a>(
        &'a self,
        _issuer: &'a str,
        _kid: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Arc<KeySet>, CoreError>> {
        Box::pin(async move { self.0.key_set() })
    }
}

const NOW: u64 = 1_800_000_000;
const GITHUB: &str = "https://token.actions.githubusercontent.com";
const PROVIDER: &str =
    "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com";
const ROLE: &str = "arn:aws:iam::123456789012:role/deploy";

struct World {
    sts: Sts,
    iam: Arc<Iam>,
    issuer: Arc<IssuerKeys>,
    clock: Arc<FixedClock>,
    store: Arc<MemStore>,
}

fn trust(sub_condition: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"GitHubMain","Effect":"Allow","Principal":{{"Federated":"{PROVIDER}"}},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{{"StringEquals":{{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com"}},{sub_condition}}}}}]}}"#
    )
}

fn world() -> World {
    let store = Arc::new(MemStore::default());
    let clock = Arc::new(FixedClock(AtomicU64::new(NOW)));
    let iam = Arc::new(Iam::load(store.clone(), clock.clone()).unwrap());
    let sealing = Arc::new(SealingKeys::load(store.clone(), NOW).unwrap());
    let issuer = Arc::new(IssuerKeys::load(store.clone(), NOW).unwrap());
    let sts = Sts::new(
        iam.clone(),
        sealing,
        Arc::new(Local(issuer.clone())),
        clock.clone(),
        StsConfig::default(),
    );
    iam.create_provider(
        "123456789012",
        GITHUB,
        vec!["sts.amazonaws.com".into()],
        vec![],
        vec![],
    )
    .unwrap();
    iam.create_role(
        "123456789012",
        NewRole {
            name: "deploy".into(),
            trust_policy: trust(r#""StringLike":{"token.actions.githubusercontent.com:sub":"repo:acme/app:ref:refs/heads/main"}"#),
            max_session_duration: Some(7200),
            ..Default::default()
        },
    )
    .unwrap();
    World {
        sts,
        iam,
        issuer,
        clock,
        store,
    }
}

fn token(
    w: &World,
    ctx: &JobContext,
    edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) -> String {
    let mut claims =
        keyless_oidc::claims(ctx, GITHUB, Some("sts.amazonaws.com"), w.clock.now(), "jti").unwrap();
    edit(&mut claims);
    w.issuer.signing_key().unwrap().sign(&claims).unwrap()
}

fn main_ctx() -> JobContext {
    let mut ctx = JobContext::for_repo("acme/app");
    ctx.ref_ = "refs/heads/main".into();
    ctx
}

fn assume(
    w: &World,
    token: String,
    duration: Option<i64>,
) -> Result<keyless_core::sts::Assumed, CoreError> {
    let input = WebIdentityInput {
        role_arn: ROLE.into(),
        session_name: "gha-1".into(),
        token,
        duration,
        ..Default::default()
    };

    tokio_like_block_on(w.sts.assume_role_with_web_identity(
        input,
        &RequestInfo::default(),
        &mut AuditNote::default(),
    ))
}

/// The futures here never wait on I/O, so polling once with a no-op waker completes them.
fn tokio_like_block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

#[test]
fn web_identity_from_main_gets_credentials_with_aws_forms() {
    let w = world();
    let a = assume(&w, token(&w, &main_ctx(), |_| {}), None).unwrap();
    assert!(
        a.credentials.access_key_id.starts_with("ASIA") && a.credentials.access_key_id.len() == 20
    );
    assert_eq!(a.credentials.secret_access_key.len(), 40);
    assert_eq!(a.credentials.expiration, NOW + 3600);
    assert_eq!(a.arn, "arn:aws:sts::123456789012:assumed-role/deploy/gha-1");
    assert!(a.assumed_role_id.starts_with("AROA") && a.assumed_role_id.ends_with(":gha-1"));
    assert_eq!(a.provider.as_deref(), Some(PROVIDER));
    assert_eq!(a.audience.as_deref(), Some("sts.amazonaws.com"));
    assert_eq!(
        a.subject.as_deref(),
        Some("repo:acme/app:ref:refs/heads/main")
    );
    assert_eq!(a.packed_policy_size, None);
}

#[test]
fn pull_request_is_denied_with_the_reason_in_dev_mode() {
    let w = world();
    let mut ctx = JobContext::for_repo("acme/app");
    ctx.event_name = "pull_request".into();
    ctx.ref_ = "refs/pull/7/merge".into();
    let err = assume(&w, token(&w, &ctx, |_| {}), None).unwrap_err();
    assert_eq!(err.code(), "AccessDenied");
    let msg = err.to_string();
    assert!(
        msg.starts_with("Not authorized to perform sts:AssumeRoleWithWebIdentity"),
        "{msg}"
    );
    assert!(msg.contains("repo:acme/app:pull_request"), "{msg}");
}

#[test]
fn error_codes_stay_apart() {
    let w = world();
    let expired = token(&w, &main_ctx(), |c| {
        c.insert("exp".into(), (NOW - 1000).into());
        c.insert("iat".into(), (NOW - 1300).into());
        c.insert("nbf".into(), (NOW - 1600).into());
    });
    assert_eq!(
        assume(&w, expired, None).unwrap_err().code(),
        "ExpiredTokenException"
    );
    let wrong_aud = token(&w, &main_ctx(), |c| {
        c.insert("aud".into(), "https://github.com/acme".into());
    });
    assert_eq!(
        assume(&w, wrong_aud, None).unwrap_err().to_string(),
        "Incorrect token audience"
    );
    let other_iss = token(&w, &main_ctx(), |c| {
        c.insert(
            "iss".into(),
            "https://token.actions.githubusercontent.com/".into(),
        );
    });
    let e = assume(&w, other_iss, None).unwrap_err();
    assert_eq!(e.code(), "InvalidIdentityToken");
    assert!(
        e.to_string()
            .contains("No OpenIDConnect provider found in your account for"),
        "{e}"
    );
    assert_eq!(
        assume(&w, "not.a.jwt".into(), None).unwrap_err().code(),
        "InvalidIdentityToken"
    );
    let e = assume(&w, token(&w, &main_ctx(), |_| {}), Some(10800)).unwrap_err();
    assert_eq!(e.code(), "ValidationError");
    assert!(e.to_string().contains("MaxSessionDuration"), "{e}");
    assert_eq!(
        assume(&w, token(&w, &main_ctx(), |_| {}), Some(899))
            .unwrap_err()
            .code(),
        "ValidationError"
    );
}

#[test]
fn session_credentials_authenticate_until_they_expire() {
    let w = world();
    let a = assume(&w, token(&w, &main_ctx(), |_| {}), Some(900)).unwrap();
    let (caller, secret) = w
        .sts
        .authenticate(
            &a.credentials.access_key_id,
            Some(&a.credentials.session_token),
        )
        .unwrap();
    assert_eq!(secret, a.credentials.secret_access_key);
    assert_eq!(
        caller.arn(),
        "arn:aws:sts::123456789012:assumed-role/deploy/gha-1"
    );
    assert_eq!(
        w.sts
            .authenticate(&a.credentials.access_key_id, None)
            .unwrap_err()
            .code(),
        "InvalidClientTokenId"
    );
    assert_eq!(
        w.sts
            .authenticate("ASIAOTHERKEYOTHERKEY", Some(&a.credentials.session_token))
            .unwrap_err()
            .code(),
        "InvalidClientTokenId"
    );
    w.clock.0.store(NOW + 901, Ordering::SeqCst);
    assert_eq!(
        w.sts
            .authenticate(
                &a.credentials.access_key_id,
                Some(&a.credentials.session_token)
            )
            .unwrap_err()
            .code(),
        "ExpiredToken"
    );
}

#[test]
fn chaining_is_capped_at_one_hour_and_needs_trust() {
    let w = world();
    w.iam
        .create_role(
            "123456789012",
            NewRole {
                name: "target".into(),
                trust_policy: format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{ROLE}"}},"Action":"sts:AssumeRole"}}]}}"#),
                max_session_duration: Some(43200),
                ..Default::default()
            },
        )
        .unwrap();
    let a = assume(&w, token(&w, &main_ctx(), |_| {}), None).unwrap();
    let (caller, _) = w
        .sts
        .authenticate(
            &a.credentials.access_key_id,
            Some(&a.credentials.session_token),
        )
        .unwrap();
    let input = |d| AssumeRoleInput {
        role_arn: "arn:aws:iam::123456789012:role/target".into(),
        session_name: "chained".into(),
        duration: d,
        ..Default::default()
    };
    let chained = w
        .sts
        .assume_role(
            &caller,
            input(Some(3600)),
            &RequestInfo::default(),
            &mut AuditNote::default(),
        )
        .unwrap();
    assert_eq!(
        chained.arn,
        "arn:aws:sts::123456789012:assumed-role/target/chained"
    );
    let e = w
        .sts
        .assume_role(
            &caller,
            input(Some(3601)),
            &RequestInfo::default(),
            &mut AuditNote::default(),
        )
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("1 hour session limit for roles assumed by role chaining"),
        "{e}"
    );
    // Root of another account is not trusted by `target`.
    let other = Caller::Root {
        account: "111111111111".into(),
    };
    let e = w
        .sts
        .assume_role(
            &other,
            input(None),
            &RequestInfo::default(),
            &mut AuditNote::default(),
        )
        .unwrap_err();
    assert_eq!(e.code(), "AccessDenied");
    assert!(e.to_string().starts_with("User: arn:aws:iam::111111111111:root is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/target"), "{e}");
}

#[test]
fn session_policy_narrows_and_role_policies_grant() {
    let w = world();
    w.iam
        .put_role_policy("123456789012", "deploy", "p", r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:ListRoles","s3:*"],"Resource":"*"}]}"#.into())
        .unwrap();
    let ctx = keyless_policy::Context::new();
    let a = assume(&w, token(&w, &main_ctx(), |_| {}), None).unwrap();
    let (caller, _) = w
        .sts
        .authenticate(
            &a.credentials.access_key_id,
            Some(&a.credentials.session_token),
        )
        .unwrap();
    w.iam
        .authorize(&caller, "iam:ListRoles", "*", &ctx, true)
        .unwrap();
    let input = WebIdentityInput {
        role_arn: ROLE.into(),
        session_name: "narrow".into(),
        token: token(&w, &main_ctx(), |_| {}),
        policy: Some(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#.into()),
        ..Default::default()
    };
    let narrow = tokio_like_block_on(w.sts.assume_role_with_web_identity(
        input,
        &RequestInfo::default(),
        &mut AuditNote::default(),
    ))
    .unwrap();
    assert!(narrow.packed_policy_size.is_some_and(|p| p > 0 && p <= 100));
    let (caller, _) = w
        .sts
        .authenticate(
            &narrow.credentials.access_key_id,
            Some(&narrow.credentials.session_token),
        )
        .unwrap();
    let e = w
        .iam
        .authorize(&caller, "iam:ListRoles", "*", &ctx, false)
        .unwrap_err();
    assert_eq!(e.code(), "AccessDenied");
    w.iam
        .authorize(&caller, "s3:GetObject", "arn:aws:s3:::b/k", &ctx, false)
        .unwrap();
}

#[test]
fn state_survives_reload_from_the_store() {
    let w = world();
    let a = assume(&w, token(&w, &main_ctx(), |_| {}), None).unwrap();
    let iam2 = Iam::load(w.store.clone(), w.clock.clone()).unwrap();
    assert_eq!(iam2.role("123456789012", "DEPLOY").unwrap().role.arn, ROLE);
    let sealing2 = SealingKeys::load(w.store.clone(), NOW).unwrap();
    assert_eq!(
        sealing2
            .open(&a.credentials.session_token)
            .unwrap()
            .session_name,
        "gha-1"
    );
    // Rotation keeps old sessions valid.
    sealing2.rotate(NOW + 10).unwrap();
    assert_eq!(
        sealing2
            .open(&a.credentials.session_token)
            .unwrap()
            .role_name,
        "deploy"
    );
}

#[test]
fn iam_names_are_unique_case_insensitively_and_delete_conflicts() {
    let w = world();
    let dup = w.iam.create_role("123456789012", NewRole { name: "DEPLOY".into(), trust_policy: trust(r#""StringLike":{"token.actions.githubusercontent.com:sub":"repo:a/b:ref:refs/heads/main"}"#), ..Default::default() });
    assert_eq!(dup.unwrap_err().code(), "EntityAlreadyExists");
    w.iam
        .attach_role_policy(
            "123456789012",
            "deploy",
            "arn:aws:iam::aws:policy/ReadOnlyAccess",
        )
        .unwrap();
    let e = w.iam.delete_role("123456789012", "deploy").unwrap_err();
    assert_eq!(e.code(), "DeleteConflict");
    w.iam
        .detach_role_policy(
            "123456789012",
            "deploy",
            "arn:aws:iam::aws:policy/ReadOnlyAccess",
        )
        .unwrap();
    w.iam.delete_role("123456789012", "deploy").unwrap();
    assert_eq!(
        w.iam.role("123456789012", "deploy").unwrap_err().code(),
        "NoSuchEntity"
    );
}

#[test]
fn policy_versions_delete_set_default_and_gate_policy_deletion() {
    let w = world();
    let account = "123456789012";
    let doc = |action: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"{action}","Resource":"*"}}]}}"#
        )
    };
    let arn = w
        .iam
        .create_policy(account, "deploy", None, doc("s3:GetObject"), None, vec![])
        .unwrap()
        .policy
        .arn
        .clone();
    for (i, action) in ["s3:PutObject", "s3:ListBucket", "s3:DeleteObject", "sqs:*"]
        .iter()
        .enumerate()
    {
        let v = w
            .iam
            .create_policy_version(account, &arn, doc(action), false)
            .unwrap();
        assert_eq!(v.id, format!("v{}", i + 2));
    }
    let full = w
        .iam
        .create_policy_version(account, &arn, doc("sns:*"), false)
        .unwrap_err();
    assert_eq!(full.code(), "LimitExceeded");

    // The default version goes only with the policy; other versions go one by one.
    let e = w
        .iam
        .delete_policy_version(account, &arn, "v1")
        .unwrap_err();
    assert_eq!(e.code(), "DeleteConflict");
    assert_eq!(
        e.to_string(),
        "Cannot delete the default version of a policy."
    );
    w.iam.delete_policy_version(account, &arn, "v2").unwrap();
    let gone = w
        .iam
        .delete_policy_version(account, &arn, "v2")
        .unwrap_err();
    assert_eq!(gone.code(), "NoSuchEntity");
    assert_eq!(
        w.iam
            .policy_version(account, &arn, "v2")
            .unwrap_err()
            .code(),
        "NoSuchEntity"
    );
    for bad in ["2", "v0", "v", "v1.a b", "V1", "v01"] {
        let e = w.iam.delete_policy_version(account, &arn, bad).unwrap_err();
        assert_eq!(e.code(), "ValidationError", "{bad}");
        assert!(e.to_string().contains("versionId"), "{e}");
    }
    // Deleting freed a slot, and version numbers are never reused.
    let v6 = w
        .iam
        .create_policy_version(account, &arn, doc("sns:Publish"), false)
        .unwrap();
    assert_eq!(v6.id, "v6");

    // The default decides what the policy grants, and survives a reload.
    w.iam
        .set_default_policy_version(account, &arn, "v5")
        .unwrap();
    let p = w.iam.policy(account, &arn).unwrap();
    assert_eq!(p.policy.default_version, "v5");
    assert!(format!("{:?}", p.parsed).contains("sqs:*"));
    let missing = w.iam.set_default_policy_version(account, &arn, "v2");
    assert_eq!(missing.unwrap_err().code(), "NoSuchEntity");
    let reloaded = Iam::load(w.store.clone(), w.clock.clone()).unwrap();
    assert_eq!(
        reloaded
            .policy(account, &arn)
            .unwrap()
            .policy
            .default_version,
        "v5"
    );
    // AWS's own policies are not the account's to change.
    let aws =
        w.iam
            .set_default_policy_version(account, "arn:aws:iam::aws:policy/ReadOnlyAccess", "v1");
    assert_eq!(aws.unwrap_err().code(), "NoSuchEntity");

    // A policy with versions besides the default cannot be deleted.
    let e = w.iam.delete_policy(account, &arn).unwrap_err();
    assert_eq!(e.code(), "DeleteConflict");
    assert!(
        e.to_string()
            .starts_with("This policy has more than one version.")
    );
    for v in ["v1", "v3", "v4", "v6"] {
        w.iam.delete_policy_version(account, &arn, v).unwrap();
    }
    w.iam.delete_policy(account, &arn).unwrap();
}

/// IAM compares the tag keys of managed policies and OIDC providers as written (a policy may
/// carry `Costcenter` and `costcenter`), those of roles without regard to case.
#[test]
fn tag_keys_are_case_sensitive_on_providers_and_policies_and_not_on_roles() {
    let w = world();
    let account = "123456789012";
    let tag = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    w.iam
        .tag_provider(
            account,
            PROVIDER,
            vec![tag("team", "platform"), tag("env", "dev")],
        )
        .unwrap();
    w.iam
        .tag_provider(account, PROVIDER, vec![tag("team", "security")])
        .unwrap();
    w.iam
        .tag_provider(account, PROVIDER, vec![tag("Team", "audit")])
        .unwrap();
    let p = w.iam.provider(account, PROVIDER).unwrap();
    assert_eq!(
        p.tags,
        vec![
            tag("team", "security"),
            tag("env", "dev"),
            tag("Team", "audit")
        ]
    );
    w.iam
        .untag_provider(account, PROVIDER, &["ENV".to_owned(), "Team".to_owned()])
        .unwrap();
    assert_eq!(
        w.iam.provider(account, PROVIDER).unwrap().tags,
        vec![tag("team", "security"), tag("env", "dev")]
    );
    let reserved = w
        .iam
        .tag_provider(account, PROVIDER, vec![tag("aws:x", "y")]);
    assert_eq!(reserved.unwrap_err().code(), "InvalidInput");
    let other = "arn:aws:iam::123456789012:oidc-provider/example.com";
    assert_eq!(
        w.iam
            .tag_provider(account, other, vec![tag("a", "b")])
            .unwrap_err()
            .code(),
        "NoSuchEntity"
    );

    let arn = w
        .iam
        .create_policy(
            account,
            "tagged",
            None,
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#.into(),
            None,
            vec![tag("owner", "ci")],
        )
        .unwrap()
        .policy
        .arn
        .clone();
    let many: Vec<_> = (0..50).map(|i| tag(&format!("k{i}"), "v")).collect();
    let over = w.iam.tag_policy(account, &arn, many);
    assert_eq!(over.unwrap_err().code(), "LimitExceeded");
    assert_eq!(
        w.iam.policy(account, &arn).unwrap().policy.tags,
        vec![tag("owner", "ci")]
    );
    w.iam
        .tag_policy(
            account,
            &arn,
            vec![tag("Costcenter", "1234"), tag("costcenter", "5678")],
        )
        .unwrap();
    w.iam
        .untag_policy(
            account,
            &arn,
            &["OWNER".to_owned(), "Costcenter".to_owned()],
        )
        .unwrap();
    let reloaded = Iam::load(w.store.clone(), w.clock.clone()).unwrap();
    assert_eq!(
        reloaded.policy(account, &arn).unwrap().policy.tags,
        vec![tag("owner", "ci"), tag("costcenter", "5678")]
    );
    assert_eq!(reloaded.provider(account, PROVIDER).unwrap().tags.len(), 2);

    w.iam
        .tag_role(account, "deploy", vec![tag("Costcenter", "1234")])
        .unwrap();
    w.iam
        .tag_role(account, "deploy", vec![tag("costcenter", "5678")])
        .unwrap();
    let role = w.iam.role(account, "deploy").unwrap();
    assert_eq!(role.role.tags, vec![tag("Costcenter", "5678")]);
    w.iam
        .untag_role(account, "deploy", &["COSTCENTER".to_owned()])
        .unwrap();
    assert!(w.iam.role(account, "deploy").unwrap().role.tags.is_empty());
}

/// What a Tag*, Untag* or Create* request may carry, checked before the entity is looked up.
#[test]
fn tag_requests_are_validated_as_iam_does() {
    let w = world();
    let account = "123456789012";
    let tag = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    let tag_role = |tags: Vec<(String, String)>| {
        let e = w.iam.tag_role(account, "deploy", tags).unwrap_err();
        (e.code().to_owned(), e.to_string())
    };
    let (code, msg) = tag_role(vec![]);
    assert_eq!(code, "ValidationError");
    assert!(msg.contains("Value null at 'tags'"), "{msg}");
    let (code, msg) = tag_role((0..51).map(|i| tag(&format!("k{i}"), "v")).collect());
    assert_eq!(code, "ValidationError");
    assert!(msg.contains("less than or equal to 50"), "{msg}");
    let (code, msg) = tag_role(vec![tag("ok", "v"), tag("a*b", "x"), tag("k", "a#b")]);
    assert_eq!(code, "ValidationError");
    assert!(msg.starts_with("2 validation errors detected"), "{msg}");
    assert!(msg.contains("'tags.2.member.key'"), "{msg}");
    assert!(msg.contains("'tags.3.member.value'"), "{msg}");
    // Letters and spaces of any script, numbers and `_.:/=+-@` are allowed.
    w.iam
        .tag_role(
            account,
            "deploy",
            vec![tag("Équipe déploiement", "x:y/z=1+2-3@4 ü")],
        )
        .unwrap();
    let (code, msg) = tag_role(vec![tag("dup", "1"), tag("DUP", "2")]);
    assert_eq!(code, "InvalidInput");
    assert!(msg.contains("Duplicate tag keys found"), "{msg}");
    // A policy's keys differ by case, so that is no duplicate there; the same key twice is.
    let arn = w
        .iam
        .create_policy(
            account,
            "p",
            None,
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#.into(),
            None,
            vec![tag("dup", "1"), tag("DUP", "2")],
        )
        .unwrap()
        .policy
        .arn
        .clone();
    let twice = w
        .iam
        .tag_policy(account, &arn, vec![tag("x", "1"), tag("x", "2")]);
    assert_eq!(twice.unwrap_err().code(), "InvalidInput");

    let untag = |keys: Vec<String>| {
        let e = w.iam.untag_role(account, "deploy", &keys).unwrap_err();
        (e.code().to_owned(), e.to_string())
    };
    let (code, msg) = untag(vec![]);
    assert_eq!(code, "ValidationError");
    assert!(msg.contains("Value null at 'tagKeys'"), "{msg}");
    let (code, msg) = untag((0..51).map(|i| format!("k{i}")).collect());
    assert_eq!(code, "ValidationError");
    assert!(msg.contains("less than or equal to 50"), "{msg}");
    let (code, msg) = untag(vec!["k".repeat(129)]);
    assert_eq!(code, "ValidationError");
    assert!(msg.contains("'tagKeys.1.member'"), "{msg}");
    let (code, _) = untag(vec!["a*b".to_owned()]);
    assert_eq!(code, "ValidationError");
    // Nothing above changed the role.
    assert_eq!(
        w.iam.role(account, "deploy").unwrap().role.tags,
        vec![tag("Équipe déploiement", "x:y/z=1+2-3@4 ü")]
    );
}

/// A malformed role name or provider ARN is a validation error on every action, not a missing
/// entity: the caller learns what is wrong with the request.
#[test]
fn malformed_names_are_refused_before_any_lookup() {
    let w = world();
    let account = "123456789012";
    for name in ["bad name", &"r".repeat(65), ""] {
        assert_eq!(
            w.iam.role(account, name).unwrap_err().code(),
            "ValidationError"
        );
        let tag = vec![("k".to_owned(), "v".to_owned())];
        assert_eq!(
            w.iam.tag_role(account, name, tag).unwrap_err().code(),
            "ValidationError"
        );
        assert_eq!(
            w.iam.delete_role(account, name).unwrap_err().code(),
            "ValidationError"
        );
    }
    assert_eq!(
        w.iam.role(account, "no-such-role").unwrap_err().code(),
        "NoSuchEntity"
    );
    for arn in ["notanarn", ""] {
        let tag = vec![("k".to_owned(), "v".to_owned())];
        assert_eq!(
            w.iam.tag_provider(account, arn, tag).unwrap_err().code(),
            "InvalidInput"
        );
        assert_eq!(
            w.iam
                .untag_provider(account, arn, &["k".to_owned()])
                .unwrap_err()
                .code(),
            "InvalidInput"
        );
        assert_eq!(
            w.iam.delete_provider(account, arn).unwrap_err().code(),
            "InvalidInput"
        );
    }
}

/// UpdateRole and UpdateRoleDescription hold a description to CreateRole's rules.
#[test]
fn role_descriptions_are_checked_on_every_write() {
    let w = world();
    let account = "123456789012";
    for bad in ["d".repeat(1001), "bell\u{7}".to_owned()] {
        let e = w
            .iam
            .update_role_settings(account, "deploy", Some(bad.clone()), None)
            .unwrap_err();
        assert_eq!(e.code(), "ValidationError", "{bad:?}");
    }
    w.iam
        .update_role_settings(account, "deploy", Some("Déploiement\tCI".into()), None)
        .unwrap();
    assert_eq!(
        w.iam
            .role(account, "deploy")
            .unwrap()
            .role
            .description
            .as_deref(),
        Some("Déploiement\tCI")
    );
}
