//! Deploying, updating and removing services on the real swarm: each test has its
//! own stack prefix and removes what it deployed, also when it fails.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;

use predicates::prelude::*;

use crate::docker::{StackGuard, TEST_IMAGE, docker, docker_ready, swarm_context, unique_prefix};
use crate::{TestContext, project_file};

/// The engine's socket: `DOCKER_HOST` when it names a unix socket, else the default.
fn socket_path() -> String {
    match std::env::var("DOCKER_HOST") {
        Ok(host) if !host.is_empty() => host
            .strip_prefix("unix://")
            .unwrap_or_else(|| panic!("these tests read the engine over a unix socket, not {host}"))
            .to_string(),
        _ => "/var/run/docker.sock".to_string(),
    }
}

/// `GET path` on the Engine API, as raw JSON: what the engine stores, with no client
/// (ours or docker's) in between to drop or add fields. `None` when not found.
pub(crate) fn engine_get(path: &str) -> Option<serde_json::Value> {
    let mut stream = UnixStream::connect(socket_path()).expect("connect to the Docker socket");
    write!(stream, "GET /v1.41{path} HTTP/1.0\r\nHost: docker\r\n\r\n").expect("send request");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read response");
    let response = String::from_utf8(response).expect("utf-8 response");
    let (head, body) = response.split_once("\r\n\r\n").expect("HTTP response");
    let status = head.split_whitespace().nth(1).expect("status code");
    match status {
        "200" => Some(serde_json::from_str(body).expect("JSON body")),
        "404" => None,
        other => panic!("GET {path}: status {other}: {body}"),
    }
}

/// A deployed service: (ID, version index, spec).
pub(crate) fn service(name: &str) -> Option<(String, u64, serde_json::Value)> {
    let service = engine_get(&format!("/services/{name}"))?;
    Some((
        service["ID"].as_str().expect("ID").to_string(),
        service["Version"]["Index"].as_u64().expect("version"),
        service["Spec"].clone(),
    ))
}

/// Names of the services or networks of a stack.
pub(crate) fn stack_objects(kind: &str, prefix: &str) -> Vec<String> {
    let label = format!("label=com.docker.stack.namespace={prefix}");
    let mut names: Vec<String> = docker(&[kind, "ls", "--filter", &label, "--format", "{{.Name}}"])
        .lines()
        .map(str::to_string)
        .collect();
    names.sort();
    names
}

/// An IOC made the documented way on the test image, exported with its service file.
pub(crate) fn exported_ioc(t: &TestContext, name: &str) {
    let template = project_file("templates/test/test.ini");
    let image = format!("image={TEST_IMAGE}");
    t.ok(&[
        "create",
        name,
        "-f",
        template.to_str().unwrap(),
        "-o",
        &image,
    ]);
    let load = format!("load=ramper.db, name={name}");
    t.ok(&["set", name, "-s", "db", "-o", &load]);
    let sources = project_file("templates/test");
    t.ok(&["exec", name, "--add-src-file", sources.to_str().unwrap()]);
    t.ok(&["exec", name, "--deploy"]);
}

fn force_update(spec: &serde_json::Value) -> u64 {
    spec["TaskTemplate"]["ForceUpdate"].as_u64().unwrap_or(0)
}

#[test]
fn update_restarts_in_place_and_redeploy_keeps_force_update() {
    if !docker_ready("deploy::update_restarts_in_place_and_redeploy_keeps_force_update") {
        return;
    }
    let prefix = unique_prefix("upd");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    exported_ioc(&t, "upd");
    exported_ioc(&t, "idle");
    let name = format!("{prefix}_srv-upd");

    t.cmd(&["service", "upd", "--update", "--detach"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is not deployed (use --deploy)"));
    assert!(service(&name).is_none(), "--update creates nothing");

    t.cmd(&["service", "upd", "--deploy", "--detach"])
        .assert()
        .success()
        .stderr(predicate::str::contains(format!("created service {name}")));
    let (id, version, spec) = service(&name).expect("deployed");
    assert_eq!(force_update(&spec), 0);
    assert_eq!(
        spec["Labels"]["com.docker.stack.namespace"],
        prefix.as_str()
    );

    // A plain redeploy is `docker stack deploy`: same service, ForceUpdate kept.
    t.cmd(&["service", "upd", "--deploy", "--detach"])
        .assert()
        .success()
        .stderr(predicate::str::contains(format!("updated service {name}")));
    let (same_id, redeployed, spec) = service(&name).expect("still deployed");
    assert_eq!(same_id, id);
    assert!(redeployed >= version);
    assert_eq!(force_update(&spec), 0);

    t.cmd(&["service", "upd", "--update", "--detach"])
        .assert()
        .success()
        .stderr(predicate::str::contains("rolling restart"));
    let (same_id, updated, spec) = service(&name).expect("still deployed");
    assert_eq!(same_id, id, "--update keeps the service ID");
    assert!(updated > redeployed, "--update bumps the version");
    assert_eq!(force_update(&spec), 1, "--update forces new tasks");

    // A restart of every service needs a yes: without a terminal, --yes.
    t.cmd(&["swarm", "--update-deployed-services"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "refusing to restart these 1 services",
        ))
        .stderr(predicate::str::contains("--yes"));
    // (The version moves on by itself while the last rolling update runs.)
    let (_, _, spec) = service(&name).expect("still deployed");
    assert_eq!(force_update(&spec), 1, "a refused restart changes nothing");
    // Every deployed managed service, and only those, restarts.
    t.ok(&["swarm", "--update-deployed-services", "--yes", "--detach"]);
    let (same_id, _, spec) = service(&name).expect("still deployed");
    assert_eq!(same_id, id);
    assert_eq!(force_update(&spec), 2);
    assert!(service(&format!("{prefix}_srv-idle")).is_none());
}

#[test]
fn deploy_all_iocs_then_remove_one_and_the_rest() {
    if !docker_ready("deploy::deploy_all_iocs_then_remove_one_and_the_rest") {
        return;
    }
    let prefix = unique_prefix("all");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    let iocs = ["ioc1", "ioc2", "ioc3", "ioc4", "ioc5", "ioc6"];
    for ioc in iocs {
        exported_ioc(&t, ioc);
    }
    // Created but never exported: not available, so not deployed.
    t.ok(&["create", "draft"]);
    t.ok(&["service", "ioc1", "--deploy", "--detach"]);
    let (first_id, _, _) = service(&format!("{prefix}_srv-ioc1")).expect("deployed");

    t.ok(&["swarm", "--deploy-all-iocs", "--detach"]);
    let expected: Vec<String> = iocs.iter().map(|i| format!("{prefix}_srv-{i}")).collect();
    assert_eq!(stack_objects("service", &prefix), expected);
    let (same_id, _, _) = service(&format!("{prefix}_srv-ioc1")).expect("deployed");
    assert_eq!(same_id, first_id, "deployed IOCs are left alone");
    t.cmd(&["swarm", "--deploy-all-iocs", "--detach"])
        .assert()
        .success()
        .stderr(predicate::str::contains("deployed already"));

    t.cmd(&["service", "ioc1", "--remove"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "refusing to remove service {prefix}_srv-ioc1 without confirmation"
        )));
    assert!(service(&format!("{prefix}_srv-ioc1")).is_some());
    t.ok(&["service", "ioc1", "--remove", "--yes"]);
    assert!(service(&format!("{prefix}_srv-ioc1")).is_none());
    t.cmd(&["service", "ioc1", "--remove"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is not deployed"));
    t.cmd(&["service", "nosuch", "--deploy", "--detach"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "no managed service named \"nosuch\"",
        ));
    t.cmd(&["service", "draft", "--deploy", "--detach"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("iocdock exec draft --deploy"));

    // Without a terminal and without --yes nothing is removed, with a hint.
    t.cmd(&["swarm", "--remove-all-iocs"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("add --yes"));
    assert_eq!(stack_objects("service", &prefix).len(), 5);
    t.ok(&["swarm", "--remove-all-iocs", "--yes"]);
    assert!(stack_objects("service", &prefix).is_empty());
    t.cmd(&["swarm", "--remove-all-iocs"])
        .assert()
        .success()
        .stderr(predicate::str::contains("nothing to remove"));
}

#[test]
fn global_services_deploy_and_remove() {
    if !docker_ready("deploy::global_services_deploy_and_remove") {
        return;
    }
    let prefix = unique_prefix("glob");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    t.cmd(&["swarm", "--deploy-global-services"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--gen-built-in-services"));

    let dir = t.mount().join("swarm/global-services");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("client.yaml"),
        format!(
            "services:\n  srv-client:\n    image: {TEST_IMAGE}\n    command: [sleep, '3600']\n    networks: [hostnet]\n    deploy:\n      mode: global\n      placement: {{constraints: [node.labels.iocdock-test-none==yes]}}\nnetworks:\n  hostnet: {{external: true, name: host}}\n"
        ),
    )
    .unwrap();
    exported_ioc(&t, "keep");
    t.ok(&["service", "keep", "--deploy", "--detach"]);
    t.ok(&["swarm", "--deploy-global-services"]);
    let client = format!("{prefix}_srv-client");
    let (_, _, spec) = service(&client).expect("global service deployed");
    assert!(spec["Mode"]["Global"].is_object());

    t.cmd(&["swarm", "--remove-global-services"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("add --yes"));
    t.ok(&["swarm", "--remove-global-services", "--yes"]);
    assert_eq!(
        stack_objects("service", &prefix),
        [format!("{prefix}_srv-keep")]
    );

    t.ok(&["swarm", "--deploy-global-services"]);
    t.ok(&["swarm", "--remove-all-services", "--yes"]);
    assert!(stack_objects("service", &prefix).is_empty());
}

#[test]
fn a_bad_key_is_one_clear_line_and_deploys_nothing() {
    if !docker_ready("deploy::a_bad_key_is_one_clear_line_and_deploys_nothing") {
        return;
    }
    let prefix = unique_prefix("bad");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    let file = t.home().join("custom/bad.yaml");
    fs::create_dir_all(file.parent().unwrap()).unwrap();
    fs::write(
        &file,
        format!(
            "services:\n  bad:\n    image: {TEST_IMAGE}\n    networks: [own]\n    deploy:\n      replica: 2\nnetworks:\n  own: {{}}\n"
        ),
    )
    .unwrap();
    fs::create_dir_all(t.home().join("IocDock")).unwrap();
    fs::write(
        t.home().join("IocDock/services.yaml"),
        format!("bad: {}\n", file.display()),
    )
    .unwrap();
    let output = t
        .cmd(&["service", "bad", "--deploy", "--detach"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "error: {}: services.bad.deploy: unknown field `replica`",
            file.display()
        )),
        "{stderr}"
    );
    assert!(stack_objects("service", &prefix).is_empty());
    assert!(stack_objects("network", &prefix).is_empty());
}

/// A registry that only answers with a Basic challenge, and records the
/// credentials the engine then sends.
fn challenging_registry() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::BufRead;
    use std::sync::{Arc, Mutex};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a local port");
    let port = listener.local_addr().expect("local address").port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = std::io::BufReader::new(&stream);
            let mut authorization = None;
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("authorization")
                {
                    authorization = Some(value.trim().to_string());
                }
                line.clear();
            }
            let reply = match authorization {
                Some(auth) => {
                    record.lock().expect("record").push(auth);
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                }
                None => {
                    "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"iocdock-test\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                }
            };
            let _ = (&stream).write_all(reply.as_bytes());
        }
    });
    (port, seen)
}

/// Like `--with-registry-auth`: the image's registry gets the credentials of the
/// docker config file. The password is chosen so that its encoding needs the
/// URL-safe base64 alphabet the engine decodes.
#[test]
fn registry_credentials_from_the_docker_config_reach_the_registry() {
    if !docker_ready("deploy::registry_credentials_from_the_docker_config_reach_the_registry") {
        return;
    }
    let prefix = unique_prefix("auth");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    let (port, seen) = challenging_registry();
    let config_dir = t.home().join("docker-config");
    fs::create_dir_all(&config_dir).unwrap();
    // "op:p>>>?"
    fs::write(
        config_dir.join("config.json"),
        format!(r#"{{"auths": {{"localhost:{port}": {{"auth": "b3A6cD4+Pj8="}}}}}}"#),
    )
    .unwrap();
    let file = t.home().join("custom/private.yaml");
    fs::create_dir_all(file.parent().unwrap()).unwrap();
    fs::write(
        &file,
        format!(
            "services:\n  private:\n    image: localhost:{port}/iocdock-auth-probe:1\n    networks: [hostnet]\n    deploy: {{replicas: 0}}\nnetworks:\n  hostnet: {{external: true, name: host}}\n"
        ),
    )
    .unwrap();
    fs::create_dir_all(t.home().join("IocDock")).unwrap();
    fs::write(
        t.home().join("IocDock/services.yaml"),
        format!("private: {}\n", file.display()),
    )
    .unwrap();
    t.cmd(&["service", "private", "--deploy", "--detach"])
        .env("DOCKER_CONFIG", &config_dir)
        .assert()
        .success();
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter().any(|a| a == "Basic b3A6cD4+Pj8="),
        "the registry saw {seen:?}"
    );
    let (_, _, spec) = service(&format!("{prefix}_private")).expect("deployed");
    assert_eq!(
        spec["TaskTemplate"]["ContainerSpec"]["Image"],
        format!("localhost:{port}/iocdock-auth-probe:1").as_str(),
        "no digest: the registry did not report one"
    );
}

/// Runs everywhere: it needs no daemon, only an address where none listens (the
/// shared daemon is never stopped).
#[test]
fn an_unreachable_daemon_is_one_line_and_exit_3() {
    let t = TestContext::new();
    for args in [
        &["service", "any", "--deploy", "--detach"][..],
        &["service", "any", "--remove"],
        &["swarm", "--deploy-all-iocs"],
        &["swarm", "--remove-all-services", "--yes"],
    ] {
        let output = t
            .cmd(args)
            .env("DOCKER_HOST", "unix:///nonexistent.sock")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(3), "{args:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error: cannot reach the Docker daemon at unix:///nonexistent.sock: no such file or directory"),
            "{stderr}"
        );
    }
}

/// The `[DEPLOY]` labels of an IOC, set and rendered into its service file again.
fn set_labels(t: &TestContext, name: &str, labels: &str) {
    t.ok(&[
        "set",
        name,
        "-s",
        "deploy",
        "-o",
        &format!("labels={labels}"),
    ]);
    t.ok(&["exec", name, "--gen-swarm-file"]);
}

#[test]
fn an_ioc_service_mounts_startup_read_only_and_keeps_dollars_literal() {
    if !docker_ready("deploy::an_ioc_service_mounts_startup_read_only_and_keeps_dollars_literal") {
        return;
    }
    let prefix = unique_prefix("mnt");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    exported_ioc(&t, "mnt");
    set_labels(&t, "mnt", "x=$HOME;y=${PATH:-none}");
    t.cmd(&["service", "mnt", "--deploy", "--detach"])
        .env("HOME", "/home/operator")
        .assert()
        .success();
    let (_, _, spec) = service(&format!("{prefix}_srv-mnt")).expect("deployed");
    let container = &spec["TaskTemplate"]["ContainerSpec"];
    let run = t.run_dir("mnt");
    let mounts: Vec<(String, String, bool)> = container["Mounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .map(|m| {
            assert_eq!(m["Type"], "bind", "{m}");
            (
                m["Source"].as_str().unwrap().to_string(),
                m["Target"].as_str().unwrap().to_string(),
                m["ReadOnly"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    let bind = |source: std::path::PathBuf, target: &str, read_only: bool| {
        (source.display().to_string(), target.to_string(), read_only)
    };
    assert_eq!(
        mounts,
        [
            bind(run.join("startup"), "/opt/EPICS/RUN/mnt/startup", true),
            bind(run.join("settings"), "/opt/EPICS/RUN/mnt/settings", false),
            bind(run.join("logs"), "/opt/EPICS/RUN/mnt/logs", false),
            bind(
                t.mount().join("swarm/iocLog"),
                "/opt/EPICS/RUN/iocLog",
                true
            ),
            bind("/etc/localtime".into(), "/etc/localtime", true),
        ]
    );
    // Not the deploying operator's environment: the text of ioc.ini.
    assert_eq!(container["Labels"]["x"], "$HOME");
    assert_eq!(container["Labels"]["y"], "${PATH:-none}");
}

#[test]
fn a_service_file_changed_on_disk_is_refused_and_the_engine_keeps_its_spec() {
    if !docker_ready(
        "deploy::a_service_file_changed_on_disk_is_refused_and_the_engine_keeps_its_spec",
    ) {
        return;
    }
    let prefix = unique_prefix("tamp");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    exported_ioc(&t, "tamp");
    exported_ioc(&t, "fine");
    t.ok(&["service", "tamp", "fine", "--deploy", "--detach"]);
    let name = format!("{prefix}_srv-tamp");
    let before = service(&name).expect("deployed");

    // What a compromised container could do to a file in its own run folder before:
    // mount the node's root into the IOC.
    let file = t.service_file("tamp");
    let text = fs::read_to_string(&file).unwrap();
    assert!(text.contains("    volumes:\n"), "{text}");
    let tampered = text.replace(
        "    volumes:\n",
        "    volumes:\n    - type: bind\n      source: /\n      target: /host\n",
    );
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(&file, tampered).unwrap();

    for args in [
        &["service", "tamp", "--update", "--detach"][..],
        &["service", "tamp", "--deploy", "--detach"],
        &["swarm", "--update-deployed-services", "--yes", "--detach"],
    ] {
        let out = t.cmd(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("-      source: /\n"), "{args:?}: {stderr}");
        assert!(stderr.contains("(on disk)"), "{stderr}");
        assert!(
            stderr.contains("iocdock exec tamp --gen-swarm-file"),
            "{stderr}"
        );
        // The ID and the spec: the version index also moves when the engine records
        // its own progress (an update settling), which is no change of ours.
        let after = service(&name).map(|(id, _, spec)| (id, spec));
        assert!(
            after == Some((before.0.clone(), before.2.clone())),
            "{args:?} changed the service: before {before:?}, after {after:?}"
        );
    }
    // The other IOC still took its update.
    let (_, _, fine) = service(&format!("{prefix}_srv-fine")).expect("deployed");
    assert_eq!(force_update(&fine), 1);

    // Rendering the file again is the way back.
    t.ok(&["exec", "tamp", "--gen-swarm-file"]);
    t.ok(&["service", "tamp", "--update", "--detach"]);
    let (_, _, spec) = service(&name).expect("deployed");
    let mounts = spec["TaskTemplate"]["ContainerSpec"]["Mounts"].to_string();
    assert!(!mounts.contains("\"/host\""), "{mounts}");
}
