//! The panel under node faults, on the multi-node harness: IOCs placed on the workers
//! by the default `node.role==worker`, a worker that crashes, a worker cut off from
//! the manager while its IOC keeps running, and a manager restart.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::TestContext;
use crate::e2e::{DEMO_IMAGE, demo_image};
use crate::multinode::{Harness, HarnessStack, MANAGER};
use crate::status::{run, wait_for};

const ON_HARNESS: [(&str, &str); 1] = [("DOCKER_HOST", MANAGER)];

/// IOCs of the demo image (real EPICS), deployed with the default placement.
fn deployed_iocs(t: &TestContext, prefix: &str, names: &[String]) {
    t.write_settings(&format!("prefix_stack_name: {prefix}\n"));
    for name in names {
        crate::e2e::ramper_ioc(t, name);
    }
    let (code, _, err) = run(t, &["swarm", "--deploy-all-iocs", "--detach"], &ON_HARNESS);
    assert_eq!(code, 0, "{err}");
}

/// The row of IOC `name` in `list -p --format json` against the harness; None while
/// the manager does not answer in time.
fn row(t: &TestContext, name: &str) -> Option<Value> {
    let (code, out, _) = run(t, &["list", "-p", "--format", "json"], &ON_HARNESS);
    if code != 0 {
        return None;
    }
    let panel: Value = serde_json::from_str(&out).ok()?;
    panel["iocs"]
        .as_array()?
        .iter()
        .find(|r| r["name"] == name)
        .cloned()
        .filter(|r| r["deploy"]["state"] != "unknown")
}

/// Waits until `check` holds for the row of `name`; returns that row.
fn until(
    t: &TestContext,
    name: &str,
    what: &str,
    limit: Duration,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let mut found = Value::Null;
    wait_for(what, limit, || match row(t, name) {
        Some(r) if check(&r) => {
            found = r;
            Ok(())
        }
        Some(r) => Err(r.to_string()),
        None => Err("no answer".to_string()),
    });
    found
}

fn running_on_a_ready_node(r: &Value) -> bool {
    r["deploy"]["state"] == "running"
        && r["deploy"]["nodes"]
            .as_array()
            .is_some_and(|n| n.len() == 1 && n[0]["trouble"].is_null())
}

fn hostname(r: &Value) -> String {
    r["deploy"]["nodes"][0]["hostname"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn node_number(hostname: &str) -> u32 {
    hostname
        .strip_prefix("node")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected node name {hostname}"))
}

fn has_node(r: &Value, host: &str, trouble: bool) -> bool {
    r["deploy"]["nodes"].as_array().is_some_and(|nodes| {
        nodes
            .iter()
            .any(|n| n["hostname"] == host && n["trouble"].is_null() != trouble)
    })
}

#[test]
fn a_crashed_worker_marks_its_iocs_which_then_run_on_the_other_worker() {
    let Some(h) =
        Harness::take("faults::a_crashed_worker_marks_its_iocs_which_then_run_on_the_other_worker")
    else {
        return;
    };
    demo_image();
    h.load_image(DEMO_IMAGE);
    let prefix = crate::docker::unique_prefix("mnc");
    let _stack = HarnessStack(&h, prefix.clone());
    let t = TestContext::new();
    let names = [format!("{prefix}a"), format!("{prefix}b")];
    deployed_iocs(&t, &prefix, &names);
    let first = until(
        &t,
        &names[0],
        "the IOC running",
        Duration::from_secs(120),
        running_on_a_ready_node,
    );
    let lost = hostname(&first);
    assert_ne!(lost, "node0", "placed by node.role==worker: {first}");
    until(
        &t,
        &names[1],
        "the other IOC running",
        Duration::from_secs(60),
        running_on_a_ready_node,
    );

    h.kill(node_number(&lost), "crash");
    // The panel marks the IOC: its node is not ready, and it is not counted.
    let marked = until(
        &t,
        &names[0],
        "the lost node marked",
        Duration::from_secs(60),
        |r| has_node(r, &lost, true),
    );
    assert_ne!(marked["deploy"]["state"], "running", "{marked}");
    // Then it runs on the other worker, counted once; the copy swarm gave up on is
    // a warning of its own (the manager cannot tell a crash from a partition).
    let moved = until(
        &t,
        &names[0],
        "the IOC on the other worker",
        Duration::from_secs(90),
        |r| {
            r["deploy"]["running"] == 1
                && r["deploy"]["nodes"].as_array().is_some_and(|n| {
                    n.iter().any(|n| {
                        n["hostname"] != lost.as_str()
                            && n["hostname"] != "node0"
                            && n["trouble"].is_null()
                    })
                })
        },
    );
    assert_eq!(moved["deploy"]["desired"], 1, "{moved}");
    assert_eq!(moved["deploy"]["state"], "duplicate", "{moved}");
    let text = moved["deploy"]["text"].as_str().unwrap_or_default();
    assert!(
        text.contains(&format!(
            "possible duplicate: a copy may still run on {lost} (down)"
        )) || text.contains(&format!(
            "possible duplicate: a copy may still run on {lost} (unknown)"
        )),
        "{text}"
    );
    let (code, digest, err) = run(
        &t,
        &["swarm", "--show-digest", "--service-type", "ioc"],
        &ON_HARNESS,
    );
    assert_eq!(code, 0, "{err}");
    let line = digest
        .lines()
        .find(|l| l.starts_with(&format!("{} ", names[0])))
        .unwrap_or_else(|| panic!("{digest}"));
    assert!(
        line.contains(" 1/1 ") && line.contains(&format!("{lost} (")),
        "{line}"
    );

    // Back up, the node stops its old copy: plain running again.
    h.start(node_number(&lost));
    until(
        &t,
        &names[0],
        "one copy again",
        Duration::from_secs(90),
        running_on_a_ready_node,
    );
}

#[test]
fn a_partition_that_leaves_two_copies_running_is_a_duplicate_warning() {
    let Some(h) =
        Harness::take("faults::a_partition_that_leaves_two_copies_running_is_a_duplicate_warning")
    else {
        return;
    };
    demo_image();
    h.load_image(DEMO_IMAGE);
    let prefix = crate::docker::unique_prefix("mnp");
    let _stack = HarnessStack(&h, prefix.clone());
    let t = TestContext::new();
    let name = format!("{prefix}a");
    deployed_iocs(&t, &prefix, std::slice::from_ref(&name));
    let first = until(
        &t,
        &name,
        "the IOC running",
        Duration::from_secs(120),
        running_on_a_ready_node,
    );
    let cut = hostname(&first);
    let cut_node = node_number(&cut);

    h.kill(cut_node, "partition");
    let split = until(
        &t,
        &name,
        "a second copy elsewhere",
        Duration::from_secs(120),
        |r| r["deploy"]["state"] == "duplicate" && r["deploy"]["running"] == 1,
    );
    let text = split["deploy"]["text"].as_str().unwrap_or_default();
    assert!(
        text.contains(&format!(
            "possible duplicate: a copy may still run on {cut} ("
        )),
        "{text}"
    );
    assert!(has_node(&split, &cut, true), "{split}");
    // The warning is real: the cut-off node still runs its copy.
    let service = format!("{prefix}_srv-{name}");
    let still = h.docker_on(
        cut_node,
        &[
            "ps",
            "-q",
            "--filter",
            &format!("label=com.docker.swarm.service.name={service}"),
        ],
    );
    assert!(!still.trim().is_empty(), "no copy left on {cut}");
}

#[test]
fn a_manager_restart_does_not_reset_uptime() {
    let Some(h) = Harness::take("faults::a_manager_restart_does_not_reset_uptime") else {
        return;
    };
    demo_image();
    h.load_image(DEMO_IMAGE);
    let prefix = crate::docker::unique_prefix("mnm");
    let _stack = HarnessStack(&h, prefix.clone());
    let t = TestContext::new();
    let name = format!("{prefix}a");
    deployed_iocs(&t, &prefix, std::slice::from_ref(&name));
    let before = until(
        &t,
        &name,
        "the IOC running",
        Duration::from_secs(120),
        running_on_a_ready_node,
    );
    let since = before["deploy"]["running_since"].clone();
    assert!(since.is_string(), "{before}");
    // Old enough that an age counted from a refreshed status would differ.
    std::thread::sleep(Duration::from_secs(8));

    let restarted = Instant::now();
    h.kill(0, "crash");
    h.start(0);
    let after = until(
        &t,
        &name,
        "the panel after the restart",
        Duration::from_secs(90),
        running_on_a_ready_node,
    );
    assert_eq!(after["deploy"]["running_since"], since, "{after}");
    let text = after["deploy"]["text"].as_str().unwrap_or_default();
    let elapsed = restarted.elapsed().as_secs();
    assert!(
        !text.starts_with("Running less than a second ago")
            && !text.starts_with("Running 1 second ago")
            && !(2..=elapsed).any(|s| text.starts_with(&format!("Running {s} seconds ago"))),
        "the age counts from before the restart ({elapsed} s ago): {text}"
    );
    // What made the old count wrong: the restart refreshed the task's status time.
    let task = h.docker(&[
        "service",
        "ps",
        "-q",
        "--no-trunc",
        "--filter",
        "desired-state=running",
        &format!("{prefix}_srv-{name}"),
    ]);
    let stamp = h.docker(&[
        "inspect",
        "--format",
        "{{.Status.Timestamp.Unix}} {{.CreatedAt.Unix}}",
        task.trim(),
    ]);
    eprintln!("task status and creation time after the restart: {stamp}");
}
