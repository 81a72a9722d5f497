use crate::cli::EditArgs;
use crate::commands::ExitStatus;
use crate::commands::{ini_changes, lock_repository, valid_names, warn_missing_image_modules};
use crate::ioc::repository::Repository;
use crate::printer::Printer;
use crate::schema::ioc_ini::{self, Context};
use crate::settings::Settings;

pub(crate) fn run(
    args: &EditArgs,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let changes = ini_changes(args)?;
    if changes.is_empty() {
        printer.warn(
            "nothing to change: give -o key=value, -f FILE, a module flag or --add-asyn/--add-stream/--add-raw",
        );
        return Ok(ExitStatus::Success);
    }
    let (names, mut failures) = valid_names(&args.names, printer);
    let _lock = lock_repository(settings, printer)?;
    let repository = Repository::new(&settings.paths);
    let mut written = Vec::new();
    for name in names {
        let before = match repository.read_ini(name) {
            Ok(doc) => doc,
            Err(e) => {
                printer.error(&e.to_string());
                failures += 1;
                continue;
            }
        };
        let mut after = before.clone();
        changes.apply(&mut after, name, settings);
        let verdict = ioc_ini::judge_change(Some(&before), &after, &Context::new(name, settings));
        if !verdict.refused.is_empty() {
            for violation in &verdict.refused {
                printer.error(&violation.to_string());
            }
            printer.status(&format!("IOC \"{name}\": nothing written"));
            failures += 1;
            continue;
        }
        for warning in verdict.warnings.iter().chain(&verdict.older) {
            printer.warn(&warning.to_string());
        }
        if after == before {
            printer.status(&format!("IOC \"{name}\": nothing changed"));
            continue;
        }
        match repository.write_ini(name, &after) {
            Ok(()) => {
                printer.status(&format!("updated ioc.ini of IOC \"{name}\""));
                written.push((name.to_string(), after));
            }
            Err(e) => {
                printer.error(&e.to_string());
                failures += 1;
            }
        }
    }
    warn_missing_image_modules(&written, printer);
    Ok(ExitStatus::from_failures(failures))
}
