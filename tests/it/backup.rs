//! Repository backups through the command line, and crash safety of exec.

use std::fs;
use std::time::Duration;

use crate::transcript::Transcripts;

use crate::{TestContext, fixtures_dir, project_file};

fn archives(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".ioc.tar.gz"))
        .collect();
    names.sort();
    names
}

#[test]
fn backup_remove_restore_round_trip() {
    let t = TestContext::new();
    t.install_fixture_repository();
    t.ok(&["update"]);
    let before: Vec<_> = ["worker_test_1", "worker_test_2", "worker_test_3"]
        .iter()
        .map(|n| {
            (
                t.ioc_ini(n),
                fs::read(t.repository().join(n).join("src/ramper.db")).unwrap(),
                t.state_json(n),
            )
        })
        .collect();
    let out = t.ok(&["exec", "-b"]);
    let archive = std::path::PathBuf::from(out.trim());
    assert!(archive.starts_with(t.home().join("ioc-backup")), "{out}");
    assert!(
        archive
            .file_name()
            .unwrap()
            .to_string_lossy()
            .ends_with(".ioc.tar.gz")
    );

    t.ok(&[
        "remove",
        "worker_test_1",
        "worker_test_2",
        "worker_test_3",
        "-rf",
        "--yes",
    ]);
    assert_eq!(t.ok(&["list"]), "");
    t.ok(&["exec", "-r", archive.to_str().unwrap()]);
    for (i, name) in ["worker_test_1", "worker_test_2", "worker_test_3"]
        .iter()
        .enumerate()
    {
        assert_eq!(t.ioc_ini(name), before[i].0, "{name}");
        assert_eq!(
            fs::read(t.repository().join(name).join("src/ramper.db")).unwrap(),
            before[i].1
        );
        let mut expected = before[i].2.clone();
        expected["status"] = "restored".into();
        assert_eq!(t.state_json(name), expected, "{name}");
    }
}

/// Entry paths of an archive, as stored.
pub(crate) fn members(archive: &std::path::Path) -> Vec<String> {
    let file = fs::File::open(archive).unwrap();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    tar.entries()
        .unwrap()
        .map(|e| String::from_utf8(e.unwrap().path_bytes().into_owned()).unwrap())
        .collect()
}

/// The IOC folders an archive holds.
fn iocs_in(archive: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = members(archive)
        .iter()
        .filter_map(|m| {
            m.split('/')
                .nth(1)
                .filter(|n| !n.is_empty())
                .map(str::to_string)
        })
        .collect();
    names.dedup();
    names
}

#[test]
fn named_iocs_are_backed_up_and_restored_alone() {
    let t = TestContext::new();
    t.ok(&["create", "a", "b", "c"]);
    let dir = t.home().join("named");
    let path = dir.to_str().unwrap();
    let archive = t.ok(&["exec", "a", "b", "-b", "--backup-path", path]);
    let archive = std::path::PathBuf::from(archive.trim());
    assert_eq!(iocs_in(&archive), ["a", "b"]);
    // A name that is no IOC writes no archive at all.
    assert_transcript!(t.run(&["exec", "a", "ghost", "-b", "--backup-path", path]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: [HOME]/IocDock/ioc-repository: no IOC "ghost" in the repository; nothing was backed up
        "#);
    assert_eq!(archives(&dir).len(), 1);
    // alliocs, like no name, is every IOC.
    let all = t.ok(&["exec", "alliocs", "-b", "--backup-path", path]);
    assert_eq!(iocs_in(std::path::Path::new(all.trim())), ["a", "b", "c"]);

    t.ok(&["set", "a", "b", "-o", "description=changed"]);
    let before = t.tree_state();
    // An IOC the archive does not hold: an error naming it, nothing written.
    let run = t.run(&[
        "exec",
        "a",
        "c",
        "-r",
        archive.to_str().unwrap(),
        "--force-overwrite",
    ]);
    assert_transcript!(run, @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: [HOME]/named/[STAMP].ioc.tar.gz: holds no IOC "c" (it holds "a", "b"); nothing was restored
        "#);
    assert!(before == t.tree_state());
    t.ok(&[
        "exec",
        "a",
        "-r",
        archive.to_str().unwrap(),
        "--force-overwrite",
    ]);
    assert!(t.ioc_ini("a").contains("description = \n"), "a is restored");
    assert_eq!(t.state_json("a")["status"], "restored");
    assert!(
        t.ioc_ini("b").contains("description = changed\n"),
        "b is not"
    );
    assert_eq!(t.state_json("b")["status"], "created");
    t.ok(&[
        "exec",
        "alliocs",
        "-r",
        archive.to_str().unwrap(),
        "--force-overwrite",
    ]);
    assert!(t.ioc_ini("b").contains("description = \n"));
}

#[test]
fn dry_runs_of_backup_and_restore_list_and_write_nothing() {
    let t = TestContext::new();
    t.ok(&["create", "a", "b"]);
    fs::write(t.repository().join("a/src/x.db"), "record(ai, x) {}\n").unwrap();
    let dir = t.home().join("dry");
    let path = dir.to_str().unwrap();
    let before = t.tree_state();
    let run = t.run(&["exec", "a", "-b", "--backup-path", path, "--dry-run"]);
    assert!(!dir.exists(), "not even the folder is made");
    assert!(before == t.tree_state());
    let listed = run.stdout.clone();
    assert_transcript!(run, @r"
        exit 0
        ----- stdout -----
        would write [HOME]/dry/[STAMP].ioc.tar.gz (mode 0600) holding:
          [STAMP]/
          [STAMP]/a/
          [STAMP]/a/.info.ini
          [STAMP]/a/ioc.ini
          [STAMP]/a/src/
          [STAMP]/a/src/x.db
        ----- stderr -----
        ");

    // What the dry run listed is what the backup holds.
    let archive = t.ok(&["exec", "a", "-b", "--backup-path", path]);
    let mut written = members(std::path::Path::new(archive.trim()));
    let mut planned: Vec<String> = listed
        .lines()
        .skip(1)
        .map(|l| l.trim().trim_end_matches('/').to_string())
        .collect();
    written
        .iter_mut()
        .for_each(|m| *m = m.trim_end_matches('/').to_string());
    written.sort();
    planned.sort();
    assert_eq!(planned.len(), written.len(), "{listed}");

    let before = t.tree_state();
    let skip = t.ok(&["exec", "-r", archive.trim(), "--dry-run"]);
    assert_eq!(
        skip.trim(),
        "would skip IOC \"a\": it exists (--force-overwrite replaces it)"
    );
    let replace = t.run(&[
        "exec",
        "-r",
        archive.trim(),
        "--dry-run",
        "--force-overwrite",
    ]);
    assert_transcript!(replace, @r#"
        exit 0
        ----- stdout -----
        would replace IOC "a" in [HOME]/IocDock/ioc-repository/a
          [HOME]/IocDock/ioc-repository/a/.info.ini
          [HOME]/IocDock/ioc-repository/a/ioc.ini
          [HOME]/IocDock/ioc-repository/a/src
          [HOME]/IocDock/ioc-repository/a/src/x.db
        ----- stderr -----
        "#);
    assert!(before == t.tree_state(), "a dry run writes nothing");
}

/// Runs iocdock as a throwaway user with no groups: a home it cannot write.
fn as_other_user(t: &TestContext, args: &[&str]) -> std::process::Output {
    std::process::Command::new("setpriv")
        .args([
            "--reuid=54323",
            "--regid=54323",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(crate::bin())
        .arg("--home")
        .arg(t.home())
        .args(args)
        .env_remove("MOUNT_PATH")
        .output()
        .expect("setpriv")
}

#[test]
fn a_backup_of_a_home_it_cannot_write_needs_no_lock_file() {
    let is_root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !is_root {
        assert!(!crate::docker::in_ci(), "CI runs as root");
        eprintln!("SKIPPED: needs root to act as another user");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let t = TestContext::new();
    // Readable by everyone, as /opt/IocDockHome is; writable by root only.
    fs::set_permissions(t.home(), fs::Permissions::from_mode(0o755)).unwrap();
    t.ok(&["create", "a", "b"]);
    let lock = t.repository().join(".iocdock.lock");
    let writable = tempfile::tempdir().unwrap();
    fs::set_permissions(writable.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let backups = writable.path().join("backups");
    fs::create_dir(&backups).unwrap();
    std::os::unix::fs::chown(&backups, Some(54323), Some(54323)).unwrap();
    let path = backups.to_str().unwrap();

    // The lock file is root's and private: no lock, and nothing written to the home.
    let before = t.tree_state();
    let out = as_other_user(&t, &["exec", "-b", "--backup-path", path]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let archive = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(iocs_in(std::path::Path::new(&archive)), ["a", "b"]);
    assert!(before == t.tree_state(), "the home is only read");
    // No lock file either, and none it could make.
    fs::remove_file(&lock).unwrap();
    let out = as_other_user(&t, &["exec", "a", "-b", "--backup-path", path]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!lock.exists());

    // A lock file it can read: a shared lock, which waits for a writer.
    t.ok(&["create", "c"]);
    fs::set_permissions(&lock, fs::Permissions::from_mode(0o644)).unwrap();
    let mut writer = std::process::Command::new("flock")
        .arg("-x")
        .arg(&lock)
        .args(["sleep", "2"])
        .spawn()
        .expect("flock (util-linux)");
    std::thread::sleep(Duration::from_millis(300));
    let out = as_other_user(&t, &["exec", "-b", "--backup-path", path]);
    writer.wait().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("waiting for another iocdock command"),
        "{stderr}"
    );
    let archive = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(iocs_in(std::path::Path::new(&archive)), ["a", "b", "c"]);
}

#[test]
fn existing_iocs_are_skipped_unless_forced() {
    let t = TestContext::new();
    t.ok(&["create", "keep"]);
    let archive = t.ok(&["exec", "-b"]);
    t.ok(&["set", "keep", "-o", "description=newer"]);
    assert_transcript!(t.run(&["exec", "-r", archive.trim()]), @r#"
        exit 0
        ----- stdout -----
        ----- stderr -----
        warning: IOC "keep" exists and was skipped (use --force-overwrite to replace it)
        "#);
    assert!(t.ioc_ini("keep").contains("description = newer"));
    t.ok(&["exec", "-r", archive.trim(), "--force-overwrite"]);
    assert!(t.ioc_ini("keep").contains("description = \n"));
    assert_eq!(t.state_json("keep")["status"], "restored");
}

#[test]
fn an_archive_of_the_original_tool_restores() {
    let t = TestContext::new();
    let archive = fixtures_dir().join("backups/20261122000730.ioc.tar.gz");
    t.ok(&["exec", "-r", archive.to_str().unwrap()]);
    assert_eq!(
        t.ok(&["list"]),
        "worker_test_1 worker_test_2 worker_test_3\n"
    );
    assert_eq!(
        t.ok(&["list", "status=restored"]),
        "worker_test_1 worker_test_2 worker_test_3\n"
    );
    assert!(
        t.ioc_ini("worker_test_1")
            .contains("name = worker_test_1\n")
    );
}

#[test]
fn bad_archives_are_refused_with_nothing_written() {
    let t = TestContext::new();
    t.ok(&["create", "a"]);
    let good = t.ok(&["exec", "-b"]);
    let bytes = fs::read(good.trim()).unwrap();
    let truncated = t.home().join("truncated.ioc.tar.gz");
    fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let not_gzip = t.home().join("text.ioc.tar.gz");
    fs::write(&not_gzip, "hello").unwrap();
    t.ok(&["remove", "a", "-f"]);
    let before = t.tree_state();
    let mut runs = Transcripts::default();
    for bad in [&truncated, &not_gzip, &t.home().join("missing.ioc.tar.gz")] {
        let args = ["exec", "-r", bad.to_str().unwrap()];
        runs.push(&args, t.run(&args));
    }
    assert_transcript!(runs, @r"
        $ iocdock exec -r [HOME]/truncated.ioc.tar.gz
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: [HOME]/truncated.ioc.tar.gz: not a readable .tar.gz archive (damaged or truncated?): incomplete deflate stream

        $ iocdock exec -r [HOME]/text.ioc.tar.gz
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: [HOME]/text.ioc.tar.gz: not a readable .tar.gz archive (damaged or truncated?): unexpected end of file

        $ iocdock exec -r [HOME]/missing.ioc.tar.gz
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: [HOME]/missing.ioc.tar.gz: cannot open archive: No such file or directory (os error 2)
        ");
    assert!(before == t.tree_state());
}

#[test]
fn same_second_backups_both_survive_and_keep_prunes() {
    let t = TestContext::new();
    t.ok(&["create", "a"]);
    let dir = t.home().join("bk");
    let first = t.ok(&["exec", "-b", "--backup-path", dir.to_str().unwrap()]);
    let second = t.ok(&["exec", "-b", "--backup-path", dir.to_str().unwrap()]);
    let third = t.ok(&["exec", "-b", "--backup-path", dir.to_str().unwrap()]);
    let now = chrono::Local::now().format("%Y%m%d%H%M%S").to_string();
    assert_ne!(first, second);
    assert_eq!(archives(&dir).len(), 3);
    // No name claims a later time than it was made: one second's archives are
    // numbered instead.
    let mut stamps = Vec::new();
    for archive in [&first, &second, &third] {
        let name = archive.trim().rsplit('/').next().unwrap().to_string();
        let stamp = name[..14].to_string();
        assert!(stamp <= now, "{name} is later than {now}");
        let numbered = name[14..]
            .strip_prefix('-')
            .map(|rest| rest.trim_end_matches(".ioc.tar.gz"));
        if stamps.contains(&stamp) {
            assert!(
                numbered.is_some(),
                "{name} repeats a second without a number"
            );
        }
        stamps.push(stamp);
    }
    fs::write(dir.join("notes.txt"), "keep me").unwrap();
    t.ok(&[
        "exec",
        "-b",
        "--backup-path",
        dir.to_str().unwrap(),
        "--keep",
        "1",
    ]);
    // The newest survives pruning, whichever form its name has.
    let kept = archives(&dir);
    assert_eq!(kept.len(), 1);
    assert!(dir.join("notes.txt").exists());
    assert!(
        t.ok(&[
            "exec",
            "-r",
            dir.join(&kept[0]).to_str().unwrap(),
            "--dry-run"
        ])
        .contains("would skip IOC \"a\"")
    );
    assert_transcript!(t.run(&["exec", "-b", "--keep", "0"]), @r"
        exit 2
        ----- stdout -----
        ----- stderr -----
        error: invalid value '0' for '--keep <N>': 0 is not in 1..=4294967295

        For more information, try '--help'.
        ");
}

#[test]
fn mode_all_carries_startup_and_running_data() {
    let t = TestContext::new();
    let template = project_file("templates/test/test.ini");
    t.ok(&["create", "full", "-f", template.to_str().unwrap()]);
    t.ok(&[
        "exec",
        "full",
        "--add-src-file",
        project_file("templates/test").to_str().unwrap(),
    ]);
    t.ok(&["exec", "full", "--generate-and-export"]);
    fs::write(t.run_dir("full").join("logs/autosave/full.sav"), "saved").unwrap();
    let archive = t.ok(&["exec", "-b", "--backup-mode", "all"]);
    let listing = std::process::Command::new("tar")
        .args(["tzf", archive.trim()])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(
        listing.contains("/full/project/startup/iocBoot/st.cmd"),
        "{listing}"
    );
    assert!(
        listing.contains("/full/project/logs/autosave/full.sav"),
        "{listing}"
    );
    t.ok(&["remove", "full", "-f"]);
    t.ok(&["exec", "-r", archive.trim()]);
    assert!(
        t.repository()
            .join("full/project/startup/iocBoot/st.cmd")
            .is_file()
    );
}

#[test]
fn a_killed_deploy_leaves_every_file_parseable() {
    let t = TestContext::new();
    let template = project_file("templates/test/test.ini");
    let names: Vec<String> = (0..300).map(|i| format!("k{i:03}")).collect();
    let mut create = vec!["create"];
    create.extend(names.iter().map(String::as_str));
    create.extend(["-f", template.to_str().unwrap()]);
    t.ok(&create);
    let mut sources = vec!["exec"];
    sources.extend(names.iter().map(String::as_str));
    let src_dir = project_file("templates/test");
    sources.extend(["--add-src-file", src_dir.to_str().unwrap()]);
    t.ok(&sources);

    let mut deploy: Vec<&str> = vec!["exec"];
    deploy.extend(names.iter().map(String::as_str));
    deploy.push("--deploy");
    let mut child = t
        .std_cmd(&deploy)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill once some IOCs are done but not all.
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        let done = fs::read_dir(t.mount().join("swarm/iocs"))
            .map(|d| d.count())
            .unwrap_or(0);
        if done > 20 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // Every ioc.ini and state file parses: nothing is in state error.
    assert_eq!(t.ok(&["list", "state=error"]), "");
    assert_eq!(t.ok(&["list"]).split_whitespace().count(), 300);
    t.ok(&deploy);
    assert_eq!(
        t.ok(&["list", "status=exported"])
            .split_whitespace()
            .count(),
        300
    );
    // Whatever the kill left half-made, the next deploy of those IOCs cleared.
    assert_eq!(leftovers(t.home()), Vec::<String>::new());
}

/// Hidden entries an interrupted command may leave, anywhere below `dir`.
fn leftovers(dir: &std::path::Path) -> Vec<String> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy();
            name.starts_with(".iocdock-") && name != ".iocdock.lock"
        })
        .map(|e| e.path().display().to_string())
        .collect()
}

/// Makes folders and files as a command killed half-way leaves them.
fn plant(path: &std::path::Path, file: &str, content: &str) {
    fs::create_dir_all(path).unwrap();
    fs::write(path.join(file), content).unwrap();
}

#[test]
fn leftovers_of_a_killed_command_are_cleared_by_the_next_one() {
    let t = TestContext::new();
    let template = project_file("templates/test/test.ini");
    t.ok(&["create", "a", "b", "-f", template.to_str().unwrap()]);
    let sources = project_file("templates/test");
    t.ok(&[
        "exec",
        "a",
        "b",
        "--add-src-file",
        sources.to_str().unwrap(),
    ]);
    t.ok(&["exec", "a", "b", "--generate-and-export"]);
    t.ok(&["exec", "a", "b", "--add-snapshot-file"]);
    let run = t.run_dir("a");
    let st_cmd = fs::read_to_string(run.join("startup/iocBoot/st.cmd")).unwrap();
    // Killed between the two renames of a swap: the old startup is only aside.
    fs::create_dir(run.join(".iocdock-old-startup-Q1w2E3")).unwrap();
    fs::rename(
        run.join("startup"),
        run.join(".iocdock-old-startup-Q1w2E3/d"),
    )
    .unwrap();
    // Killed while filling a staged folder, by this version and by earlier ones.
    plant(&run.join(".iocdock-new-logs-Ab3dE9"), "a.log", "half");
    plant(&run.join(".iocdock-new-X1y2Z3/iocBoot"), "st.cmd", "half");
    // Killed during atomic writes, an IOC create, a snapshot removal.
    let ioc = t.repository().join("a");
    fs::write(ioc.join(".iocdock-k9j8h7.tmp"), "[IOC]\nna").unwrap();
    fs::write(ioc.join("src/.iocdock-u7y6t5.tmp"), "rec").unwrap();
    plant(
        &t.repository().join(".iocdock-new-a-Z9y8X7"),
        "ioc.ini",
        "[IOC]",
    );
    plant(
        &t.snapshot().join(".iocdock-removed-a-M1n2B3/d"),
        "ioc.ini",
        "[IOC]",
    );
    let service_dir = t.service_file("a").parent().unwrap().to_path_buf();
    fs::create_dir_all(&service_dir).unwrap();
    fs::write(service_dir.join(".iocdock-p0o9i8.tmp"), "services:").unwrap();
    // A create and a remove killed half-way: their IOCs do not exist.
    plant(
        &t.repository().join(".iocdock-new-c-Q2w3E4"),
        "ioc.ini",
        "[IOC]",
    );
    plant(
        &t.mount().join("swarm/iocs/.iocdock-removed-gone-Q2w3E4/d"),
        "ioc.ini",
        "[IOC]",
    );
    // Another IOC's, and one of an earlier version that says no IOC.
    let others = [
        t.repository().join(".iocdock-new-b-Z9y8X7"),
        t.repository().join(".iocdock-new-R5t6Y7"),
    ];
    for other in &others {
        plant(other, "ioc.ini", "[IOC]");
    }
    let aside_snapshot = t.snapshot().join(".iocdock-old-W3e4R5");
    fs::create_dir_all(&aside_snapshot).unwrap();
    fs::rename(t.snapshot().join("b"), aside_snapshot.join("d")).unwrap();

    // Reading commands leave everything as it is.
    let planted = leftovers(t.home());
    assert_eq!(t.ok(&["list"]), "a b\n");
    t.ok(&["exec", "-b"]);
    assert_eq!(leftovers(t.home()), planted);
    // A finished command marks nothing; the killed one left its process id in the
    // lock file, which the next command that changes the repository sees.
    let lock = t.repository().join(".iocdock.lock");
    assert_eq!(fs::read_to_string(&lock).unwrap(), "");
    fs::write(&lock, "4242\n").unwrap();
    // Leftovers are cleared in the order the folders list them, which is the file
    // system's: the messages are checked one by one, not as a snapshot.
    let out = t
        .cmd(&["-v", "exec", "a", "--export-for-mount"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("was interrupted"), "{stderr}");
    assert!(
        stderr.contains("left by an interrupted command"),
        "{stderr}"
    );
    assert!(stderr.contains("had moved it aside"), "{stderr}");

    assert_eq!(fs::read_to_string(&lock).unwrap(), "");
    assert_eq!(
        fs::read_to_string(run.join("startup/iocBoot/st.cmd")).unwrap(),
        st_cmd,
        "the old startup is back in place"
    );
    // Every IOC's are gone, existing or not; those an earlier version left without a
    // name wait for update.
    let mut left = leftovers(t.home());
    left.sort();
    let mut expected: Vec<String> = [&others[1], &aside_snapshot]
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    expected.sort();
    let tops: Vec<&String> = left.iter().filter(|p| expected.contains(p)).collect();
    assert_eq!(tops, expected.iter().collect::<Vec<_>>(), "{left:?}");
    assert!(
        left.iter()
            .all(|p| expected.iter().any(|e| p.starts_with(e.as_str()))),
        "{left:?}"
    );
    assert_eq!(t.ok(&["list"]), "a b\n");

    // update clears every IOC's, puts the snapshot moved aside back and removes
    // what earlier versions left without a name.
    t.ok(&["update"]);
    assert_eq!(leftovers(t.home()), Vec::<String>::new());
    assert!(t.snapshot().join("b/ioc.ini").is_file());
    assert_eq!(t.ok(&["exec", "b", "--check-snapshot"]), "");
}

#[test]
fn a_broken_ioc_is_left_out_and_reported_but_the_others_are_saved() {
    let t = TestContext::new();
    t.ok(&["create", "good"]);
    fs::create_dir_all(t.repository().join("noini/src")).unwrap();
    let run = t.run(&["exec", "-b"]);
    let archive = run.stdout.trim().to_string();
    assert_transcript!(run, @r#"
        exit 1
        ----- stdout -----
        [HOME]/ioc-backup/[STAMP].ioc.tar.gz
        ----- stderr -----
        error: left out of the backup: cannot back up IOC "noini": [HOME]/IocDock/ioc-repository/noini/ioc.ini is missing (an archive without it could not be restored)
        "#);
    let listing = std::process::Command::new("tar")
        .args(["tzf", &archive])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.contains("/good/ioc.ini"), "{listing}");
    assert!(!listing.contains("noini"), "{listing}");
}
