//! Node operations on the multi-node harness (one manager, workers node1 and node2):
//! labels set by iocdock that place an IOC, the placement check before a deploy,
//! drain and activate, and rebalance after a lost worker returns. The IOCs are real
//! EPICS IOCs of the demo image, without the health check so they run at once.

use std::time::Duration;

use crate::TestContext;
use crate::e2e::{DEMO_IMAGE, demo_image, ioc_from_template};
use crate::multinode::{Harness, ON_MANAGER};
use crate::status::{run, wait_for};

/// Gives the nodes back as the harness had them when dropped: every node active, the
/// test's labels gone (declare it after the harness).
struct Nodes<'a> {
    h: &'a Harness,
    labels: Vec<String>,
}

impl Drop for Nodes<'_> {
    fn drop(&mut self) {
        for node in ["node0", "node1", "node2"] {
            let _ = self
                .h
                .try_docker_on(0, &["node", "update", "--availability", "active", node]);
            for label in &self.labels {
                let _ = self
                    .h
                    .try_docker_on(0, &["node", "update", "--label-rm", label, node]);
            }
        }
    }
}

/// An exported IOC of the demo image, placed by `constraints` (else the default,
/// the workers).
fn ioc(t: &TestContext, name: &str, constraints: Option<&str>) {
    ioc_from_template(t, name, DEMO_IMAGE, name);
    let mut options = vec!["health-check=false".to_string()];
    if let Some(c) = constraints {
        options.push(format!("constraints={c}"));
    }
    let mut args = vec!["set", name, "-s", "deploy", "-o"];
    args.extend(options.iter().map(String::as_str));
    t.ok(&args);
    t.ok(&["exec", name, "--deploy"]);
}

fn iocdock(t: &TestContext, args: &[&str]) -> (i32, String, String) {
    run(t, args, &ON_MANAGER)
}

/// The node the service's task runs on, when one runs.
fn running_on(h: &Harness, service: &str) -> Option<String> {
    let tasks = h.try_docker_on(
        0,
        &[
            "service",
            "ps",
            service,
            "--filter",
            "desired-state=running",
            "--format",
            "{{.Node}} {{.CurrentState}}",
        ],
    )?;
    tasks
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("Running"))
        .and_then(|l| l.split_whitespace().next())
        .map(str::to_string)
}

fn wait_running_on(h: &Harness, service: &str, node: &str) {
    wait_for(
        &format!("{service} running on {node}"),
        Duration::from_secs(120),
        || match running_on(h, service) {
            Some(n) if n == node => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
}

fn availability(h: &Harness, node: &str) -> String {
    h.docker(&[
        "node",
        "inspect",
        node,
        "--format",
        "{{.Spec.Availability}}",
    ])
    .trim()
    .to_string()
}

fn deployed(h: &Harness, service: &str) -> bool {
    h.try_docker_on(0, &["service", "inspect", service])
        .is_some()
}

#[test]
fn labels_set_by_iocdock_place_a_pinned_ioc() {
    let Some(h) = Harness::take("nodes::labels_set_by_iocdock_place_a_pinned_ioc") else {
        return;
    };
    demo_image();
    h.load_image(DEMO_IMAGE);
    let stack = h.stack("mnlb");
    let key = format!("{}rack", stack.prefix());
    let other = format!("{key}z");
    let _nodes = Nodes {
        h: &h,
        labels: vec![key.clone(), other.clone()],
    };
    let t = stack.context();

    // A label without a value, or with an empty key, is a usage error naming it.
    for bad in ["rack", "=a"] {
        let (code, out, err) = iocdock(&t, &["swarm", "--label-node", "node2", "a=1", bad]);
        assert_eq!(code, 2, "{bad}: {err}");
        assert!(out.is_empty(), "{out}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with(&format!("error: --label-node: \"{bad}\"")),
            "{err}"
        );
    }
    let (code, _, err) = iocdock(&t, &["swarm", "--label-node", "node9", "a=1"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("no node \"node9\" in the swarm (nodes: node0, node1, node2)"),
        "{err}"
    );

    let name = format!("{}p", stack.prefix());
    let service = format!("{}_srv-{name}", stack.prefix());
    ioc(&t, &name, Some(&format!("node.labels.{key}==b")));
    // No node has the label yet.
    let (code, _, err) = iocdock(&t, &["service", &name, "--deploy", "--detach"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!(
            "IOC {name}: no node can run it: the constraint \"node.labels.{key}==b\" matches none of the ready, active nodes"
        )),
        "{err}"
    );
    assert!(!deployed(&h, &service));

    let (code, out, err) = iocdock(
        &t,
        &[
            "swarm",
            "--label-node",
            "node2",
            &format!("{key}=b"),
            &format!("{other}=x"),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("node2: "), "{out}");
    assert!(
        out.contains(&format!("{key}=b")) && out.contains(&format!("{other}=x")),
        "{out}"
    );
    // What the engine stores.
    let stored: serde_json::Value = serde_json::from_str(&h.docker(&[
        "node",
        "inspect",
        "node2",
        "--format",
        "{{json .Spec.Labels}}",
    ]))
    .unwrap();
    assert_eq!(stored[&key], "b", "{stored}");
    assert_eq!(stored[&other], "x", "{stored}");

    let (code, _, err) = iocdock(&t, &["service", &name, "--deploy", "--detach"]);
    assert_eq!(code, 0, "{err}");
    wait_running_on(&h, &service, "node2");

    // Removing: by the key alone; a key the node lacks changes nothing.
    let (code, out, err) = iocdock(&t, &["swarm", "--unlabel-node", "node2", &other]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("{key}=b")) && !out.contains(&other),
        "{out}"
    );
    let (code, _, err) = iocdock(&t, &["swarm", "--unlabel-node", "node2", &other]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("node node2 has no label \"{other}\"")),
        "{err}"
    );
    let (code, _, err) = iocdock(&t, &["swarm", "--unlabel-node", "node2", "k=v"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("give the key only"), "{err}");
    let stored = h.docker(&[
        "node",
        "inspect",
        "node2",
        "--format",
        "{{json .Spec.Labels}}",
    ]);
    assert!(
        stored.contains(&key) && !stored.contains(&other),
        "{stored}"
    );
}

#[test]
fn an_impossible_constraint_is_refused_before_deploy_unless_forced() {
    let Some(h) =
        Harness::take("nodes::an_impossible_constraint_is_refused_before_deploy_unless_forced")
    else {
        return;
    };
    demo_image();
    h.load_image(DEMO_IMAGE);
    let stack = h.stack("mnim");
    let t = stack.context();
    let prefix = stack.prefix().to_string();
    let nowhere = format!("{prefix}n");
    let fine = format!("{prefix}f");
    let constraint = format!("node.labels.{prefix}none==yes");
    ioc(&t, &nowhere, Some(&constraint));
    ioc(&t, &fine, None);
    let nowhere_service = format!("{prefix}_srv-{nowhere}");
    let fine_service = format!("{prefix}_srv-{fine}");
    let refusal = format!(
        "error: IOC {nowhere}: no node can run it: the constraint \"{constraint}\" matches none of the ready, active nodes (node0, node1, node2); not deployed (--force deploys it anyway)"
    );

    let (code, _, err) = iocdock(&t, &["service", &nowhere, "--deploy", "--detach"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.lines().any(|l| l == refusal), "{err}");
    assert!(!deployed(&h, &nowhere_service));

    // Deploying all: the IOC that can run is deployed, the other is not.
    let (code, _, err) = iocdock(&t, &["swarm", "--deploy-all-iocs", "--detach"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.lines().any(|l| l == refusal), "{err}");
    assert!(!deployed(&h, &nowhere_service));
    assert!(deployed(&h, &fine_service));

    let (code, _, err) = iocdock(&t, &["service", &nowhere, "--show-info", "--force"]);
    assert_eq!(code, 2, "{err}");

    let (code, _, err) = iocdock(
        &t,
        &["service", &nowhere, "--deploy", "--detach", "--force"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!(
            "warning: IOC {nowhere}: the constraint \"{constraint}\""
        )),
        "{err}"
    );
    assert!(err.contains("deployed anyway (--force)"), "{err}");
    wait_for("the forced IOC pending", Duration::from_secs(60), || {
        let tasks = h.docker(&[
            "service",
            "ps",
            &nowhere_service,
            "--format",
            "{{.CurrentState}} {{.Error}}",
        ]);
        if tasks.starts_with("Pending") && tasks.contains("no suitable node") {
            Ok(())
        } else {
            Err(tasks)
        }
    });
}

#[test]
fn drain_moves_a_workers_iocs_and_reports_where_then_activate_takes_tasks_again() {
    let Some(h) = Harness::take(
        "nodes::drain_moves_a_workers_iocs_and_reports_where_then_activate_takes_tasks_again",
    ) else {
        return;
    };
    demo_image();
    h.load_image(DEMO_IMAGE);
    let stack = h.stack("mndr");
    let _nodes = Nodes {
        h: &h,
        labels: Vec::new(),
    };
    let t = stack.context();
    let prefix = stack.prefix().to_string();
    let (a, b, pinned) = (
        format!("{prefix}a"),
        format!("{prefix}b"),
        format!("{prefix}p"),
    );
    let service = |ioc: &str| format!("{prefix}_srv-{ioc}");
    ioc(&t, &a, None);
    ioc(&t, &b, None);
    ioc(&t, &pinned, Some("node.hostname==node1"));

    // node2 drained first, so every IOC starts on node1. Nothing of this stack runs
    // there: nothing to ask, nothing to report.
    let (code, out, err) = iocdock(&t, &["swarm", "--drain-node", "node2"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("node2: availability drain"), "{err}");
    assert_eq!(availability(&h, "node2"), "drain");
    let (code, _, err) = iocdock(&t, &["swarm", "--deploy-all-iocs", "--detach"]);
    assert_eq!(code, 0, "{err}");
    for ioc in [&a, &b, &pinned] {
        wait_running_on(&h, &service(ioc), "node1");
    }
    // A drained node takes no task: an IOC pinned to it is refused.
    let late = format!("{prefix}l");
    ioc(&t, &late, Some("node.hostname==node2"));
    let (code, _, err) = iocdock(&t, &["service", &late, "--deploy", "--detach"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("the constraint \"node.hostname==node2\" matches none of the ready, active nodes (node0, node1)"),
        "{err}"
    );

    let (code, out, err) = iocdock(&t, &["swarm", "--activate-node", "node2"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("node2: availability active"), "{err}");
    assert_eq!(availability(&h, "node2"), "active");

    // Without a terminal, moving IOCs needs --yes; nothing changes.
    let (code, _, err) = iocdock(&t, &["swarm", "--drain-node", "node1"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(availability(&h, "node1"), "active");

    let (code, out, err) = iocdock(&t, &["swarm", "--drain-node", "node1", "--yes"]);
    assert_eq!(code, 1, "the pinned IOC cannot move: {err}");
    assert_eq!(
        out,
        format!("{a}: node1 -> node2\n{b}: node1 -> node2\n"),
        "{err}"
    );
    assert!(
        err.lines().any(|l| l.starts_with(&format!(
            "error: {pinned}: cannot leave node1: the constraint \"node.hostname==node1\" matches none of the ready, active nodes"
        ))),
        "{err}"
    );
    assert_eq!(availability(&h, "node1"), "drain");
    // As reported.
    assert_eq!(running_on(&h, &service(&a)).as_deref(), Some("node2"));
    assert_eq!(running_on(&h, &service(&b)).as_deref(), Some("node2"));
    assert_eq!(running_on(&h, &service(&pinned)), None);

    // Active again, node1 takes the IOC that waited for it.
    let (code, _, err) = iocdock(&t, &["swarm", "--activate-node", "node1"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(availability(&h, "node1"), "active");
    wait_running_on(&h, &service(&pinned), "node1");

    // --detach: drained at once, the IOC that cannot leave still named.
    let (code, out, err) = iocdock(&t, &["swarm", "--drain-node", "node1", "--yes", "--detach"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("node1: availability drain"), "{err}");
    assert!(
        err.contains(&format!("error: {pinned}: cannot leave node1")),
        "{err}"
    );
    assert_eq!(availability(&h, "node1"), "drain");
}

#[test]
fn rebalance_spreads_the_iocs_again_after_a_killed_worker_returns() {
    let Some(h) =
        Harness::take("nodes::rebalance_spreads_the_iocs_again_after_a_killed_worker_returns")
    else {
        return;
    };
    demo_image();
    h.load_image(DEMO_IMAGE);
    let stack = h.stack("mnrb");
    let _nodes = Nodes {
        h: &h,
        labels: Vec::new(),
    };
    let t = stack.context();
    let prefix = stack.prefix().to_string();
    let names = [format!("{prefix}a"), format!("{prefix}b")];
    let services: Vec<String> = names.iter().map(|n| format!("{prefix}_srv-{n}")).collect();
    for name in &names {
        ioc(&t, name, None);
    }
    let (code, _, err) = iocdock(&t, &["swarm", "--deploy-all-iocs", "--detach"]);
    assert_eq!(code, 0, "{err}");
    let mut first = String::new();
    wait_for("the IOCs running", Duration::from_secs(120), || {
        match (running_on(&h, &services[0]), running_on(&h, &services[1])) {
            (Some(n), Some(_)) => {
                first = n;
                Ok(())
            }
            other => Err(format!("{other:?}")),
        }
    });
    let lost = first;
    let kept = if lost == "node1" { "node2" } else { "node1" };
    h.kill(lost.trim_start_matches("node").parse().unwrap(), "crash");
    for service in &services {
        wait_running_on(&h, service, kept);
    }
    h.start(lost.trim_start_matches("node").parse().unwrap());

    // Moving IOCs restarts them: without a terminal it needs --yes.
    let (code, out, err) = iocdock(&t, &["swarm", "--rebalance"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty() && err.contains("--yes"), "{out}{err}");

    let (code, out, err) = iocdock(&t, &["swarm", "--rebalance", "--yes"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(
        names
            .iter()
            .any(|n| lines[0] == format!("{n}: {kept} -> {lost}")),
        "{out}"
    );
    assert!(
        err.contains("IOC services per node: node1 1, node2 1"),
        "{err}"
    );
    let mut placed: Vec<String> = services.iter().filter_map(|s| running_on(&h, s)).collect();
    placed.sort();
    assert_eq!(placed, ["node1", "node2"]);

    // Spread already: nothing moves, nothing to confirm.
    let (code, out, err) = iocdock(&t, &["swarm", "--rebalance"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("nothing to move"), "{err}");
    assert!(
        err.contains("IOC services per node: node1 1, node2 1"),
        "{err}"
    );
}
