//! The AWS entry point: awsQuery decoding, SigV4 authentication, dispatch to STS or IAM, AWS
//! error documents and one audit record per call.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use keyless_core::CoreError;
use keyless_core::audit::{self, AuditNote};
use keyless_core::principal::Caller;
use keyless_core::sts::RequestInfo;
use keyless_wire::{AwsError, HttpRequestParts, Namespace, QueryRequest, WireError, XmlWriter};

use super::AppState;

/// How much of an oversize body is read and thrown away before answering, so the client sees
/// the AWS error document instead of a reset connection (a lingering close).
const DRAIN_MAX: usize = 64 << 20;

enum BodyError {
    TooLarge,
    Broken,
}

/// Reads at most `limit` bytes; beyond it, drains (up to [`DRAIN_MAX`]) and reports `TooLarge`.
async fn read_body(mut body: Body, limit: usize) -> Result<axum::body::Bytes, BodyError> {
    use http_body_util::BodyExt;
    let mut buf: Vec<u8> = Vec::new();
    let mut too_large = false;
    let mut drained = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|_| BodyError::Broken)?.into_data() else {
            continue;
        };
        if too_large {
            drained += data.len();
            if drained > DRAIN_MAX {
                break;
            }
        } else if buf.len() + data.len() > limit {
            too_large = true;
            buf = Vec::new();
        } else {
            buf.extend_from_slice(&data);
        }
    }
    if too_large {
        Err(BodyError::TooLarge)
    } else {
        Ok(buf.into())
    }
}

/// How long a client may take to send its request body.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A failure of one call, from either layer; rendered once, here.
pub(crate) enum ApiError {
    Wire(WireError),
    Core(CoreError),
    Aws(AwsError),
}

impl From<WireError> for ApiError {
    fn from(e: WireError) -> Self {
        Self::Wire(e)
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        Self::Core(e)
    }
}

impl ApiError {
    fn to_aws(&self) -> AwsError {
        match self {
            ApiError::Wire(e) => e.to_aws(),
            ApiError::Core(e) => {
                if let CoreError::Internal(detail) | CoreError::Unavailable(detail) = e {
                    tracing::error!(%detail, code = e.code(), "internal failure");
                }
                AwsError::new(e.code(), e.public_message(), e.status())
            }
            ApiError::Aws(e) => e.clone(),
        }
    }
}

/// The service an action belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    Sts,
    Iam,
}

impl Service {
    /// The service serving `action`, and the action's name as served (for metric labels).
    fn of(action: &str) -> Option<(Service, &'static str)> {
        if let Some(name) = super::sts::ACTIONS.iter().find(|a| **a == action) {
            Some((Service::Sts, name))
        } else {
            super::iam::ACTIONS
                .iter()
                .find(|a| **a == action)
                .map(|name| (Service::Iam, *name))
        }
    }

    fn label(self) -> &'static str {
        match self {
            Service::Sts => "sts",
            Service::Iam => "iam",
        }
    }

    fn namespace(self) -> Namespace {
        match self {
            Service::Sts => Namespace::Sts,
            Service::Iam => Namespace::Iam,
        }
    }
}

/// One call in progress.
pub(crate) struct Call<'a> {
    pub state: &'a AppState,
    pub q: &'a QueryRequest,
    pub caller: Option<Caller>,
    pub note: AuditNote,
    pub info: RequestInfo,
}

impl Call<'_> {
    /// The authenticated caller; only unsigned actions run without one.
    pub fn caller(&self) -> Result<&Caller, ApiError> {
        self.caller
            .as_ref()
            .ok_or_else(|| ApiError::Aws(AwsError::missing_authentication_token()))
    }

    /// The caller's account.
    pub fn account(&self) -> Result<String, ApiError> {
        Ok(self.caller()?.account().to_owned())
    }
}

fn xml_response(status: u16, request_id: &str, body: String) -> Response {
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        body,
    )
        .into_response();
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("text/xml"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

/// The AWS error code of a failed call, carried on the response for the metrics.
#[derive(Clone)]
struct ErrorCode(String);

fn error_response(err: &AwsError, ns: Namespace, request_id: &str) -> Response {
    let mut resp = xml_response(err.status, request_id, err.to_xml(ns, request_id));
    resp.extensions_mut().insert(ErrorCode(err.code.clone()));
    resp
}

/// What the metrics learn of a call while it is served.
struct Seen {
    service: &'static str,
    action: &'static str,
}

/// `POST /` and `GET /?Action=…`.
pub(crate) async fn handle(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = std::time::Instant::now();
    let mut seen = Seen {
        service: "unknown",
        action: "unknown",
    };
    let resp = serve_call(&state, peer, method, uri, headers, body, &mut seen).await;
    let outcome = match resp.extensions().get::<ErrorCode>() {
        Some(code) => std::borrow::Cow::Owned(code.0.clone()),
        None => std::borrow::Cow::Borrowed("ok"),
    };
    state.metrics.request(
        seen.service,
        seen.action,
        outcome,
        started.elapsed().as_secs_f64(),
    );
    resp
}

async fn serve_call(
    state: &AppState,
    peer: SocketAddr,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
    seen: &mut Seen,
) -> Response {
    let request_id = keyless_wire::request_id();
    let read = tokio::time::timeout(BODY_TIMEOUT, read_body(body, keyless_wire::MAX_BODY_BYTES));
    let bytes = match read.await {
        Ok(Ok(b)) => b,
        Err(_) => {
            let err = AwsError::new(
                "RequestTimeout",
                "Your socket connection to the server was not read from or written to within the timeout period.",
                400,
            );
            return error_response(&err, Namespace::Sts, &request_id);
        }
        Ok(Err(BodyError::Broken)) => {
            let err = AwsError::new(
                "IncompleteBody",
                "The request body ended before its declared length",
                400,
            );
            return error_response(&err, Namespace::Sts, &request_id);
        }
        Ok(Err(BodyError::TooLarge)) => {
            let err = AwsError::new(
                "RequestEntityTooLarge",
                format!(
                    "Request body is larger than the {} bytes keyless accepts",
                    keyless_wire::MAX_BODY_BYTES
                ),
                413,
            );
            return error_response(&err, Namespace::Sts, &request_id);
        }
    };
    // Counted from here (not while a slow client is still sending) so a busy audit writer knows
    // this call's record is on its way.
    let call_audit = state.audit.begin();
    let q = match keyless_wire::decode_query(&bytes, uri.query()) {
        Ok(q) => q,
        Err(e) => return error_response(&e.to_aws(), Namespace::Sts, &request_id),
    };
    let Some(action) = q.action().map(str::to_owned) else {
        let err = AwsError::new("MissingAction", "Missing Action", 400);
        return error_response(&err, Namespace::Sts, &request_id);
    };
    let Some((service, action_name)) = Service::of(&action) else {
        return error_response(
            &AwsError::invalid_action(&action),
            Namespace::Sts,
            &request_id,
        );
    };
    seen.service = service.label();
    seen.action = action_name;
    let ns = service.namespace();
    if let Some(v) = q.version()
        && v != ns.version()
    {
        return error_response(
            &AwsError::invalid_action_for_version(&action, v),
            ns,
            &request_id,
        );
    }

    let user_agent = headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let now = state.clock.now();
    let mut note = AuditNote {
        event_source: match service {
            Service::Sts => "sts.amazonaws.com",
            Service::Iam => "iam.amazonaws.com",
        },
        event_name: action.clone(),
        region: "us-east-1".into(),
        source_ip: peer.ip().to_string(),
        user_agent: user_agent.clone(),
        request_id: request_id.clone(),
        time: now,
        account: state.sts.config().default_account.clone(),
        read_only: action.starts_with("Get")
            || action.starts_with("List")
            || action.starts_with("Simulate"),
        ..Default::default()
    };

    let unsigned_ok = action == "AssumeRoleWithWebIdentity" || action == "AssumeRoleWithSAML";
    let caller = if unsigned_ok {
        None
    } else {
        // `HeaderName`s are lower-case already, as SigV4 wants them.
        let header_list: Vec<(String, String)> = headers
            .iter()
            .filter_map(|(k, v)| {
                v.to_str()
                    .ok()
                    .map(|v| (k.as_str().to_owned(), v.to_owned()))
            })
            .collect();
        let parts = HttpRequestParts {
            method: method.as_str(),
            path: uri.path(),
            query: uri.query().unwrap_or_default(),
            headers: &header_list,
            body: &bytes,
        };
        match authenticate(state, &parts, now, service.label()) {
            Ok((caller, region, key)) => {
                note.region = region;
                note.account = caller.account().to_owned();
                note.user_identity = Some(keyless_core::sts::user_identity(&caller, &key));
                Some(caller)
            }
            Err(e) => {
                let aws = e.to_aws();
                return finish(state, call_audit, note, ns, &request_id, Err(aws)).await;
            }
        }
    };
    let info = RequestInfo {
        source_ip: peer.ip().to_string(),
        user_agent,
        region: note.region.clone(),
        secure_transport: false,
    };
    let mut call = Call {
        state,
        q: &q,
        caller,
        note,
        info,
    };
    let result = match service {
        Service::Sts => super::sts::dispatch(&mut call, &action).await,
        Service::Iam => super::iam::dispatch(&mut call, &action),
    };
    if let Err(ApiError::Core(CoreError::Unavailable(_))) = &result {
        state.metrics.db_error(match service {
            Service::Sts => "sts",
            Service::Iam => "iam_write",
        });
    }
    let note = std::mem::take(&mut call.note);
    let outcome = result
        .map(|w| keyless_wire::success_response(&action, ns, &request_id, w))
        .map_err(|e| e.to_aws());
    finish(state, call_audit, note, ns, &request_id, outcome).await
}

async fn finish(
    state: &AppState,
    call_audit: super::audit_writer::Computing,
    note: AuditNote,
    ns: Namespace,
    request_id: &str,
    outcome: Result<String, AwsError>,
) -> Response {
    let row = match &outcome {
        Ok(_) => audit::record(&note, None),
        Err(e) => audit::record(&note, Some((&e.code, &e.message))),
    };
    // A successful call is acknowledged only once its audit record is committed.
    let committed = state.audit.append(row, call_audit).await;
    match outcome {
        Ok(body) => match committed {
            Ok(()) => xml_response(200, request_id, body),
            Err(e) => {
                state.metrics.db_error("audit");
                tracing::error!(error = %e, "audit record not committed; refusing the call");
                error_response(
                    &AwsError::new(
                        "ServiceUnavailable",
                        "Service is unavailable; try again later",
                        503,
                    ),
                    ns,
                    request_id,
                )
            }
        },
        Err(e) => error_response(&e, ns, request_id),
    }
}

/// Verifies SigV4 and resolves the caller; returns (caller, signed region, access key id).
/// `service` is the signing name of the action's service: like AWS's endpoints, a credential
/// scoped to another service is refused even though one port serves both.
fn authenticate(
    state: &AppState,
    parts: &HttpRequestParts<'_>,
    now: u64,
    service: &str,
) -> Result<(Caller, String, String), ApiError> {
    let auth = keyless_wire::parse_sigv4(parts)?
        .ok_or_else(|| ApiError::Aws(AwsError::missing_authentication_token()))?;
    auth.check_service(service)?;
    let (caller, secret) = state
        .sts
        .authenticate(&auth.access_key_id, auth.security_token.as_deref())?;
    keyless_wire::verify_sigv4(parts, &auth, &secret, now, &state.sigv4_keys)?;
    Ok((caller, auth.region.clone(), auth.access_key_id.clone()))
}

/// Helpers shared by the STS and IAM handlers.
pub(crate) fn opt_string(q: &QueryRequest, name: &str) -> Option<String> {
    q.get(name).map(str::to_owned)
}

pub(crate) fn required(q: &QueryRequest, name: &str) -> Result<String, ApiError> {
    Ok(q.required(name)?.to_owned())
}

/// Writes `<Tags><member><Key/><Value/></member>…</Tags>`.
pub(crate) fn write_tags(w: &mut XmlWriter, name: &str, tags: &[(String, String)]) {
    w.open(name);
    for (k, v) in tags {
        w.open("member");
        w.elem("Key", k);
        w.elem("Value", v);
        w.close("member");
    }
    w.close(name);
}
