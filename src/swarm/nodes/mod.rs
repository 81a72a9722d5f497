//! Swarm nodes: finding one by hostname or ID as `docker node` does, changing its
//! labels and availability through the Engine API, telling whether a service's
//! placement constraints fit any node, and moving IOC services off a node (drain) or
//! across nodes (rebalance).

mod constraint;
mod moves;

use std::collections::HashMap;

use bollard::models::{Node, NodeSpec, NodeSpecAvailabilityEnum};
use bollard::query_parameters::{ListNodesOptions, UpdateNodeOptions};

pub(crate) use constraint::{hostname, placeable};
pub(crate) use moves::{Stuck, drain, ioc_load, iocs_on, rebalance};

use crate::swarm::engine::{Engine, SwarmError};

/// How often a node update is tried again when another change came first.
const ATTEMPTS: u32 = 5;

#[derive(Debug, thiserror::Error)]
pub(crate) enum NodeError {
    #[error(transparent)]
    Swarm(#[from] SwarmError),
    #[error("no node \"{name}\" in the swarm (nodes: {known})")]
    NotFound { name: String, known: String },
    #[error("\"{name}\" names more than one node ({matches}): give more of the ID")]
    Ambiguous { name: String, matches: String },
    #[error("node {node} has no label \"{key}\" (its labels: {labels}); nothing was changed")]
    NoSuchLabel {
        node: String,
        key: String,
        labels: String,
    },
    #[error(
        "node {node}: other changes kept coming in between ({ATTEMPTS} attempts ended in \"update out of sequence\"); nothing was changed, try again"
    )]
    OutOfSequence { node: String },
}

/// The node `name` stands for, as the engine resolves it: a full ID, a hostname
/// (whatever its case), else a unique ID prefix.
pub(crate) fn find<'a>(nodes: &'a [Node], name: &str) -> Result<&'a Node, NodeError> {
    if let Some(node) = nodes.iter().find(|n| n.id.as_deref() == Some(name)) {
        return Ok(node);
    }
    let list = |found: &[&Node]| {
        found
            .iter()
            .map(|n| format!("{} {}", n.id.as_deref().unwrap_or(""), hostname(n)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let by_name: Vec<&Node> = nodes
        .iter()
        .filter(|n| hostname(n).eq_ignore_ascii_case(name))
        .collect();
    let by_prefix: Vec<&Node> = nodes
        .iter()
        .filter(|n| !name.is_empty() && n.id.as_deref().is_some_and(|id| id.starts_with(name)))
        .collect();
    match (by_name.as_slice(), by_prefix.as_slice()) {
        ([one], _) | ([], [one]) => Ok(*one),
        ([], []) => {
            let mut known: Vec<&str> = nodes.iter().map(hostname).collect();
            known.sort();
            Err(NodeError::NotFound {
                name: name.to_string(),
                known: known.join(", "),
            })
        }
        ([], many) | (many, _) => Err(NodeError::Ambiguous {
            name: name.to_string(),
            matches: list(many),
        }),
    }
}

/// A node label change: `key=value` pairs to set, or keys to remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LabelChange {
    Set(Vec<(String, String)>),
    Remove(Vec<String>),
}

/// A node label as `docker node update --label-add` takes it, with the value
/// required: `key=value`, split at the first `=`; the key is not empty and holds no
/// blank (leading blanks are dropped, as docker does). The error is the usage
/// problem, naming the argument.
pub(crate) fn parse_label(text: &str) -> Result<(String, String), String> {
    let trimmed = text.trim_start();
    let Some((key, value)) = trimmed.split_once('=') else {
        return Err(format!(
            "\"{text}\" is not a node label: expected key=value, e.g. rack=a"
        ));
    };
    check_key(text, key)?;
    Ok((key.to_string(), value.to_string()))
}

/// A label key to remove: not empty, no blank, no `=`.
pub(crate) fn parse_label_key(text: &str) -> Result<String, String> {
    let key = text.trim_start();
    if key.contains('=') {
        return Err(format!(
            "\"{text}\" is not a label key: give the key only (rack, not rack=a)"
        ));
    }
    check_key(text, key)?;
    Ok(key.to_string())
}

fn check_key(text: &str, key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err(format!("\"{text}\": the label key is empty"));
    }
    if key.chars().any(char::is_whitespace) {
        return Err(format!("\"{text}\": the label key \"{key}\" holds a blank"));
    }
    Ok(())
}

/// `labels` after `change`; removing a key the node does not have is an error, as
/// for `docker node update --label-rm`.
fn changed(
    node: &str,
    labels: &HashMap<String, String>,
    change: &LabelChange,
) -> Result<HashMap<String, String>, NodeError> {
    let mut labels = labels.clone();
    match change {
        LabelChange::Set(pairs) => {
            for (key, value) in pairs {
                labels.insert(key.clone(), value.clone());
            }
        }
        LabelChange::Remove(keys) => {
            for key in keys {
                if labels.remove(key).is_none() {
                    return Err(NodeError::NoSuchLabel {
                        node: node.to_string(),
                        key: key.clone(),
                        labels: label_text(&labels),
                    });
                }
            }
        }
    }
    Ok(labels)
}

/// `a=1, b=2` in key order, or `none`.
pub(crate) fn label_text(labels: &HashMap<String, String>) -> String {
    if labels.is_empty() {
        return "none".to_string();
    }
    let mut pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.sort();
    pairs.join(", ")
}

/// The labels of a node as its spec has them.
pub(crate) fn labels_of(node: &Node) -> HashMap<String, String> {
    node.spec
        .as_ref()
        .and_then(|s| s.labels.clone())
        .unwrap_or_default()
}

pub(crate) fn all(engine: &Engine) -> Result<Vec<Node>, SwarmError> {
    engine.request(
        "node list",
        engine.docker().list_nodes(None::<ListNodesOptions>),
    )
}

/// Whether the engine refused an update because the object changed since it was read.
fn out_of_sequence(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::DockerResponseServerError { message, .. }
            if message.contains("update out of sequence")
    )
}

/// Reads node `name`, lets `edit` change its spec and writes it back with the version
/// read, again from the start when another change came first. Returns the node as
/// the engine has it afterwards.
fn update(
    engine: &Engine,
    name: &str,
    edit: impl Fn(&Node, &mut NodeSpec) -> Result<(), NodeError>,
) -> Result<Node, NodeError> {
    let mut host = name.to_string();
    for _ in 0..ATTEMPTS {
        let nodes = all(engine)?;
        let node = find(&nodes, name)?;
        host = hostname(node).to_string();
        let id = node.id.clone().unwrap_or_default();
        let mut spec = node.spec.clone().unwrap_or_default();
        edit(node, &mut spec)?;
        let version = node.version.as_ref().and_then(|v| v.index).unwrap_or(0);
        let options = UpdateNodeOptions {
            version: i64::try_from(version).unwrap_or(i64::MAX),
        };
        match engine.run(engine.docker().update_node(&id, spec, options))? {
            Ok(()) => {
                return Ok(engine.request(
                    &format!("inspect of node {host}"),
                    engine.docker().inspect_node(&id),
                )?);
            }
            Err(e) if out_of_sequence(&e) => continue,
            Err(e) => return Err(SwarmError::api(format!("update of node {host}"), e).into()),
        }
    }
    Err(NodeError::OutOfSequence { node: host })
}

/// Sets or removes labels of node `name`; returns the node afterwards.
pub(crate) fn change_labels(
    engine: &Engine,
    name: &str,
    change: &LabelChange,
) -> Result<Node, NodeError> {
    update(engine, name, |node, spec| {
        let labels = changed(hostname(node), &labels_of(node), change)?;
        spec.labels = Some(labels);
        Ok(())
    })
}

/// Whether a node takes new tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Availability {
    Active,
    Drain,
}

impl Availability {
    pub(crate) fn word(self) -> &'static str {
        match self {
            Availability::Active => "active",
            Availability::Drain => "drain",
        }
    }
}

/// Sets the availability of node `name`; returns the node afterwards.
pub(crate) fn set_availability(
    engine: &Engine,
    name: &str,
    availability: Availability,
) -> Result<Node, NodeError> {
    update(engine, name, |_, spec| {
        spec.availability = Some(match availability {
            Availability::Active => NodeSpecAvailabilityEnum::ACTIVE,
            Availability::Drain => NodeSpecAvailabilityEnum::DRAIN,
        });
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use bollard::models::NodeSpecRoleEnum;

    use super::constraint::tests::node;
    use super::*;

    #[test]
    fn a_node_is_found_by_id_hostname_or_unique_id_prefix() {
        let nodes = [
            node("abc111", "node0", NodeSpecRoleEnum::MANAGER, &[]),
            node("abd222", "node1", NodeSpecRoleEnum::WORKER, &[]),
            node("xyz333", "abc", NodeSpecRoleEnum::WORKER, &[]),
        ];
        let id = |name: &str| find(&nodes, name).map(|n| n.id.clone().unwrap_or_default());
        assert_eq!(id("abd222").unwrap(), "abd222");
        assert_eq!(id("node1").unwrap(), "abd222");
        assert_eq!(id("NODE1").unwrap(), "abd222");
        assert_eq!(id("abd").unwrap(), "abd222");
        // A hostname wins over an ID prefix, as in the engine.
        assert_eq!(id("abc").unwrap(), "xyz333");
        assert_eq!(
            id("ab").unwrap_err().to_string(),
            "\"ab\" names more than one node (abc111 node0, abd222 node1): give more of the ID"
        );
        assert_eq!(
            id("node7").unwrap_err().to_string(),
            "no node \"node7\" in the swarm (nodes: abc, node0, node1)"
        );
        assert!(id("").is_err());
    }

    #[test]
    fn labels_are_key_value_with_a_key_docker_takes() {
        assert_eq!(parse_label("rack=a"), Ok(("rack".into(), "a".into())));
        assert_eq!(parse_label("rack="), Ok(("rack".into(), String::new())));
        assert_eq!(parse_label(" x=a=b c"), Ok(("x".into(), "a=b c".into())));
        assert_eq!(
            parse_label("rack"),
            Err("\"rack\" is not a node label: expected key=value, e.g. rack=a".into())
        );
        assert_eq!(
            parse_label("=a"),
            Err("\"=a\": the label key is empty".into())
        );
        assert_eq!(
            parse_label("my rack=a"),
            Err("\"my rack=a\": the label key \"my rack\" holds a blank".into())
        );
        assert_eq!(parse_label_key("rack"), Ok("rack".into()));
        assert!(
            parse_label_key("rack=a")
                .unwrap_err()
                .contains("give the key only")
        );
        assert!(parse_label_key("").is_err());
        assert!(parse_label_key("a b").is_err());
    }

    #[test]
    fn removing_a_label_the_node_lacks_changes_nothing() {
        let labels = HashMap::from([("rack".to_string(), "a".to_string())]);
        let set = changed(
            "node1",
            &labels,
            &LabelChange::Set(vec![
                ("zone".into(), "x".into()),
                ("rack".into(), "b".into()),
            ]),
        )
        .unwrap();
        assert_eq!(label_text(&set), "rack=b, zone=x");
        let removed = changed("node1", &set, &LabelChange::Remove(vec!["zone".into()])).unwrap();
        assert_eq!(label_text(&removed), "rack=b");
        assert_eq!(
            changed("node1", &labels, &LabelChange::Remove(vec!["zone".into()]))
                .unwrap_err()
                .to_string(),
            "node node1 has no label \"zone\" (its labels: rack=a); nothing was changed"
        );
        assert_eq!(label_text(&HashMap::new()), "none");
    }
}
