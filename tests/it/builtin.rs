//! The built-in cluster services: `swarm --gen-built-in-services`, and every rendered
//! file checked by the program that will read it (promtool, amtool, the docker CLI)
//! or, for grafana, against the fields grafana requires.
//!
//! Tests needing a tool: in CI (CI=true) a missing tool fails the test; elsewhere the
//! test is skipped with a printed reason. scripts/test.sh installs the tools.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::TestContext;
use crate::docker::{TEST_IMAGE, docker, docker_ready, unique_prefix};

const GLOBAL: [&str; 5] = [
    "client",
    "iocLogServer",
    "cAdvisor",
    "nodeExporter",
    "alloy",
];
const LOCAL: [&str; 6] = [
    "registry",
    "registryPush",
    "prometheus",
    "alertManager",
    "loki",
    "grafana",
];

/// A daemon address nothing listens on: generation then cannot check deployments.
const NO_DAEMON: &str = "unix:///nonexistent/iocdock-test/docker.sock";

const CREDENTIALS: &str = "registry_login_username: ops\nregistry_login_password: s3cret\n\
registry_push_username: pusher\nregistry_push_password: push-s3cret\n";

/// Every alerting setting set, so the fullest alertmanager.yml is rendered.
const FULL_SETTINGS: &str = "prefix_stack_name: lab\n\
registry_login_username: ops\n\
registry_login_password: s3cret\n\
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

fn in_ci() -> bool {
    matches!(std::env::var("CI").as_deref(), Ok("true") | Ok("1"))
}

/// Whether `program` can be run; in CI its absence fails the test.
fn tool_ready(program: &str, package: &str, test: &str) -> bool {
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

fn compose_files(swarm: &Path) -> Vec<PathBuf> {
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

fn yaml(path: &Path) -> serde_yaml::Value {
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
        assert!(out.contains("3 rule files found"), "{out}");
        let rules: Vec<String> = fs::read_dir(dir.join("rules"))
            .unwrap()
            .map(|e| format!("rules/{}", e.unwrap().file_name().to_string_lossy()))
            .collect();
        assert_eq!(rules.len(), 3, "{rules:?}");
        let mut args = vec!["check", "rules"];
        args.extend(rules.iter().map(String::as_str));
        let (ok, out) = run("promtool", &args, &dir);
        assert!(ok, "promtool check rules:\n{out}");
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
    for target in table["targets"].as_array().unwrap() {
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
fn without_grafana_variables(expr: &str) -> String {
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
            "alert_manager_smtp_smart_host is empty",
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
        "ops\ntyped\ntyped\npusher\ntyped-push\ntyped-push\n",
    );
    assert!(ok, "{out}");
    for question in [
        "registry_login_username (the registry's htpasswd login): ",
        "registry_login_password (the registry's htpasswd login): ",
        "registry_login_password again: ",
        "registry_push_username (the push registry's htpasswd login, for the manager only): ",
        "registry_push_password (the push registry's htpasswd login, for the manager only): ",
        "registry_push_password again: ",
    ] {
        assert!(out.contains(question), "{out}");
    }
    for (file, user, password) in [
        ("registry/auth/htpasswd", "ops", "typed"),
        ("registryPush/auth/htpasswd", "pusher", "typed-push"),
    ] {
        let htpasswd = fs::read_to_string(t.mount().join("swarm").join(file)).unwrap();
        let hash = htpasswd
            .trim()
            .strip_prefix(&format!("{user}:"))
            .expect("user");
        assert!(bcrypt::verify(password, hash).unwrap());
    }
    // The answers are not saved; the htpasswd files are kept from now on.
    assert!(!t.home().join("settings.yaml").exists());
    let (ok, out) = on_terminal(&t, generate, "");
    assert!(
        ok && !out.contains("registry_login") && !out.contains("registry_push"),
        "{out}"
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
    assert_eq!(out.status.code(), Some(1));
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
    assert!(stderr.contains("prometheus: wrote 5 files"), "{stderr}");
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
fn stand_in_images(prefix: &str, swarm: &Path, cleanup: &mut Cleanup) {
    let mut images = BTreeSet::new();
    let mut stubs = BTreeSet::new();
    for name in GLOBAL {
        let compose = yaml(&swarm.join(format!("global-services/{name}.yaml")));
        let service = &compose["services"][format!("srv-{name}").as_str()];
        images.insert(service["image"].as_str().expect("image").to_string());
        if let Some(program) = service["entrypoint"][0]
            .as_str()
            .filter(|p| p.starts_with('/'))
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
