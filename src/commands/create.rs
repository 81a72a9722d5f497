use crate::ExitStatus;
use crate::cli::EditArgs;
use crate::commands::{checked_names, ini_changes, lock_repository, unreserved};
use crate::ioc::config::{checked_host, new_ioc_ini};
use crate::ioc::health;
use crate::ioc::repository::Repository;
use crate::printer::Printer;
use crate::settings::Settings;

pub(crate) fn run(
    args: &EditArgs,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let names = checked_names(&args.names)?;
    unreserved(&names, settings)?;
    let changes = ini_changes(args)?;
    let _lock = lock_repository(settings, printer)?;
    let repository = Repository::new(&settings.paths);
    let mut failures = 0;
    for name in names {
        let mut doc = new_ioc_ini(name, settings);
        changes.apply(&mut doc, name, settings);
        let created = checked_host(name, &doc)
            .map_err(anyhow::Error::from)
            .and_then(|_| Ok(health::options(name, &doc)?))
            .and_then(|_| Ok(repository.create(name, &doc)?));
        match created {
            Ok(()) => printer.status(&format!("created IOC \"{name}\"")),
            Err(e) => {
                printer.error(&e.to_string());
                failures += 1;
            }
        }
    }
    Ok(ExitStatus::from_failures(failures))
}
