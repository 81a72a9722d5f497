use crate::cli::ClusterArgs;
use crate::cluster::ansible::{self, Ansible, ClusterError, Invocation, Playbook};
use crate::cluster::inventory::{self, InventoryKind, Nodes};
use crate::commands::ExitStatus;
use crate::printer::Printer;
use crate::settings::Settings;

/// Puts the shipped playbooks into $ANSIBLE_PATH, telling about files kept because an
/// operator changed them.
pub(crate) fn install_playbooks(settings: &Settings, printer: &Printer) -> anyhow::Result<()> {
    let report = ansible::install(&settings.paths.ansible)?;
    for path in &report.written {
        printer.detail(&format!("wrote {}", path.display()));
    }
    for (kept, beside) in &report.kept {
        printer.warn(&format!(
            "{} differs from the shipped version and is kept; the shipped one is {}",
            kept.display(),
            beside.display()
        ));
    }
    Ok(())
}

/// Runs one ansible command. Stopped by a signal, it ends the iocdock command with the
/// exit code a shell gives a program that signal stopped (130 for Ctrl-C, 143 for
/// SIGTERM); returning drops the `Ansible` and with it the temporary variables.
pub(crate) fn run_ansible(
    ansible: &mut Ansible,
    invocation: &Invocation,
    printer: &Printer,
) -> anyhow::Result<Option<ExitStatus>> {
    match ansible.run(invocation) {
        Ok(()) => Ok(None),
        Err(e @ ClusterError::Interrupted(which)) => {
            printer.error(&e.to_string());
            Ok(Some(ExitStatus::Interrupted(which)))
        }
        Err(e) => Err(e.into()),
    }
}

/// The checked node maps, and a warning when the inventory on disk no longer says what
/// the settings say (the operator changed settings.yaml and did not regenerate).
fn checked_nodes(
    settings: &Settings,
    kind: InventoryKind,
    printer: &Printer,
) -> anyhow::Result<Nodes> {
    let nodes = Nodes::from_settings(settings)?;
    let path = kind.path(&settings.paths.ansible);
    if let Ok(text) = std::fs::read_to_string(&path)
        && text != inventory::render(kind, &nodes)
    {
        printer.warn(&format!(
            "{} differs from the node maps of the settings; `iocdock cluster --gen-inventory-files` rewrites it",
            path.display()
        ));
    }
    Ok(nodes)
}

pub(crate) fn run(
    args: &ClusterArgs,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    if args.gen_inventory_files {
        let nodes = Nodes::from_settings(settings)?;
        install_playbooks(settings, printer)?;
        for path in inventory::write_all(&settings.paths.ansible, &nodes)? {
            printer.line(&path.display().to_string());
        }
        for kind in [InventoryKind::Cluster, InventoryKind::Default] {
            if nodes.is_empty(kind) {
                let keys = match kind {
                    InventoryKind::Cluster => "cluster_manager_nodes and cluster_worker_nodes",
                    InventoryKind::Default => "default_nodes",
                };
                printer.warn(&format!(
                    "inventory/{} has no hosts: {keys} of the settings are empty",
                    kind.file_name()
                ));
            }
        }
        return Ok(ExitStatus::Success);
    }

    let kind = args.inventory;
    checked_nodes(settings, kind, printer)?;
    let playbooks: Vec<Playbook> = if args.set_up_cluster {
        Playbook::SET_UP_CLUSTER.to_vec()
    } else if args.create_remote_user {
        vec![Playbook::CreateRemoteUser]
    } else if args.set_up_ssh_connection {
        vec![Playbook::SetUpSshConnection]
    } else if args.set_up_basic_environment {
        vec![Playbook::SetUpBasicEnvironment]
    } else if args.set_up_swarm {
        vec![Playbook::SetUpSwarm]
    } else if args.set_up_file_and_dir {
        vec![Playbook::SetUpFileAndDir]
    } else if args.registry_login {
        vec![Playbook::RegistryLogin]
    } else if args.set_up_root_cert {
        vec![Playbook::SetUpRootCert]
    } else if args.set_up_engine_tls {
        vec![Playbook::SetUpEngineTls]
    } else {
        Vec::new()
    };
    for playbook in &playbooks {
        playbook.preflight(settings)?;
    }
    if playbooks.contains(&Playbook::CreateRemoteUser)
        && settings.ansible_create_password.is_empty()
    {
        printer.warn(&format!(
            "ansible_create_password is empty: {} gets no password and can log in with an SSH key only",
            settings.ansible_for_user
        ));
    }
    install_playbooks(settings, printer)?;
    let mut ansible = Ansible::new(settings, kind)?;

    if args.ping {
        let mut ping = vec![
            "all".to_string(),
            "-m".to_string(),
            "ansible.builtin.ping".to_string(),
        ];
        ping.extend(args.ansible_args.iter().cloned());
        let invocation = ansible.adhoc(&ping);
        printer.status(&format!("running {}", invocation.shown));
        if let Some(stopped) = run_ansible(&mut ansible, &invocation, printer)? {
            return Ok(stopped);
        }
        return Ok(ExitStatus::Success);
    }
    for playbook in &playbooks {
        let invocation = ansible.playbook(*playbook, &args.ansible_args);
        printer.status(&format!("running {}", invocation.shown));
        if let Some(stopped) = run_ansible(&mut ansible, &invocation, printer)? {
            return Ok(stopped);
        }
    }
    if args.set_up_cluster {
        printer.status(
            "cluster set up; next: `iocdock make-certs`, `iocdock cluster --set-up-root-cert`, \
             deploy the registry, then `iocdock cluster --registry-login`",
        );
    }
    Ok(ExitStatus::Success)
}
