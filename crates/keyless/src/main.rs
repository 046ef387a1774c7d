//! `keyless`: GitHub Actions → AWS OIDC federation in one binary.
//!
//! Exit status: 0 success, 1 a finding or denial the user asked about, 2 usage or input error.

mod cli;
mod client;
mod server;

use std::process::ExitCode;

use clap::Parser;

/// The server allocates and frees many small buffers per request (HTTP parsing, query
/// parameters, XML and JSON output) across worker threads; mimalloc's thread-local free lists
/// take a measured share of the CPU per request off glibc's malloc (see BENCHMARKS.md). Built
/// with `no_thp`: mimalloc otherwise asks for transparent huge pages, and each 2 MiB page the
/// kernel backs one with counts whole in the resident size (measured: 10 MB of 40 MB under load).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // A closed pipe (e.g. `keyless audit | head`) ends the program quietly with 0.
    let cli = cli::Cli::parse();
    let code = cli::run(cli);
    ExitCode::from(code)
}
