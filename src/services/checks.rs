//! Settings the built-in services depend on, checked before anything is rendered so
//! a mistake is one message naming the key rather than a service that fails later.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::alertmanager::SmtpTls;
use crate::settings::Settings;

fn plain_name(text: &str, extra: &[char]) -> bool {
    !text.is_empty()
        && text.starts_with(|c: char| c.is_ascii_alphanumeric())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(&c))
}

/// Absolute, and free of what YAML, shells or compose would read as syntax.
fn plain_path(text: &str) -> bool {
    text.starts_with('/')
        && text.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '.' | '+' | '@' | ',')
        })
}

fn ip_problem(key: &str, value: &str) -> Option<String> {
    (!value.is_empty() && value.parse::<IpAddr>().is_err())
        .then(|| format!("{key}: \"{value}\" is not an IP address"))
}

fn node_map_problems(key: &str, nodes: &BTreeMap<String, String>, problems: &mut Vec<String>) {
    for (host, ip) in nodes {
        if !plain_name(host, &['-', '.', '_']) {
            problems.push(format!(
                "{key}: \"{host}\" is not a host name (letters, digits, '-', '.', '_')"
            ));
        }
        if ip.parse::<IpAddr>().is_err() {
            problems.push(format!(
                "{key}: host \"{host}\": \"{ip}\" is not an IP address"
            ));
        }
    }
}

fn host_port(text: &str) -> bool {
    let Some((host, port)) = text.rsplit_once(':') else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    !host.is_empty()
        && !host.contains(char::is_whitespace)
        && port.parse::<u16>().is_ok_and(|p| p != 0)
}

fn email(text: &str) -> bool {
    text.split_once('@').is_some_and(|(user, domain)| {
        !user.is_empty() && (domain.contains('.') || domain == "localhost")
    }) && !text.contains(|c: char| c.is_whitespace() || matches!(c, ',' | '<' | '>' | '"'))
}

fn url(text: &str) -> bool {
    (text.starts_with("http://") || text.starts_with("https://"))
        && text.len() > "https://".len()
        && !text.contains(char::is_whitespace)
}

/// Alertmanager opens SMTPS (TLS from the first byte) exactly when the port is 465.
const SMTPS_PORT: &str = "465";

/// Characters that would need quoting where a URL is rendered (compose files, shell
/// words, YAML): an external URL has no use for them.
fn url_safe(text: &str) -> bool {
    !text.contains(|c: char| {
        c.is_whitespace()
            || c.is_control()
            || matches!(c, '"' | '\'' | '`' | '$' | '\\' | '{' | '}')
    })
}

fn external_url(text: &str) -> bool {
    let Some(rest) = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
    else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    !host.is_empty() && url_safe(text)
}

/// The settings of the alert path: how e-mail reaches the SMTP server and where the
/// links in notifications lead. Kept apart so the rules move as one.
fn alert_path_problems(s: &Settings, problems: &mut Vec<String>) {
    let tls = SmtpTls::parse(&s.alert_manager_smtp_tls);
    if tls.is_none() {
        problems.push(format!(
            "{}: \"{}\" is not one of none, starttls, tls",
            SmtpTls::KEY,
            s.alert_manager_smtp_tls
        ));
    }
    // Only e-mail uses the SMTP settings; host:port itself is checked with them.
    let port = s
        .alert_manager_smtp_smart_host
        .rsplit_once(':')
        .map(|(_, port)| port);
    if let (Some(tls), Some(port), false) =
        (tls, port, s.alert_manager_receive_email_list.is_empty())
    {
        match tls {
            SmtpTls::Tls if port != SMTPS_PORT => problems.push(format!(
                "{}: tls needs alert_manager_smtp_smart_host on port {SMTPS_PORT}, the only port alertmanager speaks TLS on from the first byte (\"{}\"; use starttls there)",
                SmtpTls::KEY,
                s.alert_manager_smtp_smart_host
            )),
            SmtpTls::None | SmtpTls::StartTls if port == SMTPS_PORT => problems.push(format!(
                "alert_manager_smtp_smart_host: port {SMTPS_PORT} is TLS from the first byte, where alertmanager always uses TLS: set {}: tls",
                SmtpTls::KEY
            )),
            _ => {}
        }
        if tls == SmtpTls::None && !s.alert_manager_smtp_auth_username.is_empty() {
            problems.push(format!(
                "{}: none would send the SMTP login of alert_manager_smtp_auth_username in clear: use starttls or tls, or a relay that takes no login",
                SmtpTls::KEY
            ));
        }
    }
    let address = &s.management_address;
    if !address.is_empty()
        && address.parse::<IpAddr>().is_err()
        && !plain_name(address, &['-', '.'])
    {
        problems.push(format!(
            "management_address: \"{address}\" is not a host name or IP address (the address alone, such as 10.0.0.1 or manager.lab.org)"
        ));
    }
    for (key, value) in [
        ("prometheus_external_url", &s.prometheus_external_url),
        ("alertmanager_external_url", &s.alertmanager_external_url),
    ] {
        if !value.is_empty() && !external_url(value) {
            problems.push(format!(
                "{key}: \"{value}\" is not an http:// or https:// URL (with a host, without spaces, quotes, '$', '\\', '{{' or '}}')"
            ));
        }
    }
}

/// Every problem of the settings the built-in services use, each naming its key.
pub(crate) fn problems(settings: &Settings) -> Vec<String> {
    let mut problems = Vec::new();
    let s = settings;
    if !plain_name(&s.prefix_stack_name, &['-', '_', '.']) {
        problems.push(format!(
            "prefix_stack_name: \"{}\" is not a stack name (letters, digits, '-', '_', '.'; first a letter or digit)",
            s.prefix_stack_name
        ));
    }
    if !plain_name(&s.registry_common_name, &['-', '.']) {
        problems.push(format!(
            "registry_common_name: \"{}\" is not a host name",
            s.registry_common_name
        ));
    }
    if !plain_path(&s.container_top_path) {
        problems.push(format!(
            "container_top_path: \"{}\" is not an absolute path of plain names",
            s.container_top_path
        ));
    }
    let swarm_dir = s.docker_swarm_dir.trim_end_matches('/');
    if !plain_path(swarm_dir) || swarm_dir.rsplit_once('/').is_none_or(|(p, _)| p.is_empty()) {
        problems.push(format!(
            "docker_swarm_dir: \"{}\" is not an absolute path below the Docker root (e.g. /var/lib/docker/swarm)",
            s.docker_swarm_dir
        ));
    }
    if s.registry_push_port == s.registry_port {
        problems.push(format!(
            "registry_push_port: {} is also registry_port; the push registry needs a port of its own",
            s.registry_push_port
        ));
    }
    problems.extend(ip_problem("registry_master_ip", &s.registry_master_ip));
    problems.extend(ip_problem(
        "alert_manager_master_ip",
        &s.alert_manager_master_ip,
    ));
    node_map_problems(
        "cluster_manager_nodes",
        &s.cluster_manager_nodes,
        &mut problems,
    );
    node_map_problems(
        "cluster_worker_nodes",
        &s.cluster_worker_nodes,
        &mut problems,
    );
    node_map_problems("default_nodes", &s.default_nodes, &mut problems);

    if !s.alert_manager_receive_email_list.is_empty() {
        if s.alert_manager_smtp_smart_host.is_empty() {
            problems.push(
                "alert_manager_smtp_smart_host is empty but alert_manager_receive_email_list is set (expected host:port of the SMTP server)".to_string(),
            );
        } else if !host_port(&s.alert_manager_smtp_smart_host) {
            problems.push(format!(
                "alert_manager_smtp_smart_host: \"{}\" is not host:port",
                s.alert_manager_smtp_smart_host
            ));
        }
        if s.alert_manager_smtp_email_send_address.is_empty() {
            problems.push(
                "alert_manager_smtp_email_send_address is empty but alert_manager_receive_email_list is set (expected the sender address)".to_string(),
            );
        } else if !email(&s.alert_manager_smtp_email_send_address) {
            problems.push(format!(
                "alert_manager_smtp_email_send_address: \"{}\" is not an e-mail address",
                s.alert_manager_smtp_email_send_address
            ));
        }
        for address in &s.alert_manager_receive_email_list {
            if !email(address) {
                problems.push(format!(
                    "alert_manager_receive_email_list: \"{address}\" is not an e-mail address"
                ));
            }
        }
    }
    for (key, value) in [
        (
            "alert_manager_default_webhook_receiver",
            &s.alert_manager_default_webhook_receiver,
        ),
        (
            "alert_manager_info_webhook_receiver",
            &s.alert_manager_info_webhook_receiver,
        ),
    ] {
        if !value.is_empty() && !url(value) {
            problems.push(format!(
                "{key}: \"{value}\" is not an http:// or https:// URL"
            ));
        }
    }
    alert_path_problems(s, &mut problems);
    for (key, value) in [
        ("monitoring_admin_password", &s.monitoring_admin_password),
        ("grafana_admin_password", &s.grafana_admin_password),
    ] {
        if !value.is_empty() {
            problems.extend(super::monitoring::problem(key, value));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(yaml: &str) -> Settings {
        crate::settings::for_test(yaml)
    }

    #[test]
    fn defaults_are_fine() {
        assert_eq!(problems(&settings("")), Vec::<String>::new());
    }

    #[test]
    fn bad_ips_name_their_key_and_host() {
        let found = problems(&settings(
            "registry_master_ip: 10.0.0.300\ncluster_worker_nodes: {w1: 10.0.0.2, w2: nope}\ndefault_nodes: {d1: '::1'}\n",
        ));
        assert_eq!(
            found,
            vec![
                "registry_master_ip: \"10.0.0.300\" is not an IP address".to_string(),
                "cluster_worker_nodes: host \"w2\": \"nope\" is not an IP address".to_string(),
            ]
        );
    }

    #[test]
    fn email_receivers_need_an_smtp_host_and_sender() {
        let found = problems(&settings(
            "alert_manager_receive_email_list: [ops@lab.org]\n",
        ));
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with("alert_manager_smtp_smart_host is empty"));
        assert!(found[1].starts_with("alert_manager_smtp_email_send_address is empty"));
        let found = problems(&settings(
            "alert_manager_receive_email_list: [ops@lab.org, nobody]\nalert_manager_smtp_smart_host: smtp.lab.org\nalert_manager_smtp_email_send_address: am@lab.org\n",
        ));
        assert_eq!(
            found,
            vec![
                "alert_manager_smtp_smart_host: \"smtp.lab.org\" is not host:port".to_string(),
                "alert_manager_receive_email_list: \"nobody\" is not an e-mail address".to_string(),
            ]
        );
        let fine = settings(
            "alert_manager_receive_email_list: [ops@lab.org]\nalert_manager_smtp_smart_host: smtp.lab.org:587\nalert_manager_smtp_email_send_address: am@lab.org\nalert_manager_default_webhook_receiver: http://hooks:8080/a\n",
        );
        assert_eq!(problems(&fine), Vec::<String>::new());
    }

    #[test]
    fn names_and_paths_that_would_break_the_files() {
        let found = problems(&settings(
            "prefix_stack_name: 'a b'\ncontainer_top_path: opt/EPICS\nalert_manager_info_webhook_receiver: hooks\n",
        ));
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(found[0].starts_with("prefix_stack_name:"));
        // The default registry name follows the prefix.
        assert!(found[1].starts_with("registry_common_name: \"registry.a b\""));
        assert!(found[2].starts_with("container_top_path:"));
        assert!(found[3].starts_with("alert_manager_info_webhook_receiver:"));
    }

    #[test]
    fn passwords_the_services_cannot_read_back_are_named() {
        let found = problems(&settings(
            "monitoring_admin_password: ' padded'\ngrafana_admin_password: fine\n",
        ));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("monitoring_admin_password: "),
            "{found:?}"
        );
        // The value itself is never part of a message.
        assert!(!found[0].contains("padded"), "{found:?}");
    }

    const EMAIL: &str = "alert_manager_receive_email_list: [ops@lab.org]\nalert_manager_smtp_email_send_address: am@lab.org\n";

    #[test]
    fn the_smtp_tls_mode_matches_the_port_alertmanager_uses_it_on() {
        for (extra, expected) in [
            (
                "alert_manager_smtp_smart_host: relay.lab.org:25\nalert_manager_smtp_tls: none\n",
                None,
            ),
            ("alert_manager_smtp_smart_host: smtp.lab.org:587\n", None),
            (
                "alert_manager_smtp_smart_host: smtp.lab.org:465\nalert_manager_smtp_tls: tls\n",
                None,
            ),
            (
                "alert_manager_smtp_smart_host: smtp.lab.org:587\nalert_manager_smtp_tls: tls\n",
                Some("alert_manager_smtp_tls: tls needs alert_manager_smtp_smart_host on port 465"),
            ),
            (
                "alert_manager_smtp_smart_host: smtp.lab.org:465\n",
                Some("alert_manager_smtp_smart_host: port 465 is TLS from the first byte"),
            ),
            (
                "alert_manager_smtp_smart_host: relay.lab.org:25\nalert_manager_smtp_tls: none\nalert_manager_smtp_auth_username: am\n",
                Some("alert_manager_smtp_tls: none would send the SMTP login"),
            ),
            (
                "alert_manager_smtp_smart_host: smtp.lab.org:587\nalert_manager_smtp_tls: STARTTLS\n",
                Some("alert_manager_smtp_tls: \"STARTTLS\" is not one of none, starttls, tls"),
            ),
        ] {
            let found = problems(&settings(&format!("{EMAIL}{extra}")));
            match expected {
                None => assert_eq!(found, Vec::<String>::new(), "{extra}"),
                Some(start) => {
                    assert_eq!(found.len(), 1, "{extra}: {found:?}");
                    assert!(found[0].starts_with(start), "{extra}: {found:?}");
                }
            }
        }
        // Without e-mail receivers only the word itself is checked.
        assert!(
            problems(&settings(
                "alert_manager_smtp_tls: tls\nalert_manager_smtp_smart_host: x:25\n"
            ))
            .is_empty()
        );
        assert_eq!(
            problems(&settings("alert_manager_smtp_tls: ssl\n")).len(),
            1
        );
    }

    #[test]
    fn link_addresses_must_be_reachable_names() {
        let fine = settings(
            "management_address: manager.lab.org\nprometheus_external_url: https://mon.lab.org/prometheus/\nalertmanager_external_url: http://10.0.0.1:9093\n",
        );
        assert_eq!(problems(&fine), Vec::<String>::new());
        assert!(problems(&settings("management_address: 'fd00::1'\n")).is_empty());
        let found = problems(&settings(
            "management_address: http://manager\nprometheus_external_url: manager:9090\nalertmanager_external_url: 'http://am/$x'\n",
        ));
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].starts_with(
            "management_address: \"http://manager\" is not a host name or IP address"
        ));
        assert!(found[1].starts_with(
            "prometheus_external_url: \"manager:9090\" is not an http:// or https:// URL"
        ));
        assert!(found[2].starts_with("alertmanager_external_url: "));
        assert!(problems(&settings("prometheus_external_url: 'http:///x'\n")).len() == 1);
    }
}
