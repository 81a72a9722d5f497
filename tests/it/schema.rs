//! Nothing wrong gets in: every option of ioc.ini and every IOC name is checked when it
//! is written (create, set, edit) with one line naming what is wrong and why, nothing
//! is written then, and what older files hold is reported by list and update.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::transcript::{Transcript, Transcripts};

use crate::docker::{StackGuard, TEST_IMAGE, docker_ready, unique_prefix};
use crate::{TestContext, project_file};

/// An IOC with every option valid, the template's image and sources in src/.
fn valid_ioc(t: &TestContext, name: &str) {
    let template = project_file("templates/test/test.ini");
    t.ok(&["create", name, "-f", template.to_str().unwrap()]);
    let load = format!("load=ramper.db, name={name}");
    t.ok(&["set", name, "-s", "db", "-o", &load]);
    let sources = project_file("templates/test");
    t.ok(&["exec", name, "--add-src-file", sources.to_str().unwrap()]);
}

/// Runs iocdock expecting exit 1 and exactly one error line.
fn one_error(t: &TestContext, args: &[&str]) -> Transcript {
    let run = t.run(args);
    let stderr = &run.stderr;
    assert_eq!(run.code, Some(1), "{args:?}: {stderr}");
    let errors = stderr.lines().filter(|l| l.starts_with("error:")).count();
    assert_eq!(errors, 1, "{args:?}: {stderr}");
    run
}

fn editor(t: &TestContext, file: &str, body: &str) -> PathBuf {
    let path = t.home().join(file);
    fs::write(&path, format!("#!/bin/sh\nset -e\n{body}\n")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn set_refuses_every_bad_value_with_one_line_and_writes_nothing() {
    let t = TestContext::new();
    valid_ioc(&t, "t");
    let before = t.tree_state();
    let cases: &[&[&str]] = &[
        // The key of [DEPLOY] given without -s lands in [IOC], where it is unknown.
        &["-o", "cpu_limit=0.5"],
        &["-s", "deploy", "-o", "cpu_limit=0.5"],
        &["-s", "deploy", "-o", "cpu-limit=lots"],
        &["-s", "deploy", "-o", "cpu-limit=0"],
        &["-s", "deploy", "-o", "memory-limit=512"],
        &["-s", "deploy", "-o", "memory-limit=5M"],
        &["-s", "deploy", "-o", "memory-reserve=2G"],
        &["-s", "deploy", "-o", "constraints=node.rack==a"],
        &["-s", "deploy", "-o", "constraints=node.labels.rack=a"],
        &["-s", "deploy", "-o", "constraints=node.role==boss"],
        &["-s", "deploy", "-o", "labels=service-type=other"],
        &["-o", "image=Registry.iasf/IOC-exec:1"],
        &["-o", "module=autosave, devIocStats"],
        &["-o", "bin=1st IOC"],
        &["-o", "host=/var/lib"],
        &["-s", "setting", "-o", "report_info=yes"],
        &["-s", "setting", "-o", "epics_env=9BAD=1"],
        &["-s", "db", "-o", "load=ramper.db, name"],
        &["-s", "raw", "-o", "file_copy=src/ramper.db:../x.db"],
        &["-s", "raw", "-o", "cmd_before_load=x"],
    ];
    let mut runs = Transcripts::default();
    for options in cases {
        let mut args = vec!["set", "t"];
        args.extend_from_slice(options);
        runs.push(&args, one_error(&t, &args));
        assert!(before == t.tree_state(), "{options:?} wrote something");
    }
    assert_transcript!(runs, @r#"
        $ iocdock set t -o cpu_limit=0.5
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "t": option "cpu_limit" (value "0.5") is not an option of section [IOC]: did you mean "cpu-limit" of section [DEPLOY]? (options of [IOC]: name, host, image, bin, module, description)
        IOC "t": nothing written

        $ iocdock set t -s deploy -o cpu_limit=0.5
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "t": option "cpu_limit" (value "0.5") is not an option of section [DEPLOY]: did you mean "cpu-limit"? (options of [DEPLOY]: labels, cpu-limit, memory-limit, cpu-reserve, memory-reserve, constraints, health-check, health-pv)
        IOC "t": nothing written

        $ iocdock set t -s deploy -o cpu-limit=lots
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "t": option "cpu-limit" of section [DEPLOY] is "lots": expected a number of CPUs such as 0.5 or 2: digits with an optional decimal point, at least 0.001, at most 9 decimals
        IOC "t": nothing written

        $ iocdock set t -s deploy -o cpu-limit=0
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "t": option "cpu-limit" of section [DEPLOY] is "0": expected a number of CPUs such as 0.5 or 2: digits with an optional decimal point, at least 0.001, at most 9 decimals
        IOC "t": nothing written

        $ iocdock set t -s deploy -o memory-limit=512
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "t": option "memory-limit" of section [DEPLOY] is "512": expected a size with a unit b, k, m or g (k, m and g may be followed by b), e.g. 512M, 1G or 1.5g, at least 6M
        IOC "t": nothing written

        $ iocdock set t -s deploy -o memory-limit=5M
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "t": option "memory-limit" of section [DEPLOY] is "5M": expected a size with a unit b, k, m or g (k, m and g may be followed by b), e.g. 512M, 1G or 1.5g, at least 6M
        IOC "t": nothing written

        $ iocdock set t -s deploy -o memory-reserve=2G
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "t": option "memory-reserve" of section [DEPLOY] is "2G": more than memory-limit "1G" (the engine refuses a reservation above the limit)
        IOC "t": nothing written

        $ iocdock set t -s deploy -o constraints=node.rack==a
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "t": option "constraints" of section [DEPLOY] has the line "node.rack==a": "node.rack" is no attribute swarm places by; expected ATTRIBUTE==value or ATTRIBUTE!=value with an attribute swarm knows (node.id, node.hostname, node.ip, node.role, node.platform.os, node.platform.arch, node.labels.LABEL, engine.labels.LABEL), e.g. node.labels.rack==a
        IOC "t": nothing written

        $ iocdock set t -s deploy -o constraints=node.labels.rack=a
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "t": option "constraints" of section [DEPLOY] has the line "node.labels.rack=a": expected ATTRIBUTE==value or ATTRIBUTE!=value with an attribute swarm knows (node.id, node.hostname, node.ip, node.role, node.platform.os, node.platform.arch, node.labels.LABEL, engine.labels.LABEL), e.g. node.labels.rack==a
        IOC "t": nothing written

        $ iocdock set t -s deploy -o constraints=node.role==boss
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "t": option "constraints" of section [DEPLOY] has the line "node.role==boss": node.role is manager or worker, not "boss" (no node would match)
        IOC "t": nothing written

        $ iocdock set t -s deploy -o labels=service-type=other
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "t": option "labels" of section [DEPLOY] has the line "service-type=other": the label "service-type" is set by iocdock (service-type: ioc), choose another key
        IOC "t": nothing written

        $ iocdock set t -o image=Registry.iasf/IOC-exec:1
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "t": option "image" of section [IOC] is "Registry.iasf/IOC-exec:1": expected an image reference as docker takes it: [REGISTRY[:PORT]/]NAME[:TAG][@DIGEST], NAME in lower case, e.g. registry.iasf/ioc-exec:1.1.0
        IOC "t": nothing written

        $ iocdock set t -o 'module=autosave, devIocStats'
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "t": option "module" of section [IOC] names "devIocStats": not a module (known: autosave, caputlog, status-ioc, status-os)
        IOC "t": nothing written

        $ iocdock set t -o 'bin=1st IOC'
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "t": option "bin" of section [IOC] is "1st IOC": expected the name of the IOC executable in the image: letters, digits, "_" and "-", not starting with a digit or "-" (e.g. ST-IOC)
        IOC "t": nothing written

        $ iocdock set t -o host=/var/lib
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "t": option "host" of section [IOC] is "/var/lib": expected swarm or a host name: dot-separated labels of letters, digits and '-', 1-63 characters each, not starting or ending with '-', 253 characters at most
        IOC "t": nothing written

        $ iocdock set t -s setting -o report_info=yes
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "t": option "report_info" of section [SETTING] is "yes": expected true or false
        IOC "t": nothing written

        $ iocdock set t -s setting -o epics_env=9BAD=1
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "t": option "epics_env" of section [SETTING] has the line "9BAD=1": expected NAME=value, NAME of letters, digits and "_", value without double quotes
        IOC "t": nothing written

        $ iocdock set t -s db -o 'load=ramper.db, name'
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "t": option "load" of section [DB] has the line "ramper.db, name": invalid macro definition "name": expected NAME=value
        IOC "t": nothing written

        $ iocdock set t -s raw -o file_copy=src/ramper.db:../x.db
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "t": option "file_copy" of section [RAW] has the line "src/ramper.db:../x.db": destination "../x.db" must be a path inside project/ (no leading "/", no "." or "..")
        IOC "t": nothing written

        $ iocdock set t -s raw -o cmd_before_load=x
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "t": option "cmd_before_load" (value "x") is not an option of section [RAW]: did you mean "cmd_before_dbload"? (options of [RAW]: cmd_before_dbload, cmd_at_dbload, cmd_after_iocinit, file_copy)
        IOC "t": nothing written
        "#);
    // Sections of the operator's own take anything.
    t.ok(&["set", "t", "-s", "site", "-o", "cpu_limit=whatever"]);
    assert!(t.ioc_ini("t").ends_with("[SITE]\ncpu_limit = whatever\n\n"));
}

#[test]
fn a_host_outside_the_nodes_is_a_warning_until_export() {
    let t = TestContext::new();
    t.write_settings("cluster_worker_nodes: {w1: 10.0.0.11}\ndefault_nodes: {rack-2: 10.0.0.20}\n");
    valid_ioc(&t, "h");
    assert_transcript!(t.run(&["set", "h", "-o", "host=k8s"]), @r#"
        exit 0
        ----- stdout -----
        ----- stderr -----
        warning: IOC "h": option "host" of section [IOC] is "k8s": not a node of the settings (cluster_manager_nodes, cluster_worker_nodes, default_nodes: w1, rack-2); an IOC is exported for swarm or one of them
        updated ioc.ini of IOC "h"
        "#);
    assert!(t.ioc_ini("h").contains("host = k8s\n"));
    t.ok(&["exec", "h", "--gen-startup-file"]);
    let before = t.tree_state();
    assert_transcript!(one_error(&t, &["exec", "h", "--export-for-mount"]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "h": option "host" of section [IOC] is "k8s": not a node of the settings (cluster_manager_nodes, cluster_worker_nodes, default_nodes: w1, rack-2); an IOC is exported for swarm or one of them
        "#);
    assert!(before == t.tree_state(), "a refused export writes nothing");
    assert!(!t.mount().join("k8s").exists());
    // A node of the settings exports.
    t.ok(&["set", "h", "-o", "host=rack-2"]);
    t.ok(&["exec", "h", "--generate-and-export"]);
    assert!(t.mount().join("rack-2/h/ioc.ini").is_file());
}

#[test]
fn an_empty_image_is_refused_at_export_naming_the_option() {
    let t = TestContext::new();
    valid_ioc(&t, "e");
    t.ok(&["set", "e", "-o", "image="]);
    t.ok(&["exec", "e", "--gen-startup-file"]);
    let before = t.tree_state();
    let mut runs = Transcripts::default();
    for action in ["--export-for-mount", "--deploy"] {
        let args = ["exec", "e", action];
        runs.push(&args, one_error(&t, &args));
    }
    assert_transcript!(runs, @r#"
        $ iocdock exec e --export-for-mount
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "e": option "image" of section [IOC] is empty: expected an image reference as docker takes it: [REGISTRY[:PORT]/]NAME[:TAG][@DIGEST], NAME in lower case, e.g. registry.iasf/ioc-exec:1.1.0; it is needed to export and deploy the IOC

        $ iocdock exec e --deploy
        exit 1
        ----- stdout -----
        ----- stderr -----
        IOC "e": generated 6 startup files
        error: IOC "e": option "image" of section [IOC] is empty: expected an image reference as docker takes it: [REGISTRY[:PORT]/]NAME[:TAG][@DIGEST], NAME in lower case, e.g. registry.iasf/ioc-exec:1.1.0; it is needed to export and deploy the IOC
        "#);
    assert!(before == t.tree_state(), "a refused export writes nothing");
    assert!(!t.run_dir("e").exists());
}

#[test]
fn names_swarm_or_the_built_in_services_need_are_refused_by_create() {
    let t = TestContext::new();
    assert_transcript!(t.run(&["create", "1.bad", "good", "ab-", "client", "ab_"]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC name "1.bad" cannot run as the swarm service "iasf_srv-1.bad": it has a "." (swarm service names are letters and digits, joined by single runs of "-" or "_", 63 characters at most); choose another name (e.g. 1-bad)
        created IOC "good"
        error: IOC name "ab-" cannot run as the swarm service "iasf_srv-ab-": it ends with "-" or "_" (swarm service names are letters and digits, joined by single runs of "-" or "_", 63 characters at most); choose another name (e.g. ab)
        error: IOC name "client" is reserved for the built-in service "client" (IOC names may not be the name of a built-in service, a service of services.yaml or the run folders iocLog, iocs, global-services, in any case)
        error: IOC name "ab_" cannot run as the swarm service "iasf_srv-ab_": it ends with "-" or "_" (swarm service names are letters and digits, joined by single runs of "-" or "_", 63 characters at most); choose another name (e.g. ab)
        "#);
    assert_eq!(t.ok(&["list"]), "good\n");

    // The length counts with the prefix: 63 characters in all.
    t.write_settings(&format!("prefix_stack_name: {}\n", "p".repeat(20)));
    let fits = "n".repeat(38);
    t.ok(&["create", &fits]);
    assert_transcript!(one_error(&t, &["create", &"m".repeat(39)]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC name "mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm" cannot run as the swarm service "pppppppppppppppppppp_srv-mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm": that is 64 characters; with prefix_stack_name "pppppppppppppppppppp" IOC names have 38 at most (swarm service names are letters and digits, joined by single runs of "-" or "_", 63 characters at most); choose another name (e.g. mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm)
        "#);
    assert_transcript!(one_error(&t, &["rename", "good", "bad.name"]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC name "bad.name" cannot run as the swarm service "pppppppppppppppppppp_srv-bad.name": it has a "." (swarm service names are letters and digits, joined by single runs of "-" or "_", 63 characters at most); choose another name (e.g. bad-name)
        "#);
    assert!(t.repository().join("good").is_dir());
    // A prefix swarm refuses is named before any IOC is made.
    t.write_settings("prefix_stack_name: lab.one\n");
    assert_transcript!(one_error(&t, &["create", "x"]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: [HOME]/settings.yaml: prefix_stack_name: "lab.one" is not a stack name swarm accepts (letters and digits, joined by single runs of "-" or "_"; services are named <prefix>_srv-<name>)
        "#);
    assert!(!t.repository().join("x").exists());
}

#[test]
fn existing_names_swarm_refuses_are_reported_with_the_rename_to_run() {
    let t = TestContext::new();
    valid_ioc(&t, "dotted");
    // Made by an earlier version, which allowed dots.
    let old = t.repository().join("dotted");
    let new = t.repository().join("1.bad");
    fs::rename(&old, &new).unwrap();
    let ini = fs::read_to_string(new.join("ioc.ini")).unwrap();
    fs::write(
        new.join("ioc.ini"),
        ini.replace("name = dotted\n", "name = 1.bad\n"),
    )
    .unwrap();
    let before = t.tree_state();

    assert_eq!(t.ok(&["list", "state=error"]), "1.bad\n");
    assert_transcript!(t.run(&["list", "-i", "name=1.bad"]), @r#"
        exit 0
        ----- stdout -----
        ============================== "1.bad" ===============================
        [STATE]
        state: error
        state_info: error: name swarm refuses
        	    IOC name "1.bad" cannot run as the swarm service "iasf_srv-1.bad": it has a "." (swarm service names are letters and digits, joined by single runs of "-" or "_", 63 characters at most); rename it (iocdock rename 1.bad 1-bad) (last seen [TIME])
        status: created
        snapshot: untracked
        is_exported: false

        [IOC]
        name: 1.bad
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
        load: ramper.db, name=dotted

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
    assert!(before == t.tree_state(), "list never writes");
    assert_transcript!(one_error(&t, &["exec", "1.bad", "--deploy"]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        IOC "1.bad": generated 6 startup files
        error: IOC name "1.bad" cannot run as the swarm service "iasf_srv-1.bad": it has a "." (swarm service names are letters and digits, joined by single runs of "-" or "_", 63 characters at most); rename the IOC first (iocdock rename 1.bad 1-bad)
        "#);
    assert_transcript!(t.run(&["update"]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC name "1.bad" cannot run as the swarm service "iasf_srv-1.bad": it has a "." (swarm service names are letters and digits, joined by single runs of "-" or "_", 63 characters at most); rename it (iocdock rename 1.bad 1-bad)
        "#);

    t.ok(&["rename", "1.bad", "1-bad"]);
    assert_eq!(t.ok(&["list", "state=error"]), "");
    t.ok(&["exec", "1-bad", "--deploy"]);
}

#[test]
fn list_and_update_report_options_that_break_the_schema() {
    let t = TestContext::new();
    valid_ioc(&t, "old");
    let path = t.repository().join("old/ioc.ini");
    // What `-o cpu_limit=0.5` wrote before options were checked.
    let ini = t
        .ioc_ini("old")
        .replace("[DEPLOY]\n", "[DEPLOY]\ncpu_limit = 0.5\n");
    fs::write(&path, ini).unwrap();
    let before = t.tree_state();
    assert_transcript!(t.run(&["list", "-i", "name=old"]), @r#"
        exit 0
        ----- stdout -----
        =============================== "old" ================================
        [STATE]
        state: error
        state_info: error: invalid option
        	    IOC "old": option "cpu_limit" (value "0.5") is not an option of section [DEPLOY]: did you mean "cpu-limit"? (options of [DEPLOY]: labels, cpu-limit, memory-limit, cpu-reserve, memory-reserve, constraints, health-check, health-pv); fix it (iocdock edit old) (last seen [TIME])
        status: created
        snapshot: untracked
        is_exported: false

        [IOC]
        name: old
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
        load: ramper.db, name=old

        [SETTING]
        report_info: true
        caputlog_json: false
        epics_env: 

        [DEPLOY]
        cpu_limit: 0.5
        labels: test=true
        cpu-limit: 1
        memory-limit: 1G
        cpu-reserve: 
        memory-reserve: 
        constraints: 

        ----- stderr -----
        "#);
    assert!(before == t.tree_state(), "list never writes");
    assert_transcript!(t.run(&["update"]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "old": option "cpu_limit" (value "0.5") is not an option of section [DEPLOY]: did you mean "cpu-limit"? (options of [DEPLOY]: labels, cpu-limit, memory-limit, cpu-reserve, memory-reserve, constraints, health-check, health-pv); fix it (iocdock edit old)
        "#);
    // Still usable: a set of another option works, and says what is left.
    assert_transcript!(t.run(&["set", "old", "-o", "description=still mine"]), @r#"
        exit 0
        ----- stdout -----
        ----- stderr -----
        warning: IOC "old": option "cpu_limit" (value "0.5") is not an option of section [DEPLOY]: did you mean "cpu-limit"? (options of [DEPLOY]: labels, cpu-limit, memory-limit, cpu-reserve, memory-reserve, constraints, health-check, health-pv)
        updated ioc.ini of IOC "old"
        "#);
    assert!(t.ioc_ini("old").contains("description = still mine\n"));
}

#[test]
fn edit_saves_only_a_valid_file_and_keeps_a_refused_one() {
    let t = TestContext::new();
    valid_ioc(&t, "a");
    let ini = t.repository().join("a/ioc.ini");
    let copy = t.repository().join("a/.ioc.ini.edit");
    let original = fs::read(&ini).unwrap();

    // [DB] renamed: refused, ioc.ini untouched, the edit kept.
    let rename_db = editor(&t, "rename-db.sh", "sed -i 's/^\\[DB\\]$/[DBX]/' \"$1\"");
    assert_transcript!(t.transcript(t.cmd(&["edit", "a"]).env("EDITOR", &rename_db)), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "a": section [DB] is missing: expected [DB] with load; [DBX] is no section iocdock reads: is it [DB] renamed?
        warning: IOC "a": ioc.ini was not changed; the edit is kept at [HOME]/IocDock/ioc-repository/a/.ioc.ini.edit and `iocdock edit a` opens it again (--discard drops it)
        "#);
    assert_eq!(
        fs::read(&ini).unwrap(),
        original,
        "ioc.ini must stay as it was"
    );
    assert!(fs::read_to_string(&copy).unwrap().contains("[DBX]\n"));

    // The next edit opens the kept copy; fixed there, it is saved as typed.
    let fix = editor(
        &t,
        "fix.sh",
        "grep -q '^\\[DBX\\]$' \"$1\"\nsed -i -e 's/^\\[DBX\\]$/[DB]/' -e 's/^cpu-limit = 1$/cpu-limit = 2/' \"$1\"\necho '# kept as typed' >> \"$1\"",
    );
    assert_transcript!(t.transcript(t.cmd(&["edit", "a"]).env("EDITOR", &fix)), @r#"
        exit 0
        ----- stdout -----
        ----- stderr -----
        IOC "a": continuing the edit kept at [HOME]/IocDock/ioc-repository/a/.ioc.ini.edit (--discard starts again from ioc.ini)
        IOC "a": ioc.ini saved
        "#);
    let saved = t.ioc_ini("a");
    assert!(saved.contains("cpu-limit = 2\n"), "{saved}");
    assert!(saved.ends_with("# kept as typed\n"), "{saved}");
    assert!(!copy.exists(), "a saved edit leaves no copy");

    // A misspelt option is refused with the option it resembles.
    let misspell = editor(
        &t,
        "misspell.sh",
        "sed -i 's/^cpu-limit = 2$/cpu_limit = 3/' \"$1\"",
    );
    assert_transcript!(t.transcript(t.cmd(&["edit", "a"]).env("EDITOR", &misspell)), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "a": option "cpu_limit" (value "3") is not an option of section [DEPLOY]: did you mean "cpu-limit"? (options of [DEPLOY]: labels, cpu-limit, memory-limit, cpu-reserve, memory-reserve, constraints, health-check, health-pv)
        warning: IOC "a": ioc.ini was not changed; the edit is kept at [HOME]/IocDock/ioc-repository/a/.ioc.ini.edit and `iocdock edit a` opens it again (--discard drops it)
        "#);
    assert_eq!(t.ioc_ini("a"), saved);

    // --discard starts again from ioc.ini.
    let untouched = editor(&t, "untouched.sh", "! grep -q '^cpu_limit' \"$1\"");
    let run = t.transcript(t.cmd(&["edit", "a", "--discard"]).env("EDITOR", &untouched));
    assert_transcript!(run, @r#"
        exit 0
        ----- stdout -----
        ----- stderr -----
        IOC "a": ioc.ini unchanged
        "#);
    assert!(!copy.exists());
    assert_eq!(t.ioc_ini("a"), saved);
}

#[test]
fn edit_never_overwrites_what_another_command_wrote_meanwhile() {
    let t = TestContext::new();
    valid_ioc(&t, "a");
    // While the editor is open, a cron job (or another operator) sets an option.
    let body = format!(
        "IOCDOCK_HOME='{}' '{}' set a -o description=meanwhile\nsed -i 's/^cpu-limit = 1$/cpu-limit = 2/' \"$1\"",
        t.home().display(),
        crate::bin().display()
    );
    let concurrent = editor(&t, "concurrent.sh", &body);
    let out = t
        .cmd(&["edit", "a"])
        .env("EDITOR", &concurrent)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("ioc.ini was written by another command while it was edited"),
        "{stderr}"
    );
    let ini = t.ioc_ini("a");
    assert!(ini.contains("description = meanwhile\n"), "{ini}");
    assert!(ini.contains("cpu-limit = 1\n"), "{ini}");
    let kept = fs::read_to_string(t.repository().join("a/.ioc.ini.edit")).unwrap();
    assert!(kept.contains("cpu-limit = 2\n"), "{kept}");
}

#[test]
fn add_src_file_takes_no_ioc_name_for_its_folder() {
    let t = TestContext::new();
    t.ok(&["create", "ioc1", "ioc2"]);
    let work = t.home().join("work");
    fs::create_dir_all(&work).unwrap();
    let before = t.tree_state();
    // What `iocdock list | xargs iocdock exec --add-src-file` runs.
    let out = t
        .cmd(&["exec", "--add-src-file", "ioc1", "ioc2"])
        .current_dir(&work)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("--add-src-file ioc1: \"ioc1\" is the name of an IOC and no folder here")
            && stderr.contains("iocdock exec NAME... --add-src-file"),
        "{stderr}"
    );
    assert!(before == t.tree_state(), "nothing may be written");

    // A folder of that name here is still ambiguous; written as a path it is not.
    let folder = work.join("ioc1");
    fs::create_dir_all(&folder).unwrap();
    fs::write(folder.join("x.db"), "record(ai, \"x\") {}\n").unwrap();
    let out = t
        .cmd(&["exec", "--add-src-file", "ioc1", "ioc2"])
        .current_dir(&work)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("as well as a folder here") && stderr.contains("./ioc1"),
        "{stderr}"
    );
    t.cmd(&["exec", "ioc2", "--add-src-file", "./ioc1"])
        .current_dir(&work)
        .assert()
        .success();
    assert!(t.ioc_ini("ioc2").contains("db_file = x.db\n"));
    // Names before the flag rescan their src/.
    t.ok(&["exec", "ioc1", "ioc2", "--add-src-file"]);
    let run = one_error(&t, &["exec", "ioc1", "--add-src-file", "/nonexistent/dir"]);
    assert_transcript!(run, @r"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: --add-src-file /nonexistent/dir: no such folder (expected the folder to copy *.db, *.proto and *.im files from)
        ");
}

#[test]
fn a_registry_name_is_judged_alike_by_every_command() {
    let t = TestContext::new();
    t.write_settings(&format!(
        "{}registry_common_name: registry..iasf\n",
        crate::builtin::CREDENTIALS
    ));
    for args in [
        &["swarm", "--gen-built-in-services", "--yes"][..],
        &["make-certs"],
        &["cluster", "--gen-inventory-files"],
    ] {
        let out = t
            .cmd(args)
            .env(
                "DOCKER_HOST",
                "unix:///nonexistent/iocdock-test/docker.sock",
            )
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if args[0] == "cluster" {
            // The inventory does not use the registry's name.
            assert!(out.status.success(), "{args:?}: {stderr}");
            continue;
        }
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("registry_common_name: \"registry..iasf\" is not a DNS name"),
            "{args:?}: {stderr}"
        );
    }
}

/// Whether the engine creates a service of this name (created without a task, and
/// removed again at once).
fn engine_accepts(prefix: &str, service: &str) -> bool {
    let created = Command::new("docker")
        .args([
            "service",
            "create",
            "--detach",
            "--no-resolve-image",
            "--replicas",
            "0",
            "--label",
            &format!("com.docker.stack.namespace={prefix}"),
            "--name",
            service,
            TEST_IMAGE,
            "true",
        ])
        .output()
        .expect("docker CLI");
    if created.status.success() {
        let _ = Command::new("docker")
            .args(["service", "rm", service])
            .output();
        return true;
    }
    let stderr = String::from_utf8_lossy(&created.stderr);
    assert!(
        stderr.contains("name must be"),
        "{service}: refused for another reason: {stderr}"
    );
    false
}

#[test]
fn ioc_names_match_what_the_engine_accepts() {
    if !docker_ready("ioc_names_match_what_the_engine_accepts") {
        return;
    }
    // A prefix of 20 characters puts the 63-character limit within IOC names' 40.
    let base = unique_prefix("nm");
    let prefix = format!("{base}{}", "x".repeat(20usize.saturating_sub(base.len())));
    assert_eq!(prefix.len(), 20, "{prefix}");
    let _guard = StackGuard(prefix.clone());
    let t = TestContext::new();
    t.write_settings(&format!("prefix_stack_name: {prefix}\n"));
    let just_inside = "n".repeat(63 - 25);
    let just_outside = "n".repeat(63 - 24);
    let cases = [
        ("ok-1", true),
        ("ok_1", true),
        ("a--b__c", true),
        (just_inside.as_str(), true),
        (just_outside.as_str(), false),
        ("a.b", false),
        ("ab-", false),
        ("ab_", false),
    ];
    for (name, expected) in cases {
        let service = format!("{prefix}_srv-{name}");
        let engine = engine_accepts(&prefix, &service);
        assert_eq!(engine, expected, "the engine on {service}");
        let created = t.cmd(&["create", name]).output().unwrap();
        assert_eq!(
            created.status.success(),
            engine,
            "iocdock create {name}: {}",
            String::from_utf8_lossy(&created.stderr)
        );
    }
    assert!(Path::new(&t.repository().join(&just_inside)).is_dir());
}
