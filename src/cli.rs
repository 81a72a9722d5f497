//! Command-line definitions. Only clap types live here: the `///` comments are the
//! help text operators read, so they speak of what a flag does for them.

use std::path::PathBuf;

use clap::builder::PossibleValue;
use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

use crate::cluster::inventory::InventoryKind;
use crate::ioc::backup::BackupMode;
use crate::swarm::managed::ServiceType;

/// Manage EPICS IOC projects from creation to a running Docker Swarm service.
#[derive(Debug, Parser)]
#[command(
    name = "iocdock",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub(crate) struct Cli {
    /// Home folder of all iocdock data [env: IOCDOCK_HOME] [default: /opt/IocDockHome]
    #[arg(long, global = true, value_name = "DIR")]
    pub(crate) home: Option<PathBuf>,

    /// Print details of what is done on stderr
    #[arg(short, long, global = true, conflicts_with = "quiet")]
    pub(crate) verbose: bool,

    /// Print only data and errors
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create new IOC projects in the repository
    #[command(after_help = "\
Examples:
  # two IOCs that run as swarm services
  iocdock create ioc1 ioc2 -o host=swarm

  # an IOC with an asyn port section, autosave and caPutLog
  iocdock create ramper --add-asyn --autosave --caputlog

  # limits in the [DEPLOY] section
  iocdock create ioc3 -s DEPLOY -o cpu-limit=0.5 memory-limit=512M
")]
    Create(EditArgs),
    /// Change the ioc.ini of existing IOC projects
    #[command(after_help = "\
Examples:
  # the image the IOCs run in
  iocdock set ioc1 ioc2 -o image=registry.iasf/ioc-exec:1.1.0

  # options of another section
  iocdock set ioc1 -s DEPLOY -o cpu-limit=0.5 memory-limit=512M

  # exactly these modules
  iocdock set ioc1 --autosave --status-ioc --status-os
")]
    Set(EditArgs),
    /// List IOC projects, optionally filtered by conditions key=value
    #[command(visible_alias = "ls")]
    #[command(after_help = "\
Examples:
  # names of the IOCs that run in the swarm
  iocdock list host=swarm

  # state and options of one IOC
  iocdock list -i -l ioc1

  # every IOC as JSON
  iocdock list --format json
")]
    List(ListArgs),
    /// Edit the ioc.ini of an IOC project in $VISUAL, $EDITOR or vi; saved only if valid
    #[command(after_help = "\
Examples:
  # edit in $VISUAL, $EDITOR or vi
  iocdock edit ioc1

  # drop the copy a refused save kept and start afresh
  iocdock edit ioc1 --discard
")]
    Edit(EditFileArgs),
    /// Remove IOC projects from the repository
    #[command(visible_alias = "rm")]
    #[command(after_help = "\
Examples:
  # remove one IOC without asking
  iocdock remove ioc1 -f

  # remove IOCs with their snapshot, run folder and service file
  iocdock rm -rf ioc2 ioc3 --yes
")]
    Remove(RemoveArgs),
    /// Rename an IOC project together with its snapshot and exported run folder
    #[command(after_help = "\
Examples:
  # rename an IOC that is not deployed
  iocdock rename ioc1 ioc9

  # rename a deployed IOC: its service is removed first
  iocdock rename ioc9 ioc1 --force --yes
")]
    Rename(RenameArgs),
    /// Rewrite every ioc.ini and state file in the current format
    #[command(after_help = "\
Examples:
  # rewrite every ioc.ini and state file in the current format
  iocdock update

  # the same, saying what is done
  iocdock -v update
")]
    Update,
    /// Run an action on IOC projects: sources, startup files, export, snapshots, backups
    #[command(after_help = "\
Examples:
  # copy the *.db, *.proto and *.im files of ./db into src/
  iocdock exec ioc1 --add-src-file ./db

  # generate, export and write the service files
  iocdock exec ioc1 ioc2 --deploy

  # archive two IOCs, keeping the newest 10 archives
  iocdock exec ioc1 ioc2 -b --keep 10
")]
    Exec(ExecArgs),
    /// Deploy, update, remove or inspect swarm services (IOCs and cluster services)
    #[command(after_help = "\
Examples:
  # deploy an IOC exported with exec --deploy
  iocdock service ioc1 --deploy

  # the last 50 lines of its log
  iocdock service ioc1 --show-logs --tail 50

  # exit 4 when a deployed service differs from its file
  iocdock service ioc1 ioc2 --check-deploy --exit-code
")]
    Service(ServiceArgs),
    /// Operate the whole swarm: deploy or remove service groups, digest, nodes, backups
    #[command(after_help = "\
Examples:
  # every managed service with replicas and status
  iocdock swarm --show-digest

  # deploy every IOC that is not deployed yet
  iocdock swarm --deploy-all-iocs

  # archive the swarm state from cron
  iocdock swarm -b --yes
")]
    Swarm(SwarmArgs),
    /// Run an EPICS client tool (caget, caput, camonitor, ...) in the client service
    #[command(after_help = "\
Examples:
  # read a PV of an IOC with status-ioc
  iocdock client caget ioc1:UPTIME

  # follow a PV until Ctrl-C
  iocdock client camonitor ioc1:HEARTBEAT
")]
    Client(ClientArgs),
    /// Set up the cluster's machines with ansible: users, SSH, Docker, swarm, folders
    #[command(after_help = "\
Examples:
  # write the inventory from the node maps of the settings
  iocdock cluster --gen-inventory-files

  # authorize this machine's SSH key on every node, asking for the password once
  iocdock cluster --set-up-ssh-connection -- --ask-pass

  # check that ansible reaches every node
  iocdock cluster --ping
")]
    Cluster(ClusterArgs),
    /// Pass arguments to ansible, with the cluster inventory and the settings
    #[command(after_help = "\
Examples:
  # ping every node of the cluster inventory
  iocdock ansible -- all -m ping

  # run a command on the default nodes
  iocdock ansible --inventory default -- all -a uptime
")]
    Ansible(AnsibleArgs),
    /// List the repositories of the cluster registry, or the tags of one image
    #[command(after_help = "\
Examples:
  # the repositories of the cluster registry
  iocdock registry --list

  # the tags of one image
  iocdock registry --list ioc-exec
")]
    Registry(RegistryArgs),
    /// Create the cluster root CA and the registry's server certificate
    #[command(after_help = "\
Examples:
  # the root CA and the registry's certificate
  iocdock make-certs

  # a new server certificate also valid for nginx.iasf
  iocdock make-certs --force --san nginx.iasf

  # check and print the certificates
  iocdock make-certs --verify
")]
    MakeCerts(MakeCertsArgs),
    /// Print a setting or a path, e.g. `config PREFIX_STACK_NAME`
    #[command(after_help = "\
Examples:
  # one setting, for a script
  iocdock config PREFIX_STACK_NAME

  # a path, in snake case
  iocdock config mount_path

  # every name and its value
  iocdock config --list
")]
    Config(ConfigArgs),
    /// Create the folders of the home layout
    #[command(after_help = "\
Examples:
  # create the folders of the home layout
  iocdock init

  # the same in another home
  iocdock --home ./lab-home init
")]
    Init,
    /// Print a shell completion script
    #[command(after_help = "\
Examples:
  # completion in the running bash
  source <(iocdock completions bash)

  # a zsh completion file to put in $fpath
  iocdock completions zsh > _iocdock
")]
    Completions(CompletionArgs),
}

#[derive(Debug, Args)]
pub(crate) struct EditArgs {
    /// IOC project names
    #[arg(required = true, value_name = "NAME")]
    pub(crate) names: Vec<String>,

    /// Options "key=value" to set in the section given by -s
    #[arg(short, long = "options", value_name = "KEY=VALUE", num_args = 1..)]
    pub(crate) options: Vec<String>,

    /// Section that -o options go to (case-insensitive)
    #[arg(short, long, default_value = "IOC")]
    pub(crate) section: String,

    /// Copy options from another ioc.ini (-o wins on conflict)
    #[arg(short = 'f', long = "ini-file", value_name = "FILE")]
    pub(crate) ini_file: Option<PathBuf>,

    /// Use the autosave module (with the other module flags: exactly the chosen modules)
    #[arg(long)]
    pub(crate) autosave: bool,
    /// Use the caPutLog module
    #[arg(long)]
    pub(crate) caputlog: bool,
    /// Load the IOC health records (status-ioc module)
    #[arg(long = "status-ioc")]
    pub(crate) status_ioc: bool,
    /// Load the host health records (status-os module)
    #[arg(long = "status-os")]
    pub(crate) status_os: bool,

    /// Add a [RAW] section prefilled for an asyn IP or serial port
    #[arg(long = "add-asyn", conflicts_with_all = ["add_stream", "add_raw"])]
    pub(crate) add_asyn: bool,
    /// Add a [RAW] section prefilled for StreamDevice
    #[arg(long = "add-stream", conflicts_with = "add_raw")]
    pub(crate) add_stream: bool,
    /// Add an empty [RAW] section
    #[arg(long = "add-raw")]
    pub(crate) add_raw: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Conditions key=value, all of which must hold
    #[arg(value_name = "KEY=VALUE")]
    pub(crate) conditions: Vec<String>,

    /// Section that conditions on ini options look in
    #[arg(short, long, default_value = "IOC")]
    pub(crate) section: String,

    /// Only consider these IOC projects
    #[arg(short, long = "list-from", value_name = "NAME", num_args = 0..)]
    pub(crate) list_from: Option<Vec<String>>,

    /// Show state and every option of each IOC
    #[arg(short, long, group = "view")]
    pub(crate) info: bool,

    /// Show a table of IOC and description
    #[arg(short, long, group = "view")]
    pub(crate) description: bool,

    /// Show a panel of state, deployment and consistency
    #[arg(short, long, group = "view")]
    pub(crate) panel: bool,

    /// With -p: exit with code 4 unless every listed IOC runs, is healthy and its
    /// service is consistent with its service file (for cron alerts)
    #[arg(long, requires = "panel")]
    pub(crate) check: bool,

    /// Output format: text tables, or one JSON document (docs/JSON.md)
    #[arg(long, value_enum, default_value_t = OutputFormat::Text, value_name = "FORMAT")]
    pub(crate) format: OutputFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub(crate) enum OutputFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct EditFileArgs {
    /// IOC project name
    pub(crate) name: String,

    /// Drop the edit an earlier refused save kept, and edit ioc.ini afresh
    #[arg(long)]
    pub(crate) discard: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RemoveArgs {
    /// IOC project names
    #[arg(required = true, value_name = "NAME")]
    pub(crate) names: Vec<String>,

    /// Also remove the snapshot, the exported run folder and the swarm service file
    #[arg(short, long = "remove-all")]
    pub(crate) remove_all: bool,

    /// Do not ask about each IOC; remove even when the engine cannot tell whether it is
    /// deployed, and remove a deployed IOC's service first
    #[arg(short, long)]
    pub(crate) force: bool,

    /// Confirm without asking what needs confirmation: -rf of several IOCs, removing a
    /// deployed IOC's service (needed without a terminal)
    #[arg(short, long)]
    pub(crate) yes: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RenameArgs {
    /// Current name
    pub(crate) old: String,
    /// New name
    pub(crate) new: String,

    /// Rename a deployed IOC: its service is removed first
    #[arg(short, long)]
    pub(crate) force: bool,

    /// With --force: remove the service without asking (needed without a terminal)
    #[arg(short, long, requires = "force")]
    pub(crate) yes: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ConfigArgs {
    /// Name of a setting or path (upper or snake case)
    #[arg(required_unless_present = "list", conflicts_with = "list")]
    pub(crate) name: Option<String>,

    /// Print every name and its value
    #[arg(short, long)]
    pub(crate) list: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CompletionArgs {
    /// Shell to generate the script for
    pub(crate) shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("action").required(true).multiple(false)))]
pub(crate) struct ExecArgs {
    /// IOC project names (`alliocs` with --gen-swarm-file: every exported swarm IOC; with -b, -r: every IOC)
    #[arg(value_name = "NAME")]
    pub(crate) names: Vec<String>,

    /// Copy *.db, *.proto and *.im files from DIR into src/ and update [SRC]; without DIR rescan src/
    #[arg(long = "add-src-file", value_name = "DIR", num_args = 0..=1, group = "action")]
    pub(crate) add_src_file: Option<Option<PathBuf>>,

    /// Check the ioc.ini and generate project/startup (st.cmd, substitutions, db files)
    #[arg(long = "gen-startup-file", group = "action")]
    pub(crate) gen_startup_file: bool,

    /// Copy ioc.ini and the startup files to the run directory $MOUNT_PATH/<host>/<name>
    #[arg(long = "export-for-mount", group = "action")]
    pub(crate) export_for_mount: bool,

    /// Generate the startup files, then export them
    #[arg(long = "generate-and-export", group = "action")]
    pub(crate) generate_and_export: bool,

    /// Generate, export and write the swarm service file
    #[arg(long, group = "action")]
    pub(crate) deploy: bool,

    /// Write $MOUNT_PATH/swarm/<name>/compose-swarm.yaml from the exported ioc.ini
    #[arg(long = "gen-swarm-file", group = "action")]
    pub(crate) gen_swarm_file: bool,

    /// Copy ioc.ini and src/ to the snapshot folder
    #[arg(long = "add-snapshot-file", group = "action")]
    pub(crate) add_snapshot_file: bool,

    /// Show what changed since the snapshot (unified diff, snapshot -> repository)
    #[arg(long = "check-snapshot", group = "action")]
    pub(crate) check_snapshot: bool,

    /// Restore files from the snapshot: ioc.ini, names of src files, or all
    #[arg(long = "restore-snapshot-file", value_name = "FILE", num_args = 1.., group = "action")]
    pub(crate) restore_snapshot_file: Option<Vec<String>>,

    /// Show how the exported copy differs from the repository (unified diff)
    #[arg(
        long = "check-deploy",
        visible_alias = "check-running",
        group = "action"
    )]
    pub(crate) check_deploy: bool,

    /// Write one archive <YYYYmmddHHMMSS>.ioc.tar.gz of the named IOCs (none named: every IOC)
    #[arg(short = 'b', long = "gen-backup-file", group = "action")]
    pub(crate) gen_backup_file: bool,

    /// Restore the named IOCs of a backup archive into the repository (none named: all of them)
    #[arg(
        short = 'r',
        long = "restore-backup-file",
        value_name = "FILE",
        group = "action"
    )]
    pub(crate) restore_backup_file: Option<PathBuf>,

    /// Overwrite what exists: running data on export, IOCs on restore, files on snapshot restore
    #[arg(long = "force-overwrite")]
    pub(crate) force_overwrite: bool,

    /// Print what would be written instead of writing it (--gen-startup-file, --deploy, -b, -r)
    #[arg(long = "dry-run")]
    pub(crate) dry_run: bool,

    /// Folder of the backup archives [default: IOC_BACKUP_PATH]
    #[arg(long = "backup-path", value_name = "DIR", requires = "gen_backup_file")]
    pub(crate) backup_path: Option<PathBuf>,

    /// What a backup holds: src (ioc.ini, state, src/) or all (also startup, logs, settings)
    #[arg(long = "backup-mode", value_enum, default_value_t = BackupMode::Src, requires = "gen_backup_file")]
    pub(crate) backup_mode: BackupMode,

    /// After a backup, keep only the newest N archives of the backup folder
    #[arg(long, value_name = "N", requires = "gen_backup_file", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) keep: Option<u32>,
}

// The domain enums are the argument types: the command line only spells their values.
// By hand rather than derived, so the domain modules stay free of clap and the
// possible values keep the order and (absent) descriptions `--help` has always shown.

impl ValueEnum for BackupMode {
    fn value_variants<'a>() -> &'a [Self] {
        &[BackupMode::Src, BackupMode::All]
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(match self {
            BackupMode::Src => "src",
            BackupMode::All => "all",
        }))
    }
}

impl ValueEnum for ServiceType {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            ServiceType::Ioc,
            ServiceType::Global,
            ServiceType::Local,
            ServiceType::Custom,
        ]
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.as_str()))
    }
}

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
pub(crate) struct ServiceArgs {
    /// IOC or service names
    #[arg(required = true, value_name = "NAME")]
    pub(crate) names: Vec<String>,

    /// Kind of service the names refer to (default: IOC, then built-in, then custom)
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    pub(crate) kind: Option<ServiceType>,

    /// Deploy the service from its service file
    #[arg(long, group = "action")]
    pub(crate) deploy: bool,
    /// Remove the service from the swarm
    #[arg(long, group = "action")]
    pub(crate) remove: bool,
    /// Apply the current service file to the deployed service (rolling restart)
    #[arg(long, group = "action")]
    pub(crate) update: bool,
    /// Show the deployed service's configuration
    #[arg(long = "show-config", group = "action")]
    pub(crate) show_config: bool,
    /// Show the service's tasks
    #[arg(long = "show-info", group = "action")]
    pub(crate) show_info: bool,
    /// Show the service's log
    #[arg(long = "show-logs", group = "action")]
    pub(crate) show_logs: bool,
    /// Compare the deployed service with what its service file deploys, field by field
    #[arg(long = "check-deploy", group = "action")]
    pub(crate) check_deploy: bool,

    /// With --check-deploy: exit with code 4 when a service drifted
    #[arg(long = "exit-code", requires = "check_deploy")]
    pub(crate) exit_code: bool,
    /// With --show-info: text table or one JSON document (docs/JSON.md)
    #[arg(long, value_enum, default_value_t = OutputFormat::Text, value_name = "FORMAT")]
    pub(crate) format: OutputFormat,

    /// With --show-logs: keep following new output
    #[arg(long, requires = "show_logs")]
    pub(crate) follow: bool,
    /// With --show-logs: only the last N lines
    #[arg(long, value_name = "N", requires = "show_logs")]
    pub(crate) tail: Option<u64>,

    /// With --remove: remove without asking (needed without a terminal)
    #[arg(short, long, requires = "remove")]
    pub(crate) yes: bool,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("action").required(true).multiple(false)))]
pub(crate) struct SwarmArgs {
    /// Render the built-in services' files into the run directory
    #[arg(long = "gen-built-in-services", group = "action")]
    pub(crate) gen_built_in_services: bool,
    /// Deploy every available built-in global service
    #[arg(long = "deploy-global-services", group = "action")]
    pub(crate) deploy_global_services: bool,
    /// Deploy every available IOC that is not deployed yet
    #[arg(long = "deploy-all-iocs", group = "action")]
    pub(crate) deploy_all_iocs: bool,
    /// Remove the built-in global services
    #[arg(long = "remove-global-services", group = "action")]
    pub(crate) remove_global_services: bool,
    /// Remove every IOC service
    #[arg(long = "remove-all-iocs", group = "action")]
    pub(crate) remove_all_iocs: bool,
    /// Remove every managed service
    #[arg(long = "remove-all-services", group = "action")]
    pub(crate) remove_all_services: bool,
    /// Table of every managed service with replicas and status
    #[arg(long = "show-digest", group = "action")]
    pub(crate) show_digest: bool,
    /// List the swarm's services
    #[arg(long = "show-services", group = "action")]
    pub(crate) show_services: bool,
    /// List the swarm's nodes
    #[arg(long = "show-nodes", group = "action")]
    pub(crate) show_nodes: bool,
    /// Print the join tokens of the swarm
    #[arg(long = "show-tokens", group = "action")]
    pub(crate) show_tokens: bool,
    /// List every managed service and whether it is available
    #[arg(long = "list-managed-services", group = "action")]
    pub(crate) list_managed_services: bool,
    /// Apply the current service files to every deployed managed service
    #[arg(long = "update-deployed-services", group = "action")]
    pub(crate) update_deployed_services: bool,
    /// Archive the swarm state (stops and restarts the engine)
    #[arg(short = 'b', long = "backup-swarm", group = "action")]
    pub(crate) backup_swarm: bool,
    /// Restore the swarm state from an archive (stops and restarts the engine)
    #[arg(
        short = 'r',
        long = "restore-swarm",
        group = "action",
        requires = "backup_file"
    )]
    pub(crate) restore_swarm: bool,

    /// With --restore-swarm: the archive to restore
    #[arg(long = "backup-file", value_name = "FILE")]
    pub(crate) backup_file: Option<PathBuf>,
    /// With --show-digest: only these service types
    #[arg(long = "service-type", value_enum, num_args = 1.., value_name = "TYPE", requires = "show_digest")]
    pub(crate) service_type: Vec<ServiceType>,
    /// With --show-services or --show-nodes: more columns
    #[arg(long)]
    pub(crate) detail: bool,
    /// With --show-digest, --show-services or --show-nodes: text table or one JSON
    /// document (docs/JSON.md)
    #[arg(long, value_enum, default_value_t = OutputFormat::Text, value_name = "FORMAT")]
    pub(crate) format: OutputFormat,
    /// Confirm without asking: removals, --update-deployed-services, -b and -r (needed
    /// without a terminal); with --gen-built-in-services: write without asking the engine
    #[arg(short, long)]
    pub(crate) yes: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ClientArgs {
    /// Client tool and its arguments, e.g. `caget ramper:ioc1`
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub(crate) command: Vec<String>,
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
}
