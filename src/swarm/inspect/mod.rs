//! Read-only views of the swarm in the docker CLI's own layouts (`docker service ls`,
//! `docker node ls`, `docker service ps --no-trunc`, `docker service inspect --pretty`,
//! `docker swarm join-token`), so operators recognise what they read. Fetching and
//! rendering are apart: the views are pure functions of API models, one per layout.

mod config;
mod fetch;
mod join;
mod nodes;
mod services;
mod tasks;

pub(crate) use config::service_config;
pub(crate) use fetch::{
    all_nodes, all_services, manager_addr, network_names, service, swarm, tasks_of, this_node_id,
};
pub(crate) use join::join_commands;
pub(crate) use nodes::{node_labels, nodes_json, nodes_table};
pub(crate) use services::{services_json, services_table};
pub(crate) use tasks::{tasks_json, tasks_table};

use crate::swarm::engine::SwarmError;

/// The stack label `docker stack deploy` puts on every service.
pub(crate) const STACK_LABEL: &str = "com.docker.stack.namespace";

#[derive(Debug, thiserror::Error)]
pub(crate) enum InspectError {
    #[error(transparent)]
    Swarm(#[from] SwarmError),
    #[error("service {service} is not deployed")]
    NotDeployed { service: String },
}
