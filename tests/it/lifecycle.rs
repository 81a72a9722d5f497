//! rename and remove of IOCs that have a swarm service file or a deployed service:
//! the engine is asked in every mode, a deployed IOC goes only with --force (its
//! service first, after a confirmation), and a renamed IOC runs under its new name.

use std::fs;
use std::time::Duration;

use crate::deploy::service;
use crate::docker::{StackGuard, TEST_IMAGE, docker_ready, swarm_context, unique_prefix};
use crate::e2e::{DEMO_IMAGE, caget, demo_image, ioc_from_template, wait_until};
use crate::{TestContext, project_file};

/// An address where no daemon listens (the shared daemon is never stopped).
const NO_DAEMON: &str = "unix:///nonexistent/iocdock-test/docker.sock";

fn deployable_ioc(t: &TestContext, name: &str) {
    ioc_from_template(t, name, TEST_IMAGE, name);
    t.ok(&["exec", name, "--deploy"]);
}

/// Runs iocdock expecting exit 1 with every `part` on stderr; returns stderr.
fn refused(t: &TestContext, args: &[&str], parts: &[&str]) -> String {
    let out = t.cmd(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    for part in parts {
        assert!(stderr.contains(part), "{args:?}: {part:?} not in {stderr}");
    }
    stderr
}

#[test]
fn rename_rewrites_the_service_file_of_an_undeployed_ioc() {
    if !docker_ready("lifecycle::rename_rewrites_the_service_file_of_an_undeployed_ioc") {
        return;
    }
    let prefix = unique_prefix("ren");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    deployable_ioc(&t, "before");
    t.ok(&["rename", "before", "after"]);
    let file = t.service_file("after");
    let yaml = fs::read_to_string(&file).unwrap();
    assert!(yaml.contains("srv-after:"), "{yaml}");
    assert!(yaml.contains("cd RUN/after/startup/iocBoot"), "{yaml}");
    // The health check reads a PV the IOC serves: its load line, which rename leaves
    // as the operator wrote it, still says name=before.
    assert!(yaml.contains("'limit:before'"), "{yaml}");
    assert!(
        !yaml.replace("limit:before", "").contains("before"),
        "{yaml}"
    );
    assert!(!t.run_dir("before").exists());
    assert!(!t.service_file("before").exists());
    // The startup files were made again under the new name, and exported.
    let st_cmd = fs::read_to_string(t.run_dir("after").join("startup/iocBoot/st.cmd")).unwrap();
    assert!(st_cmd.contains("/RUN/after/startup"), "{st_cmd}");
    assert!(!st_cmd.contains("before"), "{st_cmd}");
    assert_eq!(t.state_json("after")["status"], "exported");
    let panel = t.ok(&["list", "-p", "name=after"]);
    assert!(!panel.contains("inconsistent"), "{panel}");
    // The renamed IOC deploys under its new name.
    t.ok(&["service", "after", "--deploy", "--detach"]);
    assert!(service(&format!("{prefix}_srv-after")).is_some());
}

#[test]
fn remove_asks_the_engine_in_every_mode_and_takes_the_service_first() {
    if !docker_ready("lifecycle::remove_asks_the_engine_in_every_mode_and_takes_the_service_first")
    {
        return;
    }
    let prefix = unique_prefix("dep");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    deployable_ioc(&t, "live");
    let name = format!("{prefix}_srv-live");
    t.ok(&["service", "live", "--deploy", "--detach"]);
    let deployed = service(&name).expect("deployed");

    refused(
        &t,
        &["rename", "live", "other"],
        &[&format!("deployed as {name}"), "--force"],
    );
    for args in [&["remove", "live"][..], &["remove", "live", "-r"]] {
        refused(
            &t,
            args,
            &[&format!("IOC \"live\" is deployed as {name}"), "--force"],
        );
    }
    // --force takes the service too, which needs a yes: without a terminal, --yes.
    for args in [&["remove", "live", "-f"][..], &["remove", "live", "-rf"]] {
        refused(
            &t,
            args,
            &[
                &format!("refusing to remove service {name} and then IOC \"live\""),
                "--yes",
            ],
        );
    }
    assert_eq!(
        service(&name).map(|s| s.0),
        Some(deployed.0),
        "the service stays"
    );
    assert!(t.repository().join("live").is_dir());
    assert!(t.run_dir("live").join("startup").is_dir());

    let out = t.cmd(&["remove", "live", "-rf", "--yes"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("removed service {name}")),
        "{stderr}"
    );
    assert!(service(&name).is_none(), "the service went first");
    assert!(!t.repository().join("live").exists());
    assert!(!t.run_dir("live").exists());
    assert!(!t.service_file("live").exists());
    // Nothing is left for the digest to show.
    let digest = t.ok(&["swarm", "--show-digest", "--service-type", "ioc"]);
    assert!(!digest.contains("live"), "{digest}");
}

/// Needs no daemon: an address where none listens.
#[test]
fn remove_without_an_engine_refuses_unless_forced_and_names_what_may_run() {
    let t = TestContext::new();
    t.ok(&["create", "draft", "exported"]);
    // An exported IOC: a service could run from this folder.
    let run = t.run_dir("exported");
    fs::create_dir_all(run.join("startup")).unwrap();
    fs::write(run.join("ioc.ini"), "[IOC]\nname = exported\n").unwrap();
    let remove = |args: &[&str]| {
        let mut cmd = t.cmd(args);
        cmd.env("DOCKER_HOST", NO_DAEMON);
        cmd.output().unwrap()
    };
    for args in [
        &["remove", "exported", "-r", "--yes"][..],
        &["remove", "exported", "--yes"],
    ] {
        let out = remove(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        // 3: the engine could not be asked, nothing is known to be wrong with the IOC.
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(
            stderr.contains("cannot tell whether it is deployed"),
            "{stderr}"
        );
        assert!(
            stderr.contains("cannot reach the Docker daemon"),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!(
                "service iasf_srv-exported running from {}",
                run.display()
            )),
            "{stderr}"
        );
        assert!(stderr.contains("--force"), "{stderr}");
        assert!(run.join("ioc.ini").is_file());
        assert!(t.repository().join("exported").is_dir());
    }
    // An IOC that was never exported cannot run anywhere: no engine is needed.
    let out = remove(&["remove", "draft", "-rf"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!t.repository().join("draft").exists());

    let out = remove(&["remove", "exported", "-rf"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("service iasf_srv-exported may be left running"),
        "{stderr}"
    );
    assert!(
        stderr.contains("docker service rm iasf_srv-exported"),
        "{stderr}"
    );
    assert!(!run.exists());
    assert!(!t.repository().join("exported").exists());
}

#[test]
fn remove_rf_of_several_iocs_is_confirmed_as_a_whole() {
    let t = TestContext::new();
    t.ok(&["create", "one", "two", "three"]);
    refused(
        &t,
        &["remove", "one", "two", "-rf"],
        &["refusing to remove these 2 IOCs", "--yes"],
    );
    assert!(t.repository().join("one").is_dir() && t.repository().join("two").is_dir());
    // One IOC with -rf is no bulk action: it goes as before.
    t.ok(&["remove", "three", "-rf"]);
    assert!(!t.repository().join("three").exists());

    let Some((code, shown)) = t.on_terminal(&["remove", "one", "two", "-rf"], "n\n") else {
        return;
    };
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("IOC \"one\" with its snapshot"), "{shown}");
    assert!(shown.contains("IOC \"two\" with its snapshot"), "{shown}");
    assert!(shown.contains("remove these 2 IOCs"), "{shown}");
    assert!(shown.contains("nothing removed"), "{shown}");
    assert!(t.repository().join("one").is_dir() && t.repository().join("two").is_dir());

    let (code, shown) = t
        .on_terminal(&["remove", "one", "two", "-rf"], "y\n")
        .expect("script");
    assert_eq!(code, 0, "{shown}");
    assert!(!t.repository().join("one").exists());
    assert!(!t.repository().join("two").exists());
    t.ok(&["create", "one", "two"]);
    t.ok(&["remove", "one", "two", "-rf", "--yes"]);
    assert!(!t.repository().join("one").exists());
}

/// The renamed IOC of a real EPICS image deploys and serves its PVs under the new
/// service name, with its autosave files renamed along.
#[test]
fn a_renamed_ioc_runs_under_its_new_name() {
    if !docker_ready("lifecycle::a_renamed_ioc_runs_under_its_new_name") {
        return;
    }
    demo_image();
    let prefix = unique_prefix("rn");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    let (old, new) = (format!("{prefix}old"), format!("{prefix}new"));
    let pv_name = format!("{prefix}pv");
    ioc_from_template(&t, &old, DEMO_IMAGE, &pv_name);
    t.ok(&["exec", &old, "--deploy"]);
    // Autosave's files carry the IOC's name; what a running IOC saved must follow it.
    let saved = t.run_dir(&old).join("logs/autosave");
    fs::create_dir_all(&saved).unwrap();
    fs::write(
        saved.join(format!("{old}-automake-pass1.sav")),
        "saved values\n",
    )
    .unwrap();
    t.ok(&["service", &old, "--deploy", "--detach"]);
    let old_service = format!("{prefix}_srv-{old}");
    let new_service = format!("{prefix}_srv-{new}");
    assert!(service(&old_service).is_some());

    refused(&t, &["rename", &old, &new], &["--force"]);
    refused(&t, &["rename", &old, &new, "--force"], &["--yes"]);
    assert!(
        service(&old_service).is_some(),
        "a refused rename leaves it running"
    );
    assert!(t.repository().join(&old).is_dir());

    let out = t
        .cmd(&["rename", &old, &new, "--force", "--yes"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("removed service {old_service}")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("iocdock service {new} --deploy")),
        "{stderr}"
    );
    assert!(service(&old_service).is_none());
    let run = t.run_dir(&new);
    let st_cmd = fs::read_to_string(run.join("startup/iocBoot/st.cmd")).unwrap();
    assert!(
        st_cmd.contains(&format!("dbLoadTemplate \"db/{new}.substitutions\"")),
        "{st_cmd}"
    );
    assert!(!st_cmd.contains(&old), "{st_cmd}");
    assert_eq!(
        fs::read_to_string(run.join(format!("logs/autosave/{new}-automake-pass1.sav"))).unwrap(),
        "saved values\n"
    );

    // The client: a custom service named srv-client, so it runs as <prefix>_srv-client.
    let manager = t.home().join("IocDock");
    fs::write(
        manager.join("services.yaml"),
        "srv-client: client/client.yaml\n",
    )
    .unwrap();
    fs::create_dir_all(manager.join("client")).unwrap();
    fs::write(
        manager.join("client/client.yaml"),
        format!(
            "services:\n  srv-client:\n    image: {DEMO_IMAGE}\n    command: [sleep, infinity]\n    networks: [hostnet]\n    deploy:\n      placement:\n        constraints: [node.role==manager]\nnetworks:\n  hostnet:\n    external: true\n    name: host\n"
        ),
    )
    .unwrap();
    t.ok(&["service", "srv-client", "--deploy", "--detach"]);
    t.ok(&["service", &new, "--deploy", "--detach"]);
    let pv = format!("ramper:{pv_name}");
    let value = wait_until(
        "a value from the renamed IOC",
        Duration::from_secs(90),
        || {
            let (code, out, _) = caget(&t, &pv);
            (code == 0 && !out.trim().is_empty()).then_some(out)
        },
    );
    assert!(value.contains(&pv), "{value}");
    // The engine serves a task's log once the task is running, which with the health
    // check is after its first passed check.
    let logs = wait_until("the renamed IOC's log", Duration::from_secs(120), || {
        let logs = t.ok(&["service", &new, "--show-logs", "--tail", "100"]);
        logs.contains("iocRun: All initialization complete")
            .then_some(logs)
    });
    assert!(!logs.contains("Can't open"), "{logs}");
    let digest = t.ok(&["swarm", "--show-digest", "--service-type", "ioc"]);
    assert!(digest.contains(&new_service), "{digest}");
    assert!(!digest.contains(&old_service), "{digest}");
}

#[test]
fn a_rename_that_cannot_regenerate_blocks_export_and_deploy() {
    let prefix = unique_prefix("blk");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    ioc_from_template(&t, "old", TEST_IMAGE, "old");
    t.ok(&["exec", "old", "--deploy"]);
    assert!(t.service_file("old").is_file());
    // Generation now fails: the database it loads is gone.
    fs::remove_file(t.repository().join("old/src/ramper.db")).unwrap();

    let stderr = refused(
        &t,
        &["rename", "old", "new"],
        &[
            "IOC \"new\": startup files not made under the new name",
            "ramper.db",
            "status is created",
        ],
    );
    assert!(
        stderr.contains("renamed IOC \"old\" to \"new\""),
        "{stderr}"
    );
    assert!(t.repository().join("new").is_dir());
    let state = t.state_json("new");
    assert_eq!(state["status"], "created");
    assert_eq!(state["state"], "warning");
    let info = t.ok(&["list", "-i", "name=new"]);
    assert!(info.contains("iocdock exec new --deploy"), "{info}");
    refused(
        &t,
        &["exec", "new", "--export-for-mount"],
        &["status created"],
    );
    refused(
        &t,
        &["exec", "new", "--gen-swarm-file"],
        &["status created", "exec new --deploy"],
    );
    assert!(!t.service_file("new").exists());
    assert!(!t.service_file("old").exists());
    if docker_ready("lifecycle::a_rename_that_cannot_regenerate_blocks_export_and_deploy") {
        refused(
            &t,
            &["service", "new", "--deploy", "--detach"],
            &["not available", "iocdock exec new --deploy"],
        );
        t.ok(&["swarm", "--deploy-all-iocs", "--detach"]);
        assert!(service(&format!("{prefix}_srv-new")).is_none());
    }

    // Fixed, one deploy makes everything under the new name.
    let sources = project_file("templates/test");
    t.ok(&["exec", "new", "--add-src-file", sources.to_str().unwrap()]);
    t.ok(&["exec", "new", "--deploy"]);
    assert_eq!(t.state_json("new")["status"], "exported");
    let st_cmd = fs::read_to_string(t.run_dir("new").join("startup/iocBoot/st.cmd")).unwrap();
    assert!(st_cmd.contains("/RUN/new/startup"), "{st_cmd}");
    assert!(t.service_file("new").is_file());
}

#[test]
fn service_remove_is_confirmed_on_a_terminal() {
    if !docker_ready("lifecycle::service_remove_is_confirmed_on_a_terminal") {
        return;
    }
    let prefix = unique_prefix("ask");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    deployable_ioc(&t, "asked");
    t.ok(&["service", "asked", "--deploy", "--detach"]);
    let name = format!("{prefix}_srv-asked");
    let Some((code, shown)) = t.on_terminal(&["service", "asked", "--remove"], "n\n") else {
        return;
    };
    assert_eq!(code, 0, "{shown}");
    assert!(
        shown.contains(&format!("remove service {name}?")),
        "{shown}"
    );
    assert!(service(&name).is_some(), "no: nothing removed");
    let (code, shown) = t
        .on_terminal(&["swarm", "--update-deployed-services"], "n\n")
        .expect("script");
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains(&format!("  {name}")), "{shown}");
    assert!(shown.contains("restart these 1 services"), "{shown}");
    assert_eq!(
        service(&name).unwrap().2["TaskTemplate"]["ForceUpdate"]
            .as_u64()
            .unwrap_or(0),
        0,
        "no: nothing restarted"
    );
    let (code, shown) = t
        .on_terminal(&["service", "asked", "--remove"], "y\n")
        .expect("script");
    assert_eq!(code, 0, "{shown}");
    assert!(service(&name).is_none(), "yes: removed");
}

/// Needs no engine: the stop command only leaves a mark, and is never run.
#[test]
fn a_swarm_backup_is_confirmed_before_the_engine_stops() {
    let t = TestContext::new();
    let stopped = t.home().join("engine-stopped");
    let swarm = t.home().join("swarm-dir");
    fs::create_dir_all(&swarm).unwrap();
    t.write_settings(&format!(
        "docker_stop_command: touch {}\ndocker_start_command: 'true'\ndocker_swarm_dir: {}\n",
        stopped.display(),
        swarm.display()
    ));
    refused(
        &t,
        &["swarm", "-b"],
        &["refusing to stop the Docker engine", "--yes"],
    );
    assert!(!stopped.exists(), "the stop command did not run");
    assert!(!t.home().join("swarm-backup").exists());

    let Some((code, shown)) = t.on_terminal(&["swarm", "-b"], "n\n") else {
        return;
    };
    assert_eq!(code, 0, "{shown}");
    assert!(
        shown.contains(&format!("stop: touch {}", stopped.display())),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("archive: {}", swarm.display())),
        "{shown}"
    );
    assert!(shown.contains("nothing stopped"), "{shown}");
    assert!(!stopped.exists(), "no: the stop command did not run");
}
