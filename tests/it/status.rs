//! What iocdock reads from the swarm: digest, `list -p`, service tasks, config and
//! logs, nodes. Test services are made with the docker CLI under a unique prefix.

use std::time::{Duration, Instant};

use crate::TestContext;
use crate::docker::{StackGuard, TEST_IMAGE, docker, docker_ready, swarm_context, unique_prefix};

/// An image no node has; its tasks are rejected at once.
const MISSING_IMAGE: &str = "iocdock-test/does-not-exist:1";

/// Polls `check` until it holds or `limit` passes; the last value tells why not.
pub(crate) fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> Result<(), String>) {
    let start = Instant::now();
    loop {
        match check() {
            Ok(()) => return,
            Err(why) if start.elapsed() > limit => panic!("{what} not within {limit:?}: {why}"),
            Err(_) => std::thread::sleep(Duration::from_millis(300)),
        }
    }
}

/// Runs iocdock and returns (exit code, stdout, stderr), whatever the outcome.
pub(crate) fn run(t: &TestContext, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = t.cmd(args);
    for (key, value) in env {
        cmd.env(key, value);
    }
    let out = cmd.output().expect("run iocdock");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A service of the stack `prefix` as `docker stack deploy` would label it, on the
/// host network (these machines have no working bridge for swarm tasks).
pub(crate) fn create_service(
    prefix: &str,
    key: &str,
    extra: &[&str],
    image: &str,
    command: &[&str],
) {
    let name = format!("{prefix}_{key}");
    let label = format!("com.docker.stack.namespace={prefix}");
    let mut args = vec![
        "service",
        "create",
        "-d",
        "--name",
        &name,
        "--label",
        &label,
        "--network",
        "host",
    ];
    args.extend_from_slice(extra);
    args.push(image);
    args.extend_from_slice(command);
    docker(&args);
}

fn row<'a>(table: &'a str, name: &str) -> Option<&'a str> {
    table
        .lines()
        .find(|line| line.split_whitespace().next() == Some(name))
}

#[test]
fn digest_and_panel_show_running_and_failing_services() {
    if !docker_ready("digest_and_panel_show_running_and_failing_services") {
        return;
    }
    let prefix = unique_prefix("dg");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    t.ok(&["create", "good", "bad", "idle"]);
    create_service(
        &prefix,
        "srv-good",
        &["--tty"],
        TEST_IMAGE,
        &["sleep", "100000"],
    );
    create_service(&prefix, "srv-bad", &[], MISSING_IMAGE, &[]);

    let mut digest = String::new();
    wait_for(
        "good running and bad rejected",
        Duration::from_secs(60),
        || {
            let (code, out, err) = run(&t, &["swarm", "--show-digest"], &[]);
            digest = out.clone();
            if code != 0 {
                return Err(err);
            }
            let good = row(&out, "good").ok_or("no row for good")?;
            let bad = row(&out, "bad").ok_or("no row for bad")?;
            if good.contains(" 1/1 ") && good.contains("Running") && bad.contains("No such image") {
                Ok(())
            } else {
                Err(out)
            }
        },
    );
    let lines: Vec<&str> = digest.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["Name", "ServiceName", "Type", "Replicas", "Node", "Status"]
    );
    // The failing IOC is pinned above every healthy or undeployed row.
    assert!(lines[1].starts_with("bad "), "{digest}");
    assert!(lines[1].contains(&format!("{prefix}_srv-bad")), "{digest}");
    assert!(
        lines[1].contains(&format!("No such image: {MISSING_IMAGE}")),
        "{digest}"
    );
    let good = row(&digest, "good").expect("good row");
    let cells: Vec<&str> = good.split_whitespace().collect();
    assert_eq!(
        cells[..4],
        ["good", &format!("{prefix}_srv-good"), "ioc", "1/1"],
        "{digest}"
    );
    assert!(good.contains(" ago"), "{digest}");
    let idle = row(&digest, "idle").expect("idle row");
    assert!(
        idle.contains("-/-") && idle.contains("Undeployed (Unavailable)"),
        "{digest}"
    );
    let client = row(&digest, "client").expect("built-in rows");
    assert!(
        client.contains("global") && client.contains("Undeployed"),
        "{digest}"
    );

    let only_iocs = t.ok(&["swarm", "--show-digest", "--service-type", "ioc"]);
    assert!(row(&only_iocs, "client").is_none(), "{only_iocs}");
    assert_eq!(only_iocs.lines().count(), 4, "{only_iocs}");

    // list -p gives the engine 2 s; on a busy CI machine a first try may say
    // "unknown (docker unreachable)", which is the designed answer, so ask again.
    let mut panel = String::new();
    wait_for(
        "the panel to show the services",
        Duration::from_secs(30),
        || {
            panel = t.ok(&["list", "-p"]);
            if panel.contains("unknown (docker") {
                Err(panel.clone())
            } else {
                Ok(())
            }
        },
    );
    let good = row(&panel, "good").expect("good in panel");
    assert!(good.contains("Running") && good.contains(" ago"), "{panel}");
    assert!(
        row(&panel, "bad").expect("bad").contains("No such image"),
        "{panel}"
    );
    assert!(
        row(&panel, "idle").expect("idle").contains("Undeployed"),
        "{panel}"
    );

    let info = t.ok(&["service", "bad", "--show-info"]);
    let header: Vec<&str> = info
        .lines()
        .next()
        .unwrap_or("")
        .split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        header,
        [
            "ID",
            "NAME",
            "IMAGE",
            "NODE",
            "DESIRED STATE",
            "CURRENT STATE",
            "ERROR",
            "PORTS"
        ]
    );
    assert!(info.contains(&format!("{prefix}_srv-bad.1")), "{info}");
    assert!(info.contains("Rejected"), "{info}");
    assert!(
        info.contains(&format!("\"No such image: {MISSING_IMAGE}\"")),
        "{info}"
    );

    let services = t.ok(&["swarm", "--show-services"]);
    assert!(
        services
            .lines()
            .any(|l| l.contains(&format!("{prefix}_srv-good"))
                && l.contains("replicated")
                && l.contains("1/1")),
        "{services}"
    );
}

#[test]
fn config_and_logs_of_a_tty_service() {
    if !docker_ready("config_and_logs_of_a_tty_service") {
        return;
    }
    let prefix = unique_prefix("lg");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    t.ok(&["create", "talker"]);
    create_service(
        &prefix,
        "srv-talker",
        &["--tty"],
        TEST_IMAGE,
        &[
            "sh",
            "-c",
            "for i in 1 2 3 4 5 6 7 8 9 10; do echo line $i; done; exec sleep 100000",
        ],
    );
    wait_for("ten log lines", Duration::from_secs(60), || {
        let (code, out, err) = run(&t, &["service", "talker", "--show-logs"], &[]);
        if code == 0 && out.contains("line 10") {
            Ok(())
        } else {
            Err(format!("{out}{err}"))
        }
    });
    let tail = t.ok(&["service", "talker", "--show-logs", "--tail", "5"]);
    let lines: Vec<&str> = tail.lines().map(str::trim_end).collect();
    assert_eq!(
        lines,
        ["line 6", "line 7", "line 8", "line 9", "line 10"],
        "{tail:?}"
    );

    let config = t.ok(&["service", "talker", "--show-config"]);
    assert!(
        config.contains(&format!("Name:               {prefix}_srv-talker\n")),
        "{config}"
    );
    assert!(
        config.contains(&format!(" Image:             {TEST_IMAGE}\n")),
        "{config}"
    );
    assert!(config.contains(" TTY:               true\n"), "{config}");
    assert!(config.contains("Networks:           host\n"), "{config}");

    let (code, _, err) = run(&t, &["service", "talker", "nobody", "--show-config"], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("no managed service named \"nobody\""), "{err}");
}

#[test]
fn nodes_mark_this_node() {
    if !docker_ready("nodes_mark_this_node") {
        return;
    }
    let t = TestContext::new();
    let node_id = docker(&["info", "--format", "{{.Swarm.NodeID}}"]);
    let out = t.ok(&["swarm", "--show-nodes"]);
    let header: Vec<&str> = out
        .lines()
        .next()
        .unwrap_or("")
        .split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        header,
        [
            "ID",
            "HOSTNAME",
            "STATUS",
            "AVAILABILITY",
            "MANAGER STATUS",
            "ENGINE VERSION"
        ]
    );
    assert!(out.contains(&format!("{} *", node_id.trim())), "{out}");
    assert!(out.contains("Ready"), "{out}");
    // After the table, one line per node: hostname(address): labels.
    let last = out.lines().last().unwrap_or("");
    assert!(last.contains("(") && last.contains("): "), "{out}");

    let tokens = t.ok(&["swarm", "--show-tokens"]);
    assert!(tokens.contains("To add a worker to this swarm"), "{tokens}");
    assert!(
        tokens.contains("docker swarm join --token SWMTKN-"),
        "{tokens}"
    );
}

#[test]
fn unreachable_daemon() {
    let t = TestContext::new();
    t.ok(&["create", "ioc1"]);
    let gone = [("DOCKER_HOST", "unix:///nonexistent.sock")];

    let (code, out, err) = run(&t, &["swarm", "--show-digest"], &gone);
    assert_eq!(code, 3, "{err}");
    assert_eq!(out, "");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: cannot reach the Docker daemon at unix:///nonexistent.sock"),
        "{err}"
    );

    let (code, out, err) = run(&t, &["list", "-p"], &gone);
    assert_eq!(code, 0, "{err}");
    assert!(
        row(&out, "ioc1")
            .expect("row")
            .contains("unknown (docker unreachable)"),
        "{out}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("warning: "), "{err}");

    // The other views never talk to Docker.
    let (code, out, err) = run(&t, &["list", "-d"], &gone);
    assert_eq!((code, err.as_str()), (0, ""));
    assert!(out.contains("ioc1"));

    let (code, _, err) = run(&t, &["client", "caget", "x"], &gone);
    assert_eq!(code, 3);
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn managed_services_list_needs_no_daemon() {
    let t = TestContext::new();
    t.ok(&["create", "ioc1"]);
    let (code, out, err) = run(
        &t,
        &["swarm", "--list-managed-services"],
        &[("DOCKER_HOST", "unix:///nonexistent.sock")],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines()
            .next()
            .map(|l| l.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["Name", "Type", "ServiceName", "Available"])
    );
    let ioc = row(&out, "ioc1").expect("ioc row");
    assert_eq!(
        ioc.split_whitespace().collect::<Vec<_>>(),
        ["ioc1", "ioc", "iasf_srv-ioc1", "no"]
    );
    assert!(
        row(&out, "registry").is_some_and(|r| r.contains("local")),
        "{out}"
    );
}
