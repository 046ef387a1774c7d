//! `keyless`: GitHub Actions → AWS OIDC federation in one binary.
//!
//! Exit status: 0 success, 1 a finding or denial the user asked about, 2 usage or input error.

mod cli;
mod client;
mod server;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // A closed pipe (e.g. `keyless audit | head`) ends the program quietly with 0.
    let cli = cli::Cli::parse();
    let code = cli::run(cli);
    ExitCode::from(code)
}
