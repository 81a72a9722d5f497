//! `swarm -b` and `swarm -r`: the swarm state archived and restored.

use std::path::Path;

use crate::commands::ExitStatus;
use crate::commands::confirmed;
use crate::printer::Printer;
use crate::settings::Settings;
use crate::swarm::backup::{self, EngineHost};

fn engine_host(settings: &Settings) -> EngineHost<'_> {
    EngineHost {
        stop_command: &settings.docker_stop_command,
        start_command: &settings.docker_start_command,
        swarm_dir: Path::new(&settings.docker_swarm_dir),
    }
}

/// `swarm -b`: prints the archive's path on stdout, like `exec -b`. The engine stops
/// for it, and with it every task on this node, so it is confirmed first.
pub(super) fn backup_swarm(
    yes: bool,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let host = engine_host(settings);
    let action = "stop the Docker engine of this node (its tasks stop too) to archive the swarm state, then start it again";
    let touched = [
        format!("stop: {}", host.stop_command),
        format!("archive: {}", host.swarm_dir.display()),
        format!("start: {}", host.start_command),
    ];
    if !confirmed(action, &touched, yes)? {
        printer.status("nothing stopped, no backup made");
        return Ok(ExitStatus::Success);
    }
    let outcome = backup::backup(&host, &settings.paths.swarm_backup, &|step| {
        printer.status(step)
    })?;
    let mut status = ExitStatus::Success;
    match outcome.archive {
        Ok(path) => printer.line(&path.display().to_string()),
        Err(e) => {
            printer.error(&format!("swarm backup failed: {e}"));
            status = ExitStatus::Failure;
        }
    }
    if let Err(e) = outcome.restart {
        printer.error(&format!(
            "the Docker engine is not back after the backup: {e}"
        ));
        // A backup that was written but left an engine that does not answer is the
        // engine's failure; a failed backup stays one.
        if status == ExitStatus::Success {
            status = if matches!(&e, backup::SwarmBackupError::Engine(e) if e.is_engine_failure()) {
                ExitStatus::EngineUnreachable
            } else {
                ExitStatus::Failure
            };
        }
    }
    Ok(status)
}

/// `swarm -r --backup-file FILE [--yes]`: the archive is checked before anything is
/// asked or stopped.
pub(super) fn restore_swarm(
    file: &Path,
    yes: bool,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let archive = backup::check_archive(file)?;
    let host = engine_host(settings);
    printer.status(&format!(
        "{}: swarm folder {} of node {}",
        archive.path().display(),
        archive.archived_folder(),
        archive.node.node_id.as_deref().unwrap_or("(unknown)")
    ));
    let action = format!(
        "stop the Docker engine of this node, keep its swarm state aside and restore the swarm from {}",
        archive.path().display()
    );
    let touched = [
        format!("stop: {}", host.stop_command),
        format!("keep aside: {}", host.swarm_dir.display()),
        format!("start: {}", host.start_command),
    ];
    if !confirmed(&action, &touched, yes)? {
        printer.status("nothing restored");
        return Ok(ExitStatus::Success);
    }
    let restored = backup::restore(&host, &archive, &settings.swarm_advertise_ip, &|step| {
        printer.status(step)
    })?;
    let kept = match &restored.kept {
        Some(path) => format!("; the previous swarm folder is kept at {}", path.display()),
        None => String::new(),
    };
    printer.status(&format!(
        "swarm restored: node {} manages the swarm again{kept}",
        restored.node_id
    ));
    Ok(ExitStatus::Success)
}
