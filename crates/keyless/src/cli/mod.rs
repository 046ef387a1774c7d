//! The command line: one file per subcommand.

mod assume;
mod audit;
mod explain;
mod explain_trust;
mod github;
mod lint;
mod serve;
mod setup;

use clap::{Parser, Subcommand};

/// GitHub Actions → AWS OIDC federation, faithfully: STS, IAM, a GitHub issuer, a client, a linter.
#[derive(Debug, Parser)]
#[command(name = "keyless", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve STS, IAM and the dev GitHub issuer on one port.
    Serve(serve::ServeArgs),
    /// The dev GitHub Actions issuer: runner environment, tokens, key rotation.
    #[command(subcommand)]
    Github(github::GithubCommand),
    /// Evaluate a request against policies and explain the decision.
    Explain(explain::ExplainArgs),
    /// Query the audit log.
    Audit(audit::AuditArgs),
    /// Find the holes in trust policies (IAM JSON, CloudFormation, Terraform, plan JSON).
    Lint(lint::LintCli),
    /// Get AWS credentials for a CI job through AssumeRoleWithWebIdentity (what configure-aws-credentials does).
    Assume(assume::AssumeArgs),
    /// Create the OIDC provider, a tightly scoped role and its policy, idempotently.
    Setup(setup::SetupArgs),
}

/// Runs the command; returns the process exit code.
pub fn run(cli: Cli) -> u8 {
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Github(cmd) => github::run(cmd),
        Command::Explain(args) => explain::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Lint(args) => lint::run(&args),
        Command::Assume(args) => assume::run(args),
        Command::Setup(args) => setup::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            if is_broken_pipe(&e) {
                return 0;
            }
            eprintln!("error: {e:#}");
            2
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Reads a file given on the command line, naming it in the error.
pub(crate) fn read_file(path: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read `{}`: {e}", path.display()))
}
