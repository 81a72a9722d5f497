//! The built-in `client` and `iocLogServer` services take the EPICS tools from the
//! IOC image, as rendered by `swarm --gen-built-in-services`, on the demo IOC image:
//! EPICS base only in `/opt/EPICS/base-7.0.8.1`, named by the image's `EPICS_BASE`
//! and `EPICS_HOST_ARCH`, no `/opt/EPICS/base` (the layout of IocDock's own image).

use std::fs;
use std::time::Duration;

use crate::builtin::{CREDENTIALS, Cleanup, free_port, is_ioc_image, override_template};
use crate::docker::{docker, docker_ready, unique_prefix};
use crate::e2e::{DEMO_IMAGE, demo_image};
use crate::status::{run, wait_for};
use crate::{TestContext, project_file};

/// A test home for the stack `prefix` whose IOCs run on this single-node swarm and
/// whose built-in services need no question answered.
pub(crate) fn image_context(prefix: &str) -> TestContext {
    let t = TestContext::new();
    t.write_settings(&format!(
        "prefix_stack_name: {prefix}\nioc_default_constraints: [node.role==manager]\n{CREDENTIALS}"
    ));
    t
}

/// The image reference a rendered global service file names.
pub(crate) fn rendered_image(t: &TestContext, service: &str) -> String {
    let path = t
        .mount()
        .join(format!("swarm/global-services/{service}.yaml"));
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let compose: serde_yaml::Value = serde_yaml::from_str(&text).expect("compose YAML");
    compose["services"][format!("srv-{service}").as_str()]["image"]
        .as_str()
        .expect("image")
        .to_string()
}

/// Renders the built-in services with iocLogServer published on `log_port` (a port
/// of this test's own, so suites running at once do not wait for each other), gives
/// `image` the name the rendered client and iocLogServer use, and deploys the two.
pub(crate) fn deploy_client_and_log_server(
    t: &TestContext,
    image: &str,
    log_port: u16,
    cleanup: &mut Cleanup,
) {
    override_template(
        t,
        "global-services/iocLogServer.yaml",
        &[("published: 7004", &format!("published: {log_port}"))],
    );
    t.ok(&["swarm", "--gen-built-in-services"]);
    let rendered = rendered_image(t, "client");
    assert!(is_ioc_image(&rendered), "{rendered}");
    assert_eq!(rendered, rendered_image(t, "iocLogServer"));
    docker(&["tag", image, &rendered]);
    cleanup.images.push(rendered);
    t.ok(&["service", "client", "iocLogServer", "--deploy", "--detach"]);
    // As on a cluster, where the global services run before IOCs are deployed: an
    // IOC's log client that finds no server reports it at start.
    let prefix = rendered_prefix(t);
    wait_running(&prefix, "client", Duration::from_secs(120));
    wait_running(&prefix, "iocLogServer", Duration::from_secs(120));
    wait_for(
        "iocLogServer accepting on this node",
        Duration::from_secs(60),
        || log_server_listens(&prefix),
    );
}

/// Whether the iocLogServer container of the stack listens on its port (7004 in
/// its own network namespace; the node's published port forwards there). Docker's
/// port proxy accepts on the node before the container listens, and base's
/// iocLogServer closes its side of every connection at once, so a probe from here
/// could not tell the two apart.
fn log_server_listens(prefix: &str) -> Result<(), String> {
    let container = docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=com.docker.swarm.service.name={prefix}_srv-iocLogServer"),
    ]);
    let container = container.lines().next().ok_or("no container yet")?;
    // /proc/net/tcp: local address `IP:1B5C` (7004) in state 0A (listening).
    let listening = std::process::Command::new("docker")
        .args(["exec", container, "sh", "-c"])
        .arg("grep -q ':1B5C [0-9A-F:]* 0A' /proc/net/tcp /proc/net/tcp6")
        .status()
        .map_err(|e| e.to_string())?
        .success();
    if listening {
        Ok(())
    } else {
        Err("not listening on 7004".to_string())
    }
}

/// The stack prefix the settings of `t` name.
fn rendered_prefix(t: &TestContext) -> String {
    t.ok(&["config", "PREFIX_STACK_NAME"]).trim().to_string()
}

/// Creates, exports and deploys the IOC `name` from the bundled test template with
/// `image` and `module`, after `extra` (`set` argument lists) are applied.
pub(crate) fn deploy_ioc(
    t: &TestContext,
    name: &str,
    image: &str,
    module: &str,
    extra: &[&[&str]],
) {
    let template = project_file("templates/test/test.ini");
    t.ok(&[
        "create",
        name,
        "-f",
        template.to_str().unwrap(),
        "-o",
        &format!("image={image}"),
        &format!("module={module}"),
    ]);
    t.ok(&[
        "set",
        name,
        "-s",
        "db",
        "-o",
        &format!("load=ramper.db, name={name}"),
    ]);
    for args in extra {
        let mut set = vec!["set", name];
        set.extend_from_slice(args);
        t.ok(&set);
    }
    let sources = project_file("templates/test");
    t.ok(&["exec", name, "--add-src-file", sources.to_str().unwrap()]);
    t.ok(&["exec", name, "--deploy"]);
    t.ok(&["service", name, "--deploy", "--detach"]);
}

/// Waits until the service `<prefix>_srv-<name>` runs its task.
pub(crate) fn wait_running(prefix: &str, name: &str, limit: Duration) {
    let service = format!("{prefix}_srv-{name}");
    wait_for(&format!("{service} running"), limit, || {
        let state = docker(&[
            "service",
            "ps",
            "--format",
            "{{.CurrentState}} {{.Error}}",
            &service,
        ]);
        if state.lines().any(|l| l.starts_with("Running")) {
            Ok(())
        } else {
            Err(state)
        }
    });
}

/// The lines of every iocLogServer file in `$MOUNT_PATH/swarm/iocLog`.
pub(crate) fn ioc_log_lines(t: &TestContext) -> Vec<String> {
    let folder = t.mount().join("swarm/iocLog");
    let mut lines = Vec::new();
    for entry in fs::read_dir(&folder).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().ends_with(".ioc.log")
            && let Ok(text) = fs::read_to_string(entry.path())
        {
            lines.extend(text.lines().map(str::to_string));
        }
    }
    lines
}

/// `<ip>:<port> <Www Mmm dd hh:mm:ss yyyy> <message>`: how iocLogServer writes a line.
pub(crate) fn is_log_server_line(line: &str, message: &str) -> bool {
    let Some((client, rest)) = line.split_once(' ') else {
        return false;
    };
    let Some(stamp) = rest.strip_suffix(message).and_then(|s| s.strip_suffix(' ')) else {
        return false;
    };
    let words: Vec<&str> = stamp.split_whitespace().collect();
    client
        .rsplit_once(':')
        .is_some_and(|(_, port)| port.parse::<u16>().is_ok())
        && words.len() == 5
        && words[3].len() == 8
        && words[4].parse::<u32>().is_ok()
}

/// How many tasks a service has had: a task that failed and was replaced adds one.
pub(crate) fn task_count(prefix: &str, name: &str) -> usize {
    docker(&["service", "ps", "-q", &format!("{prefix}_srv-{name}")])
        .lines()
        .count()
}

fn in_container(prefix: &str, name: &str, script: &str) -> bool {
    let container = docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=com.docker.swarm.service.name={prefix}_srv-{name}"),
    ]);
    let container = container.lines().next().expect("a running container");
    std::process::Command::new("docker")
        .args(["exec", container, "sh", "-c", script])
        .status()
        .expect("docker exec")
        .success()
}

#[test]
fn built_in_client_and_log_server_use_the_tools_of_the_image() {
    let test = "image::built_in_client_and_log_server_use_the_tools_of_the_image";
    if !docker_ready(test) {
        return;
    }
    demo_image();
    let prefix = unique_prefix("img");
    let mut cleanup = Cleanup {
        prefix: prefix.clone(),
        images: Vec::new(),
    };
    let t = image_context(&prefix);
    let log_port = free_port();
    deploy_client_and_log_server(&t, DEMO_IMAGE, log_port, &mut cleanup);

    // The IOC logs to this test's iocLogServer port and says something after iocInit.
    let ioc = format!("{prefix}log");
    let marker = format!("errlog line of {prefix}");
    deploy_ioc(
        &t,
        &ioc,
        DEMO_IMAGE,
        // The status databases need iocStats, which the demo image lacks: EPICS reports
        // their devIocStats records and runs the rest (checked below).
        "caputlog, status-ioc, status-os",
        &[
            &[
                "-s",
                "setting",
                "-o",
                &format!("epics_env=EPICS_IOC_LOG_PORT={log_port}"),
            ],
            &["--add-raw"],
            &[
                "-s",
                "raw",
                "-o",
                &format!("cmd_after_iocinit=errlog \"{marker}\""),
            ],
        ],
    );
    wait_running(&prefix, "client", Duration::from_secs(90));
    wait_running(&prefix, "iocLogServer", Duration::from_secs(90));
    wait_running(&prefix, &ioc, Duration::from_secs(90));

    // No fixed folder to fall back on: the tools are only where the image says.
    assert!(
        in_container(
            &prefix,
            "client",
            "test ! -e /opt/EPICS/base && test -d /opt/EPICS/base-7.0.8.1"
        ),
        "the demo image must have base only in /opt/EPICS/base-7.0.8.1"
    );
    let pv = format!("ramper:{ioc}");
    let mut result = (0, String::new(), String::new());
    wait_for(
        "caget through the built-in client",
        Duration::from_secs(60),
        || {
            result = run(&t, &["client", "caget", &pv], &[]);
            if result.0 == 0 && result.1.starts_with(&pv) {
                Ok(())
            } else {
                Err(format!("{result:?}"))
            }
        },
    );
    assert!(
        result
            .2
            .starts_with(&format!("executing \"./caget {pv}\".\n")),
        "{}",
        result.2
    );
    let heartbeats = [
        format!("{ioc}:HEARTBEAT"),
        format!("{ioc}:docker:HEARTBEAT"),
    ];
    let (code, out, err) = run(
        &t,
        &["client", "caget", &heartbeats[0], &heartbeats[1]],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    for heartbeat in &heartbeats {
        assert!(out.contains(heartbeat.as_str()), "{out}");
    }
    let (_, console, _) = run(&t, &["service", &ioc, "--show-logs", "--tail", "500"], &[]);
    assert!(
        console.contains("no such device support")
            && console.contains("iocRun: All initialization complete"),
        "{console}"
    );

    // The IOC's errlog lines reach the built-in iocLogServer, which writes them with
    // the IOC's prefix into the shared iocLog folder.
    let message = format!("{ioc} {marker}");
    let mut lines = Vec::new();
    wait_for(
        "the IOC's log line in iocLog/",
        Duration::from_secs(60),
        || {
            lines = ioc_log_lines(&t);
            if lines.iter().any(|l| is_log_server_line(l, &message)) {
                Ok(())
            } else {
                Err(format!("{lines:#?}"))
            }
        },
    );
    // iocLogServer ran from the start: no task failed and was replaced.
    assert_eq!(
        task_count(&prefix, "iocLogServer"),
        1,
        "{}",
        docker(&[
            "service",
            "ps",
            "--no-trunc",
            &format!("{prefix}_srv-iocLogServer")
        ])
    );
}

#[test]
fn log_server_lines_are_recognised() {
    assert!(is_log_server_line(
        "10.0.0.5:40312 Thu Dec  3 15:23:54 2026 ioc1 hello there",
        "ioc1 hello there"
    ));
    assert!(!is_log_server_line("ioc1 hello there", "ioc1 hello there"));
    assert!(!is_log_server_line(
        "10.0.0.5:40312 Thu Dec  3 15:23:54 2026 ioc1 hello",
        "ioc1 hello there"
    ));
}
