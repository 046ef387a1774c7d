//! `keyless lint`: the rules live in `keyless-lint`; this only wires them to the terminal.

pub fn run(args: &keyless_lint::LintArgs) -> anyhow::Result<u8> {
    let mut out = std::io::stdout().lock();
    let code = keyless_lint::run(args, &mut out);
    Ok(u8::try_from(code).unwrap_or(2))
}
