//! `--history` and `--rollback`: an IOC's revisions, a built-in service's previous spec.

use crate::commands::deployment::deploy_and_report_locked;
use crate::commands::{ExitStatus, UsageError, lock_repository};
use crate::ioc::repository::Repository;
use crate::ioc::revisions::{self, FileChange, HistoryEntry, Meta, Recorded};
use crate::ioc::workflow;
use crate::printer::Printer;
use crate::services::catalog;
use crate::settings::Settings;
use crate::swarm::deploy::{self, OnExisting};
use crate::swarm::engine::Engine;
use crate::swarm::lifecycle::{self, LifecycleError};
use crate::swarm::managed::ServiceType;
use crate::swarm::rollout;

use super::resolve;
use super::verbs::wait_for_rollout;

/// `--history`: each IOC's revisions, newest first, with what changed against the
/// revision before. A service that is no IOC has none (the engine keeps only its
/// previous spec).
pub(super) fn history(
    names: &[String],
    kind: Option<ServiceType>,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let (services, mut failures) = resolve(names, kind, settings, printer);
    let repository = Repository::new(&settings.paths);
    let several = services.len() > 1;
    for (i, service) in services.iter().enumerate() {
        if service.kind != ServiceType::Ioc {
            printer.error(&format!(
                "{} service \"{}\" has no revisions: they are recorded for IOC services (--rollback gives it the engine's previous spec)",
                service.kind, service.name
            ));
            failures += 1;
            continue;
        }
        let entries = match revisions::history(&repository, &service.name) {
            Ok(entries) => entries,
            Err(e) => {
                printer.error(&e.to_string());
                failures += 1;
                continue;
            }
        };
        if several {
            if i > 0 {
                printer.line("");
            }
            printer.line(&format!("IOC {}", service.name));
        }
        if entries.is_empty() {
            printer.line(&format!(
                "IOC {} has no revisions yet: each deploy or update of its service records one",
                service.name
            ));
        }
        for (j, entry) in entries.iter().enumerate() {
            if j > 0 {
                printer.line("");
            }
            printer.line(&history_block(entry));
        }
    }
    Ok(ExitStatus::from_failures(failures))
}

/// One revision as `--history` shows it: a heading line, the command, then what
/// changed (one line per file, then the diffs).
fn history_block(entry: &HistoryEntry) -> String {
    let time = chrono::DateTime::parse_from_rfc3339(&entry.meta.time).map_or_else(
        |_| entry.meta.time.clone(),
        |t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string()
        },
    );
    let mut out = format!(
        "revision {}  {time}  by {}\n  command: {}\n",
        entry.number, entry.meta.user, entry.meta.command
    );
    if let Some(note) = &entry.meta.note {
        out.push_str(&format!("  note: {note}\n"));
    }
    match &entry.changes {
        None => out.push_str(&format!(
            "  the oldest revision kept ({} files)\n",
            entry.files
        )),
        Some(changes) if changes.is_empty() => {
            out.push_str("  no file changed (the same files deployed again)\n")
        }
        Some(changes) => {
            for change in changes {
                out.push_str(&format!("  {}\n", change.summary()));
            }
            for change in changes {
                if let FileChange::Changed { diff, .. } = change {
                    out.push_str(diff);
                    if !diff.ends_with('\n') {
                        out.push('\n');
                    }
                }
            }
        }
    }
    out.trim_end_matches('\n').to_string()
}

/// `--rollback [REV]`. An IOC: the current files are recorded first (so the rollback
/// can be undone), then revision REV's ioc.ini, startup files and service file go back
/// into the repository and the run folder, and the service takes them as with
/// `--update`. A built-in or custom service: the engine's previous spec.
pub(super) fn rollback(
    names: &[String],
    kind: Option<ServiceType>,
    rev: Option<&str>,
    detach: bool,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let [name] = names else {
        return Err(UsageError("--rollback takes one IOC or service name".to_string()).into());
    };
    let asked = rev
        .map(revisions::parse_number)
        .transpose()
        .map_err(|e| UsageError(format!("--rollback {e}")))?;
    let (services, failures) = resolve(std::slice::from_ref(name), kind, settings, printer);
    let Some(service) = services.into_iter().next() else {
        return Ok(ExitStatus::from_failures(failures));
    };
    if service.kind != ServiceType::Ioc {
        if asked.is_some() {
            return Err(UsageError(format!(
                "--rollback REV is for IOCs: {} service \"{}\" has only the engine's previous spec (leave REV out)",
                service.kind, service.name
            ))
            .into());
        }
        let engine = Engine::connect_for_changes()?;
        let change = match lifecycle::rollback(&engine, &service) {
            Ok(change) => change,
            // As itself, so an engine that stopped answering exits as such.
            Err(LifecycleError::Swarm(e)) => return Err(e.into()),
            Err(e) => return Err(e.into()),
        };
        printer.status(&change.to_string());
        let watches: Vec<rollout::Watch> = change.watch().into_iter().collect();
        let failed = if detach {
            0
        } else {
            wait_for_rollout(&engine, settings, &watches, printer)?
        };
        return Ok(ExitStatus::from_failures(failed));
    }
    let _lock = lock_repository(settings, printer)?;
    let repository = Repository::new(&settings.paths);
    let target = revisions::rollback_target(&repository, &service.name, asked)?;
    // Refused before any file changes: the restored files could not be exported.
    workflow::ready_for_export(&repository, &service.name)?;
    let engine = Engine::connect_for_changes()?;
    let existing = deploy::deployed(&engine, &settings.prefix_stack_name)?;
    if !existing.contains_key(&service.service_name) {
        return Err(anyhow::anyhow!(
            "ioc service \"{}\" is not deployed ({} does not exist): a rollback changes a deployed service; nothing was changed",
            service.name,
            service.service_name
        ));
    }
    let command = crate::oplog::command_line();
    let operator = crate::oplog::operator();
    let keep = usize::try_from(settings.ioc_revisions_kept).unwrap_or(usize::MAX);
    let before = Meta::new(chrono::Utc::now(), &operator, &command).with_note(format!(
        "the files found before the rollback to revision {}",
        target.number
    ));
    let undo = match revisions::record(&repository, &service.name, &before, keep)? {
        Recorded::New { number, .. } => {
            printer.status(&format!(
                "IOC {}: recorded the current files as revision {number}",
                service.name
            ));
            number
        }
        Recorded::Unchanged { number } => number,
    };
    revisions::restore(&repository, &service.name, &target)?;
    let reserved = catalog::reserved_names(settings)?;
    workflow::export(&repository, settings, &reserved, &service.name, false)?;
    printer.status(&format!(
        "IOC {}: put the files of revision {} back in the repository and the run folder",
        service.name, target.number
    ));
    let note = format!("rolled back to revision {}", target.number);
    let failed = deploy_and_report_locked(
        &engine,
        settings,
        std::slice::from_ref(&service),
        &existing,
        OnExisting::Restart,
        Some(&note),
        printer,
    )?;
    if failed == 0 {
        printer.status(&format!(
            "IOC {}: rolled back to revision {} (`iocdock service {} --rollback {undo}` undoes it)",
            service.name, target.number, service.name
        ));
    }
    let failed = if failed == 0 && !detach {
        let watch = lifecycle::watch_current(&engine, &service)?;
        wait_for_rollout(&engine, settings, &[watch], printer)?
    } else {
        failed
    };
    Ok(ExitStatus::from_failures(failures + failed))
}
