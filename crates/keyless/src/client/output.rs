//! Rendering credentials: shell `export` lines, JSON, the AWS CLI's `credential_process` document,
//! or GitHub Actions' `$GITHUB_ENV` / `$GITHUB_OUTPUT` files with `::add-mask::` commands.
//!
//! These are the only places secrets are written, and all of them go to stdout or to the files the
//! runner reads — never to stderr.

use super::sts::Issued;

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `export NAME='value'` lines for `eval`.
    Env,
    /// One JSON object with the credentials and the assumed identity.
    Json,
    /// The AWS CLI `credential_process` document (`Version: 1`).
    CredentialProcess,
    /// Append to `$GITHUB_ENV` and `$GITHUB_OUTPUT`; print `::add-mask::` lines.
    Github,
}

/// What to write where.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rendered {
    /// Text for stdout.
    pub stdout: String,
    /// Lines to append to `$GITHUB_ENV`.
    pub github_env: Option<String>,
    /// Lines to append to `$GITHUB_OUTPUT`.
    pub github_output: Option<String>,
}

/// Options that only some formats use.
#[derive(Debug, Clone, Copy, Default)]
pub struct RenderOptions {
    /// Also mask the account id and the assumed-role ARN (`--mask-account-id`).
    pub mask_account_id: bool,
}

/// Quotes a value for POSIX shells: single quotes, with `'` written as `'\''`.
pub fn shell_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', r"'\''"))
}

fn env_pairs<'a>(c: &'a Issued, region: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
        ("AWS_ACCESS_KEY_ID", c.access_key_id.as_str()),
        ("AWS_SECRET_ACCESS_KEY", c.secret_access_key.expose()),
        ("AWS_SESSION_TOKEN", c.session_token.expose()),
        ("AWS_CREDENTIAL_EXPIRATION", c.expiration.as_str()),
        ("AWS_REGION", region),
        ("AWS_DEFAULT_REGION", region),
    ]
}

/// Renders `c` in `format`. Fails only when a value cannot be written safely (a newline would let
/// a value inject further lines into `$GITHUB_ENV`).
pub fn render(
    format: Format,
    c: &Issued,
    region: &str,
    opts: RenderOptions,
) -> Result<Rendered, String> {
    match format {
        Format::Env => {
            let mut out = String::new();
            for (k, v) in env_pairs(c, region) {
                out.push_str(&format!("export {k}={}\n", shell_quote(v)));
            }
            Ok(Rendered {
                stdout: out,
                ..Rendered::default()
            })
        }
        Format::Json => {
            let v = serde_json::json!({
                "AccessKeyId": c.access_key_id,
                "SecretAccessKey": c.secret_access_key.expose(),
                "SessionToken": c.session_token.expose(),
                "Expiration": c.expiration,
                "Region": region,
                "AssumedRoleArn": c.assumed_role_arn,
                "AssumedRoleId": c.assumed_role_id,
                "AccountId": c.account_id(),
                "SubjectFromWebIdentityToken": c.subject,
            });
            Ok(Rendered {
                stdout: format!(
                    "{}\n",
                    serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?
                ),
                ..Rendered::default()
            })
        }
        Format::CredentialProcess => {
            let v = serde_json::json!({
                "Version": 1,
                "AccessKeyId": c.access_key_id,
                "SecretAccessKey": c.secret_access_key.expose(),
                "SessionToken": c.session_token.expose(),
                "Expiration": c.expiration,
            });
            Ok(Rendered {
                stdout: format!(
                    "{}\n",
                    serde_json::to_string(&v).map_err(|e| e.to_string())?
                ),
                ..Rendered::default()
            })
        }
        Format::Github => {
            let mut stdout = String::new();
            let mut masks = vec![
                c.access_key_id.as_str(),
                c.secret_access_key.expose(),
                c.session_token.expose(),
            ];
            let account = c.account_id().unwrap_or("");
            if opts.mask_account_id {
                masks.push(account);
                masks.push(c.assumed_role_arn.as_str());
            }
            for m in masks.into_iter().filter(|m| !m.is_empty()) {
                stdout.push_str(&format!("::add-mask::{m}\n"));
            }
            let mut env = String::new();
            for (k, v) in env_pairs(c, region) {
                env.push_str(&file_line(k, v)?);
            }
            let mut out = String::new();
            out.push_str(&file_line("aws-account-id", account)?);
            out.push_str(&file_line("authenticated-arn", &c.assumed_role_arn)?);
            Ok(Rendered {
                stdout,
                github_env: Some(env),
                github_output: Some(out),
            })
        }
    }
}

fn file_line(k: &str, v: &str) -> Result<String, String> {
    if v.contains('\n') || v.contains('\r') {
        return Err(format!(
            "the value of `{k}` contains a line break; refusing to write it to a GitHub Actions file"
        ));
    }
    Ok(format!("{k}={v}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::secret::Secret;

    fn creds() -> Issued {
        Issued {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: Secret::new("se'cret"),
            session_token: Secret::new("tok"),
            expiration: "2026-12-03T08:00:00Z".into(),
            assumed_role_arn: "arn:aws:sts::123456789012:assumed-role/deploy/GitHubActions".into(),
            assumed_role_id: "AROAX:GitHubActions".into(),
            subject: Some("repo:acme/app:ref:refs/heads/main".into()),
        }
    }

    #[test]
    fn env_lines_are_shell_quoted() {
        let r = render(Format::Env, &creds(), "us-east-1", RenderOptions::default()).unwrap();
        assert!(
            r.stdout
                .contains("export AWS_SECRET_ACCESS_KEY='se'\\''cret'\n"),
            "{}",
            r.stdout
        );
        assert!(r.stdout.contains("export AWS_REGION='us-east-1'\n"));
        assert!(r.github_env.is_none());
    }

    #[test]
    fn credential_process_has_version_1() {
        let r = render(
            Format::CredentialProcess,
            &creds(),
            "us-east-1",
            RenderOptions::default(),
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(v["Version"], 1);
        assert_eq!(v["AccessKeyId"], "ASIAEXAMPLE");
        assert_eq!(v["SessionToken"], "tok");
        assert_eq!(v["Expiration"], "2026-12-03T08:00:00Z");
    }

    #[test]
    fn github_masks_secrets_and_writes_files() {
        let r = render(
            Format::Github,
            &creds(),
            "eu-west-1",
            RenderOptions::default(),
        )
        .unwrap();
        assert!(r.stdout.contains("::add-mask::se'cret\n"));
        assert!(r.stdout.contains("::add-mask::tok\n"));
        assert!(!r.stdout.contains("::add-mask::123456789012"));
        let env = r.github_env.unwrap();
        assert!(env.contains("AWS_SESSION_TOKEN=tok\n"));
        assert!(env.contains("AWS_DEFAULT_REGION=eu-west-1\n"));
        assert!(
            r.github_output
                .unwrap()
                .contains("aws-account-id=123456789012\n")
        );
        let masked = render(
            Format::Github,
            &creds(),
            "eu-west-1",
            RenderOptions {
                mask_account_id: true,
            },
        )
        .unwrap();
        assert!(masked.stdout.contains("::add-mask::123456789012\n"));
    }

    #[test]
    fn github_refuses_line_breaks() {
        let mut c = creds();
        c.session_token = Secret::new("a\nAWS_ACCESS_KEY_ID=evil");
        assert!(render(Format::Github, &c, "r", RenderOptions::default()).is_err());
    }
}
