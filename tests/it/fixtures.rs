//! Compatibility with repositories written by the original tool.

use std::fs;

use crate::{TestContext, fixtures_dir};

#[test]
fn update_keeps_fixture_ini_bytes_and_converts_pickled_state() {
    let t = TestContext::new();
    t.install_fixture_repository();
    t.ok(&["update"]);
    for name in ["worker_test_1", "worker_test_2", "worker_test_3"] {
        let original =
            fs::read(fixtures_dir().join("repository").join(name).join("ioc.ini")).unwrap();
        let now = fs::read(t.repository().join(name).join("ioc.ini")).unwrap();
        assert_eq!(
            original, now,
            "{name}: ioc.ini must round-trip byte for byte"
        );
        let state = fs::read(t.repository().join(name).join(".info.ini")).unwrap();
        assert_eq!(
            state.first(),
            Some(&b'{'),
            "{name}: state rewritten as JSON"
        );
    }
    let expected: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(fixtures_dir().join("expected/worker_test_1/info.ini.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(t.state_json("worker_test_1"), expected);
    let warned = t.state_json("worker_test_3");
    assert_eq!(warned["state"], "warning");
    assert_eq!(
        warned["warning"]["option \"load\" in section \"DB\" invalid."]["db file \"missing.db\" not found."],
        "2026/11/22 00:07:40"
    );
    // A second update finds nothing to do and keeps the files as they are.
    let before = t.tree_state();
    t.ok(&["update"]);
    assert!(before == t.tree_state());
}

#[test]
fn set_on_a_fixture_keeps_every_other_byte() {
    let t = TestContext::new();
    t.install_fixture_repository();
    t.ok(&["set", "worker_test_2", "-s", "deploy", "-o", "cpu-limit=2"]);
    let original =
        fs::read_to_string(fixtures_dir().join("repository/worker_test_2/ioc.ini")).unwrap();
    assert_eq!(
        t.ioc_ini("worker_test_2"),
        original.replace("cpu-limit = 1\n", "cpu-limit = 2\n")
    );
}

#[test]
fn update_adds_options_missing_from_older_files() {
    let t = TestContext::new();
    t.install_fixture_repository();
    let path = t.repository().join("worker_test_1/ioc.ini");
    let original = fs::read_to_string(&path).unwrap();
    fs::write(&path, original.replace("constraints = \n", "")).unwrap();
    t.ok(&["update"]);
    assert_eq!(fs::read_to_string(&path).unwrap(), original);
}
