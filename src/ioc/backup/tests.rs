use std::fs::File;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;

use chrono::{DateTime, Local};
use flate2::read::GzDecoder;
use walkdir::WalkDir;

use super::read::read_archive_limited;
use super::write::create_at;
use super::*;
use crate::archive::{ArchiveError, STAMP_LEN};
use crate::ini::IniDocument;
use crate::ioc::repository::{INI_FILE, PROJECT_DIR, STATE_FILE};
use crate::ioc::state::{Health, IocState, SnapshotState, StateFormat, Status};
use crate::settings::Paths;
use chrono::TimeZone;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/backups/20261122000730.ioc.tar.gz"
);
const STAMP: &str = "20261122000730";

struct Home {
    dir: tempfile::TempDir,
    repository: Repository,
}

impl Home {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let repository = Repository::new(&Paths::new(dir.path().to_path_buf(), None));
        Home { dir, repository }
    }

    fn root(&self) -> &Path {
        &self.repository.paths().repository
    }

    fn backups(&self) -> &Path {
        &self.repository.paths().ioc_backup
    }

    /// An IOC with sources in a subfolder and a file of an unusual mode, so both
    /// survive a round trip visibly.
    fn add_ioc(&self, name: &str, host: &str) {
        let text = format!(
            "[IOC]\nname = {name}\nhost = {host}\nbin = ST-IOC\n\n[DB]\nload = ramper.db, name={name}\n\n"
        );
        let doc = IniDocument::parse(&text, Path::new("test.ini")).unwrap();
        self.repository.create(name, &doc).unwrap();
        let src = self.repository.dir(name).join(SRC_DIR);
        write(
            &src.join("ramper.db"),
            format!("record(ai, \"{name}\") {{}}\n"),
            0o644,
        );
        write(&src.join("sub/extra.proto"), "Terminator = LF;\n", 0o640);
        // Longer than the 100 bytes a plain tar header holds.
        let deep = format!("{}{}.im", "deep/".repeat(20), "x".repeat(60));
        write(&src.join(deep), "deep", 0o644);
    }

    fn restore_file(&self, archive: &Path) -> Result<RestoreReport, BackupError> {
        let archive = read_archive(archive)?;
        restore(&self.repository, &archive, &mut |_| true)
    }
}

fn write(path: &Path, content: impl AsRef<[u8]>, mode: u32) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Every file, folder and link below `dir` with its content and mode.
fn tree(dir: &Path) -> BTreeMap<String, (Vec<u8>, u32)> {
    let mut tree = BTreeMap::new();
    if !dir.exists() {
        return tree;
    }
    for entry in WalkDir::new(dir).min_depth(1) {
        let entry = entry.unwrap();
        let metadata = entry.path().symlink_metadata().unwrap();
        let content = if entry.file_type().is_file() {
            fs::read(entry.path()).unwrap()
        } else if entry.file_type().is_symlink() {
            b"-> ".to_vec()
        } else {
            b"/".to_vec()
        };
        let path = entry.path().strip_prefix(dir).unwrap();
        tree.insert(
            path.display().to_string(),
            (content, metadata.permissions().mode() & 0o7777),
        );
    }
    tree
}

fn local(secs: u32) -> DateTime<Local> {
    Local
        .with_ymd_and_hms(2026, 11, 22, 0, 7, secs)
        .single()
        .unwrap()
}

/// Entry paths of an archive as stored, folders with their trailing `/`.
fn listing(path: &Path) -> Vec<String> {
    let file = File::open(path).unwrap();
    let mut tar = tar::Archive::new(GzDecoder::new(file));
    tar.entries()
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let mut name = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
            if entry.header().entry_type().is_dir() && !name.ends_with('/') {
                name.push('/');
            }
            name
        })
        .collect()
}

fn read_state(home: &Home, name: &str) -> IocState {
    let (state, format) = home.repository.read_state(name).unwrap();
    assert_eq!(format, StateFormat::Json, "{name}: restored state is JSON");
    state
}

#[test]
fn src_backup_round_trips() {
    let home = Home::new();
    home.add_ioc("ioc1", "swarm");
    home.add_ioc("ioc2", "swarm");
    let mut state = IocState::created();
    state.status = Status::Exported;
    state.snapshot = SnapshotState::Tracked;
    state.is_exported = true;
    state.add_warning("reason", "message", "2026/11/22 00:07:40");
    home.repository.write_state("ioc2", &state).unwrap();
    write(
        &home
            .repository
            .dir("ioc1")
            .join("project/startup/iocBoot/st.cmd"),
        "#!",
        0o555,
    );
    let before: Vec<_> = ["ioc1", "ioc2"]
        .map(|name| {
            let dir = home.repository.dir(name);
            let state = home.repository.read_state(name).unwrap().0;
            (
                fs::read(dir.join(INI_FILE)).unwrap(),
                tree(&dir.join(SRC_DIR)),
                state,
            )
        })
        .into();

    let path = create(&home.repository, home.backups(), BackupMode::Src, None)
        .unwrap()
        .path;
    let file_name = path.file_name().unwrap().to_str().unwrap();
    assert!(is_archive_name(file_name), "{file_name}");
    assert_eq!(
        fs::read_dir(home.backups()).unwrap().count(),
        1,
        "no temporary file may stay behind"
    );
    let stamp = &file_name[..STAMP_LEN];
    let entries = listing(&path);
    assert_eq!(entries[0], format!("{stamp}/"));
    assert!(entries.contains(&format!("{stamp}/ioc1/src/sub/extra.proto")));
    assert!(entries.contains(&format!("{stamp}/ioc2/.info.ini")));
    assert!(
        entries
            .iter()
            .all(|entry| entry.starts_with(&format!("{stamp}/")))
    );
    assert!(!entries.iter().any(|entry| entry.contains("project")));

    fs::remove_dir_all(home.root()).unwrap();
    let archive = read_archive(&path).unwrap();
    assert_eq!(archive.ioc_names(), ["ioc1", "ioc2"]);
    let report = restore(&home.repository, &archive, &mut |name| {
        panic!("asked about {name}, which does not exist")
    })
    .unwrap();
    assert_eq!(report.restored, ["ioc1", "ioc2"]);
    assert!(report.skipped.is_empty() && report.failed.is_empty());

    for (name, (ini, src, mut state)) in ["ioc1", "ioc2"].into_iter().zip(before) {
        let dir = home.repository.dir(name);
        assert_eq!(fs::read(dir.join(INI_FILE)).unwrap(), ini, "{name}");
        assert_eq!(tree(&dir.join(SRC_DIR)), src, "{name}");
        state.status = Status::Restored;
        assert_eq!(read_state(&home, name), state, "{name}");
        assert!(!dir.join(PROJECT_DIR).exists(), "{name}");
    }
}

#[test]
fn all_backup_round_trips_project() {
    let home = Home::new();
    home.add_ioc("ioc1", "swarm");
    home.add_ioc("ioc2", "otherhost");
    let project = home.repository.dir("ioc1").join(PROJECT_DIR);
    write(&project.join("startup/iocBoot/st.cmd"), "#!st.cmd\n", 0o555);
    write(&project.join("startup/db/ramper.db"), "record", 0o444);
    // Run-time data comes from the export, not from the repository's project/.
    write(&project.join("logs/stale.sav"), "stale", 0o644);
    let export = home.repository.run_dir("swarm", "ioc1").unwrap();
    write(&export.join(INI_FILE), "exported", 0o444);
    write(&export.join("logs/ioc1.info"), "info", 0o644);
    write(&export.join("logs/autosave/a.sav"), "saved", 0o644);
    write(&export.join("settings/autosave/a.req"), "req", 0o644);
    let other = home.repository.run_dir("otherhost", "ioc2").unwrap();
    write(&other.join("logs/b.sav"), "b", 0o600);

    let path = create(&home.repository, home.backups(), BackupMode::All, None)
        .unwrap()
        .path;
    let stamp = &path.file_name().unwrap().to_str().unwrap()[..STAMP_LEN];
    let entries = listing(&path);
    for expected in [
        "ioc1/project/",
        "ioc1/project/startup/iocBoot/st.cmd",
        "ioc1/project/logs/autosave/a.sav",
        "ioc1/project/settings/autosave/a.req",
        "ioc2/project/logs/b.sav",
    ] {
        let expected = format!("{stamp}/{expected}");
        assert!(entries.contains(&expected), "{expected} in {entries:?}");
    }
    assert!(!entries.iter().any(|entry| entry.contains("stale")));
    assert!(
        !entries
            .iter()
            .any(|entry| entry.ends_with("project/ioc.ini"))
    );

    fs::remove_dir_all(home.root()).unwrap();
    let report = home.restore_file(&path).unwrap();
    assert_eq!(report.restored, ["ioc1", "ioc2"]);
    let restored = tree(&project);
    assert_eq!(
        restored["startup/iocBoot/st.cmd"],
        (b"#!st.cmd\n".to_vec(), 0o555)
    );
    assert_eq!(
        restored["startup/db/ramper.db"],
        (b"record".to_vec(), 0o444)
    );
    assert_eq!(restored["logs/autosave/a.sav"].0, b"saved");
    assert_eq!(restored["settings/autosave/a.req"].0, b"req");
    assert_eq!(restored["logs/ioc1.info"].0, b"info");
    assert!(!restored.contains_key("logs/stale.sav"));
    let other = tree(&home.repository.dir("ioc2").join(PROJECT_DIR));
    assert_eq!(other["logs/b.sav"], (b"b".to_vec(), 0o600));
}

#[test]
fn restores_the_original_tools_archive() {
    let home = Home::new();
    let archive = read_archive(Path::new(FIXTURE)).unwrap();
    assert_eq!(archive.stamp, STAMP);
    assert_eq!(
        archive.ioc_names(),
        ["worker_test_1", "worker_test_2", "worker_test_3"]
    );
    let report = restore(&home.repository, &archive, &mut |_| true).unwrap();
    assert_eq!(report.restored.len(), 3);

    for (name, ioc) in &archive.iocs {
        let dir = home.repository.dir(name);
        assert_eq!(
            fs::read(dir.join(INI_FILE)).unwrap(),
            ioc.file(INI_FILE).unwrap()
        );
        assert_eq!(
            fs::read(dir.join("src/ramper.db")).unwrap(),
            ioc.file("src/ramper.db").unwrap()
        );
        let (mut legacy, format) =
            IocState::from_bytes(ioc.file(STATE_FILE).unwrap(), Path::new(name)).unwrap();
        assert_eq!(format, StateFormat::LegacyPickle);
        legacy.status = Status::Restored;
        assert_eq!(read_state(&home, name), legacy);
    }
    let state = read_state(&home, "worker_test_1");
    assert_eq!(state.health, Health::Normal);
    assert_eq!(state.snapshot, SnapshotState::Untracked);
    assert!(!state.is_exported);
    assert_eq!(
        home.repository
            .load("worker_test_2")
            .get("DEPLOY", "labels"),
        Some("\ntest=true\nrack=a")
    );
}

use crate::archive::crafted::{Raw, crafted, file, folder, special};

fn valid_entries() -> Vec<Raw<'static>> {
    vec![
        folder("20261122000730/"),
        folder("20261122000730/ioc1/"),
        file("20261122000730/ioc1/ioc.ini"),
        file("20261122000730/ioc1/src/a.db"),
    ]
}

#[test]
fn crafted_valid_archive_restores() {
    let home = Home::new();
    let path = home.dir.path().join("valid.ioc.tar.gz");
    fs::write(&path, crafted(&valid_entries())).unwrap();
    let report = home.restore_file(&path).unwrap();
    assert_eq!(report.restored, ["ioc1"]);
    assert_eq!(
        fs::read(home.repository.dir("ioc1").join("src/a.db")).unwrap(),
        b"x"
    );
}

#[test]
fn hostile_archives_are_refused_before_anything_is_written() {
    use tar::EntryType::{Block, Char, Continuous, Fifo, Link, Symlink};
    let cases = [
        (file("20261122000730/ioc1/src/../../../evil"), "\"..\""),
        (file("20261122000730/../evil"), "\"..\""),
        (file("/etc/evil"), "absolute"),
        (file("/20261122000730/ioc1/src/b.db"), "absolute"),
        (
            special("20261122000730/ioc1/src/link", Symlink, "/etc/passwd"),
            "absolute target",
        ),
        (
            special(
                "20261122000730/ioc1/src/link",
                Symlink,
                "../../other/ioc.ini",
            ),
            "leads outside IOC \"ioc1\"",
        ),
        (
            special("20261122000730/ioc1/ioc.ini", Symlink, "src/a.db"),
            "must be a file",
        ),
        (
            special("20261122000730/ioc1/src", Symlink, "project"),
            "must be a folder",
        ),
        (
            special(
                "20261122000730/ioc1/src/hard",
                Link,
                "20261122000730/ioc1/ioc.ini",
            ),
            "hard links are not allowed",
        ),
        (special("20261122000730/ioc1/src/tty", Char, ""), "devices"),
        (special("20261122000730/ioc1/src/sda", Block, ""), "devices"),
        (special("20261122000730/ioc1/src/pipe", Fifo, ""), "fifos"),
        (file("20261122000730/notes.txt"), "outside <stamp>/<ioc>/"),
        (file("backup/ioc1/ioc.ini"), "outside <stamp>/<ioc>/"),
        (
            file("20261122000731/ioc1/src/b.db"),
            "outside <stamp>/<ioc>/",
        ),
        (file("20261122000730/ioc1"), "outside <stamp>/<ioc>/"),
        (
            file("20261122000730/ioc1/notes.txt"),
            "expected only ioc.ini",
        ),
        (file("20261122000730/ioc1/src"), "must be a folder"),
        (file("20261122000730/ioc1/.revisions"), "must be a folder"),
        (folder("20261122000730/ioc1/ioc.ini/"), "must be a file"),
        (file("20261122000730/ioc1/src/a.db"), "appears twice"),
        (
            file("20261122000730/ioc1/src/a.db/b"),
            "below an entry that is a file",
        ),
        (file("20261122000730/bad name/ioc.ini"), "invalid IOC name"),
        (file("20261122000730/../x/ioc.ini"), "\"..\""),
        (
            file("20261122000730/ioc2/src/a.db"),
            "IOC \"ioc2\" has no ioc.ini",
        ),
        (
            special("20261122000730/ioc1/src/c.db", Continuous, ""),
            "unsupported entry type",
        ),
    ];
    for (bad, expected) in cases {
        let home = Home::new();
        home.add_ioc("ioc1", "swarm");
        home.add_ioc("other", "swarm");
        let before = tree(home.root());
        let shown = bad.path.to_owned();
        let mut entries = valid_entries();
        entries.push(bad);
        let path = home.dir.path().join("crafted.ioc.tar.gz");
        fs::write(&path, crafted(&entries)).unwrap();

        let err = home.restore_file(&path).unwrap_err().to_string();
        assert!(err.contains(expected), "{shown}: {err}");
        assert!(err.starts_with(&path.display().to_string()), "{err}");
        assert!(!err.contains('\n'), "{err}");
        assert_eq!(tree(home.root()), before, "{shown}");
    }
}

#[test]
fn chained_links_leading_out_are_refused_and_links_inside_restore_as_links() {
    use tar::EntryType::Symlink;
    // Each link on its own stays inside ioc1; through `up`, `chain` leads to the
    // folder above the IOC.
    let chained = [
        special("20261122000730/ioc1/src/up", Symlink, ".."),
        special(
            "20261122000730/ioc1/src/chain",
            Symlink,
            "up/../other/ioc.ini",
        ),
    ];
    let home = Home::new();
    home.add_ioc("other", "swarm");
    let before = tree(home.root());
    let mut entries = valid_entries();
    entries.extend(chained);
    let path = home.dir.path().join("chained.ioc.tar.gz");
    fs::write(&path, crafted(&entries)).unwrap();
    let err = home.restore_file(&path).unwrap_err().to_string();
    assert!(err.contains("ioc1/src/chain"), "{err}");
    assert!(err.contains("leads outside IOC \"ioc1\""), "{err}");
    assert_eq!(tree(home.root()), before, "nothing is written");

    let mut entries = valid_entries();
    entries.push(special("20261122000730/ioc1/src/up", Symlink, ".."));
    entries.push(special(
        "20261122000730/ioc1/src/same.db",
        Symlink,
        "up/src/a.db",
    ));
    fs::write(&path, crafted(&entries)).unwrap();
    home.restore_file(&path).unwrap();
    let src = home.repository.dir("ioc1").join(SRC_DIR);
    assert_eq!(fs::read_link(src.join("up")).unwrap(), Path::new(".."));
    assert_eq!(
        fs::read_link(src.join("same.db")).unwrap(),
        Path::new("up/src/a.db")
    );
}

#[test]
fn restored_modes_lose_world_write_and_set_id_bits() {
    let mode = |mode: u32| Raw {
        mode,
        ..file("20261122000730/ioc1/src/x.db")
    };
    let home = Home::new();
    let mut entries = valid_entries();
    entries.push(mode(0o777));
    entries.push(Raw {
        mode: 0o4755,
        ..file("20261122000730/ioc1/src/setuid")
    });
    entries.push(Raw {
        mode: 0o666,
        ..file("20261122000730/ioc1/src/open.db")
    });
    entries.push(Raw {
        mode: 0o1777,
        ..folder("20261122000730/ioc1/src/shared/")
    });
    let path = home.dir.path().join("modes.ioc.tar.gz");
    fs::write(&path, crafted(&entries)).unwrap();
    home.restore_file(&path).unwrap();
    let restored = tree(&home.repository.dir("ioc1").join(SRC_DIR));
    assert_eq!(restored["x.db"].1, 0o775);
    assert_eq!(restored["setuid"].1, 0o755);
    assert_eq!(restored["open.db"].1, 0o664);
    assert_eq!(restored["shared"].1, 0o775);
    assert_eq!(restored["a.db"].1, 0o644);
}

#[test]
fn damaged_archives_are_refused() {
    let home = Home::new();
    home.add_ioc("ioc1", "swarm");
    let path = create(&home.repository, home.backups(), BackupMode::Src, None)
        .unwrap()
        .path;
    let bytes = fs::read(&path).unwrap();
    let before = tree(home.root());
    let damaged = home.dir.path().join("damaged.ioc.tar.gz");
    for len in 0..bytes.len() {
        fs::write(&damaged, &bytes[..len]).unwrap();
        let err = home.restore_file(&damaged).unwrap_err();
        assert!(
            matches!(err, BackupError::Archive(ArchiveError::Unreadable { .. })),
            "cut at {len}: {err}"
        );
    }
    fs::write(&damaged, b"not a gzip file at all").unwrap();
    let err = home.restore_file(&damaged).unwrap_err().to_string();
    assert!(err.contains("not a readable .tar.gz archive"), "{err}");
    let err = home
        .restore_file(&home.dir.path().join("missing"))
        .unwrap_err();
    assert!(err.to_string().contains("cannot open archive"), "{err}");
    assert_eq!(tree(home.root()), before);
}

#[test]
fn oversized_archives_are_refused() {
    let home = Home::new();
    let err = read_archive_limited(Path::new(FIXTURE), 4096).unwrap_err();
    assert!(
        matches!(
            err,
            BackupError::Archive(ArchiveError::TooLarge { limit: 4096, .. })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("more than 4096 bytes"), "{err}");
    // The fixture's tar stream is exactly 40960 bytes: the limit is inclusive.
    read_archive_limited(Path::new(FIXTURE), 40960).unwrap();
    assert!(read_archive_limited(Path::new(FIXTURE), 40959).is_err());

    home.add_ioc("ioc1", "swarm");
    for limit in [10, 2048] {
        let err = create_at(
            &home.repository,
            home.backups(),
            BackupMode::Src,
            None,
            local(30),
            limit,
        )
        .unwrap_err();
        assert!(
            matches!(err, BackupError::TooLargeToBackUp { .. }),
            "{limit}: {err}"
        );
    }
    let left = fs::read_dir(home.backups()).map_or(0, Iterator::count);
    assert_eq!(left, 0, "a refused backup leaves no file");
    assert_eq!(size_text(CONTENT_LIMIT), "1 GiB");
}

#[test]
fn existing_iocs_are_skipped_or_replaced() {
    let home = Home::new();
    home.add_ioc("ioc1", "swarm");
    home.add_ioc("ioc2", "swarm");
    let dir = home.repository.dir("ioc1");
    let original_ini = fs::read(dir.join(INI_FILE)).unwrap();
    let original_src = tree(&dir.join(SRC_DIR));
    let src_backup = create_at(
        &home.repository,
        home.backups(),
        BackupMode::Src,
        None,
        local(30),
        CONTENT_LIMIT,
    )
    .unwrap()
    .path;

    // Work done after the backup: edits, a new source, a generated project.
    write(&dir.join(INI_FILE), "[IOC]\nname = changed\n", 0o644);
    write(&dir.join("src/new.db"), "new", 0o644);
    write(&dir.join("project/startup/iocBoot/st.cmd"), "#!", 0o555);
    write(&dir.join("notes.txt"), "kept", 0o644);
    fs::remove_dir_all(home.repository.dir("ioc2")).unwrap();
    let archive = read_archive(&src_backup).unwrap();

    let before = tree(home.root());
    let mut asked = Vec::new();
    let report = restore(&home.repository, &archive, &mut |name| {
        asked.push(name.to_owned());
        false
    })
    .unwrap();
    assert_eq!(asked, ["ioc1"], "only existing IOCs are asked about");
    assert_eq!(report.skipped, ["ioc1"]);
    assert_eq!(report.restored, ["ioc2"]);
    let mut after = tree(home.root());
    after.retain(|path, _| !path.starts_with("ioc2"));
    assert_eq!(after, before, "a skipped IOC is left untouched");

    let all_backup = {
        let report = restore(&home.repository, &archive, &mut |_| true).unwrap();
        assert_eq!(report.restored, ["ioc1", "ioc2"], "{:?}", report.failed);
        assert_eq!(fs::read(dir.join(INI_FILE)).unwrap(), original_ini);
        assert_eq!(tree(&dir.join(SRC_DIR)), original_src);
        assert_eq!(read_state(&home, "ioc1").status, Status::Restored);
        let st_cmd = dir.join("project/startup/iocBoot/st.cmd");
        assert_eq!(
            fs::read(&st_cmd).unwrap(),
            b"#!",
            "generated project/ stays"
        );
        assert_eq!(fs::read(dir.join("notes.txt")).unwrap(), b"kept");
        create_at(
            &home.repository,
            home.backups(),
            BackupMode::All,
            None,
            local(40),
            CONTENT_LIMIT,
        )
        .unwrap()
        .path
    };

    // An archive with project/ brings its own, replacing what is there.
    write(&dir.join("project/startup/extra.db"), "extra", 0o644);
    let report = home.restore_file(&all_backup).unwrap();
    assert_eq!(report.restored, ["ioc1", "ioc2"]);
    assert!(!dir.join("project/startup/extra.db").exists());
    assert!(dir.join("project/startup/iocBoot/st.cmd").exists());
    let hidden: Vec<_> = fs::read_dir(home.root())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".iocdock-") && name != ".iocdock.lock")
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
}

#[test]
fn missing_or_unreadable_state_restores_as_created() {
    let home = Home::new();
    home.add_ioc("ioc1", "swarm");
    home.add_ioc("ioc2", "swarm");
    fs::remove_file(home.repository.state_path("ioc1")).unwrap();
    fs::write(home.repository.state_path("ioc2"), b"garbage").unwrap();
    let path = create(&home.repository, home.backups(), BackupMode::Src, None)
        .unwrap()
        .path;
    fs::remove_dir_all(home.root()).unwrap();
    home.restore_file(&path).unwrap();
    let mut expected = IocState::created();
    expected.status = Status::Restored;
    assert_eq!(read_state(&home, "ioc1"), expected);
    assert_eq!(read_state(&home, "ioc2"), expected);
}

#[test]
fn backups_leave_out_what_could_not_be_restored() {
    let home = Home::new();
    let err = create(&home.repository, home.backups(), BackupMode::Src, None).unwrap_err();
    assert!(err.to_string().ends_with("no IOC to back up"), "{err}");
    home.add_ioc("ioc1", "swarm");
    fs::create_dir_all(home.root().join("bad name")).unwrap();
    fs::create_dir_all(home.root().join("noini/src")).unwrap();
    let backup = create(&home.repository, home.backups(), BackupMode::Src, None).unwrap();
    assert_eq!(backup.skipped.len(), 2);
    assert!(
        backup.skipped[0].to_string().contains("invalid IOC name"),
        "{:?}",
        backup.skipped
    );
    assert!(
        matches!(&backup.skipped[1], BackupError::IniMissing { ioc, .. } if ioc == "noini"),
        "{:?}",
        backup.skipped
    );
    let archive = read_archive(&backup.path).unwrap();
    assert_eq!(archive.ioc_names(), vec!["ioc1"]);
}

#[test]
fn links_are_archived_as_links_and_an_unreadable_ioc_is_left_out() {
    use std::os::unix::fs::symlink;
    let home = Home::new();
    home.add_ioc("ioc1", "swarm");
    home.add_ioc("ioc2", "swarm");
    home.add_ioc("ioc3", "swarm");
    let secret = home.dir.path().join("secret.db");
    fs::write(&secret, "secret content").unwrap();
    let src = home.repository.dir("ioc1").join(SRC_DIR);
    symlink(&secret, src.join("shadow.db")).unwrap();
    symlink(home.dir.path(), src.join("outside")).unwrap();
    symlink("missing.db", src.join("dangling.db")).unwrap();
    // Mode all reads the run folder, which the container writes.
    let export = home.repository.run_dir("swarm", "ioc1").unwrap();
    fs::create_dir_all(export.join("logs")).unwrap();
    symlink(&secret, export.join("logs/ioc1.log")).unwrap();
    symlink(home.dir.path(), export.join("settings")).unwrap();
    // ioc2 holds something that is neither file, folder nor link.
    let fifo = home.repository.dir("ioc2").join("src/pipe.db");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();

    let backup = create(&home.repository, home.backups(), BackupMode::All, None).unwrap();
    assert_eq!(backup.skipped.len(), 2, "{:?}", backup.skipped);
    let messages: Vec<String> = backup.skipped.iter().map(|e| e.to_string()).collect();
    assert!(
        messages[0].contains("IOC \"ioc1\"") && messages[0].contains("settings"),
        "{messages:?}"
    );
    assert!(
        messages[1].contains("IOC \"ioc2\"") && messages[1].contains("pipe.db"),
        "{messages:?}"
    );

    // Without the linked settings folder ioc1 is archived: links that stay inside
    // as links, the others left out and named, and no content read through one.
    fs::remove_file(export.join("settings")).unwrap();
    fs::remove_file(&fifo).unwrap();
    fs::write(export.join("logs/ioc1.0.log"), "log").unwrap();
    symlink("ioc1.0.log", export.join("logs/current.log")).unwrap();
    let backup = create(&home.repository, home.backups(), BackupMode::All, None).unwrap();
    let mut left_out: Vec<String> = backup
        .skipped
        .iter()
        .map(|e| match e {
            BackupError::LinkLeftOut { path, .. } => path.display().to_string(),
            other => panic!("{other}"),
        })
        .collect();
    left_out.sort();
    assert_eq!(
        left_out,
        [
            export.join("logs/ioc1.log").display().to_string(),
            src.join("outside").display().to_string(),
            src.join("shadow.db").display().to_string(),
        ]
    );
    let bytes = {
        let mut out = Vec::new();
        GzDecoder::new(File::open(&backup.path).unwrap())
            .read_to_end(&mut out)
            .unwrap();
        out
    };
    assert!(
        !bytes.windows(14).any(|w| w == b"secret content"),
        "the content a link points to is never archived"
    );
    let archive = read_archive(&backup.path).unwrap();
    let ioc1 = &archive.iocs["ioc1"];
    let link = |key: &str| match ioc1.entries.get(key) {
        Some(Node::Symlink { target }) => Some(target.clone()),
        None => None,
        Some(other) => panic!("{key}: {other:?}"),
    };
    assert_eq!(
        link("project/logs/current.log").as_deref(),
        Some("ioc1.0.log")
    );
    assert_eq!(link("src/dangling.db").as_deref(), Some("missing.db"));
    assert_eq!(link("src/shadow.db"), None);
    let mode = fs::metadata(&backup.path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let dir_mode = fs::metadata(home.backups()).unwrap().permissions().mode();
    assert_eq!(dir_mode & 0o777, 0o700);

    // Restored, the links are links again.
    fs::remove_dir_all(home.root()).unwrap();
    home.restore_file(&backup.path).unwrap();
    let restored = home.repository.dir("ioc1");
    assert_eq!(
        fs::read_link(restored.join("project/logs/current.log")).unwrap(),
        Path::new("ioc1.0.log")
    );
    assert_eq!(
        fs::read_link(restored.join("src/dangling.db")).unwrap(),
        Path::new("missing.db")
    );
}

#[test]
fn backups_in_the_same_second_both_survive() {
    let home = Home::new();
    home.add_ioc("ioc1", "swarm");
    let backup = || {
        create_at(
            &home.repository,
            home.backups(),
            BackupMode::Src,
            None,
            local(30),
            CONTENT_LIMIT,
        )
        .unwrap()
        .path
    };
    let first = backup();
    let second = backup();
    assert_eq!(first, home.backups().join("20261122000730.ioc.tar.gz"));
    assert_eq!(second, home.backups().join("20261122000730-2.ioc.tar.gz"));
    // Something else holding the next name is never replaced either.
    fs::write(
        home.backups().join("20261122000730-3.ioc.tar.gz"),
        "foreign",
    )
    .unwrap();
    let third = backup();
    assert_eq!(third, home.backups().join("20261122000730-4.ioc.tar.gz"));
    assert_eq!(
        fs::read(home.backups().join("20261122000730-3.ioc.tar.gz")).unwrap(),
        b"foreign"
    );
    // Every one says the second it was made, inside as in its name.
    for path in [&first, &second, &third] {
        assert_eq!(read_archive(path).unwrap().stamp, "20261122000730");
    }
    assert_eq!(fs::read_dir(home.backups()).unwrap().count(), 4);
    // The next second starts without a number again, and sorts after them all.
    let later = create_at(
        &home.repository,
        home.backups(),
        BackupMode::Src,
        None,
        local(31),
        CONTENT_LIMIT,
    )
    .unwrap()
    .path;
    assert_eq!(later, home.backups().join("20261122000731.ioc.tar.gz"));
    let pruned = prune(home.backups(), 2).unwrap();
    assert_eq!(
        pruned,
        [
            first,
            second,
            home.backups().join("20261122000730-3.ioc.tar.gz")
        ]
    );
}

#[test]
fn prune_keeps_the_newest_archives_only() {
    let dir = tempfile::tempdir().unwrap();
    let names = [
        "20250101000000.ioc.tar.gz",
        "20261122000730-10.ioc.tar.gz",
        "20261122000730.ioc.tar.gz",
        "20240101000000.ioc.tar.gz",
        "20261122000730-2.ioc.tar.gz",
        "20230101000000.ioc.tar.gz",
    ];
    let others = [
        "notes.txt",
        "2026.ioc.tar.gz",
        "20261122000730.ioc.tar.gz.bak",
        "20261122000730.swarm.tar.gz",
        "20261122000730-1.ioc.tar.gz",
        "20261122000730-02.ioc.tar.gz",
        "20261122000730-.ioc.tar.gz",
        "20261122000730-x.ioc.tar.gz",
        ".iocdock-backup-x.tmp",
    ];
    for name in names.iter().chain(&others) {
        fs::write(dir.path().join(name), name).unwrap();
    }
    fs::create_dir(dir.path().join("20200101000000.ioc.tar.gz")).unwrap();

    let removed = prune(dir.path(), 2).unwrap();
    let removed: Vec<_> = removed
        .iter()
        .map(|path| path.file_name().unwrap().to_str().unwrap())
        .collect();
    // Within one second by number: -10 is the newest.
    assert_eq!(
        removed,
        [
            "20230101000000.ioc.tar.gz",
            "20240101000000.ioc.tar.gz",
            "20250101000000.ioc.tar.gz",
            "20261122000730.ioc.tar.gz"
        ]
    );
    let mut left: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    let mut expected: Vec<_> = others
        .iter()
        .chain(&[
            "20200101000000.ioc.tar.gz",
            "20261122000730-2.ioc.tar.gz",
            "20261122000730-10.ioc.tar.gz",
        ])
        .map(|name| name.to_string())
        .collect();
    expected.sort();
    assert_eq!(left, expected);

    assert!(prune(dir.path(), 5).unwrap().is_empty());
    assert!(prune(&dir.path().join("missing"), 1).unwrap().is_empty());
}
