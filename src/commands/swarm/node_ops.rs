//! `swarm --label-node`, `--unlabel-node`, `--drain-node`, `--activate-node` and
//! `--rebalance`: the nodes IOCs run on.

use crate::commands::{ExitStatus, confirmed};
use crate::printer::Printer;
use crate::settings::Settings;
use crate::swarm::engine::Engine;
use crate::swarm::nodes::{self, Availability, LabelChange, Stuck};

/// `--label-node` and `--unlabel-node`: prints the node's labels afterwards.
pub(super) fn change_labels(
    node: &str,
    change: &LabelChange,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let engine = Engine::connect_for_changes()?;
    let changed = nodes::change_labels(&engine, node, change)?;
    printer.line(&format!(
        "{}: {}",
        nodes::hostname(&changed),
        nodes::label_text(&nodes::labels_of(&changed))
    ));
    Ok(ExitStatus::Success)
}

/// `--activate-node`: the node takes tasks again; swarm places there what is pending
/// for it, but moves nothing that runs elsewhere (`--rebalance` does).
pub(super) fn activate_node(node: &str, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let engine = Engine::connect_for_changes()?;
    let changed = nodes::set_availability(&engine, node, Availability::Active)?;
    printer.status(&format!(
        "{}: availability {}",
        nodes::hostname(&changed),
        Availability::Active.word()
    ));
    Ok(ExitStatus::Success)
}

/// One line for an IOC that did not move.
fn stuck_line(stuck: &Stuck, waited: &str) -> String {
    match stuck {
        Stuck::Pinned { ioc, node, why } => {
            format!("{ioc}: cannot leave {node}: {why}")
        }
        Stuck::NotMoved { ioc, node, state } => format!(
            "{ioc}: not running on another node than {node} within {waited}: its task is {state}"
        ),
    }
}

/// `--drain-node`: the node takes no more tasks; swarm moves its tasks. Waits (up to
/// `node_drain_timeout`) until its IOCs run elsewhere and prints `IOC: from -> to`
/// for each; an IOC that did not move is an error. Its IOCs restart elsewhere, so it
/// is confirmed first.
pub(super) fn drain_node(
    node: &str,
    detach: bool,
    yes: bool,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let engine = Engine::connect_for_changes()?;
    let prefix = &settings.prefix_stack_name;
    let (host, iocs) = nodes::iocs_on(&engine, prefix, node)?;
    if !iocs.is_empty() {
        let action = format!(
            "drain node {host}: these {} IOCs stop there and start on other nodes",
            iocs.len()
        );
        if !confirmed(&action, &iocs, yes)? {
            printer.status("nothing changed");
            return Ok(ExitStatus::Success);
        }
        // The operator's time to answer is not the engine's.
        engine.renew();
    }
    let timeout = &settings.node_drain_timeout;
    let wait = (!detach).then(|| std::time::Duration::from_secs(timeout.whole_seconds()));
    if wait.is_some() && !iocs.is_empty() {
        printer.status(&format!(
            "{host}: availability drain; waiting up to {} (node_drain_timeout) for {} IOCs to run elsewhere",
            timeout.as_text(),
            iocs.len()
        ));
    }
    let report = nodes::drain(&engine, prefix, node, wait)?;
    if wait.is_none() || iocs.is_empty() {
        printer.status(&format!("{}: availability drain", report.node));
    }
    if !report.leaving.is_empty() {
        printer.status(&format!(
            "swarm moves these IOCs off {}: {}",
            report.node,
            report.leaving.join(", ")
        ));
    }
    for moved in &report.moved {
        printer.line(&format!("{}: {} -> {}", moved.ioc, moved.from, moved.to));
    }
    for stuck in &report.stuck {
        printer.error(&stuck_line(stuck, timeout.as_text()));
    }
    Ok(ExitStatus::from_failures(report.stuck.len()))
}

/// `--rebalance`: moves IOC services, `rebalance_batch_size` at a time, from the most
/// loaded node that may run IOCs to the least loaded, until their counts differ by at
/// most one. Each moved IOC restarts, so it is confirmed first.
pub(super) fn rebalance(
    yes: bool,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let engine = Engine::connect_for_changes()?;
    let batch = settings.rebalance_batch_size as usize;
    let per_node = |load: &std::collections::BTreeMap<String, usize>| {
        load.iter()
            .map(|(node, count)| format!("{node} {count}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let before = nodes::ioc_load(&engine, &settings.prefix_stack_name)?;
    let most = before.values().max().copied().unwrap_or(0);
    let least = before.values().min().copied().unwrap_or(0);
    if most <= least + 1 {
        printer.status("nothing to move: the IOC services are spread as evenly as they can be");
        printer.status(&format!("IOC services per node: {}", per_node(&before)));
        return Ok(ExitStatus::Success);
    }
    let action = format!(
        "move IOC services of stack {} between these nodes, {batch} at a time (each one moved restarts)",
        settings.prefix_stack_name
    );
    let touched: Vec<String> = before
        .iter()
        .map(|(node, count)| format!("{node}: {count} IOC services"))
        .collect();
    if !confirmed(&action, &touched, yes)? {
        printer.status("nothing moved");
        return Ok(ExitStatus::Success);
    }
    let timeout = &settings.node_drain_timeout;
    let wait = std::time::Duration::from_secs(timeout.whole_seconds());
    let report = nodes::rebalance(
        &engine,
        &settings.prefix_stack_name,
        batch,
        wait,
        &|moved| printer.line(&format!("{}: {} -> {}", moved.ioc, moved.from, moved.to)),
    )?;
    for stuck in &report.stuck {
        printer.error(&stuck_line(stuck, timeout.as_text()));
    }
    if report.moved.is_empty() && report.stuck.is_empty() {
        printer.status("nothing to move: the IOC services are spread as evenly as they can be");
    }
    printer.status(&format!(
        "IOC services per node: {}",
        per_node(&report.load)
    ));
    Ok(ExitStatus::from_failures(report.stuck.len()))
}
