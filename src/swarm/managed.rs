//! A service this tool manages, as swarm runs it. Which services there are (IOCs,
//! built-in and custom services) is the catalog's to say: `services::catalog`.

use std::fmt;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum ServiceType {
    // Declared in digest order (after the pinned problem rows): local, global, custom, ioc.
    Local,
    Global,
    Custom,
    Ioc,
}

impl ServiceType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ServiceType::Ioc => "ioc",
            ServiceType::Global => "global",
            ServiceType::Local => "local",
            ServiceType::Custom => "custom",
        }
    }
}

impl fmt::Display for ServiceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One managed service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ManagedService {
    /// The IOC or service name operators type.
    pub(crate) name: String,
    pub(crate) kind: ServiceType,
    /// The key of the service inside its compose file.
    pub(crate) key: String,
    /// The swarm service name: `<prefix>_<key>`.
    pub(crate) service_name: String,
    /// The compose file it is deployed from.
    pub(crate) file: PathBuf,
}

impl ManagedService {
    /// A service is available when its service file exists.
    pub(crate) fn available(&self) -> bool {
        self.file.is_file()
    }
}
