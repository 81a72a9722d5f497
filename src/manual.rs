//! The manual pages: `iocdock.1` and one page per subcommand (`iocdock-exec.1`, ...),
//! as git and docker have them, rendered from the same definitions as `--help`.

use std::path::{Path, PathBuf};

use clap::CommandFactory;

use crate::cli::Cli;
use crate::fsutil::{self, FsError, IoContext};

/// The first argument that makes iocdock write its manual pages into a folder
/// (install.sh asks it; it is no command an operator needs).
pub(crate) const WRITE_MAN_PAGES: &str = "__man-pages";

/// Every page as (file name, roff text).
pub(crate) fn pages() -> Vec<(String, Vec<u8>)> {
    let mut root = Cli::command().disable_help_subcommand(true);
    root.build();
    let mut pages = Vec::new();
    collect(&root, &mut pages);
    pages
}

fn collect(cmd: &clap::Command, pages: &mut Vec<(String, Vec<u8>)>) {
    let man = clap_mangen::Man::new(cmd.clone());
    let mut text = Vec::new();
    // Rendering into memory cannot fail.
    let _ = man.render(&mut text);
    pages.push((man.get_filename(), text));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        collect(sub, pages);
    }
}

/// Writes every page into `dir` (made if missing), each replaced atomically;
/// returns the files written.
pub(crate) fn write(dir: &Path) -> Result<Vec<PathBuf>, FsError> {
    std::fs::create_dir_all(dir).at(dir, "cannot create the folder")?;
    pages()
        .into_iter()
        .map(|(name, text)| {
            let path = dir.join(name);
            fsutil::atomic_write(&path, &text, 0o644).map(|()| path)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_subcommand_has_a_page_named_as_git_names_them() {
        let names: Vec<String> = super::pages().into_iter().map(|(n, _)| n).collect();
        for name in [
            "iocdock.1",
            "iocdock-exec.1",
            "iocdock-make-certs.1",
            "iocdock-list.1",
        ] {
            assert!(names.iter().any(|n| n == name), "{name} not in {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("help")), "{names:?}");
    }
}
