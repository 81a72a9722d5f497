use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Component;
use std::process::Command;

use walkdir::WalkDir;

use super::check::check_archive_limited;
use super::*;

/// A swarm folder as dockerd 20.10 leaves it, at `<dir>/var/lib/docker/swarm`.
fn swarm_folder(dir: &Path) -> PathBuf {
    let swarm = dir.join("var/lib/docker/swarm");
    for sub in [
        "raft/wal-v3-encrypted",
        "raft/snap-v3-encrypted",
        "certificates",
        "worker",
    ] {
        fs::create_dir_all(swarm.join(sub)).unwrap();
    }
    fs::write(swarm.join("raft/wal-v3-encrypted/0.wal"), vec![7u8; 5000]).unwrap();
    // Raft logs are preallocated sparse: data, then a hole.
    let wal = File::create(swarm.join("raft/wal-v3-encrypted/1.wal")).unwrap();
    (&wal).write_all(b"entry").unwrap();
    wal.set_len(64 << 20).unwrap();
    for name in ["swarm-node.crt", "swarm-node.key", "swarm-root-ca.crt"] {
        fs::write(swarm.join("certificates").join(name), name).unwrap();
    }
    fs::set_permissions(
        swarm.join("certificates/swarm-node.key"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    fs::write(
        swarm.join(DOCKER_STATE_FILE),
        r#"{"LocalAddr":"127.0.0.1","ListenAddr":"127.0.0.1:2378","AdvertiseAddr":"127.0.0.1:2378","DataPathPort":4790}"#,
    )
    .unwrap();
    fs::write(
        swarm.join(STATE_FILE),
        r#"[{"node_id":"abc123","addr":"127.0.0.1:2378"}]"#,
    )
    .unwrap();
    fs::write(swarm.join("worker/tasks.db"), "db").unwrap();
    std::os::unix::fs::symlink("../certificates/swarm-node.crt", swarm.join("worker/cert"))
        .unwrap();
    swarm
}

fn tree(dir: &Path) -> Vec<(String, Vec<u8>, u32, bool)> {
    let mut out = Vec::new();
    for entry in WalkDir::new(dir).sort_by_file_name().min_depth(1) {
        let entry = entry.unwrap();
        let meta = fs::symlink_metadata(entry.path()).unwrap();
        let bytes = if meta.is_file() {
            fs::read(entry.path()).unwrap()
        } else if meta.file_type().is_symlink() {
            fs::read_link(entry.path())
                .unwrap()
                .into_os_string()
                .into_encoded_bytes()
        } else {
            Vec::new()
        };
        let rel = entry
            .path()
            .strip_prefix(dir)
            .unwrap()
            .display()
            .to_string();
        out.push((rel, bytes, meta.permissions().mode() & 0o777, meta.is_dir()));
    }
    out
}

fn local(secs: u32) -> DateTime<Local> {
    use chrono::TimeZone;
    Local
        .with_ymd_and_hms(2026, 11, 22, 0, 7, secs)
        .single()
        .unwrap()
}

fn write_to(dir: &Path, swarm: &Path, now: DateTime<Local>) -> PathBuf {
    let temp = tempfile::Builder::new().tempfile_in(dir).unwrap();
    write_archive(swarm, temp, dir, now).unwrap()
}

#[test]
fn archive_round_trips_the_swarm_folder() {
    let dir = tempfile::tempdir().unwrap();
    let swarm = swarm_folder(dir.path());
    let backups = dir.path().join("backups");
    fs::create_dir_all(&backups).unwrap();
    let path = write_to(&backups, &swarm, local(30));
    assert_eq!(path, backups.join("20261122000730.swarm.tar.gz"));
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "swarm keys are in it");

    let checked = check_archive(&path).unwrap();
    let expected_root: Vec<String> = swarm
        .components()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(p.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(checked.root, expected_root);
    assert_eq!(checked.node.node_id.as_deref(), Some("abc123"));
    let request = init_request(&checked.node, "");
    assert_eq!(request.listen_addr.as_deref(), Some("127.0.0.1:2378"));
    assert_eq!(request.advertise_addr.as_deref(), Some("127.0.0.1:2378"));
    assert_eq!(request.data_path_port, Some(4790));
    assert_eq!(request.force_new_cluster, Some(true));
    let request = init_request(&checked.node, " 10.0.0.5 ");
    assert_eq!(request.advertise_addr.as_deref(), Some("10.0.0.5"));

    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    unpack(&checked, &out).unwrap();
    assert_eq!(tree(&out), tree(&swarm));
    use std::os::unix::fs::MetadataExt;
    let wal = fs::metadata(out.join("raft/wal-v3-encrypted/1.wal")).unwrap();
    assert_eq!(wal.len(), 64 << 20);
    assert!(wal.blocks() * 512 < 1 << 20, "the hole stays a hole");
    assert!(fs::metadata(&path).unwrap().len() < 1 << 20);

    // A second backup in the same second takes a number, not a later second.
    let second = write_to(&backups, &swarm, local(30));
    assert_eq!(second, backups.join("20261122000730-2.swarm.tar.gz"));
    assert_eq!(
        fs::read_dir(&backups).unwrap().count(),
        2,
        "no temporary file stays"
    );
}

#[test]
fn restore_finds_the_swarm_folder_under_any_path() {
    let dir = tempfile::tempdir().unwrap();
    let swarm = swarm_folder(dir.path());
    for (args, root) in [
        (vec!["-C", swarm.to_str().unwrap(), "."], vec![]),
        (
            vec!["-C", swarm.parent().unwrap().to_str().unwrap(), "swarm"],
            vec!["swarm".to_string()],
        ),
    ] {
        let path = dir.path().join("by-tar.swarm.tar.gz");
        let status = Command::new("tar")
            .arg("czf")
            .arg(&path)
            .args(&args)
            .status()
            .unwrap();
        assert!(status.success());
        let checked = check_archive(&path).unwrap();
        assert_eq!(checked.root, root, "{args:?}");
        let out = dir.path().join(format!("out{}", root.len()));
        fs::create_dir(&out).unwrap();
        unpack(&checked, &out).unwrap();
        assert_eq!(tree(&out), tree(&swarm));
    }
}

use crate::archive::crafted::{Raw, crafted, file, folder, special};

fn valid_entries() -> Vec<Raw<'static>> {
    vec![
        folder("swarm/"),
        folder("swarm/raft/"),
        file("swarm/raft/0.wal"),
        file("swarm/certificates/swarm-node.crt"),
        file("swarm/certificates/swarm-node.key"),
        Raw {
            data: br#"{"ListenAddr":"0.0.0.0:2377"}"#,
            ..file("swarm/docker-state.json")
        },
    ]
}

#[test]
fn crafted_valid_archive_passes() {
    use tar::EntryType::Symlink;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("valid.swarm.tar.gz");
    let mut entries = valid_entries();
    // A chain that stays inside is fine.
    entries.push(special("swarm/raft/up", Symlink, ".."));
    entries.push(special(
        "swarm/raft/cert",
        Symlink,
        "up/certificates/swarm-node.crt",
    ));
    fs::write(&path, crafted(&entries)).unwrap();
    let checked = check_archive(&path).unwrap();
    assert_eq!(checked.archived_folder(), "/swarm");
    let request = init_request(&checked.node, "");
    assert_eq!(request.listen_addr.as_deref(), Some("0.0.0.0:2377"));
    assert_eq!(request.advertise_addr, None);
}

#[test]
fn hostile_or_foreign_archives_are_refused() {
    use tar::EntryType::{Block, Char, Continuous, Fifo, Link, Symlink};
    let cases: Vec<(Vec<Raw<'_>>, &str)> = vec![
        (vec![file("swarm/raft/../../evil")], "\"..\""),
        (vec![file("../evil")], "\"..\""),
        (vec![file("/etc/evil")], "absolute"),
        (
            vec![special("swarm/raft/link", Symlink, "/etc/passwd")],
            "outside the swarm folder",
        ),
        (
            vec![special("swarm/raft/link", Symlink, "../../etc")],
            "outside the swarm folder",
        ),
        // Each link looks inside on its own; followed through the first, the
        // second leads two folders above raft/, out of the swarm folder.
        (
            vec![
                special("swarm/raft/up", Symlink, ".."),
                special("swarm/raft/chain", Symlink, "up/../etc"),
            ],
            "outside the swarm folder",
        ),
        (
            vec![
                special("swarm/raft/a", Symlink, "b/x"),
                special("swarm/raft/b", Symlink, "../../.."),
            ],
            "outside the swarm folder",
        ),
        (
            vec![
                special("swarm/raft/loop1", Symlink, "loop2"),
                special("swarm/raft/loop2", Symlink, "loop1"),
            ],
            "loop",
        ),
        (
            vec![special("swarm/raft/hard", Link, "etc/passwd")],
            "hard link must point to a file",
        ),
        (
            vec![
                file("etc/passwd"),
                special("swarm/raft/hard", Link, "etc/passwd"),
            ],
            "outside the swarm folder",
        ),
        (
            vec![
                special("swarm/raft/l", Symlink, "."),
                file("swarm/raft/l/x"),
            ],
            "below an entry that is not a folder",
        ),
        (vec![special("swarm/tty", Char, "")], "devices"),
        (vec![special("swarm/sda", Block, "")], "devices"),
        (vec![special("swarm/pipe", Fifo, "")], "fifos"),
        (
            vec![special("swarm/c", Continuous, "")],
            "unsupported entry type",
        ),
        (vec![file("swarm/raft/0.wal")], "appears twice"),
        (vec![file("notes.txt")], "outside the swarm folder"),
        (
            vec![folder("other/raft/"), folder("other/certificates/")],
            "more than one swarm folder",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (extra, expected) in cases {
        let shown = extra.first().map(|e| e.path.to_owned()).unwrap_or_default();
        let mut entries = valid_entries();
        entries.extend(extra);
        let path = dir.path().join("crafted.swarm.tar.gz");
        fs::write(&path, crafted(&entries)).unwrap();
        let err = check_archive(&path).unwrap_err().to_string();
        assert!(err.contains(expected), "{shown}: {err}");
        assert!(err.starts_with(&path.display().to_string()), "{err}");
    }

    let missing_key: Vec<Raw<'_>> = valid_entries()
        .into_iter()
        .filter(|e| !e.path.ends_with("swarm-node.key"))
        .collect();
    let no_state: Vec<Raw<'_>> = valid_entries()
        .into_iter()
        .filter(|e| !e.path.ends_with(".json"))
        .collect();
    let bad_json: Vec<Raw<'_>> = valid_entries()
        .into_iter()
        .map(|e| {
            if e.path.ends_with(".json") {
                Raw { data: b"{", ..e }
            } else {
                e
            }
        })
        .collect();
    let ioc_backup = vec![
        folder("20261122000730/"),
        file("20261122000730/ioc1/ioc.ini"),
    ];
    for (entries, expected) in [
        (missing_key, "certificates/swarm-node.key is missing"),
        (no_state, "neither docker-state.json nor state.json"),
        (bad_json, "docker-state.json is not valid JSON"),
        (ioc_backup, "no folder holding raft/ and certificates/"),
    ] {
        let path = dir.path().join("foreign.swarm.tar.gz");
        fs::write(&path, crafted(&entries)).unwrap();
        let err = check_archive(&path).unwrap_err().to_string();
        assert!(err.contains(expected), "{expected}: {err}");
    }
}

#[test]
fn damaged_and_oversized_archives_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let swarm = swarm_folder(dir.path());
    let path = write_to(dir.path(), &swarm, local(30));
    let bytes = fs::read(&path).unwrap();
    let damaged = dir.path().join("damaged.swarm.tar.gz");
    for len in (0..bytes.len()).step_by(7).chain([bytes.len() - 1]) {
        fs::write(&damaged, &bytes[..len]).unwrap();
        let err = check_archive(&damaged).unwrap_err();
        assert!(
            matches!(
                err,
                SwarmBackupError::Archive(
                    ArchiveError::Unreadable { .. } | ArchiveError::Entry { .. }
                )
            ),
            "cut at {len}: {err}"
        );
    }
    let err = check_archive(&dir.path().join("missing")).unwrap_err();
    assert!(err.to_string().contains("cannot open archive"), "{err}");
    let err = check_archive_limited(&path, 4096).unwrap_err();
    assert!(
        matches!(
            err,
            SwarmBackupError::Archive(ArchiveError::TooLarge { .. })
        ),
        "{err}"
    );
}

#[test]
fn a_changed_archive_is_noticed_while_unpacking() {
    let dir = tempfile::tempdir().unwrap();
    let swarm = swarm_folder(dir.path());
    let path = write_to(dir.path(), &swarm, local(30));
    let checked = check_archive(&path).unwrap();
    fs::write(swarm.join("raft/extra"), "new").unwrap();
    let temp = tempfile::Builder::new().tempfile_in(dir.path()).unwrap();
    let other = write_archive(&swarm, temp, dir.path(), local(40)).unwrap();
    fs::rename(&other, &path).unwrap();
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    let err = unpack(&checked, &out).unwrap_err();
    assert!(matches!(err, SwarmBackupError::Changed { .. }), "{err}");
}

fn host<'a>(stop: &'a str, start: &'a str, swarm_dir: &'a Path) -> EngineHost<'a> {
    EngineHost {
        stop_command: stop,
        start_command: start,
        swarm_dir,
    }
}

#[test]
fn backup_refuses_a_folder_that_is_no_swarm_before_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("stopped");
    let stop = format!("touch {}", marker.display());
    let err = backup(
        &host(&stop, "true", &dir.path().join("nothing")),
        &dir.path().join("backups"),
        &|_| {},
    )
    .unwrap_err();
    assert!(matches!(err, SwarmBackupError::NoSwarmDir { .. }), "{err}");
    assert!(!marker.exists(), "the engine must not be stopped");
}

#[test]
fn a_failed_stop_still_runs_the_start_command() {
    let dir = tempfile::tempdir().unwrap();
    let swarm = swarm_folder(dir.path());
    let marker = dir.path().join("started");
    // A failing start command: the engine is never waited for.
    let start = format!("touch {}; exit 3", marker.display());
    let outcome = backup(
        &host("exit 5", &start, &swarm),
        &dir.path().join("backups"),
        &|_| {},
    )
    .unwrap();
    let archive = outcome.archive.unwrap_err().to_string();
    assert!(
        archive.contains("stopping the Docker engine failed"),
        "{archive}"
    );
    assert!(archive.contains("exited with status 5"), "{archive}");
    let restart = outcome.restart.unwrap_err().to_string();
    assert!(restart.contains("docker_start_command"), "{restart}");
    assert!(marker.exists());
    let left = fs::read_dir(dir.path().join("backups")).unwrap().count();
    assert_eq!(left, 0, "no archive and no temporary file");
}

#[test]
fn archiving_failure_still_starts_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let swarm = swarm_folder(dir.path());
    let marker = dir.path().join("started");
    let fifo = swarm.join("raft/pipe");
    let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    let start = format!("touch {}; exit 1", marker.display());
    let outcome = backup(
        &host("true", &start, &swarm),
        &dir.path().join("b"),
        &|_| {},
    )
    .unwrap();
    let archive = outcome.archive.unwrap_err().to_string();
    assert!(archive.contains("neither a file, a folder"), "{archive}");
    assert!(outcome.restart.is_err());
    assert!(marker.exists());
    assert_eq!(fs::read_dir(dir.path().join("b")).unwrap().count(), 0);
}

#[test]
fn swap_keeps_the_old_folder_and_never_overwrites_a_kept_one() {
    let dir = tempfile::tempdir().unwrap();
    let swarm = dir.path().join("swarm");
    fs::create_dir_all(swarm.join("raft")).unwrap();
    fs::write(swarm.join("raft/old"), "old").unwrap();
    let taken = aside_name(&swarm, Local::now()).unwrap();
    fs::create_dir(&taken).unwrap();
    let staged = tempfile::Builder::new().tempdir_in(dir.path()).unwrap();
    fs::write(staged.path().join("new"), "new").unwrap();
    let kept = swap_in(staged, &swarm).unwrap().unwrap();
    assert_ne!(kept, taken);
    assert!(kept.to_string_lossy().contains(".before-restore-"));
    assert_eq!(fs::read(kept.join("raft/old")).unwrap(), b"old");
    assert_eq!(fs::read(swarm.join("new")).unwrap(), b"new");
}
