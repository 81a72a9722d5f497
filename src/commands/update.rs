use crate::commands::ExitStatus;
use crate::commands::{lock_repository, report_cleared};
use crate::ioc::repository::{Repository, Upgrade};
use crate::printer::Printer;
use crate::services::catalog;
use crate::settings::Settings;

/// Rewrites every IOC in the current format, then reports what an upgrade cannot fix
/// by itself: folders that are no IOC, reserved names and names swarm refuses, hosts
/// that are no host names, options that break the schema.
/// Those make the exit code 1, since each needs the operator.
pub(crate) fn run(settings: &Settings, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let _lock = lock_repository(settings, printer)?;
    let repository = Repository::new(&settings.paths);
    // Rewriting the files needs no services.yaml; a broken one only narrows the check.
    let reserved = catalog::reserved_names(settings).unwrap_or_else(|e| {
        printer.warn(&format!("{e}; only built-in names are checked as reserved"));
        catalog::built_in_reserved_names()
    });
    let mut failures = 0;
    // IOC names are judged with the prefix: a prefix swarm refuses is the first fix.
    for bad in crate::schema::settings::check(settings, &["prefix_stack_name"]) {
        printer.error(&bad.to_string());
        failures += 1;
    }
    for (folder, why) in repository.invalid_folders()? {
        printer.error(&format!(
            "{}: not an IOC project, left alone: {why}; rename the folder",
            folder.display()
        ));
        failures += 1;
    }
    // What interrupted commands left, of this version and earlier ones.
    report_cleared(&repository.clear_leftovers(true)?, printer);
    for name in repository.names()? {
        match repository.upgrade(&name, settings) {
            Ok(Upgrade::Current) => printer.detail(&format!("IOC \"{name}\" is already current")),
            Ok(Upgrade::Rewritten { state_recreated }) => {
                if state_recreated {
                    printer.warn(&format!(
                        "IOC \"{name}\": state file was missing, recreated as \"created\""
                    ));
                }
                printer.status(&format!("updated IOC \"{name}\""));
            }
            Err(e) => {
                printer.error(&format!("IOC \"{name}\": {e}"));
                failures += 1;
                continue;
            }
        }
        for (_, message) in repository.load(&name).problems(&reserved, settings) {
            printer.error(&message);
            failures += 1;
        }
    }
    Ok(ExitStatus::from_failures(failures))
}
