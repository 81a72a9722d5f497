//! `iocdock update-image IMAGE NAME...`: a new image (or only a new tag) for IOCs,
//! rolled out in batches. Each deployed IOC's files change only when its batch comes:
//! ioc.ini (`[IOC] image`), the startup files, the export and the service file, as
//! `exec NAME --deploy` makes them; then its service takes them with a rolling
//! restart, and the next batch waits until the batch runs. The first batch that
//! fails stops the rollout: its IOCs get their old ioc.ini (and files) back, and the
//! IOCs after it are not changed at all. IOCs that are not deployed change last,
//! files only.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal};

use crate::cli::UpdateImageArgs;
use crate::commands::deployment::deploy_and_report_locked;
use crate::commands::rollouts::in_batches;
use crate::commands::{ExitStatus, UsageError, lock_repository, valid_names};
use crate::embedded::Templates;
use crate::ini::IniDocument;
use crate::ioc::config::{IOC, SWARM_HOST};
use crate::ioc::repository::Repository;
use crate::ioc::reserved::ReservedNames;
use crate::ioc::workflow::{self, Generation, WorkflowError};
use crate::printer::Printer;
use crate::schema::ioc_ini::{self, Context};
use crate::services::catalog;
use crate::settings::Settings;
use crate::swarm::deploy::{self, OnExisting};
use crate::swarm::engine::Engine;
use crate::swarm::managed::{ManagedService, ServiceType};

/// The image option of ioc.ini's `[IOC]` section.
const IMAGE: &str = "image";

pub(crate) fn run(
    args: &UpdateImageArgs,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let wanted = Wanted::parse(&args.image)?;
    let names = names(&args.names)?;
    let (names, mut failures) = valid_names(&names, printer);
    if names.is_empty() {
        return Ok(ExitStatus::from_failures(failures));
    }
    let _lock = lock_repository(settings, printer)?;
    let work = Work {
        settings,
        printer,
        repository: Repository::new(&settings.paths),
        templates: Templates::new(&settings.paths.templates),
        reserved: catalog::reserved_names(settings)?,
        note: format!("update-image {}", args.image),
    };
    // Each IOC's current ioc.ini and the image it is to get.
    let mut plans: BTreeMap<String, Plan> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for name in names {
        if plans.contains_key(name) {
            continue;
        }
        match work.plan(name, &wanted) {
            Ok(Some(plan)) => {
                plans.insert(name.to_string(), plan);
                order.push(name.to_string());
            }
            Ok(None) => {}
            Err(e) => {
                printer.error(&e);
                failures += 1;
            }
        }
    }
    if order.is_empty() {
        return Ok(ExitStatus::from_failures(failures));
    }
    let engine = Engine::connect_for_changes()?;
    let existing = deploy::deployed(&engine, &settings.prefix_stack_name)?;
    let services: BTreeMap<String, ManagedService> = catalog::all(settings, &work.repository)?
        .into_iter()
        .filter(|s| s.kind == ServiceType::Ioc && plans.contains_key(&s.name))
        .map(|s| (s.name.clone(), s))
        .collect();
    let (deployed, files_only): (Vec<String>, Vec<String>) = order.into_iter().partition(|name| {
        services
            .get(name)
            .is_some_and(|s| existing.contains_key(&s.service_name))
    });
    let deployed: Vec<ManagedService> = deployed.iter().map(|n| services[n].clone()).collect();

    if args.detach {
        // Every file first, then one deployment of every IOC that took its files.
        let mut ready = Vec::new();
        for service in &deployed {
            match work.change(&service.name, &plans[&service.name]) {
                Ok(()) => ready.push(service.clone()),
                Err(()) => {
                    work.restore(&service.name, &plans[&service.name]);
                    failures += 1;
                }
            }
        }
        if !ready.is_empty() {
            failures += deploy_and_report_locked(
                &engine,
                settings,
                &ready,
                &existing,
                OnExisting::Restart,
                Some(&work.note),
                printer,
            )?;
        }
    } else if !deployed.is_empty() {
        let mut deploy = |batch: &[ManagedService]| -> anyhow::Result<usize> {
            let mut refused = 0;
            for service in batch {
                if work.change(&service.name, &plans[&service.name]).is_err() {
                    refused += 1;
                }
            }
            if refused > 0 {
                // Nothing of this batch is deployed: its files go back below.
                return Ok(refused);
            }
            Ok(deploy_and_report_locked(
                &engine,
                settings,
                batch,
                &existing,
                OnExisting::Restart,
                Some(&work.note),
                printer,
            )?)
        };
        let rollout = in_batches(
            &engine,
            settings,
            &deployed,
            &existing,
            OnExisting::Restart,
            printer,
            &mut deploy,
        )?;
        if rollout.failures > 0 {
            for service in &rollout.failed_batch {
                work.restore(&service.name, &plans[&service.name]);
            }
            if !files_only.is_empty() {
                printer.error(&format!(
                    "not changed either (not deployed): {}",
                    files_only.join(", ")
                ));
            }
            return Ok(ExitStatus::from_failures(failures + rollout.failures));
        }
    }
    for name in &files_only {
        if work.change(name, &plans[name]).is_err() {
            work.restore(name, &plans[name]);
            failures += 1;
        }
    }
    Ok(ExitStatus::from_failures(failures))
}

/// The names given, `-` replaced by the names on stdin (blank-separated).
fn names(given: &[String]) -> Result<Vec<String>, UsageError> {
    if !given.iter().any(|n| n == "-") {
        return Ok(given.to_vec());
    }
    if std::io::stdin().is_terminal() {
        return Err(UsageError(
            "update-image: `-` reads IOC names from stdin, which is a terminal (pipe them in, e.g. from `iocdock list host=swarm`)".to_string(),
        ));
    }
    let mut names = Vec::new();
    for given in given {
        if given != "-" {
            names.push(given.clone());
            continue;
        }
        for line in std::io::stdin().lock().lines() {
            let line =
                line.map_err(|e| UsageError(format!("update-image: cannot read stdin: {e}")))?;
            names.extend(line.split_whitespace().map(str::to_string));
        }
    }
    if names.is_empty() {
        return Err(UsageError("update-image: no IOC name on stdin".to_string()));
    }
    Ok(names)
}

/// The image asked for: a whole one, or a tag for each IOC's own image.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Wanted {
    Image(String),
    Tag(String),
}

impl Wanted {
    fn parse(text: &str) -> Result<Wanted, UsageError> {
        let text = text.trim();
        if let Some(tag) = text.strip_prefix(':') {
            let valid = !tag.is_empty()
                && tag.len() <= 128
                && tag
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
            if !valid {
                return Err(UsageError(format!(
                    "update-image: \"{text}\" is not a tag: give :TAG with letters, digits, '_', '.' or '-'"
                )));
            }
            return Ok(Wanted::Tag(tag.to_string()));
        }
        if text.is_empty() || text.chars().any(char::is_whitespace) {
            return Err(UsageError(format!(
                "update-image: \"{text}\" is not an image: give NAME:TAG, or :TAG for a new tag only"
            )));
        }
        Ok(Wanted::Image(text.to_string()))
    }

    /// The image `current` becomes.
    fn applied_to(&self, current: &str) -> String {
        match self {
            Wanted::Image(image) => image.clone(),
            Wanted::Tag(tag) => format!("{}:{tag}", without_tag(current)),
        }
    }
}

/// An image reference without its tag (and digest): the registry port stays.
fn without_tag(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    let name_start = image.rfind('/').map_or(0, |i| i + 1);
    match image[name_start..].rfind(':') {
        Some(i) => &image[..name_start + i],
        None => image,
    }
}

/// One IOC's change: its ioc.ini now and with the new image.
struct Plan {
    before: IniDocument,
    after: IniDocument,
    old_image: String,
    new_image: String,
}

struct Work<'a> {
    settings: &'a Settings,
    printer: &'a Printer,
    repository: Repository,
    templates: Templates,
    reserved: ReservedNames,
    note: String,
}

impl Work<'_> {
    /// What changes for `name`; None (and a line) when it has the image already.
    fn plan(&self, name: &str, wanted: &Wanted) -> Result<Option<Plan>, String> {
        let before = self.repository.read_ini(name).map_err(|e| e.to_string())?;
        let old_image = before.get(IOC, IMAGE).unwrap_or_default().to_string();
        if old_image.is_empty() && matches!(wanted, Wanted::Tag(_)) {
            return Err(format!(
                "IOC \"{name}\": has no image to give a new tag (set one with `iocdock update-image NAME:TAG {name}`)"
            ));
        }
        let new_image = wanted.applied_to(&old_image);
        if new_image == old_image {
            self.printer
                .status(&format!("IOC \"{name}\": on image {old_image} already"));
            return Ok(None);
        }
        let mut after = before.clone();
        after.set(IOC, IMAGE, &new_image);
        let verdict =
            ioc_ini::judge_change(Some(&before), &after, &Context::new(name, self.settings));
        if !verdict.refused.is_empty() {
            let reasons: Vec<String> = verdict.refused.iter().map(|v| v.to_string()).collect();
            return Err(format!(
                "IOC \"{name}\": nothing changed: {}",
                reasons.join("; ")
            ));
        }
        Ok(Some(Plan {
            before,
            after,
            old_image,
            new_image,
        }))
    }

    /// Writes the new ioc.ini and makes the files from it; a failure is reported,
    /// and the caller puts the old ioc.ini back (`restore`).
    fn change(&self, name: &str, plan: &Plan) -> Result<(), ()> {
        let made = self
            .repository
            .write_ini(name, &plan.after)
            .map_err(|e| e.to_string())
            .and_then(|()| self.make_files(name));
        match made {
            Ok(()) => {
                self.printer.status(&format!(
                    "IOC \"{name}\": image {} (was {})",
                    plan.new_image, plan.old_image
                ));
                Ok(())
            }
            Err(e) => {
                self.printer.error(&format!("IOC \"{name}\": {e}"));
                Err(())
            }
        }
    }

    /// Puts the old ioc.ini back and makes the files from it again.
    fn restore(&self, name: &str, plan: &Plan) {
        let restored = self
            .repository
            .write_ini(name, &plan.before)
            .map_err(|e| e.to_string())
            .and_then(|()| self.make_files(name));
        match restored {
            Ok(()) => self.printer.status(&format!(
                "IOC \"{name}\": back on image {} in its files",
                plan.old_image
            )),
            Err(e) => self.printer.error(&format!(
                "IOC \"{name}\": could not put image {} back: {e} (`iocdock set {name} -o image={}` then `iocdock exec {name} --deploy`)",
                plan.old_image, plan.old_image
            )),
        }
    }

    /// `exec NAME --deploy`: startup files, export, and for a swarm IOC its service
    /// file.
    fn make_files(&self, name: &str) -> Result<(), String> {
        let text = |e: WorkflowError| e.to_string();
        match workflow::generate(
            &self.repository,
            self.settings,
            &self.templates,
            name,
            false,
        )
        .map_err(text)?
        {
            Generation::Written(_) | Generation::Planned(_) => {}
            Generation::Invalid(problems) => {
                let reasons: Vec<String> = problems
                    .iter()
                    .map(|p| format!("{} {}", p.reason, p.message))
                    .collect();
                return Err(format!(
                    "startup files not generated: {}",
                    reasons.join("; ")
                ));
            }
        }
        workflow::export(&self.repository, self.settings, &self.reserved, name, false)
            .map_err(text)?;
        if self.repository.load(name).host() == SWARM_HOST {
            workflow::write_service_file(&self.repository, self.settings, &self.reserved, name)
                .map_err(text)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_replaces_only_the_tag_and_keeps_a_registry_port() {
        let tag = Wanted::parse(":1.2").unwrap();
        assert_eq!(
            tag.applied_to("reg:5000/ns/ioc-exec:1.1"),
            "reg:5000/ns/ioc-exec:1.2"
        );
        assert_eq!(tag.applied_to("reg:5000/ioc-exec"), "reg:5000/ioc-exec:1.2");
        assert_eq!(tag.applied_to("ioc-exec@sha256:ab"), "ioc-exec:1.2");
        assert_eq!(
            Wanted::parse("other:2").unwrap().applied_to("ioc-exec:1"),
            "other:2"
        );
    }

    #[test]
    fn a_bad_tag_or_image_is_a_usage_error() {
        for bad in [":", ":a b", ":x/y", "", "a b:1"] {
            assert!(Wanted::parse(bad).is_err(), "{bad:?}");
        }
    }
}
