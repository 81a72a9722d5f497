//! Compose files: the typed model of what this tool writes, ships or reads, the IOC
//! service file rendering, strict loading, and the translation to swarm service specs
//! that `docker stack deploy` would make of them.

pub(crate) mod image;
pub(crate) mod interpolate;
pub(crate) mod ioc_service;
pub(crate) mod load;
pub(crate) mod model;
pub(crate) mod translate;
pub(crate) mod units;

use std::path::PathBuf;

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
