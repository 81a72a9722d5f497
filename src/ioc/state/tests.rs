use super::pickle::*;
use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
const WT3_REASON: &str = "option \"load\" in section \"DB\" invalid.";
const WT3_MESSAGE: &str = "db file \"missing.db\" not found.";
const WT3_TIME: &str = "2026/11/22 00:07:40";

fn fixture(relative: &str) -> (Vec<u8>, PathBuf) {
    let path = PathBuf::from(format!("{FIXTURES}/{relative}"));
    let bytes = std::fs::read(&path).expect("fixture is readable");
    (bytes, path)
}

fn decode_fixture(relative: &str) -> (IocState, StateFormat) {
    let (bytes, path) = fixture(relative);
    IocState::from_bytes(&bytes, &path).expect("fixture decodes")
}

fn decode(bytes: &[u8]) -> Result<(IocState, StateFormat), StateError> {
    IocState::from_bytes(bytes, Path::new("/repo/ioc1/.info.ini"))
}

/// The error message of a failed decode, checked to name the file.
fn decode_error(bytes: &[u8]) -> String {
    let message = match decode(bytes) {
        Ok((state, _)) => panic!("expected an error, decoded {state:?}"),
        Err(err) => err.to_string(),
    };
    assert!(message.starts_with("/repo/ioc1/.info.ini: "), "{message}");
    assert!(!message.contains('\n'), "{message}");
    message
}

fn worker_test_3() -> IocState {
    let mut state = IocState::created();
    state.health = Health::Warning;
    state
        .warnings
        .entry(WT3_REASON.to_owned())
        .or_default()
        .insert(WT3_MESSAGE.to_owned(), WT3_TIME.to_owned());
    state
}

#[test]
fn words_display_and_parse() {
    for health in Health::ALL {
        assert_eq!(Health::parse(&health.to_string()), Some(*health));
    }
    for status in Status::ALL {
        assert_eq!(Status::parse(&status.to_string()), Some(*status));
    }
    for snapshot in SnapshotState::ALL {
        assert_eq!(SnapshotState::parse(&snapshot.to_string()), Some(*snapshot));
    }
    assert_eq!(Status::Restored.to_string(), "restored");
    assert_eq!(SnapshotState::Error.to_string(), "error");
    assert_eq!(Health::parse("Normal"), None);
    assert_eq!(Status::parse("foo"), None);
}

#[test]
fn worker_test_1_pickle_equals_the_decoded_json() {
    let (state, format) = decode_fixture("repository/worker_test_1/.info.ini");
    assert_eq!(format, StateFormat::LegacyPickle);
    let expected = IocState {
        health: Health::Normal,
        status: Status::Exported,
        snapshot: SnapshotState::Tracked,
        is_exported: true,
        errors: Reasons::new(),
        warnings: Reasons::new(),
    };
    assert_eq!(state, expected);

    let (json_state, json_format) = decode_fixture("expected/worker_test_1/info.ini.json");
    assert_eq!(json_format, StateFormat::Json);
    assert_eq!(json_state, state);

    // The new format is byte for byte what the fixture holds.
    let (json_bytes, _) = fixture("expected/worker_test_1/info.ini.json");
    assert_eq!(state.to_json(), String::from_utf8(json_bytes).unwrap());
}

#[test]
fn worker_test_2_pickle_without_reasons_is_a_created_ioc() {
    let (state, format) = decode_fixture("repository/worker_test_2/.info.ini");
    assert_eq!(format, StateFormat::LegacyPickle);
    assert_eq!(state, IocState::created());
}

#[test]
fn worker_test_3_pickle_has_one_warning() {
    let (state, format) = decode_fixture("repository/worker_test_3/.info.ini");
    assert_eq!(format, StateFormat::LegacyPickle);
    assert_eq!(state, worker_test_3());
    assert!(state.errors.is_empty());
    assert_eq!(
        state.state_info(),
        "warning: option \"load\" in section \"DB\" invalid.\n    \
             db file \"missing.db\" not found. (last seen 2026/11/22 00:07:40)"
    );
}

#[test]
fn older_pickle_protocols_decode_too() {
    // Python's pickle.dumps(worker_test_3 state, protocol=2): BINUNICODE, BINPUT, BINGET.
    let protocol_2 = b"\x80\x02}q\x00(X\x05\x00\x00\x00stateq\x01X\x07\x00\x00\x00warningq\x02X\x06\x00\x00\x00statusq\x03X\x07\x00\x00\x00createdq\x04X\x08\x00\x00\x00snapshotq\x05X\x09\x00\x00\x00untrackedq\x06X\x0b\x00\x00\x00is_exportedq\x07X\x05\x00\x00\x00falseq\x08h\x02}q\x09X&\x00\x00\x00option \"load\" in section \"DB\" invalid.q\x0a}q\x0bX\x1f\x00\x00\x00db file \"missing.db\" not found.q\x0cX\x13\x00\x00\x002026/11/22 00:07:40q\x0dssu.";
    let (state, format) = decode(protocol_2).unwrap();
    assert_eq!(format, StateFormat::LegacyPickle);
    assert_eq!(state, worker_test_3());
}

#[test]
fn pickle_with_a_python_bool_and_a_shared_time() {
    // pickle.dumps({..., 'is_exported': True, 'error': {'r1': {'m1': t, 'm2': t}}}, protocol=4)
    let pickle = b"\x80\x04\x95}\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x05state\x94\x8c\x05error\x94\x8c\x06status\x94\x8c\x08exported\x94\x8c\x08snapshot\x94\x8c\x07tracked\x94\x8c\x0bis_exported\x94\x88h\x02}\x94\x8c\x02r1\x94}\x94(\x8c\x02m1\x94\x8c\x132026/01/02 03:04:05\x94\x8c\x02m2\x94h\x0cusu.";
    let (state, _) = decode(pickle).unwrap();
    let mut expected = IocState::created();
    expected.status = Status::Exported;
    expected.snapshot = SnapshotState::Tracked;
    expected.is_exported = true;
    expected.add_error("r1", "m1", "2026/01/02 03:04:05");
    expected.add_error("r1", "m2", "2026/01/02 03:04:05");
    assert_eq!(state, expected);
    assert_eq!(
        state.state_info(),
        "error: r1\n    m1 (last seen 2026/01/02 03:04:05)\n    m2 (last seen 2026/01/02 03:04:05)"
    );
}

#[test]
fn legacy_pickle_ignores_unknown_keys() {
    use serde_pickle::{HashableValue, Value};
    let mut map = BTreeMap::new();
    map.insert(
        HashableValue::String("state".into()),
        Value::String("error".into()),
    );
    map.insert(HashableValue::String("extra".into()), Value::I64(3));
    let bytes = serde_pickle::value_to_vec(&Value::Dict(map), Default::default()).unwrap();
    let (state, _) = decode(&bytes).unwrap();
    assert_eq!(state.health, Health::Error);
    assert_eq!(state.status, Status::Created);
}

#[test]
fn json_round_trip() {
    let mut state = worker_test_3();
    state.status = Status::Restored;
    state.snapshot = SnapshotState::Error;
    state.is_exported = true;
    state.add_error("naïve \"reason\"\\", "line\nbreak", "2026/01/01 00:00:00");
    state.add_warning(WT3_REASON, "second", "2026/01/01 00:00:01");
    let json = state.to_json();
    assert!(json.ends_with("}\n"));
    let (decoded, format) = decode(json.as_bytes()).unwrap();
    assert_eq!(format, StateFormat::Json);
    assert_eq!(decoded, state);
    // Leading whitespace is still JSON.
    let (decoded, _) = decode(format!("\n  {json}").as_bytes()).unwrap();
    assert_eq!(decoded, state);
}

#[test]
fn json_keeps_the_pickle_shape() {
    assert_eq!(
        worker_test_3().to_json(),
        r#"{
  "state": "warning",
  "status": "created",
  "snapshot": "untracked",
  "is_exported": "false",
  "error": {},
  "warning": {
    "option \"load\" in section \"DB\" invalid.": {
      "db file \"missing.db\" not found.": "2026/11/22 00:07:40"
    }
  }
}
"#
    );
}

#[test]
fn every_legacy_fixture_rewritten_as_json_decodes_the_same() {
    for ioc in ["worker_test_1", "worker_test_2", "worker_test_3"] {
        let (legacy, _) = decode_fixture(&format!("repository/{ioc}/.info.ini"));
        let (json, format) = decode(legacy.to_json().as_bytes()).unwrap();
        assert_eq!(format, StateFormat::Json);
        assert_eq!(json, legacy, "{ioc}");
    }
}

#[test]
fn not_a_state_file() {
    assert_eq!(decode_error(b""), "/repo/ioc1/.info.ini: empty state file");
    assert_eq!(
        decode_error(b" \n\t"),
        "/repo/ioc1/.info.ini: empty state file"
    );
    assert_eq!(
        decode_error(b"[STATE]\nstate: normal\n"),
        "/repo/ioc1/.info.ini: not a state file (expected JSON or a legacy pickle)"
    );
    decode_error(b"[]");
    decode_error(b"\"normal\"");
    // A pickle marker after whitespace is not a pickle.
    decode_error(b" \x80\x04}.");
    // Protocol 0 pickles have no marker; the original tool never wrote them.
    decode_error(b"(dp0\nS'state'\np1\nS'normal'\np2\ns.");
}

#[test]
fn json_with_wrong_values() {
    let valid: serde_json::Value = serde_json::from_str(&IocState::created().to_json()).unwrap();
    let with = |key: &str, value: serde_json::Value| {
        let mut doc = valid.clone();
        doc[key] = value;
        decode_error(doc.to_string().as_bytes())
    };
    assert_eq!(
        with("status", "foo".into()),
        "/repo/ioc1/.info.ini: key \"status\" has invalid value \"foo\" \
             (expected one of: created, generated, exported, restored)"
    );
    assert_eq!(
        with("state", "Normal".into()),
        "/repo/ioc1/.info.ini: key \"state\" has invalid value \"Normal\" \
             (expected one of: normal, warning, error)"
    );
    assert!(with("snapshot", "none".into()).contains("untracked, tracked, error"));
    assert!(with("is_exported", "yes".into()).contains("expected one of: true, false"));
    assert_eq!(
        with("is_exported", true.into()),
        "/repo/ioc1/.info.ini: key \"is_exported\" must be \"true\" or \"false\", found a bool"
    );
    assert_eq!(
        with("status", 3.into()),
        "/repo/ioc1/.info.ini: key \"status\" must be text, found a number"
    );
    assert_eq!(
        with("error", serde_json::json!([])),
        "/repo/ioc1/.info.ini: key \"error\" must be a mapping of reason to messages, found a list"
    );
    assert_eq!(
        with("warning", serde_json::json!({"r": "m"})),
        "/repo/ioc1/.info.ini: key \"warning\"[\"r\"] must be a mapping of message to time, found text"
    );
    assert_eq!(
        with("warning", serde_json::json!({"r": {"m": null}})),
        "/repo/ioc1/.info.ini: key \"warning\"[\"r\"][\"m\"] must be a time as text, found null"
    );
    assert!(with("extra", "x".into()).contains("unknown key \"extra\""));

    let mut missing = valid.clone();
    missing.as_object_mut().unwrap().remove("snapshot");
    assert_eq!(
        decode_error(missing.to_string().as_bytes()),
        "/repo/ioc1/.info.ini: missing key \"snapshot\""
    );
    assert!(decode_error(b"{\"state\": ").contains("invalid JSON state"));
    assert!(decode_error(b"{} trailing").contains("invalid JSON state"));
}

#[test]
fn pickle_with_wrong_values() {
    use serde_pickle::{HashableValue, Value};
    let encode = |entries: Vec<(&str, Value)>| {
        let map = entries
            .into_iter()
            .map(|(key, value)| (HashableValue::String(key.into()), value))
            .collect();
        serde_pickle::value_to_vec(&Value::Dict(map), Default::default()).unwrap()
    };
    let message = decode_error(&encode(vec![("status", Value::String("foo".into()))]));
    assert_eq!(
        message,
        "/repo/ioc1/.info.ini: key \"status\" has invalid value \"foo\" \
             (expected one of: created, generated, exported, restored)"
    );
    let message = decode_error(&encode(vec![("error", Value::None)]));
    assert!(
        message.contains("key \"error\" must be a mapping"),
        "{message}"
    );
    let message = decode_error(&encode(vec![("is_exported", Value::I64(1))]));
    assert!(message.contains("found a number"), "{message}");
    let message = decode_error(
        &serde_pickle::value_to_vec(&Value::String("normal".into()), Default::default()).unwrap(),
    );
    assert!(message.ends_with("must be a mapping of keys to values, found text"));
}

#[test]
fn truncated_pickles_are_errors() {
    for ioc in ["worker_test_1", "worker_test_2", "worker_test_3"] {
        let (bytes, _) = fixture(&format!("repository/{ioc}/.info.ini"));
        for len in 1..bytes.len() {
            let message = decode_error(&bytes[..len]);
            assert!(
                message.contains("legacy pickle"),
                "{ioc} [..{len}]: {message}"
            );
        }
    }
}

/// Deterministic bytes, so a failure can be replayed.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn random_bytes_never_panic() {
    for seed in 0..2000u64 {
        let mut bytes = noise(seed, (seed % 300) as usize + 1);
        if seed % 2 == 0 {
            bytes[0] = PROTO;
        }
        if seed % 7 == 0 {
            bytes[0] = b'{';
        }
        let message = decode_error(&bytes);
        assert!(!message.is_empty());
    }
}

#[test]
fn damaged_fixture_bytes_never_panic() {
    for ioc in ["worker_test_1", "worker_test_2", "worker_test_3"] {
        let (bytes, _) = fixture(&format!("repository/{ioc}/.info.ini"));
        for index in 0..bytes.len() {
            for flip in [0x01, 0x02, 0x10, 0x80, 0xff] {
                let mut damaged = bytes.clone();
                damaged[index] ^= flip;
                // Some damage still decodes (a changed letter in a message); the
                // rest must be a one-line error naming the file.
                if let Err(err) = decode(&damaged) {
                    assert!(err.to_string().starts_with("/repo/ioc1/.info.ini: "));
                }
            }
        }
    }
}

#[test]
fn hostile_pickles_are_refused_before_decoding() {
    // A million nested dicts would overflow the stack inside serde-pickle.
    let depth = 1_000_000;
    let mut deep = vec![PROTO, 4, EMPTY_DICT];
    for _ in 0..depth {
        deep.extend_from_slice(&[SHORT_BINUNICODE, 1, b'k', EMPTY_DICT]);
    }
    deep.extend(std::iter::repeat_n(SETITEM, depth));
    deep.push(STOP);
    assert!(decode_error(&deep).contains("nested deeper than 8"));

    // Each level holds the previous one twice: 2^40 copies from a few hundred bytes.
    let mut laughs = vec![PROTO, 4, EMPTY_DICT, MEMOIZE];
    for level in 0..40u8 {
        laughs.extend_from_slice(&[EMPTY_DICT, MEMOIZE, MARK]);
        for key in [b'a', b'b'] {
            laughs.extend_from_slice(&[SHORT_BINUNICODE, 1, key, BINGET, 2 * level]);
        }
        laughs.push(SETITEMS);
    }
    laughs.push(STOP);
    assert!(decode_error(&laughs).contains("unexpected pickle content"));

    // Lists are not part of a state, whatever their depth.
    let lists = [&[PROTO, 4][..], &[b']'; 100_000], &[STOP]].concat();
    assert!(decode_error(&lists).contains("opcode 0x5d at byte 2"));

    // A long text copied through the memo again and again.
    let mut copies = vec![PROTO, 4, EMPTY_DICT, BINUNICODE];
    copies.extend_from_slice(&(1u32 << 16).to_le_bytes());
    copies.extend(std::iter::repeat_n(b'x', 1 << 16));
    copies.push(MEMOIZE);
    copies.push(MARK);
    for _ in 0..100 {
        copies.extend_from_slice(&[BINGET, 0, BINGET, 0]);
    }
    copies.extend_from_slice(&[SETITEMS, STOP]);
    assert!(decode_error(&copies).contains("unexpected pickle content"));
}

#[test]
fn warnings_and_errors_drive_health() {
    let mut state = IocState::created();
    assert_eq!(state.state_info(), "");

    state.add_warning("w", "m1", "2026/01/01 00:00:00");
    assert_eq!(state.health, Health::Warning);
    state.add_warning("w", "m1", "2026/01/02 00:00:00");
    assert_eq!(state.warnings["w"]["m1"], "2026/01/02 00:00:00");
    assert_eq!(state.warnings["w"].len(), 1);

    state.add_error("e", "m2", "2026/01/03 00:00:00");
    assert_eq!(state.health, Health::Error);
    state.add_warning("w2", "m3", "2026/01/04 00:00:00");
    assert_eq!(state.health, Health::Error);
    assert_eq!(
        state.state_info(),
        "error: e\n    m2 (last seen 2026/01/03 00:00:00)\n    \
             warning: w\n    m1 (last seen 2026/01/02 00:00:00)\n    \
             warning: w2\n    m3 (last seen 2026/01/04 00:00:00)"
    );

    state.clear_warnings();
    assert_eq!(state.health, Health::Error);
    assert!(state.warnings.is_empty());
    state.errors.clear();
    state.clear_warnings();
    assert_eq!(state.health, Health::Normal);
    assert_eq!(state.state_info(), "");

    // Health recorded without reasons (as a hand-made or legacy file may have)
    // is recomputed from what is left.
    state.health = Health::Error;
    state.clear_warnings();
    assert_eq!(state.health, Health::Normal);
}

#[test]
fn display_lines_follow_the_spec_example() {
    let (state, _) = decode_fixture("repository/worker_test_1/.info.ini");
    assert_eq!(
        state.display_lines(),
        vec![
            ("state", "normal".to_owned()),
            ("state_info", String::new()),
            ("status", "exported".to_owned()),
            ("snapshot", "tracked".to_owned()),
            ("is_exported", "true".to_owned()),
        ]
    );
}
