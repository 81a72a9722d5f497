//! `iocdock cluster`, `ansible`, `registry` and `make-certs`: the nodes around the swarm.

use clap::builder::PossibleValue;
use clap::{ArgGroup, Args, ValueEnum};

use crate::cluster::inventory::InventoryKind;

// The domain enums are the argument types: the command line only spells their values.
// By hand rather than derived, so the domain modules stay free of clap and the
// possible values keep the order and (absent) descriptions `--help` has always shown.
impl ValueEnum for InventoryKind {
    fn value_variants<'a>() -> &'a [Self] {
        &[InventoryKind::Cluster, InventoryKind::Default]
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(match self {
            InventoryKind::Cluster => "cluster",
            InventoryKind::Default => "default",
        }))
    }
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("action").required(true).multiple(false)))]
pub(crate) struct ClusterArgs {
    /// Write $ANSIBLE_PATH/inventory/cluster and inventory/default from the node maps of the settings
    #[arg(long = "gen-inventory-files", group = "action")]
    pub(crate) gen_inventory_files: bool,
    /// Check that ansible reaches every node
    #[arg(long, group = "action")]
    pub(crate) ping: bool,
    /// Create the working user (ansible_for_user) on every node
    #[arg(long = "create-remote-user", group = "action")]
    pub(crate) create_remote_user: bool,
    /// Authorize this machine's SSH key on every node (the first time add `-- --ask-pass`)
    #[arg(long = "set-up-ssh-connection", group = "action")]
    pub(crate) set_up_ssh_connection: bool,
    /// Install the basic packages and Docker Engine on every node
    #[arg(long = "set-up-basic-environment", group = "action")]
    pub(crate) set_up_basic_environment: bool,
    /// Create the swarm on the first manager and join the other managers and the workers
    #[arg(long = "set-up-swarm", group = "action")]
    pub(crate) set_up_swarm: bool,
    /// Every set-up step in order: user, SSH, basic environment, swarm, files and folders
    #[arg(long = "set-up-cluster", group = "action")]
    pub(crate) set_up_cluster: bool,
    /// Mount the NFS run directory and registry data, create the folders of the services
    #[arg(long = "set-up-file-and-dir", group = "action")]
    pub(crate) set_up_file_and_dir: bool,
    /// Log every node in to the cluster registry
    #[arg(long = "registry-login", group = "action")]
    pub(crate) registry_login: bool,
    /// Make every node trust the cluster root CA made by make-certs
    #[arg(long = "set-up-root-cert", group = "action")]
    pub(crate) set_up_root_cert: bool,
    /// Give every node's engine a TLS endpoint (port 2376) with the certificates of
    /// make-certs --node-engines, for service --exec and --attach; restarts docker there
    #[arg(long = "set-up-engine-tls", group = "action")]
    pub(crate) set_up_engine_tls: bool,

    /// Inventory to run on: cluster (managers and workers) or default (default_nodes)
    #[arg(long, value_enum, default_value_t = InventoryKind::Cluster, value_name = "NAME")]
    pub(crate) inventory: InventoryKind,
    /// More arguments for ansible after `--`, e.g. `-- --limit worker3 --ask-pass`
    #[arg(last = true, value_name = "ANSIBLE_ARGS")]
    pub(crate) ansible_args: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct AnsibleArgs {
    /// Inventory to run on: cluster (managers and workers) or default (default_nodes)
    #[arg(long, value_enum, default_value_t = InventoryKind::Cluster, value_name = "NAME")]
    pub(crate) inventory: InventoryKind,
    /// Arguments for ansible after `--`, e.g. `-- all -m ping`
    #[arg(last = true, required = true, value_name = "ANSIBLE_ARGS")]
    pub(crate) args: Vec<String>,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("action").required(true).multiple(false)))]
pub(crate) struct RegistryArgs {
    /// Print the repositories of the registry, or the tags of IMAGE
    #[arg(long, value_name = "IMAGE", num_args = 0..=1, group = "action")]
    pub(crate) list: Option<Option<String>>,
}

/// Default validity of a server certificate: renewing it touches only the manager,
/// so it is shorter than the CA's. The command line owns the default; the certificate
/// code takes the days it is given.
const SERVER_CERT_DAYS: u32 = 825;

#[derive(Debug, Args)]
pub(crate) struct MakeCertsArgs {
    /// Replace an existing server certificate (the CA is kept unless --new-ca)
    #[arg(long)]
    pub(crate) force: bool,
    /// Make a new root CA too; every node must then trust it again (cluster --set-up-root-cert)
    #[arg(long = "new-ca")]
    pub(crate) new_ca: bool,
    /// Also make the server certificate valid for localhost and 127.0.0.1
    #[arg(long)]
    pub(crate) localhost: bool,
    /// Another DNS name or IP address the server certificate is valid for (e.g. nginx's name)
    #[arg(long = "san", value_name = "NAME")]
    pub(crate) san: Vec<String>,
    /// Days the server certificate is valid
    #[arg(long, value_name = "N", default_value_t = SERVER_CERT_DAYS, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub(crate) days: u32,
    /// Only check the existing certificates (and print them)
    #[arg(long, conflicts_with_all = ["force", "new_ca"])]
    pub(crate) verify: bool,
    /// Issue the node engines' TLS certificates from the existing CA: a server
    /// certificate for each swarm node (hostname and swarm address) and the manager's
    /// client certificate, in $MANAGER_PATH/pki/engines
    #[arg(long = "node-engines", conflicts_with_all = ["force", "new_ca", "verify", "localhost", "san"])]
    pub(crate) node_engines: bool,
}
