//! What `service` and `swarm` share: finding the managed services an operator
//! names, and telling them what a deployment or removal did.

use std::collections::BTreeMap;

use crate::commands::lock_repository;
use crate::fsutil::RepositoryLock;
use crate::ioc::repository::Repository;
use crate::ioc::revisions::{self, Meta, Recorded};
use crate::ioc::workflow::{self, WorkflowError};
use crate::printer::Printer;
use crate::services::catalog;
use crate::settings::Settings;
use crate::swarm::deploy::{self, DeployError, Deployed, OnExisting, Outcome};
use crate::swarm::engine::{Engine, EngineFailure, SwarmError};
use crate::swarm::managed::{ManagedService, ServiceType};
use crate::swarm::nodes;

/// Why a service has no file to deploy from, with what makes one.
pub(crate) fn unavailable(service: &ManagedService) -> String {
    let hint = match service.kind {
        ServiceType::Ioc => format!("generate it with `iocdock exec {} --deploy`", service.name),
        ServiceType::Global | ServiceType::Local => {
            "generate it with `iocdock swarm --gen-built-in-services`".to_string()
        }
        ServiceType::Custom => "check its path in services.yaml".to_string(),
    };
    format!(
        "{} service \"{}\" is not available: {} does not exist ({hint})",
        service.kind,
        service.name,
        service.file.display()
    )
}

/// The services that may be deployed: an IOC service only when its file is what the
/// repository renders now (anything else is reported, with the difference); the
/// others as they are. Returns them and the number refused.
fn verified(
    settings: &Settings,
    services: &[ManagedService],
    printer: &Printer,
) -> (Vec<ManagedService>, usize) {
    if services.iter().all(|s| s.kind != ServiceType::Ioc) {
        return (services.to_vec(), 0);
    }
    let repository = Repository::new(&settings.paths);
    let reserved = catalog::reserved_names(settings);
    let mut ready = Vec::with_capacity(services.len());
    let mut refused = 0;
    for service in services {
        if service.kind != ServiceType::Ioc {
            ready.push(service.clone());
            continue;
        }
        let checked = match &reserved {
            Ok(reserved) => {
                workflow::verify_service_file(&repository, settings, reserved, &service.name)
                    .map_err(|e| {
                        if let WorkflowError::Drift { diff, .. } = &e {
                            printer.error_details(diff);
                        }
                        e.to_string()
                    })
            }
            Err(e) => Err(e.to_string()),
        };
        match checked {
            Ok(()) => ready.push(service.clone()),
            Err(e) => {
                printer.error(&e);
                refused += 1;
            }
        }
    }
    (ready, refused)
}

/// The repository lock when `services` include IOCs: held from checking their files
/// to recording their revisions.
fn lock_for_iocs(
    settings: &Settings,
    services: &[ManagedService],
    printer: &Printer,
) -> anyhow::Result<Option<RepositoryLock>> {
    if services.iter().any(|s| s.kind == ServiceType::Ioc) {
        Ok(Some(lock_repository(settings, printer)?))
    } else {
        Ok(None)
    }
}

/// Deploys `services` and reports each; returns the number that failed. An engine
/// that cannot be reached or stops answering is one error for all the services it
/// left in doubt. Each IOC service the engine accepted gets a revision of its files
/// (see `ioc::revisions`), so the repository lock is held from checking the files to
/// recording them.
pub(crate) fn deploy_and_report(
    engine: &Engine,
    settings: &Settings,
    services: &[ManagedService],
    existing: &BTreeMap<String, Deployed>,
    on_existing: OnExisting,
    printer: &Printer,
) -> anyhow::Result<usize> {
    let _lock = lock_for_iocs(settings, services, printer)?;
    Ok(deploy_and_report_locked(
        engine,
        settings,
        services,
        existing,
        on_existing,
        None,
        printer,
    )?)
}

/// `deploy_and_report` for a caller that holds the repository lock already; `note`
/// goes into the revisions recorded (why this deploy happened, e.g. a rollback).
pub(crate) fn deploy_and_report_locked(
    engine: &Engine,
    settings: &Settings,
    services: &[ManagedService],
    existing: &BTreeMap<String, Deployed>,
    on_existing: OnExisting,
    note: Option<&str>,
    printer: &Printer,
) -> Result<usize, EngineFailure> {
    let (services, refused) = verified(settings, services, printer);
    Ok(refused
        + deploy_verified(
            engine,
            settings,
            services,
            existing,
            on_existing,
            note,
            printer,
        )?)
}

/// `deploy_and_report`, where an IOC whose placement constraints no ready, active
/// node satisfies is refused (an error naming the IOC and the constraint, nothing
/// deployed for it), or with `force` deployed with a warning: its task stays pending.
pub(crate) fn deploy_placed_and_report(
    engine: &Engine,
    settings: &Settings,
    services: &[ManagedService],
    existing: &BTreeMap<String, Deployed>,
    on_existing: OnExisting,
    force: bool,
    printer: &Printer,
) -> anyhow::Result<usize> {
    let _lock = lock_for_iocs(settings, services, printer)?;
    let (services, mut refused) = verified(settings, services, printer);
    let mut placed = Vec::with_capacity(services.len());
    let iocs = services
        .iter()
        .filter(|s| s.kind == ServiceType::Ioc)
        .count();
    let swarm_nodes = if iocs == 0 {
        Vec::new()
    } else {
        nodes::all(engine).map_err(|error| EngineFailure {
            error,
            consequence: "without the nodes iocdock cannot tell whether they can run the IOCs, so nothing was deployed".to_string(),
        })?
    };
    for service in services {
        if service.kind != ServiceType::Ioc {
            placed.push(service);
            continue;
        }
        // A file that cannot be read fails in the deployment, with its own error.
        let constraints = match deploy::planned(&service, &settings.prefix_stack_name) {
            Ok(plan) => plan
                .spec
                .task_template
                .and_then(|t| t.placement)
                .and_then(|p| p.constraints)
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        match nodes::placeable(&constraints, &swarm_nodes) {
            Ok(()) => placed.push(service),
            Err(why) if force => {
                printer.warn(&format!(
                    "IOC {}: {why}; deployed anyway (--force): its task waits, pending, for such a node",
                    service.name
                ));
                placed.push(service);
            }
            Err(why) => {
                printer.error(&format!(
                    "IOC {}: no node can run it: {why}; not deployed (--force deploys it anyway)",
                    service.name
                ));
                refused += 1;
            }
        }
    }
    Ok(refused
        + deploy_verified(
            engine,
            settings,
            placed,
            existing,
            on_existing,
            None,
            printer,
        )?)
}

fn deploy_verified(
    engine: &Engine,
    settings: &Settings,
    services: Vec<ManagedService>,
    existing: &BTreeMap<String, Deployed>,
    on_existing: OnExisting,
    note: Option<&str>,
    printer: &Printer,
) -> Result<usize, EngineFailure> {
    if services.is_empty() {
        return Ok(0);
    }
    let report = deploy::deploy(
        engine,
        &settings.prefix_stack_name,
        &services,
        existing,
        on_existing,
        &crate::services::push_registry_addresses(settings),
    )
    .map_err(|error| EngineFailure {
        error,
        consequence: "nothing was deployed".to_string(),
    })?;
    for network in &report.networks {
        printer.status(&format!("created network {network}"));
    }
    for note in &report.notes {
        printer.detail(note);
    }
    for warning in &report.warnings {
        printer.warn(warning);
    }
    let mut failures = 0;
    let mut in_doubt = InDoubt::default();
    let mut accepted = Vec::new();
    for (name, result) in report.services {
        match result {
            Ok(Outcome::Created { id }) => {
                printer.status(&format!("created service {name}"));
                printer.detail(&format!("{name}: id {id}"));
                accepted.push(name);
            }
            Ok(Outcome::Updated { .. }) => {
                printer.status(&format!("updated service {name}"));
                accepted.push(name);
            }
            Ok(Outcome::Restarted { .. }) => {
                printer.status(&format!("updating service {name} with a rolling restart"));
                accepted.push(name);
            }
            Err(DeployError::Swarm(e)) if e.is_engine_failure() => in_doubt.add(name, e),
            Err(e) => {
                printer.error(&e.to_string());
                failures += 1;
            }
        }
    }
    let iocs: Vec<&ManagedService> = services
        .iter()
        .filter(|s| s.kind == ServiceType::Ioc && accepted.contains(&s.service_name))
        .collect();
    failures += record_revisions(settings, &iocs, note, printer);
    in_doubt.into_result("deployed", failures)
}

/// Records a revision of each IOC whose service the engine accepted; returns how
/// many could not be recorded (each reported: the deploy happened, but a rollback to
/// it will not be possible).
fn record_revisions(
    settings: &Settings,
    iocs: &[&ManagedService],
    note: Option<&str>,
    printer: &Printer,
) -> usize {
    if iocs.is_empty() {
        return 0;
    }
    let repository = Repository::new(&settings.paths);
    let mut meta = Meta::new(
        chrono::Utc::now(),
        &crate::oplog::operator(),
        &crate::oplog::command_line(),
    );
    if let Some(note) = note {
        meta = meta.with_note(note);
    }
    let keep = usize::try_from(settings.ioc_revisions_kept).unwrap_or(usize::MAX);
    let mut failures = 0;
    for ioc in iocs {
        match revisions::record(&repository, &ioc.name, &meta, keep) {
            Ok(Recorded::New { number, pruned }) => {
                printer.detail(&format!("IOC {}: recorded revision {number}", ioc.name));
                if !pruned.is_empty() {
                    let pruned: Vec<String> = pruned.iter().map(u64::to_string).collect();
                    printer.detail(&format!(
                        "IOC {}: deleted revision {} (ioc_revisions_kept: {keep})",
                        ioc.name,
                        pruned.join(", ")
                    ));
                }
            }
            Ok(Recorded::Unchanged { number }) => printer.detail(&format!(
                "IOC {}: files as in revision {number}; no new revision",
                ioc.name
            )),
            Err(e) => {
                printer.error(&format!(
                    "{} was deployed, but its revision was not recorded: {e}",
                    ioc.service_name
                ));
                failures += 1;
            }
        }
    }
    failures
}

/// Services whose request got no answer, and why.
#[derive(Default)]
struct InDoubt {
    names: Vec<String>,
    error: Option<SwarmError>,
}

impl InDoubt {
    fn add(&mut self, name: String, error: SwarmError) {
        self.names.push(name);
        self.error.get_or_insert(error);
    }

    fn into_result(self, done: &str, failures: usize) -> Result<usize, EngineFailure> {
        match self.error {
            None => Ok(failures),
            Some(error) => Err(EngineFailure {
                error,
                consequence: format!(
                    "not known whether these were {done}: {} (`iocdock swarm --show-digest` tells once the engine answers)",
                    self.names.join(", ")
                ),
            }),
        }
    }
}

/// Removes services by name and reports each; returns the number that failed.
pub(crate) fn remove_and_report(
    engine: &Engine,
    names: &[String],
    printer: &Printer,
) -> Result<usize, EngineFailure> {
    let mut failures = 0;
    let mut in_doubt = InDoubt::default();
    for (name, result) in deploy::remove(engine, names) {
        match result {
            Ok(()) => printer.status(&format!("removed service {name}")),
            Err(e) if e.is_engine_failure() => in_doubt.add(name, e),
            Err(e) => {
                printer.error(&e.to_string());
                failures += 1;
            }
        }
    }
    in_doubt.into_result("removed", failures)
}
