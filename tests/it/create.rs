use std::fs;

use predicates::prelude::*;

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
    t.cmd(&["create", "t1"])
        .assert()
        .success()
        .stdout("")
        .stderr(predicate::str::contains("created IOC \"t1\""));
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
    let ini = t.ioc_ini("t1");
    assert!(ini.contains("bin = MY-IOC\nmodule = caputlog\n"), "{ini}");
    assert!(
        ini.contains("cpu-limit = 0.5\nmemory-limit = 256M\n"),
        "{ini}"
    );
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
    let ini = t.ioc_ini("ioc");
    assert!(ini.contains("name = ioc\n"), "{ini}");
    assert!(ini.contains("load = ramper.db, name=test\n"), "{ini}");
    assert!(ini.contains("module = autosave, caputlog, status-ioc, status-os\n"));

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
    let ini = t.ioc_ini("copy");
    assert!(ini.contains("name = copy\n"), "{ini}");
    assert!(ini.contains("db_file = \n"), "{ini}");
    assert!(ini.contains("image = mine\n"), "{ini}");
    assert!(
        ini.contains("cpu-limit = 0.8\nmemory-limit = 0.8G\n"),
        "{ini}"
    );

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
    assert!(stream.contains(
        "cmd_before_dbload = \n\tepicsEnvSet(\"STREAM_PROTOCOL_PATH\", \"/opt/EPICS/RUN/stream/startup\")\n\tdrvAsynIPPortConfigure"
    ), "{stream}");
    assert!(stream.contains("file_copy = src/protocol_file.proto:startup/protocol_file.proto:r\n"));
    assert!(t.ioc_ini("raw").ends_with(
        "[RAW]\ncmd_before_dbload = \ncmd_at_dbload = \ncmd_after_iocinit = \nfile_copy = \n\n"
    ));
}

#[test]
fn several_names_at_once_and_existing_ones_fail_alone() {
    let t = TestContext::new();
    t.ok(&["create", "a", "b"]);
    t.cmd(&["create", "b", "c"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("IOC \"b\" already exists"));
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
    for args in [
        vec!["create", "x", "-o", "novalue"],
        vec!["create", "x", "-o", "name=other"],
        vec!["create", "x", "-s", "src", "-o", "db_file=a.db"],
        vec!["create", "x", "-s", "a]b", "-o", "k=v"],
        vec!["create", "x", "-o", "[k]=v"],
        vec!["create", "x", "-f", "/no/such/ioc.ini"],
    ] {
        let out = t.cmd(&args).assert().code(1).get_output().clone();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(!t.repository().join("x").exists(), "{args:?}");
    }
}

#[test]
fn set_reports_nothing_to_change_and_missing_iocs() {
    let t = TestContext::new();
    t.ok(&["create", "a"]);
    t.cmd(&["set", "a"])
        .assert()
        .success()
        .stderr(predicate::str::contains("nothing to change"));
    t.cmd(&["set", "a", "missing", "-o", "image=x"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("IOC \"missing\" does not exist"));
    assert!(t.ioc_ini("a").contains("image = x\n"));
    let before = fs::metadata(t.repository().join("a/ioc.ini"))
        .unwrap()
        .modified()
        .unwrap();
    t.cmd(&["set", "a", "-o", "image=x"])
        .assert()
        .success()
        .stderr(predicate::str::contains("nothing changed"));
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
