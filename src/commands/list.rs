use std::fmt::Write as _;
use std::time::Duration;

use crate::cli::ListArgs;
use crate::ioc::config::{self, parse_section};
use crate::ioc::consistency::{running_consistency, snapshot_consistency};
use crate::ioc::query::Condition;
use crate::ioc::repository::{IocProject, Repository};
use crate::printer::{Printer, ellipsize, table};
use crate::settings::Settings;
use crate::swarm::engine::SwarmError;
use crate::swarm::managed::{self, ReservedNames};
use crate::swarm::status::{DeployStatus, SwarmView, fetch_quickly};
use crate::{ExitStatus, UsageError};

const BANNER_WIDTH: usize = 70;
/// `list -p` must stay quick: a daemon that does not answer within this time is
/// treated as unreachable and the panel prints without deployments.
const DOCKER_LIMIT: Duration = Duration::from_secs(2);

pub(crate) fn run(
    args: &ListArgs,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let section = parse_section(&args.section).map_err(|e| UsageError(e.to_string()))?;
    let conditions = args
        .conditions
        .iter()
        .map(|raw| Condition::parse(raw, &section))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| UsageError(e.to_string()))?;
    // `-s RAW` alone selects the IOCs that have that section.
    let needs_section = section != config::IOC && !conditions.iter().any(Condition::reads_option);

    let repository = Repository::new(&settings.paths);
    let all = repository.names()?;
    for (folder, why) in repository.invalid_folders()? {
        printer.warn(&format!(
            "{}: not an IOC project, left out: {why}; rename the folder",
            folder.display()
        ));
    }
    let mut status = ExitStatus::Success;
    let candidates: Vec<&str> = match &args.list_from {
        None => all.iter().map(String::as_str).collect(),
        Some(wanted) => {
            let mut picked = Vec::with_capacity(wanted.len());
            for name in wanted {
                if all.binary_search(name).is_ok() {
                    if !picked.contains(&name.as_str()) {
                        picked.push(name.as_str());
                    }
                } else {
                    printer.error(&format!("IOC \"{name}\" does not exist in the repository"));
                    status = ExitStatus::Failure;
                }
            }
            picked
        }
    };

    // Name conditions need no file, so they narrow the list before anything is read.
    let (by_name, by_content): (Vec<Condition>, Vec<Condition>) =
        conditions.into_iter().partition(Condition::on_name_only);
    let candidates: Vec<&str> = candidates
        .into_iter()
        .filter(|name| by_name.iter().all(|c| c.matches_name(name)))
        .collect();
    let names_only = !(args.description || args.info || args.panel);
    if names_only && by_content.is_empty() && !needs_section {
        if !candidates.is_empty() {
            printer.line(&candidates.join(" "));
        }
        return Ok(status);
    }

    let reserved = ReservedNames::load(settings).unwrap_or_else(|e| {
        printer.warn(&format!("{e}; only built-in names are checked as reserved"));
        ReservedNames::built_in()
    });
    let selected: Vec<IocProject> = repository
        .load_many(&candidates)
        .into_iter()
        .map(|mut ioc| {
            ioc.note_problems(&reserved);
            ioc
        })
        .filter(|ioc| !needs_section || ioc.ini.as_ref().is_some_and(|d| d.has_section(&section)))
        .filter(|ioc| by_content.iter().all(|c| c.matches(ioc)))
        .collect();

    if args.description {
        printer.data(&description_table(&selected));
    } else if args.info {
        printer.data(&info_blocks(&selected));
    } else if args.panel {
        // The swarm is asked while the files are compared: neither waits for the other.
        let (view, consistency) = std::thread::scope(|scope| {
            let fetch = (!selected.is_empty())
                .then(|| scope.spawn(|| fetch_quickly(&settings.prefix_stack_name, DOCKER_LIMIT)));
            let consistency = consistency_columns(&repository, &selected);
            let view = fetch.map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            });
            (view, consistency)
        });
        let deploy_status = deploy_statuses(settings, &repository, &selected, view, printer);
        printer.data(&panel_table(&selected, &deploy_status, &consistency));
    } else if !selected.is_empty() {
        let names: Vec<&str> = selected.iter().map(|ioc| ioc.name.as_str()).collect();
        printer.line(&names.join(" "));
    }
    for ioc in &selected {
        if ioc.ini.is_none() || !ioc.state.errors.is_empty() {
            printer.detail(&format!(
                "IOC \"{}\" is in state error: {}",
                ioc.name,
                ioc.state.state_info()
            ));
        }
    }
    Ok(status)
}

fn description(ioc: &IocProject) -> &str {
    ioc.get(config::IOC, "description").unwrap_or("")
}

fn description_table(iocs: &[IocProject]) -> String {
    let rows: Vec<Vec<String>> = iocs
        .iter()
        .map(|ioc| vec![ioc.name.clone(), ellipsize(description(ioc), 80)])
        .collect();
    table(&["IOC", "Description"], &rows)
}

/// A value as `key: value`, continuation lines indented like in ioc.ini.
fn push_option(out: &mut String, key: &str, value: &str) {
    let _ = writeln!(out, "{key}: {}", value.replace('\n', "\n\t"));
}

fn info_blocks(iocs: &[IocProject]) -> String {
    let mut out = String::new();
    for ioc in iocs {
        let title = format!(" \"{}\" ", ioc.name);
        let pad = BANNER_WIDTH.saturating_sub(title.chars().count());
        let left = pad / 2;
        let _ = writeln!(out, "{}{title}{}", "=".repeat(left), "=".repeat(pad - left));
        out.push_str("[STATE]\n");
        for (key, value) in ioc.state.display_lines() {
            push_option(&mut out, key, &value);
        }
        out.push('\n');
        if let Some(doc) = &ioc.ini {
            for section in doc.sections() {
                let _ = writeln!(out, "[{}]", section.name);
                for (key, value) in &section.options {
                    push_option(&mut out, key, value);
                }
                out.push('\n');
            }
        }
    }
    out
}

/// The DeployStatus column: the digest's status text of each IOC's service, or
/// `unknown (...)` for all of them, with one warning, when the swarm cannot be read.
fn deploy_statuses(
    settings: &Settings,
    repository: &Repository,
    iocs: &[IocProject],
    view: Option<Result<SwarmView, SwarmError>>,
    printer: &Printer,
) -> Vec<DeployStatus> {
    let Some(view) = view else {
        return Vec::new();
    };
    let view: SwarmView = match view {
        Ok(view) => view,
        Err(e) => {
            let unknown = match e {
                SwarmError::Unreachable { .. } | SwarmError::Runtime(_) => "docker unreachable",
                SwarmError::NotManager { .. } => "not a swarm manager",
                SwarmError::Api { .. } => "docker error",
            };
            printer.warn(&format!("DeployStatus unknown: {e}"));
            return vec![DeployStatus::unknown(unknown); iocs.len()];
        }
    };
    // `available` looks for each service file: on every core, as the file comparisons.
    crate::parallel::map(iocs, |ioc| {
        let service = managed::ioc_service(settings, repository, &ioc.name);
        view.status(&service.service_name, service.available())
    })
}

/// SnapshotConsistency and RunningConsistency of each IOC, computed on every core.
fn consistency_columns(repository: &Repository, iocs: &[IocProject]) -> Vec<[String; 2]> {
    crate::parallel::map(iocs, |ioc| {
        [
            snapshot_consistency(repository, ioc).to_string(),
            running_consistency(repository, ioc).to_string(),
        ]
    })
}

fn panel_table(
    iocs: &[IocProject],
    deploy_status: &[DeployStatus],
    consistency: &[[String; 2]],
) -> String {
    let rows: Vec<Vec<String>> = iocs
        .iter()
        .zip(deploy_status)
        .zip(consistency)
        .map(|((ioc, deploy_status), [snapshot, running])| {
            vec![
                ioc.name.clone(),
                ioc.host().to_string(),
                ellipsize(description(ioc), 37),
                ioc.state.health.to_string(),
                ioc.state.status.to_string(),
                deploy_status.text.clone(),
                deploy_status.node_text(),
                snapshot.clone(),
                running.clone(),
            ]
        })
        .collect();
    table(
        &[
            "IOC",
            "Host",
            "Description",
            "State",
            "Status",
            "DeployStatus",
            "Node",
            "SnapshotConsistency",
            "RunningConsistency",
        ],
        &rows,
    )
}
