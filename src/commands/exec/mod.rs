use std::io::{self, IsTerminal};

mod backups;

use crate::cli::ExecArgs;
use crate::commands::{ExitStatus, UsageError, only_with};
use crate::commands::{confirm, lock_repository, valid_names};
use crate::embedded::Templates;
use crate::ioc::diff::colourise;
use crate::ioc::repository::Repository;
use crate::ioc::reserved::ReservedNames;
use crate::ioc::snapshot;
use crate::ioc::sources::{SourceFolderError, add_source_files, source_folder};
use crate::ioc::startup::StartupFiles;
use crate::ioc::workflow::{self, Generation, WorkflowError};
use crate::printer::Printer;
use crate::schema::ioc_ini::Violation;
use crate::services::catalog;
use crate::settings::Settings;

/// The action of one `exec` call, resolved from its flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    AddSources,
    Generate,
    Export,
    GenerateAndExport,
    Deploy,
    ServiceFile,
    AddSnapshot,
    CheckSnapshot,
    RestoreSnapshot,
    CheckDeploy,
}

impl Action {
    fn of(args: &ExecArgs) -> Action {
        if args.add_src_file.is_some() {
            Action::AddSources
        } else if args.gen_startup_file {
            Action::Generate
        } else if args.export_for_mount {
            Action::Export
        } else if args.generate_and_export {
            Action::GenerateAndExport
        } else if args.deploy {
            Action::Deploy
        } else if args.gen_swarm_file {
            Action::ServiceFile
        } else if args.add_snapshot_file {
            Action::AddSnapshot
        } else if args.check_snapshot {
            Action::CheckSnapshot
        } else if args.restore_snapshot_file.is_some() {
            Action::RestoreSnapshot
        } else {
            Action::CheckDeploy
        }
    }

    fn label(self) -> &'static str {
        match self {
            Action::AddSources => "adding sources",
            Action::Generate => "generating",
            Action::Export => "exporting",
            Action::GenerateAndExport => "generating and exporting",
            Action::Deploy => "deploying",
            Action::ServiceFile => "writing service files",
            Action::AddSnapshot => "snapshotting",
            Action::CheckSnapshot | Action::CheckDeploy => "comparing",
            Action::RestoreSnapshot => "restoring",
        }
    }

    /// Comparisons only read, so they neither lock nor wait for a lock.
    fn writes(self) -> bool {
        !matches!(self, Action::CheckSnapshot | Action::CheckDeploy)
    }

    /// Actions that make paths of the IOC's name in the run directory.
    fn exports(self) -> bool {
        matches!(
            self,
            Action::Export | Action::GenerateAndExport | Action::Deploy | Action::ServiceFile
        )
    }
}

struct Context<'a> {
    args: &'a ExecArgs,
    settings: &'a Settings,
    repository: Repository,
    templates: Templates,
    /// Names an IOC may not run under (they are the built-in services' and folders').
    reserved: ReservedNames,
    /// Diffs are coloured for a person at a terminal only.
    colour: bool,
}

/// What the action on one IOC has to say, kept until it is printed: IOCs are handled
/// on several threads, and their messages still come out in the order of the names.
#[derive(Default)]
struct Notes(Vec<Note>);

enum Note {
    Status(String),
    Detail(String),
    Warn(String),
    Error(String),
    Data(String),
}

impl Notes {
    fn status(&mut self, text: &str) {
        self.0.push(Note::Status(text.to_string()));
    }
    fn detail(&mut self, text: &str) {
        self.0.push(Note::Detail(text.to_string()));
    }
    fn warn(&mut self, text: &str) {
        self.0.push(Note::Warn(text.to_string()));
    }
    /// An error line that makes the IOC count as failed, without ending its action.
    fn error(&mut self, text: &str) {
        self.0.push(Note::Error(text.to_string()));
    }
    fn data(&mut self, text: &str) {
        self.0.push(Note::Data(text.to_string()));
    }
    fn line(&mut self, text: &str) {
        self.0.push(Note::Data(format!("{text}\n")));
    }

    /// Prints the notes; returns whether one was an error.
    fn replay(self, printer: &Printer) -> bool {
        let mut failed = false;
        for note in self.0 {
            match note {
                Note::Status(text) => printer.status(&text),
                Note::Detail(text) => printer.detail(&text),
                Note::Warn(text) => printer.warn(&text),
                Note::Error(text) => {
                    printer.error(&text);
                    failed = true;
                }
                Note::Data(text) => printer.data(&text),
            }
        }
        failed
    }
}

/// IOCs handed to the worker threads at a time: large enough to keep both cores busy,
/// small enough for the progress bar to move.
const BATCH: usize = 64;

pub(crate) fn run(
    args: &ExecArgs,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    only_with(
        ("--gen-backup-file", args.gen_backup_file),
        &[
            ("--backup-path", args.backup_path.is_some()),
            ("--keep", args.keep.is_some()),
        ],
    )?;
    let action = Action::of(args);
    let reserved = if action.exports() {
        catalog::reserved_names(settings)?
    } else {
        catalog::built_in_reserved_names()
    };
    let context = Context {
        args,
        settings,
        colour: printer.colour_stdout(),
        repository: Repository::new(&settings.paths),
        templates: Templates::new(&settings.paths.templates),
        reserved,
    };
    if args.gen_backup_file {
        return context.backup(printer);
    }
    if let Some(archive) = &args.restore_backup_file {
        return context.restore_backup(archive, printer);
    }
    if let Some(Some(dir)) = &args.add_src_file {
        match source_folder(&context.repository, dir) {
            Ok(_) => {}
            Err(e @ SourceFolderError::IocName { .. }) => {
                return Err(UsageError(e.to_string()).into());
            }
            Err(e) => return Err(e.into()),
        }
    }
    if args.names.is_empty() {
        return Err(UsageError("exec: name at least one IOC before the action".to_string()).into());
    }
    if args.dry_run && !(args.gen_startup_file || args.deploy) {
        return Err(UsageError(
            "--dry-run goes with --gen-startup-file, --deploy, -b or -r".to_string(),
        )
        .into());
    }
    let _lock = if action.writes() {
        Some(lock_repository(settings, printer)?)
    } else {
        None
    };
    let mut failures = 0;
    let names: Vec<String> = if action == Action::ServiceFile && args.names == ["alliocs"] {
        workflow::exported_swarm_iocs(&context.repository)?
    } else {
        let (valid, invalid) = valid_names(&args.names, printer);
        failures += invalid;
        valid.into_iter().map(str::to_string).collect()
    };
    let progress = printer.progress(names.len(), action.label());
    if action == Action::RestoreSnapshot {
        // Asks on the terminal, so one IOC after the other.
        for name in &names {
            progress.step(name);
            if let Err(e) = context.restore_snapshot(name, printer) {
                printer.error(&format!("{e:#}"));
                failures += 1;
            }
        }
    } else {
        for batch in names.chunks(BATCH) {
            let outcomes = crate::parallel::map_with(batch, 2, |name| {
                let mut notes = Notes::default();
                let result = context.apply(action, name, &mut notes);
                (notes, result)
            });
            for (name, (notes, result)) in batch.iter().zip(outcomes) {
                progress.step(name);
                let noted = notes.replay(printer);
                if let Err(e) = &result {
                    printer.error(&format!("{e:#}"));
                }
                if noted || result.is_err() {
                    failures += 1;
                }
            }
        }
    }
    drop(progress);
    Ok(ExitStatus::from_failures(failures))
}

/// An ioc.ini the schema refuses: one error line per violation.
fn invalid(violations: &[Violation], out: &mut Notes) {
    for violation in violations {
        out.error(&violation.to_string());
    }
}

impl Context<'_> {
    fn apply(&self, action: Action, name: &str, out: &mut Notes) -> anyhow::Result<()> {
        match action {
            Action::AddSources => {
                let from = self
                    .args
                    .add_src_file
                    .as_ref()
                    .and_then(|dir| dir.as_deref());
                let update = add_source_files(&self.repository, name, from)?;
                for refused in &update.refused {
                    out.error(&format!("IOC \"{name}\": {refused}"));
                }
                if from.is_some() && update.copied.is_empty() && update.refused.is_empty() {
                    out.warn(&format!(
                        "IOC \"{name}\": no *.db, *.proto or *.im file to copy"
                    ));
                }
                for file in &update.copied {
                    out.detail(&format!("IOC \"{name}\": copied {file}"));
                }
                out.status(&format!("IOC \"{name}\": sources updated"));
            }
            Action::Generate => {
                self.generate(name, out)?;
            }
            Action::Export => {
                self.export(name, out)?;
            }
            Action::GenerateAndExport => {
                if self.generate(name, out)? {
                    self.export(name, out)?;
                }
            }
            Action::Deploy => {
                if self.generate(name, out)? && !self.args.dry_run && self.export(name, out)? {
                    self.service_file(name, out)?;
                }
            }
            Action::ServiceFile => self.service_file(name, out)?,
            Action::AddSnapshot => {
                let dir = snapshot::add(&self.repository, name)?;
                out.status(&format!(
                    "IOC \"{name}\": snapshot saved in {}",
                    dir.display()
                ));
            }
            Action::CheckSnapshot => self.show_diffs(snapshot::check(&self.repository, name)?, out),
            Action::CheckDeploy => {
                self.show_diffs(snapshot::check_deploy(&self.repository, name)?, out)
            }
            // Asks on the terminal: run() handles it one IOC after the other.
            Action::RestoreSnapshot => unreachable!("restore-snapshot is not run per batch"),
        }
        Ok(())
    }

    /// Returns whether the startup files are valid (and written unless dry run).
    fn generate(&self, name: &str, out: &mut Notes) -> anyhow::Result<bool> {
        match workflow::generate(
            &self.repository,
            self.settings,
            &self.templates,
            name,
            self.args.dry_run,
        )? {
            Generation::Written(files) => {
                out.status(&format!(
                    "IOC \"{name}\": generated {} startup files",
                    files.files.len()
                ));
                Ok(true)
            }
            Generation::Planned(files) => {
                self.print_plan(name, &files, out);
                Ok(true)
            }
            Generation::Invalid(problems) => {
                // One line per problem, so each names its option.
                for p in &problems {
                    out.error(&format!(
                        "IOC \"{name}\": startup files not generated: {} {}",
                        p.reason, p.message
                    ));
                }
                Ok(false)
            }
        }
    }

    fn print_plan(&self, name: &str, files: &StartupFiles, out: &mut Notes) {
        let project = self
            .repository
            .dir(name)
            .join(crate::ioc::repository::PROJECT_DIR);
        for dir in &files.dirs {
            out.line(&format!("would create {}/", project.join(dir).display()));
        }
        for file in &files.files {
            out.line(&format!(
                "would write {} ({} bytes, mode {:o})",
                project.join(&file.path).display(),
                file.contents.len(),
                file.mode
            ));
        }
        if self.args.deploy {
            let ioc = self.repository.load(name);
            match self.repository.run_dir(ioc.host(), name) {
                Ok(dir) => out.line(&format!("would export to {}", dir.display())),
                Err(e) => out.warn(&format!("would not export: {e}")),
            }
            out.line(&format!(
                "would write {}",
                self.repository.service_file(name).display()
            ));
        }
    }

    /// Returns whether the IOC was exported.
    fn export(&self, name: &str, out: &mut Notes) -> anyhow::Result<bool> {
        let exported = match workflow::export(
            &self.repository,
            self.settings,
            &self.reserved,
            name,
            self.args.force_overwrite,
        ) {
            Ok(exported) => exported,
            Err(WorkflowError::Invalid(violations)) => {
                invalid(&violations, out);
                return Ok(false);
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(old) = &exported.migrated_from {
            out.warn(&format!(
                "IOC \"{name}\": moved its run folder {} to {} (autosave files and logs kept); a deployed service keeps its old mounts until `iocdock service {name} --deploy` (or --update)",
                old.display(),
                exported.target.display()
            ));
        }
        let what = if exported.with_running_data {
            "ioc.ini, startup, settings and logs"
        } else {
            "ioc.ini and startup (running data kept)"
        };
        out.status(&format!(
            "IOC \"{name}\": exported {what} to {}",
            exported.target.display()
        ));
        Ok(true)
    }

    fn service_file(&self, name: &str, out: &mut Notes) -> anyhow::Result<()> {
        let path = match workflow::write_service_file(
            &self.repository,
            self.settings,
            &self.reserved,
            name,
        ) {
            Ok(path) => path,
            Err(WorkflowError::Invalid(violations)) => {
                invalid(&violations, out);
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        out.status(&format!("IOC \"{name}\": wrote {}", path.display()));
        Ok(())
    }

    fn show_diffs(&self, diffs: Vec<String>, out: &mut Notes) {
        let colour = self.colour;
        for diff in diffs {
            out.data(&if colour { colourise(&diff) } else { diff });
        }
    }

    fn restore_snapshot(&self, name: &str, printer: &Printer) -> anyhow::Result<()> {
        let files = self
            .args
            .restore_snapshot_file
            .as_deref()
            .unwrap_or_default();
        let plan = snapshot::plan_restore(&self.repository, name, files)?;
        for file in &plan.restore {
            printer.status(&format!("IOC \"{name}\": will restore {file}"));
        }
        for (file, why) in &plan.keep {
            printer.status(&format!("IOC \"{name}\": will not restore {file} ({why})"));
        }
        if plan.restore.is_empty() {
            return Ok(());
        }
        if !self.args.force_overwrite {
            if !io::stdin().is_terminal() {
                anyhow::bail!(
                    "IOC \"{name}\": refusing to overwrite files without confirmation: stdin is not a terminal (use --force-overwrite)"
                );
            }
            if !confirm(&format!(
                "restore these files of IOC \"{name}\" from its snapshot?"
            )) {
                printer.status(&format!("IOC \"{name}\": nothing restored"));
                return Ok(());
            }
        }
        snapshot::restore(&self.repository, name, &plan)?;
        printer.status(&format!(
            "IOC \"{name}\": restored {}",
            plan.restore.join(", ")
        ));
        Ok(())
    }
}
