//! IOC health checks: the options that choose the PV, the check in the service file,
//! and, on the real swarm with the demo image's EPICS IOCs, what the engine makes of
//! it: a good IOC turns healthy, one whose records do not load is stopped as
//! unhealthy, five IOCs on one node each reach their own PVs, and an image without
//! CA tools keeps running.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use predicates::prelude::*;
use serde_json::Value;

use crate::deploy::{engine_get, service};
use crate::docker::{StackGuard, TEST_IMAGE, docker_ready, unique_prefix};
use crate::e2e::{DEMO_IMAGE, demo_image};
use crate::status::wait_for;
use crate::{TestContext, project_file};

/// A record type no IOC knows: st.cmd runs, but the IOC ends up without the record.
const BROKEN_DB: &str = "record(nosuchtype, \"broken:$(name)\")\n{\n    field(DESC, \"no IOC has this record type\")\n}\n";

/// The sources of the test IOCs: the ramper and a database that cannot load.
fn sources(t: &TestContext) -> PathBuf {
    let dir = t.home().join("sources");
    fs::create_dir_all(&dir).unwrap();
    fs::copy(
        project_file("templates/test/ramper.db"),
        dir.join("ramper.db"),
    )
    .unwrap();
    fs::write(dir.join("broken.db"), BROKEN_DB).unwrap();
    dir
}

/// An IOC of the test template without modules, loading `db` with `name=<ioc>`.
fn ioc(t: &TestContext, name: &str, image: &str, db: &str) {
    let template = project_file("templates/test/test.ini");
    t.ok(&[
        "create",
        name,
        "-f",
        template.to_str().unwrap(),
        "-o",
        &format!("image={image}"),
        "module=",
    ]);
    t.ok(&[
        "set",
        name,
        "-s",
        "db",
        "-o",
        &format!("load={db}, name={name}"),
    ]);
    let sources = sources(t);
    t.ok(&["exec", name, "--add-src-file", sources.to_str().unwrap()]);
}

fn service_file(t: &TestContext, name: &str) -> serde_yaml::Value {
    serde_yaml::from_str(&fs::read_to_string(t.service_file(name)).unwrap()).unwrap()
}

fn check_of(t: &TestContext, name: &str) -> serde_yaml::Value {
    service_file(t, name)["services"][format!("srv-{name}")]["healthcheck"].clone()
}

/// The shell command of the check in the service file, `$$` read as compose does.
fn check_command(t: &TestContext, name: &str) -> String {
    check_of(t, name)["test"][1]
        .as_str()
        .expect("a CMD-SHELL test")
        .replace("$$", "$")
}

#[test]
fn health_options_are_checked_before_anything_is_written() {
    let t = TestContext::new();
    t.ok(&["create", "a"]);
    let before = t.ioc_ini("a");
    t.cmd(&["set", "a", "-s", "deploy", "-o", "health-check=maybe"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "IOC \"a\": option \"health-check\" of section [DEPLOY] is \"maybe\": expected true or false",
        ))
        .stderr(predicate::str::contains("IOC \"a\": nothing written"));
    t.cmd(&["set", "a", "-s", "deploy", "-o", "health-pv=a b"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "IOC \"a\": option \"health-pv\" of section [DEPLOY] is \"a b\": expected a PV name",
        ));
    assert_eq!(t.ioc_ini("a"), before, "nothing written");
    t.cmd(&["create", "b", "-s", "deploy", "-o", "health-pv=-w"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("option \"health-pv\""));
    assert!(!t.repository().join("b").exists(), "no IOC created");

    t.ok(&[
        "set",
        "a",
        "-s",
        "deploy",
        "-o",
        "health-check=False",
        "health-pv=a:HEARTBEAT.SEVR",
    ]);
    let ini = t.ioc_ini("a");
    assert!(
        ini.contains("health-check = False\nhealth-pv = a:HEARTBEAT.SEVR\n"),
        "{ini}"
    );

    // A hand edit is reported after the editor closes.
    let edited = ini.replace("health-check = False", "health-check = sometimes");
    let editor = t.home().join("editor.sh");
    fs::write(
        &editor,
        format!("#!/bin/sh\ncat > \"$1\" <<'EOF'\n{edited}EOF\n"),
    )
    .unwrap();
    fs::set_permissions(&editor, fs::Permissions::from_mode(0o755)).unwrap();
    t.cmd(&["edit", "a"])
        .env("EDITOR", &editor)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "option \"health-check\" of section [DEPLOY] is \"sometimes\"",
        ));
}

#[test]
fn the_service_file_checks_a_pv_of_the_ioc_itself() {
    let t = TestContext::new();
    // The first record of the first database, with the load line's macros.
    ioc(&t, "plain", "registry.iasf/ioc-exec:1.1.0", "ramper.db");
    t.ok(&["exec", "plain", "--deploy"]);
    let check = check_of(&t, "plain");
    assert_eq!(check["test"][0], "CMD-SHELL");
    assert!(
        check_command(&t, "plain").ends_with("exec \"$caget\" -w 5 'limit:plain'"),
        "{check:?}"
    );
    assert_eq!(check["interval"], "30s");
    assert_eq!(check["timeout"], "10s");
    assert_eq!(check["retries"], 5);
    assert_eq!(check["start_period"], "120s");
    let labels = &service_file(&t, "plain")["services"]["srv-plain"]["deploy"]["labels"];
    assert_eq!(labels["iocdock.health-pv"], "limit:plain");

    // status-ioc's heartbeat when that module is loaded; health-pv overrides both.
    ioc(&t, "beat", "registry.iasf/ioc-exec:1.1.0", "ramper.db");
    t.ok(&["set", "beat", "--status-ioc"]);
    t.ok(&["exec", "beat", "--deploy"]);
    assert!(check_command(&t, "beat").ends_with("'beat:HEARTBEAT'"));
    t.ok(&["set", "beat", "-s", "deploy", "-o", "health-pv=ctrl:beat"]);
    t.ok(&["exec", "beat", "--gen-swarm-file"]);
    assert!(check_command(&t, "beat").ends_with("'ctrl:beat'"));

    // Turned off: the check is disabled, the image's own too.
    t.ok(&["set", "beat", "-s", "deploy", "-o", "health-check=false"]);
    t.ok(&["exec", "beat", "--gen-swarm-file"]);
    assert_eq!(
        check_of(&t, "beat"),
        serde_yaml::from_str::<serde_yaml::Value>("{disable: true}").unwrap()
    );

    // Settings set the timing.
    t.write_settings(
        "ioc_health_interval: 1m\nioc_health_timeout: 4s\nioc_health_retries: 3\nioc_health_start_period: 5m\n",
    );
    t.ok(&["exec", "plain", "--gen-swarm-file"]);
    let check = check_of(&t, "plain");
    assert_eq!(
        (
            &check["interval"],
            &check["timeout"],
            &check["retries"],
            &check["start_period"]
        ),
        (&"1m".into(), &"4s".into(), &3.into(), &"5m".into())
    );
    assert!(check_command(&t, "plain").contains(" -w 2 "));

    // `docker stack config` reads the file as docker stack deploy would.
    let docker = Command::new("docker")
        .args(["stack", "config", "-c"])
        .arg(t.service_file("plain"))
        .output()
        .expect("the docker CLI is part of the test set-up");
    assert!(
        docker.status.success(),
        "docker rejected the file: {}",
        String::from_utf8_lossy(&docker.stderr)
    );
    assert!(
        String::from_utf8_lossy(&docker.stdout).contains("start_period: 5m0s"),
        "{}",
        String::from_utf8_lossy(&docker.stdout)
    );
}

#[test]
fn an_ioc_without_a_pv_to_check_gets_no_service_file() {
    let t = TestContext::new();
    ioc(&t, "vague", "registry.iasf/ioc-exec:1.1.0", "ramper.db");
    // The load line no longer defines the macro the first record needs.
    let sources = sources(&t);
    fs::write(
        sources.join("ramper.db"),
        fs::read_to_string(project_file("templates/test/ramper.db"))
            .unwrap()
            .replace("limit:$(name)", "limit:$(name):$(SUFFIX)"),
    )
    .unwrap();
    t.ok(&["exec", "vague", "--add-src-file", sources.to_str().unwrap()]);
    t.cmd(&["exec", "vague", "--deploy"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "IOC \"vague\": no PV for the health check: the first record of ramper.db, \"limit:$(name):$(SUFFIX)\", uses macro \"SUFFIX\" (undefined) on the load line \"ramper.db, name=vague\"; name one (iocdock set vague -s deploy -o health-pv=PV) or turn the check off (-o health-check=false)",
        ));
    assert!(!t.service_file("vague").exists(), "no service file written");
    // A default in the database, or a named PV, settles it.
    t.ok(&[
        "set",
        "vague",
        "-s",
        "deploy",
        "-o",
        "health-pv=limit:vague:x",
    ]);
    t.ok(&["exec", "vague", "--deploy"]);
    assert!(check_command(&t, "vague").ends_with("'limit:vague:x'"));
}

// ---------------------------------------------------------------------------------
// On the swarm.

/// A test home on this single-node swarm with quick health checks.
fn health_context(prefix: &str, timing: &str) -> TestContext {
    let t = TestContext::new();
    t.write_settings(&format!(
        "prefix_stack_name: {prefix}\nioc_default_constraints: [node.role==manager]\n{timing}"
    ));
    t
}

/// `{"service":["<name>"]}`, percent-encoded for a query string.
fn service_filter(name: &str) -> String {
    format!("%7B%22service%22%3A%5B%22{name}%22%5D%7D")
}

/// Every task of a service, as the engine stores them.
fn tasks(name: &str) -> Vec<Value> {
    engine_get(&format!("/tasks?filters={}", service_filter(name)))
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

fn state(task: &Value) -> &str {
    task["Status"]["State"].as_str().unwrap_or("")
}

fn error(task: &Value) -> &str {
    task["Status"]["Err"].as_str().unwrap_or("")
}

/// The health the daemon keeps for the container of a running task.
fn container_health(task: &Value) -> Value {
    let id = task["Status"]["ContainerStatus"]["ContainerID"]
        .as_str()
        .expect("a running task has a container");
    engine_get(&format!("/containers/{id}/json")).expect("container")["State"]["Health"].clone()
}

/// Waits until the service's newest task is running: with a health check, the
/// engine moves a task there only after a check passed.
fn wait_running(name: &str, limit: Duration) -> Value {
    let mut running = Value::Null;
    wait_for(&format!("{name} running"), limit, || {
        let all = tasks(name);
        match all.iter().find(|t| state(t) == "running") {
            Some(task) => {
                running = task.clone();
                Ok(())
            }
            None => Err(format!(
                "{:?}",
                all.iter().map(|t| (state(t), error(t))).collect::<Vec<_>>()
            )),
        }
    });
    running
}

#[test]
fn a_good_ioc_turns_healthy_and_one_without_its_records_unhealthy() {
    if !docker_ready("health::a_good_ioc_turns_healthy_and_one_without_its_records_unhealthy") {
        return;
    }
    demo_image();
    let prefix = unique_prefix("hgb");
    let _guard = StackGuard(prefix.clone());
    let t = health_context(
        &prefix,
        "ioc_health_interval: 3s\nioc_health_timeout: 10s\nioc_health_retries: 2\nioc_health_start_period: 5s\n",
    );
    // PV names unique to this run: every IOC on the host network answers searches.
    let (good, bad) = (format!("{prefix}good"), format!("{prefix}bad"));
    ioc(&t, &good, DEMO_IMAGE, "ramper.db");
    ioc(&t, &bad, DEMO_IMAGE, "broken.db");
    t.ok(&["exec", &good, &bad, "--deploy"]);
    t.ok(&["swarm", "--deploy-all-iocs", "--detach"]);
    let (good_service, bad_service) = (
        format!("{prefix}_srv-{good}"),
        format!("{prefix}_srv-{bad}"),
    );

    // What the engine stores: the check and the label naming its PV.
    let (_, _, spec) = service(&bad_service).expect("deployed");
    let test = spec["TaskTemplate"]["ContainerSpec"]["Healthcheck"]["Test"].clone();
    assert_eq!(test[0], "CMD-SHELL");
    assert!(
        test[1]
            .as_str()
            .unwrap()
            .ends_with(&format!("'broken:{bad}'")),
        "{test}"
    );
    assert_eq!(spec["Labels"]["iocdock.health-pv"], format!("broken:{bad}"));

    // The IOC without its record is stopped by its check, and says why.
    wait_for(
        "the IOC without its record stopped as unhealthy",
        Duration::from_secs(180),
        || {
            let all = tasks(&bad_service);
            all.iter()
                .find(|t| {
                    state(t) == "failed" && error(t).ends_with("dockerexec: unhealthy container")
                })
                .map(|_| ())
                .ok_or_else(|| {
                    format!(
                        "{:?}",
                        all.iter().map(|t| (state(t), error(t))).collect::<Vec<_>>()
                    )
                })
        },
    );
    assert!(
        tasks(&bad_service).iter().all(|t| state(t) != "running"),
        "a task whose check never passed is never running"
    );

    // The good one passed its check long ago and was never restarted.
    let running = wait_running(&good_service, Duration::from_secs(60));
    let health = container_health(&running);
    assert_eq!(health["Status"], "healthy", "{health}");
    let last = health["Log"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["ExitCode"], 0, "{health}");
    assert!(
        last["Output"]
            .as_str()
            .unwrap()
            .starts_with(&format!("limit:{good} ")),
        "{health}"
    );
    assert_eq!(tasks(&good_service).len(), 1, "never restarted");
}

#[test]
fn five_iocs_on_one_node_each_reach_their_own_pv() {
    if !docker_ready("health::five_iocs_on_one_node_each_reach_their_own_pv") {
        return;
    }
    demo_image();
    let prefix = unique_prefix("hfive");
    let _guard = StackGuard(prefix.clone());
    // Failures must last 3 checks, 12 s, to count: long enough for a loaded
    // machine's slow check, short enough to show in this test.
    let t = health_context(
        &prefix,
        "ioc_health_interval: 4s\nioc_health_timeout: 10s\nioc_health_retries: 3\nioc_health_start_period: 30s\n",
    );
    let iocs: Vec<String> = (1..=5).map(|i| format!("{prefix}{i}")).collect();
    for name in &iocs {
        ioc(&t, name, DEMO_IMAGE, "ramper.db");
    }
    let mut args = vec!["exec"];
    args.extend(iocs.iter().map(String::as_str));
    args.push("--deploy");
    t.ok(&args);
    t.ok(&["swarm", "--deploy-all-iocs", "--detach"]);
    let services: Vec<String> = iocs
        .iter()
        .map(|name| format!("{prefix}_srv-{name}"))
        .collect();
    let mut containers = Vec::new();
    for name in &services {
        let task = wait_running(name, Duration::from_secs(180));
        containers.push(
            task["Status"]["ContainerStatus"]["ContainerID"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }

    // Past the start period, where every failure counts, and for twice as long as
    // it takes failures to stop an IOC.
    std::thread::sleep(Duration::from_secs(30));
    wait_for(
        "five more checks of every IOC",
        Duration::from_secs(60),
        || {
            for name in &services {
                let all = tasks(name);
                let [task] = all.as_slice() else {
                    panic!("{name} was restarted: {all:?}");
                };
                assert_eq!(state(task), "running", "{name}: {task}");
                let health = container_health(task);
                assert_eq!(health["Status"], "healthy", "{name}: {health}");
                assert_eq!(health["FailingStreak"], 0, "{name}: {health}");
                let log = health["Log"].as_array().unwrap();
                if log.len() < 5 {
                    return Err(format!("{name}: {} checks so far", log.len()));
                }
            }
            Ok(())
        },
    );
    // Each check read its own IOC's PV, every time.
    for (name, service) in iocs.iter().zip(&services) {
        let health = container_health(&tasks(service)[0]);
        for entry in health["Log"].as_array().unwrap() {
            assert_eq!(entry["ExitCode"], 0, "{name}: {health}");
            assert!(
                entry["Output"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("limit:{name} ")),
                "{name}: {health}"
            );
        }
    }

    // What the broadcast avoids: a unicast search to 127.0.0.1 does not reach every
    // IOC of the node, so a check searching that way would fail IOCs at random.
    let mut unicast_failures = 0;
    for _ in 0..2 {
        for name in &iocs {
            let found = Command::new("docker")
                .args(["exec", &containers[0], "sh", "-c"])
                .arg(format!(
                    "EPICS_CA_AUTO_ADDR_LIST=NO EPICS_CA_ADDR_LIST=127.0.0.1 caget -w 2 limit:{name}"
                ))
                .output()
                .expect("docker exec")
                .status
                .success();
            unicast_failures += usize::from(!found);
        }
    }
    assert!(
        unicast_failures > 0,
        "every unicast search found its IOC: the broadcast is not what makes the checks pass"
    );
}

#[test]
fn an_ioc_on_an_image_without_ca_tools_keeps_running() {
    if !docker_ready("health::an_ioc_on_an_image_without_ca_tools_keeps_running") {
        return;
    }
    let prefix = unique_prefix("hnotool");
    let _guard = StackGuard(prefix.clone());
    // The test image has no working folder: with the container top path `/`, the
    // IOC's `cd RUN/<name>/startup/iocBoot` finds its mounts from `/`.
    let t = health_context(
        &prefix,
        "container_top_path: /\nioc_health_interval: 2s\nioc_health_timeout: 5s\nioc_health_retries: 2\nioc_health_start_period: 2s\n",
    );
    let name = format!("{prefix}ioc");
    ioc(&t, &name, TEST_IMAGE, "ramper.db");
    t.ok(&["exec", &name, "--deploy"]);
    // The test image has no EPICS: an IOC stand-in that just keeps running, in place
    // of the st.cmd it exported.
    let st_cmd = t.run_dir(&name).join("startup/iocBoot/st.cmd");
    fs::set_permissions(&st_cmd, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(
        &st_cmd,
        "#!/bin/sh\ntrap 'exit 143' TERM\nwhile true; do sleep 1 & wait $!; done\n",
    )
    .unwrap();
    t.ok(&["swarm", "--deploy-all-iocs", "--detach"]);
    let service_name = format!("{prefix}_srv-{name}");
    let task = wait_running(&service_name, Duration::from_secs(60));

    // Well past the start period and the retries, it still runs.
    wait_for("five checks", Duration::from_secs(60), || {
        let log = container_health(&task)["Log"].clone();
        let count = log.as_array().map_or(0, Vec::len);
        (count >= 5).then_some(()).ok_or(format!("{count} checks"))
    });
    let all = tasks(&service_name);
    assert_eq!(all.len(), 1, "never restarted: {all:?}");
    assert_eq!(state(&all[0]), "running");
    let health = container_health(&all[0]);
    assert_eq!(health["Status"], "healthy", "{health}");
    for entry in health["Log"].as_array().unwrap() {
        assert_eq!(entry["ExitCode"], 0, "{health}");
        assert_eq!(
            entry["Output"],
            "no health verdict: no caget in PATH or in $EPICS_BASE/bin/$EPICS_HOST_ARCH\n",
            "{health}"
        );
    }
}
