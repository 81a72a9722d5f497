//! Docker Swarm through the Engine API (bollard): connection, deployment, status.

pub(crate) mod backup;
pub(crate) mod client;
pub(crate) mod deploy;
pub(crate) mod engine;
pub(crate) mod format;
// What task states mean for health, for the status views; until they show health
// only its tests read it.
#[allow(dead_code)]
pub(crate) mod health;
pub(crate) mod inspect;
pub(crate) mod logs;
pub(crate) mod managed;
pub(crate) mod registry_auth;
pub(crate) mod status;
