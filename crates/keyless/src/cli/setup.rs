//! `keyless setup` (being written).

/// Options of `keyless setup`.
#[derive(Debug, clap::Args)]
pub struct SetupArgs {}

pub fn run(_args: SetupArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`keyless setup` is not available in this build yet")
}
