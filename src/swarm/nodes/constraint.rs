//! Placement constraints matched against nodes as swarmkit's scheduler matches them
//! (`manager/constraint`: `Parse` and `NodeMatches`), so iocdock can tell before a
//! deploy that no node would ever take a task.

use std::fmt;
use std::net::IpAddr;

use bollard::models::{Node, NodeSpecAvailabilityEnum, NodeSpecRoleEnum, NodeState};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Equal,
    NotEqual,
}

/// One constraint, `key==value` or `key!=value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Constraint {
    text: String,
    key: String,
    operator: Operator,
    value: String,
}

impl Constraint {
    /// Reads a constraint as swarmkit does: the first of `==`, `!=` that the text
    /// holds splits it, both sides trimmed. None when neither is there or a side is
    /// empty.
    pub(crate) fn parse(text: &str) -> Option<Constraint> {
        let (operator, (key, value)) = [("==", Operator::Equal), ("!=", Operator::NotEqual)]
            .into_iter()
            .find_map(|(op, operator)| text.split_once(op).map(|kv| (operator, kv)))?;
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() || value.is_empty() {
            return None;
        }
        Some(Constraint {
            text: text.trim().to_string(),
            key: key.to_string(),
            operator,
            value: value.to_string(),
        })
    }

    /// swarmkit's `Match`: the value compared with each candidate without regard to
    /// case, then the operator.
    fn holds_for(&self, candidates: &[&str]) -> bool {
        let wanted = self.value.to_lowercase();
        let equal = candidates.iter().any(|c| c.to_lowercase() == wanted);
        match self.operator {
            Operator::Equal => equal,
            Operator::NotEqual => !equal,
        }
    }

    /// Whether `node` satisfies the constraint (`NodeMatches` for one constraint).
    /// A key swarm does not know matches no node, as in swarm.
    pub(crate) fn matches(&self, node: &Node) -> bool {
        let key = self.key.to_lowercase();
        let description = node.description.as_ref();
        if key == "node.id" {
            self.holds_for(&[node.id.as_deref().unwrap_or("")])
        } else if key == "node.hostname" {
            self.holds_for(&[description
                .and_then(|d| d.hostname.as_deref())
                .unwrap_or("")])
        } else if key == "node.ip" {
            self.ip_matches(node)
        } else if key == "node.role" {
            self.holds_for(&[role(node)])
        } else if key == "node.platform.os" {
            let os = description.and_then(|d| d.platform.as_ref()?.os.as_deref());
            self.holds_for(&[os.unwrap_or("")])
        } else if key == "node.platform.arch" {
            let arch = description.and_then(|d| d.platform.as_ref()?.architecture.as_deref());
            self.holds_for(&[arch.unwrap_or("")])
        } else if let Some(label) = label_key(&self.key, "node.labels.") {
            // The label's name is matched with its case, as in swarm.
            let value = node
                .spec
                .as_ref()
                .and_then(|s| s.labels.as_ref())
                .and_then(|l| l.get(label));
            self.holds_for(&[value.map(String::as_str).unwrap_or("")])
        } else if let Some(label) = label_key(&self.key, "engine.labels.") {
            let value = description
                .and_then(|d| d.engine.as_ref()?.labels.as_ref())
                .and_then(|l| l.get(label));
            self.holds_for(&[value.map(String::as_str).unwrap_or("")])
        } else {
            false
        }
    }

    /// `node.ip`: one address, or a network in CIDR form; anything else matches no
    /// node, whatever the operator.
    fn ip_matches(&self, node: &Node) -> bool {
        let address: Option<IpAddr> = node
            .status
            .as_ref()
            .and_then(|s| s.addr.as_deref())
            .and_then(|a| a.parse().ok());
        let inside = if let Ok(ip) = self.value.parse::<IpAddr>() {
            address == Some(ip)
        } else if let Some(network) = Network::parse(&self.value) {
            address.is_some_and(|a| network.contains(a))
        } else {
            return false;
        };
        inside == (self.operator == Operator::Equal)
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The label name of `key` when it starts with `prefix` (in any case) and names one.
fn label_key<'a>(key: &'a str, prefix: &str) -> Option<&'a str> {
    let head = key.get(..prefix.len())?;
    (key.len() > prefix.len() && head.eq_ignore_ascii_case(prefix)).then(|| &key[prefix.len()..])
}

/// `worker` or `manager`, as the scheduler reads a node's role.
fn role(node: &Node) -> &'static str {
    match node.spec.as_ref().and_then(|s| s.role) {
        Some(NodeSpecRoleEnum::MANAGER) => "manager",
        Some(NodeSpecRoleEnum::WORKER) => "worker",
        _ if node.manager_status.is_some() => "manager",
        _ => "worker",
    }
}

/// An IP network `address/bits`.
struct Network {
    address: IpAddr,
    bits: u32,
}

impl Network {
    fn parse(text: &str) -> Option<Network> {
        let (address, bits) = text.split_once('/')?;
        let address: IpAddr = address.parse().ok()?;
        let bits: u32 = bits.parse().ok()?;
        let width = if address.is_ipv4() { 32 } else { 128 };
        (bits <= width).then_some(Network { address, bits })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let masked = |value: u128, width: u32| {
            let keep = self.bits.min(width);
            if keep == 0 {
                0
            } else {
                value >> (width - keep)
            }
        };
        match (self.address, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u128::from(u32::from(net)), 32) == masked(u128::from(u32::from(ip)), 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), 128) == masked(u128::from(ip), 128)
            }
            _ => false,
        }
    }
}

/// The node's hostname, as `docker node ls` shows it.
pub(crate) fn hostname(node: &Node) -> &str {
    node.description
        .as_ref()
        .and_then(|d| d.hostname.as_deref())
        .unwrap_or("")
}

/// Whether the scheduler may give the node new tasks: Ready and Active.
pub(crate) fn takes_tasks(node: &Node) -> bool {
    let ready = node.status.as_ref().and_then(|s| s.state) == Some(NodeState::READY);
    let active =
        node.spec.as_ref().and_then(|s| s.availability) == Some(NodeSpecAvailabilityEnum::ACTIVE);
    ready && active
}

/// Why no node can take a service's task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unplaceable {
    /// No node is Ready and Active.
    NoNode,
    /// This constraint matches none of the nodes that take tasks (listed).
    Constraint {
        constraint: String,
        nodes: Vec<String>,
    },
    /// Each constraint matches some node, but no node matches all of them.
    Together {
        constraints: Vec<String>,
        nodes: Vec<String>,
    },
}

impl fmt::Display for Unplaceable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unplaceable::NoNode => f.write_str("no node of the swarm is ready and active"),
            Unplaceable::Constraint { constraint, nodes } => write!(
                f,
                "the constraint \"{constraint}\" matches none of the ready, active nodes ({})",
                nodes.join(", ")
            ),
            Unplaceable::Together { constraints, nodes } => write!(
                f,
                "no ready, active node ({}) matches all of the constraints \"{}\"",
                nodes.join(", "),
                constraints.join("\", \"")
            ),
        }
    }
}

/// Whether some node that takes tasks satisfies every constraint; if none does, why.
/// `nodes` may hold any nodes: only Ready, Active ones count.
pub(crate) fn placeable<'a>(
    constraints: &[String],
    nodes: impl IntoIterator<Item = &'a Node>,
) -> Result<(), Unplaceable> {
    let candidates: Vec<&Node> = nodes.into_iter().filter(|n| takes_tasks(n)).collect();
    if candidates.is_empty() {
        return Err(Unplaceable::NoNode);
    }
    let mut names: Vec<String> = candidates.iter().map(|n| hostname(n).to_string()).collect();
    names.sort();
    // A text swarm cannot read matches no node (swarm refuses it at deploy anyway).
    let parsed: Vec<(String, Option<Constraint>)> = constraints
        .iter()
        .map(|c| (c.trim().to_string(), Constraint::parse(c)))
        .collect();
    let fits = |node: &Node, c: &Option<Constraint>| c.as_ref().is_some_and(|c| c.matches(node));
    for (text, constraint) in &parsed {
        if !candidates.iter().any(|n| fits(n, constraint)) {
            return Err(Unplaceable::Constraint {
                constraint: text.clone(),
                nodes: names,
            });
        }
    }
    if candidates
        .iter()
        .any(|n| parsed.iter().all(|(_, c)| fits(n, c)))
    {
        Ok(())
    } else {
        Err(Unplaceable::Together {
            constraints: parsed.into_iter().map(|(t, _)| t).collect(),
            nodes: names,
        })
    }
}

/// Whether `node` satisfies every constraint (unreadable ones match nothing).
pub(crate) fn fits(constraints: &[String], node: &Node) -> bool {
    constraints
        .iter()
        .all(|c| Constraint::parse(c).is_some_and(|c| c.matches(node)))
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashMap;

    use bollard::models::{EngineDescription, NodeDescription, NodeSpec, NodeStatus, Platform};

    use super::*;

    /// A Ready, Active node with these labels.
    pub(crate) fn node(
        id: &str,
        host: &str,
        role: NodeSpecRoleEnum,
        labels: &[(&str, &str)],
    ) -> Node {
        Node {
            id: Some(id.to_string()),
            spec: Some(NodeSpec {
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                role: Some(role),
                availability: Some(NodeSpecAvailabilityEnum::ACTIVE),
                ..Default::default()
            }),
            description: Some(NodeDescription {
                hostname: Some(host.to_string()),
                platform: Some(Platform {
                    architecture: Some("x86_64".to_string()),
                    os: Some("linux".to_string()),
                }),
                engine: Some(EngineDescription {
                    labels: Some(HashMap::from([("zone".to_string(), "eu-1".to_string())])),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            status: Some(NodeStatus {
                state: Some(NodeState::READY),
                addr: Some("10.213.7.11".to_string()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn matches(constraint: &str, node: &Node) -> bool {
        Constraint::parse(constraint)
            .unwrap_or_else(|| panic!("{constraint}"))
            .matches(node)
    }

    #[test]
    fn constraints_match_nodes_as_swarm_matches_them() {
        let n = node(
            "abc123",
            "node1",
            NodeSpecRoleEnum::WORKER,
            &[("rack", "A")],
        );
        for yes in [
            "node.id==abc123",
            "node.hostname==node1",
            "node.hostname == NODE1",
            "NODE.HOSTNAME==node1",
            "node.hostname!=node2",
            "node.role==worker",
            "node.role!=manager",
            "node.labels.rack==a",
            "Node.Labels.rack==A",
            "node.labels.rack!=b",
            "node.labels.missing!=x",
            "engine.labels.zone==EU-1",
            "node.platform.os==linux",
            "node.platform.arch==x86_64",
            "node.ip==10.213.7.11",
            "node.ip==10.213.7.0/24",
            "node.ip!=192.168.0.0/16",
            "node.ip==10.0.0.0/8",
        ] {
            assert!(matches(yes, &n), "{yes}");
        }
        for no in [
            "node.id==abc",
            "node.hostname==node2",
            "node.role==manager",
            "node.labels.rack==b",
            // The label's name keeps its case.
            "node.labels.RACK==a",
            "node.labels.missing==x",
            "engine.labels.zone!=eu-1",
            "node.ip==10.213.7.12",
            "node.ip!=10.213.7.0/24",
            "node.ip==10.213.8.0/24",
            "node.ip==not-an-address",
            "node.ip!=not-an-address",
            "node.rack==a",
        ] {
            assert!(!matches(no, &n), "{no}");
        }
        // The first operator found splits, as in swarm.
        assert!(
            Constraint::parse("node.labels.a!=b==c").is_some_and(|c| c.key == "node.labels.a!=b")
        );
        for unreadable in [
            "",
            "node.role",
            "node.role=worker",
            "==worker",
            "node.role==",
        ] {
            assert_eq!(Constraint::parse(unreadable), None, "{unreadable:?}");
        }
    }

    #[test]
    fn a_service_is_placeable_when_one_ready_active_node_fits_all_constraints() {
        let manager = node("m", "node0", NodeSpecRoleEnum::MANAGER, &[]);
        let one = node("w1", "node1", NodeSpecRoleEnum::WORKER, &[("rack", "a")]);
        let mut two = node("w2", "node2", NodeSpecRoleEnum::WORKER, &[("rack", "b")]);
        let nodes = [manager.clone(), one.clone(), two.clone()];
        let c = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(placeable(&c(&[]), &nodes), Ok(()));
        assert_eq!(placeable(&c(&["node.role==worker"]), &nodes), Ok(()));
        assert_eq!(placeable(&c(&["node.labels.rack==b"]), &nodes), Ok(()));
        assert_eq!(
            placeable(&c(&["node.role==worker", "node.labels.rack==z"]), &nodes),
            Err(Unplaceable::Constraint {
                constraint: "node.labels.rack==z".to_string(),
                nodes: c(&["node0", "node1", "node2"]),
            })
        );
        let together = placeable(&c(&["node.hostname==node1", "node.labels.rack==b"]), &nodes);
        assert_eq!(
            together.unwrap_err().to_string(),
            "no ready, active node (node0, node1, node2) matches all of the constraints \"node.hostname==node1\", \"node.labels.rack==b\""
        );
        // Drained or down nodes take no task.
        two.spec.as_mut().unwrap().availability = Some(NodeSpecAvailabilityEnum::DRAIN);
        let mut down = one.clone();
        down.status.as_mut().unwrap().state = Some(NodeState::DOWN);
        let nodes = [manager, down, two];
        assert_eq!(
            placeable(&c(&["node.role==worker"]), &nodes)
                .unwrap_err()
                .to_string(),
            "the constraint \"node.role==worker\" matches none of the ready, active nodes (node0)"
        );
        assert_eq!(placeable(&c(&[]), &nodes[1..]), Err(Unplaceable::NoNode));
    }
}
