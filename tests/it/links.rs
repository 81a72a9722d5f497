//! Nothing iocdock copies or archives is read through a symbolic link: a link to a
//! file the test owns outside the IOC (standing in for /etc/shadow) never puts that
//! file's content into the repository, a snapshot, an export or an archive.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use crate::{TestContext, project_file};

const SECRET: &[u8] = b"root:$6$secret-hash:19000:0:99999:7:::";

/// A file outside every IOC folder whose content must never be copied.
fn secret(t: &TestContext) -> PathBuf {
    let path = t.home().join("shadow");
    fs::write(&path, SECRET).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Every regular file below `dir` that holds the secret's bytes.
fn files_with_secret(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_file())
        .filter(|entry| {
            fs::read(entry.path())
                .is_ok_and(|bytes| bytes.windows(SECRET.len()).any(|w| w == SECRET))
        })
        .map(|entry| entry.path().to_path_buf())
        .collect()
}

/// The unpacked tar stream of a .tar.gz, and its entries as `(path, kind, link)`.
fn archive(path: &Path) -> (Vec<u8>, Vec<(String, tar::EntryType, String)>) {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(fs::File::open(path).unwrap())
        .read_to_end(&mut raw)
        .unwrap();
    let mut entries = Vec::new();
    for entry in tar::Archive::new(raw.as_slice()).entries().unwrap() {
        let entry = entry.unwrap();
        let link = entry
            .link_name()
            .unwrap()
            .map(|l| l.display().to_string())
            .unwrap_or_default();
        entries.push((
            entry.path().unwrap().display().to_string(),
            entry.header().entry_type(),
            link,
        ));
    }
    (raw, entries)
}

/// The SnapshotConsistency and RunningConsistency columns of one IOC.
/// The snapshot and running consistency of IOC `name` as the panel shows them.
fn consistency(t: &TestContext, name: &str) -> (String, String) {
    let panel = t.ok(&["list", "-p", "-l", name, "--format", "json"]);
    let panel: serde_json::Value = serde_json::from_str(&panel).unwrap();
    let row = &panel["iocs"][0];
    assert_eq!(row["name"], name, "{panel}");
    let field = |key: &str| row[key].as_str().unwrap_or_default().to_string();
    (field("snapshot_consistency"), field("running_consistency"))
}

fn test_ioc(t: &TestContext, name: &str) {
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
    t.ok(&[
        "exec",
        name,
        "--add-src-file",
        project_file("templates/test").to_str().unwrap(),
    ]);
}

#[test]
fn add_src_file_copies_regular_files_and_names_each_link() {
    let t = TestContext::new();
    let secret = secret(&t);
    t.ok(&["create", "a"]);
    let dir = t.home().join("incoming");
    fs::create_dir_all(dir.join("folder.db")).unwrap();
    fs::write(dir.join("good.db"), "record(ai, \"x\") {}\n").unwrap();
    symlink(&secret, dir.join("shadow.db")).unwrap();
    symlink("good.db", dir.join("alias.db")).unwrap();
    symlink(&secret, dir.join("unrelated.txt")).unwrap();

    let run = t.run(&["exec", "a", "--add-src-file", dir.to_str().unwrap()]);
    assert_transcript!(run, @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "a": [HOME]/incoming/alias.db: not copied: is a symbolic link, which is not followed
        error: IOC "a": [HOME]/incoming/folder.db: not copied: is a folder, not a file
        error: IOC "a": [HOME]/incoming/shadow.db: not copied: is a symbolic link, which is not followed
        IOC "a": sources updated
        "#);
    let src = t.repository().join("a/src");
    assert!(src.join("good.db").is_file());
    for name in ["shadow.db", "alias.db", "folder.db"] {
        assert!(fs::symlink_metadata(src.join(name)).is_err(), "{name}");
    }
    assert!(files_with_secret(&t.repository()).is_empty());
    assert!(t.ioc_ini("a").contains("db_file = good.db\n"));
}

#[test]
fn generation_refuses_a_source_that_is_a_link() {
    let t = TestContext::new();
    let secret = secret(&t);
    test_ioc(&t, "a");
    symlink(&secret, t.repository().join("a/src/ramper.db.new")).unwrap();
    fs::remove_file(t.repository().join("a/src/ramper.db")).unwrap();
    fs::rename(
        t.repository().join("a/src/ramper.db.new"),
        t.repository().join("a/src/ramper.db"),
    )
    .unwrap();
    assert_transcript!(t.run(&["exec", "a", "--gen-startup-file"]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: IOC "a": startup files not generated: option "load" in section "DB" invalid. db file "ramper.db" is a symbolic link; links in src/ are not read (copy the file itself into src/).
        "#);
    assert!(files_with_secret(&t.repository()).is_empty());
}

#[test]
fn snapshots_and_exports_copy_links_as_links_and_consistency_sees_them() {
    let t = TestContext::new();
    let secret = secret(&t);
    test_ioc(&t, "a");
    t.ok(&["exec", "a", "--generate-and-export"]);
    symlink(&secret, t.repository().join("a/src/shadow.db")).unwrap();

    t.ok(&["exec", "a", "--add-snapshot-file"]);
    let snapshot_link = t.snapshot().join("a/src/shadow.db");
    assert_eq!(fs::read_link(&snapshot_link).unwrap(), secret);
    assert!(files_with_secret(&t.snapshot()).is_empty());
    assert_eq!(consistency(&t, "a").0, "consistent");

    // A link that differs from the snapshot's is a difference, shown by its target.
    fs::remove_file(t.repository().join("a/src/shadow.db")).unwrap();
    symlink("ramper.db", t.repository().join("a/src/shadow.db")).unwrap();
    assert_eq!(consistency(&t, "a").0, "inconsistent");
    let diff = t.ok(&["exec", "a", "--check-snapshot"]);
    assert!(diff.contains("+symbolic link to ramper.db"), "{diff}");
    assert!(
        !diff.contains(std::str::from_utf8(SECRET).unwrap()),
        "{diff}"
    );

    // Restoring the snapshot brings the link back as a link.
    t.ok(&[
        "exec",
        "a",
        "--restore-snapshot-file",
        "shadow.db",
        "--force-overwrite",
    ]);
    assert_eq!(
        fs::read_link(t.repository().join("a/src/shadow.db")).unwrap(),
        secret
    );
    assert!(files_with_secret(&t.repository()).is_empty());

    // Export: a link in the startup files stays a link; set-id bits are dropped.
    let startup = t.repository().join("a/project/startup");
    symlink(&secret, startup.join("db/shadow.db")).unwrap();
    let st_cmd = startup.join("iocBoot/st.cmd");
    let mut permissions = fs::metadata(&st_cmd).unwrap().permissions();
    permissions.set_mode(0o6555);
    fs::set_permissions(&st_cmd, permissions).unwrap();
    t.ok(&["exec", "a", "--export-for-mount"]);
    let exported = t.mount().join("swarm/iocs/a/startup");
    assert_eq!(
        fs::read_link(exported.join("db/shadow.db")).unwrap(),
        secret
    );
    assert_eq!(mode(&exported.join("iocBoot/st.cmd")), 0o555);
    assert!(files_with_secret(&t.mount()).is_empty());
}

#[test]
fn a_copy_swapped_for_a_link_by_a_container_is_inconsistent() {
    let t = TestContext::new();
    let secret = secret(&t);
    test_ioc(&t, "a");
    t.ok(&["exec", "a", "--generate-and-export"]);
    assert_eq!(consistency(&t, "a").1, "consistent");
    // What root on any node that mounts the shared run directory could do.
    let exported = t.mount().join("swarm/iocs/a/startup/db/ramper.db");
    fs::remove_file(&exported).unwrap();
    symlink(&secret, &exported).unwrap();
    assert_eq!(consistency(&t, "a").1, "inconsistent");
    let diff = t.ok(&["exec", "a", "--check-deploy"]);
    assert!(diff.contains("-symbolic link to"), "{diff}");
    assert!(
        !diff.contains(std::str::from_utf8(SECRET).unwrap()),
        "{diff}"
    );
}

#[test]
fn backups_store_links_as_links_and_never_their_content() {
    let t = TestContext::new();
    let secret = secret(&t);
    test_ioc(&t, "a");
    test_ioc(&t, "b");
    t.ok(&["exec", "a", "b", "--generate-and-export"]);
    // src/: an absolute link (left out and named), a dangling one, one to a folder.
    let src = t.repository().join("a/src");
    symlink(&secret, src.join("shadow.db")).unwrap();
    symlink("missing.db", src.join("dangling.db")).unwrap();
    symlink("..", src.join("up")).unwrap();
    // The run folder, as a container would leave it.
    let logs = t.mount().join("swarm/iocs/a/logs");
    fs::write(logs.join("a.0.log"), "log line\n").unwrap();
    symlink("a.0.log", logs.join("a.log")).unwrap();
    symlink(&secret, logs.join("x.log")).unwrap();

    let dir = t.home().join("private/backups");
    let run = t.run(&[
        "exec",
        "-b",
        "--backup-mode",
        "all",
        "--backup-path",
        dir.to_str().unwrap(),
        "--keep",
        "1",
    ]);
    let path = PathBuf::from(run.stdout.trim());
    assert_transcript!(run, @r#"
        exit 1
        ----- stdout -----
        [HOME]/private/backups/[STAMP].ioc.tar.gz
        ----- stderr -----
        error: left out of the backup: IOC "a": [HOME]/IocDock-data/swarm/iocs/a/logs/x.log: a symbolic link to "[HOME]/shadow": links with an absolute target (or through one) are not allowed (a restore accepts only relative links that stay inside the IOC folder)
        error: left out of the backup: IOC "a": [HOME]/IocDock/ioc-repository/a/src/shadow.db: a symbolic link to "[HOME]/shadow": links with an absolute target (or through one) are not allowed (a restore accepts only relative links that stay inside the IOC folder)
        "#);

    let (raw, entries) = archive(&path);
    assert!(
        !raw.windows(SECRET.len()).any(|w| w == SECRET),
        "the secret's content is in the archive"
    );
    let find = |suffix: &str| {
        entries
            .iter()
            .find(|(name, _, _)| name.ends_with(suffix))
            .map(|(_, kind, link)| (*kind, link.clone()))
    };
    assert_eq!(
        find("/a/project/logs/a.log"),
        Some((tar::EntryType::Symlink, "a.0.log".to_string()))
    );
    assert_eq!(
        find("/a/src/dangling.db"),
        Some((tar::EntryType::Symlink, "missing.db".to_string()))
    );
    assert_eq!(
        find("/a/src/up"),
        Some((tar::EntryType::Symlink, "..".to_string()))
    );
    assert_eq!(find("/a/src/shadow.db"), None);
    assert_eq!(find("/a/project/logs/x.log"), None);
    assert!(find("/b/src/ramper.db").is_some());
    assert!(
        !entries
            .iter()
            .any(|(name, _, _)| name.contains("/a/src/up/")),
        "a linked folder is not walked into"
    );
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(dir.parent().unwrap()), 0o700);

    // It restores, links as links.
    t.ok(&["remove", "a", "b", "-f"]);
    t.ok(&["exec", "-r", path.to_str().unwrap()]);
    assert_eq!(
        fs::read_link(t.repository().join("a/project/logs/a.log")).unwrap(),
        Path::new("a.0.log")
    );
    assert_eq!(
        fs::read_link(t.repository().join("a/src/dangling.db")).unwrap(),
        Path::new("missing.db")
    );
    assert!(files_with_secret(&t.repository()).is_empty());
}

#[test]
fn an_ioc_that_cannot_be_read_is_left_out_and_the_others_are_saved() {
    let t = TestContext::new();
    t.ok(&["create", "a", "b", "c"]);
    // A fifo cannot be archived (and would block a reader that waits for it).
    let fifo = t.repository().join("b/src/pipe.db");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    let run = t.run(&["exec", "-b"]);
    let (_, entries) = archive(Path::new(run.stdout.trim()));
    assert_transcript!(run, @r#"
        exit 1
        ----- stdout -----
        [HOME]/ioc-backup/[STAMP].ioc.tar.gz
        ----- stderr -----
        error: left out of the backup: cannot back up IOC "b": [HOME]/IocDock/ioc-repository/b/src/pipe.db: cannot read: cannot back up what is neither a file, a folder nor a symbolic link
        "#);
    let iocs: std::collections::BTreeSet<&str> = entries
        .iter()
        .filter_map(|(name, _, _)| name.split('/').nth(1))
        .filter(|name| !name.is_empty())
        .collect();
    assert_eq!(iocs.into_iter().collect::<Vec<_>>(), ["a", "c"]);
}

/// An IOC archive made by hand with the given extra entries (raw headers: the tar
/// crate refuses some of the hostile ones).
fn crafted_ioc_archive(dest: &Path, extra: &[(&str, tar::EntryType, &str, u32)]) {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        fs::File::create(dest).unwrap(),
        flate2::Compression::default(),
    ));
    let mut entries = vec![
        ("20261122000730/", tar::EntryType::Directory, "", 0o755),
        ("20261122000730/x/", tar::EntryType::Directory, "", 0o755),
        (
            "20261122000730/x/ioc.ini",
            tar::EntryType::Regular,
            "",
            0o644,
        ),
        (
            "20261122000730/x/src/",
            tar::EntryType::Directory,
            "",
            0o755,
        ),
    ];
    entries.extend_from_slice(extra);
    for (name, kind, link, mode) in entries {
        let data: &[u8] = if kind == tar::EntryType::Regular {
            b"[IOC]\nname = x\n"
        } else {
            b""
        };
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(data.len() as u64);
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }
    builder
        .into_inner()
        .and_then(|gz| gz.finish())
        .and_then(|mut file| file.flush())
        .unwrap();
}

#[test]
fn restore_refuses_a_link_escaping_through_a_chain_and_drops_unsafe_modes() {
    let t = TestContext::new();
    t.ok(&["create", "other"]);
    let chained = t.home().join("chained.ioc.tar.gz");
    // `up` alone stays in the IOC folder, and so does `chain` read lexically; resolved
    // through `up` it names the folder above the IOC.
    crafted_ioc_archive(
        &chained,
        &[
            (
                "20261122000730/x/src/up",
                tar::EntryType::Symlink,
                "..",
                0o777,
            ),
            (
                "20261122000730/x/src/chain",
                tar::EntryType::Symlink,
                "up/../other/ioc.ini",
                0o777,
            ),
        ],
    );
    let before = t.tree_state();
    assert_transcript!(t.run(&["exec", "-r", chained.to_str().unwrap()]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: [HOME]/chained.ioc.tar.gz: entry "20261122000730/x/src/chain": a symbolic link to "up/../other/ioc.ini" leads outside IOC "x", which is not allowed
        "#);
    assert!(before == t.tree_state(), "nothing is written");

    let modes = t.home().join("modes.ioc.tar.gz");
    crafted_ioc_archive(
        &modes,
        &[
            (
                "20261122000730/x/src/open.db",
                tar::EntryType::Regular,
                "",
                0o777,
            ),
            (
                "20261122000730/x/src/suid",
                tar::EntryType::Regular,
                "",
                0o4755,
            ),
            (
                "20261122000730/x/src/shared/",
                tar::EntryType::Directory,
                "",
                0o1777,
            ),
        ],
    );
    t.ok(&["exec", "-r", modes.to_str().unwrap()]);
    let src = t.repository().join("x/src");
    assert_eq!(mode(&src.join("open.db")), 0o775);
    assert_eq!(mode(&src.join("suid")), 0o755);
    assert_eq!(mode(&src.join("shared")), 0o775);
}

#[test]
fn swarm_restore_refuses_a_link_escaping_through_a_chain() {
    let t = TestContext::new();
    let swarm_dir = t.home().join("swarm");
    fs::create_dir_all(swarm_dir.join("raft")).unwrap();
    fs::write(swarm_dir.join("raft/kept"), "kept").unwrap();
    // Engine commands that do nothing: the archive must be refused before them.
    let marker = t.home().join("engine-stopped");
    t.write_settings(&format!(
        "docker_stop_command: touch {}\ndocker_start_command: \"true\"\ndocker_swarm_dir: {}\n",
        marker.display(),
        swarm_dir.display()
    ));
    let archive = t.home().join("chained.swarm.tar.gz");
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        fs::File::create(&archive).unwrap(),
        flate2::Compression::default(),
    ));
    for (name, kind, link) in [
        ("swarm/raft/", tar::EntryType::Directory, ""),
        (
            "swarm/certificates/swarm-node.crt",
            tar::EntryType::Regular,
            "",
        ),
        (
            "swarm/certificates/swarm-node.key",
            tar::EntryType::Regular,
            "",
        ),
        ("swarm/state.json", tar::EntryType::Regular, ""),
        ("swarm/raft/up", tar::EntryType::Symlink, ".."),
        ("swarm/raft/chain", tar::EntryType::Symlink, "up/../etc"),
    ] {
        let data: &[u8] = if kind == tar::EntryType::Regular {
            b"[]"
        } else {
            b""
        };
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_entry_type(kind);
        header.set_mode(0o600);
        header.set_size(data.len() as u64);
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }
    builder
        .into_inner()
        .and_then(|gz| gz.finish())
        .and_then(|mut file| file.flush())
        .unwrap();
    let run = t.run(&[
        "swarm",
        "-r",
        "--backup-file",
        archive.to_str().unwrap(),
        "--yes",
    ]);
    assert_transcript!(run, @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: [HOME]/chained.swarm.tar.gz: entry "swarm/raft/chain": links pointing outside the swarm folder are not allowed
        "#);
    assert!(!marker.exists(), "the engine was not stopped");
    assert_eq!(fs::read(swarm_dir.join("raft/kept")).unwrap(), b"kept");
    let beside: Vec<_> = fs::read_dir(t.home())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".iocdock-restore"))
        .collect();
    assert!(beside.is_empty(), "{beside:?}");
}

#[test]
fn an_oversized_state_file_is_refused_without_reading_it() {
    let t = TestContext::new();
    t.ok(&["create", "big", "small"]);
    let state = t.repository().join("big/.info.ini");
    let file = fs::OpenOptions::new().write(true).open(&state).unwrap();
    // Sparse: 100 MB that cost no disk; reading it whole would cost its size.
    file.set_len(100 << 20).unwrap();
    drop(file);
    let out = t.ok(&["list", "state=error"]);
    assert_eq!(out, "big\n");
    assert_transcript!(t.run(&["list", "name=big", "-i"]), @r#"
        exit 0
        ----- stdout -----
        =============================== "big" ================================
        [STATE]
        state: error
        state_info: error: state file unreadable
        	    [HOME]/IocDock/ioc-repository/big/.info.ini: state file larger than 1 MiB (one holds a few KiB); move it away and run `iocdock update` to start a fresh state (last seen [TIME])
        status: created
        snapshot: untracked
        is_exported: false

        [IOC]
        name: big
        host: swarm
        image: 
        bin: ST-IOC
        module: autosave, caputlog
        description: 

        [SRC]
        db_file: 
        protocol_file: 
        others_file: 

        [DB]
        load: 

        [SETTING]
        report_info: true
        caputlog_json: false
        epics_env: 

        [DEPLOY]
        labels: 
        cpu-limit: 1
        memory-limit: 1G
        cpu-reserve: 
        memory-reserve: 
        constraints: 

        ----- stderr -----
        "#);
    assert_eq!(t.ok(&["list", "state=normal"]), "small\n");
}
