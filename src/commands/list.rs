use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::cli::{ListArgs, OutputFormat};
use crate::commands::{ExitStatus, UsageError, only_with};
use crate::ioc::config::{self, parse_key_value, parse_section};
use crate::ioc::consistency::{running_consistency, snapshot_consistency};
use crate::ioc::query::Condition;
use crate::ioc::repository::{IocProject, Repository};
use crate::printer::{Printer, ellipsize};
use crate::services::catalog;
use crate::services::panel::{self, IocDeployment, PanelCondition, PanelView};
use crate::settings::Settings;
use crate::swarm::drift::Planned;
use crate::swarm::engine::SwarmError;
use crate::table::Table;

const BANNER_WIDTH: usize = 70;
/// `list -p` must stay quick: a daemon that does not answer within this time is
/// treated as unreachable and the panel prints without deployments.
const DOCKER_LIMIT: Duration = Duration::from_secs(2);

pub(crate) fn run(
    args: &ListArgs,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    only_with(("--panel", args.panel), &[("--check", args.check)])?;
    let section = parse_section(&args.section).map_err(|e| UsageError(e.to_string()))?;
    // Conditions on the deployment need the engine; the others the repository only.
    let mut on_deployment = Vec::new();
    let mut conditions = Vec::new();
    for raw in &args.conditions {
        if let Ok((key, value)) = parse_key_value(raw)
            && let Some(parsed) = PanelCondition::parse(&key, value.trim())
        {
            let condition = parsed.map_err(|accepted| {
                UsageError(format!("condition \"{raw}\": {key} is one of {accepted}"))
            })?;
            on_deployment.push(condition);
            continue;
        }
        conditions.push(Condition::parse(raw, &section).map_err(|e| UsageError(e.to_string()))?);
    }
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
    if names_only && by_content.is_empty() && !needs_section && on_deployment.is_empty() {
        print_names(&candidates, args.format, printer);
        return Ok(status);
    }

    let reserved = catalog::reserved_names(settings).unwrap_or_else(|e| {
        printer.warn(&format!("{e}; only built-in names are checked as reserved"));
        catalog::built_in_reserved_names()
    });
    for bad in crate::schema::settings::check(settings, &["prefix_stack_name"]) {
        printer.warn(&format!("{bad}; IOC names are not checked against it"));
    }
    let selected: Vec<IocProject> = repository
        .load_many(&candidates)
        .into_iter()
        .map(|mut ioc| {
            ioc.note_problems(&reserved, settings);
            ioc
        })
        .filter(|ioc| !needs_section || ioc.ini.as_ref().is_some_and(|d| d.has_section(&section)))
        .filter(|ioc| by_content.iter().all(|c| c.matches(ioc)))
        .collect();

    let needs_engine = args.panel || !on_deployment.is_empty();
    let names: Vec<&str> = selected.iter().map(|ioc| ioc.name.as_str()).collect();
    // The swarm is asked while the files are compared and the service files
    // translated: neither waits for the other.
    let (view, consistency, planned) = std::thread::scope(|scope| {
        let fetch = (needs_engine && !selected.is_empty()).then(|| {
            scope.spawn(|| panel::fetch_quickly(&settings.prefix_stack_name, DOCKER_LIMIT))
        });
        let consistency = if args.panel {
            consistency_columns(&repository, &selected)
        } else {
            Vec::new()
        };
        // Translating every service file is worth it only while the engine is still
        // answering: when it has answered, only the deployed services' files are
        // translated (an undeployed IOC has no drift), after.
        let still_waiting = fetch.as_ref().is_some_and(|f| !f.is_finished());
        let planned = if still_waiting {
            panel::planned(settings, &repository, &names)
        } else {
            Vec::new()
        };
        let view = fetch.map(|handle| {
            handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
        (view, consistency, planned)
    });
    let deployments = match view {
        Some(view) => deployments(settings, &repository, &names, &planned, view, printer),
        None => Vec::new(),
    };
    // Keeps the IOCs (and their columns) the deployment conditions select.
    let keep: Vec<bool> = (0..selected.len())
        .map(|i| {
            deployments
                .get(i)
                .is_none_or(|d| on_deployment.iter().all(|c| c.matches(d)))
        })
        .collect();
    let pick = |i: usize| keep.get(i).copied().unwrap_or(true);
    let listed: Vec<&IocProject> = selected
        .iter()
        .enumerate()
        .filter(|(i, _)| pick(*i))
        .map(|(_, ioc)| ioc)
        .collect();

    if args.description {
        match args.format {
            OutputFormat::Text => printer.table(&description_table(&listed)),
            OutputFormat::Json => printer.json(&IocList {
                version: 1,
                iocs: listed.iter().map(|ioc| IocJson::described(ioc)).collect(),
            }),
        }
    } else if args.info {
        match args.format {
            OutputFormat::Text => printer.data(&info_blocks(&listed)),
            OutputFormat::Json => printer.json(&IocList {
                version: 1,
                iocs: listed.iter().map(|ioc| IocJson::informed(ioc)).collect(),
            }),
        }
    } else if args.panel {
        let rows: Vec<PanelRow> = selected
            .iter()
            .zip(&deployments)
            .zip(&consistency)
            .enumerate()
            .filter(|(i, _)| pick(*i))
            .map(|(_, ((ioc, deployment), [snapshot, running]))| PanelRow {
                ioc,
                deployment,
                snapshot,
                running,
            })
            .collect();
        match args.format {
            OutputFormat::Text => printer.table(&panel_table(&rows)),
            OutputFormat::Json => printer.json(&PanelJson {
                version: 1,
                iocs: rows.iter().map(PanelRow::json).collect(),
            }),
        }
        if args.check {
            let troubled: Vec<&str> = rows
                .iter()
                .filter(|r| !r.deployment.is_fine())
                .map(|r| r.ioc.name.as_str())
                .collect();
            if !troubled.is_empty() {
                printer.status(&format!(
                    "not running, healthy and consistent: {}",
                    troubled.join(" ")
                ));
                if status == ExitStatus::Success {
                    status = ExitStatus::CheckFailed;
                }
            }
        }
    } else {
        let names: Vec<&str> = listed.iter().map(|ioc| ioc.name.as_str()).collect();
        print_names(&names, args.format, printer);
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

fn print_names(names: &[&str], format: OutputFormat, printer: &Printer) {
    match format {
        OutputFormat::Text => {
            if !names.is_empty() {
                printer.line(&names.join(" "));
            }
        }
        OutputFormat::Json => printer.json(&IocList {
            version: 1,
            iocs: names
                .iter()
                .map(|name| IocJson {
                    name,
                    description: None,
                    state: None,
                    sections: None,
                })
                .collect(),
        }),
    }
}

/// `list --format json` (every view but -p): docs/schema/list.schema.json.
#[derive(Serialize)]
struct IocList<'a> {
    version: u32,
    iocs: Vec<IocJson<'a>>,
}

#[derive(Serialize)]
struct IocJson<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    /// `-i`: state, state_info, status, snapshot, is_exported.
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<BTreeMap<&'static str, String>>,
    /// `-i`: each section of ioc.ini with its options, in file order.
    #[serde(skip_serializing_if = "Option::is_none")]
    sections: Option<Vec<SectionJson<'a>>>,
}

#[derive(Serialize)]
struct SectionJson<'a> {
    name: &'a str,
    options: BTreeMap<&'a str, &'a str>,
}

impl<'a> IocJson<'a> {
    fn described(ioc: &'a IocProject) -> IocJson<'a> {
        IocJson {
            name: &ioc.name,
            description: Some(description(ioc)),
            state: None,
            sections: None,
        }
    }

    fn informed(ioc: &'a IocProject) -> IocJson<'a> {
        IocJson {
            name: &ioc.name,
            description: None,
            state: Some(ioc.state.display_lines().into_iter().collect()),
            sections: Some(
                ioc.ini
                    .as_ref()
                    .map(|doc| {
                        doc.sections()
                            .iter()
                            .map(|section| SectionJson {
                                name: &section.name,
                                options: section
                                    .options
                                    .iter()
                                    .map(|(k, v)| (k.as_str(), v.as_str()))
                                    .collect(),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
        }
    }
}

fn description_table(iocs: &[&IocProject]) -> Table {
    let rows: Vec<Vec<String>> = iocs
        .iter()
        .map(|ioc| vec![ioc.name.clone(), ellipsize(description(ioc), 80)])
        .collect();
    Table::new(&["IOC", "Description"], rows)
}

/// A value as `key: value`, continuation lines indented like in ioc.ini.
fn push_option(out: &mut String, key: &str, value: &str) {
    let _ = writeln!(out, "{key}: {}", value.replace('\n', "\n\t"));
}

fn info_blocks(iocs: &[&IocProject]) -> String {
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

/// The deployment of each IOC, or `unknown (...)` for all of them, with one warning,
/// when the swarm cannot be read.
fn deployments(
    settings: &Settings,
    repository: &Repository,
    names: &[&str],
    planned: &[Option<Planned>],
    view: Result<PanelView, SwarmError>,
    printer: &Printer,
) -> Vec<IocDeployment> {
    match view {
        Ok(view) => panel::deployments(settings, repository, names, planned, &view),
        Err(e) => {
            let unknown = match e {
                SwarmError::Unreachable { .. } | SwarmError::Runtime(_) => "docker unreachable",
                SwarmError::NotManager { .. } => "not a swarm manager",
                SwarmError::Api { .. } => "docker error",
                SwarmError::PlainTcp { .. }
                | SwarmError::UnsupportedEndpoint { .. }
                | SwarmError::TlsSetUp { .. } => "DOCKER_HOST refused",
            };
            printer.warn(&format!("DeployStatus unknown: {e}"));
            vec![IocDeployment::unknown(unknown); names.len()]
        }
    }
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

struct PanelRow<'a> {
    ioc: &'a IocProject,
    deployment: &'a IocDeployment,
    snapshot: &'a str,
    running: &'a str,
}

/// `list -p --format json`: docs/schema/list-panel.schema.json.
#[derive(Serialize)]
struct PanelJson<'a> {
    version: u32,
    iocs: Vec<PanelRowJson<'a>>,
}

#[derive(Serialize)]
struct PanelRowJson<'a> {
    name: &'a str,
    host: &'a str,
    description: &'a str,
    state: String,
    status: String,
    deploy: &'a crate::swarm::status::DeployStatus,
    snapshot_consistency: &'a str,
    running_consistency: &'a str,
    service_consistency: &'a crate::swarm::drift::Drift,
}

impl PanelRow<'_> {
    fn json(&self) -> PanelRowJson<'_> {
        PanelRowJson {
            name: &self.ioc.name,
            host: self.ioc.host(),
            description: description(self.ioc),
            state: self.ioc.state.health.to_string(),
            status: self.ioc.state.status.to_string(),
            deploy: &self.deployment.status,
            snapshot_consistency: self.snapshot,
            running_consistency: self.running,
            service_consistency: &self.deployment.drift,
        }
    }
}

fn panel_table(rows: &[PanelRow]) -> Table {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.ioc.name.clone(),
                r.ioc.host().to_string(),
                ellipsize(description(r.ioc), 37),
                r.ioc.state.health.to_string(),
                r.ioc.state.status.to_string(),
                r.deployment.status.text.clone(),
                r.deployment.status.node_text(),
                r.snapshot.to_string(),
                r.running.to_string(),
                r.deployment.drift.consistency.to_string(),
            ]
        })
        .collect();
    Table::new(
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
            "ServiceConsistency",
        ],
        rows,
    )
}
