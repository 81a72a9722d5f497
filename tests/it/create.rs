use std::fs;

use crate::{TestContext, fixtures_dir, project_file};

const DEFAULT_INI: &str = "[IOC]
name = t1
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

";

#[test]
fn create_writes_the_defaults_and_a_created_state() {
    let t = TestContext::new();
    assert_transcript!(t.run(&["create", "t1"]), @r#"
        exit 0
        ----- stdout -----
        ----- stderr -----
        created IOC "t1"
        "#);
    assert_eq!(t.ioc_ini("t1"), DEFAULT_INI);
    let state = t.state_json("t1");
    assert_eq!(state["state"], "normal");
    assert_eq!(state["status"], "created");
    assert_eq!(state["snapshot"], "untracked");
    assert_eq!(state["is_exported"], "false");
    assert!(t.repository().join("t1/src").is_dir());
}

#[test]
fn defaults_come_from_the_settings() {
    let t = TestContext::new();
    t.write_settings("default_modules: caputlog\ndefault_ioc_bin: MY-IOC\nioc_cpu_limit: 0.5\nioc_memory_limit: 256M\n");
    t.ok(&["create", "t1"]);
    insta::assert_snapshot!(t.ioc_ini("t1"), @r"
        [IOC]
        name = t1
        host = swarm
        image = 
        bin = MY-IOC
        module = caputlog
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
        cpu-limit = 0.5
        memory-limit = 256M
        cpu-reserve = 
        memory-reserve = 
        constraints =
        ");
}

#[test]
fn options_go_to_the_chosen_section_and_are_normalised() {
    let t = TestContext::new();
    t.ok(&["create", "ioc", "-o", "host=swarm", "image=img:1"]);
    t.ok(&["create", "ioc2", "-s", "setting", "-o", "report_info=false"]);
    t.ok(&[
        "create",
        "ioc3",
        "-s",
        "DB",
        "-o",
        "load=ramper.db,name = xxx1",
    ]);
    t.ok(&[
        "create",
        "ioc4",
        "-s",
        "deploy",
        "-o",
        "labels=a=1;b=2",
        "constraints=node.labels.rack == a",
    ]);
    assert!(t.ioc_ini("ioc").contains("host = swarm\nimage = img:1\n"));
    assert!(t.ioc_ini("ioc2").contains("report_info = false\n"));
    assert!(t.ioc_ini("ioc3").contains("load = ramper.db, name=xxx1\n"));
    let ini = t.ioc_ini("ioc4");
    assert!(ini.contains("labels = \n\ta=1\n\tb=2\ncpu-limit"), "{ini}");
    assert!(ini.contains("constraints = node.labels.rack==a\n"), "{ini}");
}

#[test]
fn a_new_section_is_appended_and_quoted_text_kept() {
    let t = TestContext::new();
    t.ok(&["create", "t", "-s", "test", "-o", " a = b", "c = d"]);
    assert!(t.ioc_ini("t").ends_with("[TEST]\na = b\nc = d\n\n"));
    t.ok(&[
        "set",
        "t",
        "-s",
        "raw",
        "-o",
        "cmd_before_dbload=epicsEnvSet(\"MSG\",\"a = b, c\");X = 1",
    ]);
    assert!(
        t.ioc_ini("t")
            .contains("cmd_before_dbload = \n\tepicsEnvSet(\"MSG\",\"a = b, c\")\n\tX=1\n")
    );
}

#[test]
fn values_cannot_inject_sections_or_options() {
    let t = TestContext::new();
    t.ok(&["create", "t", "-o", "description=x\n[EVIL]\nkey = v"]);
    let out = t.ok(&["list", "-i", "name=t"]);
    assert!(!out.contains("\n[EVIL]\n"), "{out}");
    let ini = t.ioc_ini("t");
    assert!(
        ini.contains("description = \n\tx\n\t[EVIL]\n\tkey=v\n"),
        "{ini}"
    );
    t.ok(&["list", "name=t"]);
    // The text is still one value of one option after a round trip through set.
    t.ok(&["set", "t", "-o", "host=swarm"]);
    assert_eq!(t.ok(&["list", "key=v", "-s", "EVIL"]), "");
}

#[test]
fn ini_file_options_are_copied_except_managed_ones() {
    let t = TestContext::new();
    let template = project_file("templates/test/test.ini");
    t.ok(&["create", "ioc", "-f", template.to_str().unwrap()]);
    insta::assert_snapshot!(t.ioc_ini("ioc"), @r"
        [IOC]
        name = ioc
        host = swarm
        image = registry.iasf/ioc-exec:1.1.0
        bin = ST-IOC
        module = autosave, caputlog, status-ioc, status-os
        description = IOC that implements a ramper for testing.

        [SRC]
        db_file = 
        protocol_file = 
        others_file = 

        [DB]
        load = ramper.db, name=test

        [SETTING]
        report_info = true
        caputlog_json = false
        epics_env = 

        [DEPLOY]
        labels = test=true
        cpu-limit = 1
        memory-limit = 1G
        cpu-reserve = 
        memory-reserve = 
        constraints =
        ");

    // Name and sources of another IOC are never taken over; -o wins over -f.
    let other = fixtures_dir().join("repository/worker_test_1/ioc.ini");
    t.ok(&[
        "create",
        "copy",
        "-f",
        other.to_str().unwrap(),
        "-o",
        "image=mine",
    ]);
    insta::assert_snapshot!(t.ioc_ini("copy"), @r"
        [IOC]
        name = copy
        host = swarm
        image = mine
        bin = ST-IOC
        module = autosave, caputlog, status-ioc, status-os
        description = IOC that implements a ramper for testing.

        [SRC]
        db_file = 
        protocol_file = 
        others_file = 

        [DB]
        load = ramper.db, name=worker_test_1

        [SETTING]
        report_info = true
        caputlog_json = false
        epics_env = 

        [DEPLOY]
        labels = test=true
        cpu-limit = 0.8
        memory-limit = 0.8G
        cpu-reserve = 
        memory-reserve = 
        constraints =
        ");

    t.ok(&["set", "ioc", "-f", other.to_str().unwrap()]);
    assert!(
        t.ioc_ini("ioc")
            .contains("load = ramper.db, name=worker_test_1\n")
    );
}

#[test]
fn module_flags_set_exactly_the_chosen_modules() {
    let t = TestContext::new();
    t.ok(&[
        "create",
        "ioc",
        "--caputlog",
        "--status-ioc",
        "--status-os",
        "--autosave",
    ]);
    assert!(
        t.ioc_ini("ioc")
            .contains("module = autosave, caputlog, status-ioc, status-os\n")
    );
    t.ok(&["set", "ioc", "--status-os"]);
    assert!(t.ioc_ini("ioc").contains("module = status-os\n"));
}

#[test]
fn raw_templates() {
    let t = TestContext::new();
    t.ok(&["create", "asyn", "--add-asyn"]);
    t.ok(&["create", "stream", "--add-stream"]);
    t.ok(&["create", "raw", "--add-raw"]);
    let asyn = t.ioc_ini("asyn");
    let raw_part = &asyn[asyn.find("[RAW]").expect("RAW section")..];
    insta::assert_snapshot!(raw_part, @r#"
    [RAW]
    cmd_before_dbload = 
    	drvAsynIPPortConfigure("L0", "192.168.0.23:4001", 0, 0, 0)
    	drvAsynSerialPortConfigure("L0", "/dev/tty.PL2303-000013FA", 0, 0, 0)
    	asynSetOption("L0", -1, "baud", "9600")
    	asynSetOption("L0", -1, "bits", "8")
    	asynSetOption("L0", -1, "parity", "none")
    	asynSetOption("L0", -1, "stop", "1")
    	asynSetOption("L0", -1, "clocal", "Y")
    	asynSetOption("L0", -1, "crtscts", "Y")
    cmd_at_dbload = dbLoadRecords("db/asynRecord.db","P=xxx,R=:asyn,PORT=xxx,ADDR=xxx,IMAX=xxx,OMAX=xxx")
    cmd_after_iocinit = 
    file_copy = templates/db/asynRecord.db:startup/db/asynRecord.db:r
    "#);
    let stream = t.ioc_ini("stream");
    let raw_part = &stream[stream.find("[RAW]").expect("RAW section")..];
    insta::assert_snapshot!(raw_part, @r#"
        [RAW]
        cmd_before_dbload = 
        	epicsEnvSet("STREAM_PROTOCOL_PATH", "/opt/EPICS/RUN/stream/startup")
        	drvAsynIPPortConfigure("L0", "192.168.0.23:4001", 0, 0, 0)
        	drvAsynSerialPortConfigure("L0", "/dev/tty.PL2303-000013FA", 0, 0, 0)
        	asynSetOption("L0", -1, "baud", "9600")
        	asynSetOption("L0", -1, "bits", "8")
        	asynSetOption("L0", -1, "parity", "none")
        	asynSetOption("L0", -1, "stop", "1")
        	asynSetOption("L0", -1, "clocal", "Y")
        	asynSetOption("L0", -1, "crtscts", "Y")
        cmd_at_dbload = 
        cmd_after_iocinit = 
        file_copy = src/protocol_file.proto:startup/protocol_file.proto:r
        "#);
    assert!(t.ioc_ini("raw").ends_with(
        "[RAW]\ncmd_before_dbload = \ncmd_at_dbload = \ncmd_after_iocinit = \nfile_copy = \n\n"
    ));
}

#[test]
fn several_names_at_once_and_existing_ones_fail_alone() {
    let t = TestContext::new();
    t.ok(&["create", "a", "b"]);
    assert_transcript!(t.run(&["create", "b", "c"]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "b" already exists in the repository
        created IOC "c"
        "#);
    assert!(t.repository().join("c/ioc.ini").exists());
}

#[test]
fn invalid_names_are_refused_and_the_valid_ones_created() {
    for bad in [
        "a b", "a,b", "a;b", "a|b", "a\\b", "a~b", "a`b", "a/b", "..", "../x", "_x", "",
    ] {
        let t = TestContext::new();
        let out = t
            .cmd(&["create", "good1", bad, "good2"])
            .assert()
            .code(1)
            .get_output()
            .clone();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{bad:?}: {stderr}");
        assert!(errors[0].contains("invalid IOC name"), "{bad:?}: {stderr}");
        // As set, exec and remove do: the valid names are still processed.
        for good in ["good1", "good2"] {
            assert!(
                t.repository().join(good).join("ioc.ini").is_file(),
                "{bad:?}"
            );
        }
        assert_eq!(t.ok(&["list"]), "good1 good2\n", "{bad:?}");
    }
}

#[test]
fn bad_options_write_nothing() {
    let t = TestContext::new();
    let runs = t.runs(&[
        &["create", "x", "-o", "novalue"][..],
        &["create", "x", "-o", "name=other"],
        &["create", "x", "-s", "src", "-o", "db_file=a.db"],
        &["create", "x", "-s", "a]b", "-o", "k=v"],
        &["create", "x", "-o", "[k]=v"],
        &["create", "x", "-f", "/no/such/ioc.ini"],
    ]);
    assert!(!t.repository().join("x").exists());
    assert_transcript!(runs, @r#"
        $ iocdock create x -o novalue
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: option "novalue": expected key=value

        $ iocdock create x -o name=other
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: option "name" of section [IOC] is managed by iocdock and cannot be set (use `iocdock rename`)

        $ iocdock create x -s src -o db_file=a.db
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: option "db_file" of section [SRC] is managed by iocdock and cannot be set (use `iocdock exec NAME --add-src-file`)

        $ iocdock create x -s 'a]b' -o k=v
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: section "a]b": expected letters, digits, '_' or '-'

        $ iocdock create x -o '[k]=v'
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: option "[k]=v": a key may not contain ':', '[', ']', '=', '#', ';' or a line break

        $ iocdock create x -f /no/such/ioc.ini
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: -f /no/such/ioc.ini: cannot use as ioc.ini: /no/such/ioc.ini: cannot read: No such file or directory (os error 2)
        "#);
}

#[test]
fn set_reports_nothing_to_change_and_missing_iocs() {
    let t = TestContext::new();
    t.ok(&["create", "a"]);
    assert_transcript!(t.run(&["set", "a"]), @r"
        exit 0
        ----- stdout -----
        ----- stderr -----
        warning: nothing to change: give -o key=value, -f FILE, a module flag or --add-asyn/--add-stream/--add-raw
        ");
    assert_transcript!(t.run(&["set", "a", "missing", "-o", "image=x"]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        updated ioc.ini of IOC "a"
        error: IOC "missing" does not exist in the repository
        "#);
    assert!(t.ioc_ini("a").contains("image = x\n"));
    let before = fs::metadata(t.repository().join("a/ioc.ini"))
        .unwrap()
        .modified()
        .unwrap();
    assert_transcript!(t.run(&["set", "a", "-o", "image=x"]), @r#"
        exit 0
        ----- stdout -----
        ----- stderr -----
        IOC "a": nothing changed
        "#);
    let after = fs::metadata(t.repository().join("a/ioc.ini"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after);
}

#[test]
fn the_iocmanager_symlink_works() {
    let t = TestContext::new();
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("IocManager");
    std::os::unix::fs::symlink(crate::bin(), &link).unwrap();
    let status = std::process::Command::new(&link)
        .args(["create", "viasymlink"])
        .env("IOCDOCK_HOME", t.home())
        .status()
        .unwrap();
    assert!(status.success());
    let out = std::process::Command::new(&link)
        .args(["list"])
        .env("IOCDOCK_HOME", t.home())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "viasymlink\n");
}
