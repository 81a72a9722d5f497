//! Compose files: the typed model of what this tool writes, ships or reads, strict
//! loading, and the translation to swarm service specs that `docker stack deploy`
//! would make of them. It imports nothing else of the crate: the IOC service file is
//! rendered by `ioc::service_file` on this model.

pub(crate) mod image;
pub(crate) mod interpolate;
pub(crate) mod load;
pub(crate) mod model;
pub(crate) mod translate;
pub(crate) mod units;

use std::path::PathBuf;

/// Service label of an IOC service with a health check: the PV it reads. The engine
/// stores the check itself under a key bollard does not read (`Healthcheck`, where
/// bollard expects `HealthCheck`), so readers of the service spec go by the label.
/// Here because both sides use it: `ioc` writes it, `swarm` reads it back.
pub(crate) const PV_LABEL: &str = "iocdock.health-pv";

#[derive(Debug, thiserror::Error)]
pub(crate) enum ComposeError {
    #[error("IOC \"{ioc}\": {message}")]
    IocValue { ioc: String, message: String },
    #[error("cannot write the compose file: {0}")]
    Render(String),
    #[error("cannot read {}: {cause}", file.display())]
    Read {
        file: PathBuf,
        cause: std::io::Error,
    },
    /// Anything wrong in a compose file: `message` starts with the key path.
    #[error("{}: {message}", file.display())]
    Invalid { file: PathBuf, message: String },
}
