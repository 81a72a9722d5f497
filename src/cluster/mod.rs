//! The cluster around the swarm: the ansible inventory and playbook runs that set the
//! nodes up, the cluster's certificates, and its image registry.

pub(crate) mod ansible;
pub(crate) mod certs;
pub(crate) mod htpasswd;
pub(crate) mod inventory;
pub(crate) mod registry;

use std::path::{Path, PathBuf};

/// Port of the Docker daemons' metrics (`metrics-addr` in daemon.json, which the
/// cluster playbook writes; prometheus of the built-in services scrapes it).
pub(crate) const DOCKER_METRICS_PORT: u16 = 9323;

pub(crate) use crate::schema::settings::{BadSetting, optional_ip, registry_name};
pub(crate) use crate::schema::values::is_dns_name;

/// Where `make-certs` writes the cluster certificates and the registry reads them.
pub(crate) fn certs_dir(mount: &Path) -> PathBuf {
    mount.join("swarm/registry/certs")
}

/// Where the cluster CA's private key lives: on the manager, outside the run
/// directory that every node mounts and containers bind.
pub(crate) fn pki_dir(manager: &Path) -> PathBuf {
    manager.join("pki")
}
