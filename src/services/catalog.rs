//! Every service this tool manages (SPEC §8): the IOCs of the repository, the built-in
//! global and local services, and the custom services of `services.yaml`, each with
//! its swarm service name and the service file that makes it available. A new
//! built-in service is one entry of `BUILT_IN` (and its templates under `imsrvs/`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::fsutil::FsError;
use crate::ioc::repository::Repository;
use crate::ioc::reserved::ReservedNames;
use crate::schema::names::{service_key, stack_service_name};
use crate::settings::Settings;
use crate::swarm::managed::{ManagedService, ServiceType};

/// A service iocdock ships: its templates are `imsrvs/global-services/<name>…` for a
/// global service, `imsrvs/<name>/…` for a local one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BuiltIn {
    pub(crate) name: &'static str,
    /// Global (one task per node) or local (on the nodes labelled for it).
    pub(crate) kind: ServiceType,
}

const fn global(name: &'static str) -> BuiltIn {
    BuiltIn {
        name,
        kind: ServiceType::Global,
    }
}

const fn local(name: &'static str) -> BuiltIn {
    BuiltIn {
        name,
        kind: ServiceType::Local,
    }
}

/// The built-in services, global ones first, in the order they are generated and
/// listed. The Docker API proxy comes first: the services that read the engine use
/// its socket.
pub(crate) const BUILT_IN: &[BuiltIn] = &[
    global("socketProxy"),
    global("client"),
    global("iocLogServer"),
    global("cAdvisor"),
    global("nodeExporter"),
    global("alloy"),
    local("registry"),
    local("registryPush"),
    local("prometheus"),
    local("alertManager"),
    local("loki"),
    local("grafana"),
    local("swarmExporter"),
    local("nginx"),
];

/// Folder of the global services' templates and files, under `imsrvs/` and under
/// `$MOUNT_PATH/swarm`.
pub(crate) const GLOBAL_DIR: &str = "global-services";
/// `$MANAGER_PATH/services.yaml`: custom service name → compose file.
pub(crate) const CUSTOM_SERVICES_FILE: &str = "services.yaml";
/// Folders of `$MOUNT_PATH/swarm` that belong to no service of their own name: the
/// shared IOC log folder, the parent of the IOCs' run folders, the global services'
/// files.
pub(crate) const RESERVED_FOLDERS: [&str; 3] = ["iocLog", "iocs", GLOBAL_DIR];

/// Relative path of a built-in service's compose file, under `imsrvs/` and under
/// `$MOUNT_PATH/swarm`.
pub(crate) fn compose_file(name: &str, kind: ServiceType) -> String {
    match kind {
        ServiceType::Global => format!("{GLOBAL_DIR}/{name}.yaml"),
        _ => format!("{name}/{name}.yaml"),
    }
}

/// The built-in service a template belongs to, from its relative path.
pub(crate) fn owner(relative: &str) -> Option<&'static BuiltIn> {
    if let Some(rest) = relative
        .strip_prefix(GLOBAL_DIR)
        .and_then(|r| r.strip_prefix('/'))
    {
        return BUILT_IN.iter().find(|b| {
            b.kind == ServiceType::Global
                && rest
                    .strip_prefix(b.name)
                    .is_some_and(|tail| tail == ".yaml" || tail.starts_with('/'))
        });
    }
    let first = relative.split('/').next()?;
    BUILT_IN
        .iter()
        .find(|b| b.kind == ServiceType::Local && b.name == first && relative.len() > first.len())
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

/// The names no IOC may take: the built-in services, the run folders and the custom
/// services of `services.yaml`.
pub(crate) fn reserved_names(settings: &Settings) -> Result<ReservedNames, ManagedError> {
    let custom = custom_services(settings)?;
    Ok(ReservedNames::new(built_in_reserved().chain(
        custom.into_iter().map(|s| (s.name, "the custom service")),
    )))
}

/// The built-in names alone, for when `services.yaml` cannot be read.
pub(crate) fn built_in_reserved_names() -> ReservedNames {
    ReservedNames::new(built_in_reserved())
}

fn built_in_reserved() -> impl Iterator<Item = (String, &'static str)> {
    BUILT_IN
        .iter()
        .map(|b| (b.name.to_string(), "the built-in service"))
        .chain(
            RESERVED_FOLDERS
                .iter()
                .map(|n| (n.to_string(), "the run folder")),
        )
}

fn managed(settings: &Settings, name: &str, kind: ServiceType, file: PathBuf) -> ManagedService {
    let key = service_key(name);
    ManagedService {
        name: name.to_string(),
        kind,
        service_name: stack_service_name(&settings.prefix_stack_name, &key),
        key,
        file,
    }
}

/// Folder of the global services' files: `$MOUNT_PATH/swarm/global-services`.
pub(crate) fn global_services_dir(settings: &Settings) -> PathBuf {
    settings.paths.mount.join("swarm").join(GLOBAL_DIR)
}

/// The swarm service name of the built-in service `name`.
pub(crate) fn built_in_service_name(settings: &Settings, name: &str) -> String {
    stack_service_name(&settings.prefix_stack_name, &service_key(name))
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
            crate::schema::ioc_name::validate(&name).map_err(|e| invalid(e.to_string()))?;
            let path = Path::new(&path);
            let file = if path.is_absolute() {
                path.to_path_buf()
            } else {
                settings.paths.manager.join(path)
            };
            Ok(ManagedService {
                service_name: stack_service_name(&settings.prefix_stack_name, &name),
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
    managed(
        settings,
        name,
        ServiceType::Ioc,
        repository.service_file(name),
    )
}

/// Swarm service name of the built-in `client` service that `iocdock client` runs in.
pub(crate) fn client_service_name(settings: &Settings) -> String {
    built_in_service_name(settings, "client")
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
    let swarm_dir = settings.paths.mount.join("swarm");
    for kind in [ServiceType::Global, ServiceType::Local] {
        for b in BUILT_IN.iter().filter(|b| b.kind == kind) {
            let file = swarm_dir.join(compose_file(b.name, kind));
            services.push(managed(settings, b.name, kind, file));
        }
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
    use crate::schema::names::LONGEST_BUILT_IN_NAME;

    #[test]
    fn built_in_names_are_reserved_in_any_case() {
        let reserved = built_in_reserved_names();
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
        let custom = ReservedNames::new([("archiver".to_string(), "the custom service")]);
        assert!(custom.check("Archiver").is_err());
    }

    #[test]
    fn the_stack_prefix_leaves_room_for_the_longest_built_in_name() {
        // The rule of prefix_stack_name sits below the catalog and keeps the name.
        assert!(BUILT_IN.iter().any(|b| b.name == LONGEST_BUILT_IN_NAME));
        for b in BUILT_IN {
            assert!(b.name.len() <= LONGEST_BUILT_IN_NAME.len(), "{}", b.name);
        }
    }

    #[test]
    fn every_built_in_service_owns_its_compose_file() {
        for b in BUILT_IN {
            assert_eq!(owner(&compose_file(b.name, b.kind)), Some(b), "{}", b.name);
        }
    }
}
