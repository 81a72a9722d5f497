use crate::cli::EditArgs;
use crate::commands::ExitStatus;
use crate::commands::{ini_changes, lock_repository, valid_names};
use crate::ioc::config::new_ioc_ini;
use crate::ioc::repository::Repository;
use crate::printer::Printer;
use crate::schema::ioc_ini::{self, Context};
use crate::schema::{names, settings as schema_settings};
use crate::services::catalog;
use crate::settings::Settings;

/// Creates every valid name; a name or an ioc.ini that is refused is reported and
/// counted, and the other IOCs are still created.
pub(crate) fn run(
    args: &EditArgs,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let changes = ini_changes(args)?;
    // Settings every new IOC is made from: wrong, they would make every IOC wrong.
    schema_settings::ensure(settings, schema_settings::NEW_IOC)?;
    let reserved = catalog::reserved_names(settings)?;
    let (names, mut failures) = valid_names(&args.names, printer);
    let _lock = lock_repository(settings, printer)?;
    let repository = Repository::new(&settings.paths);
    let mut created = Vec::new();
    for name in names {
        if let Err(e) = reserved.check(name) {
            printer.error(&e.to_string());
            failures += 1;
            continue;
        }
        if let Err(e) = names::check_ioc_name(&settings.prefix_stack_name, name) {
            printer.error(&format!("{e}; choose another name (e.g. {})", e.new_name()));
            failures += 1;
            continue;
        }
        let mut doc = new_ioc_ini(name, settings);
        changes.apply(&mut doc, name, settings);
        let verdict = ioc_ini::judge_change(None, &doc, &Context::new(name, settings));
        if !verdict.refused.is_empty() {
            for violation in &verdict.refused {
                printer.error(&violation.to_string());
            }
            printer.status(&format!("IOC \"{name}\" not created"));
            failures += 1;
            continue;
        }
        for warning in &verdict.warnings {
            printer.warn(&warning.to_string());
        }
        match repository.create(name, &doc) {
            Ok(()) => {
                printer.status(&format!("created IOC \"{name}\""));
                created.push((name.to_string(), doc));
            }
            Err(e) => {
                printer.error(&e.to_string());
                failures += 1;
            }
        }
    }
    super::warn_missing_image_modules(&created, printer);
    Ok(ExitStatus::from_failures(failures))
}
