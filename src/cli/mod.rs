//! Command-line definitions. Only clap types live here: the `///` comments are the
//! help text operators read, so they speak of what a flag does for them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod cluster;
mod deploy;
mod exec;
mod image;

pub(crate) use self::cluster::{AnsibleArgs, ClusterArgs, MakeCertsArgs, RegistryArgs};
pub(crate) use self::deploy::{ClientArgs, ServiceArgs, SwarmArgs};
pub(crate) use self::exec::ExecArgs;
pub(crate) use self::image::{
    ImageAction, ImageArgs, ImageBuildArgs, ImageListArgs, ImagePrepareArgs, ImagePushArgs,
};

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
    /// Set a new image (or only a new tag) on IOCs and roll their services out in batches
    #[command(after_help = "\
Examples:
  # a new image for two IOCs; deployed ones restart, a batch at a time
  iocdock update-image registry.iasf/ioc-exec:1.2.0 ioc1 ioc2

  # only a new tag, keeping each IOC's image name
  iocdock update-image :1.2.0 ioc1 ioc2

  # every IOC that runs in the swarm, names read from stdin
  iocdock list host=swarm | iocdock update-image :1.2.0 -
")]
    UpdateImage(UpdateImageArgs),
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

  # archive the swarm state from cron
  iocdock swarm -b --yes

  # a label IOCs can be placed by (constraints=node.labels.rack==a)
  iocdock swarm --label-node node2 rack=a
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
    /// Build IOC images from source, list them, push them and the services' images
    #[command(after_help = "\
Examples:
  # the base image and ioc-exec image of module set 1, from $IMAGE_SOURCES_PATH
  iocdock image build 1

  # the ioc-exec images and the IOCs that use them
  iocdock image list

  # push them to the cluster registry
  iocdock image push
")]
    Image(ImageArgs),
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
pub(crate) struct UpdateImageArgs {
    /// The new image (NAME:TAG), or only a new tag (:TAG) for each IOC's image
    #[arg(value_name = "IMAGE")]
    pub(crate) image: String,

    /// IOC project names; `-` reads them from stdin (one or more a line)
    #[arg(required = true, value_name = "NAME")]
    pub(crate) names: Vec<String>,

    /// Change every deployed IOC service at once, without batches and without waiting
    #[arg(long)]
    pub(crate) detach: bool,
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
