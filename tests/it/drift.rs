//! What the panel says when the deployed service is not what its file says, or
//! cannot run: drift after a change that was not deployed, an update the engine
//! rolled back, and a task the scheduler cannot place. Single-node swarm.

use std::time::Duration;

use crate::TestContext;
use crate::deploy::exported_ioc;
use crate::docker::{StackGuard, docker_ready, swarm_context, unique_prefix};
use crate::e2e::{DEMO_IMAGE, demo_image};
use crate::status::{run, wait_for};

/// The panel as JSON, asked again while the engine is slow to answer in 2 s.
pub(crate) fn panel(t: &TestContext) -> serde_json::Value {
    let mut value = serde_json::Value::Null;
    wait_for("an answer from the engine", Duration::from_secs(30), || {
        let (code, out, err) = run(t, &["list", "-p", "--format", "json"], &[]);
        if code != 0 {
            return Err(err);
        }
        value = serde_json::from_str(&out).map_err(|e| e.to_string())?;
        if value["iocs"][0]["deploy"]["state"] == "unknown" {
            Err(out)
        } else {
            Ok(())
        }
    });
    value
}

pub(crate) fn row(panel: &serde_json::Value, name: &str) -> serde_json::Value {
    panel["iocs"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["name"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("no row for {name}: {panel}"))
}

#[test]
fn a_memory_limit_changed_but_not_deployed_is_drift_with_the_field_named() {
    if !docker_ready("drift::a_memory_limit_changed_but_not_deployed_is_drift_with_the_field_named")
    {
        return;
    }
    let prefix = unique_prefix("mem");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    exported_ioc(&t, "mem");
    t.ok(&["service", "mem", "--deploy", "--detach"]);
    let first = row(&panel(&t), "mem");
    assert_eq!(
        first["service_consistency"]["consistency"], "consistent",
        "{first}"
    );
    let check = t.ok(&["service", "mem", "--check-deploy", "--exit-code"]);
    assert_eq!(check, format!("mem ({prefix}_srv-mem): consistent\n"));

    // The file changes (exec --deploy writes it), the service does not.
    t.ok(&["set", "mem", "-s", "deploy", "-o", "memory-limit=512M"]);
    t.ok(&["exec", "mem", "--deploy"]);
    let drifted = row(&panel(&t), "mem");
    assert_eq!(
        drifted["service_consistency"]["consistency"], "drifted",
        "{drifted}"
    );
    assert_eq!(
        drifted["service_consistency"]["fields"][0]["field"],
        "resources.Limits.MemoryBytes"
    );
    let text = t.ok(&["list", "-p", "-l", "mem"]);
    assert!(
        text.lines().nth(1).is_some_and(|l| l.ends_with("drifted")),
        "{text}"
    );
    assert_eq!(t.ok(&["list", "consistency=drifted"]), "mem\n");

    let (code, out, err) = run(&t, &["service", "mem", "--check-deploy"], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        format!(
            "mem ({prefix}_srv-mem): drifted\n  resources.Limits.MemoryBytes: file 512MiB, deployed 1GiB\n"
        )
    );
    let (code, _, _) = run(
        &t,
        &["service", "mem", "--check-deploy", "--exit-code"],
        &[],
    );
    assert_eq!(code, 4);

    t.ok(&["service", "mem", "--update", "--detach"]);
    let again = row(&panel(&t), "mem");
    assert_eq!(
        again["service_consistency"]["consistency"], "consistent",
        "{again}"
    );
}

#[test]
fn an_image_update_the_engine_rolled_back_shows_drifted_with_its_message() {
    if !docker_ready("drift::an_image_update_the_engine_rolled_back_shows_drifted_with_its_message")
    {
        return;
    }
    demo_image();
    let prefix = unique_prefix("rb");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    // PV names unique to this run: IOCs on the host network answer every search.
    let ioc = format!("{prefix}r");
    crate::e2e::ramper_ioc(&t, &ioc);
    t.ok(&["service", &ioc, "--deploy", "--detach"]);
    wait_for("the IOC running", Duration::from_secs(90), || {
        let r = row(&panel(&t), &ioc);
        if r["deploy"]["state"] == "running" {
            Ok(())
        } else {
            Err(r.to_string())
        }
    });

    // An image no node has: the new task is rejected and update_config's
    // failure_action rolls the service back to the image that runs.
    t.ok(&["set", &ioc, "-o", "image=iocdock-test/no-such-image:1"]);
    t.ok(&["exec", &ioc, "--gen-swarm-file"]);
    t.ok(&["service", &ioc, "--update", "--detach"]);
    let mut last = serde_json::Value::Null;
    wait_for("the rollback", Duration::from_secs(180), || {
        last = row(&panel(&t), &ioc);
        if last["deploy"]["update"]["state"] == "rollback_completed" {
            Ok(())
        } else {
            Err(last.to_string())
        }
    });
    assert_eq!(
        last["service_consistency"]["consistency"], "drifted",
        "{last}"
    );
    let text = last["deploy"]["text"].as_str().unwrap_or_default();
    assert!(text.contains("; rolled back: \""), "{text}");
    let note = last["service_consistency"]["note"]
        .as_str()
        .unwrap_or_default();
    assert!(
        note.starts_with("the engine rolled back the last update"),
        "{note}"
    );
    let check = t.ok(&["service", &ioc, "--check-deploy"]);
    assert!(
        check.contains(&format!(
            "  image: file iocdock-test/no-such-image:1, deployed {DEMO_IMAGE}"
        )),
        "{check}"
    );
    assert!(
        check.contains("  the engine rolled back the last update"),
        "{check}"
    );
}

#[test]
fn a_task_no_node_can_take_is_pending_with_the_schedulers_reason() {
    if !docker_ready("drift::a_task_no_node_can_take_is_pending_with_the_schedulers_reason") {
        return;
    }
    let prefix = unique_prefix("pend");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    exported_ioc(&t, "nowhere");
    t.ok(&[
        "set",
        "nowhere",
        "-s",
        "deploy",
        "-o",
        "constraints=node.labels.iocdock-test-nowhere==yes",
    ]);
    t.ok(&["exec", "nowhere", "--deploy"]);
    // No node has the label: refused, unless forced.
    let (code, _, err) = run(&t, &["service", "nowhere", "--deploy", "--detach"], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("IOC nowhere: no node can run it: the constraint \"node.labels.iocdock-test-nowhere==yes\""),
        "{err}"
    );
    t.ok(&["service", "nowhere", "--deploy", "--detach", "--force"]);
    let mut digest = String::new();
    wait_for("the scheduler's verdict", Duration::from_secs(60), || {
        digest = t.ok(&["swarm", "--show-digest", "--service-type", "ioc"]);
        if digest.contains("no suitable node") {
            Ok(())
        } else {
            Err(digest.clone())
        }
    });
    let line = digest
        .lines()
        .find(|l| l.starts_with("nowhere "))
        .unwrap_or_else(|| panic!("{digest}"));
    assert!(
        line.contains(" 0/1 "),
        "never 1/1 while nothing runs: {line}"
    );
    assert!(
        line.contains("Pending") && line.contains("scheduling constraints not satisfied"),
        "{line}"
    );
    let r = row(&panel(&t), "nowhere");
    assert_eq!(r["deploy"]["state"], "pending", "{r}");
    assert_eq!(r["deploy"]["running"], 0);
    assert_eq!(t.ok(&["list", "deploy=pending"]), "nowhere\n");
    let (code, _, _) = run(&t, &["list", "-p", "--check"], &[]);
    assert_eq!(code, 4);
}
