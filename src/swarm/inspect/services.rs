//! `docker service ls`, and the same services as JSON.

use bollard::models::{EndpointPortConfig, EndpointPortConfigPublishModeEnum, Service};
use chrono::{DateTime, Utc};

use super::STACK_LABEL;
use crate::swarm::format::{ago, short_image, timestamp};
use crate::table::Table;

pub(super) fn mode(service: &Service) -> &'static str {
    let Some(mode) = service.spec.as_ref().and_then(|s| s.mode.as_ref()) else {
        return "";
    };
    if mode.global.is_some() {
        "global"
    } else if mode.replicated.is_some() {
        "replicated"
    } else if mode.replicated_job.is_some() {
        "replicated job"
    } else if mode.global_job.is_some() {
        "global job"
    } else {
        ""
    }
}

fn replicas(service: &Service) -> String {
    let status = service.service_status.clone().unwrap_or_default();
    let running = status.running_tasks.unwrap_or(0);
    let desired = status.desired_tasks.unwrap_or(0);
    let max_per_node = service
        .spec
        .as_ref()
        .and_then(|s| s.task_template.as_ref())
        .and_then(|t| t.placement.as_ref())
        .and_then(|p| p.max_replicas)
        .unwrap_or(0);
    if mode(service) == "replicated" && max_per_node > 0 {
        format!("{running}/{desired} (max {max_per_node} per node)")
    } else {
        format!("{running}/{desired}")
    }
}

fn image(service: &Service) -> String {
    service
        .spec
        .as_ref()
        .and_then(|s| s.task_template.as_ref())
        .and_then(|t| t.container_spec.as_ref())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

/// Published ports. `docker service ls` shows only routing-mesh ports; host-mode
/// ports are shown too (marked), because on these clusters they are the ones that
/// work (no IPVS, see the networking notes).
pub(super) fn ports(ports: &[EndpointPortConfig]) -> String {
    let mut sorted: Vec<&EndpointPortConfig> = ports.iter().collect();
    sorted.sort_by_key(|p| (p.protocol.map(|x| x.to_string()), p.published_port));
    sorted
        .iter()
        .map(|p| {
            let protocol = p.protocol.map(|x| x.to_string()).unwrap_or_default();
            let published = p.published_port.unwrap_or(0);
            let target = p.target_port.unwrap_or(0);
            if p.publish_mode == Some(EndpointPortConfigPublishModeEnum::HOST) {
                format!("{published}->{target}/{protocol} (host)")
            } else {
                format!("*:{published}->{target}/{protocol}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Services in the order both service views list them.
fn by_name(services: &[Service]) -> Vec<&Service> {
    let mut sorted: Vec<&Service> = services.iter().collect();
    sorted.sort_by_key(|s| s.spec.as_ref().and_then(|x| x.name.clone()));
    sorted
}

fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// `docker service ls`; `detail` keeps full ids and image digests and adds the
/// stack, the last update and the placement constraints.
pub(crate) fn services_table(services: &[Service], detail: bool, now: DateTime<Utc>) -> Table {
    let rows: Vec<Vec<String>> = by_name(services)
        .iter()
        .map(|s| {
            let spec = s.spec.clone().unwrap_or_default();
            let id = s.id.clone().unwrap_or_default();
            let endpoint_ports = s
                .endpoint
                .as_ref()
                .and_then(|e| e.ports.clone())
                .unwrap_or_default();
            let mut row = vec![
                if detail {
                    id.clone()
                } else {
                    short_id(&id).to_string()
                },
                spec.name.clone().unwrap_or_default(),
                mode(s).to_string(),
                replicas(s),
                if detail {
                    image(s)
                } else {
                    short_image(&image(s))
                },
                ports(&endpoint_ports),
            ];
            if detail {
                let stack = spec
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(STACK_LABEL).cloned())
                    .unwrap_or_default();
                let updated = timestamp(s.updated_at.as_deref())
                    .map(|t| ago(t, now))
                    .unwrap_or_default();
                let constraints = spec
                    .task_template
                    .and_then(|t| t.placement)
                    .and_then(|p| p.constraints)
                    .unwrap_or_default()
                    .join(",");
                row.extend([stack, updated, constraints]);
            }
            row
        })
        .collect();
    let mut header = vec!["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"];
    if detail {
        header.extend(["STACK", "UPDATED", "CONSTRAINTS"]);
    }
    Table::new(&header, rows)
}

/// `swarm --show-services --format json`: docs/schema/swarm-services.schema.json.
#[derive(serde::Serialize)]
pub(crate) struct ServicesJson {
    version: u32,
    services: Vec<ServiceJson>,
}

#[derive(serde::Serialize)]
struct ServiceJson {
    id: String,
    name: String,
    mode: String,
    /// The daemon's own counts, as `docker service ls` shows them.
    running: u64,
    desired: u64,
    image: String,
    ports: Vec<String>,
    stack: String,
    constraints: Vec<String>,
    updated_at: Option<String>,
}

pub(crate) fn services_json(services: &[Service]) -> ServicesJson {
    let services = by_name(services)
        .into_iter()
        .map(|s| {
            let spec = s.spec.clone().unwrap_or_default();
            let status = s.service_status.clone().unwrap_or_default();
            ServiceJson {
                id: s.id.clone().unwrap_or_default(),
                name: spec.name.clone().unwrap_or_default(),
                mode: mode(s).to_string(),
                running: status.running_tasks.unwrap_or(0),
                desired: status.desired_tasks.unwrap_or(0),
                image: image(s),
                ports: s
                    .endpoint
                    .as_ref()
                    .and_then(|e| e.ports.clone())
                    .unwrap_or_default()
                    .iter()
                    .map(|p| ports(std::slice::from_ref(p)))
                    .collect(),
                stack: spec
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(STACK_LABEL).cloned())
                    .unwrap_or_default(),
                constraints: spec
                    .task_template
                    .and_then(|t| t.placement)
                    .and_then(|p| p.constraints)
                    .unwrap_or_default(),
                updated_at: s.updated_at.clone(),
            }
        })
        .collect();
    ServicesJson {
        version: 1,
        services,
    }
}
