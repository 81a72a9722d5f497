use std::io::{self, IsTerminal};

use crate::ExitStatus;
use crate::cli::RemoveArgs;
use crate::commands::{confirm, deployed_ioc_service, lock_repository, valid_names};
use crate::ioc::repository::{Repository, RepositoryError};
use crate::printer::Printer;
use crate::settings::Settings;
use crate::swarm::engine::EngineFailure;
use crate::swarm::managed::ReservedNames;

pub(crate) fn run(
    args: &RemoveArgs,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let (names, mut failures) = valid_names(&args.names, printer);
    let repository = Repository::new(&settings.paths);
    // They tell a run folder of the old layout from a built-in service's folder.
    let reserved = if args.remove_all {
        ReservedNames::load(settings)?
    } else {
        ReservedNames::built_in()
    };
    let interactive = io::stdin().is_terminal();
    let what = if args.remove_all {
        "with its snapshot, exported run folder and swarm service file"
    } else {
        "from the repository"
    };
    // Every question is asked before the lock is taken, so an operator thinking about
    // an answer never blocks another command.
    let mut confirmed = Vec::with_capacity(names.len());
    for name in names {
        if !repository.exists(name) {
            printer.error(&RepositoryError::Missing(name.to_string()).to_string());
            failures += 1;
        } else if let Some(refusal) = deployed_refusal(args, name, settings)? {
            printer.error(&refusal);
            failures += 1;
        } else if args.force || (interactive && confirm(&format!("remove IOC \"{name}\" {what}?")))
        {
            confirmed.push(name);
        } else if interactive {
            printer.status(&format!("kept IOC \"{name}\""));
        } else {
            printer.error(&format!(
                "refusing to remove IOC \"{name}\" without confirmation: stdin is not a terminal (use -f to remove without asking)"
            ));
            failures += 1;
        }
    }
    if confirmed.is_empty() {
        return Ok(ExitStatus::from_failures(failures));
    }
    let _lock = lock_repository(settings, printer)?;
    for name in confirmed {
        match repository.remove(name, args.remove_all, &reserved) {
            Ok(removed) => {
                for path in removed {
                    printer.detail(&format!("removed {}", path.display()));
                }
                printer.status(&format!("removed IOC \"{name}\""));
            }
            Err(e) => {
                printer.error(&e.to_string());
                failures += 1;
            }
        }
    }
    Ok(ExitStatus::from_failures(failures))
}

/// `-r` takes the run folder a deployed service runs from: refused unless `--force`.
/// An engine that cannot be asked stops the whole command before anything is removed:
/// it would not answer for the next IOC either.
fn deployed_refusal(
    args: &RemoveArgs,
    name: &str,
    settings: &Settings,
) -> anyhow::Result<Option<String>> {
    if !args.remove_all || args.force {
        return Ok(None);
    }
    match deployed_ioc_service(settings, name) {
        Ok(None) => Ok(None),
        Ok(Some(service)) => Ok(Some(format!(
            "IOC \"{name}\" is deployed as {service}; remove the service first (iocdock service {name} --remove) or use --force"
        ))),
        Err(e) => match e.downcast::<EngineFailure>() {
            Ok(failure) if failure.error.is_engine_failure() => Err(EngineFailure {
                consequence: format!(
                    "{}; nothing was removed (--force removes without asking the engine)",
                    failure.consequence
                ),
                ..failure
            }
            .into()),
            Ok(failure) => Ok(Some(format!("{failure} (use --force to remove anyway)"))),
            Err(e) => Ok(Some(format!("{e:#} (use --force to remove anyway)"))),
        },
    }
}
