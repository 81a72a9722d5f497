use std::fs;

use crate::{TestContext, fixtures_dir};

/// Five IOCs with different modules, sections and descriptions.
fn populated() -> TestContext {
    let t = TestContext::new();
    t.ok(&[
        "create",
        "ioc1",
        "--autosave",
        "-o",
        "description=first ramper",
    ]);
    t.ok(&["create", "ioc2", "--caputlog", "--autosave"]);
    t.ok(&["create", "ioc12", "--status-os"]);
    t.ok(&[
        "create",
        "plain",
        "-o",
        "module=",
        "description=",
        "--add-asyn",
    ]);
    t.ok(&[
        "create",
        "other",
        "-s",
        "setting",
        "-o",
        "report_info=false",
    ]);
    t
}

#[test]
fn names_on_one_line() {
    let t = populated();
    assert_eq!(t.ok(&["list"]), "ioc1 ioc12 ioc2 other plain\n");
    assert_eq!(t.ok(&["ls"]), "ioc1 ioc12 ioc2 other plain\n");
    assert_eq!(t.ok(&["list", "name=1"]), "ioc1 ioc12\n");
    assert_eq!(t.ok(&["list", "name=nothing"]), "");
}

#[test]
fn module_conditions() {
    let t = populated();
    assert_eq!(t.ok(&["list", "module=auto"]), "ioc1 ioc2 other\n");
    assert_eq!(t.ok(&["list", "module=AUTOSAVE"]), "ioc1 ioc2 other\n");
    assert_eq!(t.ok(&["list", "module=autosave", "name=2"]), "ioc2\n");
    assert_eq!(t.ok(&["list", "module="]), "plain\n");
    assert_eq!(t.ok(&["list", "module = cap"]), "ioc2 other\n");
}

#[test]
fn section_conditions_and_state_conditions() {
    let t = populated();
    assert_eq!(
        t.ok(&["list", "--section", "setting", "report_info=true"]),
        "ioc1 ioc12 ioc2 plain\n"
    );
    assert_eq!(
        t.ok(&["list", "-s", "SETTING", "report_info=false"]),
        "other\n"
    );
    assert_eq!(t.ok(&["list", "host=swarm", "name=ioc1"]), "ioc1 ioc12\n");
    assert_eq!(t.ok(&["list", "-s", "raw"]), "plain\n");
    assert_eq!(t.ok(&["list", "status=created", "name=other"]), "other\n");
    assert_eq!(t.ok(&["list", "state=normal", "name=plain"]), "plain\n");
    assert_eq!(t.ok(&["list", "is_exported=true"]), "");
    assert_eq!(t.ok(&["list", "snapshot=untracked", "name=ioc2"]), "ioc2\n");
}

#[test]
fn xargs_pipelines_narrow_a_list() {
    let t = populated();
    let run = |pipeline: &str| {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(pipeline)
            .env("IOCDOCK_HOME", t.home())
            .env("IOCDOCK", crate::bin())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{pipeline}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(
        run("\"$IOCDOCK\" list module=autosave | xargs \"$IOCDOCK\" list name=1 -l"),
        "ioc1\n"
    );
    let table = run("\"$IOCDOCK\" list module=autosave | xargs \"$IOCDOCK\" list name=1 -dl");
    assert_eq!(table, "IOC    Description\nioc1   first ramper\n");
    let panel = run("\"$IOCDOCK\" list module=autosave | xargs \"$IOCDOCK\" list name=1 -pl");
    assert_eq!(panel.lines().count(), 2, "{panel}");
    assert!(
        panel.lines().nth(1).unwrap().starts_with("ioc1 "),
        "{panel}"
    );
    // An empty first list leaves nothing for the second one to consider.
    assert_eq!(
        run("\"$IOCDOCK\" list name=zzz | xargs \"$IOCDOCK\" list -l"),
        ""
    );
}

#[test]
fn list_from_names_a_missing_ioc() {
    let t = populated();
    assert_transcript!(t.run(&["list", "-l", "ioc1", "ghost"]), @r#"
        exit 1
        ----- stdout -----
        ioc1
        ----- stderr -----
        error: IOC "ghost" does not exist in the repository
        "#);
}

#[test]
fn description_table() {
    let t = populated();
    let long = "x".repeat(100);
    t.ok(&["set", "other", "-o", &format!("description={long}")]);
    insta::assert_snapshot!(t.ok(&["list", "-d"]), @r"
    IOC     Description
    ioc1    first ramper
    ioc12
    ioc2
    other   xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...
    plain
    ");
}

#[test]
fn panel_table() {
    let t = populated();
    // Without a daemon, so the snapshot does not depend on what the swarm runs
    // (tests/it/status.rs covers DeployStatus from a live swarm).
    let out = t
        .cmd(&["list", "-p", "name=ioc"])
        .env("DOCKER_HOST", "unix:///nonexistent.sock")
        .output()
        .expect("run iocdock");
    assert!(out.status.success());
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stdout), @r"
    IOC     Host    Description    State    Status    DeployStatus                   Node   SnapshotConsistency   RunningConsistency   ServiceConsistency
    ioc1    swarm   first ramper   normal   created   unknown (docker unreachable)          no snapshot           not exported         unknown
    ioc12   swarm                  normal   created   unknown (docker unreachable)          no snapshot           not exported         unknown
    ioc2    swarm                  normal   created   unknown (docker unreachable)          no snapshot           not exported         unknown
    ");
}

#[test]
fn info_blocks() {
    let t = populated();
    insta::assert_snapshot!(t.ok(&["list", "name=12", "-i"]), @r#"
    ============================== "ioc12" ===============================
    [STATE]
    state: normal
    state_info: 
    status: created
    snapshot: untracked
    is_exported: false

    [IOC]
    name: ioc12
    host: swarm
    image: 
    bin: ST-IOC
    module: status-os
    description: 

    [SRC]
    db_file: 
    protocol_file: 
    others_file: 

    [DB]
    load: 

    [SETTING]
    report_info: true
    caputlog_json: false
    epics_env: 

    [DEPLOY]
    labels: 
    cpu-limit: 1
    memory-limit: 1G
    cpu-reserve: 
    memory-reserve: 
    constraints: 
    "#);
}

#[test]
fn a_condition_without_equals_is_a_usage_error() {
    let t = populated();
    assert_transcript!(t.run(&["list", "module"]), @r#"
        exit 2
        ----- stdout -----
        ----- stderr -----
        error: condition "module": expected key=value (e.g. name=ramper or module=autosave)
        "#);
}

#[test]
fn consistency_columns_compare_bytes() {
    let t = populated();
    let snap = t.snapshot().join("ioc1");
    fs::create_dir_all(snap.join("src")).unwrap();
    fs::copy(t.repository().join("ioc1/ioc.ini"), snap.join("ioc.ini")).unwrap();
    let row = |t: &TestContext| {
        t.ok(&["list", "-p", "name=ioc1", "-l", "ioc1"])
            .lines()
            .nth(1)
            .unwrap()
            .to_string()
    };
    assert!(row(&t).contains("   consistent   "), "{}", row(&t));
    fs::write(
        t.repository().join("ioc1/src/a.db"),
        "record(ai, \"x\") {}\n",
    )
    .unwrap();
    assert!(row(&t).contains("inconsistent"), "{}", row(&t));
    fs::write(snap.join("src/a.db"), "record(ai, \"x\") {}\n").unwrap();
    assert!(row(&t).contains("   consistent   "), "{}", row(&t));
}

#[test]
fn broken_iocs_still_list_and_nothing_is_written() {
    let t = populated();
    // A malformed ioc.ini, a missing ioc.ini, a garbage state file, a missing state.
    fs::write(
        t.repository().join("ioc2/ioc.ini"),
        "[IOC]\nname = ioc2\nthis line has no separator\n",
    )
    .unwrap();
    fs::remove_file(t.repository().join("ioc12/ioc.ini")).unwrap();
    fs::write(t.repository().join("other/.info.ini"), "garbage").unwrap();
    fs::remove_file(t.repository().join("plain/.info.ini")).unwrap();
    let before = t.tree_state();
    assert_eq!(t.ok(&["list"]), "ioc1 ioc12 ioc2 other plain\n");
    assert_eq!(t.ok(&["list", "state=error"]), "ioc12 ioc2 other plain\n");
    let panel = t.ok(&["list", "-p"]);
    assert_eq!(panel.lines().count(), 6, "{panel}");
    // The reason names file and line.
    assert_transcript!(t.run(&["list", "-i", "name=ioc2"]), @r#"
        exit 0
        ----- stdout -----
        =============================== "ioc2" ===============================
        [STATE]
        state: error
        state_info: error: ioc.ini unreadable
        	    [HOME]/IocDock/ioc-repository/ioc2/ioc.ini:3: found "this line has no separator"; expected "key = value", a [SECTION] header, a comment starting with # or ;, or an indented continuation line (last seen [TIME])
        status: created
        snapshot: untracked
        is_exported: false

        ----- stderr -----
        "#);
    t.ok(&["list", "-d"]);
    t.ok(&["list", "-i"]);
    assert!(before == t.tree_state(), "list must not write anything");
}

#[test]
fn legacy_fixture_states_list() {
    let t = TestContext::new();
    t.install_fixture_repository();
    assert_eq!(
        t.ok(&["list"]),
        "worker_test_1 worker_test_2 worker_test_3\n"
    );
    assert_eq!(t.ok(&["list", "state=warning"]), "worker_test_3\n");
    assert_eq!(t.ok(&["list", "status=exported"]), "worker_test_1\n");
    // The original tool's time stays: only times of this test are filtered.
    assert_transcript!(t.run(&["list", "-i", "name=3"]), @r#"
        exit 0
        ----- stdout -----
        ========================== "worker_test_3" ===========================
        [STATE]
        state: warning
        state_info: warning: option "load" in section "DB" invalid.
        	    db file "missing.db" not found. (last seen 2026/11/22 00:07:40)
        status: created
        snapshot: untracked
        is_exported: false

        [IOC]
        name: worker_test_3
        host: swarm
        image: registry.iasf/ioc-exec:1.1.0
        bin: ST-IOC
        module: autosave, caputlog, status-ioc, status-os
        description: IOC that implements a ramper for testing.

        [SRC]
        db_file: ramper.db
        protocol_file: 
        others_file: 

        [DB]
        load: missing.db, name=x

        [SETTING]
        report_info: true
        caputlog_json: false
        epics_env: 

        [DEPLOY]
        labels: test=true
        cpu-limit: 1
        memory-limit: 1G
        cpu-reserve: 
        memory-reserve: 
        constraints: 

        ----- stderr -----
        "#);
    assert!(
        fixtures_dir()
            .join("repository/worker_test_3/.info.ini")
            .exists()
    );
}

#[test]
fn a_state_value_no_ioc_can_have_is_a_usage_error() {
    let t = populated();
    assert_transcript!(t.runs(&[&["list", "state=fine"], &["list", "is_exported=yes"]]), @r#"
        $ iocdock list state=fine
        exit 2
        ----- stdout -----
        ----- stderr -----
        error: condition "state=fine": state is one of normal, warning, error

        $ iocdock list is_exported=yes
        exit 2
        ----- stdout -----
        ----- stderr -----
        error: condition "is_exported=yes": is_exported is one of true, false
        "#);
}
