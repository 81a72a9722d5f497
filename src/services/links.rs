//! Where the links in notifications lead: the external URLs of prometheus (the
//! "source" link of every alert) and alertmanager (silences, the alert list). They
//! must open in an operator's browser, so they name an address operators reach: the
//! URL a setting gives, else the management address, else the node the service runs
//! on, never a container or a swarm service name.

use crate::settings::Settings;

/// Prometheus' and alertmanager's published ports, as their templates publish them.
pub(crate) const PROMETHEUS_PORT: u16 = 9090;
pub(crate) const ALERTMANAGER_PORT: u16 = 9093;

/// The node a task runs on, which swarm writes into the environment of each task
/// (the templates pass the URL through the environment for this).
const TASK_NODE: &str = "{{.Node.Hostname}}";

fn url(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("http://[{host}]:{port}/")
    } else {
        format!("http://{host}:{port}/")
    }
}

/// The first address that is set, in the order given, as `http://address:port/`;
/// the node of the task when none is.
fn derived(addresses: &[&str], port: u16) -> String {
    let host = addresses
        .iter()
        .map(|a| a.trim())
        .find(|a| !a.is_empty())
        .unwrap_or(TASK_NODE);
    url(host, port)
}

/// `prometheus_external_url`, else from `management_address`, else the node.
pub(crate) fn prometheus(settings: &Settings) -> String {
    match settings.prometheus_external_url.trim() {
        "" => derived(&[&settings.management_address], PROMETHEUS_PORT),
        set => set.to_string(),
    }
}

/// `alertmanager_external_url`, else from `alert_manager_master_ip` (the address of
/// its own node, which earlier versions used), else from `management_address`, else
/// the node.
pub(crate) fn alertmanager(settings: &Settings) -> String {
    match settings.alertmanager_external_url.trim() {
        "" => derived(
            &[
                &settings.alert_manager_master_ip,
                &settings.management_address,
            ],
            ALERTMANAGER_PORT,
        ),
        set => set.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(yaml: &str) -> Settings {
        crate::settings::for_test(yaml)
    }

    #[test]
    fn a_set_url_wins() {
        let s = settings(
            "prometheus_external_url: https://mon.lab.org/prometheus/\n\
             alertmanager_external_url: https://mon.lab.org/alerts\n\
             management_address: 10.0.0.1\nalert_manager_master_ip: 10.0.0.9\n",
        );
        assert_eq!(prometheus(&s), "https://mon.lab.org/prometheus/");
        assert_eq!(alertmanager(&s), "https://mon.lab.org/alerts");
    }

    #[test]
    fn the_management_address_names_the_published_ports() {
        let s = settings("management_address: manager.lab.org\n");
        assert_eq!(prometheus(&s), "http://manager.lab.org:9090/");
        assert_eq!(alertmanager(&s), "http://manager.lab.org:9093/");
        let s = settings("management_address: 'fd00::1'\n");
        assert_eq!(prometheus(&s), "http://[fd00::1]:9090/");
    }

    #[test]
    fn alertmanager_keeps_its_own_node_address() {
        let s = settings("management_address: 10.0.0.1\nalert_manager_master_ip: 10.0.0.9\n");
        assert_eq!(alertmanager(&s), "http://10.0.0.9:9093/");
        assert_eq!(prometheus(&s), "http://10.0.0.1:9090/");
    }

    #[test]
    fn without_settings_the_node_of_the_task_is_named() {
        let s = settings("");
        assert_eq!(prometheus(&s), "http://{{.Node.Hostname}}:9090/");
        assert_eq!(alertmanager(&s), "http://{{.Node.Hostname}}:9093/");
    }
}
