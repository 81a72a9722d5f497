//! The ansible inventories written from the node maps of the settings (SPEC §6):
//! `inventory/cluster` with groups `manager` and `worker`, `inventory/default` with
//! the `default_nodes` in group `ungrouped`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::BadSetting;
use crate::fsutil::{self, FsError, IoContext};
use crate::schema::settings as schema;
use crate::settings::Settings;

/// One machine of the cluster as the settings name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) address: IpAddr,
}

/// The node maps of the settings, checked: every address is an IP, every name can be
/// an inventory host, and no host is both manager and worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Nodes {
    pub(crate) managers: Vec<Node>,
    pub(crate) workers: Vec<Node>,
    pub(crate) defaults: Vec<Node>,
    /// `ansible_ssh_user`, the user ansible connects as.
    pub(crate) ssh_user: String,
}

/// Which inventory a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InventoryKind {
    /// The swarm's managers and workers.
    Cluster,
    /// Other machines (`default_nodes`), e.g. to prepare them before they join.
    Default,
}

impl InventoryKind {
    pub(crate) fn file_name(self) -> &'static str {
        match self {
            InventoryKind::Cluster => "cluster",
            InventoryKind::Default => "default",
        }
    }

    pub(crate) fn path(self, ansible_dir: &Path) -> PathBuf {
        ansible_dir.join("inventory").join(self.file_name())
    }
}

fn node_list(
    settings: &Settings,
    key: &'static str,
    map: &BTreeMap<String, String>,
) -> Result<Vec<Node>, BadSetting> {
    Ok(schema::nodes(settings, key, map)?
        .into_iter()
        .map(|(name, address)| Node { name, address })
        .collect())
}

impl Nodes {
    pub(crate) fn from_settings(settings: &Settings) -> Result<Nodes, BadSetting> {
        let managers = node_list(
            settings,
            "cluster_manager_nodes",
            &settings.cluster_manager_nodes,
        )?;
        let workers = node_list(
            settings,
            "cluster_worker_nodes",
            &settings.cluster_worker_nodes,
        )?;
        let defaults = node_list(settings, "default_nodes", &settings.default_nodes)?;
        // The maps' entries are checked above; the rules of the maps as a whole and of
        // the SSH user remain.
        schema::ensure(settings, schema::NODES)?;
        let ssh_user = settings.ansible_ssh_user.trim().to_string();
        Ok(Nodes {
            managers,
            workers,
            defaults,
            ssh_user,
        })
    }

    pub(crate) fn is_empty(&self, kind: InventoryKind) -> bool {
        match kind {
            InventoryKind::Cluster => self.managers.is_empty() && self.workers.is_empty(),
            InventoryKind::Default => self.defaults.is_empty(),
        }
    }
}

fn host_line(out: &mut String, node: &Node) {
    let _ = write!(out, "{} ansible_ssh_host={}", node.name, node.address);
    // The machine iocdock runs on, named by a loopback address (a single-node cluster,
    // or the manager managing itself): ansible works on it directly, without SSH.
    if node.address.is_loopback() {
        out.push_str(" ansible_connection=local");
    }
    out.push('\n');
}

fn group(out: &mut String, name: &str, nodes: &[Node]) {
    let _ = writeln!(out, "[{name}]");
    for node in nodes {
        host_line(out, node);
    }
    out.push('\n');
}

/// The text of one inventory file (INI format).
pub(crate) fn render(kind: InventoryKind, nodes: &Nodes) -> String {
    let mut out = String::new();
    out.push_str("# Written by `iocdock cluster --gen-inventory-files` from ");
    match kind {
        InventoryKind::Cluster => {
            out.push_str("cluster_manager_nodes and cluster_worker_nodes");
        }
        InventoryKind::Default => out.push_str("default_nodes"),
    }
    out.push_str("\n# of settings.yaml; the next generation replaces this file.\n\n");
    match kind {
        InventoryKind::Cluster => {
            group(&mut out, "manager", &nodes.managers);
            group(&mut out, "worker", &nodes.workers);
        }
        InventoryKind::Default => group(&mut out, "ungrouped", &nodes.defaults),
    }
    let _ = write!(out, "[all:vars]\nansible_ssh_user={}\n", nodes.ssh_user);
    out
}

/// Writes both inventories below `ansible_dir`, each atomically; returns their paths.
pub(crate) fn write_all(ansible_dir: &Path, nodes: &Nodes) -> Result<Vec<PathBuf>, FsError> {
    let folder = ansible_dir.join("inventory");
    std::fs::create_dir_all(&folder).at(&folder, "cannot create folder")?;
    let mut written = Vec::new();
    for kind in [InventoryKind::Cluster, InventoryKind::Default] {
        let path = kind.path(ansible_dir);
        fsutil::atomic_write(&path, render(kind, nodes).as_bytes(), 0o644)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    fn settings(yaml: &str) -> Settings {
        crate::settings::for_test(yaml)
    }

    #[test]
    fn cluster_inventory_has_both_groups_and_the_ssh_user() {
        let s = settings(
            "cluster_manager_nodes: {m1: 10.0.0.1, localhost: 127.0.0.1}\n\
             cluster_worker_nodes: {w2: 10.0.0.3, w1: 'fd00::2'}\n\
             default_nodes: {spare: 10.0.0.9}\nansible_ssh_user: admin\n",
        );
        let nodes = Nodes::from_settings(&s).unwrap();
        insta::assert_snapshot!(render(InventoryKind::Cluster, &nodes), @r"
        # Written by `iocdock cluster --gen-inventory-files` from cluster_manager_nodes and cluster_worker_nodes
        # of settings.yaml; the next generation replaces this file.

        [manager]
        localhost ansible_ssh_host=127.0.0.1 ansible_connection=local
        m1 ansible_ssh_host=10.0.0.1

        [worker]
        w1 ansible_ssh_host=fd00::2
        w2 ansible_ssh_host=10.0.0.3

        [all:vars]
        ansible_ssh_user=admin
        ");
        insta::assert_snapshot!(render(InventoryKind::Default, &nodes), @r"
        # Written by `iocdock cluster --gen-inventory-files` from default_nodes
        # of settings.yaml; the next generation replaces this file.

        [ungrouped]
        spare ansible_ssh_host=10.0.0.9

        [all:vars]
        ansible_ssh_user=admin
        ");
    }

    #[test]
    fn bad_node_maps_name_the_key() {
        let s = settings("cluster_worker_nodes: {w1: 10.0.0.300}\n");
        let err = Nodes::from_settings(&s).unwrap_err().to_string();
        assert!(
            err.contains("settings.yaml: cluster_worker_nodes:"),
            "{err}"
        );
        assert!(err.contains("\"w1\""), "{err}");
        assert!(err.contains("10.0.0.300"), "{err}");

        let s = settings("default_nodes: {'bad host': 10.0.0.1}\n");
        let err = Nodes::from_settings(&s).unwrap_err().to_string();
        assert!(err.contains("default_nodes"), "{err}");

        let s = settings("cluster_manager_nodes: {m1: ''}\n");
        let err = Nodes::from_settings(&s).unwrap_err().to_string();
        assert!(err.contains("has no IP address"), "{err}");

        let s = settings(
            "cluster_manager_nodes: {n1: 10.0.0.1}\ncluster_worker_nodes: {n1: 10.0.0.1}\n",
        );
        let err = Nodes::from_settings(&s).unwrap_err().to_string();
        assert!(err.contains("either manager or worker"), "{err}");

        let s = settings("ansible_ssh_user: 'root x'\n");
        let err = Nodes::from_settings(&s).unwrap_err().to_string();
        assert!(err.contains("ansible_ssh_user"), "{err}");
    }
}
