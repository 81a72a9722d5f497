//! `iocdock service NAME... ACTION`: one function per action.

use crate::cli::{OutputFormat, ServiceArgs};
use crate::commands::confirmed;
use crate::commands::deployment::{deploy_placed_and_report, remove_and_report, unavailable};
use crate::commands::{ExitStatus, UsageError, only_with};
use crate::ioc::repository::Repository;
use crate::printer::Printer;
use crate::services::catalog;
use crate::settings::Settings;
use crate::swarm::deploy::{self, OnExisting};
use crate::swarm::drift::{self, Consistency};
use crate::swarm::engine::Engine;
use crate::swarm::inspect::{self, InspectError};
use crate::swarm::lifecycle::Verb;
use crate::swarm::logs::{LogRequest, Since};
use crate::swarm::managed::{ManagedService, ServiceType};

mod attach;
mod logs;
mod revisions;
mod verbs;

use logs::{show_logs, show_previous_logs};
use revisions::{history, rollback};
use verbs::lifecycle_verb;
pub(crate) use verbs::wait_for_rollout;

pub(crate) fn run(
    args: &ServiceArgs,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    only_with(
        ("--show-logs", args.show_logs),
        &[
            ("--follow", args.follow),
            ("--tail", args.tail.is_some()),
            ("--since", args.since.is_some()),
            ("--timestamps", args.timestamps),
            ("--previous", args.previous),
        ],
    )?;
    only_with(
        ("--check-deploy", args.check_deploy),
        &[("--exit-code", args.exit_code)],
    )?;
    only_with(("--remove", args.remove), &[("--yes", args.yes)])?;
    only_with(
        ("--deploy or --update", args.deploy || args.update),
        &[("--force", args.force)],
    )?;
    only_with(
        (
            "--deploy, --update, --restart, --start or --rollback",
            args.deploy || args.update || args.restart || args.start || args.rollback.is_some(),
        ),
        &[("--detach", args.detach)],
    )?;
    let kind = args.kind;
    let names = &args.names;
    if args.format == OutputFormat::Json && !args.show_info {
        return Err(UsageError("--format json goes with --show-info".to_string()).into());
    }
    if args.deploy {
        deploy(
            names,
            kind,
            OnExisting::Redeploy,
            args.force,
            args.detach,
            settings,
            printer,
        )
    } else if args.update {
        deploy(
            names,
            kind,
            OnExisting::Restart,
            args.force,
            args.detach,
            settings,
            printer,
        )
    } else if args.restart {
        lifecycle_verb(names, kind, Verb::Restart, args.detach, settings, printer)
    } else if args.stop {
        lifecycle_verb(names, kind, Verb::Stop, args.detach, settings, printer)
    } else if args.start {
        lifecycle_verb(names, kind, Verb::Start, args.detach, settings, printer)
    } else if args.history {
        history(names, kind, settings, printer)
    } else if let Some(rev) = &args.rollback {
        rollback(names, kind, rev.as_deref(), args.detach, settings, printer)
    } else if let Some(command) = &args.exec {
        attach::exec(names, kind, command, settings, printer)
    } else if args.attach {
        attach::attach(names, kind, settings, printer)
    } else if args.remove {
        remove(names, kind, args.yes, settings, printer)
    } else if args.show_config {
        show_config(names, kind, settings, printer)
    } else if args.show_info {
        show_info(names, kind, args.format, settings, printer)
    } else if args.check_deploy {
        check_deploy(names, kind, args.exit_code, settings, printer)
    } else if args.show_logs {
        let since = args
            .since
            .as_deref()
            .map(|text| Since::parse(text, chrono::Utc::now()))
            .transpose()
            .map_err(|e| UsageError(format!("--since {e}")))?;
        let request = LogRequest {
            follow: args.follow,
            tail: args.tail,
            since,
            timestamps: args.timestamps,
        };
        if args.previous {
            show_previous_logs(names, kind, request, settings, printer)
        } else {
            show_logs(names, kind, request, settings, printer)
        }
    } else {
        Err(UsageError("service: choose an action, e.g. --show-info".to_string()).into())
    }
}

/// `--deploy` (create, or apply the file keeping running tasks when nothing
/// changed) and `--update` (apply the file with a rolling restart); an IOC no node
/// can run is refused unless `force`.
fn deploy(
    names: &[String],
    kind: Option<ServiceType>,
    on_existing: OnExisting,
    force: bool,
    detach: bool,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let engine = Engine::connect_for_changes()?;
    let (services, mut failures) = resolve(names, kind, settings, printer);
    let (available, missing): (Vec<_>, Vec<_>) =
        services.into_iter().partition(ManagedService::available);
    for service in &missing {
        printer.error(&unavailable(service));
        failures += 1;
    }
    if !available.is_empty() {
        let existing = deploy::deployed(&engine, &settings.prefix_stack_name)?;
        let failed = deploy_placed_and_report(
            &engine,
            settings,
            &available,
            &existing,
            on_existing,
            force,
            printer,
        )?;
        failures += failed;
        if !detach && failed == 0 {
            // A service applied in place without a restart (`--deploy` of a deployed
            // one) has no mark for its new copies: the engine only starts an update
            // when the tasks must change, so it is not waited for.
            let waited: Vec<ManagedService> = available
                .into_iter()
                .filter(|s| {
                    on_existing == OnExisting::Restart || !existing.contains_key(&s.service_name)
                })
                .collect();
            let (watches, missed) = crate::commands::rollouts::watches(
                &engine,
                &waited,
                &existing,
                on_existing,
                printer,
            );
            failures += missed;
            if !watches.is_empty() {
                failures += verbs::wait_for_rollout(&engine, settings, &watches, printer)?;
            }
        }
    }
    Ok(ExitStatus::from_failures(failures))
}

/// `--remove`: removes the deployed services; a service that is not deployed is
/// an error (nothing to remove), like `docker service rm`. What runs stops, so it is
/// confirmed first.
fn remove(
    names: &[String],
    kind: Option<ServiceType>,
    yes: bool,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let engine = Engine::connect_for_changes()?;
    let (services, mut failures) = resolve(names, kind, settings, printer);
    let existing = deploy::deployed(&engine, &settings.prefix_stack_name)?;
    let mut to_remove = Vec::with_capacity(services.len());
    for service in services {
        if existing.contains_key(&service.service_name) {
            to_remove.push(service.service_name);
        } else {
            printer.error(&format!(
                "{} service \"{}\" is not deployed ({} does not exist)",
                service.kind, service.name, service.service_name
            ));
            failures += 1;
        }
    }
    if to_remove.is_empty() {
        return Ok(ExitStatus::from_failures(failures));
    }
    let action = match to_remove.as_slice() {
        [one] => format!("remove service {one}"),
        many => format!("remove these {} services", many.len()),
    };
    if !confirmed(&action, &to_remove, yes)? {
        printer.status("nothing removed");
        return Ok(ExitStatus::from_failures(failures));
    }
    failures += remove_and_report(&engine, &to_remove, printer)?;
    Ok(ExitStatus::from_failures(failures))
}

/// The managed services the names stand for; a name that is none is reported and
/// counted, the others are still shown.
pub(super) fn resolve(
    names: &[String],
    kind: Option<ServiceType>,
    settings: &Settings,
    printer: &Printer,
) -> (Vec<ManagedService>, usize) {
    let repository = Repository::new(&settings.paths);
    let mut found: Vec<ManagedService> = Vec::with_capacity(names.len());
    let mut failures = 0;
    for name in names {
        match catalog::find(settings, &repository, name, kind) {
            Ok(service) if !found.contains(&service) => found.push(service),
            Ok(_) => {}
            Err(e) => {
                printer.error(&e.to_string());
                failures += 1;
            }
        }
    }
    (found, failures)
}

/// The deployed swarm service of each managed one, with the undeployed ones reported.
pub(super) fn deployed(
    engine: &Engine,
    services: &[ManagedService],
    printer: &Printer,
    failures: &mut usize,
) -> anyhow::Result<Vec<bollard::models::Service>> {
    let mut out = Vec::with_capacity(services.len());
    for s in services {
        match inspect::service(engine, &s.service_name) {
            Ok(service) => out.push(service),
            Err(InspectError::NotDeployed { service }) => {
                printer.error(&format!(
                    "{} ({}) is not deployed: no swarm service {service}",
                    s.name, s.kind
                ));
                *failures += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

/// The deployed services the names stand for, with the engine and how many names
/// failed (unknown or not deployed, each reported); None when no name is known.
pub(super) fn deployed_of(
    names: &[String],
    kind: Option<ServiceType>,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<Option<(Engine, Vec<bollard::models::Service>, usize)>> {
    let (services, mut failures) = resolve(names, kind, settings, printer);
    if services.is_empty() {
        return Ok(None);
    }
    let engine = Engine::connect()?;
    let deployed = deployed(&engine, &services, printer, &mut failures)?;
    Ok(Some((engine, deployed, failures)))
}

fn show_config(
    names: &[String],
    kind: Option<ServiceType>,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let Some((engine, deployed, failures)) = deployed_of(names, kind, settings, printer)? else {
        return Ok(ExitStatus::Failure);
    };
    let networks = inspect::network_names(&engine, &deployed);
    let now = chrono::Utc::now();
    for (i, service) in deployed.iter().enumerate() {
        if i > 0 {
            printer.line("");
        }
        printer.data(&inspect::service_config(service, &networks, now));
    }
    Ok(ExitStatus::from_failures(failures))
}

/// `--check-deploy`: each service's verdict, then the fields that differ between
/// its service file and the deployed service. With `--exit-code`, a service that
/// is not consistent makes the exit code 4.
fn check_deploy(
    names: &[String],
    kind: Option<ServiceType>,
    exit_code: bool,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let (services, failures) = resolve(names, kind, settings, printer);
    if services.is_empty() {
        return Ok(ExitStatus::Failure);
    }
    let engine = Engine::connect()?;
    let mut deployed = Vec::with_capacity(services.len());
    for service in &services {
        match inspect::service(&engine, &service.service_name) {
            Ok(found) => deployed.push(Some(found)),
            Err(InspectError::NotDeployed { .. }) => deployed.push(None),
            Err(e) => return Err(e.into()),
        }
    }
    let networks = engine.run(drift::network_names(
        engine.docker(),
        deployed.iter().flatten(),
    ))?;
    let mut troubled = 0;
    for (service, found) in services.iter().zip(&deployed) {
        let verdict = match found {
            None => drift::Drift::not_deployed(),
            Some(found) => drift::check(
                &drift::plan(service, &settings.prefix_stack_name),
                found,
                &networks,
                crate::swarm::status::update_note(found).as_ref(),
            ),
        };
        if verdict.consistency != Consistency::Consistent {
            troubled += 1;
        }
        printer.line(&format!(
            "{} ({}): {}",
            service.name, service.service_name, verdict.consistency
        ));
        if let Some(note) = &verdict.note {
            printer.line(&format!("  {note}"));
        }
        for field in &verdict.fields {
            printer.line(&format!("  {field}"));
        }
    }
    Ok(if failures > 0 {
        ExitStatus::Failure
    } else if exit_code && troubled > 0 {
        ExitStatus::CheckFailed
    } else {
        ExitStatus::Success
    })
}

fn show_info(
    names: &[String],
    kind: Option<ServiceType>,
    format: OutputFormat,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let Some((engine, deployed, failures)) = deployed_of(names, kind, settings, printer)? else {
        return Ok(ExitStatus::Failure);
    };
    if !deployed.is_empty() {
        let service_names: std::collections::HashMap<String, String> = deployed
            .iter()
            .filter_map(|s| Some((s.id.clone()?, s.spec.as_ref()?.name.clone()?)))
            .collect();
        let ids: Vec<String> = service_names.keys().cloned().collect();
        let tasks = inspect::tasks_of(&engine, &ids)?;
        let node_names = inspect::all_nodes(&engine)?
            .into_iter()
            .filter_map(|n| Some((n.id?, n.description?.hostname?)))
            .collect();
        let now = chrono::Utc::now();
        match format {
            OutputFormat::Text => printer.table(&inspect::tasks_table(
                &tasks,
                &service_names,
                &node_names,
                now,
            )),
            OutputFormat::Json => {
                printer.json(&inspect::tasks_json(&tasks, &service_names, &node_names))
            }
        }
    } else if format == OutputFormat::Json {
        printer.json(&inspect::tasks_json(
            &[],
            &Default::default(),
            &Default::default(),
        ));
    }
    Ok(ExitStatus::from_failures(failures))
}
