//! "Did you mean": the one rule for when a near name is offered, used for ioc.ini keys
//! and sections, settings keys, and the subcommands, flags and values clap rejects.
//!
//! A suggestion is offered only for a slip (case, `-` for `_`, one or two wrong
//! letters, at most a third of the word): an unrelated word such as `restart` for
//! `registry` is worse than none, since it sends the operator the wrong way.

use std::ffi::OsString;

use clap::error::{ContextKind, ContextValue, ErrorKind};

/// The candidate nearest to `word`, if one is near enough to be a slip: case, `-`
/// for `_` and one or two wrong letters (a third of the word at most).
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let plain = |s: &str| s.to_lowercase().replace('_', "-");
    let word = plain(word);
    let allowed = (word.chars().count() / 3).clamp(1, 2);
    candidates
        .into_iter()
        .map(|c| (strsim::levenshtein(&word, &plain(c)), c))
        .filter(|(d, _)| *d <= allowed)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Gives a command-line error of clap the suggestion `closest` finds, in clap's own
/// "tip:" line. clap's own suggestions are switched off (its `suggestions` feature),
/// since their looser rule offered `registry` for `restart`.
pub(crate) fn amend_usage_error(
    mut error: clap::Error,
    command: &clap::Command,
    args: &[OsString],
) -> clap::Error {
    let text = |kind| match error.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    match error.kind() {
        ErrorKind::InvalidSubcommand => {
            let Some(word) = text(ContextKind::InvalidSubcommand) else {
                return error;
            };
            let names = command
                .get_subcommands()
                .flat_map(|sub| std::iter::once(sub.get_name()).chain(sub.get_all_aliases()));
            if let Some(near) = closest(&word, names) {
                error.insert(
                    ContextKind::SuggestedSubcommand,
                    ContextValue::String(near.to_string()),
                );
            }
        }
        ErrorKind::UnknownArgument => {
            let Some(arg) = text(ContextKind::InvalidArg) else {
                return error;
            };
            let Some(word) = arg.strip_prefix("--") else {
                return error;
            };
            let word = word.split('=').next().unwrap_or(word);
            let mut longs: Vec<&str> = long_flags(command);
            if let Some(sub) = subcommand_of(command, args) {
                longs.extend(long_flags(sub));
            }
            if let Some(near) = closest(word, longs) {
                error.insert(
                    ContextKind::SuggestedArg,
                    ContextValue::String(format!("--{near}")),
                );
                // The "to pass it as a value, use --" tip is for a flag with no near name.
                error.remove(ContextKind::Suggested);
            }
        }
        ErrorKind::InvalidValue => {
            let (Some(word), Some(ContextValue::Strings(valid))) = (
                text(ContextKind::InvalidValue),
                error.get(ContextKind::ValidValue),
            ) else {
                return error;
            };
            if let Some(near) = closest(&word, valid.iter().map(String::as_str)).map(str::to_string)
            {
                error.insert(ContextKind::SuggestedValue, ContextValue::String(near));
            }
        }
        _ => {}
    }
    error
}

fn long_flags(command: &clap::Command) -> Vec<&str> {
    command
        .get_arguments()
        .filter(|arg| !arg.is_hide_set())
        .flat_map(|arg| arg.get_long_and_visible_aliases().unwrap_or_default())
        .collect()
}

/// The subcommand named on the command line: the first word that is not an option
/// (nor the value of the root's `--home`).
fn subcommand_of<'a>(command: &'a clap::Command, args: &[OsString]) -> Option<&'a clap::Command> {
    let mut words = args.iter().skip(1).filter_map(|a| a.to_str());
    while let Some(word) = words.next() {
        if word == "--home" {
            words.next();
        } else if !word.starts_with('-') {
            return command.find_subcommand(word);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_names_are_suggested() {
        let keys = ["labels", "cpu-limit", "memory-limit", "cpu-reserve"];
        assert_eq!(closest("cpu_limit", keys), Some("cpu-limit"));
        assert_eq!(closest("CPU-LIMIT", keys), Some("cpu-limit"));
        assert_eq!(closest("memory-limt", keys), Some("memory-limit"));
        assert_eq!(closest("label", keys), Some("labels"));
        assert_eq!(closest("DBX", ["DB"]), Some("DB"));
        assert_eq!(closest("lst", ["registry", "list"]), Some("list"));
        assert_eq!(closest("show-digst", ["show-digest"]), Some("show-digest"));
    }

    #[test]
    fn unrelated_names_are_not() {
        let keys = ["labels", "cpu-limit", "memory-limit", "cpu-reserve"];
        assert_eq!(closest("restart", keys), None);
        assert_eq!(closest("restart", ["registry", "remove", "rename"]), None);
        assert_eq!(closest("digest", ["quiet", "verbose", "home"]), None);
        assert_eq!(closest("x", ["DB"]), None);
        // Three wrong letters are too many even in a long word.
        assert_eq!(closest("memory-lxxxt", ["memory-limit"]), None);
    }
}
