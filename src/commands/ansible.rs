use crate::cli::AnsibleArgs;
use crate::cluster::ansible::Ansible;
use crate::cluster::inventory::Nodes;
use crate::commands::ExitStatus;
use crate::printer::Printer;
use crate::settings::Settings;

pub(crate) fn run(
    args: &AnsibleArgs,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    Nodes::from_settings(settings)?;
    super::cluster::install_playbooks(settings, printer)?;
    let mut ansible = Ansible::new(settings, args.inventory)?;
    let invocation = ansible.adhoc(&args.args);
    printer.detail(&format!("running {}", invocation.shown));
    // Whatever ansible printed is the answer; flush ours first so the order holds.
    printer.flush();
    Ok(
        super::cluster::run_ansible(&mut ansible, &invocation, printer)?
            .unwrap_or(ExitStatus::Success),
    )
}
