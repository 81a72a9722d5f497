//! What the views show, asked of the engine.

use std::collections::HashMap;

use bollard::models::{Node, Service, Swarm, Task};
use bollard::query_parameters::{
    InspectNetworkOptions, ListNodesOptions, ListServicesOptions, ListTasksOptions,
};

use super::InspectError;
use crate::swarm::engine::{Engine, SwarmError};

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
