//! `keyless lint`: find the holes in OIDC trust policies.
//!
//! Key design decision: wildcard and scoping rules are not regexes over the policy text. For
//! every statement the linter reads the caller the author meant (its tightest `sub` and pinned
//! claims), synthesises tokens that differ in one respect (another owner, another repository, a
//! name-prefix sibling, another branch, a tag, a pull request, another environment, a wrong
//! audience, optional claims missing), evaluates the *whole* policy against each of them with
//! IAM semantics, and reports the exact subject that got in. Static rules cover what evaluation
//! cannot see (unknown keys, operators that pass on missing keys, the GitHub write-time
//! guardrail, case, attached admin policies).
//!
//! Inputs: IAM JSON (a policy, `aws iam get-role`/`list-roles` output), CloudFormation (JSON
//! and YAML with short tags), Terraform source and plan JSON; directories are walked.
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]
#![warn(missing_docs)]

pub mod error;
pub mod eval;
pub mod finding;
pub mod load;
pub mod model;
pub mod probe;
pub mod provider;
pub mod report;
pub mod rules;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

pub use error::LintError;
pub use finding::{Finding, Location, RULES, Rule, Severity};
pub use rules::RoleMeta;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human diagnostics with source snippets.
    Text,
    /// A JSON array of findings.
    Json,
    /// SARIF 2.1.0 (GitHub code scanning).
    Sarif,
}

/// Arguments of `keyless lint`.
#[derive(Debug, Clone, clap::Args)]
pub struct LintArgs {
    /// Files or directories to lint (IAM JSON, get-role output, CloudFormation, Terraform, plan JSON).
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Exit with status 1 when a finding at or above this severity exists.
    #[arg(long, value_enum, default_value = "medium")]
    pub fail_on: Severity,
    /// Only show findings at or above this severity (default: all).
    #[arg(long, value_enum, default_value = "info")]
    pub min_severity: Severity,
}

fn finish(name: &str, text: &str, unit: &load::Unit) -> Vec<Finding> {
    let policy = model::Policy::from_value(&unit.doc);
    rules::analyse(&policy, &unit.doc, &unit.meta)
        .into_iter()
        .map(|r| {
            let off = unit.locator.offset(text, &r.json_path, r.needle.as_deref());
            let (line, column) = load::position(text, off);
            Finding {
                rule: r.rule,
                severity: r.severity,
                message: r.message,
                location: Location {
                    file: name.to_string(),
                    line,
                    column,
                    json_path: r.json_path,
                },
                fix: r.fix,
                resource: unit.resource.clone(),
                admitted_subject: r.admitted_subject,
            }
        })
        .collect()
}

fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        (&a.location.file, a.location.line, a.location.column, a.rule).cmp(&(
            &b.location.file,
            b.location.line,
            b.location.column,
            b.rule,
        ))
    });
}

/// Lints one document; `name` picks the format by extension (`.tf`, `.yaml`/`.yml`, else JSON).
pub fn lint_document(name: &str, text: &str) -> Result<Vec<Finding>, LintError> {
    let units = load::load(name, text)?;
    let mut out: Vec<Finding> = units.iter().flat_map(|u| finish(name, text, u)).collect();
    sort(&mut out);
    Ok(out)
}

/// Lints a role read from an IAM endpoint: its trust policy (JSON, URL-encoded or not), the
/// ARNs of its attached managed policies and its `MaxSessionDuration`.
pub fn lint_role(
    role_name: &str,
    trust_json: &str,
    attached_policy_arns: &[String],
    max_session_duration: Option<u64>,
) -> Result<Vec<Finding>, LintError> {
    let name = format!("iam:role/{role_name}");
    let doc = load::policy_value(&serde_json::Value::String(trust_json.to_string())).ok_or_else(
        || LintError::Syntax {
            file: name.clone(),
            format: "JSON",
            line: 1,
            column: 1,
            message: "the trust policy is not a JSON object".into(),
        },
    )?;
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    let unit = load::Unit {
        resource: Some(role_name.to_string()),
        doc,
        locator: load::Locator::Json {
            index: std::sync::Arc::new(load::jsonpos::index(&text)),
            prefix: "$".into(),
            base: 0,
        },
        meta: RoleMeta {
            name: Some(role_name.to_string()),
            attached_policy_arns: attached_policy_arns.to_vec(),
            inline_admin: false,
            max_session_duration,
        },
    };
    let mut out = finish(&name, &text, &unit);
    sort(&mut out);
    Ok(out)
}

/// Expands directories (sorted, skipping hidden and vendored folders) into candidate files.
pub fn collect_files(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<LintError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    fn walk(dir: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<LintError>) {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(source) => {
                errors.push(LintError::Io {
                    path: dir.to_path_buf(),
                    source,
                });
                return;
            }
        };
        let mut list: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        list.sort();
        for p in list {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('.') || matches!(name, "node_modules" | "target" | ".terraform") {
                continue;
            }
            if p.is_dir() {
                walk(&p, files, errors);
            } else if load::is_candidate(name) {
                files.push(p);
            }
        }
    }
    for p in paths {
        if p.is_dir() {
            walk(p, &mut files, &mut errors);
        } else {
            files.push(p.clone());
        }
    }
    (files, errors)
}

/// Result of linting a set of paths.
#[derive(Debug, Default)]
pub struct Outcome {
    /// All findings, sorted by file and position.
    pub findings: Vec<Finding>,
    /// Source texts by display name (for snippets).
    pub sources: HashMap<String, String>,
    /// Inputs that could not be read or parsed.
    pub errors: Vec<LintError>,
}

/// Lints files and directories. Files found by walking a directory that hold no trust policy
/// are skipped silently; a file named explicitly that holds none is an error.
pub fn lint_paths(paths: &[PathBuf]) -> Outcome {
    let (files, mut errors) = collect_files(paths);
    let explicit: Vec<&PathBuf> = paths.iter().filter(|p| !p.is_dir()).collect();
    // Files are independent: lint them on every core, in contiguous chunks, then merge in order.
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 16);
    let chunk = files.len().div_ceil(workers).max(1);
    let lint_chunk = |part: &[PathBuf]| {
        let mut o = Outcome::default();
        for f in part {
            let name = f.display().to_string();
            let text = match std::fs::read_to_string(f) {
                Ok(t) => t,
                Err(source) => {
                    o.errors.push(LintError::Io {
                        path: f.clone(),
                        source,
                    });
                    continue;
                }
            };
            let explicitly_named = explicit.contains(&f);
            if !explicitly_named && !load::may_hold_policy(&text) {
                // Walked files that cannot hold a trust policy (workflows, manifests, configs)
                // are skipped before parsing, so their syntax never fails the run.
                continue;
            }
            match lint_document(&name, &text) {
                Ok(found) => {
                    if !found.is_empty() {
                        o.sources.insert(name, text);
                    }
                    o.findings.extend(found);
                }
                Err(LintError::NoPolicy { .. }) if !explicitly_named => {}
                Err(e) => o.errors.push(e),
            }
        }
        o
    };
    let parts: Vec<Outcome> = if files.len() < 64 || workers == 1 {
        vec![lint_chunk(&files)]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = files
                .chunks(chunk)
                .map(|part| scope.spawn(move || lint_chunk(part)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        })
    };
    let mut outcome = Outcome::default();
    for p in parts {
        outcome.findings.extend(p.findings);
        outcome.sources.extend(p.sources);
        errors.extend(p.errors);
    }
    sort(&mut outcome.findings);
    outcome.errors = errors;
    outcome
}

/// Runs `keyless lint`: writes the report to `out` (errors go to stderr in JSON/SARIF mode) and
/// returns the exit status: 0 clean, 1 findings at or above `--fail-on`, 2 unreadable input.
pub fn run(args: &LintArgs, out: &mut dyn Write) -> i32 {
    if args.paths.is_empty() {
        eprintln!("error: give the files or directories to lint");
        return 2;
    }
    report(args, lint_paths(&args.paths), out)
}

/// Writes the report of an [`Outcome`] (from files or from a live IAM endpoint) and returns the
/// exit status, as [`run`] does.
pub fn report(args: &LintArgs, mut outcome: Outcome, out: &mut dyn Write) -> i32 {
    outcome.findings.retain(|f| f.severity >= args.min_severity);
    let errors: Vec<String> = outcome.errors.iter().map(ToString::to_string).collect();
    let written = match args.format {
        Format::Text => {
            let mut r = report::text(out, &outcome.findings, &outcome.sources);
            for e in &errors {
                r = r.and_then(|()| writeln!(out, "error: {e}"));
            }
            r
        }
        Format::Json => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            report::json(out, &outcome.findings)
        }
        Format::Sarif => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            report::sarif(out, &outcome.findings, &errors)
        }
    };
    if let Err(e) = written
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("error: cannot write the report: {e}");
        return 2;
    }
    if !errors.is_empty() {
        2
    } else if outcome.findings.iter().any(|f| f.severity >= args.fail_on) {
        1
    } else {
        0
    }
}
