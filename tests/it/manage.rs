//! edit, remove, rename and concurrent use.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::TestContext;

fn editor_script(t: &TestContext, body: &str) -> std::path::PathBuf {
    let path = t.home().join("editor.sh");
    fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn edit_opens_the_editor_and_checks_the_result() {
    let t = TestContext::new();
    t.ok(&["create", "a"]);
    let good = editor_script(&t, "sed -i 's/^image = $/image = edited:1/' \"$1\"");
    t.cmd(&["edit", "a"])
        .env("EDITOR", &good)
        .assert()
        .success();
    assert!(t.ioc_ini("a").contains("image = edited:1\n"));
    // VISUAL wins over EDITOR.
    let bad = editor_script(&t, "echo 'broken line' >> \"$1\"");
    let run = t.transcript(
        t.cmd(&["edit", "a"])
            .env("EDITOR", &good)
            .env("VISUAL", &bad),
    );
    assert_transcript!(run, @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: [HOME]/IocDock/ioc-repository/a/.ioc.ini.edit:30: found "broken line"; expected "key = value", a [SECTION] header, a comment starting with # or ;, or an indented continuation line
        warning: IOC "a": ioc.ini was not changed; the edit is kept at [HOME]/IocDock/ioc-repository/a/.ioc.ini.edit and `iocdock edit a` opens it again (--discard drops it)
        "#);
    let run = t.transcript(t.cmd(&["edit", "nope"]).env("EDITOR", &good));
    assert_transcript!(run, @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "nope" does not exist in the repository
        "#);
}

#[test]
fn remove_asks_or_refuses_without_a_terminal() {
    let t = TestContext::new();
    t.ok(&["create", "a", "b"]);
    assert_transcript!(t.transcript(t.cmd(&["remove", "a"]).write_stdin("y\n")), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: refusing to remove IOC "a" without confirmation: stdin is not a terminal (use -f to remove without asking)
        "#);
    assert!(t.repository().join("a").exists());
    assert_transcript!(t.run(&["rm", "a", "-f"]), @r#"
        exit 0
        ----- stdout -----
        ----- stderr -----
        removed IOC "a"
        "#);
    assert!(!t.repository().join("a").exists());
    assert_transcript!(t.run(&["rm", "ghost", "-f"]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "ghost" does not exist in the repository
        "#);
    assert!(t.repository().join("b").exists());
}

#[test]
fn remove_all_takes_snapshot_and_exported_copies() {
    let t = TestContext::new();
    t.ok(&["create", "a", "keep"]);
    for dir in [t.snapshot().join("a"), t.run_dir("a"), t.run_dir("keep")] {
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("ioc.ini"), "x").unwrap();
        fs::set_permissions(dir.join("ioc.ini"), fs::Permissions::from_mode(0o444)).unwrap();
    }
    t.ok(&["remove", "a", "-rf"]);
    assert!(!t.repository().join("a").exists());
    assert!(!t.snapshot().join("a").exists());
    assert!(!t.run_dir("a").exists());
    assert!(t.run_dir("keep").exists());
    // Nothing half-removed or hidden is left behind.
    let leftovers: Vec<_> = fs::read_dir(t.repository())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".iocdock.lock")
        .collect();
    assert_eq!(leftovers, vec!["keep".to_string()]);
}

#[test]
fn rename_moves_everything_or_nothing() {
    let t = TestContext::new();
    t.ok(&["create", "old", "taken"]);
    let snap = t.snapshot().join("old");
    fs::create_dir_all(snap.join("src")).unwrap();
    fs::copy(t.repository().join("old/ioc.ini"), snap.join("ioc.ini")).unwrap();
    let exported = t.run_dir("old");
    fs::create_dir_all(exported.join("startup")).unwrap();
    fs::copy(t.repository().join("old/ioc.ini"), exported.join("ioc.ini")).unwrap();

    assert_transcript!(t.run(&["rename", "old", "taken"]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "taken" already exists in the repository
        "#);
    assert_transcript!(t.run(&["rename", "old", "bad name"]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: invalid IOC name "bad name": it contains a space (expected 1-40 characters of A-Z a-z 0-9 _ . -, starting with a letter or digit)
        "#);
    assert_transcript!(t.run(&["rename", "ghost", "new"]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "ghost" does not exist in the repository
        "#);
    assert!(t.repository().join("old").exists());

    // An exported copy is found under $MOUNT_PATH/<host>/<name>: host is "swarm".
    t.ok(&["rename", "old", "new"]);
    assert!(!t.repository().join("old").exists());
    assert!(t.ioc_ini("new").contains("name = new\n"));
    assert!(
        fs::read_to_string(t.snapshot().join("new/ioc.ini"))
            .unwrap()
            .contains("name = new\n")
    );
    assert!(
        fs::read_to_string(t.run_dir("new").join("ioc.ini"))
            .unwrap()
            .contains("name = new\n")
    );
    assert!(!snap.exists() && !exported.exists());
    // Read by column position: DeployStatus holds several words.
    let panel = t.ok(&["list", "-p", "name=new"]);
    let column = panel.find("SnapshotConsistency").unwrap();
    let row = panel.lines().nth(1).unwrap();
    assert_eq!(row[column..].split_whitespace().next(), Some("consistent"));
}

#[test]
fn rename_moves_the_stream_protocol_path_along() {
    let t = TestContext::new();
    t.ok(&["create", "dev", "--add-stream"]);
    t.ok(&[
        "set",
        "dev",
        "-s",
        "RAW",
        "-o",
        "cmd_after_iocinit=dbpf(\"dev/startup\")",
    ]);
    t.ok(&["rename", "dev", "dev2"]);
    // The protocol path names the new folder; a line the operator wrote is left
    // alone, even if it names the old folder.
    insta::assert_snapshot!(t.ioc_ini("dev2"), @r#"
        [IOC]
        name = dev2
        host = swarm
        image = 
        bin = ST-IOC
        module = autosave, caputlog
        description = 

        [SRC]
        db_file = 
        protocol_file = 
        others_file = 

        [DB]
        load = 

        [SETTING]
        report_info = true
        caputlog_json = false
        epics_env = 

        [DEPLOY]
        labels = 
        cpu-limit = 1
        memory-limit = 1G
        cpu-reserve = 
        memory-reserve = 
        constraints = 

        [RAW]
        cmd_before_dbload = 
        	epicsEnvSet("STREAM_PROTOCOL_PATH", "/opt/EPICS/RUN/dev2/startup")
        	drvAsynIPPortConfigure("L0", "192.168.0.23:4001", 0, 0, 0)
        	drvAsynSerialPortConfigure("L0", "/dev/tty.PL2303-000013FA", 0, 0, 0)
        	asynSetOption("L0", -1, "baud", "9600")
        	asynSetOption("L0", -1, "bits", "8")
        	asynSetOption("L0", -1, "parity", "none")
        	asynSetOption("L0", -1, "stop", "1")
        	asynSetOption("L0", -1, "clocal", "Y")
        	asynSetOption("L0", -1, "crtscts", "Y")
        cmd_at_dbload = 
        cmd_after_iocinit = dbpf("dev/startup")
        file_copy = src/protocol_file.proto:startup/protocol_file.proto:r
        "#);
}

#[test]
fn rename_rolls_back_when_a_later_step_fails() {
    let t = TestContext::new();
    t.ok(&["create", "old"]);
    let snap = t.snapshot().join("old");
    fs::create_dir_all(&snap).unwrap();
    // A snapshot ioc.ini that cannot be parsed makes the step after the moves fail.
    fs::write(snap.join("ioc.ini"), "not an ini file\n").unwrap();
    assert_transcript!(t.run(&["rename", "old", "new"]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: [HOME]/IocDock/ioc-snapshot/new/ioc.ini:1: found "not an ini file" before any section header; expected a header such as [IOC] first
        "#);
    assert!(t.repository().join("old/ioc.ini").exists());
    assert!(!t.repository().join("new").exists());
    assert!(snap.join("ioc.ini").exists());
    assert!(!t.snapshot().join("new").exists());
    assert!(t.ioc_ini("old").contains("name = old\n"));
}

#[test]
fn concurrent_sets_never_tear_a_file() {
    let t = TestContext::new();
    t.ok(&["create", "a"]);
    for round in 0..10 {
        // Values the schema takes: CPUs and sizes of at least its minimum.
        let value = |key: &str| {
            if key == "cpu-reserve" {
                format!("0.{}", round + 1)
            } else {
                format!("{}M", round + 4)
            }
        };
        let spawn = |key: &str| {
            t.std_cmd(&[
                "set",
                "a",
                "-s",
                "deploy",
                "-o",
                &format!("{key}={}", value(key)),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
        };
        let mut first = spawn("cpu-reserve");
        let mut second = spawn("memory-reserve");
        assert!(first.wait().unwrap().success());
        assert!(second.wait().unwrap().success());
        let ini = t.ioc_ini("a");
        // The lock serialises the two read-modify-write cycles: both changes survive.
        assert!(
            ini.contains(&format!("cpu-reserve = {}\n", value("cpu-reserve"))),
            "{ini}"
        );
        assert!(
            ini.contains(&format!("memory-reserve = {}\n", value("memory-reserve"))),
            "{ini}"
        );
        assert!(t.ok(&["list", "-i", "name=a"]).contains("state: normal"));
    }
}
