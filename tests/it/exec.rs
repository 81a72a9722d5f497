//! exec actions: sources, startup files, export, service file, snapshots, diffs.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::transcript::Transcripts;

use crate::{TestContext, fixtures_dir, project_file};

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// An IOC made the documented way: test template, test sources, its own load line.
fn test_ioc(t: &TestContext, name: &str, extra: &[&str]) {
    let template = project_file("templates/test/test.ini");
    let mut args = vec!["create", name, "-f", template.to_str().unwrap()];
    args.extend_from_slice(extra);
    t.ok(&args);
    t.ok(&[
        "set",
        name,
        "-s",
        "db",
        "-o",
        &format!("load=ramper.db, name={name}"),
    ]);
    t.ok(&[
        "exec",
        name,
        "--add-src-file",
        project_file("templates/test").to_str().unwrap(),
    ]);
}

#[test]
fn add_src_file_copies_and_lists_sources() {
    let t = TestContext::new();
    t.ok(&["create", "a", "b"]);
    let dir = t.home().join("incoming");
    fs::create_dir_all(&dir).unwrap();
    for file in ["x.db", "y.db", "dev.proto", "notes.im", "ignored.txt"] {
        fs::write(dir.join(file), file).unwrap();
    }
    t.ok(&["exec", "a", "b", "--add-src-file", dir.to_str().unwrap()]);
    for ioc in ["a", "b"] {
        let ini = t.ioc_ini(ioc);
        assert!(
            ini.contains(
                "db_file = x.db, y.db\nprotocol_file = dev.proto\nothers_file = notes.im\n"
            ),
            "{ini}"
        );
        assert!(!t.repository().join(ioc).join("src/ignored.txt").exists());
        assert_eq!(mode(&t.repository().join(ioc).join("src/x.db")), 0o644);
    }
    fs::remove_file(t.repository().join("a/src/y.db")).unwrap();
    t.ok(&["exec", "a", "--add-src-file"]);
    assert!(t.ioc_ini("a").contains("db_file = x.db\n"));
}

#[test]
fn generated_files_match_the_original_tool_byte_for_byte() {
    let t = TestContext::new();
    t.install_fixture_repository();
    t.ok(&["exec", "worker_test_1", "--gen-startup-file"]);
    let startup = t.repository().join("worker_test_1/project/startup");
    let expected = fixtures_dir().join("expected/worker_test_1");
    assert_eq!(
        fs::read_to_string(startup.join("iocBoot/st.cmd")).unwrap(),
        fs::read_to_string(expected.join("st.cmd")).unwrap()
    );
    assert_eq!(
        fs::read_to_string(startup.join("db/worker_test_1.substitutions")).unwrap(),
        fs::read_to_string(expected.join("worker_test_1.substitutions")).unwrap()
    );
    assert_eq!(mode(&startup.join("iocBoot/st.cmd")), 0o555);
    assert_eq!(mode(&startup.join("db/worker_test_1.substitutions")), 0o444);
    assert_eq!(mode(&startup.join("db/ramper.db")), 0o444);
    assert!(startup.join("worker_test_1.acf").is_file());
    assert!(startup.join("db/status_ioc.db").is_file());
    assert!(startup.join("db/status_OS.db").is_file());
    assert!(
        t.repository()
            .join("worker_test_1/project/settings/autosave")
            .is_dir()
    );
    assert!(
        t.repository()
            .join("worker_test_1/project/logs/autosave")
            .is_dir()
    );
    assert_eq!(t.state_json("worker_test_1")["status"], "generated");
}

#[test]
fn validation_lists_every_problem_and_sets_warning() {
    let t = TestContext::new();
    t.ok(&["create", "bad"]);
    // A file edited by hand (or by an older version) with a problem in many options.
    let path = t.repository().join("bad/ioc.ini");
    let ini = t
        .ioc_ini("bad")
        .replace("bin = ST-IOC\n", "bin = \n")
        .replace(
            "module = autosave, caputlog\n",
            "module = autosave, nosuch\n",
        )
        .replace(
            "load = \n",
            "load = \n\tmissing.db, name=x\n\t../../etc/passwd.db\n",
        )
        .replace("epics_env = \n", "epics_env = NOEQUALS\n");
    fs::write(&path, ini).unwrap();
    // One line per problem.
    assert_transcript!(t.run(&["exec", "bad", "--gen-startup-file"]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "bad": startup files not generated: option "module" in section "IOC" invalid. "nosuch": not a module (known: autosave, caputlog, status-ioc, status-os).
        error: IOC "bad": startup files not generated: option "load" in section "DB" invalid. in "../../etc/passwd.db". db file "../../etc/passwd.db" must be the name of a file in src/ (no folder, quote or backslash).
        error: IOC "bad": startup files not generated: option "epics_env" in section "SETTING" invalid. in "NOEQUALS". expected NAME=value, NAME of letters, digits and "_", value without double quotes.
        error: IOC "bad": startup files not generated: option "bin" in section "IOC" not set. expected the name of the IOC executable in the image: letters, digits, "_" and "-", not starting with a digit or "-" (e.g. ST-IOC); it is needed to generate the startup files.
        error: IOC "bad": startup files not generated: option "load" in section "DB" invalid. db file "missing.db" not found.
        "#);
    assert!(!t.repository().join("bad/project/startup").exists());
    // Options that break their rule make the state error, not only a warning.
    assert_transcript!(t.run(&["list", "-i", "name=bad"]), @r#"
        exit 0
        ----- stdout -----
        =============================== "bad" ================================
        [STATE]
        state: error
        state_info: error: invalid option
        	    IOC "bad": option "epics_env" of section [SETTING] has the line "NOEQUALS": expected NAME=value, NAME of letters, digits and "_", value without double quotes; fix it (iocdock edit bad) (last seen [TIME])
        	    IOC "bad": option "load" of section [DB] has the line "../../etc/passwd.db": db file "../../etc/passwd.db" must be the name of a file in src/ (no folder, quote or backslash); fix it (iocdock edit bad) (last seen [TIME])
        	    IOC "bad": option "module" of section [IOC] names "nosuch": not a module (known: autosave, caputlog, status-ioc, status-os); fix it (iocdock edit bad) (last seen [TIME])
        	    warning: option "bin" in section "IOC" not set.
        	    expected the name of the IOC executable in the image: letters, digits, "_" and "-", not starting with a digit or "-" (e.g. ST-IOC); it is needed to generate the startup files. (last seen [TIME])
        	    warning: option "epics_env" in section "SETTING" invalid.
        	    in "NOEQUALS". expected NAME=value, NAME of letters, digits and "_", value without double quotes. (last seen [TIME])
        	    warning: option "load" in section "DB" invalid.
        	    db file "missing.db" not found. (last seen [TIME])
        	    in "../../etc/passwd.db". db file "../../etc/passwd.db" must be the name of a file in src/ (no folder, quote or backslash). (last seen [TIME])
        	    warning: option "module" in section "IOC" invalid.
        	    "nosuch": not a module (known: autosave, caputlog, status-ioc, status-os). (last seen [TIME])
        status: created
        snapshot: untracked
        is_exported: false

        [IOC]
        name: bad
        host: swarm
        image: 
        bin: 
        module: autosave, nosuch
        description: 

        [SRC]
        db_file: 
        protocol_file: 
        others_file: 

        [DB]
        load: 
        	missing.db, name=x
        	../../etc/passwd.db

        [SETTING]
        report_info: true
        caputlog_json: false
        epics_env: NOEQUALS

        [DEPLOY]
        labels: 
        cpu-limit: 1
        memory-limit: 1G
        cpu-reserve: 
        memory-reserve: 
        constraints: 

        ----- stderr -----
        "#);
    assert_eq!(t.ok(&["list", "state=warning"]), "");
    // set fixes a file with older problems one option at a time, and warns of the rest.
    assert_transcript!(t.run(&["set", "bad", "-o", "bin=ST-IOC", "module=autosave"]), @r#"
        exit 0
        ----- stdout -----
        ----- stderr -----
        warning: IOC "bad": option "load" of section [DB] has the line "../../etc/passwd.db": db file "../../etc/passwd.db" must be the name of a file in src/ (no folder, quote or backslash)
        warning: IOC "bad": option "epics_env" of section [SETTING] has the line "NOEQUALS": expected NAME=value, NAME of letters, digits and "_", value without double quotes
        updated ioc.ini of IOC "bad"
        "#);
    t.ok(&["set", "bad", "-s", "setting", "-o", "epics_env=A=1"]);
    fs::write(
        t.repository().join("bad/src/missing.db"),
        "record(ai, \"x:$(name)\") {}\n",
    )
    .unwrap();
    t.ok(&["set", "bad", "-s", "db", "-o", "load=missing.db, name=x"]);
    t.ok(&["exec", "bad", "--gen-startup-file"]);
    assert_eq!(t.ok(&["list", "state=normal", "status=generated"]), "bad\n");
}

#[test]
fn file_copy_may_not_escape_the_project() {
    let t = TestContext::new();
    test_ioc(&t, "esc", &["--add-raw"]);
    let before = t.ioc_ini("esc");
    let mut runs = Transcripts::default();
    for bad in [
        "src/ramper.db:../../outside.db:r",
        "src/ramper.db:/tmp/outside.db:r",
        "/etc/passwd:startup/passwd:r",
        "src/../../../etc/passwd:startup/p:r",
        "src/ramper.db:startup/x.db:q",
    ] {
        let option = format!("file_copy={bad}");
        let args = ["set", "esc", "-s", "raw", "-o", &option];
        runs.push(&args, t.run(&args));
        assert_eq!(t.ioc_ini("esc"), before, "{bad}");
    }
    assert_transcript!(runs, @r#"
        $ iocdock set esc -s raw -o file_copy=src/ramper.db:../../outside.db:r
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "esc": option "file_copy" of section [RAW] has the line "src/ramper.db:../../outside.db:r": destination "../../outside.db" must be a path inside project/ (no leading "/", no "." or "..")
        IOC "esc": nothing written

        $ iocdock set esc -s raw -o file_copy=src/ramper.db:/tmp/outside.db:r
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "esc": option "file_copy" of section [RAW] has the line "src/ramper.db:/tmp/outside.db:r": destination "/tmp/outside.db" must be a path inside project/ (no leading "/", no "." or "..")
        IOC "esc": nothing written

        $ iocdock set esc -s raw -o file_copy=/etc/passwd:startup/passwd:r
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "esc": option "file_copy" of section [RAW] has the line "/etc/passwd:startup/passwd:r": source files can only be in "src/" or "templates/" directory
        IOC "esc": nothing written

        $ iocdock set esc -s raw -o file_copy=src/../../../etc/passwd:startup/p:r
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "esc": option "file_copy" of section [RAW] has the line "src/../../../etc/passwd:startup/p:r": source "src/../../../etc/passwd" must be a path inside src/ (no "." or "..")
        IOC "esc": nothing written

        $ iocdock set esc -s raw -o file_copy=src/ramper.db:startup/x.db:q
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "esc": option "file_copy" of section [RAW] has the line "src/ramper.db:startup/x.db:q": mode "q" must be made of r, w and x, each at most once, with r
        IOC "esc": nothing written
        "#);
    // Written by hand, generation still refuses it.
    fs::write(
        t.repository().join("esc/ioc.ini"),
        before.replace(
            "file_copy = \n",
            "file_copy = src/ramper.db:../../outside.db:r\n",
        ),
    )
    .unwrap();
    assert_transcript!(t.run(&["exec", "esc", "--gen-startup-file"]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "esc": startup files not generated: option "file_copy" in section "RAW" invalid. in "src/ramper.db:../../outside.db:r". destination "../../outside.db" must be a path inside project/ (no leading "/", no "." or "..").
        "#);
    assert!(!t.home().join("outside.db").exists());
    fs::write(t.repository().join("esc/ioc.ini"), &before).unwrap();
    t.ok(&[
        "set",
        "esc",
        "-s",
        "raw",
        "-o",
        "file_copy=src/ramper.db:startup/extra/r.db:rw",
    ]);
    t.ok(&["exec", "esc", "--gen-startup-file"]);
    assert_eq!(
        mode(&t.repository().join("esc/project/startup/extra/r.db")),
        0o644
    );
}

#[test]
fn dry_run_writes_nothing() {
    let t = TestContext::new();
    test_ioc(&t, "dry", &[]);
    let before = t.tree_state();
    assert_transcript!(t.run(&["exec", "dry", "--deploy", "--dry-run"]), @r"
        exit 0
        ----- stdout -----
        would create [HOME]/IocDock/ioc-repository/dry/project/settings/autosave/
        would create [HOME]/IocDock/ioc-repository/dry/project/logs/autosave/
        would write [HOME]/IocDock/ioc-repository/dry/project/startup/iocBoot/st.cmd (1878 bytes, mode 555)
        would write [HOME]/IocDock/ioc-repository/dry/project/startup/db/dry.substitutions (60 bytes, mode 444)
        would write [HOME]/IocDock/ioc-repository/dry/project/startup/dry.acf (220 bytes, mode 444)
        would write [HOME]/IocDock/ioc-repository/dry/project/startup/db/status_ioc.db (4913 bytes, mode 444)
        would write [HOME]/IocDock/ioc-repository/dry/project/startup/db/status_OS.db (3548 bytes, mode 444)
        would write [HOME]/IocDock/ioc-repository/dry/project/startup/db/ramper.db (1001 bytes, mode 444)
        would export to [HOME]/IocDock-data/swarm/iocs/dry
        would write [HOME]/IocDock/service-files/dry/compose-swarm.yaml
        ----- stderr -----
        ");
    assert!(before == t.tree_state());
}

#[test]
fn export_keeps_running_data_unless_forced() {
    let t = TestContext::new();
    test_ioc(&t, "run1", &[]);
    assert_transcript!(t.run(&["exec", "run1", "--export-for-mount"]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "run1" cannot be exported: state is normal and status created (expected state normal and status generated or exported; run --gen-startup-file first)
        "#);
    t.ok(&["exec", "run1", "--generate-and-export"]);
    let exported = t.run_dir("run1");
    assert_eq!(mode(&exported.join("ioc.ini")), 0o444);
    assert!(exported.join("startup/iocBoot/st.cmd").is_file());
    assert!(exported.join("settings/autosave").is_dir());
    assert!(exported.join("logs/autosave").is_dir());
    let state = t.state_json("run1");
    assert_eq!(
        (state["status"].as_str(), state["is_exported"].as_str()),
        (Some("exported"), Some("true"))
    );

    let saved = exported.join("logs/autosave/run1.sav");
    fs::write(&saved, "running data").unwrap();
    t.ok(&["set", "run1", "-o", "description=changed"]);
    t.ok(&["exec", "run1", "--generate-and-export"]);
    assert!(saved.exists(), "a re-export keeps running data");
    assert!(
        fs::read_to_string(exported.join("ioc.ini"))
            .unwrap()
            .contains("description = changed")
    );
    t.ok(&["exec", "run1", "--export-for-mount", "--force-overwrite"]);
    assert!(!saved.exists(), "--force-overwrite replaces running data");
}

#[test]
fn deploy_writes_a_service_file_docker_accepts() {
    let t = TestContext::new();
    test_ioc(
        &t,
        "svc",
        &[
            "-s",
            "deploy",
            "-o",
            "constraints=node.role==manager",
            "labels=a=1;b=2",
        ],
    );
    t.ok(&["exec", "svc", "--deploy"]);
    let file = t.service_file("svc");
    // Root-only, outside the run directory: no container can reach or change it.
    assert_eq!(mode(&file), 0o400);
    assert_eq!(mode(file.parent().unwrap()), 0o700);
    assert_eq!(mode(file.parent().unwrap().parent().unwrap()), 0o700);
    assert!(!t.run_dir("svc").join("compose-swarm.yaml").exists());
    assert!(t.mount().join("swarm/iocLog").is_dir());
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(&fs::read_to_string(&file).unwrap()).unwrap();
    let service = &yaml["services"]["srv-svc"];
    let run = t.run_dir("svc");
    let mounts: Vec<(String, String, bool)> = service["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["source"].as_str().unwrap().to_string(),
                m["target"].as_str().unwrap().to_string(),
                m["read_only"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    let mount = |source: std::path::PathBuf, target: &str, read_only: bool| {
        (source.display().to_string(), target.to_string(), read_only)
    };
    assert_eq!(
        mounts,
        [
            mount(run.join("startup"), "/opt/EPICS/RUN/svc/startup", true),
            mount(run.join("settings"), "/opt/EPICS/RUN/svc/settings", false),
            mount(run.join("logs"), "/opt/EPICS/RUN/svc/logs", false),
            mount(
                t.mount().join("swarm/iocLog"),
                "/opt/EPICS/RUN/iocLog",
                true
            ),
            mount("/etc/localtime".into(), "/etc/localtime", true),
        ]
    );
    assert_eq!(
        service["deploy"]["placement"]["constraints"][0],
        "node.role==manager"
    );
    assert_eq!(service["labels"]["b"], "2");
    assert_eq!(service["image"], "registry.iasf/ioc-exec:1.1.0");
    // `docker stack config` validates a compose file without a daemon.
    let docker = std::process::Command::new("docker")
        .args(["stack", "config", "-c"])
        .arg(&file)
        .output()
        .expect("the docker CLI is part of the test set-up");
    assert!(
        docker.status.success(),
        "docker rejected the file: {}",
        String::from_utf8_lossy(&docker.stderr)
    );
    let resolved = String::from_utf8_lossy(&docker.stdout);
    assert!(
        resolved.contains(&format!("{}/startup", run.display())),
        "{resolved}"
    );
}

#[test]
fn gen_swarm_file_for_alliocs_needs_an_export() {
    let t = TestContext::new();
    test_ioc(&t, "one", &[]);
    test_ioc(&t, "two", &[]);
    assert_transcript!(t.run(&["exec", "one", "--gen-swarm-file"]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "one" is not exported (no [HOME]/IocDock-data/swarm/iocs/one/ioc.ini); run --export-for-mount first
        "#);
    t.ok(&["exec", "one", "--generate-and-export"]);
    t.ok(&["exec", "alliocs", "--gen-swarm-file"]);
    assert!(t.service_file("one").is_file());
    assert!(!t.service_file("two").exists());
}

#[test]
fn snapshot_check_and_restore() {
    let t = TestContext::new();
    test_ioc(&t, "snap", &[]);
    t.ok(&["exec", "snap", "--add-snapshot-file"]);
    assert_eq!(t.state_json("snap")["snapshot"], "tracked");
    assert_eq!(t.ok(&["exec", "snap", "--check-snapshot"]), "");
    let row = |t: &TestContext| {
        t.ok(&["list", "-p", "name=snap"])
            .lines()
            .nth(1)
            .unwrap()
            .to_string()
    };
    assert!(row(&t).contains(" consistent "), "{}", row(&t));

    t.ok(&["set", "snap", "-o", "description=edited"]);
    fs::write(
        t.repository().join("snap/src/extra.db"),
        "record(ai, \"e\") {}\n",
    )
    .unwrap();
    assert_transcript!(t.run(&["exec", "snap", "--check-snapshot"]), @r#"
        exit 0
        ----- stdout -----
        --- snapshot/snap/ioc.ini
        +++ repository/snap/ioc.ini
        @@ -4,7 +4,7 @@
         image = registry.iasf/ioc-exec:1.1.0
         bin = ST-IOC
         module = autosave, caputlog, status-ioc, status-os
        -description = IOC that implements a ramper for testing.
        +description = edited
         
         [SRC]
         db_file = ramper.db
        --- /dev/null
        +++ repository/snap/src/extra.db
        @@ -0,0 +1 @@
        +record(ai, "e") {}
        ----- stderr -----
        "#);
    assert!(row(&t).contains("inconsistent"));

    assert_transcript!(t.run(&["exec", "snap", "--restore-snapshot-file", "ioc.ini"]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        IOC "snap": will restore ioc.ini
        error: IOC "snap": refusing to overwrite files without confirmation: stdin is not a terminal (use --force-overwrite)
        "#);
    let run = t.run(&[
        "exec",
        "snap",
        "--restore-snapshot-file",
        "ioc.ini",
        "extra.db",
        "--force-overwrite",
    ]);
    assert_transcript!(run, @r#"
        exit 0
        ----- stdout -----
        ----- stderr -----
        IOC "snap": will restore ioc.ini
        IOC "snap": will not restore extra.db (not in the snapshot)
        IOC "snap": restored ioc.ini
        "#);
    assert!(
        t.ioc_ini("snap")
            .contains("description = IOC that implements a ramper for testing.\n")
    );
    let run = t.run(&[
        "exec",
        "snap",
        "--restore-snapshot-file",
        "../ioc.ini",
        "--force-overwrite",
    ]);
    assert_transcript!(run, @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: "../ioc.ini" is not a file of a snapshot (expected ioc.ini, the name of a file in src/, or all)
        "#);
}

#[test]
fn check_deploy_diffs_exported_copy_against_repository() {
    let t = TestContext::new();
    test_ioc(&t, "dep", &[]);
    assert_transcript!(t.run(&["exec", "dep", "--check-deploy"]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "dep" is not exported (no [HOME]/IocDock-data/swarm/iocs/dep/ioc.ini)
        "#);
    t.ok(&["exec", "dep", "--generate-and-export"]);
    assert_eq!(t.ok(&["exec", "dep", "--check-running"]), "");
    t.ok(&["set", "dep", "-s", "setting", "-o", "report_info=false"]);
    t.ok(&["exec", "dep", "--gen-startup-file"]);
    assert_transcript!(t.run(&["exec", "dep", "--check-deploy"]), @r#"
        exit 0
        ----- stdout -----
        --- exported/dep/ioc.ini
        +++ repository/dep/ioc.ini
        @@ -15,7 +15,7 @@
         load = ramper.db, name=dep
         
         [SETTING]
        -report_info = true
        +report_info = false
         caputlog_json = false
         epics_env = 
         
        --- exported/dep/startup/iocBoot/st.cmd
        +++ repository/dep/project/startup/iocBoot/st.cmd
        @@ -45,15 +45,3 @@
         #caPutLog after iocInit
         caPutLogInit "127.0.0.1:7004" 0
         
        -#report info
        -system "touch /opt/EPICS/RUN/dep/logs/dep.info"
        -system "echo \#date > /opt/EPICS/RUN/dep/logs/dep.info"
        -date >> /opt/EPICS/RUN/dep/logs/dep.info
        -system "echo >> /opt/EPICS/RUN/dep/logs/dep.info"
        -system "echo \#ip >> /opt/EPICS/RUN/dep/logs/dep.info"
        -system "hostname -I >> /opt/EPICS/RUN/dep/logs/dep.info"
        -system "echo >> /opt/EPICS/RUN/dep/logs/dep.info"
        -system "echo \#pv list >> /opt/EPICS/RUN/dep/logs/dep.info"
        -dbl >> /opt/EPICS/RUN/dep/logs/dep.info
        -system "echo >> /opt/EPICS/RUN/dep/logs/dep.info"
        -
        ----- stderr -----
        "#);
    assert!(t.ok(&["list", "-p", "name=dep"]).contains("inconsistent"));
}

/// The SnapshotConsistency and RunningConsistency columns of one IOC (the last but one
/// and the last but two).
fn consistency(t: &TestContext, name: &str) -> (String, String) {
    let panel = t.ok(&["list", "-p", "-l", name]);
    // Columns are at least three spaces apart; cells hold single spaces at most.
    let row: Vec<&str> = panel
        .lines()
        .nth(1)
        .unwrap()
        .split("  ")
        .map(str::trim)
        .filter(|cell| !cell.is_empty())
        .collect();
    // The last column, ServiceConsistency, compares with the swarm.
    let column = |i: usize| row[row.len() - i].to_string();
    (column(3), column(2))
}

/// Flips the case of the last letter of a file (a value, in an ioc.ini): the file
/// changes, its size does not.
fn same_size_edit(path: &Path) {
    let mut bytes = fs::read(path).unwrap();
    let last = bytes.iter().rposition(u8::is_ascii_alphabetic).unwrap();
    bytes[last] ^= 0x20;
    fs::set_permissions(path, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(path, bytes).unwrap();
}

#[test]
fn consistency_columns_see_every_change_to_copies_made_by_iocdock() {
    let t = TestContext::new();
    test_ioc(&t, "cc", &[]);
    t.ok(&["exec", "cc", "--generate-and-export"]);
    t.ok(&["exec", "cc", "--add-snapshot-file"]);
    let both = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(consistency(&t, "cc"), both("consistent", "consistent"));

    // Edits that keep a file's size, on either side of each pair.
    let exported = t.run_dir("cc");
    same_size_edit(&exported.join("startup/iocBoot/st.cmd"));
    assert_eq!(consistency(&t, "cc"), both("consistent", "inconsistent"));
    t.ok(&["exec", "cc", "--export-for-mount"]);
    assert_eq!(consistency(&t, "cc"), both("consistent", "consistent"));

    same_size_edit(&t.snapshot().join("cc/src/ramper.db"));
    assert_eq!(consistency(&t, "cc"), both("inconsistent", "consistent"));
    t.ok(&["exec", "cc", "--add-snapshot-file"]);
    same_size_edit(&t.repository().join("cc/ioc.ini"));
    assert_eq!(consistency(&t, "cc"), both("inconsistent", "inconsistent"));
    t.ok(&[
        "exec",
        "cc",
        "--restore-snapshot-file",
        "ioc.ini",
        "--force-overwrite",
    ]);
    assert_eq!(consistency(&t, "cc"), both("consistent", "consistent"));

    // A file that appears in, or vanishes from, the exported startup folder.
    fs::write(exported.join("startup/db/stray.db"), "").unwrap();
    assert_eq!(consistency(&t, "cc"), both("consistent", "inconsistent"));
    fs::remove_file(exported.join("startup/db/stray.db")).unwrap();
    fs::remove_file(exported.join("startup/db/ramper.db")).unwrap();
    assert_eq!(consistency(&t, "cc"), both("consistent", "inconsistent"));
    t.ok(&["exec", "cc", "--export-for-mount"]);
    assert_eq!(consistency(&t, "cc"), both("consistent", "consistent"));

    // Rewriting a file with its own bytes changes its time, not its contents.
    let st_cmd = t.repository().join("cc/project/startup/iocBoot/st.cmd");
    fs::write(&st_cmd, fs::read(&st_cmd).unwrap()).unwrap();
    assert_eq!(consistency(&t, "cc"), both("consistent", "consistent"));
}

#[test]
fn generated_databases_load_in_a_real_epics_ioc() {
    let t = TestContext::new();
    // No modules: plain EPICS base has no autosave or caPutLog.
    test_ioc(&t, "epics1", &["-o", "module="]);
    t.ok(&["exec", "epics1", "--gen-startup-file"]);
    let startup = t.repository().join("epics1/project/startup");
    let out = std::process::Command::new("python3")
        .arg(project_file("tests/epics/check_ramper.py"))
        .arg("epics1")
        .arg(&startup)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "real IOC check failed (exit {:?}): {}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("PASS"));
}

#[test]
fn redeploying_an_unchanged_ioc_rewrites_nothing() {
    let t = TestContext::new();
    test_ioc(&t, "same", &[]);
    t.ok(&["exec", "same", "--deploy"]);
    let before = t.tree_state();
    t.ok(&["exec", "same", "--deploy"]);
    assert!(
        before == t.tree_state(),
        "an unchanged IOC keeps every file and its time"
    );
    assert_eq!(t.state_json("same")["status"], "exported");
    // A real change is generated and exported again.
    t.ok(&["set", "same", "-s", "setting", "-o", "report_info=false"]);
    t.ok(&["exec", "same", "--deploy"]);
    let exported = fs::read_to_string(t.run_dir("same").join("startup/iocBoot/st.cmd")).unwrap();
    assert!(!exported.contains("#report info"));
}
