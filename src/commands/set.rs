use crate::ExitStatus;
use crate::cli::EditArgs;
use crate::commands::{checked_names, ini_changes, lock_repository};
use crate::ioc::config::checked_host;
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
    let changes = ini_changes(args)?;
    if changes.is_empty() {
        printer.warn(
            "nothing to change: give -o key=value, -f FILE, a module flag or --add-asyn/--add-stream/--add-raw",
        );
        return Ok(ExitStatus::Success);
    }
    let _lock = lock_repository(settings, printer)?;
    let repository = Repository::new(&settings.paths);
    let mut failures = 0;
    for name in names {
        let result = repository
            .read_ini(name)
            .map_err(anyhow::Error::from)
            .and_then(|before| {
                let mut after = before.clone();
                changes.apply(&mut after, name, settings);
                // An ioc.ini is only written with a host that can be a path.
                checked_host(name, &after).map_err(|e| {
                    anyhow::anyhow!(
                        "{e}; nothing written (set it with -o host=swarm or a host name)"
                    )
                })?;
                health::options(name, &after).map_err(|e| {
                    anyhow::anyhow!("{e}; nothing written (set it with -s deploy -o KEY=VALUE)")
                })?;
                if after == before {
                    return Ok(false);
                }
                repository.write_ini(name, &after)?;
                Ok(true)
            });
        match result {
            Ok(true) => printer.status(&format!("updated ioc.ini of IOC \"{name}\"")),
            Ok(false) => printer.status(&format!("IOC \"{name}\": nothing changed")),
            Err(e) => {
                printer.error(&e.to_string());
                failures += 1;
            }
        }
    }
    Ok(ExitStatus::from_failures(failures))
}
