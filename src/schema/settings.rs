//! One rule per key of settings.yaml. Reading the file checks only types (a setting
//! one command does not use must not stop the others); each command checks the keys it
//! uses here, so `swarm --gen-built-in-services`, the cluster commands and `create`
//! judge a value alike.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use crate::schema::ioc_ini::Rule;
use crate::schema::{names, values};
use crate::settings::Settings;

/// A setting that cannot work, named with its file and key so the operator knows
/// exactly what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {key}: {problem}")]
pub(crate) struct BadSetting {
    pub(crate) file: PathBuf,
    pub(crate) key: &'static str,
    pub(crate) problem: String,
}

impl BadSetting {
    pub(crate) fn new(settings: &Settings, key: &'static str, problem: impl Into<String>) -> Self {
        BadSetting {
            file: settings.settings_file(),
            key,
            problem: problem.into(),
        }
    }
}

/// The rule of one key: every problem of its value in the settings (other keys it
/// depends on included).
struct SettingRule {
    key: &'static str,
    check: fn(&Settings) -> Vec<String>,
}

fn one(problem: Option<String>) -> Vec<String> {
    problem.into_iter().collect()
}

fn ip_problem(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty() && value.parse::<IpAddr>().is_err())
        .then(|| format!("\"{value}\" is not an IP address (expected e.g. 192.168.1.10)"))
}

fn node_problems(nodes: &BTreeMap<String, String>) -> Vec<String> {
    nodes
        .iter()
        .filter_map(|(host, address)| node(host, address).err())
        .collect()
}

/// One entry of a node map: an inventory host name and its IP address.
fn node(host: &str, address: &str) -> Result<IpAddr, String> {
    if !values::is_inventory_host(host) {
        return Err(format!(
            "host \"{host}\" is not a valid host name (letters, digits, '.', '-', '_')"
        ));
    }
    let address = address.trim();
    if address.is_empty() {
        return Err(format!("host \"{host}\" has no IP address"));
    }
    address.parse().map_err(|_| {
        format!("host \"{host}\": \"{address}\" is not an IP address (expected e.g. 192.168.1.10)")
    })
}

fn ioc_rule(rule: Rule, value: &str) -> Option<String> {
    crate::schema::ioc_ini::value_problem(rule, value)
}

fn password(key: &str, value: &str) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    // The rule words its key first; BadSetting names the key itself.
    password_problem(key, value).map(|p| {
        p.strip_prefix(key)
            .map(|rest| rest.trim_start_matches([':', ' ']).to_string())
            .unwrap_or(p)
    })
}

/// What is wrong with `value` as the password of `key`, if anything. The monitoring
/// services read passwords from files and strip the spaces around them, so such spaces
/// would be lost; bcrypt reads at most 72 bytes.
pub(crate) fn password_problem(key: &str, value: &str) -> Option<String> {
    if value.chars().any(char::is_control) {
        Some(format!(
            "{key}: a password without control characters or line breaks is expected"
        ))
    } else if value.trim() != value {
        Some(format!(
            "{key}: a password that does not begin or end with a space is expected (the services strip them)"
        ))
    } else if key == "monitoring_admin_password" && value.len() > 72 {
        Some(format!(
            "{key} is longer than 72 bytes, which bcrypt cannot hash"
        ))
    } else {
        None
    }
}

const RULES: &[SettingRule] = &[
    SettingRule {
        key: "prefix_stack_name",
        check: |s| one(names::prefix_problem(&s.prefix_stack_name)),
    },
    SettingRule {
        key: "default_modules",
        check: |s| one(ioc_rule(Rule::Modules, &s.default_modules)),
    },
    SettingRule {
        key: "default_ioc_bin",
        check: |s| {
            one(if s.default_ioc_bin.trim().is_empty() {
                Some(format!("empty: {}", values::BIN_RULE))
            } else {
                ioc_rule(Rule::Bin, &s.default_ioc_bin)
            })
        },
    },
    SettingRule {
        key: "ioc_cpu_limit",
        check: |s| one(ioc_rule(Rule::Cpus, &s.ioc_cpu_limit)),
    },
    SettingRule {
        key: "ioc_memory_limit",
        check: |s| {
            one(ioc_rule(
                Rule::Memory {
                    minimum: values::MIN_MEMORY_LIMIT,
                },
                &s.ioc_memory_limit,
            ))
        },
    },
    SettingRule {
        key: "ioc_default_constraints",
        check: |s| {
            s.ioc_default_constraints
                .iter()
                .filter_map(|c| {
                    values::constraint(c.trim())
                        .err()
                        .map(|e| format!("\"{c}\": {e}"))
                })
                .collect()
        },
    },
    SettingRule {
        key: "container_top_path",
        check: |s| {
            one((!values::is_plain_path(&s.container_top_path)).then(|| {
                format!(
                    "\"{}\" is not an absolute path of plain names",
                    s.container_top_path
                )
            }))
        },
    },
    SettingRule {
        key: "image_os_image",
        check: |s| {
            one(
                (!crate::compose::image::is_valid(s.image_os_image.trim())).then(|| {
                    format!(
                        "\"{}\" is not an image reference (expected e.g. ubuntu:24.04)",
                        s.image_os_image
                    )
                }),
            )
        },
    },
    SettingRule {
        key: "registry_common_name",
        check: |s| {
            let name = s.registry_common_name.trim();
            one((!values::is_dns_name(name))
                .then(|| format!("\"{name}\" is not a DNS name (expected e.g. registry.iasf)")))
        },
    },
    SettingRule {
        key: "registry_master_ip",
        check: |s| one(ip_problem(&s.registry_master_ip)),
    },
    SettingRule {
        key: "registry_push_port",
        check: |s| {
            one((s.registry_push_port == s.registry_port).then(|| {
                format!(
                    "{} is also registry_port; the push registry needs a port of its own",
                    s.registry_push_port
                )
            }))
        },
    },
    SettingRule {
        key: "cluster_manager_nodes",
        check: |s| node_problems(&s.cluster_manager_nodes),
    },
    SettingRule {
        key: "cluster_worker_nodes",
        check: |s| {
            let mut problems = node_problems(&s.cluster_worker_nodes);
            if let Some(both) = s
                .cluster_worker_nodes
                .keys()
                .find(|w| s.cluster_manager_nodes.contains_key(*w))
            {
                problems.push(format!(
                    "host \"{both}\" is also in cluster_manager_nodes; a node is either manager or worker"
                ));
            }
            problems
        },
    },
    SettingRule {
        key: "default_nodes",
        check: |s| node_problems(&s.default_nodes),
    },
    SettingRule {
        key: "swarm_advertise_ip",
        check: |s| one(ip_problem(&s.swarm_advertise_ip)),
    },
    SettingRule {
        key: "swarm_advertise_interface",
        check: |s| {
            let interface = s.swarm_advertise_interface.trim();
            one((!interface
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@')))
            .then(|| format!("\"{interface}\" is not a network interface name (e.g. eth0)")))
        },
    },
    SettingRule {
        key: "ansible_ssh_user",
        check: |s| {
            let user = s.ansible_ssh_user.trim();
            one((!values::is_user_name(user)).then(|| format!("\"{user}\" is not a user name")))
        },
    },
    SettingRule {
        key: "ansible_for_user",
        check: |s| {
            let user = s.ansible_for_user.trim();
            one((!values::is_user_name(user)).then(|| format!("\"{user}\" is not a user name")))
        },
    },
    SettingRule {
        key: "alert_manager_master_ip",
        check: |s| one(ip_problem(&s.alert_manager_master_ip)),
    },
    SettingRule {
        key: "alert_manager_smtp_smart_host",
        check: |s| {
            let host = &s.alert_manager_smtp_smart_host;
            one(if s.alert_manager_receive_email_list.is_empty() {
                None
            } else if host.is_empty() {
                Some("empty, but alert_manager_receive_email_list is set (expected host:port of the SMTP server)".to_string())
            } else {
                (!values::is_host_port(host)).then(|| format!("\"{host}\" is not host:port"))
            })
        },
    },
    SettingRule {
        key: "alert_manager_smtp_email_send_address",
        check: |s| {
            let sender = &s.alert_manager_smtp_email_send_address;
            one(if s.alert_manager_receive_email_list.is_empty() {
                None
            } else if sender.is_empty() {
                Some("empty, but alert_manager_receive_email_list is set (expected the sender address)".to_string())
            } else {
                (!values::is_email(sender))
                    .then(|| format!("\"{sender}\" is not an e-mail address"))
            })
        },
    },
    SettingRule {
        key: "alert_manager_receive_email_list",
        check: |s| {
            s.alert_manager_receive_email_list
                .iter()
                .filter(|a| !values::is_email(a))
                .map(|a| format!("\"{a}\" is not an e-mail address"))
                .collect()
        },
    },
    SettingRule {
        key: "alert_manager_default_webhook_receiver",
        check: |s| url(&s.alert_manager_default_webhook_receiver),
    },
    SettingRule {
        key: "alert_manager_info_webhook_receiver",
        check: |s| url(&s.alert_manager_info_webhook_receiver),
    },
    SettingRule {
        key: "alert_manager_smtp_tls",
        check: smtp_tls_problems,
    },
    SettingRule {
        key: "management_address",
        check: |s| {
            let address = s.management_address.trim();
            one((!address.is_empty()
                && address.parse::<IpAddr>().is_err()
                && !values::is_dns_name(address))
            .then(|| format!("\"{address}\" is not a host name or IP address (the address alone, such as 10.0.0.1 or manager.lab.org)")))
        },
    },
    SettingRule {
        key: "prometheus_external_url",
        check: |s| external_url(&s.prometheus_external_url),
    },
    SettingRule {
        key: "alertmanager_external_url",
        check: |s| external_url(&s.alertmanager_external_url),
    },
    SettingRule {
        key: "monitoring_admin_password",
        check: |s| {
            one(password(
                "monitoring_admin_password",
                &s.monitoring_admin_password,
            ))
        },
    },
    SettingRule {
        key: "grafana_admin_password",
        check: |s| {
            one(password(
                "grafana_admin_password",
                &s.grafana_admin_password,
            ))
        },
    },
    SettingRule {
        key: "docker_swarm_dir",
        check: |s| {
            let dir = s.docker_swarm_dir.trim_end_matches('/');
            one(
                (!values::is_plain_path(dir) || dir.rsplit_once('/').is_none_or(|(p, _)| p.is_empty()))
                    .then(|| {
                        format!(
                            "\"{}\" is not an absolute path below the Docker root (e.g. /var/lib/docker/swarm)",
                            s.docker_swarm_dir
                        )
                    }),
            )
        },
    },
];

/// How alertmanager may talk to the SMTP server (`alert_manager_smtp_tls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SmtpTls {
    /// Plain SMTP: for a relay that offers no TLS (and takes no login).
    None,
    /// Plain connection upgraded with STARTTLS, which the server must offer.
    StartTls,
    /// TLS from the first byte (SMTPS); alertmanager speaks it on port 465 only.
    Tls,
}

impl SmtpTls {
    const WORDS: [(&'static str, SmtpTls); 3] = [
        ("none", SmtpTls::None),
        ("starttls", SmtpTls::StartTls),
        ("tls", SmtpTls::Tls),
    ];

    /// The mode a setting value names, if it names one.
    pub(crate) fn parse(value: &str) -> Option<SmtpTls> {
        Self::WORDS
            .iter()
            .find(|(word, _)| *word == value)
            .map(|(_, mode)| *mode)
    }
}

/// Alertmanager opens SMTPS (TLS from the first byte) exactly when the port is 465.
const SMTPS_PORT: &str = "465";

/// How e-mail reaches the SMTP server: the word itself, and, once e-mail is sent, that
/// it fits the port alertmanager uses it on and sends no login in clear.
fn smtp_tls_problems(s: &Settings) -> Vec<String> {
    let Some(tls) = SmtpTls::parse(&s.alert_manager_smtp_tls) else {
        return vec![format!(
            "\"{}\" is not one of none, starttls, tls",
            s.alert_manager_smtp_tls
        )];
    };
    let port = s
        .alert_manager_smtp_smart_host
        .rsplit_once(':')
        .map(|(_, port)| port);
    let (Some(port), false) = (port, s.alert_manager_receive_email_list.is_empty()) else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    match tls {
        SmtpTls::Tls if port != SMTPS_PORT => problems.push(format!(
            "tls needs alert_manager_smtp_smart_host on port {SMTPS_PORT}, the only port alertmanager speaks TLS on from the first byte (\"{}\"; use starttls there)",
            s.alert_manager_smtp_smart_host
        )),
        SmtpTls::None | SmtpTls::StartTls if port == SMTPS_PORT => problems.push(format!(
            "alert_manager_smtp_smart_host uses port {SMTPS_PORT}, TLS from the first byte, where alertmanager always uses TLS: set tls"
        )),
        _ => {}
    }
    if tls == SmtpTls::None && !s.alert_manager_smtp_auth_username.is_empty() {
        problems.push(
            "none would send the SMTP login of alert_manager_smtp_auth_username in clear: use starttls or tls, or a relay that takes no login"
                .to_string(),
        );
    }
    problems
}

/// A link in notifications: http(s) with a host, and nothing that would need quoting
/// where it is rendered (compose files, shell words, YAML).
fn external_url(value: &str) -> Vec<String> {
    let host = value
        .strip_prefix("http://")
        .or_else(|| value.strip_prefix("https://"))
        .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default());
    let quotable = value.contains(|c: char| {
        c.is_whitespace()
            || c.is_control()
            || matches!(c, '"' | '\'' | '`' | '$' | '\\' | '{' | '}')
    });
    one((!value.is_empty() && (host.is_none_or(str::is_empty) || quotable)).then(|| {
        format!("\"{value}\" is not an http:// or https:// URL (with a host, without spaces, quotes, '$', '\\', '{{' or '}}')")
    }))
}

fn url(value: &str) -> Vec<String> {
    one((!value.is_empty() && !values::is_url(value))
        .then(|| "not an http:// or https:// URL".to_string()))
}

/// Keys the built-in services' files are rendered from.
pub(crate) const BUILT_IN_SERVICES: &[&str] = &[
    "prefix_stack_name",
    "registry_common_name",
    "container_top_path",
    "docker_swarm_dir",
    "registry_push_port",
    "registry_master_ip",
    "alert_manager_master_ip",
    "cluster_manager_nodes",
    "cluster_worker_nodes",
    "default_nodes",
    "alert_manager_smtp_smart_host",
    "alert_manager_smtp_email_send_address",
    "alert_manager_receive_email_list",
    "alert_manager_default_webhook_receiver",
    "alert_manager_info_webhook_receiver",
    "alert_manager_smtp_tls",
    "management_address",
    "prometheus_external_url",
    "alertmanager_external_url",
    "monitoring_admin_password",
    "grafana_admin_password",
];

/// Keys a new IOC takes its options from.
pub(crate) const NEW_IOC: &[&str] = &[
    "prefix_stack_name",
    "default_modules",
    "default_ioc_bin",
    "ioc_cpu_limit",
    "ioc_memory_limit",
];

/// Keys the images of `image build` are named and made from.
pub(crate) const IMAGE_BUILD: &[&str] = &[
    "registry_common_name",
    "container_top_path",
    "image_os_image",
];

/// Keys an IOC service file is rendered from.
pub(crate) const IOC_SERVICE: &[&str] = &[
    "prefix_stack_name",
    "container_top_path",
    "ioc_default_constraints",
];

/// The cluster's machines as ansible reaches them.
pub(crate) const NODES: &[&str] = &[
    "cluster_manager_nodes",
    "cluster_worker_nodes",
    "default_nodes",
    "ansible_ssh_user",
];

/// Every problem of the given keys, in the order of `keys`.
pub(crate) fn check(settings: &Settings, keys: &[&str]) -> Vec<BadSetting> {
    let mut found = Vec::new();
    for key in keys {
        if let Some(rule) = RULES.iter().find(|r| r.key == *key) {
            for problem in (rule.check)(settings) {
                found.push(BadSetting::new(settings, rule.key, problem));
            }
        }
    }
    found
}

/// The first problem of the given keys, as an error.
pub(crate) fn ensure(settings: &Settings, keys: &[&str]) -> Result<(), BadSetting> {
    match check(settings, keys).into_iter().next() {
        Some(bad) => Err(bad),
        None => Ok(()),
    }
}

/// An optional IP address setting (empty means unset), checked.
pub(crate) fn optional_ip(
    settings: &Settings,
    key: &'static str,
    value: &str,
) -> Result<Option<IpAddr>, BadSetting> {
    ensure(settings, &[key])?;
    Ok(value.trim().parse().ok())
}

/// The registry's name, checked to be a DNS name: it becomes a certificate name, an
/// image reference and a URL host.
pub(crate) fn registry_name(settings: &Settings) -> Result<&str, BadSetting> {
    ensure(settings, &["registry_common_name"])?;
    Ok(settings.registry_common_name.trim())
}

/// The entries of a node map, checked: host name and IP address.
pub(crate) fn nodes(
    settings: &Settings,
    key: &'static str,
    map: &BTreeMap<String, String>,
) -> Result<Vec<(String, IpAddr)>, BadSetting> {
    map.iter()
        .map(|(host, address)| {
            node(host, address)
                .map(|ip| (host.clone(), ip))
                .map_err(|problem| BadSetting::new(settings, key, problem))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(yaml: &str) -> Settings {
        crate::settings::for_test(yaml)
    }

    fn lines(yaml: &str, keys: &[&str]) -> Vec<String> {
        check(&settings(yaml), keys)
            .into_iter()
            .map(|b| format!("{}: {}", b.key, b.problem))
            .collect()
    }

    #[test]
    fn passwords_the_services_would_change_are_refused() {
        let key = "grafana_admin_password";
        assert_eq!(password_problem(key, "s3cret: \"x\""), None);
        assert!(
            password_problem(key, " s3cret")
                .unwrap()
                .contains("begin or end with a space")
        );
        assert!(
            password_problem(key, "a\nb")
                .unwrap()
                .contains("control characters")
        );
        assert_eq!(password_problem(key, &"x".repeat(100)), None);
        let long = password_problem("monitoring_admin_password", &"x".repeat(73)).unwrap();
        assert!(long.contains("72 bytes"), "{long}");
    }

    #[test]
    fn defaults_are_fine() {
        let every: Vec<&str> = RULES.iter().map(|r| r.key).collect();
        assert_eq!(lines("", &every), Vec::<String>::new());
    }

    #[test]
    fn every_rule_names_a_setting() {
        let s = settings("");
        for rule in RULES {
            assert!(s.lookup(rule.key).is_some(), "{} is no setting", rule.key);
        }
    }

    #[test]
    fn the_registry_name_is_one_rule_for_every_command() {
        // Once passed the built-in services and failed the certificates.
        let found = lines("registry_common_name: registry..iasf\n", BUILT_IN_SERVICES);
        assert_eq!(
            found,
            [
                "registry_common_name: \"registry..iasf\" is not a DNS name (expected e.g. registry.iasf)"
            ]
        );
        assert!(registry_name(&settings("registry_common_name: registry..iasf\n")).is_err());
    }

    #[test]
    fn bad_ips_name_their_key_and_host() {
        let found = lines(
            "registry_master_ip: 10.0.0.300\ncluster_worker_nodes: {w1: 10.0.0.2, w2: nope}\ndefault_nodes: {d1: '::1'}\n",
            BUILT_IN_SERVICES,
        );
        assert_eq!(
            found,
            [
                "registry_master_ip: \"10.0.0.300\" is not an IP address (expected e.g. 192.168.1.10)",
                "cluster_worker_nodes: host \"w2\": \"nope\" is not an IP address (expected e.g. 192.168.1.10)",
            ]
        );
    }

    #[test]
    fn email_receivers_need_an_smtp_host_and_sender() {
        let found = lines(
            "alert_manager_receive_email_list: [ops@lab.org]\n",
            BUILT_IN_SERVICES,
        );
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with("alert_manager_smtp_smart_host: empty"));
        assert!(found[1].starts_with("alert_manager_smtp_email_send_address: empty"));
        let found = lines(
            "alert_manager_receive_email_list: [ops@lab.org, nobody]\nalert_manager_smtp_smart_host: smtp.lab.org\nalert_manager_smtp_email_send_address: am@lab.org\n",
            BUILT_IN_SERVICES,
        );
        assert_eq!(
            found,
            [
                "alert_manager_smtp_smart_host: \"smtp.lab.org\" is not host:port",
                "alert_manager_receive_email_list: \"nobody\" is not an e-mail address",
            ]
        );
        let fine = "alert_manager_receive_email_list: [ops@lab.org]\nalert_manager_smtp_smart_host: smtp.lab.org:587\nalert_manager_smtp_email_send_address: am@lab.org\nalert_manager_default_webhook_receiver: http://hooks:8080/a\n";
        assert_eq!(lines(fine, BUILT_IN_SERVICES), Vec::<String>::new());
    }

    #[test]
    fn names_and_paths_that_would_break_the_files() {
        let found = lines(
            "prefix_stack_name: 'a b'\ncontainer_top_path: opt/EPICS\nalert_manager_info_webhook_receiver: hooks\n",
            BUILT_IN_SERVICES,
        );
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(found[0].starts_with("prefix_stack_name:"));
        // The default registry name follows the prefix.
        assert!(found[1].starts_with("registry_common_name: \"registry.a b\""));
        assert!(found[2].starts_with("container_top_path:"));
        assert!(found[3].starts_with("alert_manager_info_webhook_receiver:"));
        // The webhook URL is a secret: never part of a message.
        assert!(!found[3].contains("hooks"), "{found:?}");
    }

    #[test]
    fn prefixes_swarm_refuses_are_named() {
        for prefix in ["lab.1", "lab_", "x".repeat(47).as_str()] {
            let found = lines(&format!("prefix_stack_name: '{prefix}'\n"), NEW_IOC);
            assert_eq!(found.len(), 1, "{prefix}: {found:?}");
        }
    }

    #[test]
    fn new_ioc_defaults_follow_the_ioc_ini_rules() {
        let found = lines(
            "default_modules: autosave, epics\ndefault_ioc_bin: '1x'\nioc_cpu_limit: lots\nioc_memory_limit: 512\n",
            NEW_IOC,
        );
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(
            found[0].starts_with("default_modules: \"epics\": not a module"),
            "{found:?}"
        );
        let found = lines("ioc_default_constraints: [node.rack==a]\n", IOC_SERVICE);
        assert_eq!(found.len(), 1, "{found:?}");
    }

    #[test]
    fn passwords_the_services_cannot_read_back_are_named() {
        let found = lines(
            "monitoring_admin_password: ' padded'\ngrafana_admin_password: fine\n",
            BUILT_IN_SERVICES,
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("monitoring_admin_password: "),
            "{found:?}"
        );
        // The value itself is never part of a message.
        assert!(!found[0].contains("padded"), "{found:?}");
    }

    #[test]
    fn nodes_in_both_maps_are_refused() {
        let found = lines(
            "cluster_manager_nodes: {m1: 10.0.0.1}\ncluster_worker_nodes: {m1: 10.0.0.1}\n",
            NODES,
        );
        assert_eq!(
            found,
            [
                "cluster_worker_nodes: host \"m1\" is also in cluster_manager_nodes; a node is either manager or worker"
            ]
        );
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
                Some("alert_manager_smtp_tls: alert_manager_smtp_smart_host uses port 465"),
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
            let found = lines(&format!("{EMAIL}{extra}"), BUILT_IN_SERVICES);
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
            lines(
                "alert_manager_smtp_tls: tls\nalert_manager_smtp_smart_host: x:25\n",
                BUILT_IN_SERVICES
            )
            .is_empty()
        );
        assert_eq!(
            lines("alert_manager_smtp_tls: ssl\n", BUILT_IN_SERVICES).len(),
            1
        );
    }

    #[test]
    fn link_addresses_must_be_reachable_names() {
        let fine = "management_address: manager.lab.org\nprometheus_external_url: https://mon.lab.org/prometheus/\nalertmanager_external_url: http://10.0.0.1:9093\n";
        assert_eq!(lines(fine, BUILT_IN_SERVICES), Vec::<String>::new());
        assert!(lines("management_address: 'fd00::1'\n", BUILT_IN_SERVICES).is_empty());
        let found = lines(
            "management_address: http://manager\nprometheus_external_url: manager:9090\nalertmanager_external_url: 'http://am/$x'\n",
            BUILT_IN_SERVICES,
        );
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].starts_with(
            "management_address: \"http://manager\" is not a host name or IP address"
        ));
        assert!(found[1].starts_with(
            "prometheus_external_url: \"manager:9090\" is not an http:// or https:// URL"
        ));
        assert!(found[2].starts_with("alertmanager_external_url: "));
        assert_eq!(
            lines("prometheus_external_url: 'http:///x'\n", BUILT_IN_SERVICES).len(),
            1
        );
    }
}
