//! `exec -b` and `exec -r`: backups of the repository and restores from them.

use std::io::{self, IsTerminal};
use std::path::Path;

use super::Context;
use crate::commands::ExitStatus;
use crate::commands::{confirm, lock_repository, lock_repository_to_read};
use crate::ioc::backup::{self, BackupMode};
use crate::printer::Printer;

impl Context<'_> {
    /// The IOCs named for a backup or restore: None for all (no name, or `alliocs`).
    fn selection(&self) -> anyhow::Result<Option<Vec<String>>> {
        let names = &self.args.names;
        if names.is_empty() || names == &["alliocs"] {
            return Ok(None);
        }
        let mut selected: Vec<String> = Vec::with_capacity(names.len());
        for name in names {
            crate::schema::ioc_name::validate(name)?;
            if !selected.contains(name) {
                selected.push(name.clone());
            }
        }
        Ok(Some(selected))
    }

    pub(super) fn backup(&self, printer: &Printer) -> anyhow::Result<ExitStatus> {
        let only = self.selection()?;
        // A backup only reads the repository: it shares the lock with other readers,
        // and works on a home it cannot write (see lock_repository_to_read).
        let _lock = lock_repository_to_read(self.settings, printer)?;
        let dir = self
            .args
            .backup_path
            .clone()
            .unwrap_or_else(|| self.settings.paths.ioc_backup.clone());
        let mode = self.args.backup_mode;
        if self.args.dry_run {
            return self.plan_backup(&dir, mode, only.as_deref(), printer);
        }
        let backup = match backup::create(&self.repository, &dir, mode, only.as_deref()) {
            Ok(backup) => backup,
            Err(backup::BackupError::NoneReadable {
                repository,
                problems,
            }) => {
                for problem in &problems {
                    printer.error(&format!("left out of the backup: {problem}"));
                }
                return Err(backup::BackupError::NoneReadable {
                    repository,
                    problems,
                }
                .into());
            }
            Err(e) => return Err(e.into()),
        };
        // The path is the data a cron job or script wants.
        printer.line(&backup.path.display().to_string());
        for problem in &backup.skipped {
            printer.error(&format!("left out of the backup: {problem}"));
        }
        // Pruning after an incomplete backup could delete the last complete one.
        if let (Some(keep), true) = (self.args.keep, backup.skipped.is_empty()) {
            for old in backup::prune(&dir, keep as usize)? {
                printer.status(&format!("removed old backup {}", old.display()));
            }
        }
        Ok(ExitStatus::from_failures(backup.skipped.len()))
    }

    /// `-b --dry-run`: the archive and its members on stdout, what would be left out
    /// and pruned; nothing is written, not even the backup folder.
    fn plan_backup(
        &self,
        dir: &Path,
        mode: BackupMode,
        only: Option<&[String]>,
        printer: &Printer,
    ) -> anyhow::Result<ExitStatus> {
        let planned = backup::plan(&self.repository, dir, mode, only)?;
        printer.line(&format!(
            "would write {} (mode 0600) holding:",
            planned.path.display()
        ));
        for member in &planned.members {
            printer.line(&format!("  {member}"));
        }
        for problem in &planned.skipped {
            printer.error(&format!("would leave out of the backup: {problem}"));
        }
        if let (Some(keep), true) = (self.args.keep, planned.skipped.is_empty()) {
            for old in backup::prunable(dir, keep as usize, 1)? {
                printer.line(&format!("would remove old backup {}", old.display()));
            }
        }
        Ok(ExitStatus::from_failures(planned.skipped.len()))
    }

    pub(super) fn restore_backup(
        &self,
        path: &Path,
        printer: &Printer,
    ) -> anyhow::Result<ExitStatus> {
        let only = self.selection()?;
        let mut archive = backup::read_archive(path)?;
        printer.detail(&format!(
            "{} holds IOCs: {}",
            path.display(),
            archive.ioc_names().join(" ")
        ));
        if let Some(names) = &only {
            archive.select(names, path)?;
        }
        if self.args.dry_run {
            let _lock = lock_repository_to_read(self.settings, printer)?;
            self.plan_restore(&archive, printer);
            return Ok(ExitStatus::Success);
        }
        let _lock = lock_repository(self.settings, printer)?;
        let interactive = io::stdin().is_terminal();
        let force = self.args.force_overwrite;
        let mut overwrite = |name: &str| -> bool {
            if force {
                return true;
            }
            if interactive {
                return confirm(&format!(
                    "IOC \"{name}\" exists; overwrite it from the backup?"
                ));
            }
            printer.warn(&format!(
                "IOC \"{name}\" exists and was skipped (use --force-overwrite to replace it)"
            ));
            false
        };
        let report = backup::restore(&self.repository, &archive, &mut overwrite)?;
        for name in &report.restored {
            printer.status(&format!("restored IOC \"{name}\""));
        }
        for (name, error) in &report.failed {
            printer.error(&format!("IOC \"{name}\" not restored: {error}"));
        }
        Ok(ExitStatus::from_failures(report.failed.len()))
    }

    /// `-r --dry-run`: per IOC, whether it would be restored, replaced, skipped or
    /// asked about, and every path a restore would write below its folder.
    fn plan_restore(&self, archive: &backup::Archive, printer: &Printer) {
        let force = self.args.force_overwrite;
        let interactive = io::stdin().is_terminal();
        for planned in archive.restore_plan(&self.repository) {
            let (name, dir) = (&planned.name, planned.dir.display());
            let verdict = match (planned.exists, force, interactive) {
                (false, _, _) => format!("would restore IOC \"{name}\" into {dir}"),
                (true, true, _) => format!("would replace IOC \"{name}\" in {dir}"),
                (true, false, true) => {
                    format!("would ask whether to replace IOC \"{name}\" in {dir} (it exists)")
                }
                (true, false, false) => {
                    printer.line(&format!(
                        "would skip IOC \"{name}\": it exists (--force-overwrite replaces it)"
                    ));
                    continue;
                }
            };
            printer.line(&verdict);
            for path in &planned.paths {
                printer.line(&format!("  {}", path.display()));
            }
        }
    }
}
