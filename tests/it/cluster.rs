//! cluster and ansible: inventories, the shipped playbooks (checked by ansible itself),
//! a real run of the folder-setup playbook on this machine, and how failures read.

use std::fs;
use std::path::Path;
use std::process::Command;

use predicates::prelude::*;

use crate::TestContext;
use crate::docker::in_ci;

/// Whether `tool` is on PATH. In CI a missing tool fails the test (scripts/test.sh
/// installs it); elsewhere the test is skipped with the reason printed.
pub(crate) fn tool_ready(test: &str, tool: &str, package: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()));
    if found {
        return true;
    }
    assert!(
        !in_ci(),
        "{test}: CI needs `{tool}` (Debian package {package}, installed by scripts/test.sh)"
    );
    eprintln!("SKIPPED {test}: `{tool}` not found (apt-get install {package})");
    false
}

fn ansible_dir(t: &TestContext) -> std::path::PathBuf {
    t.home().join("IocDock/ansible")
}

/// Runs an ansible tool in $ANSIBLE_PATH the way iocdock does, returning stdout.
fn ansible_tool(t: &TestContext, tool: &str, args: &[&str]) -> String {
    let dir = ansible_dir(t);
    let out = Command::new(tool)
        .args(args)
        .current_dir(&dir)
        .env("ANSIBLE_CONFIG", dir.join("ansible.cfg"))
        .output()
        .expect("run ansible tool");
    assert!(
        out.status.success(),
        "{tool} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const NODES: &str = "cluster_manager_nodes: {m1: 10.0.0.1, m2: 10.0.0.2}\n\
                     cluster_worker_nodes: {w1: 10.0.0.11}\n\
                     default_nodes: {spare: 10.0.0.99}\n";

#[test]
fn gen_inventory_files_writes_inventories_ansible_reads() {
    let t = TestContext::new();
    t.write_settings(NODES);
    let out = t.ok(&["cluster", "--gen-inventory-files"]);
    let cluster = ansible_dir(&t).join("inventory/cluster");
    let default = ansible_dir(&t).join("inventory/default");
    assert_eq!(
        out,
        format!("{}\n{}\n", cluster.display(), default.display())
    );
    let text = fs::read_to_string(&cluster).unwrap();
    assert!(
        text.contains("[manager]\nm1 ansible_ssh_host=10.0.0.1\nm2 ansible_ssh_host=10.0.0.2\n")
    );
    assert!(text.contains("[worker]\nw1 ansible_ssh_host=10.0.0.11\n"));
    let text = fs::read_to_string(&default).unwrap();
    assert!(text.contains("[ungrouped]\nspare ansible_ssh_host=10.0.0.99\n"));

    if !tool_ready("gen_inventory_files", "ansible-inventory", "ansible-core") {
        return;
    }
    let list: serde_json::Value = serde_json::from_str(&ansible_tool(
        &t,
        "ansible-inventory",
        &["-i", "inventory/cluster", "--list"],
    ))
    .expect("ansible-inventory prints JSON");
    assert_eq!(list["manager"]["hosts"], serde_json::json!(["m1", "m2"]));
    assert_eq!(list["worker"]["hosts"], serde_json::json!(["w1"]));
    let vars = &list["_meta"]["hostvars"]["w1"];
    assert_eq!(vars["ansible_ssh_host"], "10.0.0.11");
    assert_eq!(vars["ansible_ssh_user"], "root");

    let list: serde_json::Value = serde_json::from_str(&ansible_tool(
        &t,
        "ansible-inventory",
        &["-i", "inventory/default", "--list"],
    ))
    .expect("ansible-inventory prints JSON");
    assert_eq!(list["ungrouped"]["hosts"], serde_json::json!(["spare"]));
}

#[test]
fn an_invalid_ip_in_the_node_maps_is_one_error_naming_the_key() {
    let t = TestContext::new();
    t.write_settings("cluster_worker_nodes: {w1: 10.0.0.300}\n");
    let runs = t.runs(&[
        &["cluster", "--gen-inventory-files"],
        &["cluster", "--ping"],
        &["ansible", "--", "all", "-m", "ping"],
    ]);
    assert_transcript!(runs, @r#"
        $ iocdock cluster --gen-inventory-files
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: [HOME]/settings.yaml: cluster_worker_nodes: host "w1": "10.0.0.300" is not an IP address (expected e.g. 192.168.1.10)

        $ iocdock cluster --ping
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: [HOME]/settings.yaml: cluster_worker_nodes: host "w1": "10.0.0.300" is not an IP address (expected e.g. 192.168.1.10)

        $ iocdock ansible -- all -m ping
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: [HOME]/settings.yaml: cluster_worker_nodes: host "w1": "10.0.0.300" is not an IP address (expected e.g. 192.168.1.10)
        "#);
    assert!(!ansible_dir(&t).join("inventory").exists());

    t.write_settings("swarm_advertise_ip: eth0\ncluster_manager_nodes: {m: 10.0.0.1}\n");
    t.ok(&["cluster", "--gen-inventory-files"]);
    assert_transcript!(t.run(&["cluster", "--set-up-swarm"]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: [HOME]/settings.yaml: swarm_advertise_ip: "eth0" is not an IP address (expected e.g. 192.168.1.10)
        "#);
}

#[test]
fn runs_without_inventory_or_ansible_say_what_to_do() {
    let t = TestContext::new();
    t.write_settings(NODES);
    assert_transcript!(t.run(&["cluster", "--ping"]), @r"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: [HOME]/IocDock/ansible/inventory/cluster: no inventory; run `iocdock cluster --gen-inventory-files` first
        ");
    t.ok(&["cluster", "--gen-inventory-files"]);
    let empty = tempfile::tempdir().unwrap();
    let run = t.transcript(
        t.cmd(&["cluster", "--set-up-swarm"])
            .env("PATH", empty.path()),
    );
    assert_transcript!(run, @r"
        exit 1
        ----- stdout -----
        ----- stderr -----
        running ansible-playbook -i inventory/cluster set-up-swarm.yml
        error: ansible-playbook not found: install ansible-core (Debian: `apt-get install ansible-core`, or `pip install ansible-core`)
        ");
    assert_transcript!(t.run(&["cluster", "--set-up-root-cert"]), @r"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: [HOME]/IocDock-data/swarm/registry/certs/ca.crt does not exist: run `iocdock make-certs` first
        ");
    assert_transcript!(t.run(&["cluster", "--set-up-engine-tls"]), @r"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: [HOME]/IocDock/pki/engines does not exist: run `iocdock make-certs --node-engines` first
        ");
    assert_transcript!(t.run(&["cluster", "--registry-login"]), @r"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: [HOME]/settings.yaml: set registry_login_username and registry_login_password to log in to the registry
        ");
}

#[test]
fn init_installs_the_playbooks_and_keeps_an_edited_one() {
    let t = TestContext::new();
    t.ok(&["init"]);
    let dir = ansible_dir(&t);
    for file in [
        "ansible.cfg",
        "set-up-swarm.yml",
        "roles/swarm/tasks/join.yml",
    ] {
        assert!(dir.join(file).is_file(), "{file}");
    }
    fs::write(dir.join("set-up-swarm.yml"), "# our own\n").unwrap();
    assert_transcript!(t.run(&["init"]), @r"
        exit 0
        ----- stdout -----
        ----- stderr -----
        warning: [HOME]/IocDock/ansible/set-up-swarm.yml differs from the shipped version and is kept; the shipped one is [HOME]/IocDock/ansible/set-up-swarm.yml.iocdock-new
        ");
    assert_eq!(
        fs::read_to_string(dir.join("set-up-swarm.yml")).unwrap(),
        "# our own\n"
    );
    assert!(dir.join("set-up-swarm.yml.iocdock-new").is_file());
}

#[test]
fn every_shipped_playbook_passes_ansibles_syntax_check() {
    if !tool_ready("syntax_check", "ansible-playbook", "ansible-core") {
        return;
    }
    let t = TestContext::new();
    t.write_settings(NODES);
    t.ok(&["cluster", "--gen-inventory-files"]);
    let mut playbooks: Vec<String> = fs::read_dir(ansible_dir(&t))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yml"))
        .collect();
    playbooks.sort();
    assert_eq!(playbooks.len(), 8, "{playbooks:?}");
    for playbook in &playbooks {
        // --syntax-check also fails on a module name ansible-core cannot resolve.
        ansible_tool(
            &t,
            "ansible-playbook",
            &["--syntax-check", "-i", "inventory/cluster", playbook],
        );
    }
}

fn is_dir_owned_by(path: &Path, uid: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).is_ok_and(|m| m.is_dir() && m.uid() == uid)
}

/// The folder-setup playbook really runs, against this machine as `localhost` with the
/// local connection the inventory gives a loopback address.
#[test]
fn folder_setup_playbook_creates_the_service_folders_here() {
    if !tool_ready("folder_setup", "ansible-playbook", "ansible-core") {
        return;
    }
    let t = TestContext::new();
    let mount = t.home().join("run-dir");
    t.write_settings("cluster_manager_nodes: {localhost: 127.0.0.1}\n");
    t.ok(&["cluster", "--gen-inventory-files"]);
    t.cmd(&["cluster", "--set-up-file-and-dir"])
        .env("MOUNT_PATH", &mount)
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "running ansible-playbook -i inventory/cluster set-up-file-and-dir.yml",
        ));
    for folder in [
        "swarm/iocLog",
        "swarm/iocs",
        "swarm/global-services",
        "swarm/registry/certs",
        "swarm/registry/auth",
        "swarm/registry/data",
        "swarm/prometheus/data",
        "swarm/alertManager/data",
        "swarm/loki/data",
        "swarm/grafana/data",
    ] {
        assert!(mount.join(folder).is_dir(), "{folder}");
    }
    // Owners are given only where the run may chown (as root, as CI runs).
    if running_as_root() {
        assert!(is_dir_owned_by(&mount.join("swarm/grafana/data"), 472));
        assert!(is_dir_owned_by(&mount.join("swarm/prometheus/data"), 65534));
    }
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[test]
fn ansible_passes_through_with_the_inventory_and_the_settings() {
    if !tool_ready("ansible_pass_through", "ansible", "ansible-core") {
        return;
    }
    let t = TestContext::new();
    t.write_settings("prefix_stack_name: lab\ncluster_manager_nodes: {localhost: 127.0.0.1}\n");
    t.ok(&["cluster", "--gen-inventory-files"]);
    let out = t.ok(&[
        "ansible",
        "--",
        "manager",
        "-m",
        "ansible.builtin.debug",
        "-a",
        "var=registry_common_name",
    ]);
    assert!(
        out.contains("\"registry_common_name\": \"registry.lab\""),
        "{out}"
    );

    t.cmd(&["cluster", "--ping"])
        .assert()
        .success()
        .stdout(predicate::str::contains("pong"));

    // ansible's failure becomes exit code 1 and one error line naming the command.
    let out = t
        .cmd(&[
            "ansible",
            "--",
            "localhost",
            "-m",
            "ansible.builtin.command",
            "-a",
            "false",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        "error: ansible -i inventory/cluster localhost -m ansible.builtin.command -a false failed (exit code 2); see ansible's output above"
    );
}

/// The swarm playbook really runs on CI's swarm: this machine is the first manager and,
/// under a second loopback name, a worker. Both are in the swarm already, so the run
/// only reads (state, address, tokens) and must change nothing.
#[test]
fn swarm_playbook_leaves_an_active_swarm_alone() {
    let test = "swarm_playbook";
    if !tool_ready(test, "ansible-playbook", "ansible-core") || !crate::docker::docker_ready(test) {
        return;
    }
    let t = TestContext::new();
    t.write_settings(
        "cluster_manager_nodes: {localhost: 127.0.0.1}\ncluster_worker_nodes: {again: 127.0.0.2}\n",
    );
    t.ok(&["cluster", "--gen-inventory-files"]);
    let out = t.ok(&["cluster", "--set-up-swarm"]);
    assert!(
        out.contains("again is already in a swarm (state active); left as it is"),
        "{out}"
    );
    let recap = out.split("PLAY RECAP").nth(1).unwrap_or_default();
    assert!(
        recap.contains("changed=0") && !recap.contains("changed=1"),
        "{recap}"
    );
    assert!(!recap.contains("failed=1"), "{recap}");
}

/// The playbooks that change a node's users, trust store and Docker login run for real
/// on this machine in ansible's check mode: every template and filter is evaluated
/// (which --syntax-check does not do), and nothing on the machine changes.
#[test]
fn user_cert_and_login_playbooks_run_in_check_mode_here() {
    if !tool_ready("check_mode", "ansible-playbook", "ansible-core") || !running_as_root() {
        return;
    }
    let t = TestContext::new();
    let user = format!("iocdockck{}", std::process::id() % 100_000);
    let registry = format!("registry.ck{}", std::process::id());
    t.write_settings(&format!(
        "cluster_manager_nodes: {{localhost: 127.0.0.1}}\nansible_for_user: {user}\n\
         ansible_create_password: pw\nregistry_common_name: {registry}\n\
         registry_master_ip: 127.0.0.1\nregistry_login_username: u\nregistry_login_password: p\n"
    ));
    t.ok(&["cluster", "--gen-inventory-files"]);
    t.ok(&["make-certs"]);
    let hosts_before = fs::read("/etc/hosts").unwrap_or_default();
    for step in [
        "--create-remote-user",
        "--set-up-root-cert",
        "--registry-login",
    ] {
        let out = t.cmd(&["cluster", step, "--", "--check"]).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{step} --check failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if step == "--set-up-root-cert" {
            // Docker trusts the CA for both registries: pulls and pushes.
            for address in [format!("{registry}:443"), format!("{registry}:4443")] {
                assert!(
                    stdout.contains(&format!("(item={address})")),
                    "{address}:\n{stdout}"
                );
            }
        }
    }
    let user_exists = Command::new("id")
        .arg(&user)
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(!user_exists, "check mode must not create {user}");
    assert!(!Path::new(&format!("/etc/docker/certs.d/{registry}:443")).exists());
    assert_eq!(fs::read("/etc/hosts").unwrap_or_default(), hosts_before);
}

/// The engine TLS playbook runs on this machine in check mode with a certificate folder
/// named as `make-certs --node-engines` names it: the drop-in it would write listens on
/// the node's inventory address with client verification, and nothing changes here.
#[test]
fn engine_tls_playbook_runs_in_check_mode_here() {
    if !tool_ready("engine_tls", "ansible-playbook", "ansible-core") || !running_as_root() {
        return;
    }
    let t = TestContext::new();
    t.write_settings("cluster_manager_nodes: {localhost: 127.0.0.1}\n");
    t.ok(&["cluster", "--gen-inventory-files"]);
    let node = t.home().join("IocDock/pki/engines/localhost");
    fs::create_dir_all(&node).unwrap();
    for file in ["ca.pem", "server-cert.pem", "server-key.pem"] {
        fs::write(node.join(file), "not a real certificate\n").unwrap();
    }
    let out = t
        .cmd(&["cluster", "--set-up-engine-tls", "--", "--check", "--diff"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(
            "-H tcp://127.0.0.1:2376 --tlsverify --tlscacert=/etc/docker/engine-tls/ca.pem"
        ),
        "{stdout}"
    );
    assert!(!Path::new("/etc/docker/engine-tls").exists());
    assert!(!Path::new("/etc/systemd/system/docker.service.d/engine-tls.conf").exists());

    // A node without its folder stops the run, naming the command that makes it.
    fs::remove_dir_all(&node).unwrap();
    let out = t
        .cmd(&["cluster", "--set-up-engine-tls", "--", "--check"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("run `iocdock make-certs --node-engines`"),
        "{stdout}"
    );
}
