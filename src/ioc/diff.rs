//! Unified diffs of files and folders, computed in-process. Nothing is read through
//! a symbolic link: a link shows as its target text.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::fsutil::nofollow::{self, Content, Found};

/// One file's difference in unified format, or None when both sides are equal.
/// A missing side is shown as /dev/null, as diff -N does.
pub(crate) fn diff_file(
    old: &Path,
    new: &Path,
    old_label: &str,
    new_label: &str,
) -> Option<String> {
    diff_contents(
        nofollow::content_of(old),
        nofollow::content_of(new),
        old_label,
        new_label,
    )
}

fn diff_contents(
    old: Option<Content>,
    new: Option<Content>,
    old_label: &str,
    new_label: &str,
) -> Option<String> {
    if old == new {
        return None;
    }
    let old_label = if old.is_some() {
        old_label
    } else {
        "/dev/null"
    };
    let new_label = if new.is_some() {
        new_label
    } else {
        "/dev/null"
    };
    // A link is shown the way `diff` shows one it does not follow.
    let text = |content: Option<Content>| match content {
        None => Vec::new(),
        Some(Content::File(bytes)) => bytes,
        Some(Content::Link(target)) => {
            let mut text = b"symbolic link to ".to_vec();
            text.extend_from_slice(&target);
            text.push(b'\n');
            text
        }
    };
    let (old_bytes, new_bytes) = (text(old), text(new));
    let (Ok(old_text), Ok(new_text)) = (
        std::str::from_utf8(&old_bytes),
        std::str::from_utf8(&new_bytes),
    ) else {
        return Some(format!("Binary files {old_label} and {new_label} differ\n"));
    };
    let mut text = similar::TextDiff::from_lines(old_text, new_text)
        .unified_diff()
        .context_radius(3)
        .header(old_label, new_label)
        .to_string();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Some(text)
}

/// The files and links below `dir`, relative to it; a walk that follows no link.
fn relative_entries(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    if let Ok(root) = nofollow::open_folder(dir) {
        let _ = nofollow::walk::<()>(
            root,
            &mut |found| {
                if let Found::File(relative, _, _) | Found::Link(relative, _, _) = found {
                    out.insert(relative);
                }
                Ok(())
            },
            &|_, _| (),
        );
    }
    out
}

/// Diffs of every file and link below either folder, in path order; labels are
/// `<label>/<path>`.
pub(crate) fn diff_tree(
    old_dir: &Path,
    new_dir: &Path,
    old_label: &str,
    new_label: &str,
) -> Vec<String> {
    let mut files = relative_entries(old_dir);
    files.extend(relative_entries(new_dir));
    files
        .iter()
        .filter_map(|rel| {
            diff_contents(
                nofollow::content_beneath(old_dir, rel),
                nofollow::content_beneath(new_dir, rel),
                &format!("{old_label}/{}", rel.display()),
                &format!("{new_label}/{}", rel.display()),
            )
        })
        .collect()
}

/// Colours a unified diff for a terminal: removals red, additions green, hunks cyan.
pub(crate) fn colourise(diff: &str) -> String {
    let mut out = String::with_capacity(diff.len() + 64);
    for line in diff.split_inclusive('\n') {
        let colour = if line.starts_with("---") || line.starts_with("+++") {
            "\x1b[1m"
        } else if line.starts_with('-') {
            "\x1b[31m"
        } else if line.starts_with('+') {
            "\x1b[32m"
        } else if line.starts_with("@@") {
            "\x1b[36m"
        } else {
            ""
        };
        if colour.is_empty() {
            out.push_str(line);
        } else {
            out.push_str(colour);
            out.push_str(line.trim_end_matches('\n'));
            out.push_str("\x1b[0m\n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn unified_with_headers_and_missing_sides() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        fs::create_dir_all(&a).unwrap();
        fs::create_dir_all(&b).unwrap();
        fs::write(a.join("ioc.ini"), "x = 1\ny = 2\n").unwrap();
        fs::write(b.join("ioc.ini"), "x = 1\ny = 3\n").unwrap();
        fs::write(b.join("new.db"), "record\n").unwrap();
        let diffs = diff_tree(&a, &b, "snapshot", "repository");
        assert_eq!(diffs.len(), 2);
        assert_eq!(
            diffs[0],
            "--- snapshot/ioc.ini\n+++ repository/ioc.ini\n@@ -1,2 +1,2 @@\n x = 1\n-y = 2\n+y = 3\n"
        );
        assert!(diffs[1].starts_with("--- /dev/null\n+++ repository/new.db\n"));
    }

    #[test]
    fn links_show_as_their_target_and_are_never_read_through() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::create_dir_all(a.join("sub")).unwrap();
        fs::create_dir_all(&b).unwrap();
        let secret = dir.path().join("secret");
        fs::write(&secret, "the secret\n").unwrap();
        fs::write(a.join("x.db"), "x\n").unwrap();
        fs::write(a.join("sub/y.db"), "y\n").unwrap();
        std::os::unix::fs::symlink(&secret, b.join("x.db")).unwrap();
        // A folder of one side that is a link on the other is not entered.
        std::os::unix::fs::symlink(dir.path(), b.join("sub")).unwrap();
        let diffs = diff_tree(&a, &b, "snapshot", "repository").concat();
        assert!(!diffs.contains("the secret"), "{diffs}");
        assert!(
            diffs.contains(&format!("+symbolic link to {}", secret.display())),
            "{diffs}"
        );
        assert!(diffs.contains("+++ /dev/null"), "{diffs}");
        let file = diff_file(&a.join("x.db"), &b.join("x.db"), "a", "b").unwrap();
        assert!(!file.contains("the secret"), "{file}");
    }
}
