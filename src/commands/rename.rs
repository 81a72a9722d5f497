use crate::ExitStatus;
use crate::commands::{deployed_ioc_service, lock_repository};
use crate::ioc::name;
use crate::ioc::repository::{Repository, RepositoryError};
use crate::ioc::workflow;
use crate::printer::Printer;
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
