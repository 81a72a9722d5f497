//! `docker service inspect --pretty`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use bollard::models::Service;
use chrono::{DateTime, Utc};

use super::services;
use crate::swarm::format::{bytes_size, go_duration, human_duration, pretty, timestamp};

/// Lines of `key: value` with the values aligned, as docker's tabwriter does.
struct Pretty(String);

impl Pretty {
    fn head(&mut self, text: &str) {
        self.0.push_str(text);
        self.0.push('\n');
    }

    fn field(&mut self, indent: usize, key: &str, value: impl std::fmt::Display) {
        let label = format!("{}{key}:", " ".repeat(indent));
        let _ = writeln!(self.0, "{label:<20}{value}");
    }
}

/// `docker service inspect --pretty`: the fields an operator checks (mode, placement,
/// update and rollback policy, image, command, environment, mounts, resources,
/// networks, ports), in that command's order and words.
pub(crate) fn service_config(
    service: &Service,
    networks: &HashMap<String, String>,
    now: DateTime<Utc>,
) -> String {
    let mut out = Pretty(String::new());
    let spec = service.spec.clone().unwrap_or_default();
    out.field(0, "ID", service.id.clone().unwrap_or_default());
    out.field(0, "Name", spec.name.clone().unwrap_or_default());
    let labels: BTreeMap<String, String> = spec
        .labels
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    if !labels.is_empty() {
        out.head("Labels:");
        for (k, v) in &labels {
            if v.is_empty() {
                out.head(&format!(" {k}"));
            } else {
                out.head(&format!(" {k}={v}"));
            }
        }
    }
    let mode = spec.mode.clone().unwrap_or_default();
    if mode.global.is_some() {
        out.field(0, "Service Mode", "Global");
    } else if let Some(replicated) = &mode.replicated {
        out.field(0, "Service Mode", "Replicated");
        if let Some(n) = replicated.replicas {
            out.field(1, "Replicas", n);
        }
    } else {
        out.field(0, "Service Mode", pretty(services::mode(service)));
    }
    if let Some(update) = &service.update_status
        && let Some(state) = update.state
    {
        out.head("UpdateStatus:");
        out.field(1, "State", state);
        if let Some(at) = timestamp(update.started_at.as_deref()) {
            out.field(
                1,
                "Started",
                format!(
                    "{} ago",
                    human_duration((now - at).to_std().unwrap_or_default())
                ),
            );
        }
        if let Some(at) = timestamp(update.completed_at.as_deref()) {
            out.field(
                1,
                "Completed",
                format!(
                    "{} ago",
                    human_duration((now - at).to_std().unwrap_or_default())
                ),
            );
        }
        out.field(1, "Message", update.message.clone().unwrap_or_default());
    }
    let template = spec.task_template.clone().unwrap_or_default();
    out.head("Placement:");
    let placement = template.placement.clone().unwrap_or_default();
    if let Some(constraints) = placement.constraints.filter(|c| !c.is_empty()) {
        out.field(1, "Constraints", format!("[{}]", constraints.join(" ")));
    }
    let preferences: Vec<String> = placement
        .preferences
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| Some(format!("spread={}", p.spread?.spread_descriptor?)))
        .collect();
    if !preferences.is_empty() {
        out.field(1, "Preferences", format!("[{}]", preferences.join(" ")));
    }
    if let Some(max) = placement.max_replicas.filter(|m| *m > 0) {
        out.field(1, "Max Replicas Per Node", max);
    }
    if let Some(update) = &spec.update_config {
        out.head("UpdateConfig:");
        out.field(1, "Parallelism", update.parallelism.unwrap_or(0));
        if let Some(delay) = update.delay.filter(|d| *d > 0) {
            out.field(1, "Delay", go_duration(delay));
        }
        out.field(
            1,
            "On failure",
            update
                .failure_action
                .map(|a| a.to_string())
                .unwrap_or_default(),
        );
        if let Some(monitor) = update.monitor.filter(|m| *m > 0) {
            out.field(1, "Monitoring Period", go_duration(monitor));
        }
        out.field(
            1,
            "Max failure ratio",
            update.max_failure_ratio.unwrap_or(0.0),
        );
        out.field(
            1,
            "Update order",
            update.order.map(|o| o.to_string()).unwrap_or_default(),
        );
    }
    if let Some(rollback) = &spec.rollback_config {
        out.head("RollbackConfig:");
        out.field(1, "Parallelism", rollback.parallelism.unwrap_or(0));
        if let Some(delay) = rollback.delay.filter(|d| *d > 0) {
            out.field(1, "Delay", go_duration(delay));
        }
        out.field(
            1,
            "On failure",
            rollback
                .failure_action
                .map(|a| a.to_string())
                .unwrap_or_default(),
        );
        if let Some(monitor) = rollback.monitor.filter(|m| *m > 0) {
            out.field(1, "Monitoring Period", go_duration(monitor));
        }
        out.field(
            1,
            "Max failure ratio",
            rollback.max_failure_ratio.unwrap_or(0.0),
        );
        out.field(
            1,
            "Rollback order",
            rollback.order.map(|o| o.to_string()).unwrap_or_default(),
        );
    }
    let container = template.container_spec.clone().unwrap_or_default();
    out.head("ContainerSpec:");
    out.field(1, "Image", container.image.clone().unwrap_or_default());
    if let Some(command) = container.command.filter(|c| !c.is_empty()) {
        out.field(1, "Command", command.join(" "));
    }
    if let Some(args) = container.args.filter(|a| !a.is_empty()) {
        out.field(1, "Args", args.join(" "));
    }
    if let Some(env) = container.env.filter(|e| !e.is_empty()) {
        out.field(1, "Env", env.join(" "));
    }
    if let Some(dir) = container.dir.filter(|d| !d.is_empty()) {
        out.field(1, "Dir", dir);
    }
    if let Some(init) = container.init {
        out.field(1, "Init", init);
    }
    if let Some(user) = container.user.filter(|u| !u.is_empty()) {
        out.field(1, "User", user);
    }
    // IOC services keep their shell attachable; worth seeing at a glance.
    if container.tty == Some(true) {
        out.field(1, "TTY", true);
    }
    let mounts = container.mounts.unwrap_or_default();
    if !mounts.is_empty() {
        out.head("Mounts:");
        for m in mounts {
            out.field(1, "Target", m.target.unwrap_or_default());
            out.field(2, "Source", m.source.unwrap_or_default());
            out.field(2, "ReadOnly", m.read_only.unwrap_or(false));
            out.field(2, "Type", m.typ.map(|t| t.to_string()).unwrap_or_default());
        }
    }
    if let Some(driver) = template.log_driver.as_ref().and_then(|d| d.name.clone()) {
        out.head("Log Driver:");
        out.field(1, "Name", driver);
    }
    if let Some(resources) = &template.resources {
        let reservations = resources.reservations.clone().unwrap_or_default();
        let limits = resources.limits.clone().unwrap_or_default();
        let reserved =
            reservations.nano_cpus.unwrap_or(0) > 0 || reservations.memory_bytes.unwrap_or(0) > 0;
        let limited = limits.nano_cpus.unwrap_or(0) > 0
            || limits.memory_bytes.unwrap_or(0) > 0
            || limits.pids.unwrap_or(0) > 0;
        if reserved || limited {
            out.head("Resources:");
        }
        if reserved {
            out.head(" Reservations:");
            if let Some(cpus) = reservations.nano_cpus.filter(|c| *c > 0) {
                out.field(2, "CPU", cpus as f64 / 1e9);
            }
            if let Some(memory) = reservations.memory_bytes.filter(|m| *m > 0) {
                out.field(2, "Memory", bytes_size(memory));
            }
        }
        if limited {
            out.head(" Limits:");
            if let Some(cpus) = limits.nano_cpus.filter(|c| *c > 0) {
                out.field(2, "CPU", cpus as f64 / 1e9);
            }
            if let Some(memory) = limits.memory_bytes.filter(|m| *m > 0) {
                out.field(2, "Memory", bytes_size(memory));
            }
            if let Some(pids) = limits.pids.filter(|p| *p > 0) {
                out.field(2, "PIDs", pids);
            }
        }
    }
    let attached: Vec<String> = template
        .networks
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| n.target)
        .map(|target| networks.get(&target).cloned().unwrap_or(target))
        .collect();
    if !attached.is_empty() {
        out.field(0, "Networks", attached.join(" "));
    }
    let endpoint_mode = spec
        .endpoint_spec
        .as_ref()
        .and_then(|e| e.mode)
        .map(|m| m.to_string())
        .unwrap_or_default();
    out.field(0, "Endpoint Mode", endpoint_mode);
    let published = service
        .endpoint
        .as_ref()
        .and_then(|e| e.ports.clone())
        .unwrap_or_default();
    if !published.is_empty() {
        out.head("Ports:");
        for p in published {
            out.head(&format!(
                " PublishedPort = {}",
                p.published_port.unwrap_or(0)
            ));
            out.head(&format!(
                "  Protocol = {}",
                p.protocol.map(|x| x.to_string()).unwrap_or_default()
            ));
            out.head(&format!("  TargetPort = {}", p.target_port.unwrap_or(0)));
            out.head(&format!(
                "  PublishMode = {}",
                p.publish_mode.map(|x| x.to_string()).unwrap_or_default()
            ));
        }
    }
    out.0
}

#[cfg(test)]
mod tests {
    use bollard::models::{
        ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated, ServiceSpecUpdateConfig,
        ServiceSpecUpdateConfigFailureActionEnum, TaskSpec, TaskSpecContainerSpec,
    };

    use super::*;

    fn now() -> DateTime<Utc> {
        timestamp(Some("2024-05-01T12:00:00Z")).expect("now")
    }

    #[test]
    fn pretty_config_shows_mode_update_policy_and_image() {
        let service = Service {
            id: Some("abc".to_string()),
            spec: Some(ServiceSpec {
                name: Some("p_srv-a".to_string()),
                mode: Some(ServiceSpecMode {
                    replicated: Some(ServiceSpecModeReplicated { replicas: Some(1) }),
                    ..Default::default()
                }),
                update_config: Some(ServiceSpecUpdateConfig {
                    parallelism: Some(1),
                    delay: Some(10_000_000_000),
                    failure_action: Some(ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK),
                    ..Default::default()
                }),
                task_template: Some(TaskSpec {
                    container_spec: Some(TaskSpecContainerSpec {
                        image: Some("img:1".to_string()),
                        tty: Some(true),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let out = service_config(&service, &HashMap::new(), now());
        assert!(
            out.contains("Service Mode:       Replicated\n Replicas:          1\n"),
            "{out}"
        );
        assert!(out.contains(" Delay:             10s\n"), "{out}");
        assert!(out.contains(" On failure:        rollback\n"), "{out}");
        assert!(out.contains(" Image:             img:1\n"), "{out}");
    }
}
