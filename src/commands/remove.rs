use std::io::{self, IsTerminal};

use crate::cli::RemoveArgs;
use crate::commands::ExitStatus;
use crate::commands::{confirm, confirmed, deployed_ioc_services, lock_repository, valid_names};
use crate::ioc::repository::{Repository, RepositoryError};
use crate::printer::Printer;
use crate::services::catalog;
use crate::settings::Settings;
use crate::swarm::deploy;
use crate::swarm::engine::EngineFailure;

/// One IOC that is to go, with the deployed service that goes first.
struct Removal<'a> {
    name: &'a str,
    service: Option<String>,
}

pub(crate) fn run(
    args: &RemoveArgs,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let (names, mut failures) = valid_names(&args.names, printer);
    let repository = Repository::new(&settings.paths);
    // They tell a run folder of the old layout from a built-in service's folder.
    let reserved = if args.remove_all {
        catalog::reserved_names(settings)?
    } else {
        catalog::built_in_reserved_names()
    };
    let interactive = io::stdin().is_terminal();
    let what = if args.remove_all {
        "with its snapshot, exported run folder and swarm service file"
    } else {
        "from the repository"
    };
    let mut present = Vec::with_capacity(names.len());
    for name in names {
        if repository.exists(name) {
            present.push(name);
        } else {
            printer.error(&RepositoryError::Missing(name.to_string()).to_string());
            failures += 1;
        }
    }
    // Whatever the flags, a service running from an IOC's folders is looked for: a
    // service left behind keeps running from a deleted folder, and once the IOC is
    // gone no iocdock command shows or removes it by its name.
    let deployments = deployed_ioc_services(settings, &present);
    // An engine that cannot be asked would not answer for the next IOC either: without
    // --force nothing is removed, and the exit code says the engine was the problem.
    if let Err(e) = &deployments
        && e.is_engine_failure()
        && !args.force
    {
        let at_risk: Vec<String> = present
            .iter()
            .filter(|name| repository.may_be_deployed(name))
            .map(|name| {
                let service = catalog::ioc_service(settings, &repository, name).service_name;
                let running_from = repository
                    .run_dir(repository.load(name).host(), name)
                    .map(|dir| format!(" running from {}", dir.display()))
                    .unwrap_or_default();
                format!("IOC \"{name}\" could leave service {service}{running_from}")
            })
            .collect();
        if !at_risk.is_empty()
            && let Err(error) = deployments
        {
            return Err(EngineFailure {
                error,
                consequence: format!(
                    "cannot tell whether it is deployed; nothing was removed: removing {} unseen (--force removes anyway)",
                    at_risk.join(", ")
                ),
            }
            .into());
        }
    }
    // Every question is asked before the lock is taken, so an operator thinking about
    // an answer never blocks another command.
    let mut removals = Vec::with_capacity(present.len());
    for name in present {
        let service_name = catalog::ioc_service(settings, &repository, name).service_name;
        let service = match &deployments {
            Ok(answer) => answer.deployed.get(name).cloned(),
            Err(e) if repository.may_be_deployed(name) => {
                let running_from = repository
                    .run_dir(repository.load(name).host(), name)
                    .map(|dir| format!(" from {}", dir.display()))
                    .unwrap_or_default();
                if !args.force {
                    printer.error(&format!(
                        "IOC \"{name}\": cannot tell whether it is deployed ({e}); removing it could leave service {service_name} running{running_from} unseen (use --force to remove it anyway)"
                    ));
                    failures += 1;
                    continue;
                }
                printer.warn(&format!(
                    "IOC \"{name}\": cannot tell whether it is deployed ({e}); service {service_name} may be left running{running_from}: once the engine answers, check with `docker service ls` and remove it with `docker service rm {service_name}`"
                ));
                None
            }
            Err(_) => None,
        };
        if let (Some(service), false) = (&service, args.force) {
            printer.error(&format!(
                "IOC \"{name}\" is deployed as {service}; remove the service first (iocdock service {name} --remove), or use --force, which removes it before the IOC"
            ));
            failures += 1;
            continue;
        }
        if !args.force && !args.yes {
            if !interactive {
                printer.error(&format!(
                    "refusing to remove IOC \"{name}\" without confirmation: stdin is not a terminal (use -f to remove without asking)"
                ));
                failures += 1;
                continue;
            }
            if !confirm(&format!("remove IOC \"{name}\" {what}?")) {
                printer.status(&format!("kept IOC \"{name}\""));
                continue;
            }
        }
        removals.push(Removal { name, service });
    }
    if removals.is_empty() {
        return Ok(ExitStatus::from_failures(failures));
    }
    // Stopping a service, or taking every copy of several IOCs at once, is confirmed as
    // a whole, naming each IOC and service it touches.
    let stops = removals.iter().any(|r| r.service.is_some());
    if stops || (args.force && args.remove_all && removals.len() > 1) {
        let touched: Vec<String> = removals
            .iter()
            .map(|r| match &r.service {
                Some(service) => format!("IOC \"{}\" {what}, after its service {service}", r.name),
                None => format!("IOC \"{}\" {what}", r.name),
            })
            .collect();
        let action = match (&removals[..], stops) {
            ([one], true) => format!(
                "remove service {} and then IOC \"{}\" {what}",
                one.service.as_deref().unwrap_or_default(),
                one.name
            ),
            (all, true) => format!(
                "remove these {} IOCs {what}, their deployed services first",
                all.len()
            ),
            (all, false) => format!("remove these {} IOCs {what}", all.len()),
        };
        if !confirmed(&action, &touched, args.yes)? {
            printer.status("nothing removed");
            return Ok(ExitStatus::from_failures(failures));
        }
    }
    let _lock = lock_repository(settings, printer)?;
    let services: Vec<String> = removals.iter().filter_map(|r| r.service.clone()).collect();
    let mut not_stopped = Vec::new();
    if let (false, Ok(answer)) = (services.is_empty(), &deployments)
        && let Some(engine) = &answer.engine
    {
        for (service, result) in deploy::remove(engine, &services) {
            match result {
                Ok(()) => printer.status(&format!("removed service {service}")),
                Err(e) => {
                    printer.error(&format!("{e}; its IOC is kept"));
                    not_stopped.push(service);
                }
            }
        }
    }
    for removal in removals {
        if removal
            .service
            .as_ref()
            .is_some_and(|s| not_stopped.contains(s))
        {
            failures += 1;
            continue;
        }
        let name = removal.name;
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
