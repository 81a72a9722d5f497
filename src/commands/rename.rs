use crate::cli::RenameArgs;
use crate::commands::ExitStatus;
use crate::commands::{confirmed, deployed_ioc_services, lock_repository};
use crate::embedded::Templates;
use crate::ioc::repository::{Repository, RepositoryError};
use crate::ioc::workflow::{self, Followed};
use crate::printer::Printer;
use crate::schema::ioc_name as name;
use crate::schema::{names, settings as schema_settings};
use crate::services::catalog;
use crate::settings::Settings;
use crate::swarm::deploy;
use crate::swarm::engine::EngineFailure;

pub(crate) fn run(
    args: &RenameArgs,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let (old, new) = (args.old.as_str(), args.new.as_str());
    name::validate(old)?;
    name::validate(new)?;
    let reserved = catalog::reserved_names(settings)?;
    // The way out of a reserved name is a rename: OLD may have one, NEW may not.
    reserved.check(new)?;
    // So is a name swarm refuses; OLD may have one (renaming is the way out).
    schema_settings::ensure(settings, &["prefix_stack_name"])?;
    if let Err(e) = names::check_ioc_name(&settings.prefix_stack_name, new) {
        anyhow::bail!("{e}; choose another name (e.g. {})", e.new_name());
    }
    let repository = Repository::new(&settings.paths);
    if !repository.exists(old) {
        return Err(RepositoryError::Missing(old.to_string()).into());
    }
    // A deployed service would keep running from the old folder under the old name.
    let deployments = deployed_ioc_services(settings, &[old]).map_err(|error| EngineFailure {
        error,
        consequence: format!(
            "cannot tell whether IOC \"{old}\" is deployed, so it was not renamed"
        ),
    })?;
    let service = deployments.deployed.get(old).cloned();
    if let Some(service) = &service {
        if !args.force {
            anyhow::bail!(
                "IOC \"{old}\" is deployed as {service}; remove it first (iocdock service {old} --remove), or rename with --force, which removes it; then deploy \"{new}\""
            );
        }
        let action = format!("remove service {service} to rename IOC \"{old}\" to \"{new}\"");
        if !confirmed(&action, std::slice::from_ref(service), args.yes)? {
            printer.status("nothing renamed");
            return Ok(ExitStatus::Success);
        }
    }
    let _lock = lock_repository(settings, printer)?;
    if let (Some(service), Some(engine)) = (&service, &deployments.engine) {
        for (_, result) in deploy::remove(engine, std::slice::from_ref(service)) {
            result.map_err(|e| anyhow::anyhow!("{e}; IOC \"{old}\" was not renamed"))?;
        }
        printer.status(&format!("removed service {service}"));
    }
    // A service file that cannot be rendered for the new name (its startup files cannot
    // be made either: the regeneration below says why and blocks deploys) must not stay
    // behind under that name with the old name's paths.
    let rewrite = |name: &str| {
        if workflow::write_service_file(&repository, settings, &reserved, name).is_ok() {
            return Ok(());
        }
        let path = repository.service_file(name);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(RepositoryError::ServiceFile {
                ioc: name.to_string(),
                message: format!(
                    "{}: cannot remove the old name's service file: {e}",
                    path.display()
                ),
            }),
        }
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
    let templates = Templates::new(&settings.paths.templates);
    let followed = workflow::follow_rename(&repository, settings, &templates, &reserved, old, new)?;
    let status = match followed {
        Followed::NothingGenerated => ExitStatus::Success,
        Followed::Regenerated { exported, autosave } => {
            for file in &autosave {
                printer.detail(&format!("renamed autosave file to {}", file.display()));
            }
            match exported {
                Some(exported) => printer.status(&format!(
                    "IOC \"{new}\": startup files made under the new name and exported to {} (settings and logs kept)",
                    exported.target.display()
                )),
                None => printer.status(&format!(
                    "IOC \"{new}\": startup files made under the new name"
                )),
            }
            ExitStatus::Success
        }
        Followed::Blocked { reason } => {
            printer.error(&format!(
                "IOC \"{new}\": startup files not made under the new name: {reason}; status is created, so it is neither exported nor deployed until `iocdock exec {new} --deploy` succeeds"
            ));
            ExitStatus::Failure
        }
    };
    if service.is_some() && status == ExitStatus::Success {
        printer.status(&format!(
            "deploy it under its new name: iocdock service {new} --deploy"
        ));
    }
    Ok(status)
}
