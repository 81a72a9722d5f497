//! Revisions: every deploy or update of an IOC records its files, `service NAME
//! --history` shows them with what changed, `--rollback [REV]` puts one back and
//! deploys it; backups carry them. The swarm tests read the spec back from the engine.

use std::fs;
use std::path::{Path, PathBuf};

use crate::TestContext;
use crate::backup::members;
use crate::deploy::{exported_ioc, service};
use crate::docker::{StackGuard, TEST_IMAGE, docker_ready, swarm_context, unique_prefix};
use crate::drift::{panel, row};
use crate::status::run;

const GIB: u64 = 1 << 30;
const MIB_512: u64 = 512 << 20;

fn memory_limit(spec: &serde_json::Value) -> u64 {
    spec["TaskTemplate"]["Resources"]["Limits"]["MemoryBytes"]
        .as_u64()
        .unwrap_or_else(|| panic!("no memory limit in {spec}"))
}

/// The headings of `--history`'s blocks, in the order shown.
fn headings(history: &str) -> Vec<String> {
    history
        .lines()
        .filter(|l| l.starts_with("revision "))
        .map(|l| l.split("  ").next().unwrap_or_default().to_string())
        .collect()
}

/// The block of revision `n` in `--history`'s output.
fn block(history: &str, n: u64) -> String {
    let start = format!("revision {n}  ");
    let mut lines = history.lines().skip_while(|l| !l.starts_with(&start));
    let mut out: Vec<&str> = lines.next().into_iter().collect();
    out.extend(lines.take_while(|l| !l.starts_with("revision ")));
    out.join("\n")
}

/// The files a rollback puts back: ioc.ini, the service file, st.cmd, the exported ioc.ini.
fn files(t: &TestContext, name: &str) -> Vec<(PathBuf, Vec<u8>)> {
    [
        t.repository().join(name).join("ioc.ini"),
        t.service_file(name),
        t.repository()
            .join(name)
            .join("project/startup/iocBoot/st.cmd"),
        t.run_dir(name).join("ioc.ini"),
    ]
    .into_iter()
    .map(|p| {
        let bytes = fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        (p, bytes)
    })
    .collect()
}

#[test]
fn history_and_rollback_restore_the_files_and_the_deployed_spec() {
    if !docker_ready("revisions::history_and_rollback_restore_the_files_and_the_deployed_spec") {
        return;
    }
    let prefix = unique_prefix("rev");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    exported_ioc(&t, "rev");
    let name = format!("{prefix}_srv-rev");

    let (code, out, err) = run(&t, &["service", "rev", "--history"], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "IOC rev has no revisions yet: each deploy or update of its service records one\n"
    );

    t.ok(&["service", "rev", "--deploy", "--detach"]);
    let (id, _, first_spec) = service(&name).expect("deployed");
    assert_eq!(memory_limit(&first_spec), GIB);
    let first_files = files(&t, "rev");
    // The same files again: nothing new to record.
    t.ok(&["service", "rev", "--deploy", "--detach"]);

    t.ok(&["set", "rev", "-s", "deploy", "-o", "memory-limit=512M"]);
    t.ok(&["exec", "rev", "--deploy"]);
    t.ok(&["service", "rev", "--update", "--detach"]);
    let (_, _, updated) = service(&name).expect("deployed");
    assert_eq!(memory_limit(&updated), MIB_512);

    let history = t.ok(&["service", "rev", "--history"]);
    assert_eq!(
        headings(&history),
        ["revision 2", "revision 1"],
        "{history}"
    );
    let second = block(&history, 2);
    assert!(
        second.contains("  command: iocdock service rev --update"),
        "{history}"
    );
    assert!(second.contains("  changed ioc.ini"), "{history}");
    assert!(second.contains("  changed compose-swarm.yaml"), "{history}");
    assert!(second.contains("--- ioc.ini (revision 1)"), "{history}");
    assert!(
        second.contains("-memory-limit = 1G\n+memory-limit = 512M"),
        "{history}"
    );
    let first = block(&history, 1);
    assert!(
        first.contains("  command: iocdock service rev --deploy"),
        "{history}"
    );
    assert!(first.contains("the oldest revision kept"), "{history}");
    assert!(first.contains(" UTC  by "), "{history}");

    // A revision that does not exist: one line, and nothing changes.
    let before = t.tree_state();
    let (_, version, _) = service(&name).expect("deployed");
    let (code, out, err) = run(&t, &["service", "rev", "--rollback", "9"], &[]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(out, "");
    assert_eq!(
        err, "error: IOC \"rev\" has no revision 9 (it has 1, 2)\n",
        "one line naming IOC, REV and the revisions there are"
    );
    assert!(before == t.tree_state(), "an unknown REV changes no file");
    assert_eq!(service(&name).expect("deployed").1, version);

    // The one before the newest by default. The IOC of the test image never keeps
    // running, so the command does not wait for it (service_verbs waits for a real one).
    let (code, _, err) = run(&t, &["service", "rev", "--rollback", "--detach"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("rolled back to revision 1"), "{err}");
    assert!(err.contains(&format!("updating service {name}")), "{err}");
    assert_eq!(files(&t, "rev"), first_files, "the files of revision 1");
    let (same_id, _, rolled_back) = service(&name).expect("deployed");
    assert_eq!(same_id, id, "the service stays");
    assert_eq!(memory_limit(&rolled_back), GIB, "as first deployed");
    let check = t.ok(&["service", "rev", "--check-deploy", "--exit-code"]);
    assert!(check.contains(": consistent"), "{check}");
    let shown = row(&panel(&t), "rev");
    assert_eq!(shown["running_consistency"], "consistent", "{shown}");
    assert_eq!(
        shown["service_consistency"]["consistency"], "consistent",
        "{shown}"
    );

    let history = t.ok(&["service", "rev", "--history"]);
    assert_eq!(
        headings(&history),
        ["revision 3", "revision 2", "revision 1"],
        "{history}"
    );
    let third = block(&history, 3);
    assert!(
        third.contains("  note: rolled back to revision 1"),
        "{history}"
    );
    assert!(
        third.contains("-memory-limit = 512M\n+memory-limit = 1G"),
        "{history}"
    );
    assert!(
        third.contains("command: iocdock service rev --rollback"),
        "{history}"
    );

    // Undone by rolling back to the revision before it.
    t.ok(&["service", "rev", "--rollback", "2", "--detach"]);
    let (_, _, again) = service(&name).expect("deployed");
    assert_eq!(memory_limit(&again), MIB_512);
    assert!(t.ioc_ini("rev").contains("memory-limit = 512M"));

    // Backups carry the revisions.
    let archive = t.ok(&["exec", "rev", "-b"]);
    let members = members(Path::new(archive.trim()));
    for wanted in [
        "/rev/.revisions/1/ioc.ini",
        "/rev/.revisions/4/revision.json",
    ] {
        assert!(
            members.iter().any(|m| m.ends_with(wanted)),
            "{wanted} not in {members:?}"
        );
    }
}

/// What needs no engine: an IOC without revisions, REV that is no number, more than
/// one name.
#[test]
fn rollback_without_revisions_or_with_a_bad_rev_is_one_line() {
    let t = TestContext::new();
    t.ok(&["create", "quiet", "other"]);
    let (code, out, err) = run(&t, &["service", "quiet", "--history"], &[]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(
        out,
        "IOC quiet has no revisions yet: each deploy or update of its service records one\n"
    );
    let before = t.tree_state();
    let (code, _, err) = run(&t, &["service", "quiet", "--rollback"], &[]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        err,
        "error: IOC \"quiet\" has no revisions: one is recorded by each deploy or update of its service (iocdock service quiet --deploy)\n"
    );
    let (code, _, err) = run(&t, &["service", "quiet", "--rollback", "two"], &[]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err,
        "error: --rollback \"two\" is not a revision number (expected a whole number such as 3, as --history lists them)\n"
    );
    let (code, _, err) = run(&t, &["service", "quiet", "other", "--rollback"], &[]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err, "error: --rollback takes one IOC or service name\n");
    assert!(before == t.tree_state(), "nothing was written");
}

/// A revision as iocdock writes it, made by hand so no engine is needed.
fn write_revision(t: &TestContext, ioc: &str, n: u64, memory: &str) {
    let dir = t
        .repository()
        .join(ioc)
        .join(".revisions")
        .join(n.to_string());
    fs::create_dir_all(dir.join("startup/iocBoot")).unwrap();
    fs::write(
        dir.join("ioc.ini"),
        format!("[IOC]\nname = {ioc}\n\n[DEPLOY]\nmemory-limit = {memory}\n"),
    )
    .unwrap();
    fs::write(dir.join("startup/iocBoot/st.cmd"), "iocInit\n").unwrap();
    fs::write(
        dir.join("revision.json"),
        format!(
            r#"{{"time": "2026-12-04T17:0{n}:00Z", "user": "operator", "command": "iocdock service {ioc} --deploy"}}"#
        ),
    )
    .unwrap();
}

#[test]
fn a_backup_brings_the_revisions_back_and_history_reads_them() {
    let t = TestContext::new();
    t.ok(&["create", "kept"]);
    write_revision(&t, "kept", 1, "1G");
    write_revision(&t, "kept", 2, "2G");
    let shown = t.ok(&["service", "kept", "--history"]);
    assert_eq!(headings(&shown), ["revision 2", "revision 1"], "{shown}");
    assert!(
        shown.contains("revision 2  2026-12-04 17:02:00 UTC  by operator\n"),
        "{shown}"
    );
    assert!(
        shown.contains("-memory-limit = 1G\n+memory-limit = 2G"),
        "{shown}"
    );

    let dir = t.home().join("backups");
    let archive = t.ok(&["exec", "kept", "-b", "--backup-path", dir.to_str().unwrap()]);
    let archive = archive.trim().to_string();
    assert!(
        members(Path::new(&archive))
            .iter()
            .any(|m| m.ends_with("/kept/.revisions/2/startup/iocBoot/st.cmd")),
        "{archive}"
    );
    fs::remove_dir_all(t.repository().join("kept/.revisions")).unwrap();
    let gone = t.ok(&["service", "kept", "--history"]);
    assert!(gone.contains("has no revisions yet"), "{gone}");
    t.ok(&["exec", "kept", "-r", &archive, "--force-overwrite"]);
    assert_eq!(t.ok(&["service", "kept", "--history"]), shown);
}

/// A custom service has no revisions of ours: its rollback is the engine's previous
/// spec, as `docker service rollback` does it.
#[test]
fn a_custom_service_rolls_back_to_the_engines_previous_spec() {
    if !docker_ready("revisions::a_custom_service_rolls_back_to_the_engines_previous_spec") {
        return;
    }
    let prefix = unique_prefix("crb");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    let file = t.home().join("custom/cust.yaml");
    fs::create_dir_all(file.parent().unwrap()).unwrap();
    let write = |level: &str| {
        fs::write(
            &file,
            format!(
                "services:\n  cust:\n    image: {TEST_IMAGE}\n    command: [sleep, \"3600\"]\n    environment:\n      LEVEL: \"{level}\"\n"
            ),
        )
        .unwrap();
    };
    write("1");
    fs::create_dir_all(t.home().join("IocDock")).unwrap();
    fs::write(
        t.home().join("IocDock/services.yaml"),
        format!("cust: {}\n", file.display()),
    )
    .unwrap();
    let name = format!("{prefix}_cust");
    let env = |spec: &serde_json::Value| spec["TaskTemplate"]["ContainerSpec"]["Env"].clone();

    t.ok(&["service", "cust", "--deploy", "--detach"]);
    let (id, _, first) = service(&name).expect("deployed");
    assert_eq!(env(&first), serde_json::json!(["LEVEL=1"]));
    write("2");
    t.ok(&["service", "cust", "--update", "--detach"]);
    let (_, _, second) = service(&name).expect("deployed");
    assert_eq!(env(&second), serde_json::json!(["LEVEL=2"]));

    let (code, _, err) = run(&t, &["service", "cust", "--history"], &[]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        err,
        "error: custom service \"cust\" has no revisions: they are recorded for IOC services (--rollback gives it the engine's previous spec)\n"
    );
    let (code, _, err) = run(&t, &["service", "cust", "--rollback", "1"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("error: --rollback REV is for IOCs"),
        "{err}"
    );

    let (code, _, err) = run(&t, &["service", "cust", "--rollback"], &[]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "rolling back service {name} to its previous spec (the engine's, as `docker service rollback`)"
        )
    );
    // It waited until the engine said the rollback was done and the copy ran.
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[1].starts_with(&format!("{name}: 1/1 running")),
        "{err}"
    );
    let (same_id, _, rolled_back) = service(&name).expect("deployed");
    assert_eq!(same_id, id);
    assert_eq!(env(&rolled_back), serde_json::json!(["LEVEL=1"]));
}

/// Rename takes the revisions along; they still name the old IOC, so a rollback to
/// one of them is refused, and `--history` still shows them.
#[test]
fn a_rename_takes_the_revisions_along_and_rollback_refuses_them() {
    let t = TestContext::new();
    t.ok(&["create", "before"]);
    write_revision(&t, "before", 1, "1G");
    write_revision(&t, "before", 2, "2G");
    t.ok(&["rename", "before", "after"]);
    let shown = t.ok(&["service", "after", "--history"]);
    assert_eq!(headings(&shown), ["revision 2", "revision 1"], "{shown}");
    let before = t.tree_state();
    let (code, _, err) = run(&t, &["service", "after", "--rollback"], &[]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        err,
        "error: IOC \"after\": revision 1 is of IOC \"before\" (its ioc.ini says so; the IOC was renamed since), so it is not rolled back to\n"
    );
    assert!(before == t.tree_state(), "nothing was written");
}

#[test]
fn rollback_of_an_undeployed_ioc_changes_nothing() {
    if !docker_ready("revisions::rollback_of_an_undeployed_ioc_changes_nothing") {
        return;
    }
    let prefix = unique_prefix("rnd");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    exported_ioc(&t, "idle");
    write_revision(&t, "idle", 1, "1G");
    write_revision(&t, "idle", 2, "2G");
    let before = t.tree_state();
    let (code, _, err) = run(&t, &["service", "idle", "--rollback"], &[]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        err,
        format!(
            "error: ioc service \"idle\" is not deployed ({prefix}_srv-idle does not exist): a rollback changes a deployed service; nothing was changed\n"
        )
    );
    assert!(before == t.tree_state(), "nothing was written");
}

/// The swarm-wide deploys record revisions too, and a deploy of the same files
/// records none.
#[test]
fn swarm_wide_deploys_record_revisions_once_per_change() {
    if !docker_ready("revisions::swarm_wide_deploys_record_revisions_once_per_change") {
        return;
    }
    let prefix = unique_prefix("rsw");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    exported_ioc(&t, "one");
    exported_ioc(&t, "two");
    let (code, _, err) = run(&t, &["swarm", "--deploy-all-iocs", "--detach", "-v"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("IOC one: recorded revision 1"), "{err}");
    assert!(err.contains("IOC two: recorded revision 1"), "{err}");
    let (code, _, err) = run(
        &t,
        &[
            "swarm",
            "--update-deployed-services",
            "--yes",
            "--detach",
            "-v",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("IOC one: files as in revision 1; no new revision"),
        "{err}"
    );
    for ioc in ["one", "two"] {
        let history = t.ok(&["service", ioc, "--history"]);
        assert_eq!(headings(&history), ["revision 1"], "{history}");
        assert!(
            history.contains("  command: iocdock swarm --deploy-all-iocs --detach -v\n"),
            "{history}"
        );
    }
}
