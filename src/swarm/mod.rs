//! Docker Swarm through the Engine API (bollard): connection, deployment, status.

pub(crate) mod attach;
pub(crate) mod backup;
pub(crate) mod client;
pub(crate) mod deploy;
pub(crate) mod drift;
pub(crate) mod engine;
pub(crate) mod format;
// What task states mean for health, for the status views; until they show health
// only its tests read it.
#[allow(dead_code)]
pub(crate) mod health;
pub(crate) mod images;
pub(crate) mod inspect;
pub(crate) mod lifecycle;
pub(crate) mod logs;
pub(crate) mod managed;
pub(crate) mod nodes;
pub(crate) mod registry_auth;
pub(crate) mod rollout;
pub(crate) mod status;

/// Whether `error` (or what it wraps) says the Docker engine could not be reached or
/// did not answer in time, which has an exit code of its own.
pub(crate) fn is_engine_failure(error: &anyhow::Error) -> bool {
    use std::error::Error;
    // Errors that wrap an engine error transparently hide it from `source()`.
    let engine_error = |e: &(dyn Error + 'static)| -> Option<bool> {
        if let Some(e) = e.downcast_ref::<engine::SwarmError>() {
            return Some(e.is_engine_failure());
        }
        if let Some(e) = e.downcast_ref::<engine::EngineFailure>() {
            return Some(e.error.is_engine_failure());
        }
        match e.downcast_ref::<inspect::InspectError>() {
            Some(inspect::InspectError::Swarm(e)) => return Some(e.is_engine_failure()),
            Some(_) => return Some(false),
            None => {}
        }
        match e.downcast_ref::<attach::AttachError>() {
            Some(attach::AttachError::Swarm(e)) => return Some(e.is_engine_failure()),
            Some(_) => return Some(false),
            None => {}
        }
        match e.downcast_ref::<client::ClientError>() {
            Some(client::ClientError::Swarm(e)) => return Some(e.is_engine_failure()),
            Some(_) => return Some(false),
            None => {}
        }
        match e.downcast_ref::<deploy::DeployError>() {
            Some(deploy::DeployError::Swarm(e)) => return Some(e.is_engine_failure()),
            Some(_) => return Some(false),
            None => {}
        }
        match e.downcast_ref::<nodes::NodeError>() {
            Some(nodes::NodeError::Swarm(e)) => return Some(e.is_engine_failure()),
            Some(_) => return Some(false),
            None => {}
        }
        match e.downcast_ref::<backup::SwarmBackupError>() {
            Some(backup::SwarmBackupError::Engine(e)) => Some(e.is_engine_failure()),
            Some(_) => Some(false),
            None => None,
        }
    };
    error.chain().any(|e| engine_error(e) == Some(true))
}
