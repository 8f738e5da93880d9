//! `switchboard keys rotate`: re-wrap every tenant data key under a new
//! master key. Sealed secrets are not touched, so this takes one short
//! transaction however many secrets there are. Servers keep their cached
//! data keys but must be restarted with the new master key.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::serve::DataArgs;
use crate::secrets::{MASTER_KEY_ENV, MasterKey, key_file, rotate};

/// The environment variable `keys rotate` reads the new key from.
const NEW_MASTER_KEY_ENV: &str = "SWITCHBOARD_NEW_MASTER_KEY";

/// `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Re-wrap every tenant's data key under a new master key. The current
    /// key is `SWITCHBOARD_MASTER_KEY` or the data directory's master.key;
    /// with the latter, master.key is replaced by the new key afterwards.
    Rotate(RotateArgs),
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    /// File holding the new master key (64 hex characters or the base64 of
    /// 32 bytes). Alternatively set SWITCHBOARD_NEW_MASTER_KEY.
    #[arg(long, value_name = "PATH", conflicts_with = "generate")]
    new_master_key_file: Option<PathBuf>,
    /// Generate the new key (only where the master key is the data
    /// directory's master.key, which then receives it).
    #[arg(long)]
    generate: bool,
    #[command(flatten)]
    data: DataArgs,
}

pub fn run(cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    let KeysCommand::Rotate(args) = cmd;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(rotate_keys(args))
}

async fn rotate_keys(args: RotateArgs) -> anyhow::Result<ExitCode> {
    let db = args.data.open().await?;
    let (old, from_file) = MasterKey::resolve_existing(&args.data.data_dir, db.dialect())?;
    let new = match (&args.new_master_key_file, args.generate) {
        (Some(path), _) => MasterKey::read_file(path)?,
        (None, true) if from_file => MasterKey::generate()?,
        (None, true) => anyhow::bail!(
            "--generate only works with the data directory's master.key; the current key comes from {MASTER_KEY_ENV}, so pass the new one with --new-master-key-file or {NEW_MASTER_KEY_ENV}"
        ),
        (None, false) => match std::env::var_os(NEW_MASTER_KEY_ENV) {
            Some(text) => MasterKey::parse(text.to_str().unwrap_or_default(), NEW_MASTER_KEY_ENV)?,
            None => anyhow::bail!(
                "no new master key: pass --new-master-key-file PATH, set {NEW_MASTER_KEY_ENV}, or use --generate"
            ),
        },
    };
    if new.id() == old.id() {
        anyhow::bail!("the new master key is the current one (id {})", old.id());
    }
    // The new key reaches the disk before the database depends on it.
    let path = key_file(&args.data.data_dir);
    let staged = if from_file {
        Some(new.stage_file(&path)?)
    } else {
        None
    };
    let rewrapped = match rotate(&db, &old, &new).await {
        Ok(n) => n,
        Err(e) => {
            if let Some(staged) = &staged {
                let _ = std::fs::remove_file(staged);
            }
            db.close().await;
            return Err(anyhow::Error::from(e).context("rotating the master key"));
        }
    };
    db.close().await;
    println!(
        "re-wrapped {rewrapped} tenant data key(s) from master key {} to {}",
        old.id(),
        new.id()
    );
    match staged {
        Some(staged) => {
            MasterKey::install_staged(&staged, &path)?;
            println!("{} now holds the new master key", path.display());
        }
        None => println!(
            "set {MASTER_KEY_ENV} to the new master key (id {}) on every server, then restart them",
            new.id()
        ),
    }
    Ok(ExitCode::SUCCESS)
}
