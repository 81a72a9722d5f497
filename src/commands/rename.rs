use crate::ExitStatus;
use crate::commands::{deployed_ioc_service, lock_repository};
use crate::ioc::name;
use crate::ioc::repository::{Repository, RepositoryError};
use crate::ioc::workflow;
use crate::printer::Printer;
use crate::schema::{names, settings as schema_settings};
use crate::settings::Settings;
use crate::swarm::managed::ReservedNames;

pub(crate) fn run(
    old: &str,
    new: &str,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    name::validate(old)?;
    name::validate(new)?;
    let reserved = ReservedNames::load(settings)?;
    // The way out of a reserved name is a rename: OLD may have one, NEW may not.
    reserved.check(new)?;
    // So is a name swarm refuses; OLD may have one (renaming is the way out).
    schema_settings::ensure(settings, &["prefix_stack_name"])?;
    if let Err(e) = names::check_ioc_name(&settings.prefix_stack_name, new) {
        anyhow::bail!("{e}; choose another name (e.g. {})", e.new_name());
    }
    // A deployed service would keep running from the old folder under the old name.
    if let Some(service) = deployed_ioc_service(settings, old)? {
        anyhow::bail!(
            "IOC \"{old}\" is deployed as {service}; remove it first (iocdock service {old} --remove), rename, then deploy \"{new}\""
        );
    }
    let _lock = lock_repository(settings, printer)?;
    let repository = Repository::new(&settings.paths);
    let rewrite = |name: &str| {
        workflow::write_service_file(&repository, settings, &reserved, name)
            .map(|_| ())
            .map_err(|e| RepositoryError::ServiceFile {
                ioc: name.to_string(),
                message: e.to_string(),
            })
    };
    let renamed = repository.rename(old, new, &reserved, &rewrite)?;
    for (from, to) in &renamed.moved {
        printer.detail(&format!("moved {} to {}", from.display(), to.display()));
    }
    if let Some((from, to)) = renamed
        .moved
        .iter()
        .find(|(from, _)| Some(from) == renamed.migrated_from.as_ref())
    {
        printer.status(&format!(
            "moved the run folder {} of the old layout to {}",
            from.display(),
            to.display()
        ));
    }
    printer.status(&format!("renamed IOC \"{old}\" to \"{new}\""));
    Ok(ExitStatus::Success)
}
