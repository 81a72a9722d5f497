//! What `service` and `swarm` share: finding the managed services an operator
//! names, and telling them what a deployment or removal did.

use std::collections::BTreeMap;

use crate::cli::ServiceTypeArg;
use crate::ioc::repository::Repository;
use crate::ioc::workflow::{self, WorkflowError};
use crate::printer::Printer;
use crate::settings::Settings;
use crate::swarm::deploy::{self, Deployed, OnExisting, Outcome};
use crate::swarm::engine::Engine;
use crate::swarm::managed::{ManagedService, ReservedNames, ServiceType};

pub(crate) fn service_type(kind: ServiceTypeArg) -> ServiceType {
    match kind {
        ServiceTypeArg::Ioc => ServiceType::Ioc,
        ServiceTypeArg::Global => ServiceType::Global,
        ServiceTypeArg::Local => ServiceType::Local,
        ServiceTypeArg::Custom => ServiceType::Custom,
    }
}

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
    let reserved = ReservedNames::load(settings);
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

/// Deploys `services` and reports each; returns the number that failed.
pub(crate) fn deploy_and_report(
    engine: &Engine,
    settings: &Settings,
    services: &[ManagedService],
    existing: &BTreeMap<String, Deployed>,
    on_existing: OnExisting,
    printer: &Printer,
) -> usize {
    let (services, refused) = verified(settings, services, printer);
    if services.is_empty() {
        return refused;
    }
    let report = deploy::deploy(
        engine,
        &settings.prefix_stack_name,
        &services,
        existing,
        on_existing,
        &crate::services::push_registry_addresses(settings),
    );
    for network in &report.networks {
        printer.status(&format!("created network {network}"));
    }
    for note in &report.notes {
        printer.detail(note);
    }
    for warning in &report.warnings {
        printer.warn(warning);
    }
    let mut failures = refused;
    for (name, result) in &report.services {
        match result {
            Ok(Outcome::Created { id }) => {
                printer.status(&format!("created service {name}"));
                printer.detail(&format!("{name}: id {id}"));
            }
            Ok(Outcome::Updated { .. }) => printer.status(&format!("updated service {name}")),
            Ok(Outcome::Restarted { .. }) => {
                printer.status(&format!("updating service {name} with a rolling restart"))
            }
            Err(e) => {
                printer.error(&e.to_string());
                failures += 1;
            }
        }
    }
    failures
}

/// Removes services by name and reports each; returns the number that failed.
pub(crate) fn remove_and_report(engine: &Engine, names: &[String], printer: &Printer) -> usize {
    let mut failures = 0;
    for (name, result) in deploy::remove(engine, names) {
        match result {
            Ok(()) => printer.status(&format!("removed service {name}")),
            Err(e) => {
                printer.error(&e.to_string());
                failures += 1;
            }
        }
    }
    failures
}
