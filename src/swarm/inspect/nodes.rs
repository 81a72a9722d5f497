//! `docker node ls`, the labels of each node, and the same nodes as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use bollard::models::Node;

use crate::swarm::format::{bytes_size, pretty};
use crate::table::Table;

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
    let nodes = sorted(nodes)
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use bollard::models::{
        ManagerStatus, NodeDescription, NodeSpec, NodeState, NodeStatus, Reachability,
    };

    use super::*;

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
}
