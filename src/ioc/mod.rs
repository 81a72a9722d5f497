//! IOC projects in the repository: ioc.ini, state, and the operations on them.

pub(crate) mod backup;
pub(crate) mod config;
pub(crate) mod consistency;
pub(crate) mod diff;
pub(crate) mod editing;
pub(crate) mod health;
pub(crate) mod query;
pub(crate) mod repository;
pub(crate) mod reserved;
pub(crate) mod revisions;
pub(crate) mod service_file;
pub(crate) mod snapshot;
pub(crate) mod sources;
pub(crate) mod startup;
pub(crate) mod state;
pub(crate) mod workflow;
