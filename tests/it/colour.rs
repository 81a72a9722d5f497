//! Colour and progress bars: for a person at a terminal only, never with NO_COLOR, never
//! in a pipe.

use crate::TestContext;

const ESC: char = '\u{1b}';

/// Commands that draw in colour or with a progress bar on a terminal: clap's help and
/// usage errors, a snapshot diff, a progress bar over several IOCs.
fn styled_commands(t: &TestContext) -> Vec<Vec<&'static str>> {
    t.ok(&["create", "a", "b", "c"]);
    t.ok(&["exec", "a", "--add-snapshot-file"]);
    t.ok(&["set", "a", "-o", "description=changed"]);
    vec![
        vec!["--help"],
        vec!["lst"],
        vec!["exec", "a", "--check-snapshot"],
        vec!["exec", "a", "b", "c", "--gen-startup-file"],
    ]
}

#[test]
fn no_color_keeps_a_terminal_plain() {
    let t = TestContext::new();
    for args in styled_commands(&t) {
        let Some((_, shown)) = t.on_terminal_with(&args, "", &[]) else {
            return;
        };
        assert!(
            shown.contains(ESC),
            "iocdock {args:?} on a terminal: {shown:?}"
        );
        let Some((_, shown)) = t.on_terminal_with(&args, "", &[("NO_COLOR", "1")]) else {
            return;
        };
        assert!(
            !shown.contains(ESC),
            "iocdock {args:?} with NO_COLOR: {shown:?}"
        );
    }
}

#[test]
fn empty_no_color_does_not_count() {
    let t = TestContext::new();
    t.ok(&["create", "a"]);
    t.ok(&["exec", "a", "--add-snapshot-file"]);
    t.ok(&["set", "a", "-o", "description=changed"]);
    let args = ["exec", "a", "--check-snapshot"];
    let Some((_, shown)) = t.on_terminal_with(&args, "", &[("NO_COLOR", "")]) else {
        return;
    };
    assert!(shown.contains(ESC), "{shown:?}");
}

#[test]
fn pipes_get_plain_text() {
    let t = TestContext::new();
    for args in styled_commands(&t) {
        let out = t.cmd(&args).output().unwrap();
        for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            assert!(
                !bytes.contains(&0x1b),
                "iocdock {args:?}: {stream}: {}",
                String::from_utf8_lossy(bytes)
            );
        }
    }
}
