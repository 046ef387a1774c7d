//! Runs `keyless lint` without the main binary: `cargo run --release -p keyless-lint --example
//! lint_dir -- [--format json|sarif|text] [--fail-on SEVERITY] PATH...`.
//! With `--quiet`, prints only the finding count and the elapsed time (for benchmarks).

use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    lint: keyless_lint::LintArgs,
    /// Print only the number of findings and the elapsed time.
    #[arg(long)]
    quiet: bool,
}

fn main() {
    let cli = Cli::parse();
    let start = std::time::Instant::now();
    let code = if cli.quiet {
        let outcome = keyless_lint::lint_paths(&cli.lint.paths);
        let elapsed = start.elapsed();
        println!(
            "{} findings, {} errors, {:.3} s",
            outcome.findings.len(),
            outcome.errors.len(),
            elapsed.as_secs_f64()
        );
        0
    } else {
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        keyless_lint::run(&cli.lint, &mut lock)
    };
    std::process::exit(code);
}
