//! `iocdock exec`: generation, export, backup and restore of IOC projects.

use std::path::PathBuf;

use clap::builder::PossibleValue;
use clap::{ArgGroup, Args, ValueEnum};

use crate::ioc::backup::BackupMode;

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("action").required(true).multiple(false)))]
pub(crate) struct ExecArgs {
    /// IOC project names (`alliocs` with --gen-swarm-file: every exported swarm IOC; with -b, -r: every IOC)
    #[arg(value_name = "NAME")]
    pub(crate) names: Vec<String>,

    /// Copy *.db, *.proto and *.im files from DIR into src/ and update [SRC]; without DIR rescan src/
    #[arg(long = "add-src-file", value_name = "DIR", num_args = 0..=1, group = "action")]
    pub(crate) add_src_file: Option<Option<PathBuf>>,

    /// Check the ioc.ini and generate project/startup (st.cmd, substitutions, db files)
    #[arg(long = "gen-startup-file", group = "action")]
    pub(crate) gen_startup_file: bool,

    /// Copy ioc.ini and the startup files to the run directory $MOUNT_PATH/<host>/<name>
    #[arg(long = "export-for-mount", group = "action")]
    pub(crate) export_for_mount: bool,

    /// Generate the startup files, then export them
    #[arg(long = "generate-and-export", group = "action")]
    pub(crate) generate_and_export: bool,

    /// Generate, export and write the swarm service file
    #[arg(long, group = "action")]
    pub(crate) deploy: bool,

    /// Write $MOUNT_PATH/swarm/<name>/compose-swarm.yaml from the exported ioc.ini
    #[arg(long = "gen-swarm-file", group = "action")]
    pub(crate) gen_swarm_file: bool,

    /// Copy ioc.ini and src/ to the snapshot folder
    #[arg(long = "add-snapshot-file", group = "action")]
    pub(crate) add_snapshot_file: bool,

    /// Show what changed since the snapshot (unified diff, snapshot -> repository)
    #[arg(long = "check-snapshot", group = "action")]
    pub(crate) check_snapshot: bool,

    /// Restore files from the snapshot: ioc.ini, names of src files, or all
    #[arg(long = "restore-snapshot-file", value_name = "FILE", num_args = 1.., group = "action")]
    pub(crate) restore_snapshot_file: Option<Vec<String>>,

    /// Show how the exported copy differs from the repository (unified diff)
    #[arg(
        long = "check-deploy",
        visible_alias = "check-running",
        group = "action"
    )]
    pub(crate) check_deploy: bool,

    /// Write one archive <YYYYmmddHHMMSS>.ioc.tar.gz of the named IOCs (none named: every IOC)
    #[arg(short = 'b', long = "gen-backup-file", group = "action")]
    pub(crate) gen_backup_file: bool,

    /// Restore the named IOCs of a backup archive into the repository (none named: all of them)
    #[arg(
        short = 'r',
        long = "restore-backup-file",
        value_name = "FILE",
        group = "action"
    )]
    pub(crate) restore_backup_file: Option<PathBuf>,

    /// Overwrite what exists: running data on export, IOCs on restore, files on snapshot restore
    #[arg(long = "force-overwrite")]
    pub(crate) force_overwrite: bool,

    /// Print what would be written instead of writing it (--gen-startup-file, --deploy, -b, -r)
    #[arg(long = "dry-run")]
    pub(crate) dry_run: bool,

    /// Folder of the backup archives [default: IOC_BACKUP_PATH]
    #[arg(long = "backup-path", value_name = "DIR", requires = "gen_backup_file")]
    pub(crate) backup_path: Option<PathBuf>,

    /// What a backup holds: src (ioc.ini, state, src/) or all (also startup, logs, settings)
    #[arg(long = "backup-mode", value_enum, default_value_t = BackupMode::Src, requires = "gen_backup_file")]
    pub(crate) backup_mode: BackupMode,

    /// After a backup, keep only the newest N archives of the backup folder
    #[arg(long, value_name = "N", requires = "gen_backup_file", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) keep: Option<u32>,
}

// The domain enum is the argument type: see `InventoryKind`'s in `cli::cluster`.

impl ValueEnum for BackupMode {
    fn value_variants<'a>() -> &'a [Self] {
        &[BackupMode::Src, BackupMode::All]
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(match self {
            BackupMode::Src => "src",
            BackupMode::All => "all",
        }))
    }
}
