//! The built-in cluster services: `swarm --gen-built-in-services`, and every rendered
//! file checked by the program that will read it (promtool, amtool, the docker CLI)
//! or, for grafana, against the fields grafana requires.
//!
//! One test deploys prometheus, alertmanager, node-exporter, the registry and the
//! Docker API proxy on the single-node swarm and probes every port they publish,
//! with and without credentials. It runs stand-in images built from Debian packages
//! (the shared monitoring-images tool and scripts/proxy-image/build.sh).
//!
//! Tests needing a tool or those images: in CI (CI=true) their absence fails the
//! test; elsewhere the test is skipped with a printed reason. scripts/test.sh installs
//! the tools and builds the images.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::TestContext;
use crate::docker::{TEST_IMAGE, docker, docker_ready, unique_prefix};

const GLOBAL: [&str; 6] = [
    "socketProxy",
    "client",
    "iocLogServer",
    "cAdvisor",
    "nodeExporter",
    "alloy",
];
const LOCAL: [&str; 7] = [
    "registry",
    "registryPush",
    "prometheus",
    "alertManager",
    "loki",
    "grafana",
    "swarmExporter",
];

/// A daemon address nothing listens on: generation then cannot check deployments.
const NO_DAEMON: &str = "unix:///nonexistent/iocdock-test/docker.sock";

/// Every login the built-in services need, so generation asks for nothing.
pub(crate) const CREDENTIALS: &str = "registry_login_username: ops\nregistry_login_password: s3cret\n\
monitoring_admin_password: m0n-pw\ngrafana_admin_password: gr4f-pw\n\
registry_push_username: pusher\nregistry_push_password: push-s3cret\n";

/// Every alerting setting set, so the fullest alertmanager.yml is rendered.
const FULL_SETTINGS: &str = "prefix_stack_name: lab\n\
registry_login_username: ops\n\
registry_login_password: s3cret\n\
monitoring_admin_password: 'm0n: \"pw'\n\
grafana_admin_password: 'gr4f $pw'\n\
registry_push_username: pusher\n\
registry_push_password: push-s3cret\n\
registry_port: 5443\n\
registry_master_ip: 10.0.0.10\n\
cluster_manager_nodes: {m1: 10.0.0.1}\n\
cluster_worker_nodes: {w1: 10.0.0.2, w2: 10.0.0.3}\n\
alert_manager_master_ip: 10.0.0.1\n\
alert_manager_smtp_smart_host: smtp.lab.org:587\n\
alert_manager_smtp_auth_username: alerts\n\
alert_manager_smtp_auth_password: 'pa:ss \"word'\n\
alert_manager_smtp_email_send_address: alerts@lab.org\n\
alert_manager_receive_email_list: [ops@lab.org, oncall@lab.org]\n\
alert_manager_default_webhook_receiver: http://hooks.lab.org:8080/all\n\
alert_manager_info_webhook_receiver: https://hooks.lab.org/info\n";

pub(crate) fn in_ci() -> bool {
    matches!(std::env::var("CI").as_deref(), Ok("true") | Ok("1"))
}

/// Whether `program` can be run; in CI its absence fails the test.
pub(crate) fn tool_ready(program: &str, package: &str, test: &str) -> bool {
    let found = Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            !in_ci(),
            "{test}: CI needs `{program}` (Debian package {package}; scripts/test.sh installs it)"
        );
        eprintln!("SKIPPED {test}: `{program}` not found (apt-get install {package})");
    }
    found
}

/// Renders the built-in services with `settings` and returns the context (which owns
/// the files) and `$MOUNT_PATH/swarm`. No daemon is asked: `--yes` writes anyway.
fn rendered(settings: &str) -> (TestContext, PathBuf) {
    let t = TestContext::new();
    t.write_settings(settings);
    let out = t
        .cmd(&["swarm", "--gen-built-in-services", "--yes"])
        .env("DOCKER_HOST", NO_DAEMON)
        .output()
        .expect("run iocdock");
    assert!(
        out.status.success(),
        "gen failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let swarm = t.mount().join("swarm");
    (t, swarm)
}

fn run(program: &str, args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

pub(crate) fn compose_files(swarm: &Path) -> Vec<PathBuf> {
    GLOBAL
        .iter()
        .map(|name| swarm.join(format!("global-services/{name}.yaml")))
        .chain(
            LOCAL
                .iter()
                .map(|name| swarm.join(format!("{name}/{name}.yaml"))),
        )
        .collect()
}

pub(crate) fn yaml(path: &Path) -> serde_yaml::Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn promtool_accepts_the_prometheus_config_and_rules() {
    let test = "promtool_accepts_the_prometheus_config_and_rules";
    if !tool_ready("promtool", "prometheus", test) {
        return;
    }
    for settings in [CREDENTIALS, FULL_SETTINGS] {
        let (_t, swarm) = rendered(settings);
        let dir = swarm.join("prometheus/config");
        // `check config` also checks the rule files the config names.
        let (ok, out) = run("promtool", &["check", "config", "prometheus.yml"], &dir);
        assert!(ok, "promtool check config:\n{out}");
        assert!(out.contains("4 rule files found"), "{out}");
        let rules: Vec<String> = fs::read_dir(dir.join("rules"))
            .unwrap()
            .map(|e| format!("rules/{}", e.unwrap().file_name().to_string_lossy()))
            .collect();
        assert_eq!(rules.len(), 4, "{rules:?}");
        let mut args = vec!["check", "rules"];
        args.extend(rules.iter().map(String::as_str));
        let (ok, out) = run("promtool", &args, &dir);
        assert!(ok, "promtool check rules:\n{out}");
        // The same format for both: prometheus' and alertmanager's web configuration.
        for web in ["prometheus/config/web.yml", "alertManager/config/web.yml"] {
            let (ok, out) = run("promtool", &["check", "web-config", web], &swarm);
            assert!(ok, "promtool check web-config {web}:\n{out}");
        }
    }
}

#[test]
fn amtool_accepts_the_alertmanager_config() {
    let test = "amtool_accepts_the_alertmanager_config";
    if !tool_ready("amtool", "prometheus-alertmanager", test) {
        return;
    }
    for (settings, receivers) in [(CREDENTIALS, 2), (FULL_SETTINGS, 2)] {
        let (_t, swarm) = rendered(settings);
        let dir = swarm.join("alertManager/config");
        let (ok, out) = run("amtool", &["check-config", "alertmanager.yml"], &dir);
        assert!(ok, "amtool check-config:\n{out}");
        assert!(out.contains(&format!("{receivers} receivers")), "{out}");
    }
    let (_t, swarm) = rendered(FULL_SETTINGS);
    let config = yaml(&swarm.join("alertManager/config/alertmanager.yml"));
    assert_eq!(config["global"]["smtp_auth_password"], "pa:ss \"word");
    assert_eq!(
        config["receivers"][0]["email_configs"][0]["to"],
        "ops@lab.org, oncall@lab.org"
    );
}

#[test]
fn docker_stack_config_accepts_every_compose_file() {
    let test = "docker_stack_config_accepts_every_compose_file";
    if !tool_ready("docker", "docker.io", test) {
        return;
    }
    for settings in [CREDENTIALS, FULL_SETTINGS] {
        let (_t, swarm) = rendered(settings);
        for file in compose_files(&swarm) {
            let (ok, out) = run(
                "docker",
                &["stack", "config", "-c", &file.to_string_lossy()],
                &swarm,
            );
            assert!(ok, "docker stack config -c {}:\n{out}", file.display());
            let name = file.file_stem().unwrap().to_string_lossy();
            assert!(out.contains(&format!("srv-{name}:")), "{out}");
            // Relative bind sources resolve inside the run directory.
            assert!(
                !out.contains("source: ./") && !out.contains("source: ../"),
                "{out}"
            );
        }
    }
}

fn datasource_uids(swarm: &Path) -> BTreeSet<String> {
    let file = swarm.join("grafana/provisioning/datasources/iocdock.yml");
    let doc = yaml(&file);
    assert_eq!(doc["apiVersion"], 1, "{}", file.display());
    let list = doc["datasources"].as_sequence().expect("datasources list");
    assert!(!list.is_empty());
    list.iter()
        .map(|d| {
            for field in ["name", "type", "url", "uid", "access"] {
                assert!(
                    d[field].as_str().is_some_and(|v| !v.is_empty()),
                    "datasource without {field}: {d:?}"
                );
            }
            assert!(
                d["url"].as_str().unwrap().starts_with("http://lab_srv-"),
                "{d:?}"
            );
            d["uid"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn grafana_provisioning_and_dashboards_have_what_grafana_requires() {
    let (_t, swarm) = rendered(FULL_SETTINGS);
    let uids = datasource_uids(&swarm);
    assert!(uids.contains("iocdock-prometheus") && uids.contains("iocdock-loki"));

    let providers = yaml(&swarm.join("grafana/provisioning/dashboards/iocdock.yml"));
    assert_eq!(providers["apiVersion"], 1);
    let provider = &providers["providers"][0];
    assert_eq!(provider["type"], "file");
    assert!(provider["name"].as_str().is_some());
    // The provider reads the folder the compose file mounts the dashboards at.
    let path = provider["options"]["path"].as_str().expect("options.path");
    let compose = yaml(&swarm.join("grafana/grafana.yaml"));
    let mounts = compose["services"]["srv-grafana"]["volumes"]
        .as_sequence()
        .unwrap();
    assert!(
        mounts
            .iter()
            .any(|m| m["source"] == "./dashboards" && m["target"] == path),
        "{mounts:?}"
    );

    let mut dashboard_uids = BTreeSet::new();
    let mut titles = Vec::new();
    for entry in fs::read_dir(swarm.join("grafana/dashboards")).unwrap() {
        let path = entry.unwrap().path();
        let text = fs::read_to_string(&path).unwrap();
        let doc: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let uid = doc["uid"].as_str().expect("uid");
        assert!(!uid.is_empty() && uid.len() <= 40, "{uid}");
        assert!(dashboard_uids.insert(uid.to_string()), "uid {uid} twice");
        titles.push(doc["title"].as_str().expect("title").to_string());
        assert!(doc["schemaVersion"].as_u64().is_some_and(|v| v >= 36));
        let panels = doc["panels"].as_array().expect("panels");
        assert!(!panels.is_empty(), "{}", path.display());
        let mut ids = BTreeSet::new();
        for panel in panels {
            let title = panel["title"].as_str().expect("panel title");
            assert!(ids.insert(panel["id"].as_u64().expect("panel id")));
            assert!(panel["type"].as_str().is_some(), "{title}");
            for key in ["h", "w", "x", "y"] {
                assert!(panel["gridPos"][key].as_u64().is_some(), "{title}: gridPos");
            }
            let uid = panel["datasource"]["uid"].as_str().expect("datasource uid");
            assert!(uids.contains(uid), "{title}: unknown datasource {uid}");
            let targets = panel["targets"].as_array().expect("targets");
            assert!(!targets.is_empty(), "{title}");
            for target in targets {
                assert!(target["refId"].as_str().is_some(), "{title}");
                assert!(
                    target["expr"].as_str().is_some_and(|e| !e.is_empty()),
                    "{title}"
                );
                assert_eq!(target["datasource"]["uid"], uid, "{title}");
            }
        }
        for variable in doc["templating"]["list"].as_array().expect("templating") {
            assert!(variable["name"].as_str().is_some());
        }
    }
    titles.sort();
    assert_eq!(
        titles,
        [
            "IocDock / Container monitoring",
            "IocDock / IOC overview",
            "IocDock / Node monitoring"
        ]
    );

    // The IOC overview: every IOC service with state, restarts, CPU, memory and logs.
    let text = fs::read_to_string(swarm.join("grafana/dashboards/ioc-overview.json")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let panels = doc["panels"].as_array().unwrap();
    let table = panels.iter().find(|p| p["type"] == "table").expect("table");
    let columns = table["transformations"][1]["options"]["renameByName"].to_string();
    for column in ["State", "Restarts", "CPU", "Memory"] {
        assert!(columns.contains(column), "{columns}");
    }
    // The state is the swarm's (swarmExporter), the rest cAdvisor's.
    let targets = table["targets"].as_array().unwrap();
    assert!(
        targets[0]["expr"]
            .as_str()
            .unwrap()
            .contains("iocdock_service_running_tasks{service_type=\"ioc\""),
        "{}",
        targets[0]
    );
    for target in &targets[1..] {
        assert!(
            target["expr"]
                .as_str()
                .unwrap()
                .contains("container_label_service_type=\"ioc\"")
        );
    }
    let logs = panels.iter().find(|p| p["type"] == "logs").expect("logs");
    assert_eq!(logs["datasource"]["uid"], "iocdock-loki");
    assert!(
        logs["targets"][0]["expr"]
            .as_str()
            .unwrap()
            .contains("service_type=\"ioc\"")
    );
}

/// Grafana's variables replaced by values of their kind, so an expression is plain
/// PromQL.
pub(crate) fn without_grafana_variables(expr: &str) -> String {
    expr.replace("$__rate_interval", "2m")
        .replace("$__range", "6h")
        .replace("$service", ".*")
        .replace("$instance", ".*")
}

#[test]
fn dashboard_queries_are_valid_promql() {
    let test = "dashboard_queries_are_valid_promql";
    if !tool_ready("promtool", "prometheus", test) {
        return;
    }
    let (t, swarm) = rendered(CREDENTIALS);
    // Every prometheus query as a recording rule: `promtool check rules` parses them.
    let mut rules = String::from("groups:\n  - name: dashboards\n    rules:\n");
    let mut count = 0;
    for entry in fs::read_dir(swarm.join("grafana/dashboards")).unwrap() {
        let text = fs::read_to_string(entry.unwrap().path()).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let variables = doc["templating"]["list"].as_array().unwrap().iter();
        let queries = variables.filter_map(|v| v["query"]["query"].as_str());
        let label_values = queries.filter_map(|q| {
            let inner = q.strip_prefix("label_values(")?.strip_suffix(')')?;
            // label_values(<selector>, <label>): the selector is PromQL.
            Some(inner.rsplit_once(',')?.0.to_string())
        });
        let targets = doc["panels"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["datasource"]["type"] == "prometheus")
            .flat_map(|p| p["targets"].as_array().unwrap().iter())
            .map(|t| t["expr"].as_str().unwrap().to_string());
        for expr in targets.chain(label_values) {
            count += 1;
            let expr = serde_json::to_string(&without_grafana_variables(&expr)).unwrap();
            rules.push_str(&format!(
                "      - record: dashboard:query{count}\n        expr: {expr}\n"
            ));
        }
    }
    assert!(count > 20, "{count} queries");
    let file = t.home().join("dashboard-queries.yml");
    fs::write(&file, rules).unwrap();
    let (ok, out) = run(
        "promtool",
        &["check", "rules", &file.to_string_lossy()],
        t.home(),
    );
    assert!(ok, "dashboard queries:\n{out}");
}

/// The one service of a rendered compose file.
pub(crate) fn compose_service(file: &Path) -> serde_yaml::Value {
    let name = file.file_stem().unwrap().to_string_lossy().into_owned();
    yaml(file)["services"][format!("srv-{name}").as_str()].clone()
}

fn is_host_network(service: &serde_yaml::Value, file: &Path) -> bool {
    let networks = yaml(file)["networks"].clone();
    service["networks"]
        .as_sequence()
        .into_iter()
        .flatten()
        .any(|n| networks[n.as_str().unwrap()]["name"] == "host")
}

/// Each built-in service's published ports, as its rendered compose file says, and
/// whether it is on the host network.
fn published_ports(swarm: &Path) -> BTreeMap<String, (Vec<u64>, bool)> {
    compose_files(swarm)
        .iter()
        .map(|file| {
            let service = compose_service(file);
            let ports = service["ports"]
                .as_sequence()
                .into_iter()
                .flatten()
                .map(|p| {
                    assert_eq!(p["mode"], "host", "{}: {p:?}", file.display());
                    p["published"].as_u64().expect("published port")
                })
                .collect();
            let name = file.file_stem().unwrap().to_string_lossy().into_owned();
            (name, (ports, is_host_network(&service, file)))
        })
        .collect()
}

#[test]
fn only_ports_behind_a_login_are_published() {
    let (_t, swarm) = rendered(FULL_SETTINGS);
    let found = published_ports(&swarm);
    // Loki has no authentication, alloy's and cAdvisor's UIs none either: prometheus
    // and grafana reach them on the overlay network. Alertmanager's gossip port is
    // gone with its second replica. iocLogServer takes log lines from the IOCs (host
    // network) and serves nothing; the host-network services listen on no port but
    // node-exporter's read-only metrics.
    let expected: BTreeMap<String, (Vec<u64>, bool)> = [
        ("socketProxy", (vec![], true)),
        ("client", (vec![], true)),
        ("iocLogServer", (vec![7004], false)),
        ("cAdvisor", (vec![], false)),
        ("nodeExporter", (vec![], true)),
        ("alloy", (vec![], false)),
        ("registry", (vec![5443], false)),
        ("registryPush", (vec![4443], false)),
        ("prometheus", (vec![9090], false)),
        ("alertManager", (vec![9093], false)),
        ("loki", (vec![], false)),
        ("grafana", (vec![3000], false)),
        ("swarmExporter", (vec![], false)),
    ]
    .into_iter()
    .map(|(name, ports)| (name.to_string(), ports))
    .collect();
    assert_eq!(found, expected);
    let alertmanager = compose_service(&swarm.join("alertManager/alertManager.yaml"));
    let flags = alertmanager["command"].as_sequence().unwrap();
    assert!(flags.iter().any(|f| f == "--cluster.listen-address="));
    assert!(
        !flags
            .iter()
            .any(|f| f.as_str().unwrap().starts_with("--cluster.peer")),
        "{flags:?}"
    );
    let prometheus = compose_service(&swarm.join("prometheus/prometheus.yaml"));
    let flags = prometheus["command"].as_sequence().unwrap();
    assert!(
        flags
            .iter()
            .any(|f| f == "--web.config.file=/etc/prometheus/web.yml")
    );
    assert!(
        !flags
            .iter()
            .any(|f| f.as_str().unwrap().contains("enable-lifecycle")
                || f.as_str().unwrap().contains("enable-admin-api")),
        "{flags:?}"
    );
}

#[test]
fn only_the_proxy_mounts_the_docker_socket() {
    let (_t, swarm) = rendered(FULL_SETTINGS);
    let socket = "/run/docker-api/docker.sock";
    let mut readers = BTreeSet::new();
    for file in compose_files(&swarm) {
        let name = file.file_stem().unwrap().to_string_lossy().into_owned();
        let service = compose_service(&file);
        let mounts = service["volumes"]
            .as_sequence()
            .cloned()
            .unwrap_or_default();
        for mount in &mounts {
            let source = mount["source"].as_str().unwrap_or_default();
            let target = mount["target"].as_str().unwrap();
            if mount["type"] == "bind" {
                let engine = [
                    "/var/run/docker.sock",
                    "/run/docker.sock",
                    "/var/run",
                    "/run",
                ]
                .contains(&source);
                assert!(
                    !engine || name == "socketProxy",
                    "{name} mounts {source}: only socketProxy may reach the engine"
                );
            }
            // A mount of / would bring /run/docker.sock along: its /run is hidden.
            if mount["type"] == "bind" && source == "/" {
                let hidden = format!("{target}/run");
                assert!(
                    mounts
                        .iter()
                        .any(|m| m["type"] == "volume" && m["target"] == hidden.as_str()),
                    "{name} mounts / at {target} without hiding {hidden}"
                );
            }
            if source == "docker-api" {
                assert_eq!(target, "/run/docker-api", "{name}");
                assert_eq!(mount["read_only"] == true, name != "socketProxy", "{name}");
                readers.insert(name.clone());
            }
        }
    }
    assert_eq!(
        readers,
        [
            "socketProxy",
            "cAdvisor",
            "alloy",
            "prometheus",
            "swarmExporter"
        ]
        .map(String::from)
        .into()
    );
    // Each reader talks to the proxy's socket, not the engine's.
    let prometheus = yaml(&swarm.join("prometheus/config/prometheus.yml"));
    let hosts: Vec<&str> = prometheus["scrape_configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|job| {
            job["dockerswarm_sd_configs"]
                .as_sequence()
                .into_iter()
                .flatten()
        })
        .map(|sd| sd["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts.len(), 8, "{hosts:?}");
    assert!(
        hosts.iter().all(|h| *h == format!("unix://{socket}")),
        "{hosts:?}"
    );
    let alloy = fs::read_to_string(swarm.join("global-services/alloy/config.alloy")).unwrap();
    assert_eq!(alloy.matches("unix:///").count(), 2, "{alloy}");
    assert_eq!(
        alloy.matches(&format!("\"unix://{socket}\"")).count(),
        2,
        "{alloy}"
    );
    let cadvisor = compose_service(&swarm.join("global-services/cAdvisor.yaml"));
    assert!(
        cadvisor["command"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|f| *f == format!("--docker=unix://{socket}").as_str())
    );
    let lua = fs::read_to_string(swarm.join("swarmExporter/config/swarm-metrics.lua")).unwrap();
    assert!(lua.contains(&format!("\"unix@{socket}\"")), "{lua}");
    assert!(!lua.contains("/var/run/docker.sock"), "{lua}");
    let haproxy =
        fs::read_to_string(swarm.join("global-services/socketProxy/haproxy.cfg")).unwrap();
    assert!(
        haproxy.contains(&format!("bind unix@{socket} mode 660")),
        "{haproxy}"
    );
    assert!(
        haproxy.contains("server engine unix@/var/run/docker.sock"),
        "{haproxy}"
    );
}

#[test]
fn grafana_and_loki_read_their_passwords_from_files_they_own() {
    use std::os::unix::fs::MetadataExt;

    let (_t, swarm) = rendered(FULL_SETTINGS);
    // No password in an environment, a label or a command of any service.
    for file in compose_files(&swarm) {
        let text = fs::read_to_string(&file).unwrap();
        for password in ["m0n: \"pw", "gr4f $pw", "s3cret"] {
            assert!(!text.contains(password), "{}", file.display());
        }
    }
    let mount_target = |service: &serde_yaml::Value, source: &str| -> String {
        service["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|m| m["source"] == source)
            .and_then(|m| {
                assert_eq!(m["read_only"], true, "{source}");
                m["target"].as_str()
            })
            .unwrap_or_else(|| panic!("no mount of {source}"))
            .to_string()
    };
    let owned = |relative: &str, uid: u32, contents: &str| {
        let path = swarm.join(relative);
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(
            (meta.uid(), meta.mode() & 0o777),
            (uid, 0o600),
            "{relative}"
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), contents, "{relative}");
    };

    let grafana = compose_service(&swarm.join("grafana/grafana.yaml"));
    let secrets = mount_target(&grafana, "./secrets");
    let env = &grafana["environment"];
    assert_eq!(env["GF_AUTH_ANONYMOUS_ENABLED"], "false");
    assert_eq!(
        env["GF_SECURITY_ADMIN_PASSWORD__FILE"],
        format!("{secrets}/admin-password").as_str()
    );
    assert!(env.get("GF_SECURITY_ADMIN_PASSWORD").is_none());
    // Its /metrics, on the published port too, wants the monitoring login.
    assert_eq!(env["GF_METRICS_BASIC_AUTH_USERNAME"], "monitoring");
    assert_eq!(
        env["GF_METRICS_BASIC_AUTH_PASSWORD__FILE"],
        format!("{secrets}/monitoring-password").as_str()
    );
    owned("grafana/secrets/admin-password", 472, "gr4f $pw");
    owned("grafana/secrets/monitoring-password", 472, "m0n: \"pw");
    let datasources = yaml(&swarm.join("grafana/provisioning/datasources/iocdock.yml"));
    for datasource in datasources["datasources"].as_sequence().unwrap() {
        if datasource["type"] == "loki" {
            continue;
        }
        assert_eq!(datasource["basicAuth"], true, "{datasource:?}");
        assert_eq!(datasource["basicAuthUser"], "monitoring");
        assert_eq!(
            datasource["secureJsonData"]["basicAuthPassword"],
            format!("$__file{{{secrets}/monitoring-password}}").as_str()
        );
    }

    let loki = compose_service(&swarm.join("loki/loki.yaml"));
    let secrets = mount_target(&loki, "./secrets");
    let config = yaml(&swarm.join("loki/config/loki.yml"));
    let client = &config["ruler"]["alertmanager_client"];
    assert_eq!(client["type"], "Basic");
    assert_eq!(
        client["credentials_file"],
        format!("{secrets}/alertmanager-credentials").as_str()
    );
    // base64 of `monitoring:m0n: "pw`
    owned(
        "loki/secrets/alertmanager-credentials",
        10001,
        "bW9uaXRvcmluZzptMG46ICJwdw==",
    );
}

#[test]
fn loki_and_alloy_files_point_at_the_stack_services() {
    let (_t, swarm) = rendered(FULL_SETTINGS);
    let loki = yaml(&swarm.join("loki/config/loki.yml"));
    assert_eq!(
        loki["ruler"]["alertmanager_url"],
        "http://lab_srv-alertManager:9093"
    );
    assert_eq!(
        loki["ruler"]["storage"]["local"]["directory"],
        "/etc/loki/rules"
    );
    let rules = yaml(&swarm.join("loki/rules/fake/ioc-logs.yml"));
    assert!(rules["groups"][0]["rules"].as_sequence().unwrap().len() >= 2);
    let alloy = fs::read_to_string(swarm.join("global-services/alloy/config.alloy")).unwrap();
    assert!(alloy.contains("url = \"http://lab_srv-loki:3100/loki/api/v1/push\""));
    let registry = yaml(&swarm.join("registry/config/config.yml"));
    assert_eq!(registry["http"]["host"], "https://registry.lab:5443");
    assert_eq!(
        registry["http"]["tls"]["certificate"],
        "/certs/registry.crt"
    );
    assert!(swarm.join("registry/certs").is_dir());
    assert!(swarm.join("registry/data").is_dir());
    assert!(swarm.join("iocLog").is_dir());
}

#[test]
fn bad_settings_are_one_error_naming_the_key() {
    for (settings, key) in [
        (
            "alert_manager_receive_email_list: [ops@lab.org]\nalert_manager_smtp_email_send_address: a@lab.org\n",
            "alert_manager_smtp_smart_host: empty",
        ),
        (
            "cluster_worker_nodes: {w1: 10.0.0.256}\n",
            "cluster_worker_nodes: host \"w1\": \"10.0.0.256\" is not an IP address",
        ),
        (
            "registry_master_ip: registry\n",
            "registry_master_ip: \"registry\" is not an IP address",
        ),
        (
            "default_nodes: {d1: 10.0.0.1/24}\n",
            "default_nodes: host \"d1\"",
        ),
    ] {
        let t = TestContext::new();
        t.write_settings(&format!("{CREDENTIALS}{settings}"));
        let out = t
            .cmd(&["swarm", "--gen-built-in-services", "--yes"])
            .env("DOCKER_HOST", NO_DAEMON)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(stderr.contains(key), "{stderr}");
        assert!(!t.mount().join("swarm").exists());
    }
}

#[test]
fn missing_secrets_without_a_terminal_name_their_key() {
    let t = TestContext::new();
    let out = t
        .cmd(&["swarm", "--gen-built-in-services", "--yes"])
        .env("DOCKER_HOST", NO_DAEMON)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error: registry_login_username is not set (the registry's htpasswd login) and there is no terminal to ask for it: set it in"),
        "{stderr}"
    );
    assert!(!t.mount().join("swarm/registry").exists());

    t.write_settings(&format!(
        "{CREDENTIALS}alert_manager_receive_email_list: [ops@lab.org]\nalert_manager_smtp_smart_host: smtp:25\nalert_manager_smtp_email_send_address: a@lab.org\nalert_manager_smtp_auth_username: alerts\n"
    ));
    let out = t
        .cmd(&["swarm", "--gen-built-in-services", "--yes"])
        .env("DOCKER_HOST", NO_DAEMON)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("alert_manager_smtp_auth_password is not set"),
        "{stderr}"
    );

    for key in ["monitoring_admin_password", "grafana_admin_password"] {
        t.write_settings(&CREDENTIALS.replace(key, "unset_key"));
        let out = t
            .cmd(&["swarm", "--gen-built-in-services", "--yes"])
            .env("DOCKER_HOST", NO_DAEMON)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!(
                "error: {key} is not set (the login \"monitoring\" of prometheus and alertmanager) and there is no terminal to ask for it: set it in"
            )) || stderr.contains(&format!(
                "error: {key} is not set (grafana's admin login) and there is no terminal"
            )),
            "{stderr}"
        );
        assert!(!t.mount().join("swarm").exists());
    }
}

#[test]
fn generation_by_another_user_than_root_writes_nothing() {
    let test = "generation_by_another_user_than_root_writes_nothing";
    if !rustix::process::geteuid().is_root() {
        eprintln!("SKIPPED {test}: only root can run iocdock as another user");
        return;
    }
    if !tool_ready("setpriv", "util-linux", test) {
        return;
    }
    let t = TestContext::new();
    t.write_settings(CREDENTIALS);
    let nobody = 65534;
    for path in [t.home().to_path_buf(), t.home().join("settings.yaml")] {
        std::os::unix::fs::chown(&path, Some(nobody), Some(nobody)).unwrap();
    }
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(crate::bin())
        .args(["swarm", "--gen-built-in-services", "--yes"])
        .env("IOCDOCK_HOME", t.home())
        .env("DOCKER_HOST", NO_DAEMON)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("/secrets/")
            && errors[0].contains("run iocdock as root (nothing was written)"),
        "{stderr}"
    );
    let swarm = t.mount().join("swarm");
    for service in ["prometheus", "grafana", "global-services", "iocLog"] {
        assert!(!swarm.join(service).exists(), "{service} was written");
    }
}

/// Runs `iocdock ARGS` on a pseudo-terminal (util-linux `script`) typing `input`.
fn on_terminal(t: &TestContext, args: &str, input: &str) -> (bool, String) {
    use std::io::Write;
    let command = format!(
        "{} --home {} {args}",
        crate::bin().display(),
        t.home().display()
    );
    let mut child = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("DOCKER_HOST", NO_DAEMON)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn missing_registry_login_is_asked_on_a_terminal() {
    let test = "missing_registry_login_is_asked_on_a_terminal";
    if !tool_ready("script", "bsdutils", test) {
        return;
    }
    let t = TestContext::new();
    let generate = "swarm --gen-built-in-services --yes";
    let (ok, out) = on_terminal(&t, generate, "ops\ntyped\nother\n");
    assert!(!ok, "{out}");
    assert!(
        out.contains("the two registry_login_password entries differ; nothing was written"),
        "{out}"
    );
    assert!(!t.mount().join("swarm").exists());

    let (ok, out) = on_terminal(
        &t,
        generate,
        "ops\ntyped\ntyped\npusher\ntyped-push\ntyped-push\n m0n\n m0n\n",
    );
    assert!(!ok, "{out}");
    assert!(
        out.contains("monitoring_admin_password: a password that does not begin or end with a space is expected"),
        "{out}"
    );
    assert!(!t.mount().join("swarm").exists());

    let (ok, out) = on_terminal(
        &t,
        generate,
        "ops\ntyped\ntyped\npusher\ntyped-push\ntyped-push\nm0n\nm0n\ngr4f\ngr4f\n",
    );
    assert!(ok, "{out}");
    for question in [
        "registry_login_username (the registry's htpasswd login): ",
        "registry_login_password (the registry's htpasswd login): ",
        "registry_login_password again: ",
        "registry_push_username (the push registry's htpasswd login, for the manager only): ",
        "registry_push_password (the push registry's htpasswd login, for the manager only): ",
        "registry_push_password again: ",
        "monitoring_admin_password (the login \"monitoring\" of prometheus and alertmanager): ",
        "monitoring_admin_password again: ",
        "grafana_admin_password (grafana's admin login): ",
        "grafana_admin_password again: ",
    ] {
        assert!(out.contains(question), "{out}");
    }
    let swarm = t.mount().join("swarm");
    for (file, user, password) in [
        ("registry/auth/htpasswd", "ops", "typed"),
        ("registryPush/auth/htpasswd", "pusher", "typed-push"),
    ] {
        let htpasswd = fs::read_to_string(swarm.join(file)).unwrap();
        let hash = htpasswd
            .trim()
            .strip_prefix(&format!("{user}:"))
            .expect("user");
        assert!(bcrypt::verify(password, hash).unwrap());
    }
    let web = yaml(&swarm.join("prometheus/config/web.yml"));
    let hash = web["basic_auth_users"]["monitoring"].as_str().unwrap();
    assert!(bcrypt::verify("m0n", hash).unwrap());
    let admin = fs::read_to_string(swarm.join("grafana/secrets/admin-password")).unwrap();
    assert_eq!(admin, "gr4f");
    // The answers are not saved; the files are kept from now on, byte for byte.
    assert!(!t.home().join("settings.yaml").exists());
    let before = t.tree_state();
    let (ok, out) = on_terminal(&t, generate, "");
    assert!(ok && !out.contains("password"), "{out}");
    assert!(
        before == t.tree_state(),
        "a run without answers changed files"
    );
}

#[test]
fn an_unreachable_daemon_stops_generation_unless_yes() {
    let t = TestContext::new();
    t.write_settings(CREDENTIALS);
    let out = t
        .cmd(&["swarm", "--gen-built-in-services"])
        .env("DOCKER_HOST", NO_DAEMON)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot reach the Docker daemon"),
        "{stderr}"
    );
    assert!(
        stderr.contains("nothing was written (--yes writes anyway)"),
        "{stderr}"
    );
    assert!(!t.mount().join("swarm").exists());

    let out = t
        .cmd(&["swarm", "--gen-built-in-services", "--yes"])
        .env("DOCKER_HOST", NO_DAEMON)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: cannot reach the Docker daemon"),
        "{stderr}"
    );
    assert!(stderr.contains("prometheus: wrote 8 files"), "{stderr}");
    for file in compose_files(&t.mount().join("swarm")) {
        assert!(file.is_file(), "{}", file.display());
    }
}

/// Removes what a test deployed under `prefix`, waiting for the containers to go so
/// the networks and volumes can be removed too, and the stand-in image names.
pub(crate) struct Cleanup {
    pub(crate) prefix: String,
    pub(crate) images: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let quiet = |args: &[&str]| {
            Command::new("docker")
                .args(args)
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        };
        let name = format!("name={}_", self.prefix);
        let services = quiet(&["service", "ls", "-q", "--filter", &name]);
        let services: Vec<&str> = services.split_whitespace().collect();
        if !services.is_empty() {
            let mut args = vec!["service", "rm"];
            args.extend(&services);
            quiet(&args);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let left = quiet(&["ps", "-a", "-q", "--filter", &name]);
            if left.trim().is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        // Matched here, not with --filter: the 20.10 daemon's name filter misses
        // swarm-scoped networks. The manager releases a network's endpoints a little
        // after the containers are gone, so removal is tried until it works.
        let stack = format!("{}_", self.prefix);
        for kind in ["network", "volume"] {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let names = quiet(&[kind, "ls", "--format", "{{.Name}}"]);
                let names: Vec<&str> = names
                    .split_whitespace()
                    .filter(|n| n.starts_with(&stack))
                    .collect();
                if names.is_empty() || Instant::now() > deadline {
                    break;
                }
                let mut args = vec![kind, "rm"];
                args.extend(&names);
                quiet(&args);
                std::thread::sleep(Duration::from_millis(500));
            }
        }
        for image in &self.images {
            quiet(&["image", "rm", "-f", image]);
        }
    }
}

/// A stand-in for every image the global services name: the busybox test image with a
/// sleeping stub at each absolute entrypoint path, whose own entrypoint sleeps too
/// (the compose `command` arguments land in `$0…` of `sh -c` and are ignored).
/// cAdvisor's shell entrypoint waits for the proxy's socket, which the sleeping
/// stand-in of socketProxy never makes: its task runs, waiting. The IOC image of
/// client and iocLogServer is the demo IOC image itself, so their real entrypoints
/// run (iocLogServer found through the image's environment).
fn stand_in_images(prefix: &str, swarm: &Path, cleanup: &mut Cleanup) {
    let mut images = BTreeSet::new();
    let mut stubs = BTreeSet::new();
    for name in GLOBAL {
        let compose = yaml(&swarm.join(format!("global-services/{name}.yaml")));
        let service = &compose["services"][format!("srv-{name}").as_str()];
        let image = service["image"].as_str().expect("image").to_string();
        if is_ioc_image(&image) {
            crate::e2e::demo_image();
            docker(&["tag", crate::e2e::DEMO_IMAGE, &image]);
            cleanup.images.push(image);
            continue;
        }
        images.insert(image);
        // A shell entrypoint (cAdvisor's wait for the proxy) runs busybox's shell.
        if let Some(program) = service["entrypoint"][0]
            .as_str()
            .filter(|p| p.starts_with('/') && *p != "/bin/sh")
        {
            stubs.insert(program.to_string());
        }
    }
    let mut script = String::from("set -e\n");
    for stub in &stubs {
        script.push_str(&format!(
            "mkdir -p \"$(dirname {stub})\"\nprintf '#!/bin/sh\\nexec sleep 2147483647\\n' > {stub}\nchmod 755 {stub}\n"
        ));
    }
    let builder = format!("{prefix}-stand-in");
    docker(&[
        "create", "--name", &builder, TEST_IMAGE, "sh", "-c", &script,
    ]);
    let work = tempfile::tempdir().unwrap();
    let rootfs = work.path().join("rootfs.tar");
    let started = Command::new("docker")
        .args(["start", "-a", &builder])
        .output()
        .unwrap();
    let exported = Command::new("docker")
        .args(["export", "-o", &rootfs.to_string_lossy(), &builder])
        .output()
        .unwrap();
    docker(&["rm", &builder]);
    assert!(
        started.status.success() && exported.status.success(),
        "stand-in rootfs: {}{}",
        String::from_utf8_lossy(&started.stderr),
        String::from_utf8_lossy(&exported.stderr)
    );
    let images: Vec<String> = images.into_iter().collect();
    cleanup.images.extend(images.iter().cloned());
    docker(&[
        "import",
        "--change",
        "ENTRYPOINT [\"/bin/sh\", \"-c\", \"exec sleep 2147483647\", \"stand-in\"]",
        "--change",
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        &rootfs.to_string_lossy(),
        &images[0],
    ]);
    for image in &images[1..] {
        docker(&["tag", &images[0], image]);
    }
}

/// Whether a rendered image reference is the cluster's IOC image (`.../ioc-exec:TAG`).
pub(crate) fn is_ioc_image(reference: &str) -> bool {
    reference
        .rsplit('/')
        .next()
        .is_some_and(|last| last.starts_with("ioc-exec:"))
}

/// Runs iocdock; None (after printing why) when the action is not on this branch yet.
fn action(t: &TestContext, args: &[&str], test: &str) -> Option<String> {
    let out = t.cmd(args).output().expect("run iocdock");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && stderr.contains("not built yet") {
        eprintln!(
            "SKIPPED {test}: `iocdock {}` is not on this branch yet (branches deploy and status)",
            args.join(" ")
        );
        return None;
    }
    assert!(out.status.success(), "iocdock {args:?}: {stderr}");
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn global_services_deploy_and_show_in_the_digest() {
    let test = "global_services_deploy_and_show_in_the_digest";
    if !docker_ready(test) {
        return;
    }
    let prefix = unique_prefix("bi");
    let mut cleanup = Cleanup {
        prefix: prefix.clone(),
        images: Vec::new(),
    };
    let t = TestContext::new();
    t.write_settings(&format!("prefix_stack_name: {prefix}\n{CREDENTIALS}"));
    // iocLogServer's host port is one of its own, so suites running at once do not
    // wait for each other's.
    let log_port = format!("published: {}", free_port());
    override_template(
        &t,
        "global-services/iocLogServer.yaml",
        &[("published: 7004", &log_port)],
    );
    t.ok(&["swarm", "--gen-built-in-services"]);
    let swarm = t.mount().join("swarm");
    stand_in_images(&prefix, &swarm, &mut cleanup);

    if action(&t, &["swarm", "--deploy-global-services"], test).is_none() {
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let Some(digest) = action(&t, &["swarm", "--show-digest"], test) else {
            return;
        };
        let ready = GLOBAL.iter().all(|name| {
            digest.lines().any(|line| {
                let cells: Vec<&str> = line.split_whitespace().collect();
                cells.len() >= 4
                    && cells[0] == *name
                    && cells[1] == format!("{prefix}_srv-{name}")
                    && cells[2] == "global"
                    && cells[3] == "1/1"
            })
        });
        if ready {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "global services not 1/1 after 120 s:\n{digest}\n{}",
            docker(&["service", "ls", "--filter", &format!("name={prefix}_")])
        );
        std::thread::sleep(Duration::from_secs(2));
    }
}

#[test]
fn a_deployed_service_keeps_its_files() {
    let test = "a_deployed_service_keeps_its_files";
    if !docker_ready(test) {
        return;
    }
    let prefix = unique_prefix("bk");
    let _cleanup = Cleanup {
        prefix: prefix.clone(),
        images: Vec::new(),
    };
    let t = TestContext::new();
    t.write_settings(&format!("prefix_stack_name: {prefix}\n{CREDENTIALS}"));
    t.ok(&["swarm", "--gen-built-in-services"]);
    let swarm = t.mount().join("swarm");
    let before = fs::read(swarm.join("prometheus/prometheus.yaml")).unwrap();

    // Whoever created it, a service of that name runs from the prometheus files.
    docker(&[
        "service",
        "create",
        "--detach",
        "--replicas",
        "0",
        "--name",
        &format!("{prefix}_srv-prometheus"),
        TEST_IMAGE,
        "sleep",
        "60",
    ]);
    t.ok(&["swarm", "--gen-built-in-services"]);

    t.write_settings(&format!(
        "prefix_stack_name: {prefix}\n{CREDENTIALS}registry_common_name: registry.elsewhere\n"
    ));
    let out = t
        .cmd(&["swarm", "--gen-built-in-services"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "error: prometheus is deployed as {prefix}_srv-prometheus and these files would change: prometheus/prometheus.yaml;"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("loki: wrote 1 file"), "{stderr}");
    assert_eq!(
        fs::read(swarm.join("prometheus/prometheus.yaml")).unwrap(),
        before
    );
    let loki = fs::read_to_string(swarm.join("loki/loki.yaml")).unwrap();
    assert!(loki.contains("registry.elsewhere/grafana/loki:"), "{loki}");
}

#[test]
fn registry_certificates_are_verified_before_generation() {
    let t = TestContext::new();
    t.write_settings(CREDENTIALS);
    t.ok(&["make-certs"]);
    let certs = t.mount().join("swarm/registry/certs");
    // A server certificate that is not the one its key and the CA belong to.
    std::fs::copy(certs.join("ca.crt"), certs.join("registry.crt")).unwrap();
    let out = t
        .cmd(&["swarm", "--gen-built-in-services", "--yes"])
        .env("DOCKER_HOST", NO_DAEMON)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("registry.crt"), "{stderr}");
    assert!(
        !t.mount().join("swarm/registry/registry.yaml").exists(),
        "nothing is written"
    );
    // A fresh, valid set is accepted.
    t.ok(&["make-certs", "--force"]);
    t.cmd(&["swarm", "--gen-built-in-services", "--yes"])
        .env("DOCKER_HOST", NO_DAEMON)
        .assert()
        .success();
}

/// The answer to one HTTP request made with curl.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: String,
}

/// `curl -X METHOD URL` with `extra` options; status 0 when nothing answered.
pub(crate) fn http(method: &str, url: &str, extra: &[&str]) -> Reply {
    let mut args = vec!["-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", "10"];
    if method == "HEAD" {
        args.push("-I");
    } else {
        args.extend(["-X", method]);
    }
    args.extend(extra);
    args.push(url);
    let out = Command::new("curl").args(&args).output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    Reply {
        status: status.trim().parse().unwrap_or(0),
        body: body.to_string(),
    }
}

/// A TCP port nothing listens on now, so that suites running at once do not publish
/// the same host port.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("0.0.0.0:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Copies the shipped template `relative` into the test home's `$SERVICES_PATH` with
/// `changes` made, each of which must apply: the file deployed is the shipped one but
/// for what is replaced.
pub(crate) fn override_template(t: &TestContext, relative: &str, changes: &[(&str, &str)]) {
    let path = t.home().join("IocDock/imsrvs").join(relative);
    // On top of an earlier override of the same file, so changes add up.
    let mut text = fs::read_to_string(&path)
        .or_else(|_| fs::read_to_string(crate::project_file(&format!("imsrvs/{relative}"))))
        .unwrap_or_else(|e| panic!("imsrvs/{relative}: {e}"));
    for (from, to) in changes {
        assert!(
            text.contains(from),
            "imsrvs/{relative} no longer has {from:?}"
        );
        text = text.replace(from, to);
    }
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// Tags the stand-in images (`registry.iasf/…`) with the names the rendered files of
/// the `deployed` services give them (the test's registry port included), for the
/// clean-up to remove; false when a stand-in is missing (see `stand_ins_ready`).
pub(crate) fn tag_stand_ins(
    swarm: &Path,
    deployed: &[&str],
    registry_port: u16,
    cleanup: &mut Cleanup,
    test: &str,
) -> bool {
    let mut images: Vec<(String, String)> = Vec::new();
    for file in compose_files(swarm) {
        if !deployed.contains(&file.file_stem().unwrap().to_str().unwrap()) {
            continue;
        }
        let image = compose_service(&file)["image"]
            .as_str()
            .unwrap()
            .to_string();
        let stand_in = image.replacen(
            &format!("registry.iasf:{registry_port}/"),
            "registry.iasf/",
            1,
        );
        if !images.contains(&(stand_in.clone(), image.clone())) {
            images.push((stand_in, image));
        }
    }
    let stand_ins: Vec<String> = images.iter().map(|(s, _)| s.clone()).collect();
    if !stand_ins_ready(&stand_ins, test) {
        return false;
    }
    for (stand_in, image) in &images {
        docker(&["tag", stand_in, image]);
        cleanup.images.push(image.clone());
    }
    true
}

/// Free ports for the built-in services a test deploys on this machine's engine.
#[derive(Clone, Copy)]
pub(crate) struct Ports {
    pub(crate) registry: u16,
    pub(crate) prometheus: u16,
    pub(crate) alertmanager: u16,
    pub(crate) exporter: u16,
}

impl Ports {
    pub(crate) fn free() -> Ports {
        let [registry, prometheus, alertmanager, exporter] = [(); 4].map(|_| free_port());
        Ports {
            registry,
            prometheus,
            alertmanager,
            exporter,
        }
    }
}

/// The shipped built-in service files on the ports of `ports` and on this single
/// manager node (no node labels are added to the shared node). The registry's port
/// comes from the settings (`registry_port`).
pub(crate) fn on_this_manager(t: &TestContext, ports: Ports) {
    let on_manager = [
        (
            "constraints: [node.labels.registry==true]",
            "constraints: [node.role==manager]",
        ),
        (
            "constraints: [node.labels.alertmanager==true]",
            "constraints: [node.role==manager]",
        ),
        (
            "constraints: [node.role==manager, node.labels.prometheus==true]",
            "constraints: [node.role==manager]",
        ),
    ];
    override_template(t, "registry/registry.yaml", &on_manager[..1]);
    override_template(
        t,
        "alertManager/alertManager.yaml",
        &[
            on_manager[1],
            (
                "published: 9093",
                &format!("published: {}", ports.alertmanager),
            ),
        ],
    );
    override_template(
        t,
        "prometheus/prometheus.yaml",
        &[
            on_manager[2],
            (
                "published: 9090",
                &format!("published: {}", ports.prometheus),
            ),
        ],
    );
    override_template(
        t,
        "global-services/nodeExporter.yaml",
        &[(
            "--web.listen-address=:9100",
            &format!("--web.listen-address=:{}", ports.exporter),
        )],
    );
    override_template(
        t,
        "prometheus/config/prometheus.yml",
        &[("port: 9100", &format!("port: {}", ports.exporter))],
    );
}

/// Whether the stand-in images the deployment test runs exist (scripts/test.sh builds
/// them); in CI their absence fails the test.
pub(crate) fn stand_ins_ready(images: &[String], test: &str) -> bool {
    let missing: Vec<&String> = images
        .iter()
        .filter(|image| {
            !Command::new("docker")
                .args(["image", "inspect", "--format", "{{.Id}}", image])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    let shared = crate::project_file("../shared/tools/monitoring-images/build.sh");
    let how = if shared.is_file() {
        "scripts/test.sh builds them (../shared/tools/monitoring-images/build.sh, scripts/proxy-image/build.sh)"
    } else {
        "../shared/tools/monitoring-images is not beside this clone; scripts/proxy-image/build.sh builds the proxy's"
    };
    assert!(!in_ci(), "{test}: CI needs the images {missing:?}: {how}");
    eprintln!("SKIPPED {test}: no image {missing:?}: {how}");
    false
}

/// Waits until every service in `names` runs its one task.
pub(crate) fn wait_running(prefix: &str, names: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let listed = docker(&[
            "service",
            "ls",
            "--filter",
            &format!("name={prefix}_srv-"),
            "--format",
            "{{.Name}} {{.Replicas}}",
        ]);
        let running = |name: &&str| {
            listed
                .lines()
                .any(|l| l == format!("{prefix}_srv-{name} 1/1"))
        };
        if names.iter().all(running) {
            return;
        }
        if Instant::now() > deadline {
            let tasks: Vec<String> = names
                .iter()
                .map(|n| {
                    docker(&[
                        "service",
                        "ps",
                        "--no-trunc",
                        "--format",
                        "{{.Name}} {{.CurrentState}} {{.Error}}",
                        &format!("{prefix}_srv-{n}"),
                    ])
                })
                .collect();
            panic!("not running after 180 s:\n{listed}\n{}", tasks.join(""));
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Polls `check` every second until it returns Some, for up to `seconds`.
pub(crate) fn eventually<T>(
    seconds: u64,
    what: &str,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        match check() {
            Ok(value) => return value,
            Err(last) if Instant::now() > deadline => {
                panic!("{what} after {seconds} s; last: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_secs(1)),
        }
    }
}

/// The published ports of a deployed service, as the engine stores its spec.
fn engine_ports(service: &str) -> Vec<u64> {
    let spec = docker(&[
        "service",
        "inspect",
        "--format",
        "{{json .Spec.EndpointSpec}}",
        service,
    ]);
    let spec: serde_json::Value = serde_json::from_str(&spec).unwrap();
    spec["Ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            assert_eq!(p["PublishMode"], "host", "{service}: {p}");
            p["PublishedPort"].as_u64().unwrap()
        })
        .collect()
}

/// The bind-mount sources of a deployed service, as the engine stores its spec.
fn engine_binds(service: &str) -> Vec<String> {
    let mounts = docker(&[
        "service",
        "inspect",
        "--format",
        "{{json .Spec.TaskTemplate.ContainerSpec.Mounts}}",
        service,
    ]);
    let mounts: serde_json::Value = serde_json::from_str(&mounts).unwrap();
    mounts
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["Type"] == "bind")
        .map(|m| m["Source"].as_str().unwrap().to_string())
        .collect()
}

const MONITORING_PASSWORD: &str = "m0n-pw";

#[test]
fn published_ports_refuse_admin_and_write_requests_without_credentials() {
    let test = "published_ports_refuse_admin_and_write_requests_without_credentials";
    if !docker_ready(test) || !tool_ready("curl", "curl", test) {
        return;
    }
    let prefix = unique_prefix("bs");
    let mut cleanup = Cleanup {
        prefix: prefix.clone(),
        images: Vec::new(),
    };
    let t = TestContext::new();
    let ports = Ports::free();
    let Ports {
        registry: registry_port,
        prometheus: prometheus_port,
        alertmanager: alertmanager_port,
        exporter: exporter_port,
    } = ports;
    // registry.iasf is the name the stand-in images carry; the registry's port is a
    // free one, so the image names carry it too.
    t.write_settings(&format!(
        "prefix_stack_name: {prefix}\nregistry_common_name: registry.iasf\nregistry_port: {registry_port}\n{CREDENTIALS}"
    ));
    on_this_manager(&t, ports);
    t.ok(&["make-certs"]);
    t.ok(&["swarm", "--gen-built-in-services"]);
    let swarm = t.mount().join("swarm");

    let deployed = [
        "socketProxy",
        "nodeExporter",
        "registry",
        "alertManager",
        "prometheus",
    ];
    if !tag_stand_ins(&swarm, &deployed, registry_port, &mut cleanup, test) {
        return;
    }

    // The proxy first: the others find the engine through its socket.
    t.ok(&["service", "socketProxy", "--deploy", "--detach"]);
    // Swarm makes the volume when the proxy's task starts.
    let volume = format!("{prefix}_docker-api");
    let socket = eventually(60, "no proxy socket", || {
        use std::os::unix::fs::FileTypeExt;
        let out = Command::new("docker")
            .args(["volume", "inspect", "--format", "{{.Mountpoint}}", &volume])
            .output()
            .map_err(|e| e.to_string())?;
        let socket = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("docker.sock");
        match fs::metadata(&socket) {
            Ok(m) if m.file_type().is_socket() => Ok(socket),
            other => Err(format!("{}: {other:?}", socket.display())),
        }
    });
    t.ok(&[
        "service",
        "nodeExporter",
        "registry",
        "alertManager",
        "prometheus",
        "--deploy",
        "--detach",
    ]);
    wait_running(&prefix, &deployed);

    // Only the proxy reaches the engine, as the engine itself stores the specs.
    for name in deployed {
        let binds = engine_binds(&format!("{prefix}_srv-{name}"));
        let engine = binds
            .iter()
            .any(|b| b.ends_with("docker.sock") || b == "/var/run" || b == "/run");
        assert_eq!(engine, name == "socketProxy", "{name}: {binds:?}");
    }

    // Through the proxy: reads answer, writes and whatever the services do not read
    // are refused before they reach the engine.
    let proxy = |method: &str, path: &str, body: Option<&str>| {
        let socket = socket.to_string_lossy().into_owned();
        // --path-as-is: the proxy, not curl, has to deal with "..".
        let mut extra = vec!["--path-as-is", "--unix-socket", socket.as_str()];
        if let Some(body) = body {
            extra.extend(["-H", "Content-Type: application/json", "--data", body]);
        }
        http(method, &format!("http://docker{path}"), &extra)
    };
    let services = proxy("GET", "/services", None);
    assert_eq!(services.status, 200, "{services:?}");
    assert!(
        services.body.contains(&format!("{prefix}_srv-prometheus")),
        "{services:?}"
    );
    for (method, path) in [
        ("HEAD", "/_ping"),
        ("GET", "/v1.41/version"),
        ("GET", "/info"),
    ] {
        assert_eq!(proxy(method, path, None).status, 200, "{method} {path}");
    }
    let own_container = docker(&[
        "ps",
        "-q",
        "--no-trunc",
        "--filter",
        &format!("label=com.docker.swarm.service.name={prefix}_srv-socketProxy"),
    ]);
    let own_container = own_container.trim();
    assert!(!own_container.is_empty());
    let intruder = format!("{prefix}_intruder");
    let create = format!(
        "{{\"Name\":\"{intruder}\",\"TaskTemplate\":{{\"ContainerSpec\":{{\"Image\":\"{TEST_IMAGE}\"}}}}}}"
    );
    let victim = format!("{prefix}_srv-nodeExporter");
    for (method, path, body) in [
        (
            "POST",
            "/services/create".to_string(),
            Some(create.as_str()),
        ),
        (
            "POST",
            "/v1.41/services/create".to_string(),
            Some(create.as_str()),
        ),
        ("DELETE", format!("/services/{victim}"), None),
        (
            "POST",
            format!("/containers/{own_container}/exec"),
            Some("{\"Cmd\":[\"id\"]}"),
        ),
        (
            "GET",
            format!("/containers/{own_container}/archive?path=/etc"),
            None,
        ),
        ("GET", "/containers/../services".to_string(), None),
        ("GET", "/secrets".to_string(), None),
        ("GET", "/events".to_string(), None),
    ] {
        let reply = proxy(method, &path, body);
        assert_eq!(reply.status, 403, "{method} {path}: {reply:?}");
    }
    let names = docker(&["service", "ls", "--format", "{{.Name}}"]);
    assert!(!names.lines().any(|n| n == intruder), "{names}");
    assert!(names.lines().any(|n| n == victim), "{names}");

    // Every published port of the deployed services, from the rendered files and from
    // the engine, is probed below.
    let rendered_ports = published_ports(&swarm);
    let mut published = BTreeSet::new();
    for name in deployed {
        let ports = engine_ports(&format!("{prefix}_srv-{name}"));
        assert_eq!(ports, rendered_ports[name].0, "{name}");
        published.extend(ports);
    }
    let mut probed = BTreeSet::new();
    let login = format!("monitoring:{MONITORING_PASSWORD}");
    let with_login = ["-u", login.as_str()];
    let wrong_login = ["-u", "monitoring:guess"];

    // prometheus: nothing without the login; with it, no lifecycle or admin API.
    let prometheus = format!("http://127.0.0.1:{prometheus_port}");
    probed.insert(u64::from(prometheus_port));
    eventually(90, "prometheus not ready", || {
        let reply = http("GET", &format!("{prometheus}/-/ready"), &with_login);
        (reply.status == 200)
            .then_some(())
            .ok_or(format!("{reply:?}"))
    });
    for (method, path) in [
        ("POST", "/-/quit"),
        ("POST", "/-/reload"),
        ("POST", "/api/v1/admin/tsdb/delete_series?match[]=up"),
        ("POST", "/api/v1/admin/tsdb/snapshot"),
        ("GET", "/api/v1/query?query=up"),
        ("GET", "/api/v1/targets"),
        ("GET", "/-/ready"),
    ] {
        let url = format!("{prometheus}{path}");
        assert_eq!(http(method, &url, &[]).status, 401, "{method} {path}");
        assert_eq!(
            http(method, &url, &wrong_login).status,
            401,
            "{method} {path}"
        );
    }
    let quit = http("POST", &format!("{prometheus}/-/quit"), &with_login);
    assert_eq!(quit.status, 403, "{quit:?}");
    let delete = http(
        "POST",
        &format!("{prometheus}/api/v1/admin/tsdb/delete_series?match[]=up"),
        &with_login,
    );
    assert!(delete.body.contains("admin APIs disabled"), "{delete:?}");
    // Swarm discovery through the proxy finds the node (its exporter and engine) and
    // the registry's task; prometheus' own login gets it into itself and into
    // alertmanager.
    let targets = eventually(150, "targets not found", || {
        let reply = http("GET", &format!("{prometheus}/api/v1/targets"), &with_login);
        let doc: serde_json::Value =
            serde_json::from_str(&reply.body).map_err(|e| e.to_string())?;
        let active = doc["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let health = |job: &str| {
            active
                .iter()
                .find(|t| t["labels"]["job"] == job)
                .map(|t| t["health"].as_str().unwrap_or_default().to_string())
        };
        let up = |job: &str| health(job).as_deref() == Some("up");
        let found = |job: &str| health(job).is_some();
        if up("prometheus")
            && up("alertmanager")
            && ["node-exporter", "docker", "registry"]
                .into_iter()
                .all(found)
        {
            Ok(active)
        } else {
            Err(reply.body)
        }
    });
    let exporter = targets
        .iter()
        .find(|t| t["labels"]["job"] == "node-exporter")
        .unwrap();
    assert!(
        exporter["discoveredLabels"]["__address__"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":{exporter_port}")),
        "{exporter}"
    );
    assert_eq!(
        http("GET", &format!("{prometheus}/-/ready"), &with_login).status,
        200
    );

    // alertmanager: no silence, no alert, no reload without the login; no gossip.
    let alertmanager = format!("http://127.0.0.1:{alertmanager_port}");
    probed.insert(u64::from(alertmanager_port));
    eventually(60, "alertmanager not ready", || {
        let reply = http("GET", &format!("{alertmanager}/-/ready"), &with_login);
        (reply.status == 200)
            .then_some(())
            .ok_or(format!("{reply:?}"))
    });
    let silence = r#"{"matchers":[{"name":"alertname","value":".+","isRegex":true}],"startsAt":"2026-01-01T00:00:00Z","endsAt":"2027-01-01T00:00:00Z","createdBy":"x","comment":"x"}"#;
    let json = ["-H", "Content-Type: application/json", "--data", silence];
    for (method, path, extra) in [
        ("POST", "/api/v2/silences", &json[..]),
        (
            "POST",
            "/api/v2/alerts",
            &["-H", "Content-Type: application/json", "--data", "[]"][..],
        ),
        ("POST", "/-/reload", &[][..]),
        ("GET", "/api/v2/status", &[][..]),
    ] {
        let url = format!("{alertmanager}{path}");
        assert_eq!(http(method, &url, extra).status, 401, "{method} {path}");
        let mut wrong = wrong_login.to_vec();
        wrong.extend(extra);
        assert_eq!(http(method, &url, &wrong).status, 401, "{method} {path}");
    }
    let silences = http(
        "GET",
        &format!("{alertmanager}/api/v2/silences"),
        &with_login,
    );
    assert_eq!((silences.status, silences.body.trim()), (200, "[]"));
    let status = http("GET", &format!("{alertmanager}/api/v2/status"), &with_login);
    let status: serde_json::Value = serde_json::from_str(&status.body).unwrap();
    assert_eq!(status["cluster"]["status"], "disabled", "{status}");

    // The registry: no push, no read without its login.
    let registry = format!("https://registry.iasf:{registry_port}");
    probed.insert(u64::from(registry_port));
    let ca = swarm.join("registry/certs/ca.crt");
    let resolve = format!("registry.iasf:{registry_port}:127.0.0.1");
    let tls = [
        "--cacert",
        ca.to_str().unwrap(),
        "--resolve",
        resolve.as_str(),
    ];
    eventually(60, "registry not answering", || {
        let reply = http("GET", &format!("{registry}/v2/"), &tls);
        (reply.status == 401)
            .then_some(())
            .ok_or(format!("{reply:?}"))
    });
    for (method, path) in [
        ("POST", "/v2/iocdock-probe/blobs/uploads/"),
        ("PUT", "/v2/iocdock-probe/manifests/latest"),
        ("GET", "/v2/_catalog"),
    ] {
        let reply = http(method, &format!("{registry}{path}"), &tls);
        assert_eq!(reply.status, 401, "{method} {path}: {reply:?}");
    }
    let mut with_registry_login = tls.to_vec();
    with_registry_login.extend(["-u", "ops:s3cret"]);
    let catalog = http(
        "GET",
        &format!("{registry}/v2/_catalog"),
        &with_registry_login,
    );
    assert_eq!(catalog.status, 200, "{catalog:?}");

    assert_eq!(probed, published, "every published port is probed");
    // node-exporter is on the host network with no published port: its metrics are
    // read-only and answer anyone who reaches the node.
    let metrics = http(
        "GET",
        &format!("http://127.0.0.1:{exporter_port}/metrics"),
        &[],
    );
    assert!(
        metrics.status == 200 && metrics.body.contains("node_"),
        "{}",
        metrics.status
    );
}
