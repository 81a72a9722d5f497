//! Read-only views of the swarm in the docker CLI's own layouts (`docker service ls`,
//! `docker node ls`, `docker service ps --no-trunc`, `docker service inspect --pretty`,
//! `docker swarm join-token`), so operators recognise what they read. Fetching and
//! rendering are apart: the renderers are pure functions of API models.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use bollard::models::{
    EndpointPortConfig, EndpointPortConfigPublishModeEnum, Node, Service, Swarm, Task,
};
use bollard::query_parameters::{
    InspectNetworkOptions, ListNodesOptions, ListServicesOptions, ListTasksOptions,
};
use chrono::{DateTime, Utc};

use crate::swarm::engine::{Engine, SwarmError};
use crate::swarm::format::{
    ago, bytes_size, go_duration, human_duration, one_line, pretty, short_image, timestamp,
};
use crate::table::Table;

/// The stack label `docker stack deploy` puts on every service.
pub(crate) const STACK_LABEL: &str = "com.docker.stack.namespace";

#[derive(Debug, thiserror::Error)]
pub(crate) enum InspectError {
    #[error(transparent)]
    Swarm(#[from] SwarmError),
    #[error("service {service} is not deployed")]
    NotDeployed { service: String },
}

pub(crate) fn all_services(engine: &Engine) -> Result<Vec<Service>, SwarmError> {
    engine.request(
        "service list",
        engine.docker().list_services(Some(ListServicesOptions {
            filters: None,
            status: Some(true),
        })),
    )
}

pub(crate) fn all_nodes(engine: &Engine) -> Result<Vec<Node>, SwarmError> {
    engine.request(
        "node list",
        engine.docker().list_nodes(None::<ListNodesOptions>),
    )
}

/// The swarm node id of the node iocdock runs on.
pub(crate) fn this_node_id(engine: &Engine) -> Result<String, SwarmError> {
    let info = engine.request("info", engine.docker().info())?;
    Ok(info.swarm.and_then(|s| s.node_id).unwrap_or_default())
}

/// The service `name` as deployed, health check included.
pub(crate) fn service(engine: &Engine, name: &str) -> Result<Service, InspectError> {
    let inspected = engine.run(engine.raw().service(engine.docker(), name))?;
    match inspected {
        Ok(Some(service)) => Ok(service),
        Ok(None) => Err(InspectError::NotDeployed {
            service: name.to_string(),
        }),
        Err(e) => Err(SwarmError::api(format!("inspect of service {name}"), e).into()),
    }
}

/// Every task of the named services, history included, as `docker service ps` lists.
pub(crate) fn tasks_of(engine: &Engine, service_ids: &[String]) -> Result<Vec<Task>, SwarmError> {
    if service_ids.is_empty() {
        return Ok(Vec::new());
    }
    let filters = HashMap::from([("service".to_string(), service_ids.to_vec())]);
    engine.request(
        "task list",
        engine.docker().list_tasks(Some(ListTasksOptions {
            filters: Some(filters),
        })),
    )
}

/// Network id → name for the networks the services attach to, so a configuration
/// shows `host`, not an id. Swarm-scoped ids (the `host` network of a stack is one)
/// are missing from the local network list, hence one inspect per network.
pub(crate) fn network_names(engine: &Engine, services: &[Service]) -> HashMap<String, String> {
    let mut names = HashMap::new();
    for target in services
        .iter()
        .filter_map(|s| s.spec.as_ref()?.task_template.as_ref()?.networks.clone())
        .flatten()
        .filter_map(|n| n.target)
    {
        if names.contains_key(&target) {
            continue;
        }
        // An unknown network only costs the name: the id is shown instead.
        if let Ok(network) = engine.request(
            "network inspect",
            engine
                .docker()
                .inspect_network(&target, None::<InspectNetworkOptions>),
        ) && let Some(name) = network.name
        {
            names.insert(target, name);
        }
    }
    names
}

/// The address other nodes join this manager at, as `docker swarm join-token` prints.
pub(crate) fn manager_addr(engine: &Engine) -> Result<String, SwarmError> {
    let id = this_node_id(engine)?;
    let node = engine.request("node inspect", engine.docker().inspect_node(&id))?;
    Ok(node.manager_status.and_then(|m| m.addr).unwrap_or_default())
}

pub(crate) fn swarm(engine: &Engine) -> Result<Swarm, SwarmError> {
    engine.request("swarm inspect", engine.docker().inspect_swarm())
}

fn mode(service: &Service) -> &'static str {
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
fn ports(ports: &[EndpointPortConfig]) -> String {
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

fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// `docker service ls`; `detail` keeps full ids and image digests and adds the
/// stack, the last update and the placement constraints.
pub(crate) fn services_table(services: &[Service], detail: bool, now: DateTime<Utc>) -> Table {
    let mut sorted: Vec<&Service> = services.iter().collect();
    sorted.sort_by_key(|s| s.spec.as_ref().and_then(|x| x.name.clone()));
    let rows: Vec<Vec<String>> = sorted
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

fn hostname(node: &Node) -> String {
    node.description
        .as_ref()
        .and_then(|d| d.hostname.clone())
        .unwrap_or_default()
}

fn manager_status(node: &Node) -> String {
    match &node.manager_status {
        Some(m) if m.leader == Some(true) => "Leader".to_string(),
        Some(m) => m
            .reachability
            .map(|r| pretty(&r.to_string()))
            .unwrap_or_default(),
        None => String::new(),
    }
}

/// Nodes in the order both node views list them.
fn sorted(nodes: &[Node]) -> Vec<&Node> {
    let mut sorted: Vec<&Node> = nodes.iter().collect();
    sorted.sort_by_key(|n| (hostname(n), n.id.clone()));
    sorted
}

/// `docker node ls`, this node's id followed by `*`.
pub(crate) fn nodes_table(nodes: &[Node], this_node: &str, detail: bool) -> Table {
    let rows: Vec<Vec<String>> = sorted(nodes)
        .iter()
        .map(|n| {
            let id = n.id.clone().unwrap_or_default();
            let marked = if id == this_node {
                format!("{id} *")
            } else {
                id
            };
            let spec = n.spec.clone().unwrap_or_default();
            let status = n.status.clone().unwrap_or_default();
            let description = n.description.clone().unwrap_or_default();
            let mut row = vec![
                marked,
                hostname(n),
                status
                    .state
                    .map(|s| pretty(&s.to_string()))
                    .unwrap_or_default(),
                spec.availability
                    .map(|a| pretty(a.as_ref()))
                    .unwrap_or_default(),
                manager_status(n),
                description
                    .engine
                    .as_ref()
                    .and_then(|e| e.engine_version.clone())
                    .unwrap_or_default(),
            ];
            if detail {
                let resources = description.resources.clone().unwrap_or_default();
                let platform = description.platform.clone().unwrap_or_default();
                row.extend([
                    spec.role.map(|r| r.to_string()).unwrap_or_default(),
                    status.addr.clone().unwrap_or_default(),
                    resources
                        .nano_cpus
                        .map(|c| format!("{}", c as f64 / 1e9))
                        .unwrap_or_default(),
                    resources.memory_bytes.map(bytes_size).unwrap_or_default(),
                    format!(
                        "{}/{}",
                        platform.os.unwrap_or_default(),
                        platform.architecture.unwrap_or_default()
                    ),
                ]);
            }
            row
        })
        .collect();
    let mut header = vec![
        "ID",
        "HOSTNAME",
        "STATUS",
        "AVAILABILITY",
        "MANAGER STATUS",
        "ENGINE VERSION",
    ];
    if detail {
        header.extend(["ROLE", "ADDRESS", "CPUS", "MEMORY", "PLATFORM"]);
    }
    Table::new(&header, rows)
}

/// One line per node with its address and labels, the facts placement constraints
/// are written against.
pub(crate) fn node_labels(nodes: &[Node]) -> String {
    let mut out = String::new();
    for n in sorted(nodes) {
        let labels: BTreeMap<String, String> = n
            .spec
            .as_ref()
            .and_then(|s| s.labels.clone())
            .unwrap_or_default()
            .into_iter()
            .collect();
        let labels = if labels.is_empty() {
            "no labels".to_string()
        } else {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let addr = n
            .status
            .as_ref()
            .and_then(|s| s.addr.clone())
            .unwrap_or_default();
        let _ = writeln!(out, "{}({addr}): {labels}", hostname(n));
    }
    out
}

/// The join commands as `docker swarm join-token worker|manager` prints them.
pub(crate) fn join_commands(swarm: &Swarm, manager_addr: &str) -> String {
    let tokens = swarm.join_tokens.clone().unwrap_or_default();
    let mut out = String::new();
    for (role, token) in [("worker", tokens.worker), ("manager", tokens.manager)] {
        let _ = write!(
            out,
            "To add a {role} to this swarm, run the following command:\n\n    docker swarm join --token {} {manager_addr}\n\n",
            token.unwrap_or_default()
        );
    }
    out
}

/// Task names as `docker service ps` builds them: `<service>.<slot>` for replicated
/// services, `<service>.<node id>` for global ones.
fn task_name(task: &Task, services: &HashMap<String, String>) -> String {
    let service_id = task.service_id.clone().unwrap_or_default();
    let service = services.get(&service_id).cloned().unwrap_or(service_id);
    match task.slot {
        Some(slot) if slot != 0 => format!("{service}.{slot}"),
        _ => format!("{service}.{}", task.node_id.clone().unwrap_or_default()),
    }
}

/// `docker service ps --no-trunc`: tasks of a slot together, the newest first and
/// the older ones indented under it.
pub(crate) fn tasks_table(
    tasks: &[Task],
    service_names: &HashMap<String, String>,
    node_names: &HashMap<String, String>,
    now: DateTime<Utc>,
) -> Table {
    let mut named: Vec<(String, &Task)> = tasks
        .iter()
        .map(|t| (task_name(t, service_names), t))
        .collect();
    named.sort_by(|(a_name, a), (b_name, b)| {
        a_name.cmp(b_name).then_with(|| {
            timestamp(b.created_at.as_deref()).cmp(&timestamp(a.created_at.as_deref()))
        })
    });
    let mut previous = String::new();
    let rows: Vec<Vec<String>> = named
        .iter()
        .map(|(name, t)| {
            let shown = if *name == previous {
                format!(" \\_ {name}")
            } else {
                name.clone()
            };
            previous = name.clone();
            let status = t.status.clone().unwrap_or_default();
            let node_id = t.node_id.clone().unwrap_or_default();
            let image = t
                .spec
                .as_ref()
                .and_then(|s| s.container_spec.as_ref())
                .and_then(|c| c.image.clone())
                .unwrap_or_default();
            let state = pretty(&status.state.unwrap_or_default().to_string());
            let current = match timestamp(status.timestamp.as_deref()) {
                Some(at) => format!("{state} {}", ago(at, now)),
                None => state,
            };
            let error = status
                .err
                .as_deref()
                .filter(|e| !e.is_empty())
                .map(|e| format!("\"{}\"", one_line(e)))
                .unwrap_or_default();
            let task_ports = status.port_status.and_then(|p| p.ports).unwrap_or_default();
            vec![
                t.id.clone().unwrap_or_default(),
                shown,
                image,
                node_names.get(&node_id).cloned().unwrap_or(node_id),
                pretty(&t.desired_state.unwrap_or_default().to_string()),
                current,
                error,
                ports(&task_ports),
            ]
        })
        .collect();
    Table::new(
        &[
            "ID",
            "NAME",
            "IMAGE",
            "NODE",
            "DESIRED STATE",
            "CURRENT STATE",
            "ERROR",
            "PORTS",
        ],
        rows,
    )
}

/// `service --show-info --format json`: docs/schema/service-info.schema.json.
#[derive(serde::Serialize)]
pub(crate) struct TasksJson {
    version: u32,
    tasks: Vec<TaskJson>,
}

#[derive(serde::Serialize)]
struct TaskJson {
    id: String,
    /// `<service>.<slot>` or `<service>.<node id>`, as `docker service ps` names it.
    name: String,
    service: String,
    image: String,
    node: String,
    desired_state: String,
    state: String,
    /// When the task reached its state (RFC 3339, as the engine reports it).
    state_since: Option<String>,
    created_at: Option<String>,
    error: Option<String>,
    ports: Vec<String>,
}

/// Every task of the services, newest first within a slot, with nothing left out:
/// the history `--show-info` exists for.
pub(crate) fn tasks_json(
    tasks: &[Task],
    service_names: &HashMap<String, String>,
    node_names: &HashMap<String, String>,
) -> TasksJson {
    let mut named: Vec<(String, &Task)> = tasks
        .iter()
        .map(|t| (task_name(t, service_names), t))
        .collect();
    named.sort_by(|(a_name, a), (b_name, b)| {
        a_name.cmp(b_name).then_with(|| {
            timestamp(b.created_at.as_deref()).cmp(&timestamp(a.created_at.as_deref()))
        })
    });
    let tasks = named
        .into_iter()
        .map(|(name, t)| {
            let status = t.status.clone().unwrap_or_default();
            let node_id = t.node_id.clone().unwrap_or_default();
            let service_id = t.service_id.clone().unwrap_or_default();
            TaskJson {
                id: t.id.clone().unwrap_or_default(),
                name,
                service: service_names
                    .get(&service_id)
                    .cloned()
                    .unwrap_or(service_id),
                image: t
                    .spec
                    .as_ref()
                    .and_then(|s| s.container_spec.as_ref())
                    .and_then(|c| c.image.clone())
                    .unwrap_or_default(),
                node: node_names.get(&node_id).cloned().unwrap_or(node_id),
                desired_state: t.desired_state.unwrap_or_default().to_string(),
                state: status.state.unwrap_or_default().to_string(),
                state_since: status.timestamp.clone(),
                created_at: t.created_at.clone(),
                error: status.err.filter(|e| !e.is_empty()).map(|e| one_line(&e)),
                ports: status
                    .port_status
                    .and_then(|p| p.ports)
                    .unwrap_or_default()
                    .iter()
                    .map(|p| ports(std::slice::from_ref(p)))
                    .collect(),
            }
        })
        .collect();
    TasksJson { version: 1, tasks }
}

/// `swarm --show-nodes --format json`: docs/schema/swarm-nodes.schema.json.
#[derive(serde::Serialize)]
pub(crate) struct NodesJson {
    version: u32,
    nodes: Vec<NodeJson>,
}

#[derive(serde::Serialize)]
struct NodeJson {
    id: String,
    hostname: String,
    /// The node iocdock asked (`*` in the table).
    this_node: bool,
    status: String,
    availability: String,
    role: String,
    /// Leader, Reachable, Unreachable; empty for a worker.
    manager_status: String,
    address: String,
    engine_version: String,
    labels: BTreeMap<String, String>,
}

pub(crate) fn nodes_json(nodes: &[Node], this_node: &str) -> NodesJson {
    let mut sorted: Vec<&Node> = nodes.iter().collect();
    sorted.sort_by_key(|n| (hostname(n), n.id.clone()));
    let nodes = sorted
        .into_iter()
        .map(|n| {
            let spec = n.spec.clone().unwrap_or_default();
            let status = n.status.clone().unwrap_or_default();
            let id = n.id.clone().unwrap_or_default();
            NodeJson {
                this_node: id == this_node,
                id,
                hostname: hostname(n),
                status: status.state.map(|s| s.to_string()).unwrap_or_default(),
                availability: spec
                    .availability
                    .map(|a| a.as_ref().to_string())
                    .unwrap_or_default(),
                role: spec.role.map(|r| r.to_string()).unwrap_or_default(),
                manager_status: manager_status(n),
                address: status.addr.unwrap_or_default(),
                engine_version: n
                    .description
                    .as_ref()
                    .and_then(|d| d.engine.as_ref())
                    .and_then(|e| e.engine_version.clone())
                    .unwrap_or_default(),
                labels: spec.labels.unwrap_or_default().into_iter().collect(),
            }
        })
        .collect();
    NodesJson { version: 1, nodes }
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
    let mut sorted: Vec<&Service> = services.iter().collect();
    sorted.sort_by_key(|s| s.spec.as_ref().and_then(|x| x.name.clone()));
    let services = sorted
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
        out.field(0, "Service Mode", pretty(self::mode(service)));
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
        ManagerStatus, NodeDescription, NodeSpec, NodeState, NodeStatus, Reachability, ServiceSpec,
        ServiceSpecMode, ServiceSpecModeReplicated, ServiceSpecUpdateConfig,
        ServiceSpecUpdateConfigFailureActionEnum, TaskSpec, TaskSpecContainerSpec, TaskState,
        TaskStatus,
    };

    use super::*;

    fn now() -> DateTime<Utc> {
        timestamp(Some("2024-05-01T12:00:00Z")).expect("now")
    }

    fn node(id: &str, host: &str, addr: &str, leader: bool) -> Node {
        Node {
            id: Some(id.to_string()),
            spec: Some(NodeSpec {
                labels: Some(HashMap::from([("rack".to_string(), "a".to_string())])),
                ..Default::default()
            }),
            description: Some(NodeDescription {
                hostname: Some(host.to_string()),
                ..Default::default()
            }),
            status: Some(NodeStatus {
                state: Some(NodeState::READY),
                addr: Some(addr.to_string()),
                ..Default::default()
            }),
            manager_status: Some(ManagerStatus {
                leader: Some(leader),
                reachability: Some(Reachability::REACHABLE),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn nodes_mark_this_node_and_list_labels() {
        let nodes = [
            node("bbb", "two", "10.0.0.2", false),
            node("aaa", "one", "10.0.0.1", true),
        ];
        let out = nodes_table(&nodes, "aaa", false).render();
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("ID "), "{out}");
        assert!(lines[1].starts_with("aaa *   one"), "{out}");
        assert!(lines[1].contains("Leader"), "{out}");
        assert!(lines[2].contains("Reachable"), "{out}");
        assert_eq!(lines.len(), 3, "{out}");
        assert_eq!(
            node_labels(&nodes),
            "one(10.0.0.1): rack=a\ntwo(10.0.0.2): rack=a\n"
        );
    }

    #[test]
    fn tasks_group_by_slot_newest_first() {
        let task = |id: &str, created: &str, state: TaskState, err: Option<&str>| Task {
            id: Some(id.to_string()),
            service_id: Some("sid".to_string()),
            slot: Some(1),
            node_id: Some("n1".to_string()),
            created_at: Some(created.to_string()),
            desired_state: Some(TaskState::RUNNING),
            status: Some(TaskStatus {
                state: Some(state),
                timestamp: Some(created.to_string()),
                err: err.map(str::to_string),
                ..Default::default()
            }),
            ..Default::default()
        };
        let out = tasks_table(
            &[
                task(
                    "old",
                    "2024-05-01T11:00:00Z",
                    TaskState::FAILED,
                    Some("boom"),
                ),
                task("new", "2024-05-01T11:59:00Z", TaskState::RUNNING, None),
            ],
            &HashMap::from([("sid".to_string(), "p_srv-a".to_string())]),
            &HashMap::from([("n1".to_string(), "vm".to_string())]),
            now(),
        )
        .render();
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[1].starts_with("new   p_srv-a.1 "), "{out}");
        assert!(lines[1].contains("Running about a minute ago"), "{out}");
        assert!(lines[2].starts_with("old    \\_ p_srv-a.1"), "{out}");
        assert!(lines[2].contains("\"boom\""), "{out}");
        assert!(lines[2].contains(" vm "), "{out}");
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

    #[test]
    fn join_commands_like_docker() {
        let swarm = Swarm {
            join_tokens: Some(bollard::models::JoinTokens {
                worker: Some("W".to_string()),
                manager: Some("M".to_string()),
            }),
            ..Default::default()
        };
        assert_eq!(
            join_commands(&swarm, "10.0.0.1:2377"),
            "To add a worker to this swarm, run the following command:\n\n    docker swarm join --token W 10.0.0.1:2377\n\n\
             To add a manager to this swarm, run the following command:\n\n    docker swarm join --token M 10.0.0.1:2377\n\n"
        );
    }
}
