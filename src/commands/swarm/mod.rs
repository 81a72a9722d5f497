//! `iocdock swarm ACTION`: one function per action over groups of managed services.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, IsTerminal};

use crate::cli::{OutputFormat, SwarmArgs};
use crate::commands::deployment::{deploy_and_report, remove_and_report, unavailable};
use crate::commands::rollouts::{deploy_in_batches, in_batches};
use crate::commands::{ExitStatus, UsageError, only_with};
use crate::commands::{ask, confirmed};
use crate::ioc::repository::Repository;
use crate::printer::Printer;
use crate::services::catalog;
use crate::services::{self, Answers, Outcome};
use crate::settings::Settings;
use crate::swarm::deploy::{self, Deployed, OnExisting};
use crate::swarm::engine::{Engine, EngineFailure};
use crate::swarm::inspect;
use crate::swarm::managed::{ManagedService, ServiceType};
use crate::swarm::nodes::{self, LabelChange};
use crate::swarm::status::{SwarmView, digest};
use crate::table::Table;

mod backups;
mod node_ops;

use backups::{backup_swarm, restore_swarm};
use node_ops::{activate_node, change_labels, drain_node, rebalance};

pub(crate) fn run(
    args: &SwarmArgs,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    only_with(
        ("--show-digest", args.show_digest),
        &[("--service-type", !args.service_type.is_empty())],
    )?;
    only_with(
        ("--restore-swarm", args.restore_swarm),
        &[("--backup-file", args.backup_file.is_some())],
    )?;
    only_with(
        (
            "--drain-node, --update-deployed-services or --deploy-all-iocs",
            args.drain_node.is_some() || args.update_deployed_services || args.deploy_all_iocs,
        ),
        &[("--detach", args.detach)],
    )?;
    only_with(
        ("--deploy-all-iocs", args.deploy_all_iocs),
        &[("--force", args.force)],
    )?;
    let format = args.format;
    if format == OutputFormat::Json && !(args.show_digest || args.show_services || args.show_nodes)
    {
        return Err(UsageError(
            "--format json goes with --show-digest, --show-services or --show-nodes".to_string(),
        )
        .into());
    }
    if args.gen_built_in_services {
        gen_built_in_services(args.yes, settings, printer)
    } else if args.deploy_global_services {
        deploy_global_services(settings, printer)
    } else if args.deploy_all_iocs {
        deploy_all_iocs(args.force, args.detach, settings, printer)
    } else if args.remove_global_services {
        remove_group(Group::Global, args.yes, settings, printer)
    } else if args.remove_all_iocs {
        remove_group(Group::Iocs, args.yes, settings, printer)
    } else if args.remove_all_services {
        remove_group(Group::All, args.yes, settings, printer)
    } else if args.show_digest {
        show_digest(&args.service_type, format, settings, printer)
    } else if args.show_services {
        show_services(args.detail, format, printer)
    } else if args.show_nodes {
        show_nodes(args.detail, format, printer)
    } else if args.show_tokens {
        show_tokens(printer)
    } else if args.list_managed_services {
        list_managed_services(settings, printer)
    } else if args.update_deployed_services {
        update_deployed_services(args.yes, args.detach, settings, printer)
    } else if args.backup_swarm {
        backup_swarm(args.yes, settings, printer)
    } else if let (true, Some(file)) = (args.restore_swarm, &args.backup_file) {
        restore_swarm(file, args.yes, settings, printer)
    } else if let [node, labels @ ..] = args.label_node.as_slice() {
        let pairs = labels
            .iter()
            .map(|l| nodes::parse_label(l))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| UsageError(format!("--label-node: {e}")))?;
        change_labels(node, &LabelChange::Set(pairs), printer)
    } else if let [node, keys @ ..] = args.unlabel_node.as_slice() {
        let keys = keys
            .iter()
            .map(|k| nodes::parse_label_key(k))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| UsageError(format!("--unlabel-node: {e}")))?;
        change_labels(node, &LabelChange::Remove(keys), printer)
    } else if let Some(node) = &args.drain_node {
        drain_node(node, args.detach, args.yes, settings, printer)
    } else if let Some(node) = &args.activate_node {
        activate_node(node, printer)
    } else if args.rebalance {
        rebalance(args.yes, settings, printer)
    } else {
        Err(UsageError("swarm: choose an action, e.g. --show-digest".to_string()).into())
    }
}

/// The daemon, every managed service, and what the stack has deployed (one list).
fn survey(
    settings: &Settings,
) -> anyhow::Result<(Engine, Vec<ManagedService>, BTreeMap<String, Deployed>)> {
    let engine = Engine::connect_for_changes()?;
    let services = catalog::all(settings, &Repository::new(&settings.paths))?;
    let deployed = deploy::deployed(&engine, &settings.prefix_stack_name)?;
    Ok((engine, services, deployed))
}

/// `--deploy-all-iocs`: every IOC with a service file that is not deployed yet, each
/// only when some node can run it (unless `force`), in batches that must run before
/// the next starts (unless `detach`: all at once, no waiting).
fn deploy_all_iocs(
    force: bool,
    detach: bool,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let (engine, services, deployed) = survey(settings)?;
    let todo: Vec<ManagedService> = services
        .into_iter()
        .filter(|s| s.kind == ServiceType::Ioc && s.available())
        .filter(|s| !deployed.contains_key(&s.service_name))
        .collect();
    if todo.is_empty() {
        printer.status("every available IOC is deployed already");
        return Ok(ExitStatus::Success);
    }
    let failures = deploy_in_batches(
        &engine,
        settings,
        &todo,
        &deployed,
        OnExisting::Redeploy,
        force,
        detach,
        printer,
    )?;
    Ok(ExitStatus::from_failures(failures))
}

/// `--deploy-global-services`: every built-in global service with a service file;
/// deployed ones take their current file as `docker stack deploy` would.
fn deploy_global_services(settings: &Settings, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let (engine, services, deployed) = survey(settings)?;
    let (available, missing): (Vec<_>, Vec<_>) = services
        .into_iter()
        .filter(|s| s.kind == ServiceType::Global)
        .partition(ManagedService::available);
    for service in &missing {
        printer.detail(&unavailable(service));
    }
    if available.is_empty() {
        printer.error(&format!(
            "no global service file in {} (generate them with `iocdock swarm --gen-built-in-services`)",
            catalog::global_services_dir(settings).display()
        ));
        return Ok(ExitStatus::Failure);
    }
    let failures = deploy_and_report(
        &engine,
        settings,
        &available,
        &deployed,
        OnExisting::Redeploy,
        printer,
    )?;
    Ok(ExitStatus::from_failures(failures))
}

/// `--update-deployed-services`: every deployed managed service takes its current
/// file with a rolling restart (a deployed service whose file is gone fails). Every
/// IOC and service restarts, so it is confirmed first. The other services go first,
/// at once; then the IOC services in batches (see `commands::rollouts`), unless
/// `detach`: then every service at once, without waiting.
fn update_deployed_services(
    yes: bool,
    detach: bool,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let (engine, services, deployed) = survey(settings)?;
    let (available, missing): (Vec<_>, Vec<_>) = services
        .into_iter()
        .filter(|s| deployed.contains_key(&s.service_name))
        .partition(ManagedService::available);
    let mut failures = 0;
    for service in &missing {
        printer.error(&unavailable(service));
        failures += 1;
    }
    if available.is_empty() && missing.is_empty() {
        printer.status("no managed service is deployed");
        return Ok(ExitStatus::Success);
    }
    if !available.is_empty() {
        let names: Vec<String> = available.iter().map(|s| s.service_name.clone()).collect();
        let action = format!(
            "restart these {} services, replacing their tasks one by one",
            names.len()
        );
        if !confirmed(&action, &names, yes)? {
            printer.status("nothing restarted");
            return Ok(ExitStatus::from_failures(failures));
        }
    }
    if detach {
        failures += deploy_and_report(
            &engine,
            settings,
            &available,
            &deployed,
            OnExisting::Restart,
            printer,
        )?;
        return Ok(ExitStatus::from_failures(failures));
    }
    let (iocs, others): (Vec<_>, Vec<_>) = available
        .into_iter()
        .partition(|s| s.kind == ServiceType::Ioc);
    if !others.is_empty() {
        failures += deploy_and_report(
            &engine,
            settings,
            &others,
            &deployed,
            OnExisting::Restart,
            printer,
        )?;
    }
    if !iocs.is_empty() {
        let mut deploy = |batch: &[ManagedService]| {
            deploy_and_report(
                &engine,
                settings,
                batch,
                &deployed,
                OnExisting::Restart,
                printer,
            )
        };
        failures += in_batches(
            &engine,
            settings,
            &iocs,
            &deployed,
            OnExisting::Restart,
            printer,
            &mut deploy,
        )?
        .failures;
    }
    Ok(ExitStatus::from_failures(failures))
}

#[derive(Debug, Clone, Copy)]
enum Group {
    Global,
    Iocs,
    All,
}

impl Group {
    fn describe(self, prefix: &str) -> String {
        match self {
            Group::Global => "the global services".to_string(),
            Group::Iocs => "every IOC service".to_string(),
            Group::All => format!("every service of stack {prefix}"),
        }
    }
}

/// The three removals. IOC services are those of the repository's IOCs and any
/// other service of the stack labelled `service-type: ioc` (an IOC removed from
/// the repository while deployed); "all" is every service of the stack.
fn remove_group(
    group: Group,
    yes: bool,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let (engine, services, deployed) = survey(settings)?;
    let of_kind = |kind: ServiceType| -> BTreeSet<&str> {
        services
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| s.service_name.as_str())
            .collect()
    };
    let names: Vec<String> = match group {
        Group::Global => {
            let global = of_kind(ServiceType::Global);
            deployed
                .keys()
                .filter(|n| global.contains(n.as_str()))
                .cloned()
                .collect()
        }
        Group::Iocs => {
            let iocs = of_kind(ServiceType::Ioc);
            deployed
                .iter()
                .filter(|(n, d)| {
                    iocs.contains(n.as_str()) || d.service_type.as_deref() == Some("ioc")
                })
                .map(|(n, _)| n.clone())
                .collect()
        }
        Group::All => deployed.keys().cloned().collect(),
    };
    let what = group.describe(&settings.prefix_stack_name);
    if names.is_empty() {
        printer.status(&format!("nothing to remove: none of {what} is deployed"));
        return Ok(ExitStatus::Success);
    }
    let action = format!("remove these {} services ({what})", names.len());
    if !confirmed(&action, &names, yes)? {
        printer.status("nothing removed");
        return Ok(ExitStatus::Success);
    }
    let failures = remove_and_report(&engine, &names, printer)?;
    Ok(ExitStatus::from_failures(failures))
}

/// Every managed service in digest order (by type, then name).
fn managed_services(settings: &Settings) -> anyhow::Result<Vec<ManagedService>> {
    let repository = Repository::new(&settings.paths);
    let mut services = catalog::all(settings, &repository)?;
    services.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    Ok(services)
}

/// `swarm --show-digest --format json`: docs/schema/swarm-digest.schema.json.
#[derive(serde::Serialize)]
struct DigestJson<'a> {
    version: u32,
    services: Vec<DigestRowJson<'a>>,
}

#[derive(serde::Serialize)]
struct DigestRowJson<'a> {
    name: &'a str,
    service_name: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    deploy: &'a crate::swarm::status::DeployStatus,
}

fn show_digest(
    types: &[ServiceType],
    format: OutputFormat,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let wanted = types;
    let services: Vec<ManagedService> = managed_services(settings)?
        .into_iter()
        .filter(|s| wanted.is_empty() || wanted.contains(&s.kind))
        .collect();
    let engine = Engine::connect()?;
    let view = engine.run(SwarmView::fetch(
        engine.docker(),
        engine.raw(),
        &settings.prefix_stack_name,
    ))??;
    let rows = digest(&view, &services);
    if format == OutputFormat::Json {
        printer.json(&DigestJson {
            version: 1,
            services: rows
                .iter()
                .map(|r| DigestRowJson {
                    name: &r.name,
                    service_name: &r.service_name,
                    kind: r.kind.as_str(),
                    deploy: &r.status,
                })
                .collect(),
        });
        return Ok(ExitStatus::Success);
    }
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|r| {
            vec![
                r.name,
                r.service_name,
                r.kind.to_string(),
                r.status.replicas(),
                r.status.node_text(),
                r.status.text,
            ]
        })
        .collect();
    printer.table(&Table::new(
        &["Name", "ServiceName", "Type", "Replicas", "Node", "Status"],
        rows,
    ));
    Ok(ExitStatus::Success)
}

fn show_services(
    detail: bool,
    format: OutputFormat,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let engine = Engine::connect()?;
    let services = inspect::all_services(&engine)?;
    match format {
        OutputFormat::Text => printer.table(&inspect::services_table(
            &services,
            detail,
            chrono::Utc::now(),
        )),
        OutputFormat::Json => printer.json(&inspect::services_json(&services)),
    }
    Ok(ExitStatus::Success)
}

fn show_nodes(detail: bool, format: OutputFormat, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let engine = Engine::connect()?;
    let this_node = inspect::this_node_id(&engine)?;
    let nodes = inspect::all_nodes(&engine)?;
    match format {
        OutputFormat::Text => {
            printer.table(&inspect::nodes_table(&nodes, &this_node, detail));
            printer.line("");
            printer.data(&inspect::node_labels(&nodes));
        }
        OutputFormat::Json => printer.json(&inspect::nodes_json(&nodes, &this_node)),
    }
    Ok(ExitStatus::Success)
}

fn show_tokens(printer: &Printer) -> anyhow::Result<ExitStatus> {
    let engine = Engine::connect()?;
    let swarm = inspect::swarm(&engine)?;
    let addr = inspect::manager_addr(&engine)?;
    printer.data(&inspect::join_commands(&swarm, &addr));
    Ok(ExitStatus::Success)
}

/// Needs no daemon: what the tool manages and whether each has its service file.
fn list_managed_services(settings: &Settings, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let rows: Vec<Vec<String>> = managed_services(settings)?
        .into_iter()
        .map(|s| {
            let available = if s.available() { "yes" } else { "no" };
            vec![
                s.name,
                s.kind.to_string(),
                s.service_name,
                available.to_string(),
            ]
        })
        .collect();
    printer.table(&Table::new(
        &["Name", "Type", "ServiceName", "Available"],
        rows,
    ));
    Ok(ExitStatus::Success)
}

/// The built-in services that are deployed, or, when the daemon cannot tell and
/// `--yes` is given, none (with a warning).
fn deployed_built_ins(
    yes: bool,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<BTreeSet<String>> {
    let prefix = format!("{}_srv-", settings.prefix_stack_name);
    let listed =
        Engine::connect().and_then(|engine| deploy::service_names_starting_with(&engine, &prefix));
    match listed {
        Ok(names) => Ok(names),
        Err(e) if yes => {
            printer.warn(&format!(
                "{e}; cannot tell which built-in services are deployed, writing their files anyway (--yes)"
            ));
            Ok(BTreeSet::new())
        }
        Err(error) => Err(EngineFailure {
            error,
            consequence: "without it iocdock cannot tell which built-in services are deployed, so nothing was written (--yes writes anyway)".to_string(),
        }
        .into()),
    }
}

/// `--gen-built-in-services`: render every built-in service into `$MOUNT_PATH/swarm`.
fn gen_built_in_services(
    yes: bool,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    services::check_settings(settings)?;
    let certs = services::missing_registry_certs(settings);
    if certs.is_empty() {
        // The registry service mounts these files: a wrong or expired set is caught here,
        // not when the registry refuses its first client.
        let report = crate::cluster::certs::verify_registry_certs(settings)?;
        for warning in &report.warnings {
            printer.warn(warning);
        }
    } else {
        let names: Vec<String> = certs.iter().map(|p| p.display().to_string()).collect();
        printer.warn(&format!(
            "the registry needs {} before it is deployed (iocdock make-certs writes them)",
            names.join(" and ")
        ));
        let files = crate::cluster::certs::CertFiles::of(settings);
        if let Some(warning) = crate::cluster::certs::run_directory_key_warning(&files) {
            printer.warn(&warning);
        }
    }
    let deployed = deployed_built_ins(yes, settings, printer)?;
    let mut answers = Answers::new();
    let missing = services::missing_secrets(settings);
    if !missing.is_empty() && !io::stdin().is_terminal() {
        return Err(missing[0].missing_error(settings).into());
    }
    for secret in missing {
        let question = format!("{} ({})", secret.key(), secret.purpose());
        let answer = ask(&question, secret.hidden())?;
        if answer.is_empty() {
            return Err(secret.missing_error(settings).into());
        }
        if let Some(problem) = secret.problem(&answer) {
            anyhow::bail!("{problem}; nothing was written");
        }
        if secret.hidden() && ask(&format!("{} again", secret.key()), true)? != answer {
            anyhow::bail!(
                "the two {} entries differ; nothing was written",
                secret.key()
            );
        }
        answers.insert(secret, answer);
    }
    let sources = crate::embedded::ServiceSources::new(&settings.paths.services).all()?;
    let rendering = services::render(settings, &sources, &answers)?;
    for origin in &rendering.ignored {
        printer.warn(&format!(
            "{origin}: not part of a built-in service (expected global-services/<name>... or <local service>/...), ignored"
        ));
    }
    let outcomes = services::write(&rendering, &deployed)?;
    let mut refused = 0;
    for (service, outcome) in &outcomes {
        match outcome {
            Outcome::Written(files) => {
                printer.status(&format!(
                    "{}: wrote {} file{}",
                    service.name,
                    files.len(),
                    if files.len() == 1 { "" } else { "s" }
                ));
                for file in files {
                    printer.detail(&format!("  {}", rendering.root.join(file).display()));
                }
            }
            Outcome::Unchanged => printer.status(&format!("{}: up to date", service.name)),
            Outcome::Refused(files) => {
                refused += 1;
                printer.error(&format!(
                    "{} is deployed as {} and these files would change: {}; left as they are (remove the service, generate again, then deploy it)",
                    service.name,
                    service.service_name,
                    files.join(", ")
                ));
            }
        }
    }
    printer.status(&format!(
        "built-in services are in {}",
        rendering.root.display()
    ));
    Ok(ExitStatus::from_failures(refused))
}
