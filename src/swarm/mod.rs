//! Docker Swarm through the Engine API (bollard): connection, deployment, status.

pub(crate) mod backup;
pub(crate) mod client;
pub(crate) mod deploy;
pub(crate) mod drift;
pub(crate) mod engine;
pub(crate) mod format;
pub(crate) mod inspect;
pub(crate) mod logs;
pub(crate) mod managed;
pub(crate) mod panel;
pub(crate) mod registry_auth;
pub(crate) mod status;
