//! The oracle: the docker CLI (`docker stack deploy`) and `iocdock` deploy the same
//! compose file under two stack prefixes, and the service specs the engine stores
//! must be equal field by field. This proves the translation, not our own reading
//! of it.
//!
//! Only what differs by construction between two stacks is normalised, each step
//! below says why; nothing else is touched, so any other difference fails:
//! 1. the stack prefix in the service `Name` and in the names of stack networks and
//!    named volumes (`<prefix>_front`) becomes `<stack>_`;
//! 2. the value of the `com.docker.stack.namespace` label (services, containers,
//!    volumes, networks) becomes `<stack>` (the key must be present on both);
//! 3. network `Target`s are IDs the engine resolved from the names we both sent;
//!    they are replaced by the network's name (then rule 1), since each stack has
//!    its own networks;
//! 4. for networks: `Id`, `Created` and the `IPAM.Config` subnets and the overlay
//!    `vxlanid_list` option are allocated by the engine per network, and
//!    `Containers`/`Peers` describe running tasks, not the request; they are
//!    dropped before comparing.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::deploy::{engine_get, exported_ioc, service, stack_objects};
use crate::docker::{StackGuard, TEST_IMAGE, docker_ready, swarm_context, unique_prefix};

const STACK: &str = "<stack>";
const NAMESPACE_LABEL: &str = "com.docker.stack.namespace";

/// Variables the hand-written file substitutes, set alike for both deployments.
const ENV: [(&str, &str); 2] = [
    ("IOCDOCK_ORACLE_VALUE", "from-env"),
    ("IOCDOCK_ORACLE_FROM_ENV", "shell-value"),
];
/// Variables the file names but that must be unset for both.
const UNSET: [&str; 2] = ["IOCDOCK_ORACLE_MISSING", "IOCDOCK_ORACLE_LIST"];

fn docker_stack_deploy(file: &Path, prefix: &str) {
    let mut cmd = Command::new("docker");
    cmd.args([
        "stack",
        "deploy",
        "--detach=true",
        "--with-registry-auth",
        "-c",
    ])
    .arg(file)
    .arg(prefix);
    for (name, value) in ENV {
        cmd.env(name, value);
    }
    for name in UNSET {
        cmd.env_remove(name);
    }
    let out = cmd.output().expect("docker CLI");
    assert!(
        out.status.success(),
        "docker stack deploy failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Rule 1: `<prefix>_rest` → `<stack>_rest`; other names stay.
fn unprefixed(name: &str, prefix: &str) -> String {
    match name.strip_prefix(&format!("{prefix}_")) {
        Some(rest) => format!("{STACK}_{rest}"),
        None => name.to_string(),
    }
}

/// Rule 2 on one label map.
fn namespace_label(labels: &mut Value, prefix: &str, what: &str) {
    assert_eq!(
        labels.get(NAMESPACE_LABEL),
        Some(&Value::from(prefix)),
        "{what}: {labels}"
    );
    labels[NAMESPACE_LABEL] = Value::from(STACK);
}

fn network_name(id: &str) -> String {
    let network = engine_get(&format!("/networks/{id}")).expect("attached network exists");
    network["Name"].as_str().expect("network name").to_string()
}

fn normalised_service(name: &str, prefix: &str) -> Value {
    let (_, _, mut spec) = service(name).unwrap_or_else(|| panic!("{name} is deployed"));
    spec["Name"] = unprefixed(spec["Name"].as_str().expect("name"), prefix).into();
    namespace_label(&mut spec["Labels"], prefix, "service labels");
    let template = &mut spec["TaskTemplate"];
    namespace_label(
        &mut template["ContainerSpec"]["Labels"],
        prefix,
        "container labels",
    );
    if let Some(mounts) = template["ContainerSpec"]["Mounts"].as_array_mut() {
        for mount in mounts {
            if mount["Type"] == "volume" {
                if let Some(source) = mount["Source"].as_str() {
                    mount["Source"] = unprefixed(source, prefix).into();
                }
                if let Some(labels) = mount["VolumeOptions"].get_mut("Labels") {
                    namespace_label(labels, prefix, "volume labels");
                }
            }
        }
    }
    if let Some(networks) = template["Networks"].as_array_mut() {
        for network in networks {
            let id = network["Target"].as_str().expect("target").to_string();
            network["Target"] = unprefixed(&network_name(&id), prefix).into();
        }
    }
    spec
}

fn normalised_network(name: &str, prefix: &str) -> Value {
    let mut network = engine_get(&format!("/networks/{name}")).expect("stack network exists");
    network["Name"] = unprefixed(name, prefix).into();
    namespace_label(&mut network["Labels"], prefix, "network labels");
    let object = network.as_object_mut().expect("network object");
    for allocated in ["Id", "Created", "Containers", "Peers"] {
        object.remove(allocated);
    }
    if let Some(ipam) = network["IPAM"].as_object_mut() {
        ipam.remove("Config");
    }
    if let Some(options) = network["Options"].as_object_mut() {
        options.remove("com.docker.network.driver.overlay.vxlanid_list");
    }
    network
}

/// Every path where the two values differ, with both values.
fn differences(ours: &Value, theirs: &Value, path: &str, out: &mut Vec<String>) {
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let (x, y) = (a.get(key), b.get(key));
                match (x, y) {
                    (Some(x), Some(y)) => differences(x, y, &format!("{path}.{key}"), out),
                    _ => out.push(format!("{path}.{key}: iocdock {x:?}, docker {y:?}")),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                differences(x, y, &format!("{path}[{i}]"), out);
            }
        }
        _ if ours != theirs => out.push(format!("{path}: iocdock {ours}, docker {theirs}")),
        _ => {}
    }
}

fn assert_same(ours: &Value, theirs: &Value, what: &str) {
    let mut found = Vec::new();
    differences(ours, theirs, what, &mut found);
    assert!(
        found.is_empty(),
        "iocdock and docker stack deploy differ:\n{}",
        found.join("\n")
    );
}

/// Compares the given services and every stack network of the two deployments.
fn assert_stacks_equal(ours: &str, theirs: &str, keys: &[&str]) {
    for key in keys {
        assert_same(
            &normalised_service(&format!("{ours}_{key}"), ours),
            &normalised_service(&format!("{theirs}_{key}"), theirs),
            key,
        );
    }
    let networks = |prefix: &str| -> BTreeMap<String, Value> {
        stack_objects("network", prefix)
            .into_iter()
            .map(|n| (unprefixed(&n, prefix), normalised_network(&n, prefix)))
            .collect()
    };
    let (our_networks, their_networks) = (networks(ours), networks(theirs));
    assert_eq!(
        our_networks.keys().collect::<Vec<_>>(),
        their_networks.keys().collect::<Vec<_>>(),
        "the same stack networks"
    );
    for (name, network) in &our_networks {
        assert_same(network, &their_networks[name], name);
    }
}

#[test]
fn an_ioc_file_deploys_as_docker_stack_deploy_does() {
    if !docker_ready("oracle::an_ioc_file_deploys_as_docker_stack_deploy_does") {
        return;
    }
    let ours = unique_prefix("oi");
    let theirs = unique_prefix("od");
    let _ours_guard = StackGuard(ours.clone());
    let _theirs_guard = StackGuard(theirs.clone());
    let t = swarm_context(&ours);
    exported_ioc(&t, "orc");
    t.ok(&[
        "set",
        "orc",
        "-s",
        "deploy",
        "-o",
        "cpu-limit=0.8",
        "memory-limit=0.8G",
        "cpu-reserve=0.1",
        "memory-reserve=64M",
        // `$` must reach the engine as text with either tool.
        "labels=rack=a;test=true;home=$HOME",
    ]);
    t.ok(&["exec", "orc", "--deploy"]);
    let file = t.service_file("orc");
    docker_stack_deploy(&file, &theirs);
    t.ok(&["service", "orc", "--deploy", "--detach"]);
    assert_stacks_equal(&ours, &theirs, &["srv-orc"]);
}

/// Every key the model supports, in the forms compose allows.
fn everything_file() -> String {
    format!(
        r#"version: "3.8"
services:
  web:
    image: iocdock-test/busybox
    entrypoint: sh -c 'sleep 3600'
    command: ["--flag", "x y"]
    environment:
      PLAIN: "1"
      NUMBER: 2
      FLOAT: 0.5
      IOCDOCK_ORACLE_FROM_ENV:
      EMPTY: ""
      TEMPLATED: ${{IOCDOCK_ORACLE_VALUE}}-${{IOCDOCK_ORACLE_MISSING:-fallback}}-$$HOME
    working_dir: /tmp
    user: "1000:1000"
    hostname: oracle-web
    tty: true
    stdin_open: true
    labels: [app=web, bare]
    networks:
      front:
        aliases: [web-alias]
      back:
    ports:
      - "91/udp"
      - target: 80
        protocol: tcp
      - target: 81
        published: 18081
        mode: host
    volumes:
      - type: bind
        source: ./data
        target: /data
        read_only: true
      - ./logs:/logs
      - ../shared:/shared:rw
      - type: volume
        source: named
        target: /named
      - named2:/named2:ro
      - type: volume
        target: /anonymous
      - type: volume
        source: outside
        target: /outside
    extra_hosts: ["host.docker.internal:host-gateway", "oracle.lab:10.0.0.7", "v6.lab:fd00::1"]
    healthcheck:
      test: "caget -w 5 'a:b' || exit 1"
      interval: 1m30s
      timeout: 10s
      retries: 5
      start_period: 2m
    deploy:
      mode: replicated
      replicas: 0
      labels:
        tier: web
      endpoint_mode: vip
      placement:
        constraints: [node.role==manager, node.labels.iocdock-oracle==yes]
        preferences: [{{spread: node.labels.rack}}]
        max_replicas_per_node: 2
      resources:
        limits: {{cpus: '0.5', memory: 0.8G}}
        reservations: {{cpus: '0.25', memory: 512M}}
      restart_policy: {{condition: on-failure, delay: 5s, max_attempts: 3, window: 2m30s}}
      update_config: {{parallelism: 2, delay: 10s, failure_action: rollback, monitor: 1m, max_failure_ratio: 0.3, order: start-first}}
      rollback_config: {{parallelism: 0, delay: 1s, failure_action: continue, monitor: 500ms, max_failure_ratio: 0.5, order: stop-first}}
  agent:
    image: {TEST_IMAGE}
    entrypoint: [sh, -c]
    command: sleep 3600
    environment: [LIST=1, IOCDOCK_ORACLE_LIST]
    labels: {{role: agent, number: 3}}
    networks: [hostnet]
    volumes: ["/etc/localtime:/etc/localtime:ro"]
    healthcheck:
      test: [CMD, /bin/true]
      interval: 0s
      retries: 0
    deploy:
      mode: global
      endpoint_mode: dnsrr
      placement: {{constraints: [node.labels.iocdock-oracle==yes]}}
      restart_policy: {{condition: any}}
      update_config: {{failure_action: pause}}
  plain:
    image: {TEST_IMAGE}
    healthcheck: {{disable: true}}
    deploy: {{replicas: 0}}
networks:
  front: {{}}
  back:
    driver: overlay
    attachable: true
    labels: [purpose=oracle]
    driver_opts: {{com.docker.network.driver.mtu: 1400}}
  hostnet: {{external: true, name: host}}
volumes:
  named: {{}}
  named2: {{driver: local, labels: {{kind: data}}}}
  outside: {{external: true, name: iocdock-oracle-outside}}
"#
    )
}

#[test]
fn a_file_with_every_supported_key_deploys_as_docker_stack_deploy_does() {
    if !docker_ready("oracle::a_file_with_every_supported_key_deploys_as_docker_stack_deploy_does")
    {
        return;
    }
    let ours = unique_prefix("oe");
    let theirs = unique_prefix("oed");
    let _ours_guard = StackGuard(ours.clone());
    let _theirs_guard = StackGuard(theirs.clone());
    let t = swarm_context(&ours);
    let dir = t.home().join("custom/everything");
    for sub in ["data", "logs"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let file = dir.join("compose.yaml");
    fs::write(&file, everything_file()).unwrap();
    // Each service of the file is a custom service of its own name.
    let keys = ["web", "agent", "plain"];
    fs::create_dir_all(t.home().join("IocDock")).unwrap();
    let list: String = keys
        .iter()
        .map(|k| format!("{k}: {}\n", file.display()))
        .collect();
    fs::write(t.home().join("IocDock/services.yaml"), list).unwrap();

    docker_stack_deploy(&file, &theirs);
    let mut cmd = t.cmd(&["service", "web", "agent", "plain", "--deploy", "--detach"]);
    for (name, value) in ENV {
        cmd.env(name, value);
    }
    for name in UNSET {
        cmd.env_remove(name);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "iocdock failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_stacks_equal(&ours, &theirs, &keys);

    // The substitutions and the shell's environment reached the spec.
    let (_, _, web) = service(&format!("{ours}_web")).unwrap();
    let env = web["TaskTemplate"]["ContainerSpec"]["Env"].to_string();
    assert!(env.contains("TEMPLATED=from-env-fallback-$HOME"), "{env}");
    assert!(env.contains("IOCDOCK_ORACLE_FROM_ENV=shell-value"), "{env}");
}

#[test]
fn every_built_in_service_deploys_as_docker_stack_deploy_does() {
    if !docker_ready("oracle::every_built_in_service_deploys_as_docker_stack_deploy_does") {
        return;
    }
    let ours = unique_prefix("ob");
    let theirs = unique_prefix("obd");
    let _ours_guard = StackGuard(ours.clone());
    let _theirs_guard = StackGuard(theirs.clone());
    let t = swarm_context(&ours);
    t.write_settings(&format!(
        "prefix_stack_name: {ours}\nregistry_login_username: ops\nregistry_login_password: s3cret\n\
         monitoring_admin_password: m0n\ngrafana_admin_password: gr4f\n\
         registry_push_username: pusher\nregistry_push_password: push-s3cret\n"
    ));
    t.ok(&["swarm", "--gen-built-in-services"]);
    let swarm = t.mount().join("swarm");
    let mut built_ins: Vec<(String, &str, std::path::PathBuf)> = Vec::new();
    for entry in fs::read_dir(swarm.join("global-services")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            built_ins.push((name, "global", path));
        }
    }
    for name in [
        "registry",
        "registryPush",
        "prometheus",
        "alertManager",
        "loki",
        "grafana",
        "swarmExporter",
    ] {
        built_ins.push((
            name.to_string(),
            "local",
            swarm.join(name).join(format!("{name}.yaml")),
        ));
    }
    assert_eq!(
        built_ins.len(),
        13,
        "six global and seven local services: {built_ins:?}"
    );
    // Each file holds one service; their tasks may not start here (no images, node
    // labels, shared host ports): the specs the engine stores are what is compared.
    for (name, kind, file) in &built_ins {
        docker_stack_deploy(file, &theirs);
        t.ok(&["service", name, "--type", kind, "--deploy", "--detach"]);
    }
    let keys: Vec<String> = built_ins
        .iter()
        .map(|(name, _, _)| format!("srv-{name}"))
        .collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    assert_stacks_equal(&ours, &theirs, &keys);
}
