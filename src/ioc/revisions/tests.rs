use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::settings::Paths;

/// A repository holding IOC `name` with an ioc.ini, a startup folder and a service file.
fn fixture(name: &str) -> (tempfile::TempDir, Repository) {
    let home = tempfile::tempdir().unwrap();
    let repository = Repository::new(&Paths::new(home.path().to_path_buf(), None));
    let dir = repository.dir(name);
    fs::create_dir_all(dir.join("project/startup/iocBoot")).unwrap();
    fs::create_dir_all(dir.join("project/startup/db")).unwrap();
    set_ini(&repository, name, "1G");
    let st_cmd = dir.join("project/startup/iocBoot/st.cmd");
    fs::write(&st_cmd, "#!../../bin/ST-IOC\niocInit\n").unwrap();
    fs::set_permissions(&st_cmd, fs::Permissions::from_mode(0o555)).unwrap();
    fs::write(
        dir.join("project/startup/db/ramper.db"),
        "record(ai, \"x\") {}\n",
    )
    .unwrap();
    fs::create_dir_all(repository.service_file(name).parent().unwrap()).unwrap();
    set_service(&repository, name, "1G");
    (home, repository)
}

fn set_ini(repository: &Repository, name: &str, memory: &str) {
    let text = format!("[IOC]\nname = {name}\nhost = swarm\n\n[DEPLOY]\nmemory-limit = {memory}\n");
    let path = repository.ini_path(name);
    let _ = fs::remove_file(&path);
    fs::write(path, text).unwrap();
}

fn set_service(repository: &Repository, name: &str, memory: &str) {
    let path = repository.service_file(name);
    let _ = fs::remove_file(&path);
    fs::write(
        path,
        format!("services:\n  srv-{name}:\n    memory: {memory}\n"),
    )
    .unwrap();
}

fn meta(command: &str) -> Meta {
    Meta::new(
        DateTime::parse_from_rfc3339("2026-12-04T17:00:00Z")
            .unwrap()
            .with_timezone(&Utc),
        "operator",
        command,
    )
}

#[test]
fn revision_numbers_are_plain_positive_decimals() {
    assert_eq!(parse_number("3").unwrap(), 3);
    assert_eq!(parse_number("01").unwrap(), 1);
    for bad in [
        "",
        "0",
        "-1",
        "+1",
        " 3",
        "3a",
        "1.0",
        "../1",
        "99999999999999999999",
    ] {
        let error = parse_number(bad).unwrap_err().to_string();
        assert!(error.contains("is not a revision number"), "{bad}: {error}");
    }
    // Folders made by hand as `01` would count twice.
    assert_eq!(folder_number("12"), Some(12));
    assert_eq!(folder_number("012"), None);
    assert_eq!(folder_number(".iocdock-new-5"), None);
}

#[test]
fn numbers_only_grow_and_pruning_keeps_the_newest() {
    assert_eq!(next_number(&[]), 1);
    assert_eq!(next_number(&[4, 9, 7]), 10);
    assert_eq!(to_prune(&[1, 2, 3, 4, 5], 3), vec![1, 2]);
    assert_eq!(to_prune(&[5, 1, 3], 3), Vec::<u64>::new());
    // At least the newest stays, whatever the limit says.
    assert_eq!(to_prune(&[2, 1], 0), vec![1]);
}

#[test]
fn an_identical_deploy_records_nothing_new() {
    let (_home, repository) = fixture("r1");
    let first = record(&repository, "r1", &meta("iocdock service r1 --deploy"), 10).unwrap();
    assert_eq!(
        first,
        Recorded::New {
            number: 1,
            pruned: vec![]
        }
    );
    let again = record(&repository, "r1", &meta("iocdock service r1 --update"), 10).unwrap();
    assert_eq!(again, Recorded::Unchanged { number: 1 });
    assert_eq!(numbers(&repository, "r1").unwrap(), vec![1]);
    // A mode is part of a file: st.cmd made not executable is a change.
    let st_cmd = repository.dir("r1").join("project/startup/iocBoot/st.cmd");
    fs::set_permissions(&st_cmd, fs::Permissions::from_mode(0o444)).unwrap();
    let changed = record(&repository, "r1", &meta("x"), 10).unwrap();
    assert_eq!(
        changed,
        Recorded::New {
            number: 2,
            pruned: vec![]
        }
    );
    // Stored root-only, with what recorded it.
    let dir = repository.dir("r1").join(REVISIONS_DIR);
    let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    let revision = read(&repository, "r1", 1).unwrap();
    assert_eq!(revision.meta.command, "iocdock service r1 --deploy");
    assert_eq!(revision.meta.time, "2026-12-04T17:00:00Z");
    assert_eq!(revision.meta.user, "operator");
}

#[test]
fn pruning_keeps_the_limit_and_numbers_go_on() {
    let (_home, repository) = fixture("r1");
    for (i, memory) in ["1G", "2G", "3G", "4G"].iter().enumerate() {
        set_ini(&repository, "r1", memory);
        let recorded = record(&repository, "r1", &meta("deploy"), 2).unwrap();
        let pruned = if i >= 2 { vec![i as u64 - 1] } else { vec![] };
        assert_eq!(
            recorded,
            Recorded::New {
                number: i as u64 + 1,
                pruned
            }
        );
    }
    assert_eq!(numbers(&repository, "r1").unwrap(), vec![3, 4]);
    set_ini(&repository, "r1", "5G");
    let recorded = record(&repository, "r1", &meta("deploy"), 10).unwrap();
    assert_eq!(
        recorded,
        Recorded::New {
            number: 5,
            pruned: vec![]
        }
    );
    // Leftovers and hand-made entries are no revisions.
    let dir = repository.dir("r1").join(REVISIONS_DIR);
    fs::create_dir(dir.join(".iocdock-new-6abc")).unwrap();
    fs::create_dir(dir.join("07")).unwrap();
    fs::write(dir.join("8"), "").unwrap();
    assert_eq!(numbers(&repository, "r1").unwrap(), vec![3, 4, 5]);
}

#[test]
fn history_is_newest_first_with_the_diff_against_the_one_before() {
    let (_home, repository) = fixture("r1");
    record(&repository, "r1", &meta("first"), 10).unwrap();
    set_ini(&repository, "r1", "512M");
    set_service(&repository, "r1", "512M");
    record(&repository, "r1", &meta("second"), 10).unwrap();
    let history = history(&repository, "r1").unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].number, 2);
    assert_eq!(history[0].meta.command, "second");
    let changes = history[0].changes.as_ref().unwrap();
    let summaries: Vec<String> = changes.iter().map(FileChange::summary).collect();
    assert_eq!(summaries, ["changed compose-swarm.yaml", "changed ioc.ini"]);
    let FileChange::Changed { diff, .. } = &changes[1] else {
        panic!("{changes:?}")
    };
    assert!(diff.contains("--- ioc.ini (revision 1)"), "{diff}");
    assert!(
        diff.contains("-memory-limit = 1G\n+memory-limit = 512M"),
        "{diff}"
    );
    assert_eq!(history[1].number, 1);
    assert!(history[1].changes.is_none());
    assert_eq!(history[1].files, 4);
}

#[test]
fn rollback_goes_to_the_one_before_or_a_named_one_that_exists() {
    let (_home, repository) = fixture("r1");
    let none = rollback_target(&repository, "r1", None)
        .unwrap_err()
        .to_string();
    assert!(none.contains("IOC \"r1\" has no revisions"), "{none}");
    record(&repository, "r1", &meta("first"), 10).unwrap();
    let alone = rollback_target(&repository, "r1", None)
        .unwrap_err()
        .to_string();
    assert_eq!(
        alone,
        "IOC \"r1\" has no revision before revision 1 to roll back to (name one: it has 1)"
    );
    set_ini(&repository, "r1", "2G");
    record(&repository, "r1", &meta("second"), 10).unwrap();
    assert_eq!(rollback_target(&repository, "r1", None).unwrap().number, 1);
    assert_eq!(
        rollback_target(&repository, "r1", Some(2)).unwrap().number,
        2
    );
    let unknown = rollback_target(&repository, "r1", Some(7))
        .unwrap_err()
        .to_string();
    assert_eq!(unknown, "IOC \"r1\" has no revision 7 (it has 1, 2)");
}

#[test]
fn a_revision_of_the_name_before_a_rename_is_refused() {
    let (_home, repository) = fixture("r1");
    let text = "[IOC]\nname = old\nhost = swarm\n";
    fs::remove_file(repository.ini_path("r1")).unwrap();
    fs::write(repository.ini_path("r1"), text).unwrap();
    record(&repository, "r1", &meta("before the rename"), 10).unwrap();
    set_ini(&repository, "r1", "1G");
    record(&repository, "r1", &meta("after"), 10).unwrap();
    let error = rollback_target(&repository, "r1", Some(1))
        .unwrap_err()
        .to_string();
    assert!(error.contains("revision 1 is of IOC \"old\""), "{error}");
}

#[test]
fn a_link_in_a_revision_makes_it_unusable() {
    let (_home, repository) = fixture("r1");
    record(&repository, "r1", &meta("first"), 10).unwrap();
    set_ini(&repository, "r1", "2G");
    record(&repository, "r1", &meta("second"), 10).unwrap();
    let startup = repository.dir("r1").join(REVISIONS_DIR).join("1/startup");
    std::os::unix::fs::symlink("/etc/passwd", startup.join("db/passwd")).unwrap();
    let error = rollback_target(&repository, "r1", None)
        .unwrap_err()
        .to_string();
    assert!(error.contains("revision 1 cannot be used"), "{error}");
    assert!(error.contains("a link?"), "{error}");
}

#[test]
fn restore_puts_the_files_back_with_their_modes() {
    let (_home, repository) = fixture("r1");
    record(&repository, "r1", &meta("first"), 10).unwrap();
    set_ini(&repository, "r1", "2G");
    set_service(&repository, "r1", "2G");
    let dir = repository.dir("r1");
    fs::write(dir.join("project/startup/db/extra.db"), "new\n").unwrap();
    record(&repository, "r1", &meta("second"), 10).unwrap();
    let target = rollback_target(&repository, "r1", None).unwrap();
    restore(&repository, "r1", &target).unwrap();
    assert!(
        fs::read_to_string(repository.ini_path("r1"))
            .unwrap()
            .contains("memory-limit = 1G")
    );
    assert!(
        fs::read_to_string(repository.service_file("r1"))
            .unwrap()
            .contains("memory: 1G")
    );
    assert!(!dir.join("project/startup/db/extra.db").exists());
    let st_cmd = dir.join("project/startup/iocBoot/st.cmd");
    assert_eq!(
        fs::metadata(&st_cmd).unwrap().permissions().mode() & 0o777,
        0o555
    );
    assert_eq!(current(&repository, "r1").unwrap(), target.content);
}
