//! The services this tool manages (SPEC §8): every IOC of the repository, the built-in
//! global and local services, and the custom services of `services.yaml`, each with
//! its swarm service name and the service file that makes it available.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::fsutil::FsError;
use crate::ioc::repository::Repository;
use crate::settings::Settings;

/// Built-in services with one task per node. The Docker API proxy comes first: the
/// services that read the engine use its socket.
pub(crate) const GLOBAL_SERVICES: [&str; 6] = [
    "socketProxy",
    "client",
    "iocLogServer",
    "cAdvisor",
    "nodeExporter",
    "alloy",
];
/// Built-in services placed on the nodes labelled for them.
pub(crate) const LOCAL_SERVICES: [&str; 8] = [
    "registry",
    "registryPush",
    "prometheus",
    "alertManager",
    "loki",
    "grafana",
    "swarmExporter",
    "nginx",
];
/// `$MANAGER_PATH/services.yaml`: custom service name → compose file.
pub(crate) const CUSTOM_SERVICES_FILE: &str = "services.yaml";
/// Folders of `$MOUNT_PATH/swarm` that belong to no service of their own name: the
/// shared IOC log folder, the parent of the IOCs' run folders, the global services'
/// files.
pub(crate) const RESERVED_FOLDERS: [&str; 3] = ["iocLog", "iocs", "global-services"];

/// An IOC name that is the name of a built-in service, a custom service or a folder
/// of the run directory. Such an IOC would share that service's folder, service name
/// or `--type`-less lookups with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "IOC name \"{name}\" is reserved for {what} \"{reserved}\" (IOC names may not be the name of a built-in service, a service of services.yaml or the run folders iocLog, iocs, global-services, in any case)"
)]
pub(crate) struct ReservedName {
    pub(crate) name: String,
    pub(crate) reserved: String,
    pub(crate) what: &'static str,
}

/// The names no IOC may take, compared without regard to case.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReservedNames {
    custom: Vec<String>,
}

impl ReservedNames {
    /// The built-in names and the custom services of `services.yaml`.
    pub(crate) fn load(settings: &Settings) -> Result<Self, ManagedError> {
        Ok(ReservedNames {
            custom: custom_services(settings)?
                .into_iter()
                .map(|s| s.name)
                .collect(),
        })
    }

    /// The built-in names alone, for when `services.yaml` cannot be read.
    pub(crate) fn built_in() -> Self {
        ReservedNames::default()
    }

    pub(crate) fn check(&self, name: &str) -> Result<(), ReservedName> {
        let built_in = GLOBAL_SERVICES
            .iter()
            .chain(&LOCAL_SERVICES)
            .map(|n| (*n, "the built-in service"))
            .chain(RESERVED_FOLDERS.iter().map(|n| (*n, "the run folder")))
            .chain(
                self.custom
                    .iter()
                    .map(|n| (n.as_str(), "the custom service")),
            );
        for (reserved, what) in built_in {
            if reserved.eq_ignore_ascii_case(name) {
                return Err(ReservedName {
                    name: name.to_string(),
                    reserved: reserved.to_string(),
                    what,
                });
            }
        }
        Ok(())
    }
}

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

#[derive(Debug, thiserror::Error)]
pub(crate) enum ManagedError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{file}: {message}")]
    CustomList { file: PathBuf, message: String },
    #[error(
        "no managed service named \"{name}\"{kind} (see `iocdock swarm --list-managed-services`)"
    )]
    Unknown { name: String, kind: String },
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

fn built_in(settings: &Settings, name: &str, kind: ServiceType, file: PathBuf) -> ManagedService {
    let key = format!("srv-{name}");
    ManagedService {
        name: name.to_string(),
        kind,
        service_name: format!("{}_{key}", settings.prefix_stack_name),
        key,
        file,
    }
}

/// Folder of the global services' files: `$MOUNT_PATH/swarm/global-services`.
pub(crate) fn global_services_dir(settings: &Settings) -> PathBuf {
    settings.paths.mount.join("swarm").join("global-services")
}

fn custom_services(settings: &Settings) -> Result<Vec<ManagedService>, ManagedError> {
    let file = settings.paths.manager.join(CUSTOM_SERVICES_FILE);
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(FsError {
                path: file,
                action: "cannot read",
                cause: source,
            }
            .into());
        }
    };
    let invalid = |message: String| ManagedError::CustomList {
        file: file.clone(),
        message,
    };
    let entries: BTreeMap<String, String> = if text.trim().is_empty() {
        BTreeMap::new()
    } else {
        serde_yaml::from_str(&text).map_err(|e| {
            invalid(format!(
                "expected a mapping of service name to compose file path ({})",
                e.to_string().replace('\n', " ")
            ))
        })?
    };
    entries
        .into_iter()
        .map(|(name, path)| {
            crate::ioc::name::validate(&name).map_err(|e| invalid(e.to_string()))?;
            let path = Path::new(&path);
            let file = if path.is_absolute() {
                path.to_path_buf()
            } else {
                settings.paths.manager.join(path)
            };
            Ok(ManagedService {
                service_name: format!("{}_{name}", settings.prefix_stack_name),
                key: name.clone(),
                name,
                kind: ServiceType::Custom,
                file,
            })
        })
        .collect()
}

/// The service of one IOC, without reading the rest of the managed list (so a
/// broken `services.yaml` cannot hide an IOC's deployment).
pub(crate) fn ioc_service(
    settings: &Settings,
    repository: &Repository,
    name: &str,
) -> ManagedService {
    built_in(
        settings,
        name,
        ServiceType::Ioc,
        repository.service_file(name),
    )
}

/// Swarm service name of the built-in `client` service that `iocdock client` runs in.
pub(crate) fn client_service_name(settings: &Settings) -> String {
    format!("{}_srv-client", settings.prefix_stack_name)
}

/// Every managed service, IOCs first, then global, local and custom services.
pub(crate) fn all(
    settings: &Settings,
    repository: &Repository,
) -> Result<Vec<ManagedService>, ManagedError> {
    let mut services: Vec<ManagedService> = repository
        .names()?
        .iter()
        .map(|name| ioc_service(settings, repository, name))
        .collect();
    let global_dir = global_services_dir(settings);
    for name in GLOBAL_SERVICES {
        services.push(built_in(
            settings,
            name,
            ServiceType::Global,
            global_dir.join(format!("{name}.yaml")),
        ));
    }
    for name in LOCAL_SERVICES {
        let file = settings
            .paths
            .mount
            .join("swarm")
            .join(name)
            .join(format!("{name}.yaml"));
        services.push(built_in(settings, name, ServiceType::Local, file));
    }
    services.extend(custom_services(settings)?);
    Ok(services)
}

/// The managed service called `name`: an IOC first, then a built-in global or local
/// service, then a custom one, unless `kind` says which.
pub(crate) fn find(
    settings: &Settings,
    repository: &Repository,
    name: &str,
    kind: Option<ServiceType>,
) -> Result<ManagedService, ManagedError> {
    all(settings, repository)?
        .into_iter()
        .find(|s| s.name == name && kind.is_none_or(|k| k == s.kind))
        .ok_or_else(|| ManagedError::Unknown {
            name: name.to_string(),
            kind: kind.map(|k| format!(" of type {k}")).unwrap_or_default(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_names_are_reserved_in_any_case() {
        let reserved = ReservedNames::built_in();
        for name in [
            "registry",
            "Registry",
            "REGISTRY",
            "iocLog",
            "IOCLOG",
            "iocs",
            "alertmanager",
            "Global-Services",
            "nginx",
        ] {
            let err = reserved.check(name).unwrap_err();
            assert!(err.to_string().contains(&format!("\"{name}\"")), "{err}");
        }
        for name in ["registry1", "my-grafana", "ioc", "worker_test_1"] {
            assert_eq!(reserved.check(name), Ok(()), "{name}");
        }
        let custom = ReservedNames {
            custom: vec!["archiver".to_string()],
        };
        assert!(custom.check("Archiver").is_err());
    }
}
