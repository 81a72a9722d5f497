//! `iocdock service`, `swarm` and `client`: the managed services on the swarm.

use std::path::PathBuf;

use clap::builder::PossibleValue;
use clap::{ArgGroup, Args, ValueEnum};

use super::OutputFormat;
use crate::swarm::managed::ServiceType;

// The domain enum is the argument type: see `InventoryKind`'s in `cli::cluster`.
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
    /// Restart the deployed service: its tasks are replaced as its update_config says,
    /// nothing else changes
    #[arg(long, group = "action")]
    pub(crate) restart: bool,
    /// Stop the deployed service (0 replicas); the service, its spec and its files stay
    #[arg(long, group = "action")]
    pub(crate) stop: bool,
    /// Start a stopped service with the replicas its service file says
    #[arg(long, group = "action")]
    pub(crate) start: bool,
    /// The IOC's revisions, newest first: time, user, command and what changed
    #[arg(long, group = "action")]
    pub(crate) history: bool,
    /// Put the IOC's files of revision REV (default: the one before the newest) back
    /// and deploy them; a built-in or custom service gets the engine's previous spec
    #[arg(long, group = "action", value_name = "REV", num_args = 0..=1)]
    pub(crate) rollback: Option<Option<String>>,
    /// Run CMD in the container of the IOC's running task, output streamed, its exit
    /// code passed on; everything after --exec is the command (e.g. --exec caget ramper:x)
    #[arg(
        long,
        group = "action",
        value_name = "CMD",
        num_args = 1..,
        allow_hyphen_values = true
    )]
    pub(crate) exec: Option<Vec<String>>,
    /// Connect the terminal to the IOC's console (its iocsh); ctrl-p ctrl-q leaves it
    /// running
    #[arg(long, group = "action")]
    pub(crate) attach: bool,
    /// With --deploy, --update, --restart, --start or --rollback: return once the engine
    /// took the change, without waiting until the new copies run
    #[arg(long)]
    pub(crate) detach: bool,

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
    /// With --show-logs: only lines logged since TIME, a duration back from now (10m,
    /// 2h, 1h30m) or an RFC 3339 time (2026-12-04T15:30:00Z)
    // A hyphen-led value ("-5m") reaches the parser, which names the accepted forms.
    #[arg(
        long,
        value_name = "TIME",
        requires = "show_logs",
        allow_hyphen_values = true
    )]
    pub(crate) since: Option<String>,
    /// With --show-logs: put the time the engine logged each line (RFC 3339) in front of it
    #[arg(long, requires = "show_logs")]
    pub(crate) timestamps: bool,
    /// With --show-logs: the log of the task before the current one (the one that
    /// crashed, or was replaced by an update), not the current task's
    #[arg(long, requires = "show_logs", conflicts_with = "follow")]
    pub(crate) previous: bool,

    /// With --remove: remove without asking (needed without a terminal)
    #[arg(short, long, requires = "remove")]
    pub(crate) yes: bool,
    /// With --deploy or --update: deploy even when no ready, active node satisfies an
    /// IOC's placement constraints (its task waits, pending, for one)
    #[arg(long)]
    pub(crate) force: bool,
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
    /// Set labels of a node (hostname or ID): NODE key=value...
    #[arg(
        long = "label-node",
        group = "action",
        num_args = 2..,
        value_names = ["NODE", "LABEL"]
    )]
    pub(crate) label_node: Vec<String>,
    /// Remove labels from a node (hostname or ID): NODE key...
    #[arg(
        long = "unlabel-node",
        group = "action",
        num_args = 2..,
        value_names = ["NODE", "KEY"]
    )]
    pub(crate) unlabel_node: Vec<String>,
    /// Stop placing tasks on a node and move its IOCs to other nodes; waits until
    /// they run elsewhere (node_drain_timeout) and says where each went
    #[arg(long = "drain-node", group = "action", value_name = "NODE")]
    pub(crate) drain_node: Option<String>,
    /// Let a drained or paused node take tasks again
    #[arg(long = "activate-node", group = "action", value_name = "NODE")]
    pub(crate) activate_node: Option<String>,
    /// Move IOC services, rebalance_batch_size at a time, until every node that may
    /// run them carries a fair share (after a failed node returns)
    #[arg(long, group = "action")]
    pub(crate) rebalance: bool,

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
    /// With --drain-node: return once the node is drained, without waiting for its
    /// IOCs to move; with --update-deployed-services or --deploy-all-iocs: change
    /// every IOC service at once, without batches and without waiting
    #[arg(long)]
    pub(crate) detach: bool,
    /// With --deploy-all-iocs: deploy even when no ready, active node satisfies an
    /// IOC's placement constraints
    #[arg(long, requires = "deploy_all_iocs")]
    pub(crate) force: bool,
    /// Confirm without asking: removals, --update-deployed-services, --drain-node,
    /// --rebalance, -b and -r (needed without a terminal); with --gen-built-in-services:
    /// write without asking the engine
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
