//! Getting the ID token: from the GitHub Actions runner endpoint, or from a file (GitLab,
//! Kubernetes, any CI that writes one).

use std::path::{Path, PathBuf};
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::retry::{self, RetryPolicy, Transience};
use super::secret::Secret;

/// Where the token comes from.
#[derive(Debug)]
pub enum TokenSource {
    /// The runner endpoint (`ACTIONS_ID_TOKEN_REQUEST_URL` / `…_TOKEN`).
    Runner {
        /// The request URL, which already carries a query string on GitHub.
        url: String,
        /// The bearer (the job's runtime token).
        bearer: Secret,
    },
    /// A file holding the token (`--token-file` / `AWS_WEB_IDENTITY_TOKEN_FILE`).
    File(PathBuf),
}

/// Why no token could be had.
#[derive(Debug)]
pub enum TokenError {
    /// No source configured: the job most likely lacks `permissions: id-token: write`.
    NoSource {
        /// Which of the two runner variables is missing (both when neither is set).
        missing: Vec<&'static str>,
    },
    /// The token file cannot be read or is empty.
    File {
        /// The path.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The runner endpoint said no (4xx): a wrong or expired request token.
    Refused {
        /// HTTP status.
        status: u16,
        /// The response body, shortened.
        body: String,
    },
    /// 5xx or a network failure, after retries.
    Unavailable(String),
    /// A 200 without a `value`.
    Malformed(String),
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenError::NoSource { missing } => write!(
                f,
                "no ID token: {} not set, so the job lacks `permissions: id-token: write`\n  help: add `permissions: {{ id-token: write, contents: read }}` to the job (or the workflow), or pass `--token-file PATH` / set AWS_WEB_IDENTITY_TOKEN_FILE outside GitHub Actions",
                missing.join(" and ")
            ),
            TokenError::File { path, reason } => {
                write!(
                    f,
                    "cannot read the token file `{}`: {reason}",
                    path.display()
                )
            }
            TokenError::Refused { status, body } => write!(
                f,
                "the runner token endpoint refused the request (HTTP {status}): {body}\n  help: ACTIONS_ID_TOKEN_REQUEST_TOKEN is wrong or expired; it is only valid inside the job that received it"
            ),
            TokenError::Unavailable(m) => {
                write!(f, "cannot get an ID token from the runner endpoint: {m}")
            }
            TokenError::Malformed(m) => write!(
                f,
                "the runner token endpoint answered without an ID token: {m}"
            ),
        }
    }
}

impl std::error::Error for TokenError {}

/// Picks the source: an explicit file first, then the runner variables, then
/// `AWS_WEB_IDENTITY_TOKEN_FILE`.
pub fn source(
    token_file: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<TokenSource, TokenError> {
    if let Some(p) = token_file {
        return Ok(TokenSource::File(p.to_path_buf()));
    }
    let get = |k: &str| env(k).filter(|v| !v.is_empty());
    let url = get("ACTIONS_ID_TOKEN_REQUEST_URL");
    let bearer = get("ACTIONS_ID_TOKEN_REQUEST_TOKEN");
    match (url, bearer) {
        (Some(url), Some(bearer)) => Ok(TokenSource::Runner {
            url,
            bearer: Secret::new(bearer),
        }),
        (url, bearer) => {
            if let Some(f) = get("AWS_WEB_IDENTITY_TOKEN_FILE") {
                return Ok(TokenSource::File(PathBuf::from(f)));
            }
            let mut missing = Vec::new();
            if url.is_none() {
                missing.push("ACTIONS_ID_TOKEN_REQUEST_URL");
            }
            if bearer.is_none() {
                missing.push("ACTIONS_ID_TOKEN_REQUEST_TOKEN");
            }
            Err(TokenError::NoSource { missing })
        }
    }
}

/// `encodeURIComponent`'s set: everything but `A–Z a–z 0–9 - _ . ! ~ * ' ( )`.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// The request URL for `audience`, built as `@actions/core` builds it: `&audience=` appended
/// (`?` when the URL has no query yet).
pub fn request_url(base: &str, audience: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!(
        "{base}{sep}audience={}",
        utf8_percent_encode(audience, URI_COMPONENT)
    )
}

/// Reads the token from its source, retrying the runner endpoint on 5xx and network errors.
pub async fn fetch(
    source: &TokenSource,
    audience: &str,
    policy: &RetryPolicy,
) -> Result<Secret, TokenError> {
    match source {
        TokenSource::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| TokenError::File {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            let token = text.trim();
            if token.is_empty() {
                return Err(TokenError::File {
                    path: path.clone(),
                    reason: "the file is empty".into(),
                });
            }
            Ok(Secret::new(token))
        }
        TokenSource::Runner { url, bearer } => {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .map_err(|e| TokenError::Unavailable(e.to_string()))?;
            let full = request_url(url, audience);
            let (result, _) = retry::run(
                policy,
                "getIDToken",
                || runner_once(&client, &full, bearer),
                |e| match e {
                    TokenError::Unavailable(_) => Transience::Transient,
                    _ => Transience::Permanent,
                },
                |e| e.to_string(),
            )
            .await;
            result
        }
    }
}

async fn runner_once(
    client: &reqwest::Client,
    url: &str,
    bearer: &Secret,
) -> Result<Secret, TokenError> {
    let resp = client
        .get(url)
        .bearer_auth(bearer.expose())
        .header("Accept", "application/json")
        .header("User-Agent", "actions/oidc-client keyless")
        .send()
        .await
        .map_err(|e| TokenError::Unavailable(describe_reqwest(&e)))?;
    let status = resp.status().as_u16();
    let body = resp
        .text()
        .await
        .map_err(|e| TokenError::Unavailable(describe_reqwest(&e)))?;
    if status >= 500 {
        return Err(TokenError::Unavailable(format!("HTTP {status}")));
    }
    if status >= 300 {
        return Err(TokenError::Refused {
            status,
            body: shorten(&body),
        });
    }
    let value: serde_json::Value = serde_json::from_str(&body)
        .map_err(|e| TokenError::Malformed(format!("the body is not JSON: {e}")))?;
    match value.get("value").and_then(|v| v.as_str()) {
        Some(t) if !t.is_empty() => Ok(Secret::new(t)),
        _ => Err(TokenError::Malformed("no `value` field".into())),
    }
}

fn describe_reqwest(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

fn shorten(s: &str) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 200 {
        let mut out: String = one_line.chars().take(200).collect();
        out.push('…');
        out
    } else {
        one_line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audience_is_appended_like_the_toolkit() {
        assert_eq!(
            request_url("http://h/idtoken?api-version=2.0", "sts.amazonaws.com"),
            "http://h/idtoken?api-version=2.0&audience=sts.amazonaws.com"
        );
        assert_eq!(
            request_url("http://h/t", "https://github.com/acme"),
            "http://h/t?audience=https%3A%2F%2Fgithub.com%2Facme"
        );
    }

    #[test]
    fn missing_runner_variables_name_the_permission() {
        let none = |_: &str| None;
        let err = source(None, &none).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("permissions: id-token: write"), "{msg}");
        assert!(msg.contains("ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN"));
    }

    #[test]
    fn token_file_variable_is_the_fallback_and_flag_wins() {
        let env = |k: &str| (k == "AWS_WEB_IDENTITY_TOKEN_FILE").then(|| "/var/run/t".to_owned());
        assert!(
            matches!(source(None, &env), Ok(TokenSource::File(p)) if p == Path::new("/var/run/t"))
        );
        assert!(
            matches!(source(Some(Path::new("x")), &env), Ok(TokenSource::File(p)) if p == Path::new("x"))
        );
    }

    #[test]
    fn runner_variables_win_over_token_file_variable() {
        let env = |k: &str| match k {
            "ACTIONS_ID_TOKEN_REQUEST_URL" => Some("http://h/t?x=1".to_owned()),
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN" => Some("b".to_owned()),
            "AWS_WEB_IDENTITY_TOKEN_FILE" => Some("/f".to_owned()),
            _ => None,
        };
        assert!(matches!(source(None, &env), Ok(TokenSource::Runner { .. })));
    }

    #[tokio::test]
    async fn empty_token_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t");
        std::fs::write(&p, "  \n").unwrap();
        let err = fetch(&TokenSource::File(p), "a", &RetryPolicy::default())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("empty"));
    }
}
