//! IAM: providers, roles, policies, attachments, simulation, and the authorisation of every
//! signed call.
//!
//! All entities live in memory with their policies already parsed (the STS hot path never parses
//! or reads the database); every change is written through to the [`Store`] first and applied to
//! memory only once the write succeeded, so memory never runs ahead of disk.
//!
//! Two locks, so that a slow or unreachable database never holds up a reader: the *writer lock*
//! (a mutex) makes this node's changes, and the changes it applies from other nodes, take turns,
//! and is held across the database write; the *state lock* (a read-write lock) is taken for
//! writing only for the moment a change is swapped into memory, never across database I/O. A
//! change checks the state under the writer lock, so nothing can change it between the check and
//! the swap.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};

use keyless_policy::{
    Context, Decision, Evaluation, Named, Policy, PolicyKind, PolicySet, Request,
};

use crate::clock::Clock;
use crate::error::CoreError;
use crate::guardrail;
use crate::managed::AWS_MANAGED;
use crate::model::{ManagedPolicy, OidcProvider, PolicyVersion, Role};
use crate::principal::Caller;
use crate::store::{Kind, Store};

/// Trust policy size quota (characters without whitespace), AWS's default.
pub const TRUST_POLICY_MAX: usize = 2048;
/// Sum of a role's inline policies.
pub const INLINE_POLICIES_MAX: usize = 10240;
/// A managed policy document.
pub const MANAGED_POLICY_MAX: usize = 6144;
/// Managed policies per role.
pub const ATTACHED_MAX: usize = 10;
/// OIDC providers per account.
pub const PROVIDERS_MAX: usize = 100;
/// Versions kept per managed policy.
pub const POLICY_VERSIONS_MAX: usize = 5;

/// A role with its policies parsed.
#[derive(Debug)]
pub struct RoleEntry {
    /// The stored role.
    pub role: Role,
    /// Parsed trust policy.
    pub trust: Policy,
    /// Parsed inline policies by name.
    pub inline: Vec<(String, Policy)>,
}

/// A managed policy with its default version parsed.
#[derive(Debug)]
pub struct PolicyEntry {
    /// The stored policy.
    pub policy: ManagedPolicy,
    /// The default version, parsed.
    pub parsed: Policy,
}

#[derive(Default)]
struct State {
    providers: HashMap<String, Arc<OidcProvider>>,
    roles: HashMap<String, Arc<RoleEntry>>,
    policies: HashMap<String, Arc<PolicyEntry>>,
}

/// Inputs of CreateRole.
#[derive(Debug, Default, Clone)]
pub struct NewRole {
    /// RoleName.
    pub name: String,
    /// Path (default `/`).
    pub path: Option<String>,
    /// AssumeRolePolicyDocument.
    pub trust_policy: String,
    /// Description.
    pub description: Option<String>,
    /// MaxSessionDuration (default 3600).
    pub max_session_duration: Option<i64>,
    /// PermissionsBoundary ARN.
    pub permissions_boundary: Option<String>,
    /// Tags.
    pub tags: Vec<(String, String)>,
}

/// One page of a list call.
#[derive(Debug)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Marker for the next page when truncated.
    pub marker: Option<String>,
}

/// One entry of GetAccountAuthorizationDetails.
#[derive(Debug)]
pub enum AuthorizationDetail {
    /// A role of the account.
    Role(Arc<RoleEntry>),
    /// A managed policy with its usage (roles attaching it, roles using it as boundary).
    Policy(Arc<PolicyEntry>, (usize, usize)),
}

/// A managed policy with its usage in an account: (roles attaching it, roles using it as their
/// permissions boundary).
pub type PolicyInUse = (Arc<PolicyEntry>, (usize, usize));

/// ListPolicies' `Scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyScope {
    /// Customer managed and AWS managed.
    All,
    /// AWS managed only.
    Aws,
    /// The account's customer managed policies only.
    Local,
}

/// Which entities GetAccountAuthorizationDetails lists (its `Filter`; all when none is given).
#[derive(Debug, Clone, Copy)]
pub struct DetailFilter {
    /// Roles.
    pub roles: bool,
    /// Customer managed policies of the account.
    pub local_policies: bool,
    /// AWS managed policies the account uses.
    pub aws_policies: bool,
}

/// Result of evaluating one action in a simulation.
#[derive(Debug)]
pub struct SimulationResult {
    /// Action name.
    pub action: String,
    /// Resource ARN.
    pub resource: String,
    /// The decision and its trace.
    pub evaluation: Evaluation,
    /// Names of the simulated policies, index-aligned with what `MatchedStatements` report.
    pub policy_names: Vec<String>,
}

/// The IAM service.
pub struct Iam {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    state: RwLock<State>,
    /// Held by whoever changes `state` (see the module documentation), across database I/O.
    writer: Mutex<()>,
    /// Roles assumed whose last use is to be recorded, by key: (account, name, time). Written by
    /// [`Iam::flush_touches`], off the request path.
    touches: Mutex<HashMap<String, (String, String, u64)>>,
}

/// A change in progress: holds the writer lock and reads the state; [`Writing::commit`] swaps
/// the result in under the state lock, for a moment.
struct Writing<'a> {
    _writer: MutexGuard<'a, ()>,
    read: RwLockReadGuard<'a, State>,
    lock: &'a RwLock<State>,
}

impl std::ops::Deref for Writing<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        &self.read
    }
}

impl Writing<'_> {
    /// Applies `f` to the state (after the database write succeeded) and ends the change.
    fn commit<R>(self, f: impl FnOnce(&mut State) -> R) -> Result<R, CoreError> {
        let Writing {
            _writer,
            read,
            lock,
        } = self;
        drop(read);
        let mut state = lock
            .write()
            .map_err(|_| CoreError::Internal("state lock poisoned".into()))?;
        Ok(f(&mut state))
    }
}

impl std::fmt::Debug for Iam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Iam")
    }
}

/// The in-memory key of a role (role names are case-insensitive), built without `format!`:
/// every STS call looks a role up.
fn role_key(account: &str, name: &str) -> String {
    let mut key = String::with_capacity(account.len() + 1 + name.len());
    key.push_str(account);
    key.push('/');
    key.extend(name.chars().map(|c| c.to_ascii_lowercase()));
    key
}

fn internal<E: std::fmt::Display>(e: E) -> CoreError {
    CoreError::Internal(e.to_string())
}

/// Parses a policy document, turning every problem into `MalformedPolicyDocument` with the
/// location of each error.
pub fn parse_policy(text: &str, kind: PolicyKind) -> Result<Policy, CoreError> {
    // AWS's sentence first (clients and scripts match on it), then where and why.
    keyless_policy::parse(text, kind).map_err(|e| {
        CoreError::MalformedPolicyDocument(format!("{} (keyless: {})", e.aws_message(), e))
    })
}

/// `InvalidInput` for a string that is not an IAM ARN of the expected resource type, as IAM
/// answers before it looks anything up.
fn check_iam_arn(arn: &str, resource_prefix: &str) -> Result<(), CoreError> {
    let ok = arn
        .strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.split_once(':'))
        .is_some_and(|(account, resource)| {
            (crate::model::is_account_id(account) || account == "aws")
                && resource.starts_with(resource_prefix)
                && resource.len() > resource_prefix.len()
        });
    if ok {
        Ok(())
    } else {
        Err(CoreError::InvalidInput(format!("ARN {arn} is not valid.")))
    }
}

fn check_path(path: &str, what: &str) -> Result<(), CoreError> {
    let ok = path.starts_with('/')
        && path.ends_with('/')
        && path.len() <= 512
        && path.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if ok {
        Ok(())
    } else {
        Err(CoreError::Validation(keyless_wire::validation_message(&[(
            path.to_owned(),
            what.to_owned(),
            "Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)".to_owned(),
        )])))
    }
}

/// A listing call's `PathPrefix`: `/`, or `/…/` of printable ASCII, as IAM checks any path.
pub fn check_path_prefix(prefix: &str) -> Result<(), CoreError> {
    check_path(prefix, "pathPrefix")
}

fn check_name(name: &str, field: &str, max: usize) -> Result<(), CoreError> {
    if name.is_empty() || name.chars().count() > max {
        return Err(CoreError::Validation(keyless_wire::validation_message(&[
            (
                name.to_owned(),
                field.to_owned(),
                format!("Member must have length less than or equal to {max}"),
            ),
        ])));
    }
    if !keyless_wire::valid_iam_name(name) {
        return Err(CoreError::Validation(keyless_wire::validation_message(&[
            (
                name.to_owned(),
                field.to_owned(),
                "Member must satisfy regular expression pattern: [\\w+=,.@-]+".to_owned(),
            ),
        ])));
    }
    Ok(())
}

/// How an entity's tag keys compare. IAM treats the keys of roles (and users) without regard to
/// case, and those of customer managed policies, OIDC providers and its other resources as
/// written: a policy may carry both `Costcenter` and `costcenter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TagKeys {
    CaseInsensitive,
    CaseSensitive,
}

impl TagKeys {
    fn same(self, a: &str, b: &str) -> bool {
        match self {
            TagKeys::CaseInsensitive => a.eq_ignore_ascii_case(b),
            TagKeys::CaseSensitive => a == b,
        }
    }
}

/// Most tags one request may carry, and one entity may have.
const MAX_TAGS: usize = 50;

const TAG_KEY_PATTERN: &str = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+";
const TAG_VALUE_PATTERN: &str = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*";

/// A character IAM's tag patterns allow: letters, separators, numbers and `_.:/=+-@`. Written
/// out because std has no Unicode general categories; `is_alphabetic` also admits the few
/// combining marks Unicode counts as alphabetic, which is the only place it is laxer.
fn tag_char(c: char) -> bool {
    c.is_alphabetic()
        || c.is_numeric()
        || matches!(c, '_' | '.' | ':' | '/' | '=' | '+' | '-' | '@')
        || matches!(
            c,
            ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
                ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
        )
}

/// What is wrong with a tag key, as the constraint IAM names: 1-128 allowed characters.
fn tag_key_problem(k: &str) -> Option<String> {
    let len = k.chars().count();
    if len == 0 {
        Some("Member must have length greater than or equal to 1".to_owned())
    } else if len > 128 {
        Some("Member must have length less than or equal to 128".to_owned())
    } else if !k.chars().all(tag_char) {
        Some(format!(
            "Member must satisfy regular expression pattern: {TAG_KEY_PATTERN}"
        ))
    } else {
        None
    }
}

fn validation(value: &str, field: String, constraint: String) -> (String, String, String) {
    (value.to_owned(), field, constraint)
}

/// The `Tags` of a Create* or Tag* request, as IAM checks them before looking at the entity: at
/// most 50, keys of 1-128 and values of at most 256 allowed characters (ValidationError, every
/// problem named by its place in the request), no `aws:` prefix and no key twice.
fn check_tag_input(tags: &[(String, String)], keys: TagKeys) -> Result<(), CoreError> {
    if tags.len() > MAX_TAGS {
        return Err(CoreError::Validation(format!(
            "1 validation error detected: Value at 'tags' failed to satisfy constraint: Member \
             must have length less than or equal to {MAX_TAGS}"
        )));
    }
    let mut problems = Vec::new();
    for (i, (k, v)) in tags.iter().enumerate() {
        let at = |part: &str| format!("tags.{}.member.{part}", i + 1);
        if let Some(c) = tag_key_problem(k) {
            problems.push(validation(k, at("key"), c));
        }
        if v.chars().count() > 256 {
            let c = "Member must have length less than or equal to 256".to_owned();
            problems.push(validation(v, at("value"), c));
        } else if !v.chars().all(tag_char) {
            let c = format!("Member must satisfy regular expression pattern: {TAG_VALUE_PATTERN}");
            problems.push(validation(v, at("value"), c));
        }
    }
    if !problems.is_empty() {
        return Err(CoreError::Validation(keyless_wire::validation_message(
            &problems,
        )));
    }
    for (i, (k, _)) in tags.iter().enumerate() {
        if k.to_ascii_lowercase().starts_with("aws:") {
            return Err(CoreError::InvalidInput(format!(
                "tag key `{k}` uses the reserved prefix `aws:`"
            )));
        }
        if tags
            .iter()
            .take(i)
            .any(|(earlier, _)| keys.same(earlier, k))
        {
            return Err(CoreError::InvalidInput(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive.".into(),
            ));
        }
    }
    Ok(())
}

/// The `Tags` of a Tag* request: required, then as [`check_tag_input`].
fn check_tags_to_add(tags: &[(String, String)], keys: TagKeys) -> Result<(), CoreError> {
    if tags.is_empty() {
        return Err(CoreError::Validation(
            keyless_wire::validation_message_nullable(&[(None, "tags", "Member must not be null")]),
        ));
    }
    check_tag_input(tags, keys)
}

/// The `TagKeys` of an Untag* request: required, at most 50, each 1-128 allowed characters.
fn check_tag_keys(keys: &[String]) -> Result<(), CoreError> {
    if keys.is_empty() {
        return Err(CoreError::Validation(
            keyless_wire::validation_message_nullable(&[(
                None,
                "tagKeys",
                "Member must not be null",
            )]),
        ));
    }
    if keys.len() > MAX_TAGS {
        return Err(CoreError::Validation(format!(
            "1 validation error detected: Value at 'tagKeys' failed to satisfy constraint: \
             Member must have length less than or equal to {MAX_TAGS}"
        )));
    }
    let mut problems = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        if let Some(c) = tag_key_problem(k) {
            problems.push(validation(k, format!("tagKeys.{}.member", i + 1), c));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(CoreError::Validation(keyless_wire::validation_message(
            &problems,
        )))
    }
}

/// TagRole/TagPolicy/TagOpenIDConnectProvider: adds `tags`, replacing the value of a key the
/// entity already has (compared as `keys` says), then checks the entity stays within 50.
fn merge_tags(
    into: &mut Vec<(String, String)>,
    tags: Vec<(String, String)>,
    keys: TagKeys,
) -> Result<(), CoreError> {
    for (k, v) in tags {
        if let Some(t) = into.iter_mut().find(|(tk, _)| keys.same(tk, &k)) {
            t.1 = v;
        } else {
            into.push((k, v));
        }
    }
    if into.len() > MAX_TAGS {
        return Err(CoreError::LimitExceeded(format!(
            "Cannot exceed quota for TagsPerRole: {MAX_TAGS}"
        )));
    }
    Ok(())
}

/// The Untag* actions: removes `keys` (compared as `how` says); a key not present is no error.
fn remove_tags(from: &mut Vec<(String, String)>, keys: &[String], how: TagKeys) {
    from.retain(|(k, _)| !keys.iter().any(|x| how.same(x, k)));
}

/// A role's description: at most 1000 characters of IAM's allowed set (tab, newlines, printable
/// ASCII and Latin-1), the same for CreateRole, UpdateRole and UpdateRoleDescription.
fn check_role_description(d: &str) -> Result<(), CoreError> {
    let constraint = if d.chars().count() > 1000 {
        "Member must have length less than or equal to 1000".to_owned()
    } else if !d
        .chars()
        .all(|c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{7e}' | '\u{a1}'..='\u{ff}'))
    {
        "Member must satisfy regular expression pattern: \
         [\\u0009\\u000A\\u000D\\u0020-\\u007E\\u00A1-\\u00FF]*"
            .to_owned()
    } else {
        return Ok(());
    };
    Err(CoreError::Validation(keyless_wire::validation_message(&[
        (d.to_owned(), "description".into(), constraint),
    ])))
}

/// A managed policy version id as IAM accepts it: `v[1-9][0-9]*(\.[A-Za-z0-9-]*)?`.
fn check_version_id(id: &str) -> Result<(), CoreError> {
    let rest = id.strip_prefix('v').unwrap_or_default();
    let (number, suffix) = match rest.split_once('.') {
        Some((n, s)) => (n, Some(s)),
        None => (rest, None),
    };
    let number_ok = number.starts_with(|c: char| ('1'..='9').contains(&c))
        && number.bytes().all(|b| b.is_ascii_digit());
    let suffix_ok =
        suffix.is_none_or(|s| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if number_ok && suffix_ok {
        return Ok(());
    }
    Err(CoreError::Validation(keyless_wire::validation_message(&[
        (
            id.to_owned(),
            "versionId".to_owned(),
            "Member must satisfy regular expression pattern: v[1-9][0-9]*(\\.[A-Za-z0-9-]*)?"
                .to_owned(),
        ),
    ])))
}

impl Iam {
    /// Loads every entity from the store.
    pub fn load(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Result<Self, CoreError> {
        let snapshot = store.load()?;
        let mut state = State::default();
        for (name, path, description, document) in AWS_MANAGED {
            let arn = format!("arn:aws:iam::aws:policy{path}{name}");
            let policy = ManagedPolicy {
                account: "aws".into(),
                name: (*name).into(),
                path: (*path).into(),
                policy_id: format!("ANPA{}", stable_suffix(name)),
                arn: arn.clone(),
                versions: vec![PolicyVersion {
                    id: "v1".into(),
                    document: (*document).into(),
                    created: 0,
                }],
                default_version: "v1".into(),
                description: Some((*description).into()),
                created: 0,
                updated: 0,
                tags: vec![],
                next_version: 2,
            };
            let parsed = parse_policy(document, PolicyKind::Identity)?;
            state
                .policies
                .insert(arn, Arc::new(PolicyEntry { policy, parsed }));
        }
        for (kind, key, json) in snapshot.entities {
            let corrupt =
                |e: serde_json::Error| CoreError::Internal(format!("stored {kind:?} {key}: {e}"));
            match kind {
                Kind::Provider => {
                    let p: OidcProvider = serde_json::from_str(&json).map_err(corrupt)?;
                    state.providers.insert(p.arn.clone(), Arc::new(p));
                }
                Kind::Role => {
                    let role: Role = serde_json::from_str(&json).map_err(corrupt)?;
                    let entry = role_entry(role)?;
                    state.roles.insert(key, Arc::new(entry));
                }
                Kind::Policy => {
                    let policy: ManagedPolicy = serde_json::from_str(&json).map_err(corrupt)?;
                    let parsed = parse_policy(policy.document(), PolicyKind::Identity)?;
                    state
                        .policies
                        .insert(policy.arn.clone(), Arc::new(PolicyEntry { policy, parsed }));
                }
                Kind::IssuerKey | Kind::SealingKey => {}
            }
        }
        Ok(Self {
            store,
            clock,
            state: RwLock::new(state),
            writer: Mutex::new(()),
            touches: Mutex::new(HashMap::new()),
        })
    }

    fn read(&self) -> Result<std::sync::RwLockReadGuard<'_, State>, CoreError> {
        self.state
            .read()
            .map_err(|_| CoreError::Internal("state lock poisoned".into()))
    }

    fn writer(&self) -> Result<MutexGuard<'_, ()>, CoreError> {
        self.writer
            .lock()
            .map_err(|_| CoreError::Internal("writer lock poisoned".into()))
    }

    /// Starts a change: the writer lock, then a read of the state.
    fn write(&self) -> Result<Writing<'_>, CoreError> {
        let writer = self.writer()?;
        Ok(Writing {
            _writer: writer,
            read: self.read()?,
            lock: &self.state,
        })
    }

    fn persist_role(
        &self,
        state: Writing<'_>,
        entry: RoleEntry,
    ) -> Result<Arc<RoleEntry>, CoreError> {
        let key = role_key(&entry.role.account, &entry.role.name);
        let json = serde_json::to_string(&entry.role).map_err(internal)?;
        self.store.put(Kind::Role, &key, &json)?;
        let entry = Arc::new(entry);
        let stored = entry.clone();
        state.commit(|s| s.roles.insert(key, stored))?;
        Ok(entry)
    }

    fn persist_provider(
        &self,
        state: Writing<'_>,
        p: OidcProvider,
    ) -> Result<Arc<OidcProvider>, CoreError> {
        let json = serde_json::to_string(&p).map_err(internal)?;
        self.store.put(Kind::Provider, &p.arn, &json)?;
        let p = Arc::new(p);
        let stored = p.clone();
        state.commit(|s| s.providers.insert(stored.arn.clone(), stored))?;
        Ok(p)
    }

    fn persist_policy(
        &self,
        state: Writing<'_>,
        p: ManagedPolicy,
    ) -> Result<Arc<PolicyEntry>, CoreError> {
        let parsed = parse_policy(p.document(), PolicyKind::Identity)?;
        let json = serde_json::to_string(&p).map_err(internal)?;
        self.store.put(Kind::Policy, &p.arn, &json)?;
        let entry = Arc::new(PolicyEntry { policy: p, parsed });
        let stored = entry.clone();
        state.commit(|s| s.policies.insert(stored.policy.arn.clone(), stored))?;
        Ok(entry)
    }

    // ---------------------------------------------------------------- OIDC providers

    /// CreateOpenIDConnectProvider.
    pub fn create_provider(
        &self,
        account: &str,
        url: &str,
        client_ids: Vec<String>,
        thumbprints: Vec<String>,
        tags: Vec<(String, String)>,
    ) -> Result<Arc<OidcProvider>, CoreError> {
        let host_path = url.strip_prefix("https://").ok_or_else(|| {
            CoreError::InvalidInput(format!(
                "Invalid Url `{url}`: the URL must begin with https://"
            ))
        })?;
        if url.len() > 255 || host_path.is_empty() || url.contains('?') || url.contains('#') {
            return Err(CoreError::InvalidInput(format!(
                "Invalid Url `{url}`: at most 255 characters, no query string or fragment"
            )));
        }
        let host = host_path.split('/').next().unwrap_or_default();
        if host.is_empty() || host.contains(':') || host.contains('@') {
            return Err(CoreError::InvalidInput(format!(
                "Invalid Url `{url}`: give a host name without port or user"
            )));
        }
        if client_ids.len() > 100 || client_ids.iter().any(|c| c.is_empty() || c.len() > 255) {
            return Err(CoreError::InvalidInput(
                "ClientIDList: at most 100 ids of 1-255 characters".into(),
            ));
        }
        check_thumbprints(&thumbprints)?;
        check_tag_input(&tags, TagKeys::CaseSensitive)?;
        let arn = format!("arn:aws:iam::{account}:oidc-provider/{host_path}");
        let state = self.write()?;
        if state.providers.contains_key(&arn) {
            return Err(CoreError::EntityAlreadyExists(format!(
                "Provider with url {url} already exists."
            )));
        }
        if state
            .providers
            .values()
            .filter(|p| p.account == account)
            .count()
            >= PROVIDERS_MAX
        {
            return Err(CoreError::LimitExceeded(
                "Cannot exceed quota for OpenIdConnectProvidersPerAccount: 100".into(),
            ));
        }
        let mut ids: Vec<String> = Vec::new();
        for c in client_ids {
            if !ids.contains(&c) {
                ids.push(c);
            }
        }
        let p = OidcProvider {
            account: account.into(),
            url: url.into(),
            arn,
            client_ids: ids,
            thumbprints,
            tags,
            created: self.clock.now(),
        };
        self.persist_provider(state, p)
    }

    /// GetOpenIDConnectProvider.
    pub fn provider(&self, account: &str, arn: &str) -> Result<Arc<OidcProvider>, CoreError> {
        check_iam_arn(arn, "oidc-provider/")?;
        self.read()?
            .providers
            .get(arn)
            .filter(|p| p.account == account)
            .cloned()
            .ok_or_else(|| no_provider(arn))
    }

    /// The provider of `account` whose URL is exactly `issuer` (how STS finds it).
    pub fn provider_for_issuer(
        &self,
        account: &str,
        issuer: &str,
    ) -> Result<Option<Arc<OidcProvider>>, CoreError> {
        Ok(self
            .read()?
            .providers
            .values()
            .find(|p| p.account == account && p.url == issuer)
            .cloned())
    }

    /// ListOpenIDConnectProviders, sorted by ARN.
    pub fn providers(&self, account: &str) -> Result<Vec<Arc<OidcProvider>>, CoreError> {
        let mut v: Vec<_> = self
            .read()?
            .providers
            .values()
            .filter(|p| p.account == account)
            .cloned()
            .collect();
        v.sort_by(|a, b| a.arn.cmp(&b.arn));
        Ok(v)
    }

    /// DeleteOpenIDConnectProvider.
    pub fn delete_provider(&self, account: &str, arn: &str) -> Result<(), CoreError> {
        check_iam_arn(arn, "oidc-provider/")?;
        let state = self.write()?;
        if state
            .providers
            .get(arn)
            .is_none_or(|p| p.account != account)
        {
            return Err(no_provider(arn));
        }
        self.store.delete(Kind::Provider, arn)?;
        state.commit(|s| s.providers.remove(arn))?;
        Ok(())
    }

    fn update_provider(
        &self,
        account: &str,
        arn: &str,
        change: impl FnOnce(&mut OidcProvider) -> Result<(), CoreError>,
    ) -> Result<(), CoreError> {
        check_iam_arn(arn, "oidc-provider/")?;
        let state = self.write()?;
        let mut p = state
            .providers
            .get(arn)
            .filter(|p| p.account == account)
            .map(|p| (**p).clone())
            .ok_or_else(|| no_provider(arn))?;
        change(&mut p)?;
        self.persist_provider(state, p)?;
        Ok(())
    }

    /// AddClientIDToOpenIDConnectProvider (idempotent).
    pub fn add_client_id(
        &self,
        account: &str,
        arn: &str,
        client_id: &str,
    ) -> Result<(), CoreError> {
        if client_id.is_empty() || client_id.len() > 255 {
            return Err(CoreError::InvalidInput(
                "ClientID must be 1-255 characters".into(),
            ));
        }
        self.update_provider(account, arn, |p| {
            if !p.client_ids.iter().any(|c| c == client_id) {
                if p.client_ids.len() >= 100 {
                    return Err(CoreError::LimitExceeded(
                        "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: 100".into(),
                    ));
                }
                p.client_ids.push(client_id.into());
            }
            Ok(())
        })
    }

    /// RemoveClientIDFromOpenIDConnectProvider (idempotent).
    pub fn remove_client_id(
        &self,
        account: &str,
        arn: &str,
        client_id: &str,
    ) -> Result<(), CoreError> {
        self.update_provider(account, arn, |p| {
            p.client_ids.retain(|c| c != client_id);
            Ok(())
        })
    }

    /// UpdateOpenIDConnectProviderThumbprint.
    pub fn update_thumbprints(
        &self,
        account: &str,
        arn: &str,
        thumbprints: Vec<String>,
    ) -> Result<(), CoreError> {
        check_thumbprints(&thumbprints)?;
        self.update_provider(account, arn, |p| {
            p.thumbprints = thumbprints;
            Ok(())
        })
    }

    /// TagOpenIDConnectProvider: adds or replaces tags.
    pub fn tag_provider(
        &self,
        account: &str,
        arn: &str,
        tags: Vec<(String, String)>,
    ) -> Result<(), CoreError> {
        check_tags_to_add(&tags, TagKeys::CaseSensitive)?;
        self.update_provider(account, arn, |p| {
            merge_tags(&mut p.tags, tags, TagKeys::CaseSensitive)
        })
    }

    /// UntagOpenIDConnectProvider.
    pub fn untag_provider(
        &self,
        account: &str,
        arn: &str,
        keys: &[String],
    ) -> Result<(), CoreError> {
        check_tag_keys(keys)?;
        self.update_provider(account, arn, |p| {
            remove_tags(&mut p.tags, keys, TagKeys::CaseSensitive);
            Ok(())
        })
    }

    // ---------------------------------------------------------------- roles

    /// CreateRole.
    pub fn create_role(&self, account: &str, input: NewRole) -> Result<Arc<RoleEntry>, CoreError> {
        check_name(&input.name, "roleName", 64)?;
        let path = input.path.unwrap_or_else(|| "/".into());
        check_path(&path, "path")?;
        let max = input.max_session_duration.unwrap_or(3600);
        check_max_session(max)?;
        if let Some(d) = &input.description {
            check_role_description(d)?;
        }
        check_tag_input(&input.tags, TagKeys::CaseInsensitive)?;
        let trust = check_trust_policy(&input.trust_policy)?;
        let state = self.write()?;
        if let Some(b) = &input.permissions_boundary {
            check_boundary(&state, account, b)?;
        }
        let key = role_key(account, &input.name);
        if state.roles.contains_key(&key) {
            return Err(CoreError::EntityAlreadyExists(format!(
                "Role with name {} already exists.",
                input.name
            )));
        }
        if state
            .roles
            .values()
            .filter(|r| r.role.account == account)
            .count()
            >= 1000
        {
            return Err(CoreError::LimitExceeded(
                "Cannot exceed quota for RolesPerAccount: 1000".into(),
            ));
        }
        let role = Role {
            account: account.into(),
            arn: format!("arn:aws:iam::{account}:role{path}{}", input.name),
            name: input.name,
            path,
            role_id: keyless_wire::unique_id("AROA"),
            trust_policy: input.trust_policy,
            description: input.description,
            max_session_duration: u32::try_from(max).unwrap_or(3600),
            permissions_boundary: input.permissions_boundary,
            tags: input.tags,
            created: self.clock.now(),
            inline_policies: Default::default(),
            attached: vec![],
            last_used: None,
        };
        self.persist_role(
            state,
            RoleEntry {
                role,
                trust,
                inline: vec![],
            },
        )
    }

    /// GetRole.
    pub fn role(&self, account: &str, name: &str) -> Result<Arc<RoleEntry>, CoreError> {
        check_name(name, "roleName", 64)?;
        self.read()?
            .roles
            .get(&role_key(account, name))
            .cloned()
            .ok_or_else(|| no_role(name))
    }

    /// The role an ARN names, if it exists (path must match).
    pub fn role_by_arn(&self, arn: &str) -> Result<Option<Arc<RoleEntry>>, CoreError> {
        let Some((account, name)) = parse_role_arn(arn) else {
            return Ok(None);
        };
        Ok(self
            .read()?
            .roles
            .get(&role_key(account, name))
            .filter(|r| r.role.arn == arn)
            .cloned())
    }

    /// ListRoles with AWS-style pagination.
    pub fn roles(
        &self,
        account: &str,
        path_prefix: Option<&str>,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<Page<Arc<RoleEntry>>, CoreError> {
        let mut all: Vec<_> = self
            .read()?
            .roles
            .values()
            .filter(|r| r.role.account == account)
            .filter(|r| path_prefix.is_none_or(|p| r.role.path.starts_with(p)))
            .cloned()
            .collect();
        all.sort_by_key(|r| r.role.name.to_ascii_lowercase());
        paginate(all, |r| r.role.name.to_ascii_lowercase(), marker, max_items)
    }

    fn update_role(
        &self,
        account: &str,
        name: &str,
        change: impl FnOnce(&State, &mut Role) -> Result<(), CoreError>,
    ) -> Result<Arc<RoleEntry>, CoreError> {
        check_name(name, "roleName", 64)?;
        let state = self.write()?;
        let mut role = state
            .roles
            .get(&role_key(account, name))
            .map(|r| r.role.clone())
            .ok_or_else(|| no_role(name))?;
        change(&state, &mut role)?;
        let entry = role_entry(role)?;
        self.persist_role(state, entry)
    }

    /// UpdateRole.
    pub fn update_role_settings(
        &self,
        account: &str,
        name: &str,
        description: Option<String>,
        max_session: Option<i64>,
    ) -> Result<(), CoreError> {
        if let Some(m) = max_session {
            check_max_session(m)?;
        }
        if let Some(d) = &description {
            check_role_description(d)?;
        }
        self.update_role(account, name, |_, r| {
            if let Some(d) = description {
                r.description = Some(d);
            }
            if let Some(m) = max_session {
                r.max_session_duration = u32::try_from(m).unwrap_or(3600);
            }
            Ok(())
        })?;
        Ok(())
    }

    /// UpdateAssumeRolePolicy.
    pub fn update_trust_policy(
        &self,
        account: &str,
        name: &str,
        document: String,
    ) -> Result<(), CoreError> {
        check_trust_policy(&document)?;
        self.update_role(account, name, |_, r| {
            r.trust_policy = document;
            Ok(())
        })?;
        Ok(())
    }

    /// PutRolePermissionsBoundary / DeleteRolePermissionsBoundary.
    pub fn set_boundary(
        &self,
        account: &str,
        name: &str,
        boundary: Option<String>,
    ) -> Result<(), CoreError> {
        self.update_role(account, name, |state, r| {
            if let Some(b) = &boundary {
                check_boundary(state, account, b)?;
            }
            r.permissions_boundary = boundary;
            Ok(())
        })?;
        Ok(())
    }

    /// TagRole: adds or replaces tags.
    pub fn tag_role(
        &self,
        account: &str,
        name: &str,
        tags: Vec<(String, String)>,
    ) -> Result<(), CoreError> {
        check_tags_to_add(&tags, TagKeys::CaseInsensitive)?;
        self.update_role(account, name, |_, r| {
            merge_tags(&mut r.tags, tags, TagKeys::CaseInsensitive)
        })?;
        Ok(())
    }

    /// UntagRole.
    pub fn untag_role(&self, account: &str, name: &str, keys: &[String]) -> Result<(), CoreError> {
        check_tag_keys(keys)?;
        self.update_role(account, name, |_, r| {
            remove_tags(&mut r.tags, keys, TagKeys::CaseInsensitive);
            Ok(())
        })?;
        Ok(())
    }

    /// Notes that the role was just assumed; [`Iam::flush_touches`] records it later (best
    /// effort). Never touches the database itself: an assume must not wait for a database
    /// write, let alone for an unreachable database.
    pub fn touch_role(&self, account: &str, name: &str) {
        let now = self.clock.now();
        let key = role_key(account, name);
        let stale = self
            .read()
            .ok()
            .and_then(|s| {
                s.roles
                    .get(&key)
                    .map(|r| r.role.last_used.is_none_or(|t| now >= t + 3600))
            })
            .unwrap_or(false);
        // Only once an hour: the database must not take a write for every call.
        if stale && let Ok(mut touches) = self.touches.lock() {
            touches
                .entry(key)
                .or_insert_with(|| (account.to_owned(), name.to_owned(), now));
        }
    }

    /// Records the last use of the roles noted by [`Iam::touch_role`] since the last call; meant
    /// for a background task. Failures are logged, and the role is noted again by its next use.
    pub fn flush_touches(&self) {
        let touched = match self.touches.lock() {
            Ok(mut t) => std::mem::take(&mut *t),
            Err(_) => return,
        };
        for (_, (account, name, now)) in touched {
            let result = self.update_role(&account, &name, |_, r| {
                if r.last_used.is_none_or(|t| t < now) {
                    r.last_used = Some(now);
                }
                Ok(())
            });
            match result {
                Ok(_) | Err(CoreError::NoSuchEntity(_)) => {}
                Err(e) => {
                    tracing::warn!(error = %e, role = %name, "could not record role last use")
                }
            }
        }
    }

    /// DeleteRole.
    pub fn delete_role(&self, account: &str, name: &str) -> Result<(), CoreError> {
        check_name(name, "roleName", 64)?;
        let state = self.write()?;
        let key = role_key(account, name);
        let entry = state.roles.get(&key).ok_or_else(|| no_role(name))?;
        if !entry.role.inline_policies.is_empty() {
            return Err(CoreError::DeleteConflict(
                "Cannot delete entity, must delete policies first.".into(),
            ));
        }
        if !entry.role.attached.is_empty() {
            return Err(CoreError::DeleteConflict(
                "Cannot delete entity, must detach all policies first.".into(),
            ));
        }
        self.store.delete(Kind::Role, &key)?;
        state.commit(|s| s.roles.remove(&key))?;
        Ok(())
    }

    /// PutRolePolicy.
    pub fn put_role_policy(
        &self,
        account: &str,
        role: &str,
        policy_name: &str,
        document: String,
    ) -> Result<(), CoreError> {
        check_name(policy_name, "policyName", 128)?;
        parse_policy(&document, PolicyKind::Identity)?;
        self.update_role(account, role, |_, r| {
            r.inline_policies.insert(policy_name.into(), document);
            let total: usize = r
                .inline_policies
                .values()
                .map(|d| non_whitespace_len(d))
                .sum();
            if total > INLINE_POLICIES_MAX {
                return Err(CoreError::LimitExceeded(format!(
                    "Maximum policy size of {INLINE_POLICIES_MAX} bytes exceeded for role {}",
                    r.name
                )));
            }
            Ok(())
        })?;
        Ok(())
    }

    /// GetRolePolicy.
    pub fn role_policy(
        &self,
        account: &str,
        role: &str,
        policy_name: &str,
    ) -> Result<String, CoreError> {
        let entry = self.role(account, role)?;
        entry
            .role
            .inline_policies
            .get(policy_name)
            .cloned()
            .ok_or_else(|| {
                CoreError::NoSuchEntity(format!(
                    "The role policy with name {policy_name} cannot be found."
                ))
            })
    }

    /// DeleteRolePolicy.
    pub fn delete_role_policy(
        &self,
        account: &str,
        role: &str,
        policy_name: &str,
    ) -> Result<(), CoreError> {
        self.update_role(account, role, |_, r| {
            r.inline_policies
                .remove(policy_name)
                .map(|_| ())
                .ok_or_else(|| {
                    CoreError::NoSuchEntity(format!(
                        "The role policy with name {policy_name} cannot be found."
                    ))
                })
        })?;
        Ok(())
    }

    // ---------------------------------------------------------------- managed policies

    /// CreatePolicy.
    pub fn create_policy(
        &self,
        account: &str,
        name: &str,
        path: Option<String>,
        document: String,
        description: Option<String>,
        tags: Vec<(String, String)>,
    ) -> Result<Arc<PolicyEntry>, CoreError> {
        check_name(name, "policyName", 128)?;
        let path = path.unwrap_or_else(|| "/".into());
        check_path(&path, "path")?;
        check_tag_input(&tags, TagKeys::CaseSensitive)?;
        check_managed_document(&document)?;
        let arn = format!("arn:aws:iam::{account}:policy{path}{name}");
        let state = self.write()?;
        if state
            .policies
            .values()
            .any(|p| p.policy.account == account && p.policy.name.eq_ignore_ascii_case(name))
        {
            return Err(CoreError::EntityAlreadyExists(format!(
                "A policy called {name} already exists. Duplicate names are not allowed."
            )));
        }
        let now = self.clock.now();
        let p = ManagedPolicy {
            account: account.into(),
            name: name.into(),
            path,
            policy_id: keyless_wire::unique_id("ANPA"),
            arn,
            versions: vec![PolicyVersion {
                id: "v1".into(),
                document,
                created: now,
            }],
            default_version: "v1".into(),
            description,
            created: now,
            updated: now,
            tags,
            next_version: 2,
        };
        self.persist_policy(state, p)
    }

    /// GetPolicy.
    pub fn policy(&self, account: &str, arn: &str) -> Result<Arc<PolicyEntry>, CoreError> {
        check_iam_arn(arn, "policy/")?;
        self.read()?
            .policies
            .get(arn)
            .filter(|p| p.policy.account == account || p.policy.account == "aws")
            .cloned()
            .ok_or_else(|| CoreError::NoSuchEntity(format!("Policy {arn} was not found.")))
    }

    /// GetPolicyVersion: the policy and the version asked for.
    pub fn policy_version(
        &self,
        account: &str,
        arn: &str,
        version_id: &str,
    ) -> Result<(Arc<PolicyEntry>, PolicyVersion), CoreError> {
        check_version_id(version_id)?;
        let p = self.policy(account, arn)?;
        let v = p
            .policy
            .versions
            .iter()
            .find(|v| v.id == version_id)
            .cloned()
            .ok_or_else(|| no_policy_version(arn, version_id))?;
        Ok((p, v))
    }

    /// ListPolicies: customer managed policies of `account` and/or AWS managed ones (`scope`),
    /// under `path_prefix`, kept by `keep` (given each policy's usage in the account), sorted by
    /// name, one page at a time.
    pub fn list_policies(
        &self,
        account: &str,
        scope: PolicyScope,
        path_prefix: Option<&str>,
        keep: impl Fn((usize, usize)) -> bool,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<Page<PolicyInUse>, CoreError> {
        if let Some(prefix) = path_prefix {
            check_path_prefix(prefix)?;
        }
        let state = self.read()?;
        let mut all: Vec<_> = state
            .policies
            .values()
            .filter(|p| match scope {
                PolicyScope::All => p.policy.account == account || p.policy.account == "aws",
                PolicyScope::Aws => p.policy.account == "aws",
                PolicyScope::Local => p.policy.account == account,
            })
            .filter(|p| path_prefix.is_none_or(|prefix| p.policy.path.starts_with(prefix)))
            .map(|p| {
                let used = usage_among(
                    state.roles.values().filter(|r| r.role.account == account),
                    &p.policy.arn,
                );
                (Arc::clone(p), used)
            })
            .filter(|(_, used)| keep(*used))
            .collect();
        drop(state);
        let key = |(p, _): &PolicyInUse| format!("{}\u{0}{}", p.policy.name, p.policy.arn);
        all.sort_by_key(key);
        paginate(all, key, marker, max_items)
    }

    /// How many roles of `account` attach `arn` and use it as boundary (AWS counts an AWS
    /// managed policy's attachments per account, too).
    pub fn policy_usage(&self, account: &str, arn: &str) -> Result<(usize, usize), CoreError> {
        let state = self.read()?;
        Ok(usage_among(
            state.roles.values().filter(|r| r.role.account == account),
            arn,
        ))
    }

    /// CreatePolicyVersion.
    pub fn create_policy_version(
        &self,
        account: &str,
        arn: &str,
        document: String,
        set_default: bool,
    ) -> Result<PolicyVersion, CoreError> {
        check_managed_document(&document)?;
        let state = self.write()?;
        let mut p = state
            .policies
            .get(arn)
            .filter(|p| p.policy.account == account)
            .map(|p| p.policy.clone())
            .ok_or_else(|| CoreError::NoSuchEntity(format!("Policy {arn} was not found.")))?;
        if p.versions.len() >= POLICY_VERSIONS_MAX {
            return Err(CoreError::LimitExceeded(format!(
                "A managed policy can have up to {POLICY_VERSIONS_MAX} versions. Before you create a new version, you must delete an existing version."
            )));
        }
        let now = self.clock.now();
        let version = PolicyVersion {
            id: format!("v{}", p.next_version.max(2)),
            document,
            created: now,
        };
        p.next_version = p.next_version.max(2) + 1;
        p.versions.push(version.clone());
        if set_default {
            p.default_version = version.id.clone();
        }
        p.updated = now;
        self.persist_policy(state, p)?;
        Ok(version)
    }

    /// Changes a customer managed policy of `account` (AWS's own policies cannot be changed).
    fn update_policy(
        &self,
        account: &str,
        arn: &str,
        change: impl FnOnce(&mut ManagedPolicy) -> Result<(), CoreError>,
    ) -> Result<Arc<PolicyEntry>, CoreError> {
        check_iam_arn(arn, "policy/")?;
        let state = self.write()?;
        let mut p = state
            .policies
            .get(arn)
            .filter(|p| p.policy.account == account)
            .map(|p| p.policy.clone())
            .ok_or_else(|| CoreError::NoSuchEntity(format!("Policy {arn} was not found.")))?;
        change(&mut p)?;
        self.persist_policy(state, p)
    }

    /// DeletePolicyVersion: any version but the default one (which goes with the policy).
    pub fn delete_policy_version(
        &self,
        account: &str,
        arn: &str,
        version_id: &str,
    ) -> Result<(), CoreError> {
        check_version_id(version_id)?;
        self.update_policy(account, arn, |p| {
            let at = p
                .versions
                .iter()
                .position(|v| v.id == version_id)
                .ok_or_else(|| no_policy_version(arn, version_id))?;
            if p.default_version == version_id {
                return Err(CoreError::DeleteConflict(
                    "Cannot delete the default version of a policy.".into(),
                ));
            }
            p.versions.remove(at);
            Ok(())
        })?;
        Ok(())
    }

    /// SetDefaultPolicyVersion: roles attaching the policy are granted what this version says
    /// from now on.
    pub fn set_default_policy_version(
        &self,
        account: &str,
        arn: &str,
        version_id: &str,
    ) -> Result<(), CoreError> {
        check_version_id(version_id)?;
        let now = self.clock.now();
        self.update_policy(account, arn, |p| {
            if !p.versions.iter().any(|v| v.id == version_id) {
                return Err(no_policy_version(arn, version_id));
            }
            p.default_version = version_id.to_owned();
            p.updated = now;
            Ok(())
        })?;
        Ok(())
    }

    /// TagPolicy: adds or replaces tags.
    pub fn tag_policy(
        &self,
        account: &str,
        arn: &str,
        tags: Vec<(String, String)>,
    ) -> Result<(), CoreError> {
        check_tags_to_add(&tags, TagKeys::CaseSensitive)?;
        self.update_policy(account, arn, |p| {
            merge_tags(&mut p.tags, tags, TagKeys::CaseSensitive)
        })?;
        Ok(())
    }

    /// UntagPolicy.
    pub fn untag_policy(&self, account: &str, arn: &str, keys: &[String]) -> Result<(), CoreError> {
        check_tag_keys(keys)?;
        self.update_policy(account, arn, |p| {
            remove_tags(&mut p.tags, keys, TagKeys::CaseSensitive);
            Ok(())
        })?;
        Ok(())
    }

    /// The roles of `account` that attach `arn` (`boundary == false`) or use it as their
    /// permissions boundary (`true`), as (path, name, role id), sorted by name.
    pub fn roles_using_policy(
        &self,
        account: &str,
        arn: &str,
        boundary: bool,
    ) -> Result<Vec<(String, String, String)>, CoreError> {
        let mut v: Vec<(String, String, String)> = self
            .read()?
            .roles
            .values()
            .map(|r| &r.role)
            .filter(|r| r.account == account)
            .filter(|r| {
                if boundary {
                    r.permissions_boundary.as_deref() == Some(arn)
                } else {
                    r.attached.iter().any(|a| a == arn)
                }
            })
            .map(|r| (r.path.clone(), r.name.clone(), r.role_id.clone()))
            .collect();
        v.sort_by(|a, b| a.1.cmp(&b.1));
        Ok(v)
    }

    /// DeletePolicy: once no role attaches it and only its default version is left.
    pub fn delete_policy(&self, account: &str, arn: &str) -> Result<(), CoreError> {
        let state = self.write()?;
        let Some(policy) = state
            .policies
            .get(arn)
            .filter(|p| p.policy.account == account)
        else {
            return Err(CoreError::NoSuchEntity(format!(
                "Policy {arn} was not found."
            )));
        };
        if policy.policy.versions.len() > 1 {
            return Err(CoreError::DeleteConflict(
                "This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.".into(),
            ));
        }
        if state.roles.values().any(|r| {
            r.role.attached.iter().any(|a| a == arn)
                || r.role.permissions_boundary.as_deref() == Some(arn)
        }) {
            return Err(CoreError::DeleteConflict(
                "Cannot delete a policy attached to entities.".into(),
            ));
        }
        self.store.delete(Kind::Policy, arn)?;
        state.commit(|s| s.policies.remove(arn))?;
        Ok(())
    }

    /// AttachRolePolicy.
    pub fn attach_role_policy(
        &self,
        account: &str,
        role: &str,
        arn: &str,
    ) -> Result<(), CoreError> {
        self.update_role(account, role, |state, r| {
            if !state
                .policies
                .get(arn)
                .is_some_and(|p| p.policy.account == account || p.policy.account == "aws")
            {
                return Err(CoreError::NoSuchEntity(format!(
                    "Policy {arn} does not exist or is not attachable."
                )));
            }
            if !r.attached.iter().any(|a| a == arn) {
                if r.attached.len() >= ATTACHED_MAX {
                    return Err(CoreError::LimitExceeded(format!(
                        "Cannot exceed quota for PoliciesPerRole: {ATTACHED_MAX}"
                    )));
                }
                r.attached.push(arn.into());
            }
            Ok(())
        })?;
        Ok(())
    }

    /// DetachRolePolicy.
    pub fn detach_role_policy(
        &self,
        account: &str,
        role: &str,
        arn: &str,
    ) -> Result<(), CoreError> {
        self.update_role(account, role, |_, r| {
            let before = r.attached.len();
            r.attached.retain(|a| a != arn);
            if r.attached.len() == before {
                return Err(CoreError::NoSuchEntity(format!(
                    "Policy {arn} was not found."
                )));
            }
            Ok(())
        })?;
        Ok(())
    }

    /// The (name, ARN) of managed policies attached to a role.
    pub fn attached_policies(
        &self,
        account: &str,
        role: &str,
    ) -> Result<Vec<(String, String)>, CoreError> {
        let entry = self.role(account, role)?;
        let state = self.read()?;
        Ok(entry
            .role
            .attached
            .iter()
            .map(|arn| {
                let name = state
                    .policies
                    .get(arn)
                    .map(|p| p.policy.name.clone())
                    .unwrap_or_else(|| arn.rsplit('/').next().unwrap_or_default().to_owned());
                (name, arn.clone())
            })
            .collect())
    }

    /// GetAccountAuthorizationDetails: the account's roles, then its managed policies, one
    /// page at a time. AWS managed policies are listed only when a role of the account uses
    /// them (attached or as boundary), as AWS does: the point is a snapshot of what is in
    /// force, not the catalogue.
    pub fn authorization_details(
        &self,
        account: &str,
        filter: DetailFilter,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<Page<AuthorizationDetail>, CoreError> {
        let state = self.read()?;
        let roles: Vec<&Arc<RoleEntry>> = state
            .roles
            .values()
            .filter(|r| r.role.account == account)
            .collect();
        let mut all: Vec<AuthorizationDetail> = Vec::new();
        if filter.roles {
            all.extend(
                roles
                    .iter()
                    .map(|r| AuthorizationDetail::Role(Arc::clone(r))),
            );
        }
        for p in state.policies.values() {
            let listed = if p.policy.account == "aws" {
                filter.aws_policies
            } else {
                filter.local_policies && p.policy.account == account
            };
            if !listed {
                continue;
            }
            let used = usage_among(roles.iter().copied(), &p.policy.arn);
            if p.policy.account == "aws" && used == (0, 0) {
                continue;
            }
            all.push(AuthorizationDetail::Policy(Arc::clone(p), used));
        }
        drop(state);
        // Roles first, by name; then policies, by ARN.
        let key = |d: &AuthorizationDetail| match d {
            AuthorizationDetail::Role(r) => format!("0{}", r.role.name.to_ascii_lowercase()),
            AuthorizationDetail::Policy(p, _) => format!("1{}", p.policy.arn),
        };
        all.sort_by_key(key);
        paginate(all, key, marker, max_items)
    }

    // ---------------------------------------------------------------- authorisation

    /// Evaluates a request by a session against its role's identity policies ∩ boundary ∩
    /// session policies (`resource_policy` added when the target has one).
    pub fn evaluate_caller(
        &self,
        caller: &Caller,
        action: &str,
        resource: &str,
        ctx: &Context,
        resource_policy: Option<&Policy>,
    ) -> Result<Evaluation, CoreError> {
        let Caller::Session(session) = caller else {
            // The account root is allowed everything in its own account; this never reaches the
            // engine, like AWS (no SCPs here).
            return Ok(allow_root());
        };
        let role = self.role_by_arn(&session.role_arn)?;
        let state = self.read()?;
        let mut identity: Vec<Named<'_>> = Vec::new();
        let mut boundary = None;
        if let Some(role) = &role {
            for (name, p) in &role.inline {
                identity.push(Named { name, policy: p });
            }
            for arn in &role.role.attached {
                if let Some(p) = state.policies.get(arn) {
                    identity.push(Named {
                        name: arn,
                        policy: &p.parsed,
                    });
                }
            }
            if let Some(b) = &role.role.permissions_boundary {
                boundary = state.policies.get(b).map(|p| Named {
                    name: b,
                    policy: &p.parsed,
                });
            }
        }
        let inline_session = match &session.session_policy {
            Some(text) => Some(parse_policy(text, PolicyKind::Identity)?),
            None => None,
        };
        let session_set = if inline_session.is_some() || !session.session_policy_arns.is_empty() {
            let mut v = Vec::new();
            if let Some(p) = &inline_session {
                v.push(Named {
                    name: "session policy",
                    policy: p,
                });
            }
            for arn in &session.session_policy_arns {
                if let Some(p) = state.policies.get(arn) {
                    v.push(Named {
                        name: arn,
                        policy: &p.parsed,
                    });
                }
            }
            Some(v)
        } else {
            None
        };
        let principal = caller.exact_principal_ids();
        let set = PolicySet {
            identity,
            resource: resource_policy.map(|p| Named {
                name: "resource policy",
                policy: p,
            }),
            boundary,
            session: session_set,
        };
        let request = Request {
            principal: &principal,
            action,
            resource,
            context: ctx,
        };
        Ok(keyless_policy::evaluate(&set, &request))
    }

    /// Authorises a signed call; `Err(AccessDenied)` with AWS's message (plus, in dev mode, the
    /// one-line reason) when refused.
    pub fn authorize(
        &self,
        caller: &Caller,
        action: &str,
        resource: &str,
        ctx: &Context,
        explain: bool,
    ) -> Result<(), CoreError> {
        let eval = self.evaluate_caller(caller, action, resource, ctx, None)?;
        if eval.decision == Decision::Allow {
            return Ok(());
        }
        let why = match eval.decision {
            Decision::ExplicitDeny => {
                "with an explicit deny in an identity-based policy".to_owned()
            }
            _ => format!("because no identity-based policy allows the {action} action"),
        };
        let mut msg = format!(
            "User: {} is not authorized to perform: {action} on resource: {resource} {why}",
            caller.arn()
        );
        if explain {
            msg.push_str(&format!("\n[keyless] {}", eval.trace.summary()));
        }
        Err(CoreError::AccessDenied(msg))
    }

    /// SimulatePrincipalPolicy for a role (or the role of a session ARN).
    pub fn simulate_principal(
        &self,
        account: &str,
        source_arn: &str,
        actions: &[String],
        resources: &[String],
        ctx: &Context,
        extra: &[String],
    ) -> Result<Vec<SimulationResult>, CoreError> {
        let role_arn = if let Some(rest) =
            source_arn.strip_prefix(&format!("arn:aws:sts::{account}:assumed-role/"))
        {
            let name = rest.split('/').next().unwrap_or_default();
            self.role(account, name)?.role.arn.clone()
        } else {
            source_arn.to_owned()
        };
        let role = self
            .role_by_arn(&role_arn)?
            .filter(|r| r.role.account == account)
            .ok_or_else(|| {
                CoreError::NoSuchEntity(format!("Principal {source_arn} does not exist."))
            })?;
        let mut extra_parsed = Vec::new();
        for text in extra {
            extra_parsed.push(parse_policy(text, PolicyKind::Identity)?);
        }
        let state = self.read()?;
        let mut names: Vec<String> = Vec::new();
        let mut identity: Vec<(String, &Policy)> = Vec::new();
        for (name, p) in &role.inline {
            identity.push((name.clone(), p));
        }
        for arn in &role.role.attached {
            if let Some(p) = state.policies.get(arn) {
                identity.push((p.policy.name.clone(), &p.parsed));
            }
        }
        for (i, p) in extra_parsed.iter().enumerate() {
            identity.push((format!("PolicyInputList.{}", i + 1), p));
        }
        names.extend(identity.iter().map(|(n, _)| n.clone()));
        let boundary = role
            .role
            .permissions_boundary
            .as_ref()
            .and_then(|b| state.policies.get(b).map(|p| (b.clone(), &p.parsed)));
        let principal = vec![keyless_policy::PrincipalId {
            kind: keyless_policy::PrincipalKind::Aws,
            value: role.role.arn.clone(),
        }];
        let mut ctx = ctx.clone();
        ctx.set("aws:PrincipalArn", vec![role.role.arn.clone()]);
        ctx.set("aws:PrincipalAccount", vec![account.to_owned()]);
        let resources: Vec<String> = if resources.is_empty() {
            vec!["*".into()]
        } else {
            resources.to_vec()
        };
        let mut out = Vec::new();
        for action in actions {
            for resource in &resources {
                let set = PolicySet {
                    identity: identity
                        .iter()
                        .map(|(n, p)| Named { name: n, policy: p })
                        .collect(),
                    resource: None,
                    boundary: boundary.as_ref().map(|(n, p)| Named { name: n, policy: p }),
                    session: None,
                };
                let request = Request {
                    principal: &principal,
                    action,
                    resource,
                    context: &ctx,
                };
                out.push(SimulationResult {
                    action: action.clone(),
                    resource: resource.clone(),
                    evaluation: keyless_policy::evaluate(&set, &request),
                    policy_names: names.clone(),
                });
            }
        }
        Ok(out)
    }
}

/// SimulateCustomPolicy: evaluates the given identity policies (and optional resource policy).
pub fn simulate_custom(
    policies: &[String],
    resource_policy: Option<&str>,
    caller_arn: Option<&str>,
    actions: &[String],
    resources: &[String],
    ctx: &Context,
) -> Result<Vec<SimulationResult>, CoreError> {
    let mut parsed = Vec::new();
    for text in policies {
        parsed.push(parse_policy(text, PolicyKind::Identity)?);
    }
    let resource_policy = match resource_policy {
        Some(t) => Some(parse_policy(t, PolicyKind::Resource)?),
        None => None,
    };
    let names: Vec<String> = (1..=parsed.len())
        .map(|i| format!("PolicyInputList.{i}"))
        .collect();
    let principal: Vec<keyless_policy::PrincipalId> = caller_arn
        .map(|a| {
            vec![keyless_policy::PrincipalId {
                kind: keyless_policy::PrincipalKind::Aws,
                value: a.to_owned(),
            }]
        })
        .unwrap_or_default();
    let resources: Vec<String> = if resources.is_empty() {
        vec!["*".into()]
    } else {
        resources.to_vec()
    };
    let mut out = Vec::new();
    for action in actions {
        for resource in &resources {
            let set = PolicySet {
                identity: parsed
                    .iter()
                    .zip(&names)
                    .map(|(p, n)| Named { name: n, policy: p })
                    .collect(),
                resource: resource_policy.as_ref().map(|p| Named {
                    name: "ResourcePolicy",
                    policy: p,
                }),
                boundary: None,
                session: None,
            };
            let request = Request {
                principal: &principal,
                action,
                resource,
                context: ctx,
            };
            out.push(SimulationResult {
                action: action.clone(),
                resource: resource.clone(),
                evaluation: keyless_policy::evaluate(&set, &request),
                policy_names: names.clone(),
            });
        }
    }
    Ok(out)
}

fn allow_root() -> Evaluation {
    let set = PolicySet {
        identity: vec![],
        resource: None,
        boundary: None,
        session: None,
    };
    // An empty set evaluates to an implicit deny; root is allowed, so flip the decision while
    // keeping a (trivial) trace for audit records.
    let ctx = Context::new();
    let mut e = keyless_policy::evaluate(
        &set,
        &Request {
            principal: &[],
            action: "*",
            resource: "*",
            context: &ctx,
        },
    );
    e.decision = Decision::Allow;
    e
}

fn role_entry(role: Role) -> Result<RoleEntry, CoreError> {
    let trust = parse_policy(&role.trust_policy, PolicyKind::Trust)?;
    let mut inline = Vec::new();
    for (name, doc) in &role.inline_policies {
        inline.push((name.clone(), parse_policy(doc, PolicyKind::Identity)?));
    }
    Ok(RoleEntry {
        role,
        trust,
        inline,
    })
}

fn check_trust_policy(document: &str) -> Result<Policy, CoreError> {
    let policy = parse_policy(document, PolicyKind::Trust)?;
    if policy.size_without_whitespace() > TRUST_POLICY_MAX {
        return Err(CoreError::LimitExceeded(format!(
            "Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_MAX}"
        )));
    }
    guardrail::check_github_trust(&policy)?;
    Ok(policy)
}

fn check_managed_document(document: &str) -> Result<(), CoreError> {
    let policy = parse_policy(document, PolicyKind::Identity)?;
    if policy.size_without_whitespace() > MANAGED_POLICY_MAX {
        return Err(CoreError::LimitExceeded(format!(
            "Cannot exceed quota for PolicySize: {MANAGED_POLICY_MAX}"
        )));
    }
    Ok(())
}

fn check_boundary(state: &State, account: &str, arn: &str) -> Result<(), CoreError> {
    if state
        .policies
        .get(arn)
        .is_some_and(|p| p.policy.account == account || p.policy.account == "aws")
    {
        Ok(())
    } else {
        Err(CoreError::InvalidInput(format!(
            "ARN {arn} is not valid: the permissions boundary must be an existing managed policy."
        )))
    }
}

fn check_max_session(max: i64) -> Result<(), CoreError> {
    if (3600..=43200).contains(&max) {
        Ok(())
    } else {
        let constraint = if max < 3600 {
            "Member must have value greater than or equal to 3600"
        } else {
            "Member must have value less than or equal to 43200"
        };
        Err(CoreError::Validation(keyless_wire::validation_message(&[
            (
                max.to_string(),
                "maxSessionDuration".into(),
                constraint.into(),
            ),
        ])))
    }
}

fn check_thumbprints(thumbprints: &[String]) -> Result<(), CoreError> {
    if thumbprints.len() > 5 {
        return Err(CoreError::InvalidInput(
            "ThumbprintList: at most 5 thumbprints".into(),
        ));
    }
    for t in thumbprints {
        if t.len() != 40 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CoreError::InvalidInput(format!(
                "Thumbprint `{t}` must be 40 hexadecimal characters (a SHA-1 fingerprint)"
            )));
        }
    }
    Ok(())
}

fn non_whitespace_len(s: &str) -> usize {
    s.chars().filter(|c| !c.is_whitespace()).count()
}

fn no_role(name: &str) -> CoreError {
    CoreError::NoSuchEntity(format!("The role with name {name} cannot be found."))
}

/// (roles attaching `arn`, roles using it as boundary) among `roles`.
fn usage_among<'a>(roles: impl Iterator<Item = &'a Arc<RoleEntry>>, arn: &str) -> (usize, usize) {
    roles.fold((0, 0), |(attached, boundary), r| {
        (
            attached + usize::from(r.role.attached.iter().any(|a| a == arn)),
            boundary + usize::from(r.role.permissions_boundary.as_deref() == Some(arn)),
        )
    })
}

fn no_policy_version(arn: &str, id: &str) -> CoreError {
    CoreError::NoSuchEntity(format!(
        "Policy {arn} version {id} does not exist or is not attachable."
    ))
}

fn no_provider(arn: &str) -> CoreError {
    CoreError::NoSuchEntity(format!("OpenIDConnect Provider not found for arn {arn}"))
}

/// Splits `arn:aws:iam::ACCOUNT:role/PATH/NAME` into (account, name).
pub fn parse_role_arn(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let (account, resource) = rest.split_once(':')?;
    let path_name = resource.strip_prefix("role/")?;
    let name = path_name.rsplit('/').next()?;
    if !crate::model::is_account_id(account) || name.is_empty() {
        return None;
    }
    Some((account, name))
}

/// A stable pseudo-id for AWS-managed policies (their ids are fixed in AWS too).
fn stable_suffix(name: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, name.as_bytes());
    digest
        .as_ref()
        .iter()
        .take(17)
        .map(|b| char::from(ALPHABET.get(usize::from(*b) % 32).copied().unwrap_or(b'A')))
        .collect()
}

/// One page of `all` (sorted by `key`, which must be unique and increasing): up to `max_items`
/// (1-1000, default 100) after `marker`, with the marker of the next page when more remain.
pub fn paginate<T>(
    all: Vec<T>,
    key: impl Fn(&T) -> String,
    marker: Option<&str>,
    max_items: Option<i64>,
) -> Result<Page<T>, CoreError> {
    let max = max_items.unwrap_or(100);
    if !(1..=1000).contains(&max) {
        return Err(CoreError::Validation(keyless_wire::validation_message(&[
            (
                max.to_string(),
                "maxItems".into(),
                "Member must have value between 1 and 1000".into(),
            ),
        ])));
    }
    let after = match marker {
        Some(m) => Some(decode_marker(m)?),
        None => None,
    };
    let mut items: Vec<T> = all
        .into_iter()
        .filter(|t| after.as_ref().is_none_or(|a| key(t) > *a))
        .collect();
    let max = usize::try_from(max).unwrap_or(100);
    let marker = if items.len() > max {
        items.truncate(max);
        items.last().map(|t| encode_marker(&key(t)))
    } else {
        None
    };
    Ok(Page { items, marker })
}

fn encode_marker(key: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(key)
}

fn decode_marker(marker: &str) -> Result<String, CoreError> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(marker)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            CoreError::InvalidInput(format!(
                "Invalid Marker `{marker}`: pass the Marker of the previous page unchanged"
            ))
        })
}

/// Above this many changed entities in one batch, [`Iam::apply_changes`] reloads everything in
/// one read instead of one read per entity.
const APPLY_ONE_BY_ONE_MAX: usize = 256;

impl Iam {
    /// Applies changes that any node (this one included) wrote to the store: each changed
    /// provider, role or managed policy is read again from the store and replaced in memory, or
    /// removed when the store no longer has it. Other kinds are ignored. Returns how many
    /// entities were refreshed.
    ///
    /// The store is the source of truth and the feed only names what changed, so applying a
    /// change twice, or a change this node made itself, is harmless. The reads happen under the
    /// writer lock, which this node's own writes hold too, so a local write made at the same
    /// moment is never overwritten by an older copy; but not under the state lock, which is
    /// taken only to swap the fresh copies in: a slow or stalled database holds up this node's
    /// writers and this call, never its readers. An entity that no longer parses (written by a
    /// newer keyless) is logged and left as it was. Fails, changing nothing, when the store
    /// cannot be read; the caller retries from the same position later.
    pub fn apply_changes(&self, changes: &[crate::store::Change]) -> Result<usize, CoreError> {
        let mut keys: Vec<(Kind, &str)> = Vec::new();
        for c in changes {
            if matches!(c.kind, Kind::Provider | Kind::Role | Kind::Policy)
                && !keys.contains(&(c.kind, c.key.as_str()))
            {
                keys.push((c.kind, &c.key));
            }
        }
        if keys.is_empty() {
            return Ok(0);
        }
        if keys.len() > APPLY_ONE_BY_ONE_MAX {
            self.reload()?;
            return Ok(keys.len());
        }
        let _writer = self.writer()?;
        let mut fresh = Vec::with_capacity(keys.len());
        for (kind, key) in &keys {
            fresh.push((*kind, *key, self.store.get(*kind, key)?));
        }
        let mut state = self
            .state
            .write()
            .map_err(|_| CoreError::Internal("state lock poisoned".into()))?;
        for (kind, key, json) in fresh {
            if let Err(e) = apply_one(&mut state, kind, key, json.as_deref()) {
                tracing::error!(kind = kind.as_str(), key, error = %e, "cannot apply a stored change; keeping the previous version");
            }
        }
        Ok(keys.len())
    }

    /// Replaces the whole in-memory state with what the store holds, for a node that fell
    /// behind the change feed. Reads under the writer lock only (see [`Iam::apply_changes`]).
    pub fn reload(&self) -> Result<(), CoreError> {
        let _writer = self.writer()?;
        let fresh = Iam::load(self.store.clone(), self.clock.clone())?;
        let fresh = fresh
            .state
            .into_inner()
            .map_err(|_| CoreError::Internal("state lock poisoned".into()))?;
        *self
            .state
            .write()
            .map_err(|_| CoreError::Internal("state lock poisoned".into()))? = fresh;
        Ok(())
    }
}

/// Replaces (or, for `None`, removes) one entity in `state`.
fn apply_one(
    state: &mut State,
    kind: Kind,
    key: &str,
    json: Option<&str>,
) -> Result<(), CoreError> {
    let corrupt = |e: serde_json::Error| CoreError::Internal(format!("stored {kind:?} {key}: {e}"));
    match (kind, json) {
        (Kind::Provider, None) => {
            state.providers.remove(key);
        }
        (Kind::Provider, Some(json)) => {
            let p: OidcProvider = serde_json::from_str(json).map_err(corrupt)?;
            state.providers.insert(key.to_owned(), Arc::new(p));
        }
        (Kind::Role, None) => {
            state.roles.remove(key);
        }
        (Kind::Role, Some(json)) => {
            let role: Role = serde_json::from_str(json).map_err(corrupt)?;
            state
                .roles
                .insert(key.to_owned(), Arc::new(role_entry(role)?));
        }
        (Kind::Policy, None) => {
            state.policies.remove(key);
        }
        (Kind::Policy, Some(json)) => {
            let policy: ManagedPolicy = serde_json::from_str(json).map_err(corrupt)?;
            let parsed = parse_policy(policy.document(), PolicyKind::Identity)?;
            state
                .policies
                .insert(key.to_owned(), Arc::new(PolicyEntry { policy, parsed }));
        }
        (Kind::IssuerKey | Kind::SealingKey, _) => {}
    }
    Ok(())
}
