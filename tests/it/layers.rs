//! The import order of docs/ARCHITECTURE.md, read from the source: every `crate::`
//! path (in `use` lines, `use crate::{…}` groups and inline) and every `super::` that
//! climbs out of its top module must point down the order. A violation is reported
//! with its file and line.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// The top modules of src, from the top down. A module may use the modules of the
/// rows below its own; never a module of its own row (`ioc` and `swarm` stay apart)
/// or of a row above. A new top module must be placed here to be compiled at all.
const ORDER: &[&[&str]] = &[
    &["main"],
    &["lib"],
    &["commands"],
    // What commands and lib use to talk to the operator: argument types, their
    // completion and man pages, the printer. Nothing below reads or prints them.
    &["completion", "manual"],
    &["cli", "printer"],
    // The layer that joins the domains: the service catalog and the built-in services.
    &["services"],
    &["ioc", "swarm", "cluster", "image"],
    // What iocdock accepts (ioc.ini options, settings, names, value syntaxes).
    &["schema"],
    // Leaves: they know nothing of the domains above.
    &["settings", "embedded", "archive", "table", "oplog"],
    // compose imports nothing of the domains, nor of the leaves above; nor do these.
    &[
        "compose",
        "fsutil",
        "ini",
        "suggest",
        "parallel",
        "interrupt",
    ],
    // Host commands and how text is shown on one line: imports nothing, and anything
    // that reports a message may use it, compose too.
    &["process"],
];

fn row_of(module: &str) -> Option<usize> {
    ORDER.iter().position(|row| row.contains(&module))
}

/// The module path of a source file: `src/ioc/mod.rs` is `ioc`, `src/ioc/config.rs` is
/// `ioc::config`, `src/lib.rs` is `lib`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.last_mut() {
        *last = last.trim_end_matches(".rs").to_string();
    }
    if parts.len() > 1 && parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// A line without its `//` comment (a `//` inside a string literal stays).
fn code_of(line: &str) -> &str {
    let bytes = line.as_bytes();
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_string => i += 1,
            b'"' if !(i > 0 && bytes[i - 1] == b'\'') => in_string = !in_string,
            b'/' if !in_string && bytes.get(i + 1) == Some(&b'/') => return &line[..i],
            _ => {}
        }
        i += 1;
    }
    line
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every top module named by a `crate::` path of `code`, with the byte offset where
/// it is named.
fn crate_paths(code: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| is_ident(c) || c == '$') {
            continue;
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // A group: each item at depth 0 names a top module.
            let start = at + "crate::{".len();
            let mut depth = 0;
            let mut item_start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        push_item(&mut found, group, item_start, i, start);
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        push_item(&mut found, group, item_start, i, start);
                        item_start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            let name: String = rest.chars().take_while(|&c| is_ident(c)).collect();
            found.push((at, name));
        }
    }
    found
}

fn push_item(found: &mut Vec<(usize, String)>, group: &str, from: usize, to: usize, base: usize) {
    let item = &group[from..to];
    let name: String = item
        .trim_start()
        .chars()
        .take_while(|&c| is_ident(c))
        .collect();
    if !name.is_empty() {
        let offset = base + from + (item.len() - item.trim_start().len());
        found.push((offset, name));
    }
}

/// Top modules reached by `super::` chains that climb to the crate root from the
/// module at `path` (a `super::` of an inline test module names no top module, so
/// only names of top modules count).
fn super_paths(code: &str, path: &[String], tops: &BTreeSet<String>) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (at, _) in code.match_indices("super::") {
        if code[..at].chars().next_back().is_some_and(is_ident) {
            continue;
        }
        // Count the chain only from its first `super`.
        if code[..at].ends_with("super::") {
            continue;
        }
        let mut rest = &code[at..];
        let mut climbs = 0;
        while let Some(r) = rest.strip_prefix("super::") {
            climbs += 1;
            rest = r;
        }
        if climbs < path.len() || path.first().is_some_and(|p| p == "lib") {
            continue;
        }
        let name: String = rest.chars().take_while(|&c| is_ident(c)).collect();
        if tops.contains(&name) {
            found.push((at, name));
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn imports_follow_the_module_order() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let tops: BTreeSet<String> = files
        .iter()
        .map(|f| module_path(f.strip_prefix(root.join("src")).unwrap())[0].clone())
        .collect();
    let mut problems = Vec::new();
    for top in &tops {
        if row_of(top).is_none() {
            problems.push(format!(
                "src: module `{top}` has no place in the order of tests/it/layers.rs"
            ));
        }
    }
    for file in &files {
        let relative = file.strip_prefix(root).unwrap();
        let shown = relative.display().to_string();
        let path = module_path(file.strip_prefix(root.join("src")).unwrap());
        let top = &path[0];
        let text = fs::read_to_string(file).unwrap();
        let code: String = text.lines().map(|l| format!("{}\n", code_of(l))).collect();
        let mut named = crate_paths(&code);
        named.extend(super_paths(&code, &path, &tops));
        for (at, module) in named {
            if &module == top {
                continue;
            }
            let line = code[..at].matches('\n').count() + 1;
            // An item of lib.rs (`crate::Foo`) is lib's.
            let target = if tops.contains(&module) {
                module
            } else {
                "lib".to_string()
            };
            let (Some(from), Some(to)) = (row_of(top), row_of(&target)) else {
                continue;
            };
            if to > from {
                continue;
            }
            let why = if to == from {
                "a module of its own row"
            } else {
                "a module above it"
            };
            problems.push(format!(
                "{shown}:{line}: `{top}` imports `{target}`, {why} (see docs/ARCHITECTURE.md)"
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

#[test]
fn the_reader_finds_groups_inline_paths_and_climbs() {
    let code = "use crate::{ioc::name, swarm::{a, b}};\nlet x = crate::fsutil::y($crate::no);\n";
    let names: Vec<String> = crate_paths(code).into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, ["ioc", "swarm", "fsutil"]);
    let tops = BTreeSet::from(["ioc".to_string()]);
    let path = ["swarm".to_string(), "status".to_string()];
    let climbs = super_paths("use super::super::ioc::x; use super::y;", &path, &tops);
    assert_eq!(climbs.len(), 1);
    assert_eq!(code_of("let s = \"//\"; // crate::ioc"), "let s = \"//\"; ");
}
