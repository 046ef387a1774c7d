//! `keyless audit`: query the audit log of a (stopped or running) server's store.

use std::io::Write;
use std::path::PathBuf;

use anyhow::bail;
use keyless_core::store::AuditFilter;
use keyless_core::{Clock, SystemClock};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Data directory of the server.
    #[arg(long, default_value = ".keyless", env = "KEYLESS_DATA")]
    pub data: PathBuf,
    /// Database URL instead of --data.
    #[arg(long, env = "KEYLESS_DATABASE")]
    pub database: Option<String>,
    /// Only this role session name.
    #[arg(long)]
    pub session: Option<String>,
    /// Only this web identity subject.
    #[arg(long)]
    pub subject: Option<String>,
    /// Only refused calls.
    #[arg(long)]
    pub denied: bool,
    /// Only the last DURATION (`90s`, `15m`, `2h`, `7d`).
    #[arg(long)]
    pub since: Option<String>,
    /// Output format: `json` prints one CloudTrail record per line.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

fn parse_duration(s: &str) -> anyhow::Result<u64> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| anyhow::anyhow!("--since `{s}`: expected a number and a unit, e.g. 15m"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => bail!("--since `{s}`: unit must be s, m, h or d"),
    };
    Ok(n.saturating_mul(mult))
}

pub fn run(args: AuditArgs) -> anyhow::Result<u8> {
    // Reading must not leave an empty database behind where none was.
    match args.database.as_deref().map(super::serve::sqlite_path) {
        None if !args.data.join("keyless.db").exists() => bail!(
            "no keyless database in `{}` (pass --data DIR of a server)",
            args.data.display()
        ),
        Some(Some(path)) if !std::path::Path::new(path).exists() => bail!(
            "no keyless database at `{path}` (--database sqlite:PATH names a server's keyless.db)"
        ),
        _ => {}
    }
    let store = super::serve::open_store(&args.data, args.database.as_deref())?;
    let since = match &args.since {
        Some(s) => Some(SystemClock.now().saturating_sub(parse_duration(s)?)),
        None => None,
    };
    let rows = store.query_audit(&AuditFilter {
        session_name: args.session.clone(),
        subject: args.subject.clone(),
        denied_only: args.denied,
        since,
        limit: None,
    })?;
    let mut out = std::io::stdout().lock();
    for row in rows {
        match args.format {
            Format::Json => writeln!(out, "{}", row.record)?,
            Format::Text => {
                let v: serde_json::Value = serde_json::from_str(&row.record).unwrap_or_default();
                let s = |p: &str| {
                    v.pointer(p)
                        .and_then(|x| x.as_str())
                        .unwrap_or("-")
                        .to_owned()
                };
                let outcome = match v.get("errorCode").and_then(|c| c.as_str()) {
                    Some(code) => format!("DENIED {code}"),
                    None => "ok".into(),
                };
                writeln!(
                    out,
                    "{} {} {} session={} subject={} caller={}{}",
                    s("/eventTime"),
                    s("/eventName"),
                    outcome,
                    row.session_name.as_deref().unwrap_or("-"),
                    row.subject.as_deref().unwrap_or("-"),
                    v.pointer("/userIdentity/arn")
                        .or(v.pointer("/userIdentity/userName"))
                        .and_then(|x| x.as_str())
                        .unwrap_or("-"),
                    v.pointer("/additionalEventData/denialReason")
                        .and_then(|x| x.as_str())
                        .map(|r| format!("\n    reason: {r}"))
                        .unwrap_or_default(),
                )?;
            }
        }
    }
    Ok(0)
}
