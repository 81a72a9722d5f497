//! The built-in monitoring, run for real: prometheus, alertmanager, node-exporter, the
//! registry, the Docker API proxy and swarmExporter deployed through iocdock (stand-in
//! images from Debian packages, see builtin.rs), asked through their HTTP APIs.
//!
//! On this single-node swarm: every target that can exist here is up, every rule
//! loads, every PromQL expression of the rules and dashboards runs, and an IOC
//! service that stops pages through a webhook and a plain SMTP server (both run by
//! the test) and keeps alerting while it stays down, also while the swarm's counts
//! cannot be read, until it runs again. On the multi-node harness
//! (`../shared/tools/multinode`): the exporters of all three nodes are scraped.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::TestContext;
use crate::builtin::{
    CREDENTIALS, Cleanup, Ports, compose_files, compose_service, eventually, http, on_this_manager,
    override_template, stand_ins_ready, tag_stand_ins, tool_ready, wait_running,
    without_grafana_variables, yaml,
};
use crate::docker::{docker, docker_ready, unique_prefix};
use crate::e2e::demo_image;
use crate::multinode::Harness;

const PASSWORD: &str = "m0n-pw";
/// How long an IOC may be down before it pages, in this test.
const DOWN_FOR: Duration = Duration::from_secs(10);

/// What the test's webhook and SMTP servers received.
#[derive(Debug, Default)]
struct Received {
    hooks: Vec<Value>,
    mails: Vec<Mail>,
}

#[derive(Debug, Clone)]
struct Mail {
    from: String,
    to: Vec<String>,
    data: String,
}

type Inbox = Arc<Mutex<Received>>;

fn lock(inbox: &Inbox) -> std::sync::MutexGuard<'_, Received> {
    inbox
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Reads one HTTP request (headers and a Content-Length body) and answers 200.
fn one_webhook_call(mut stream: TcpStream) -> Option<Value> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    serde_json::from_slice(&body).ok()
}

/// A webhook receiver: every JSON body POSTed to it lands in the inbox.
fn webhook_server(inbox: Inbox) -> u16 {
    let listener = TcpListener::bind("0.0.0.0:0").expect("webhook port");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            if let Some(body) = one_webhook_call(stream) {
                lock(&inbox).hooks.push(body);
            }
        }
    });
    port
}

/// One SMTP session of a server that offers neither STARTTLS nor a login, as a plain
/// relay does: alertmanager must send without them.
fn one_smtp_session(stream: TcpStream) -> Option<Vec<Mail>> {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    let mut out = stream.try_clone().ok()?;
    let mut reader = BufReader::new(stream);
    let mut reply = |text: &str| out.write_all(format!("{text}\r\n").as_bytes()).ok();
    reply("220 sink.test ESMTP")?;
    let mut mails = Vec::new();
    let mut current = Mail {
        from: String::new(),
        to: Vec::new(),
        data: String::new(),
    };
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return Some(mails);
        }
        let command = line.trim_end().to_string();
        let verb = command
            .split([' ', ':'])
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        match verb.as_str() {
            // No STARTTLS, no AUTH, nothing else: a bare relay.
            "EHLO" => reply("250 sink.test")?,
            "HELO" | "NOOP" => reply("250 OK")?,
            "RSET" => {
                current.to.clear();
                reply("250 OK")?
            }
            "MAIL" => {
                current.from = command.get(10..).unwrap_or_default().to_string();
                reply("250 OK")?
            }
            "RCPT" => {
                current
                    .to
                    .push(command.get(8..).unwrap_or_default().to_string());
                reply("250 OK")?
            }
            "DATA" => {
                reply("354 end with <CRLF>.<CRLF>")?;
                let mut data = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).ok()? == 0 {
                        return Some(mails);
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    data.push_str(&line);
                }
                current.data = data;
                mails.push(current.clone());
                current.to.clear();
                reply("250 OK queued")?
            }
            "QUIT" => {
                reply("221 bye")?;
                return Some(mails);
            }
            _ => reply("502 not implemented")?,
        }
    }
}

fn smtp_server(inbox: Inbox) -> u16 {
    let listener = TcpListener::bind("0.0.0.0:0").expect("SMTP port");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            if let Some(mails) = one_smtp_session(stream) {
                lock(&inbox).mails.extend(mails);
            }
        }
    });
    port
}

/// The address containers on an overlay network reach this machine at: the gateway
/// of the bridge swarm gives them for the way out.
fn host_address_for_containers() -> String {
    docker(&[
        "network",
        "inspect",
        "docker_gwbridge",
        "--format",
        "{{(index .IPAM.Config 0).Gateway}}",
    ])
    .trim()
    .to_string()
}

/// A prometheus API call with the monitoring login; the `data` of its answer.
fn api(base: &str, path: &str, form: &[(&str, &str)]) -> Result<Value, String> {
    let login = format!("monitoring:{PASSWORD}");
    let mut args = vec!["-u".to_string(), login];
    for (name, value) in form {
        args.push("--data-urlencode".to_string());
        args.push(format!("{name}={value}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let method = if form.is_empty() { "GET" } else { "POST" };
    let reply = http(method, &format!("{base}{path}"), &args);
    let doc: Value = serde_json::from_str(&reply.body)
        .map_err(|e| format!("{path}: {} {e}: {}", reply.status, reply.body))?;
    if doc["status"] != "success" {
        return Err(format!("{path}: {doc}"));
    }
    Ok(doc["data"].clone())
}

/// The result vector of an instant query.
fn query(base: &str, expr: &str) -> Result<Vec<Value>, String> {
    let data = api(base, "/api/v1/query", &[("query", expr)])?;
    Ok(data["result"].as_array().cloned().unwrap_or_default())
}

fn value_of(sample: &Value) -> f64 {
    sample["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Every PromQL expression the rendered rules and dashboards hold: (where, expr).
fn expressions(swarm: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let rules_dir = swarm.join("prometheus/config/rules");
    let mut files: Vec<PathBuf> = fs::read_dir(&rules_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        let doc = yaml(&file);
        for group in doc["groups"].as_sequence().unwrap() {
            for rule in group["rules"].as_sequence().unwrap() {
                let name = rule["alert"].as_str().or(rule["record"].as_str()).unwrap();
                found.push((
                    format!("rule {name}"),
                    rule["expr"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    let mut dashboards: Vec<PathBuf> = fs::read_dir(swarm.join("grafana/dashboards"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dashboards.sort();
    for file in dashboards {
        let doc: Value = serde_json::from_str(&fs::read_to_string(&file).unwrap()).unwrap();
        let title = doc["title"].as_str().unwrap().to_string();
        for variable in doc["templating"]["list"].as_array().unwrap() {
            let Some(query) = variable["query"]["query"].as_str() else {
                continue;
            };
            // label_values(<selector>, <label>): the selector is PromQL.
            let inner = query
                .strip_prefix("label_values(")
                .and_then(|q| q.strip_suffix(')'))
                .and_then(|q| q.rsplit_once(','))
                .map(|(selector, _)| selector.to_string())
                .unwrap_or_else(|| panic!("{title}: variable query {query}"));
            found.push((
                format!("{title}: variable {}", variable["name"].as_str().unwrap()),
                without_grafana_variables(&inner),
            ));
        }
        for panel in doc["panels"].as_array().unwrap() {
            if panel["datasource"]["type"] != "prometheus" {
                continue;
            }
            for target in panel["targets"].as_array().unwrap() {
                found.push((
                    format!(
                        "{title}: {} {}",
                        panel["title"].as_str().unwrap(),
                        target["refId"].as_str().unwrap()
                    ),
                    without_grafana_variables(target["expr"].as_str().unwrap()),
                ));
            }
        }
    }
    found
}

/// Why an expression may have no data here, if it may: its source cannot run on this
/// machine. None: it must have data.
fn cannot_run_here(what: &str, expr: &str) -> Option<&'static str> {
    if expr.contains("engine_daemon_") {
        Some("the engine's metrics (this shared engine has no metrics-addr)")
    } else if expr.contains("container_") {
        Some("cAdvisor (no image of it can be built here)")
    } else if expr.contains("alloy") || expr.contains("loki") {
        Some("loki and alloy (no image of them can be built here)")
    } else if what.starts_with("rule ") {
        Some("an alert condition that does not hold now")
    } else {
        None
    }
}

/// The alerts for `service` of one name in the webhook calls so far: (status, alert).
fn notified(inbox: &Inbox, alertname: &str, service: &str) -> Vec<(String, Value)> {
    lock(inbox)
        .hooks
        .iter()
        .flat_map(|hook| hook["alerts"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["labels"]["alertname"] == alertname && a["labels"]["service"] == service)
        .map(|a| (a["status"].as_str().unwrap_or_default().to_string(), a))
        .collect()
}

/// The state prometheus gives an alert of `service` now, if it is active.
fn alert_state(base: &str, alertname: &str, service: Option<&str>) -> Option<String> {
    let alerts = api(base, "/api/v1/alerts", &[]).ok()?;
    alerts["alerts"]
        .as_array()?
        .iter()
        .find(|a| {
            a["labels"]["alertname"] == alertname
                && service.is_none_or(|s| a["labels"]["service"] == s)
        })
        .and_then(|a| a["state"].as_str().map(str::to_string))
}

#[test]
fn a_stopped_ioc_pages_by_webhook_and_mail_and_keeps_alerting_until_it_runs() {
    let test =
        "monitoring::a_stopped_ioc_pages_by_webhook_and_mail_and_keeps_alerting_until_it_runs";
    if !docker_ready(test) || !tool_ready("curl", "curl", test) {
        return;
    }
    let prefix = unique_prefix("mon");
    let mut cleanup = Cleanup {
        prefix: prefix.clone(),
        images: Vec::new(),
    };
    let inbox: Inbox = Arc::default();
    let hook_port = webhook_server(inbox.clone());
    let smtp_port = smtp_server(inbox.clone());
    let host = host_address_for_containers();
    let ports = Ports::free();
    let Ports {
        registry: registry_port,
        prometheus: prometheus_port,
        alertmanager: alertmanager_port,
        exporter: exporter_port,
    } = ports;
    let prometheus = format!("http://127.0.0.1:{prometheus_port}");
    let alertmanager = format!("http://127.0.0.1:{alertmanager_port}");
    let t = TestContext::new();
    t.write_settings(&format!(
        "prefix_stack_name: {prefix}\n\
         registry_common_name: registry.iasf\nregistry_port: {registry_port}\n{CREDENTIALS}\
         ioc_default_constraints: [node.role==manager]\n\
         ioc_health_interval: 2s\nioc_health_timeout: 5s\nioc_health_retries: 2\nioc_health_start_period: 5s\n\
         ioc_down_alert_after: {}s\n\
         prometheus_external_url: {prometheus}/\n\
         alertmanager_external_url: {alertmanager}/\n\
         alert_manager_default_webhook_receiver: http://{host}:{hook_port}/alerts\n\
         alert_manager_receive_email_list: [ops@lab.org]\n\
         alert_manager_smtp_smart_host: {host}:{smtp_port}\n\
         alert_manager_smtp_email_send_address: alertmanager@lab.org\n\
         alert_manager_smtp_tls: none\n",
        DOWN_FOR.as_secs()
    ));
    // The shipped files, on ports of their own, on this single manager (no node
    // labels are added to the shared node) and on a test's clock: scrapes, rule
    // evaluations, discovery and notifications every few seconds.
    on_this_manager(&t, ports);
    override_template(
        &t,
        "alertManager/config/alertmanager.yml",
        &[
            ("group_wait: 30s", "group_wait: 1s"),
            ("group_interval: 5m", "group_interval: 5s"),
        ],
    );
    override_template(
        &t,
        "prometheus/config/prometheus.yml",
        &[
            ("scrape_interval: 30s", "scrape_interval: 3s"),
            ("scrape_timeout: 10s", "scrape_timeout: 2s"),
            ("evaluation_interval: 30s", "evaluation_interval: 3s"),
            (
                "        role: tasks\n",
                "        role: tasks\n        refresh_interval: 3s\n",
            ),
            (
                "        role: nodes\n",
                "        role: nodes\n        refresh_interval: 3s\n",
            ),
        ],
    );
    t.ok(&["make-certs"]);
    t.ok(&["swarm", "--gen-built-in-services"]);
    let swarm = t.mount().join("swarm");

    let deployed = [
        "socketProxy",
        "nodeExporter",
        "registry",
        "alertManager",
        "prometheus",
        "swarmExporter",
    ];
    if !tag_stand_ins(&swarm, &deployed, registry_port, &mut cleanup, test) {
        return;
    }
    demo_image();

    // The proxy first: the others read the engine through its socket.
    t.ok(&["service", "socketProxy", "--deploy", "--detach"]);
    wait_running(&prefix, &["socketProxy"]);
    t.ok(&[
        "service",
        "nodeExporter",
        "registry",
        "alertManager",
        "prometheus",
        "swarmExporter",
        "--deploy",
        "--detach",
    ]);
    wait_running(&prefix, &deployed);

    // An IOC of the demo image, whose PVs answer its health check.
    let ioc = format!("{prefix}ioc");
    let ioc_service = format!("{prefix}_srv-{ioc}");
    crate::e2e::ramper_ioc(&t, &ioc);
    t.ok(&["service", &ioc, "--deploy", "--detach"]);

    // Every target that can exist here answers; those that cannot are named.
    eventually(120, "prometheus not ready", || {
        let reply = http(
            "GET",
            &format!("{prometheus}/-/ready"),
            &["-u", &format!("monitoring:{PASSWORD}")],
        );
        (reply.status == 200)
            .then_some(())
            .ok_or(format!("{reply:?}"))
    });
    let must_be_up = [
        "prometheus",
        "alertmanager",
        "node-exporter",
        "swarm-exporter",
        "registry",
    ];
    let targets = eventually(120, "targets not up", || {
        let data = api(&prometheus, "/api/v1/targets", &[])?;
        let active = data["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let down: Vec<String> = must_be_up
            .iter()
            .filter(|job| {
                !active
                    .iter()
                    .any(|t| t["labels"]["job"] == **job && t["health"] == "up")
            })
            .map(|job| job.to_string())
            .collect();
        if down.is_empty() {
            Ok(active)
        } else {
            Err(format!("not up: {down:?}"))
        }
    });
    for target in &targets {
        let job = target["labels"]["job"].as_str().unwrap();
        if must_be_up.contains(&job) {
            assert_eq!(target["health"], "up", "{target}");
        } else {
            eprintln!(
                "target {job} {}: {} ({}); cannot be up here: this shared engine has no metrics-addr",
                target["scrapeUrl"].as_str().unwrap_or_default(),
                target["health"].as_str().unwrap_or_default(),
                target["lastError"].as_str().unwrap_or_default()
            );
            assert_eq!(job, "docker", "{target}");
        }
    }
    // This node's swarm address is a loopback one: its exporter is reached at the
    // node's bridge address.
    let exporter = targets
        .iter()
        .find(|t| t["labels"]["job"] == "node-exporter")
        .unwrap();
    assert_eq!(
        exporter["scrapeUrl"],
        format!("http://host.docker.internal:{exporter_port}/metrics").as_str(),
        "{exporter}"
    );
    let jobs: BTreeSet<&str> = targets
        .iter()
        .map(|t| t["labels"]["job"].as_str().unwrap())
        .collect();
    for job in ["cadvisor", "alloy", "loki", "grafana"] {
        assert!(!jobs.contains(job), "{job}: {jobs:?}");
        eprintln!("job {job}: no target, its service cannot run here (no image of it)");
    }

    // Every rule of the rendered files is loaded and evaluates without error.
    let mut rule_names = BTreeSet::new();
    for file in fs::read_dir(swarm.join("prometheus/config/rules")).unwrap() {
        let doc = yaml(&file.unwrap().path());
        for group in doc["groups"].as_sequence().unwrap() {
            for rule in group["rules"].as_sequence().unwrap() {
                let name = rule["alert"].as_str().or(rule["record"].as_str()).unwrap();
                rule_names.insert(name.to_string());
            }
        }
    }
    eventually(60, "rules not all evaluated", || {
        let data = api(&prometheus, "/api/v1/rules", &[])?;
        let mut loaded = BTreeSet::new();
        for group in data["groups"].as_array().unwrap() {
            for rule in group["rules"].as_array().unwrap() {
                if rule["health"] != "ok" {
                    return Err(format!("{rule}"));
                }
                loaded.insert(rule["name"].as_str().unwrap().to_string());
            }
        }
        (loaded == rule_names)
            .then_some(())
            .ok_or(format!("loaded {loaded:?}, expected {rule_names:?}"))
    });

    // The IOC runs: the swarm's counts say so.
    let running = format!("iocdock_service_running_tasks{{service=\"{ioc_service}\"}}");
    eventually(120, "the IOC not running", || {
        let found = query(&prometheus, &running)?;
        (found.len() == 1 && value_of(&found[0]) == 1.0)
            .then_some(())
            .ok_or(format!("{found:?}"))
    });

    // Every expression of the rules and dashboards runs; those whose source runs
    // here have data.
    let mut empty = Vec::new();
    // A rate over a window needs two scrapes of a target that may have just come up:
    // an expression whose source runs here gets a few scrape intervals to have data.
    for (what, expr) in expressions(&swarm) {
        let why = cannot_run_here(&what, &expr);
        let deadline = Instant::now() + Duration::from_secs(30);
        let found = loop {
            let found = query(&prometheus, &expr).unwrap_or_else(|e| panic!("{what}: {expr}: {e}"));
            if !found.is_empty() || why.is_some() || Instant::now() > deadline {
                break found;
            }
            std::thread::sleep(Duration::from_secs(1));
        };
        if found.is_empty() {
            match why {
                Some(why) => empty.push(format!("{what}: no data ({why})")),
                None => panic!("{what}: no data from a source that runs here: {expr}"),
            }
        }
    }
    eprintln!("expressions without data here:\n  {}", empty.join("\n  "));
    let panel = |title: &str| -> Vec<Value> {
        let (_, expr) = expressions(&swarm)
            .into_iter()
            .find(|(what, _)| what.ends_with(title))
            .unwrap_or_else(|| panic!("no panel {title}"));
        query(&prometheus, &expr).unwrap()
    };
    // Nothing down is 0, not "no data". The missing-tasks rule keeps its last result
    // while a scrape of swarmExporter fails, and on a loaded machine one may have
    // failed while the IOC was still starting: a few evaluations later it reads 0.
    eventually(30, "the IOCs down panel not at 0", || {
        let found = panel("IOCs down A");
        (found.len() == 1 && value_of(&found[0]) == 0.0)
            .then_some(())
            .ok_or(format!("{found:?}"))
    });
    assert_eq!(value_of(&panel("IOCs running A")[0]), 1.0);
    assert_eq!(value_of(&panel("Nodes down A")[0]), 0.0);
    // A disk counts once, however many mount points show it.
    let disks = panel("Disk space used A");
    let mounts = query(
        &prometheus,
        "node_filesystem_size_bytes{fstype!~\"tmpfs|overlay|squashfs|nsfs\"}",
    )
    .unwrap();
    let mut devices = BTreeMap::new();
    for mount in &mounts {
        *devices
            .entry(mount["metric"]["device"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    assert_eq!(disks.len(), devices.len(), "{disks:?} {mounts:?}");
    eprintln!("mount points per disk on this node: {devices:?}");

    // The IOC stops: its task cannot be placed anywhere.
    let stopped_at = Instant::now();
    docker(&[
        "service",
        "update",
        "--detach",
        "--constraint-add",
        "node.labels.iocdock-monitoring-test==nowhere",
        &ioc_service,
    ]);
    let firing = eventually(120, "no IocServiceDown notification", || {
        notified(&inbox, "IocServiceDown", &ioc_service)
            .into_iter()
            .find(|(status, _)| status == "firing")
            .map(|(_, alert)| alert)
            .ok_or_else(|| format!("{:?}", lock(&inbox).hooks))
    });
    assert!(stopped_at.elapsed() >= DOWN_FOR, "paged before its time");
    assert_eq!(firing["labels"]["name"], ioc.as_str());
    assert_eq!(firing["labels"]["severity"], "critical");
    // Its links lead somewhere an operator reaches: prometheus' graph of the rule,
    // alertmanager's own page.
    let source = firing["generatorURL"].as_str().unwrap();
    assert!(
        source.starts_with(&format!("{prometheus}/graph?")),
        "{source}"
    );
    let login = format!("monitoring:{PASSWORD}");
    assert_eq!(
        http("GET", source, &["-L", "-u", &login]).status,
        200,
        "{source}"
    );
    let hook = lock(&inbox)
        .hooks
        .iter()
        .find(|h| {
            h["alerts"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|a| a["labels"]["service"] == ioc_service.as_str())
            })
        })
        .cloned()
        .unwrap();
    assert_eq!(hook["externalURL"], alertmanager.as_str(), "{hook}");
    assert_eq!(
        http(
            "GET",
            &format!("{alertmanager}/#/alerts"),
            &["-L", "-u", &login]
        )
        .status,
        200
    );
    // The same page reached the mail relay, without TLS and without a login.
    let mail = eventually(60, "no mail", || {
        lock(&inbox)
            .mails
            .iter()
            .find(|m| m.data.contains("IocServiceDown"))
            .cloned()
            .ok_or_else(|| format!("{:?}", lock(&inbox).mails))
    });
    assert_eq!(mail.from, "<alertmanager@lab.org>", "{mail:?}");
    assert_eq!(mail.to, ["<ops@lab.org>"], "{mail:?}");
    assert!(
        mail.data.contains("Subject: [FIRING:1] IocServiceDown"),
        "{}",
        mail.data
    );

    // It stays down well past its time, and for a while nothing can read the swarm's
    // counts: it keeps firing, and no "resolved" goes out.
    let exporter_service = format!("{prefix}_srv-swarmExporter");
    std::thread::sleep(DOWN_FOR * 2);
    docker(&[
        "service",
        "scale",
        "--detach",
        &format!("{exporter_service}=0"),
    ]);
    eventually(60, "IocStatesUnknown not firing", || {
        let state = alert_state(&prometheus, "IocStatesUnknown", None);
        (state.as_deref() == Some("firing"))
            .then_some(())
            .ok_or(format!("{state:?}"))
    });
    std::thread::sleep(DOWN_FOR * 2);
    assert_eq!(
        alert_state(&prometheus, "IocServiceDown", Some(&ioc_service)).as_deref(),
        Some("firing"),
        "without the swarm's counts"
    );
    docker(&[
        "service",
        "scale",
        "--detach",
        &format!("{exporter_service}=1"),
    ]);
    eventually(60, "swarmExporter not back", || {
        let up = query(&prometheus, "up{job=\"swarm-exporter\"} == 1")?;
        (!up.is_empty()).then_some(()).ok_or("not up".to_string())
    });
    std::thread::sleep(DOWN_FOR);
    assert_eq!(
        alert_state(&prometheus, "IocServiceDown", Some(&ioc_service)).as_deref(),
        Some("firing")
    );
    let resolved = |inbox: &Inbox| {
        notified(inbox, "IocServiceDown", &ioc_service)
            .into_iter()
            .filter(|(status, _)| status == "resolved")
            .count()
    };
    assert_eq!(
        resolved(&inbox),
        0,
        "resolved while down: {:?}",
        lock(&inbox).hooks
    );
    eprintln!(
        "the IOC was down {} s; IocServiceDown fired after {} s and still fires",
        stopped_at.elapsed().as_secs(),
        DOWN_FOR.as_secs()
    );

    // It runs again: the alert resolves, and says so.
    docker(&[
        "service",
        "update",
        "--detach",
        "--constraint-rm",
        "node.labels.iocdock-monitoring-test==nowhere",
        &ioc_service,
    ]);
    eventually(180, "no resolved notification", || {
        (resolved(&inbox) > 0)
            .then_some(())
            .ok_or_else(|| format!("{:?}", lock(&inbox).hooks))
    });
    assert_eq!(
        alert_state(&prometheus, "IocServiceDown", Some(&ioc_service)),
        None
    );
}

/// Removes a stack from the harness when dropped (declared after the harness): its
/// services, then its networks and the volumes each node made for it.
struct MonitoringStack<'a> {
    harness: &'a Harness,
    prefix: String,
}

impl Drop for MonitoringStack<'_> {
    fn drop(&mut self) {
        let stack = format!("{}_", self.prefix);
        let named = |node: u32, kind: &str| -> Vec<String> {
            self.harness
                .try_docker_on(node, &[kind, "ls", "--format", "{{.Name}}"])
                .unwrap_or_default()
                .split_whitespace()
                .filter(|n| n.starts_with(&stack))
                .map(str::to_string)
                .collect()
        };
        let services = named(0, "service");
        if !services.is_empty() {
            let mut args = vec!["service", "rm"];
            args.extend(services.iter().map(String::as_str));
            self.harness.try_docker_on(0, &args);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        for node in 0..3 {
            loop {
                let left = self
                    .harness
                    .try_docker_on(node, &["ps", "-aq", "--filter", &format!("name={stack}")])
                    .unwrap_or_default();
                if left.trim().is_empty() || Instant::now() > deadline {
                    break;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            let volumes = named(node, "volume");
            if !volumes.is_empty() {
                let mut args = vec!["volume", "rm"];
                args.extend(volumes.iter().map(String::as_str));
                self.harness.try_docker_on(node, &args);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let networks = named(0, "network");
            if networks.is_empty() || Instant::now() > deadline {
                break;
            }
            let mut args = vec!["network", "rm"];
            args.extend(networks.iter().map(String::as_str));
            self.harness.try_docker_on(0, &args);
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

#[test]
fn the_exporter_of_every_node_is_scraped_on_a_multinode_swarm() {
    let test = "monitoring::the_exporter_of_every_node_is_scraped_on_a_multinode_swarm";
    if !tool_ready("curl", "curl", test) {
        return;
    }
    let Some(harness) = Harness::take(test) else {
        return;
    };
    let prefix = unique_prefix("mnmon");
    let _stack = MonitoringStack {
        harness: &harness,
        prefix: prefix.clone(),
    };
    let t = TestContext::new();
    // The images as iocdock names them with the default registry: the stand-ins'
    // own names.
    t.write_settings(&format!(
        "prefix_stack_name: {prefix}\nregistry_common_name: registry.iasf\n{CREDENTIALS}"
    ));
    override_template(
        &t,
        "prometheus/prometheus.yaml",
        &[(
            "constraints: [node.role==manager, node.labels.prometheus==true]",
            "constraints: [node.role==manager]",
        )],
    );
    // The harness' nodes share this machine's files, where /var/run/docker.sock is
    // the main engine's: each node's proxy binds its own node's socket instead (swarm
    // fills in the node per task), as on a real node.
    override_template(
        &t,
        "global-services/socketProxy.yaml",
        &[(
            "source: /var/run/docker.sock",
            "source: \"/run/multinode/{{.Node.Hostname}}.sock\"",
        )],
    );
    override_template(
        &t,
        "prometheus/config/prometheus.yml",
        &[
            ("scrape_interval: 30s", "scrape_interval: 3s"),
            ("scrape_timeout: 10s", "scrape_timeout: 2s"),
            (
                "        role: tasks\n",
                "        role: tasks\n        refresh_interval: 3s\n",
            ),
            (
                "        role: nodes\n",
                "        role: nodes\n        refresh_interval: 3s\n",
            ),
        ],
    );
    let on_harness = |args: &[&str]| {
        let out = t
            .cmd(args)
            .env("DOCKER_HOST", crate::multinode::MANAGER)
            .output()
            .expect("run iocdock");
        assert!(
            out.status.success(),
            "iocdock {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    on_harness(&["swarm", "--gen-built-in-services"]);
    let swarm = t.mount().join("swarm");
    let deployed = ["socketProxy", "nodeExporter", "prometheus", "swarmExporter"];
    let mut images = BTreeSet::new();
    for file in compose_files(&swarm) {
        if deployed.contains(&file.file_stem().unwrap().to_str().unwrap()) {
            images.insert(
                compose_service(&file)["image"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
    }
    let images: Vec<String> = images.into_iter().collect();
    if !stand_ins_ready(&images, test) {
        return;
    }
    for image in &images {
        harness.load_image(image);
    }
    on_harness(&["service", "socketProxy", "--deploy", "--detach"]);
    on_harness(&[
        "service",
        "nodeExporter",
        "prometheus",
        "swarmExporter",
        "--deploy",
        "--detach",
    ]);

    // Prometheus publishes its port on the manager, node0 (10.213.7.10).
    let prometheus = "http://10.213.7.10:9090";
    let nodes = ["node0", "node1", "node2"];
    let targets = eventually(240, "the exporters of all nodes not up", || {
        let data = api(prometheus, "/api/v1/targets", &[])?;
        let active = data["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let up: BTreeSet<&str> = active
            .iter()
            .filter(|t| t["labels"]["job"] == "node-exporter" && t["health"] == "up")
            .filter_map(|t| t["labels"]["instance"].as_str())
            .collect();
        if nodes.iter().all(|n| up.contains(n)) {
            Ok(active)
        } else {
            Err(format!("node-exporter up on {up:?}"))
        }
    });
    let mut addresses = BTreeMap::new();
    for target in &targets {
        let job = target["labels"]["job"].as_str().unwrap();
        let instance = target["labels"]["instance"].as_str().unwrap_or_default();
        match job {
            "node-exporter" | "docker" => {
                let url = target["scrapeUrl"].as_str().unwrap().to_string();
                addresses.insert((job.to_string(), instance.to_string()), url);
            }
            _ => {}
        }
        if job == "docker" {
            eprintln!(
                "target docker {instance}: {} (the harness' engines have no metrics-addr)",
                target["health"].as_str().unwrap_or_default()
            );
        }
    }
    // Every node by its own address on the test network, never a loopback one.
    for (i, node) in nodes.iter().enumerate() {
        let ip = format!("10.213.7.{}", 10 + i);
        assert_eq!(
            addresses[&("node-exporter".to_string(), node.to_string())],
            format!("http://{ip}:9100/metrics")
        );
        assert_eq!(
            addresses[&("docker".to_string(), node.to_string())],
            format!("http://{ip}:9323/metrics")
        );
    }
    // The node metrics are the nodes' own: three distinct node names.
    let names = query(prometheus, "node_uname_info").unwrap();
    let names: BTreeSet<&str> = names
        .iter()
        .filter_map(|s| s["metric"]["nodename"].as_str())
        .collect();
    assert_eq!(names, nodes.into_iter().collect(), "{names:?}");
    // The swarm's counts come through a manager: the global exporter runs on three.
    let counts = eventually(120, "swarmExporter's counts", || {
        let found = query(
            prometheus,
            &format!("iocdock_service_running_tasks{{service=\"{prefix}_srv-nodeExporter\"}}"),
        )?;
        (found.len() == 1 && value_of(&found[0]) == 3.0)
            .then_some(found)
            .ok_or("not 3 running".to_string())
    });
    assert_eq!(counts[0]["metric"]["mode"], "global");
    wait_running_on(&harness, &prefix);
}

/// Every deployed replicated service of the stack on the harness runs its task (a
/// last look, so a failed start shows in the output).
fn wait_running_on(harness: &Harness, prefix: &str) {
    let listed = harness
        .try_docker_on(0, &["service", "ls", "--format", "{{.Name}} {{.Replicas}}"])
        .unwrap_or_default();
    let ours: Vec<&str> = listed.lines().filter(|l| l.starts_with(prefix)).collect();
    eprintln!("services on the harness: {ours:?}");
    assert!(
        ours.iter().all(|l| {
            let replicas = l.rsplit(' ').next().unwrap_or_default();
            replicas
                .split_once('/')
                .is_some_and(|(running, desired)| running == desired)
        }),
        "{ours:?}"
    );
}
