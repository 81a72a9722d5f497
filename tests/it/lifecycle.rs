//! rename and remove of IOCs that have a swarm service file or a deployed service.

use std::fs;

use predicates::prelude::*;

use crate::docker::{StackGuard, TEST_IMAGE, docker_ready, swarm_context, unique_prefix};
use crate::{TestContext, project_file};

fn deployable_ioc(t: &TestContext, name: &str) {
    let template = project_file("templates/test/test.ini");
    t.ok(&[
        "create",
        name,
        "-f",
        template.to_str().unwrap(),
        "-o",
        &format!("image={TEST_IMAGE}"),
        "module=",
    ]);
    t.ok(&[
        "set",
        name,
        "-s",
        "db",
        "-o",
        &format!("load=ramper.db, name={name}"),
    ]);
    let sources = project_file("templates/test");
    t.ok(&["exec", name, "--add-src-file", sources.to_str().unwrap()]);
    t.ok(&["exec", name, "--deploy"]);
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
    assert!(t.run_dir("after").join("startup").is_dir());
    // The renamed IOC deploys under its new name.
    t.ok(&["service", "after", "--deploy"]);
    assert!(
        t.ok(&["swarm", "--show-digest", "--service-type", "ioc"])
            .contains(&format!("{prefix}_srv-after"))
    );
}

#[test]
fn a_deployed_ioc_is_neither_renamed_nor_removed_with_its_run_folder() {
    if !docker_ready("lifecycle::a_deployed_ioc_is_neither_renamed_nor_removed_with_its_run_folder")
    {
        return;
    }
    let prefix = unique_prefix("dep");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    deployable_ioc(&t, "live");
    t.ok(&["service", "live", "--deploy"]);
    t.cmd(&["rename", "live", "other"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "deployed as {prefix}_srv-live"
        )));
    assert!(t.repository().join("live").is_dir());
    t.cmd(&["remove", "live", "-r"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--force"));
    assert!(t.run_dir("live").is_dir());
    t.ok(&["remove", "live", "-rf"]);
    assert!(!t.run_dir("live").exists());
}
