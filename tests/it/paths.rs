//! Paths iocdock writes and deletes stay in their folders: hosts are host names, IOC
//! names cannot reach built-in service folders, links planted in the run directory
//! redirect nothing, and exports of the old layout move to the new one.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use crate::transcript::{Transcript, Transcripts};
use crate::{TestContext, project_file};

/// An IOC made the documented way with generated startup files.
fn generated_ioc(t: &TestContext, name: &str) {
    let template = project_file("templates/test/test.ini");
    t.ok(&["create", name, "-f", template.to_str().unwrap()]);
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
    t.ok(&["exec", name, "--gen-startup-file"]);
}

/// Replaces the host of an ioc.ini by hand, as an editor or another tool could.
fn hand_edit_host(t: &TestContext, name: &str, host: &str) {
    let path = t.repository().join(name).join("ioc.ini");
    let ini = fs::read_to_string(&path).unwrap();
    assert!(ini.contains("host = swarm\n"), "{ini}");
    fs::write(
        &path,
        ini.replace("host = swarm\n", &format!("host = {host}\n")),
    )
    .unwrap();
}

/// Runs iocdock expecting exit 1 and one error line.
fn refused(t: &TestContext, args: &[&str]) -> Transcript {
    let run = t.run(args);
    let stderr = &run.stderr;
    assert_eq!(run.code, Some(1), "{args:?}: {stderr}");
    let errors = stderr.lines().filter(|l| l.starts_with("error:")).count();
    assert_eq!(errors, 1, "{args:?}: {stderr}");
    run
}

/// A folder outside the home with one file the test owns, to prove nothing touches it.
fn victim(t: &TestContext, name: &str) -> std::path::PathBuf {
    let dir = t.home().join("outside").join(name);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("precious"), "keep me").unwrap();
    dir
}

fn untouched(dir: &Path) {
    let names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["precious"], "{}", dir.display());
    assert_eq!(fs::read_to_string(dir.join("precious")).unwrap(), "keep me");
}

#[test]
fn create_and_set_refuse_a_host_that_is_no_host_name() {
    let t = TestContext::new();
    let mut runs = Transcripts::default();
    for host in ["/some/dir", "../../elsewhere", "", "a/b", "node_1"] {
        let option = format!("host={host}");
        let args = ["create", "a", "-o", &option];
        runs.push(&args, refused(&t, &args));
        assert!(!t.repository().join("a").exists(), "{host:?}");
    }
    assert_transcript!(runs, @r#"
        $ iocdock create a -o host=/some/dir
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "a": option "host" of section [IOC] is "/some/dir": expected swarm or a host name: dot-separated labels of letters, digits and '-', 1-63 characters each, not starting or ending with '-', 253 characters at most
        IOC "a" not created

        $ iocdock create a -o host=../../elsewhere
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "a": option "host" of section [IOC] is "../../elsewhere": expected swarm or a host name: dot-separated labels of letters, digits and '-', 1-63 characters each, not starting or ending with '-', 253 characters at most
        IOC "a" not created

        $ iocdock create a -o host=
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "a": option "host" of section [IOC] is "": expected swarm or a host name: dot-separated labels of letters, digits and '-', 1-63 characters each, not starting or ending with '-', 253 characters at most
        IOC "a" not created

        $ iocdock create a -o host=a/b
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "a": option "host" of section [IOC] is "a/b": expected swarm or a host name: dot-separated labels of letters, digits and '-', 1-63 characters each, not starting or ending with '-', 253 characters at most
        IOC "a" not created

        $ iocdock create a -o host=node_1
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "a": option "host" of section [IOC] is "node_1": expected swarm or a host name: dot-separated labels of letters, digits and '-', 1-63 characters each, not starting or ending with '-', 253 characters at most
        IOC "a" not created
        "#);
    let template = t.home().join("template.ini");
    let bad = fs::read_to_string(project_file("templates/test/test.ini"))
        .unwrap()
        .replace("host = swarm", "host = ../../elsewhere");
    fs::write(&template, bad).unwrap();
    assert_transcript!(refused(&t, &["create", "b", "-f", template.to_str().unwrap()]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "b": option "host" of section [IOC] is "../../elsewhere": expected swarm or a host name: dot-separated labels of letters, digits and '-', 1-63 characters each, not starting or ending with '-', 253 characters at most
        IOC "b" not created
        "#);
    assert!(!t.repository().join("b").exists());
    // -o wins over -f, so the file's host never lands.
    t.ok(&[
        "create",
        "b",
        "-f",
        template.to_str().unwrap(),
        "-o",
        "host=node1.lab",
    ]);
    assert!(t.ioc_ini("b").contains("host = node1.lab\n"));

    t.ok(&["create", "c"]);
    let before = t.ioc_ini("c");
    assert_transcript!(refused(&t, &["set", "c", "-o", "host=/var/lib"]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "c": option "host" of section [IOC] is "/var/lib": expected swarm or a host name: dot-separated labels of letters, digits and '-', 1-63 characters each, not starting or ending with '-', 253 characters at most
        IOC "c": nothing written
        "#);
    assert_transcript!(refused(&t, &["set", "c", "-f", template.to_str().unwrap()]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "c": option "host" of section [IOC] is "../../elsewhere": expected swarm or a host name: dot-separated labels of letters, digits and '-', 1-63 characters each, not starting or ending with '-', 253 characters at most
        IOC "c": nothing written
        "#);
    assert_eq!(t.ioc_ini("c"), before);
    t.ok(&["set", "c", "-o", "host=rack-2.example"]);
    assert!(t.ioc_ini("c").contains("host = rack-2.example\n"));
}

#[test]
fn edit_reports_a_host_that_is_no_host_name() {
    let t = TestContext::new();
    t.ok(&["create", "ed"]);
    let editor = t.home().join("editor.sh");
    fs::write(
        &editor,
        "#!/bin/sh\nsed -i 's|^host = swarm$|host = /srv|' \"$1\"\n",
    )
    .unwrap();
    fs::set_permissions(&editor, fs::Permissions::from_mode(0o755)).unwrap();
    assert_transcript!(t.transcript(t.cmd(&["edit", "ed"]).env("EDITOR", &editor)), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "ed": option "host" of section [IOC] is "/srv": expected swarm or a host name: dot-separated labels of letters, digits and '-', 1-63 characters each, not starting or ending with '-', 253 characters at most
        warning: IOC "ed": ioc.ini was not changed; the edit is kept at [HOME]/IocDock/ioc-repository/ed/.ioc.ini.edit and `iocdock edit ed` opens it again (--discard drops it)
        "#);
}

#[test]
fn a_restored_archive_with_a_bad_host_is_refused_whole() {
    let t = TestContext::new();
    t.ok(&["create", "good", "evil"]);
    hand_edit_host(&t, "evil", "../../elsewhere");
    let archive = t.ok(&["exec", "-b"]);
    t.ok(&["remove", "good", "evil", "-f"]);
    let before = t.tree_state();
    assert_transcript!(refused(&t, &["exec", "-r", archive.trim()]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: [HOME]/ioc-backup/[STAMP].ioc.tar.gz: IOC "evil": option "host" of section [IOC] is "../../elsewhere": expected swarm or a host name: dot-separated labels of letters, digits and '-', 1-63 characters each, not starting or ending with '-', 253 characters at most; nothing was restored
        "#);
    assert!(before == t.tree_state(), "nothing may be restored");
}

#[test]
fn an_existing_bad_host_is_reported_and_never_used_as_a_path() {
    let t = TestContext::new();
    generated_ioc(&t, "victim");
    // $MOUNT_PATH/../outside/victim: an unrelated folder of the same name.
    let outside = victim(&t, "victim");
    hand_edit_host(&t, "victim", "../outside");
    let before = t.tree_state();

    assert_transcript!(refused(&t, &["exec", "victim", "--export-for-mount"]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "victim": option "host" of section [IOC] is "../outside": expected swarm or a host name: dot-separated labels of letters, digits and '-', 1-63 characters each, not starting or ending with '-', 253 characters at most; fix it first (iocdock set victim -o host=swarm or a host name)
        "#);
    assert_transcript!(refused(&t, &["exec", "victim", "--gen-swarm-file"]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "victim": option "host" of section [IOC] is "../outside": expected swarm or a host name: dot-separated labels of letters, digits and '-', 1-63 characters each, not starting or ending with '-', 253 characters at most; fix it first (iocdock set victim -o host=swarm or a host name)
        "#);
    assert_transcript!(refused(&t, &["remove", "victim", "-rf"]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "victim": option "host" of section [IOC] is "../outside": expected swarm or a host name: dot-separated labels of letters, digits and '-', 1-63 characters each, not starting or ending with '-', 253 characters at most; fix it first (iocdock set victim -o host=swarm or a host name)
        "#);
    assert_transcript!(refused(&t, &["rename", "victim", "other"]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "victim": option "host" of section [IOC] is "../outside": expected swarm or a host name: dot-separated labels of letters, digits and '-', 1-63 characters each, not starting or ending with '-', 253 characters at most; fix it first (iocdock set victim -o host=swarm or a host name)
        "#);
    untouched(&outside);
    assert!(
        before == t.tree_state(),
        "nothing may be written or deleted"
    );

    // list shows it in state error, with the reason and the fix, and writes nothing.
    assert_eq!(t.ok(&["list", "state=error"]), "victim\n");
    assert_transcript!(t.run(&["list", "-i", "name=victim"]), @r#"
        exit 0
        ----- stdout -----
        ============================== "victim" ==============================
        [STATE]
        state: error
        state_info: error: invalid host
        	    IOC "victim": option "host" of section [IOC] is "../outside": expected swarm or a host name: dot-separated labels of letters, digits and '-', 1-63 characters each, not starting or ending with '-', 253 characters at most; fix it (iocdock set victim -o host=swarm or a host name) (last seen [TIME])
        status: generated
        snapshot: untracked
        is_exported: false

        [IOC]
        name: victim
        host: ../outside
        image: registry.iasf/ioc-exec:1.1.0
        bin: ST-IOC
        module: autosave, caputlog, status-ioc, status-os
        description: IOC that implements a ramper for testing.

        [SRC]
        db_file: ramper.db
        protocol_file: 
        others_file: 

        [DB]
        load: ramper.db, name=victim

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
    let panel = t.ok(&["list", "-p"]);
    assert!(panel.contains("not exported"), "{panel}");
    assert!(before == t.tree_state(), "list never writes");

    assert_transcript!(t.run(&["update"]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "victim": option "host" of section [IOC] is "../outside": expected swarm or a host name: dot-separated labels of letters, digits and '-', 1-63 characters each, not starting or ending with '-', 253 characters at most; fix it (iocdock set victim -o host=swarm or a host name)
        "#);

    // Removing it from the repository alone uses no host; so does fixing the host.
    t.ok(&["set", "victim", "-o", "host=swarm"]);
    t.ok(&["exec", "victim", "--export-for-mount"]);
    t.ok(&["remove", "victim", "-rf"]);
    assert!(!t.run_dir("victim").exists());
    untouched(&outside);
}

#[test]
fn an_absolute_host_deletes_nothing_there() {
    let t = TestContext::new();
    t.ok(&["create", "docker"]);
    let outside = victim(&t, "docker");
    hand_edit_host(&t, "docker", outside.parent().unwrap().to_str().unwrap());
    assert_transcript!(refused(&t, &["remove", "docker", "-rf"]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "docker": option "host" of section [IOC] is "[HOME]/outside": expected swarm or a host name: dot-separated labels of letters, digits and '-', 1-63 characters each, not starting or ending with '-', 253 characters at most; fix it first (iocdock set docker -o host=swarm or a host name)
        "#);
    untouched(&outside);
    assert!(t.repository().join("docker").is_dir());
    // Without -r only the repository folder goes.
    t.ok(&["remove", "docker", "-f"]);
    untouched(&outside);
}

#[test]
fn built_in_names_are_reserved_for_iocs() {
    let t = TestContext::new();
    let mut runs = Transcripts::default();
    for name in [
        "registry",
        "Registry",
        "iocLog",
        "IOCS",
        "global-services",
        "alertManager",
    ] {
        let args = ["create", name];
        runs.push(&args, refused(&t, &args));
        assert!(!t.repository().join(name).exists(), "{name}");
    }
    assert_transcript!(runs, @r#"
        $ iocdock create registry
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC name "registry" is reserved for the built-in service "registry" (IOC names may not be the name of a built-in service, a service of services.yaml or the run folders iocLog, iocs, global-services, in any case)

        $ iocdock create Registry
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC name "Registry" is reserved for the built-in service "registry" (IOC names may not be the name of a built-in service, a service of services.yaml or the run folders iocLog, iocs, global-services, in any case)

        $ iocdock create iocLog
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC name "iocLog" is reserved for the run folder "iocLog" (IOC names may not be the name of a built-in service, a service of services.yaml or the run folders iocLog, iocs, global-services, in any case)

        $ iocdock create IOCS
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC name "IOCS" is reserved for the run folder "iocs" (IOC names may not be the name of a built-in service, a service of services.yaml or the run folders iocLog, iocs, global-services, in any case)

        $ iocdock create global-services
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC name "global-services" is reserved for the run folder "global-services" (IOC names may not be the name of a built-in service, a service of services.yaml or the run folders iocLog, iocs, global-services, in any case)

        $ iocdock create alertManager
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC name "alertManager" is reserved for the built-in service "alertManager" (IOC names may not be the name of a built-in service, a service of services.yaml or the run folders iocLog, iocs, global-services, in any case)
        "#);
    // A custom service of services.yaml is reserved too.
    fs::create_dir_all(t.home().join("IocDock")).unwrap();
    fs::write(
        t.home().join("IocDock/services.yaml"),
        "archiver: archiver/archiver.yaml\n",
    )
    .unwrap();
    assert_transcript!(refused(&t, &["create", "Archiver"]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC name "Archiver" is reserved for the custom service "archiver" (IOC names may not be the name of a built-in service, a service of services.yaml or the run folders iocLog, iocs, global-services, in any case)
        "#);
    generated_ioc(&t, "reg");
    assert_transcript!(refused(&t, &["rename", "reg", "REGISTRY"]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC name "REGISTRY" is reserved for the built-in service "registry" (IOC names may not be the name of a built-in service, a service of services.yaml or the run folders iocLog, iocs, global-services, in any case)
        "#);
    assert!(t.repository().join("reg").is_dir());
}

#[test]
fn an_existing_ioc_with_a_reserved_name_is_reported_and_renamed() {
    let t = TestContext::new();
    generated_ioc(&t, "reg");
    // An IOC made before names were reserved: the same project under a built-in name.
    let registry = t.repository().join("registry");
    fs::rename(t.repository().join("reg"), &registry).unwrap();
    let ini = fs::read_to_string(registry.join("ioc.ini")).unwrap();
    fs::write(
        registry.join("ioc.ini"),
        ini.replace("name = reg\n", "name = registry\n"),
    )
    .unwrap();
    // The registry's folder, which a run folder of that name used to share.
    let certs = t.mount().join("swarm/registry/certs");
    fs::create_dir_all(&certs).unwrap();
    fs::write(certs.join("ca.key"), "key").unwrap();

    let before = t.tree_state();
    assert_transcript!(t.run(&["list", "-i", "name=registry"]), @r#"
        exit 0
        ----- stdout -----
        ============================= "registry" =============================
        [STATE]
        state: error
        state_info: error: reserved name
        	    IOC name "registry" is reserved for the built-in service "registry" (IOC names may not be the name of a built-in service, a service of services.yaml or the run folders iocLog, iocs, global-services, in any case); rename it (iocdock rename registry NEW_NAME) (last seen [TIME])
        status: generated
        snapshot: untracked
        is_exported: false

        [IOC]
        name: registry
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
        load: ramper.db, name=reg

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
    assert_transcript!(refused(&t, &["exec", "registry", "--deploy"]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        IOC "registry": generated 6 startup files
        error: IOC name "registry" is reserved for the built-in service "registry" (IOC names may not be the name of a built-in service, a service of services.yaml or the run folders iocLog, iocs, global-services, in any case); rename the IOC first (iocdock rename registry NEW_NAME)
        "#);
    assert_transcript!(t.run(&["update"]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC name "registry" is reserved for the built-in service "registry" (IOC names may not be the name of a built-in service, a service of services.yaml or the run folders iocLog, iocs, global-services, in any case); rename it (iocdock rename registry NEW_NAME)
        "#);
    t.ok(&["remove", "registry", "-rf"]);
    assert_eq!(fs::read_to_string(certs.join("ca.key")).unwrap(), "key");

    // The way out: a rename, after which it exports to its own folder.
    generated_ioc(&t, "registry2");
    t.ok(&["rename", "registry2", "site-registry"]);
    t.ok(&["exec", "site-registry", "--deploy"]);
    assert!(t.run_dir("site-registry").join("startup").is_dir());
}

#[test]
fn folders_that_are_no_ioc_names_are_reported_and_never_used() {
    let t = TestContext::new();
    t.ok(&["create", "good"]);
    let odd = t.repository().join("bad name;x");
    fs::create_dir_all(odd.join("src")).unwrap();
    fs::copy(t.repository().join("good/ioc.ini"), odd.join("ioc.ini")).unwrap();
    assert_transcript!(t.run(&["list"]), @r#"
        exit 0
        ----- stdout -----
        good
        ----- stderr -----
        warning: [HOME]/IocDock/ioc-repository/bad name;x: not an IOC project, left out: invalid IOC name "bad name;x": it contains a space (expected 1-40 characters of A-Z a-z 0-9 _ . -, starting with a letter or digit); rename the folder
        "#);
    // Whether a service is available depends on the engine here: not snapshotted.
    let managed = t.ok(&["swarm", "--list-managed-services"]);
    assert!(!managed.contains("bad name"), "{managed}");
    assert_transcript!(t.run(&["update"]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: [HOME]/IocDock/ioc-repository/bad name;x: not an IOC project, left alone: invalid IOC name "bad name;x": it contains a space (expected 1-40 characters of A-Z a-z 0-9 _ . -, starting with a letter or digit); rename the folder
        "#);
}

#[test]
fn a_link_planted_in_the_run_directory_does_not_redirect_a_write() {
    let t = TestContext::new();
    generated_ioc(&t, "linked");
    let outside = victim(&t, "target");
    let iocs = t.mount().join("swarm/iocs");
    fs::create_dir_all(&iocs).unwrap();
    symlink(&outside, iocs.join("linked")).unwrap();
    assert_transcript!(refused(&t, &["exec", "linked", "--export-for-mount"]), @r"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: [HOME]/IocDock-data/swarm/iocs/linked leads to [HOME]/outside/target, outside [HOME]/IocDock-data (through a symbolic link); nothing was written or deleted there
        ");
    untouched(&outside);
    assert_transcript!(refused(&t, &["remove", "linked", "-rf"]), @r"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: [HOME]/IocDock-data/swarm/iocs/linked leads to [HOME]/outside/target, outside [HOME]/IocDock-data (through a symbolic link); nothing was written or deleted there
        ");
    untouched(&outside);
    assert!(t.repository().join("linked").is_dir());

    // The same one level up: the folder of every swarm IOC.
    fs::remove_file(iocs.join("linked")).unwrap();
    fs::remove_dir(&iocs).unwrap();
    symlink(outside.parent().unwrap(), &iocs).unwrap();
    assert_transcript!(refused(&t, &["exec", "linked", "--export-for-mount"]), @r"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: [HOME]/IocDock-data/swarm/iocs/linked leads to [HOME]/outside/linked, outside [HOME]/IocDock-data (through a symbolic link); nothing was written or deleted there
        ");
    untouched(&outside);
    assert_eq!(fs::read_dir(outside.parent().unwrap()).unwrap().count(), 1);

    // And for the service files.
    fs::remove_file(&iocs).unwrap();
    t.ok(&["exec", "linked", "--export-for-mount"]);
    let service_files = t.home().join("IocDock/service-files");
    fs::create_dir_all(&service_files).unwrap();
    symlink(&outside, service_files.join("linked")).unwrap();
    assert_transcript!(refused(&t, &["exec", "linked", "--gen-swarm-file"]), @r"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: [HOME]/IocDock/service-files/linked leads to [HOME]/outside/target, outside [HOME]/IocDock/service-files (through a symbolic link); nothing was written or deleted there
        ");
    untouched(&outside);
}

/// `$MOUNT_PATH/swarm/<name>` as an older iocdock left it: exported copy, running
/// data and the service file side by side.
fn old_layout_export(t: &TestContext, name: &str) -> std::path::PathBuf {
    let old = t.mount().join("swarm").join(name);
    fs::create_dir_all(old.join("logs/autosave")).unwrap();
    fs::create_dir_all(old.join("settings/autosave")).unwrap();
    fs::create_dir_all(old.join("startup")).unwrap();
    fs::write(old.join("logs/autosave/saved.sav"), "autosaved values").unwrap();
    fs::write(old.join("logs/x.info"), "a log").unwrap();
    fs::copy(
        t.repository().join(name).join("ioc.ini"),
        old.join("ioc.ini"),
    )
    .unwrap();
    fs::set_permissions(old.join("ioc.ini"), fs::Permissions::from_mode(0o444)).unwrap();
    fs::write(old.join("compose-swarm.yaml"), "services: {}\n").unwrap();
    old
}

#[test]
fn an_export_of_the_old_layout_moves_with_its_autosave_files() {
    let t = TestContext::new();
    generated_ioc(&t, "moved");
    let old = old_layout_export(&t, "moved");
    assert_transcript!(t.run(&["exec", "moved", "--export-for-mount"]), @r#"
        exit 0
        ----- stdout -----
        ----- stderr -----
        warning: IOC "moved": moved its run folder [HOME]/IocDock-data/swarm/moved to [HOME]/IocDock-data/swarm/iocs/moved (autosave files and logs kept); a deployed service keeps its old mounts until `iocdock service moved --deploy` (or --update)
        IOC "moved": exported ioc.ini and startup (running data kept) to [HOME]/IocDock-data/swarm/iocs/moved
        "#);
    let new = t.run_dir("moved");
    assert!(!old.exists());
    assert_eq!(
        fs::read_to_string(new.join("logs/autosave/saved.sav")).unwrap(),
        "autosaved values"
    );
    assert_eq!(
        fs::read_to_string(new.join("logs/x.info")).unwrap(),
        "a log"
    );
    assert!(new.join("startup/iocBoot/st.cmd").is_file());
    assert!(
        !new.join("compose-swarm.yaml").exists(),
        "the stale file goes"
    );

    // Folders that are not this IOC's export stay where they are.
    generated_ioc(&t, "other");
    let foreign = old_layout_export(&t, "other");
    let ini = fs::read_to_string(foreign.join("ioc.ini"))
        .unwrap()
        .replace("name = other\n", "name = someone-else\n");
    fs::set_permissions(foreign.join("ioc.ini"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(foreign.join("ioc.ini"), ini).unwrap();
    t.ok(&["exec", "other", "--export-for-mount"]);
    assert!(foreign.join("logs/autosave/saved.sav").is_file());
    assert!(!t.run_dir("other").join("logs/autosave/saved.sav").exists());

    generated_ioc(&t, "viaLink");
    let real = old_layout_export(&t, "viaLink");
    let elsewhere = t.home().join("elsewhere");
    fs::rename(&real, &elsewhere).unwrap();
    symlink(&elsewhere, &real).unwrap();
    t.ok(&["exec", "viaLink", "--export-for-mount"]);
    assert!(elsewhere.join("logs/autosave/saved.sav").is_file());
    assert!(fs::symlink_metadata(&real).unwrap().is_symlink());
}

#[test]
fn rename_and_remove_find_an_export_of_the_old_layout() {
    let t = TestContext::new();
    generated_ioc(&t, "first");
    let old = old_layout_export(&t, "first");
    t.ok(&["rename", "first", "second"]);
    assert!(!old.exists());
    let new = t.run_dir("second");
    assert_eq!(
        fs::read_to_string(new.join("logs/autosave/saved.sav")).unwrap(),
        "autosaved values"
    );
    assert!(
        fs::read_to_string(new.join("ioc.ini"))
            .unwrap()
            .contains("name = second\n")
    );
    assert!(!new.join("compose-swarm.yaml").exists());

    generated_ioc(&t, "gone");
    let old = old_layout_export(&t, "gone");
    t.ok(&["remove", "gone", "-rf"]);
    assert!(!old.exists());
}
