//! The templates of the built-in services: the `imsrvs/` folder compiled into the
//! binary, and `$SERVICES_PATH` on disk, whose files replace the built-in file of the
//! same relative path or add to it (a site's own alert rules or dashboards).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::fsutil::{FsError, IoContext};

macro_rules! built_in {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/imsrvs/", $path)))),*]
    };
}

/// Relative path and contents of every built-in template.
const BUILT_IN: &[(&str, &[u8])] = built_in![
    "images.yaml",
    "global-services/socketProxy.yaml",
    "global-services/socketProxy/haproxy.cfg",
    "global-services/client.yaml",
    "global-services/iocLogServer.yaml",
    "global-services/cAdvisor.yaml",
    "global-services/nodeExporter.yaml",
    "global-services/alloy.yaml",
    "global-services/alloy/config.alloy",
    "registry/registry.yaml",
    "registry/config/config.yml",
    "registryPush/registryPush.yaml",
    "registryPush/config/config.yml",
    "prometheus/prometheus.yaml",
    "prometheus/config/prometheus.yml",
    "prometheus/config/web.yml",
    "prometheus/config/rules/nodes.yml",
    "prometheus/config/rules/containers.yml",
    "prometheus/config/rules/scrape.yml",
    "prometheus/config/rules/services.yml",
    "alertManager/alertManager.yaml",
    "alertManager/config/alertmanager.yml",
    "alertManager/config/web.yml",
    "loki/loki.yaml",
    "loki/config/loki.yml",
    "loki/rules/fake/ioc-logs.yml",
    "grafana/grafana.yaml",
    "grafana/provisioning/datasources/iocdock.yml",
    "grafana/provisioning/dashboards/iocdock.yml",
    "grafana/dashboards/node-monitoring.json",
    "grafana/dashboards/container-monitoring.json",
    "grafana/dashboards/ioc-overview.json",
    "swarmExporter/swarmExporter.yaml",
    "swarmExporter/config/haproxy.cfg",
    "swarmExporter/config/swarm-metrics.lua",
];

/// One template with where it came from, for error messages.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    /// Path relative to the template root, `/`-separated.
    pub(crate) relative: String,
    /// The override file, or `built-in imsrvs/<relative>`.
    pub(crate) origin: String,
    pub(crate) bytes: Vec<u8>,
}

#[derive(Debug, Clone)]
pub(crate) struct ServiceSources {
    override_dir: PathBuf,
}

/// Editor leftovers and hidden files are never templates.
fn ignored(relative: &Path) -> bool {
    relative.components().any(|c| {
        let name = c.as_os_str().to_string_lossy();
        name.starts_with('.') || name.ends_with('~') || name.ends_with(".swp")
    })
}

impl ServiceSources {
    pub(crate) fn new(override_dir: &Path) -> Self {
        ServiceSources {
            override_dir: override_dir.to_path_buf(),
        }
    }

    /// Every template, sorted by relative path.
    pub(crate) fn all(&self) -> Result<Vec<Source>, FsError> {
        let mut sources: BTreeMap<String, Source> = BUILT_IN
            .iter()
            .map(|(relative, bytes)| {
                (
                    relative.to_string(),
                    Source {
                        relative: relative.to_string(),
                        origin: format!("built-in imsrvs/{relative}"),
                        bytes: bytes.to_vec(),
                    },
                )
            })
            .collect();
        if self.override_dir.is_dir() {
            for entry in walkdir::WalkDir::new(&self.override_dir).follow_links(true) {
                let entry = entry.map_err(|e| {
                    let path = e.path().unwrap_or(&self.override_dir).to_path_buf();
                    let source = e
                        .into_io_error()
                        .unwrap_or_else(|| std::io::Error::other("file system loop"));
                    FsError {
                        path,
                        action: "cannot read service template",
                        cause: source,
                    }
                })?;
                if !entry.file_type().is_file() {
                    continue;
                }
                let Ok(relative) = entry.path().strip_prefix(&self.override_dir) else {
                    continue;
                };
                if ignored(relative) {
                    continue;
                }
                let Some(relative) = relative.to_str().map(str::to_string) else {
                    continue;
                };
                let bytes =
                    std::fs::read(entry.path()).at(entry.path(), "cannot read service template")?;
                sources.insert(
                    relative.clone(),
                    Source {
                        relative,
                        origin: entry.path().display().to_string(),
                        bytes,
                    },
                );
            }
        }
        Ok(sources.into_values().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_ins_come_without_an_override_folder() {
        let sources = ServiceSources::new(Path::new("/nonexistent/imsrvs"))
            .all()
            .unwrap();
        assert_eq!(sources.len(), BUILT_IN.len());
        assert!(sources.iter().all(|s| !s.bytes.is_empty()));
        assert!(
            sources
                .iter()
                .any(|s| s.relative == "global-services/client.yaml"
                    && s.origin == "built-in imsrvs/global-services/client.yaml")
        );
    }

    #[test]
    fn overrides_replace_and_add() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("prometheus/config/rules")).unwrap();
        std::fs::write(dir.path().join("images.yaml"), "site\n").unwrap();
        std::fs::write(
            dir.path().join("prometheus/config/rules/site.yml"),
            "groups: []\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("prometheus/.site.yml.swp"), "x").unwrap();
        std::fs::write(dir.path().join("images.yaml~"), "x").unwrap();
        let sources = ServiceSources::new(dir.path()).all().unwrap();
        assert_eq!(sources.len(), BUILT_IN.len() + 1);
        let images = sources
            .iter()
            .find(|s| s.relative == "images.yaml")
            .unwrap();
        assert_eq!(images.bytes, b"site\n");
        assert_eq!(
            images.origin,
            dir.path().join("images.yaml").display().to_string()
        );
        assert!(
            sources
                .iter()
                .any(|s| s.relative == "prometheus/config/rules/site.yml")
        );
    }
}
