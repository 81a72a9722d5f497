//! The cluster around the swarm: the ansible inventory and playbook runs that set the
//! nodes up, the cluster's certificates, and its image registry.

pub(crate) mod ansible;
pub(crate) mod certs;
pub(crate) mod inventory;
pub(crate) mod registry;

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::settings::Settings;

/// A setting that cannot describe a working cluster, named with its file and key so
/// the operator knows exactly what to fix.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {key}: {problem}")]
pub(crate) struct BadSetting {
    pub(crate) file: PathBuf,
    pub(crate) key: &'static str,
    pub(crate) problem: String,
}

impl BadSetting {
    pub(crate) fn new(settings: &Settings, key: &'static str, problem: impl Into<String>) -> Self {
        BadSetting {
            file: settings.settings_file(),
            key,
            problem: problem.into(),
        }
    }
}

/// An optional IP address setting: empty means unset.
pub(crate) fn optional_ip(
    settings: &Settings,
    key: &'static str,
    value: &str,
) -> Result<Option<IpAddr>, BadSetting> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    value.parse().map(Some).map_err(|_| {
        BadSetting::new(
            settings,
            key,
            format!("\"{value}\" is not an IP address (expected e.g. 192.168.1.10)"),
        )
    })
}

/// A DNS name as certificates and Docker image references accept it: dot-separated
/// labels of letters, digits and `-`, no label starting or ending with `-`.
pub(crate) fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// The registry's name as the settings give it, checked to be a DNS name: it becomes a
/// certificate name, an image reference and a URL host.
pub(crate) fn registry_name(settings: &Settings) -> Result<&str, BadSetting> {
    let name = settings.registry_common_name.trim();
    if is_dns_name(name) {
        Ok(name)
    } else {
        Err(BadSetting::new(
            settings,
            "registry_common_name",
            format!("\"{name}\" is not a DNS name (expected e.g. registry.iasf)"),
        ))
    }
}

/// Where `make-certs` writes the cluster certificates and the registry reads them.
pub(crate) fn certs_dir(mount: &Path) -> PathBuf {
    mount.join("swarm/registry/certs")
}

/// Where the cluster CA's private key lives: on the manager, outside the run
/// directory that every node mounts and containers bind.
pub(crate) fn pki_dir(manager: &Path) -> PathBuf {
    manager.join("pki")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names() {
        for good in ["registry.iasf", "localhost", "a-b.c1", "x"] {
            assert!(is_dns_name(good), "{good}");
        }
        for bad in ["", "a..b", "-a.b", "a-.b", "a b", "a/b", "a_b", "reg:443"] {
            assert!(!is_dns_name(bad), "{bad}");
        }
    }
}
