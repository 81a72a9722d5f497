//! `service NAME --restart`, `--stop` and `--start` on the real swarm: what changes in
//! the spec the engine stores (read back raw), the tasks, and what `list -p` and the
//! digest say of a stopped IOC.

use std::time::Duration;

use crate::TestContext;
use crate::deploy::{exported_ioc, service};
use crate::docker::{StackGuard, docker, docker_ready, swarm_context, unique_prefix};
use crate::e2e::{demo_image, ramper_ioc};
use crate::status::{run, wait_for};

fn force_update(spec: &serde_json::Value) -> u64 {
    spec["TaskTemplate"]["ForceUpdate"].as_u64().unwrap_or(0)
}

fn replicas(spec: &serde_json::Value) -> u64 {
    spec["Mode"]["Replicated"]["Replicas"]
        .as_u64()
        .expect("a replicated service")
}

/// The spec without its ForceUpdate counter: what a restart must leave as it was.
fn without_force_update(spec: &serde_json::Value) -> serde_json::Value {
    let mut spec = spec.clone();
    if let Some(task) = spec["TaskTemplate"].as_object_mut() {
        task.remove("ForceUpdate");
    }
    spec
}

/// The tasks of service `name` that should run, as (ID, current state).
fn current_tasks(name: &str) -> Vec<(String, String)> {
    docker(&[
        "service",
        "ps",
        "--no-trunc",
        "--filter",
        "desired-state=running",
        "--format",
        "{{.ID}} {{.CurrentState}}",
        name,
    ])
    .lines()
    .filter_map(|l| l.split_once(' '))
    .map(|(id, state)| (id.to_string(), state.to_string()))
    .collect()
}

/// Every task of service `name`, history included.
fn all_tasks(name: &str) -> Vec<String> {
    docker(&["service", "ps", "--no-trunc", "-q", name])
        .lines()
        .map(str::to_string)
        .collect()
}

/// The one running task of `name`, waited for.
fn running_task(name: &str, not: Option<&str>) -> String {
    let mut found = String::new();
    wait_for(
        &format!("a running task of {name}"),
        Duration::from_secs(150),
        || {
            let tasks = current_tasks(name);
            match tasks
                .iter()
                .find(|(id, state)| state.starts_with("Running") && Some(id.as_str()) != not)
            {
                Some((id, _)) => {
                    found = id.clone();
                    Ok(())
                }
                None => Err(format!("{tasks:?}")),
            }
        },
    );
    found
}

/// Runs iocdock expecting `code` and a one-line stderr that contains every `part`.
fn one_line_error(t: &TestContext, args: &[&str], code: i32, parts: &[&str]) {
    let (got, _, stderr) = run(t, args, &[]);
    assert_eq!(got, code, "{args:?}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
    for part in parts {
        assert!(stderr.contains(part), "{args:?}: {part:?} not in {stderr}");
    }
}

/// A real EPICS IOC, so its task keeps running until the restart replaces it.
#[test]
fn restart_replaces_the_task_and_only_bumps_force_update() {
    if !docker_ready("service_verbs::restart_replaces_the_task_and_only_bumps_force_update") {
        return;
    }
    demo_image();
    let prefix = unique_prefix("rst");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    let ioc = format!("{prefix}r");
    ramper_ioc(&t, &ioc);
    let name = format!("{prefix}_srv-{ioc}");
    // A deploy that creates the service waits until its IOC runs.
    let (code, _, stderr) = run(&t, &["service", &ioc, "--deploy"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with(&format!("{name}: 1/1 running (healthy) on "))),
        "--deploy waits until the IOC runs: {stderr}"
    );
    let first = running_task(&name, None);
    let (id, version, before) = service(&name).expect("deployed");

    let (code, _, stderr) = run(&t, &["service", &ioc, "--restart"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!("restarting service {name}")),
        "{stderr}"
    );
    // The command returned once the new copy ran: no waiting needed here.
    let now_running: Vec<(String, String)> = current_tasks(&name)
        .into_iter()
        .filter(|(_, state)| state.starts_with("Running"))
        .collect();
    assert!(
        now_running.len() == 1 && now_running[0].0 != first,
        "{now_running:?}"
    );
    assert!(
        stderr.lines().any(
            |l| l.starts_with(&format!("{name}: 1/1 running (healthy) on "))
                && l.contains(", after ")
        ),
        "{stderr}"
    );
    let (same_id, restarted, after) = service(&name).expect("still deployed");
    assert_eq!(same_id, id, "the service stays");
    assert!(restarted > version);
    assert_eq!(force_update(&after), force_update(&before) + 1);
    assert_eq!(
        without_force_update(&after),
        without_force_update(&before),
        "nothing but ForceUpdate changes"
    );
    // The engine replaces the task: a new one runs, the old one stays in the history.
    let second = running_task(&name, Some(&first));
    assert_ne!(second, first);
    assert!(all_tasks(&name).contains(&first), "the history keeps it");
    let task = docker(&["inspect", "--format", "{{.Spec.ForceUpdate}}", &second]);
    assert_eq!(task.trim(), force_update(&after).to_string());
    // Still what its file deploys, and the rolling update did not roll back.
    let (_, _, now) = service(&name).expect("still deployed");
    assert_eq!(force_update(&now), force_update(&after));
    let check = t.ok(&["service", &ioc, "--check-deploy"]);
    assert!(check.contains(": consistent"), "{check}");

    // A rollback to the first revision waits for its rolling restart as well.
    t.ok(&["set", &ioc, "-s", "deploy", "-o", "memory-limit=512M"]);
    t.ok(&["exec", &ioc, "--deploy"]);
    // An update restarts it and waits for the new copy as well.
    let (code, _, stderr) = run(&t, &["service", &ioc, "--update"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with(&format!("{name}: 1/1 running (healthy) on "))),
        "--update waits until the IOC runs: {stderr}"
    );
    let (code, _, stderr) = run(&t, &["service", &ioc, "--rollback"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("rolled back to revision 1"), "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with(&format!("{name}: 1/1 running (healthy) on "))),
        "--rollback waits until the IOC runs: {stderr}"
    );
    let (_, _, rolled_back) = service(&name).expect("still deployed");
    assert_eq!(
        rolled_back["TaskTemplate"]["Resources"]["Limits"]["MemoryBytes"].as_u64(),
        Some(1 << 30)
    );
}

#[test]
fn stop_and_start_keep_the_service_and_list_shows_stopped() {
    if !docker_ready("service_verbs::stop_and_start_keep_the_service_and_list_shows_stopped") {
        return;
    }
    let prefix = unique_prefix("stp");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    // A real IOC that keeps running, so --start has a copy to wait for.
    demo_image();
    let ioc = format!("{prefix}h");
    ramper_ioc(&t, &ioc);
    t.ok(&["service", &ioc, "--deploy", "--detach"]);
    let name = format!("{prefix}_srv-{ioc}");
    let (id, _, deployed) = service(&name).expect("deployed");
    assert_eq!(replicas(&deployed), 1);
    running_task(&name, None);

    let (code, _, stderr) = run(&t, &["service", &ioc, "--stop"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!("stopped service {name} (0 of 1 replica")),
        "{stderr}"
    );
    let (same_id, _, stopped) = service(&name).expect("the service stays");
    assert_eq!(same_id, id);
    assert_eq!(replicas(&stopped), 0);
    assert_eq!(force_update(&stopped), force_update(&deployed));
    assert!(t.service_file(&ioc).is_file());
    assert!(t.run_dir(&ioc).join("startup").is_dir());

    // Stopped on purpose: said as such, consistent, and no --check failure.
    let mut panel = String::new();
    wait_for("list -p to say Stopped", Duration::from_secs(60), || {
        let (_, out, err) = run(&t, &["list", "-p", "-l", &ioc], &[]);
        panel = out.clone();
        let row = out
            .lines()
            .find(|l| l.starts_with(&format!("{ioc} ")))
            .unwrap_or("");
        if row.contains(" Stopped ") || row.trim_end().ends_with("Stopped") {
            Ok(())
        } else {
            Err(format!("{out}{err}"))
        }
    });
    assert!(panel.contains("consistent"), "{panel}");
    assert!(!panel.contains("drifted"), "{panel}");
    let (code, _, stderr) = run(&t, &["list", "-p", "--check", "-l", &ioc], &[]);
    assert_eq!(code, 0, "a stopped IOC is no alert: {stderr}");
    let listed = t.ok(&["list", "deploy=stopped"]);
    assert!(listed.contains(&ioc), "{listed}");
    let digest = t.ok(&["swarm", "--show-digest", "--service-type", "ioc"]);
    let row = digest
        .lines()
        .find(|l| l.starts_with(&format!("{ioc} ")))
        .unwrap_or_else(|| panic!("{digest}"));
    assert!(row.contains(" 0/0 ") && row.contains("Stopped"), "{digest}");
    let check = t.ok(&["service", &ioc, "--check-deploy", "--exit-code"]);
    assert!(check.contains(": consistent"), "{check}");

    // Again: nothing to do, said so; a restart of a stopped IOC is refused.
    let (code, _, stderr) = run(&t, &["service", &ioc, "--stop"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("is already stopped"), "{stderr}");
    one_line_error(
        &t,
        &["service", &ioc, "--restart"],
        1,
        &[
            &format!("ioc service \"{ioc}\" is stopped (0 replicas): nothing to restart"),
            "--start",
        ],
    );
    let (_, _, still) = service(&name).expect("the service stays");
    assert_eq!(force_update(&still), force_update(&deployed));

    let (code, _, stderr) = run(&t, &["service", &ioc, "--start"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!("started service {name} (1 replica")),
        "{stderr}"
    );
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with(&format!("{name}: 1/1 running (healthy) on "))),
        "--start waits until the IOC runs: {stderr}"
    );
    let (same_id, _, started) = service(&name).expect("the service stays");
    assert_eq!(same_id, id, "--start keeps the service ID");
    // And the IOC's revisions: still the one its deploy recorded, no new one.
    let history = t.ok(&["service", &ioc, "--history"]);
    let revisions: Vec<&str> = history
        .lines()
        .filter(|l| l.starts_with("revision "))
        .collect();
    assert_eq!(revisions.len(), 1, "{history}");
    assert_eq!(replicas(&started), 1);
    assert_eq!(force_update(&started), force_update(&deployed));
    let (code, _, stderr) = run(&t, &["service", &ioc, "--start"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("is already running (1 replica wanted); nothing to start"),
        "{stderr}"
    );
    let panel = t.ok(&["list", "-p", "-l", &ioc]);
    assert!(!panel.contains("Stopped"), "{panel}");
}

#[test]
fn bad_combinations_and_names_are_one_line_errors() {
    let prefix = unique_prefix("bad");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    // A usage error: clap's one line, then its usage hint.
    let (code, _, stderr) = run(&t, &["service", "x", "--stop", "--start"], &[]);
    assert_eq!(code, 2, "{stderr}");
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.contains("'--stop' cannot be used with '--start'"),
        "{stderr}"
    );
    for verb in ["--restart", "--stop", "--start"] {
        one_line_error(
            &t,
            &["service", "nosuch", verb],
            1,
            &["no managed service named \"nosuch\""],
        );
    }
    if !docker_ready("service_verbs::bad_combinations_and_names_are_one_line_errors") {
        return;
    }
    exported_ioc(&t, "idle");
    let name = format!("{prefix}_srv-idle");
    for verb in ["--restart", "--stop", "--start"] {
        one_line_error(
            &t,
            &["service", "idle", verb],
            1,
            &[&format!(
                "ioc service \"idle\" is not deployed ({name} does not exist); deploy it with --deploy"
            )],
        );
    }
    assert!(service(&name).is_none(), "nothing was created");
}

/// A restart the engine rolls back (the IOC's update_config says so when its new copy
/// fails) is an error; `--detach` does not wait to find out.
#[test]
fn a_restart_that_fails_is_an_error_unless_detached() {
    if !docker_ready("service_verbs::a_restart_that_fails_is_an_error_unless_detached") {
        return;
    }
    let prefix = unique_prefix("rbk");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    // On the test image the IOC's executable exits at once: no copy ever keeps running.
    exported_ioc(&t, "crashy");
    t.ok(&["service", "crashy", "--deploy", "--detach"]);
    let name = format!("{prefix}_srv-crashy");

    let (code, _, stderr) = run(&t, &["service", "crashy", "--restart", "--detach"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "only the restart line: {stderr}");

    let (code, _, stderr) = run(&t, &["service", "crashy", "--restart"], &[]);
    assert_eq!(code, 1, "{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].starts_with(&format!("error: {name}: the engine ")),
        "{stderr}"
    );
}
