//! `keyless assume` (being written).

/// Options of `keyless assume`.
#[derive(Debug, clap::Args)]
pub struct AssumeArgs {}

pub fn run(_args: AssumeArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`keyless assume` is not available in this build yet")
}
