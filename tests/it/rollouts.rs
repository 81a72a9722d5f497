//! Rollouts in batches on the real swarm: `update-image` and `swarm
//! --update-deployed-services` change at most `rollout_batch_size` IOC services at
//! once, and the first batch that fails stops the rollout with the rest untouched.

use std::fs;

use chrono::{DateTime, Utc};

use crate::TestContext;
use crate::deploy::service;
use crate::docker::{StackGuard, docker, docker_ready, unique_prefix};
use crate::e2e::{DEMO_IMAGE, demo_image, ramper_ioc};
use crate::status::run;

/// A swarm context whose IOCs check their health often, so a batch runs (healthy)
/// within seconds, and whose rollouts go `batch` IOC services at a time.
fn context(prefix: &str, batch: u32) -> TestContext {
    let t = TestContext::new();
    t.write_settings(&format!(
        "prefix_stack_name: {prefix}\nioc_default_constraints: [node.role==manager]\n\
         ioc_health_interval: 3s\nioc_health_timeout: 10s\nioc_health_retries: 3\n\
         ioc_health_start_period: 30s\nrollout_batch_size: {batch}\n"
    ));
    t
}

/// The image of service `name` as the engine stores it (any digest cut off).
fn engine_image(name: &str) -> String {
    let (_, _, spec) = service(name).expect("deployed");
    let image = spec["TaskTemplate"]["ContainerSpec"]["Image"]
        .as_str()
        .expect("image");
    image.split('@').next().unwrap_or(image).to_string()
}

/// The `image` line of an IOC's ioc.ini.
fn ini_image(t: &TestContext, ioc: &str) -> String {
    let ini = fs::read_to_string(t.repository().join(ioc).join("ioc.ini")).expect("ioc.ini");
    ini.lines()
        .find(|l| l.trim_start().starts_with("image"))
        .and_then(|l| l.split_once('='))
        .map(|(_, v)| v.trim().to_string())
        .expect("an image line")
}

/// Deploys ramper IOCs `names` and waits (the command does) until they run.
fn deployed_rampers(t: &TestContext, names: &[String]) {
    for ioc in names {
        ramper_ioc(t, ioc);
    }
    let (code, _, err) = run(t, &["swarm", "--deploy-all-iocs"], &[]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_bad_image_stops_at_the_first_failed_batch_and_leaves_the_rest() {
    if !docker_ready("rollouts::a_bad_image_stops_at_the_first_failed_batch_and_leaves_the_rest") {
        return;
    }
    demo_image();
    let prefix = unique_prefix("bad");
    let _guard = StackGuard(prefix.clone());
    let t = context(&prefix, 2);
    let iocs: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|s| format!("{prefix}{s}"))
        .collect();
    deployed_rampers(&t, &iocs);
    let services: Vec<String> = iocs.iter().map(|i| format!("{prefix}_srv-{i}")).collect();

    // No registry here: the engine cannot find this tag, so no copy of it starts.
    let mut args = vec!["update-image", ":no-such-tag"];
    args.extend(iocs.iter().map(String::as_str));
    let (code, _, err) = run(&t, &args, &[]);
    assert_eq!(code, 1, "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    for service in &services[..2] {
        assert!(
            errors
                .iter()
                .any(|l| l.starts_with(&format!("error: {service}: the engine "))),
            "{err}"
        );
    }
    assert!(
        errors.contains(
            &format!(
                "error: rollout stopped at the failed batch; not changed: {}",
                iocs[2]
            )
            .as_str()
        ),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "IOC \"{}\": back on image {DEMO_IMAGE} in its files",
            iocs[0]
        )),
        "{err}"
    );
    // The failed batch is rolled back by the engine and its files put back; the IOC
    // after it was never touched.
    for (ioc, service) in iocs.iter().zip(&services) {
        assert_eq!(engine_image(service), DEMO_IMAGE, "{service}");
        assert_eq!(ini_image(&t, ioc), DEMO_IMAGE, "{ioc}");
    }
    assert!(
        !err.contains(&format!("IOC \"{}\": image", iocs[2])),
        "{err}"
    );
}

/// When each new task of `services` was created and when it ran: the time it was
/// starting.
fn starting_windows(services: &[String]) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let time = |v: &serde_json::Value| -> DateTime<Utc> {
        v.as_str()
            .expect("a timestamp")
            .parse::<DateTime<Utc>>()
            .expect("RFC 3339")
    };
    services
        .iter()
        .map(|name| {
            let id = docker(&[
                "service",
                "ps",
                "--no-trunc",
                "-q",
                "--filter",
                "desired-state=running",
                name,
            ]);
            let id = id.lines().next().expect("a current task").to_string();
            let task: serde_json::Value =
                serde_json::from_str(&docker(&["inspect", &id])).expect("task JSON");
            let task = &task[0];
            assert_eq!(task["Status"]["State"], "running", "{task}");
            (time(&task["CreatedAt"]), time(&task["Status"]["Timestamp"]))
        })
        .collect()
}

/// The most windows open at one moment.
fn most_at_once(windows: &[(DateTime<Utc>, DateTime<Utc>)]) -> usize {
    windows
        .iter()
        .map(|(start, _)| {
            windows
                .iter()
                .filter(|(s, e)| s <= start && start < e)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn a_batch_size_of_two_restarts_at_most_two_iocs_at_once() {
    if !docker_ready("rollouts::a_batch_size_of_two_restarts_at_most_two_iocs_at_once") {
        return;
    }
    demo_image();
    let prefix = unique_prefix("two");
    let _guard = StackGuard(prefix.clone());
    let t = context(&prefix, 2);
    // The same image under a second tag the engine finds locally.
    let tag = format!("{prefix}-next");
    let (repo, _) = DEMO_IMAGE.rsplit_once(':').expect("a tag");
    let next = format!("{repo}:{tag}");
    docker(&["tag", DEMO_IMAGE, &next]);
    struct Untag(String);
    impl Drop for Untag {
        fn drop(&mut self) {
            let _ = std::process::Command::new("docker")
                .args(["rmi", &self.0])
                .output();
        }
    }
    let _untag = Untag(next.clone());

    let iocs: Vec<String> = ["a", "b", "c", "d"]
        .iter()
        .map(|s| format!("{prefix}{s}"))
        .collect();
    deployed_rampers(&t, &iocs);
    let services: Vec<String> = iocs.iter().map(|i| format!("{prefix}_srv-{i}")).collect();

    // Names from stdin, as a pipeline gives them.
    let out = t
        .cmd(&["update-image", &format!(":{tag}"), "-"])
        .write_stdin(format!(
            "{}\n{} {}\n{}\n",
            iocs[0], iocs[1], iocs[2], iocs[3]
        ))
        .output()
        .expect("iocdock");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!("batch 1 of 2: {}, {}", iocs[0], iocs[1])),
        "{err}"
    );
    assert!(
        err.contains(&format!("batch 2 of 2: {}, {}", iocs[2], iocs[3])),
        "{err}"
    );
    for (ioc, service) in iocs.iter().zip(&services) {
        assert_eq!(engine_image(service), next, "{service}");
        assert_eq!(ini_image(&t, ioc), next, "{ioc}");
        assert!(
            err.lines()
                .any(|l| l.starts_with(&format!("{service}: 1/1 running (healthy)"))),
            "{err}"
        );
    }
    let windows = starting_windows(&services);
    assert!(most_at_once(&windows) <= 2, "{windows:?}");
    // The second batch started only after the first ran.
    let first_ran = windows[..2].iter().map(|(_, ran)| *ran).max().unwrap();
    let second_created = windows[2..]
        .iter()
        .map(|(created, _)| *created)
        .min()
        .unwrap();
    assert!(first_ran <= second_created, "{windows:?}");

    // A restart of every deployed service goes in the same batches.
    let (code, _, err) = run(&t, &["swarm", "--update-deployed-services", "--yes"], &[]);
    assert_eq!(code, 0, "{err}");
    let windows = starting_windows(&services);
    assert!(most_at_once(&windows) <= 2, "{windows:?}");
}

#[test]
fn update_image_usage_errors_are_one_line_and_exit_2() {
    let t = TestContext::new();
    t.ok(&["create", "one"]);
    for (args, line) in [
        (
            &["update-image", ":", "one"][..],
            "error: update-image: \":\" is not a tag: give :TAG with letters, digits, '_', '.' or '-'",
        ),
        (
            &["update-image", "a b:1", "one"],
            "error: update-image: \"a b:1\" is not an image: give NAME:TAG, or :TAG for a new tag only",
        ),
        (
            &["swarm", "--show-nodes", "--detach"],
            "error: --detach goes with --drain-node, --update-deployed-services or --deploy-all-iocs",
        ),
    ] {
        let (code, _, err) = run(&t, args, &[]);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert_eq!(err, format!("{line}\n"), "{args:?}");
    }
    // Nothing on stdin where `-` asks for names.
    let out = t
        .cmd(&["update-image", ":1.2", "-"])
        .write_stdin("")
        .output()
        .expect("iocdock");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: update-image: no IOC name on stdin\n"
    );
    // The IOC was not touched.
    let ini = fs::read_to_string(t.repository().join("one/ioc.ini")).unwrap();
    assert!(!ini.contains(":1.2"), "{ini}");
}
