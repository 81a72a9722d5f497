//! `iocdock service NAME... ACTION`: one function per action.

use crate::cli::{OutputFormat, ServiceArgs};
use crate::commands::deployment::{
    deploy_and_report_locked, deploy_placed_and_report, remove_and_report, unavailable,
};
use crate::commands::{ExitStatus, UsageError, only_with};
use crate::commands::{confirmed, lock_repository};
use crate::ioc::repository::Repository;
use crate::ioc::revisions::{self, FileChange, HistoryEntry, Meta, Recorded};
use crate::ioc::workflow;
use crate::printer::Printer;
use crate::services::catalog;
use crate::settings::Settings;
use crate::swarm::deploy::{self, OnExisting};
use crate::swarm::drift::{self, Consistency};
use crate::swarm::engine::{Engine, EngineFailure};
use crate::swarm::inspect::{self, InspectError};
use crate::swarm::lifecycle::{self, LifecycleError, Verb};
use crate::swarm::logs::{self, LogRequest, LogSource, LogStream, Since, stream_logs};
use crate::swarm::managed::{ManagedService, ServiceType};
use crate::swarm::rollout;

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
            "--restart, --start or --rollback",
            args.restart || args.start || args.rollback.is_some(),
        ),
        &[("--detach", args.detach)],
    )?;
    let kind = args.kind;
    let names = &args.names;
    if args.format == OutputFormat::Json && !args.show_info {
        return Err(UsageError("--format json goes with --show-info".to_string()).into());
    }
    if args.force && !(args.deploy || args.update) {
        return Err(UsageError("--force goes with --deploy or --update".to_string()).into());
    }
    if args.deploy {
        deploy(
            names,
            kind,
            OnExisting::Redeploy,
            args.force,
            settings,
            printer,
        )
    } else if args.update {
        deploy(
            names,
            kind,
            OnExisting::Restart,
            args.force,
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
        failures += deploy_placed_and_report(
            &engine,
            settings,
            &available,
            &existing,
            on_existing,
            force,
            printer,
        )?;
    }
    Ok(ExitStatus::from_failures(failures))
}

/// `--restart`, `--stop` and `--start`: one field of each deployed service's spec
/// changes, the service stays. Each service is reported; one that cannot be changed
/// fails alone. An engine that stops answering is one error for the services left.
/// Unless `detach`, the command then waits until the restarted or started services
/// run again, and fails for each that the engine gave up on or that did not.
fn lifecycle_verb(
    names: &[String],
    kind: Option<ServiceType>,
    verb: Verb,
    detach: bool,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let (services, mut failures) = resolve(names, kind, settings, printer);
    if services.is_empty() {
        return Ok(ExitStatus::from_failures(failures));
    }
    let engine = Engine::connect_for_changes()?;
    let mut watches = Vec::new();
    for (i, service) in services.iter().enumerate() {
        match lifecycle::apply(&engine, service, &settings.prefix_stack_name, verb) {
            Ok(change) => {
                printer.status(&change.to_string());
                watches.extend(change.watch());
            }
            Err(LifecycleError::Swarm(error)) if error.is_engine_failure() => {
                let left: Vec<&str> = services[i..]
                    .iter()
                    .map(|s| s.service_name.as_str())
                    .collect();
                return Err(EngineFailure {
                    error,
                    consequence: format!("not known to be changed: {}", left.join(", ")),
                }
                .into());
            }
            Err(e) => {
                printer.error(&e.to_string());
                failures += 1;
            }
        }
    }
    if !detach && !watches.is_empty() {
        failures += wait_for_rollout(&engine, settings, &watches, printer)?;
    }
    Ok(ExitStatus::from_failures(failures))
}

/// Waits for `watches` to converge, a line for each as it does (or does not), a
/// progress bar meanwhile on a terminal; returns how many did not.
fn wait_for_rollout(
    engine: &Engine,
    settings: &Settings,
    watches: &[rollout::Watch],
    printer: &Printer,
) -> anyhow::Result<usize> {
    let progress = printer.progress(watches.len(), "waiting for");
    let mut failed = 0;
    let outcome = rollout::wait(
        engine,
        &settings.prefix_stack_name,
        watches,
        rollout::LIMIT,
        &mut |watch, outcome| {
            progress.step(&watch.service_name);
            match describe_rollout(&watch.service_name, outcome) {
                Ok(line) => printer.status(&line),
                Err(line) => {
                    printer.error(&line);
                    failed += 1;
                }
            }
        },
    );
    drop(progress);
    match outcome {
        Ok(_) => Ok(failed),
        Err(error) => Err(EngineFailure {
            error,
            consequence: "the change was made; whether it converged is not known (see `iocdock swarm --show-digest`)".to_string(),
        }
        .into()),
    }
}

/// The line for one service's outcome: Ok for a status line, Err for an error line.
fn describe_rollout(service: &str, outcome: &rollout::Outcome) -> Result<String, String> {
    use rollout::Outcome;
    match outcome {
        Outcome::Converged { status, after } => {
            let health = if status.health == crate::swarm::status::Health::Healthy {
                " (healthy)"
            } else {
                ""
            };
            let nodes = status.node_text();
            let on = if nodes.is_empty() {
                String::new()
            } else {
                format!(" on {nodes}")
            };
            Ok(format!(
                "{service}: {} running{health}{on}, after {} s",
                status.replicas(),
                after.as_secs()
            ))
        }
        Outcome::GaveUp { state, message } => {
            let what = match state.as_str() {
                "rollback_completed" => "rolled the change back",
                "rollback_paused" => "paused the rollback of the change",
                _ => "paused the change",
            };
            Err(format!("{service}: the engine {what}: {message}"))
        }
        Outcome::TimedOut { status } => Err(format!(
            "{service}: not running after {} s: {} (the engine keeps trying; see `iocdock swarm --show-digest`)",
            rollout::LIMIT.as_secs(),
            status.text
        )),
        Outcome::Removed => Err(format!("{service}: removed while waiting for it")),
    }
}

/// `--history`: each IOC's revisions, newest first, with what changed against the
/// revision before. A service that is no IOC has none (the engine keeps only its
/// previous spec).
fn history(
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
fn rollback(
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
fn resolve(
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
fn deployed(
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
fn deployed_of(
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

fn show_logs(
    names: &[String],
    kind: Option<ServiceType>,
    request: LogRequest,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    // Checked first: a log request for a missing service would fail mid-stream.
    let Some((engine, deployed, failures)) = deployed_of(names, kind, settings, printer)? else {
        return Ok(ExitStatus::Failure);
    };
    let sources: Vec<LogSource> = deployed
        .into_iter()
        .filter_map(|s| s.spec?.name)
        .map(LogSource::Service)
        .collect();
    print_logs(&engine, &sources, request, printer)?;
    Ok(ExitStatus::from_failures(failures))
}

/// `--show-logs --previous`: the log of each service's task before its current one,
/// the one an operator looks at after a crash. A service without one is reported and
/// counted; the others are still shown.
fn show_previous_logs(
    names: &[String],
    kind: Option<ServiceType>,
    request: LogRequest,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let (services, mut failures) = resolve(names, kind, settings, printer);
    if services.is_empty() {
        return Ok(ExitStatus::Failure);
    }
    let engine = Engine::connect()?;
    let deployed = deployed(&engine, &services, printer, &mut failures)?;
    let ids: Vec<String> = deployed.iter().filter_map(|s| s.id.clone()).collect();
    let tasks = inspect::tasks_of(&engine, &ids)?;
    let mut sources = Vec::with_capacity(deployed.len());
    for service in &deployed {
        let (Some(id), Some(service_name)) = (
            service.id.as_deref(),
            service.spec.as_ref().and_then(|s| s.name.as_deref()),
        ) else {
            continue;
        };
        let own: Vec<bollard::models::Task> = tasks
            .iter()
            .filter(|t| t.service_id.as_deref() == Some(id))
            .cloned()
            .collect();
        match logs::previous_task(&own).and_then(|t| t.id.clone()) {
            Some(task) => sources.push(LogSource::Task {
                service: service_name.to_string(),
                task,
            }),
            None => {
                let shown = services
                    .iter()
                    .find(|s| s.service_name == service_name)
                    .map_or_else(
                        || service_name.to_string(),
                        |s| format!("{} service \"{}\" ({service_name})", s.kind, s.name),
                    );
                printer.error(&format!(
                    "{shown} has no previous task: none of the tasks the swarm keeps for it has ended (crashed or been replaced)"
                ));
                failures += 1;
            }
        }
    }
    print_logs(&engine, &sources, request, printer)?;
    Ok(ExitStatus::from_failures(failures))
}

fn print_logs(
    engine: &Engine,
    sources: &[LogSource],
    request: LogRequest,
    printer: &Printer,
) -> anyhow::Result<()> {
    stream_logs(
        engine,
        sources,
        request,
        &mut |stream, bytes| match stream {
            LogStream::Out => printer.stream_out(bytes),
            LogStream::Err => printer.stream_err(bytes),
        },
    )?;
    Ok(())
}
