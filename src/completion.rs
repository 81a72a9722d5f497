//! Shell completion: clap's generated script, plus IOC names where an argument takes
//! the name of an existing IOC.
//!
//! The names come from the binary at each Tab press (`iocdock __complete-ioc-names
//! -- WORDS...`), so they are those of the home the command line would use (`--home`,
//! else IOCDOCK_HOME, else the default), and the binary, which knows its own
//! arguments, decides from the words typed so far whether the next word is an IOC
//! name. The script only asks and filters by what is typed.

use clap::{Arg, Command};

/// The first argument that makes iocdock list the IOC names the next word can be.
pub(crate) const ASK_IOC_NAMES: &str = "__complete-ioc-names";

/// The arguments that take names of existing IOCs, as (subcommand, argument id).
/// `create` and `rename`'s new name take names that do not exist yet.
pub(crate) const IOC_NAME_ARGS: [(&str, &str); 8] = [
    ("set", "names"),
    ("update-image", "names"),
    ("list", "list_from"),
    ("edit", "name"),
    ("remove", "names"),
    ("rename", "old"),
    ("exec", "names"),
    ("service", "names"),
];

/// What the words before the completed one say.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Position {
    /// The `--home` given on the command line, if any.
    pub(crate) home: Option<String>,
    /// Whether the completed word is the name of an existing IOC.
    pub(crate) wants_ioc_name: bool,
}

fn takes_values(arg: &Arg) -> bool {
    arg.get_action().takes_values()
}

/// Whether an option goes on taking words until the next option (`-l A B`).
fn many_values(arg: &Arg) -> bool {
    arg.get_num_args().is_some_and(|n| n.max_values() > 1)
}

/// Reads `words` (the command line after the program name, before the word being
/// completed) as clap would, as far as completion needs: the subcommand, which option
/// is waiting for a value, how many positional arguments came.
pub(crate) fn position(root: &Command, words: &[String]) -> Position {
    let mut home = None;
    let mut sub: Option<&Command> = None;
    let mut open: Option<&Arg> = None;
    let mut positionals = 0;
    let mut only_positionals = false;
    for word in words {
        let cmd = sub.unwrap_or(root);
        if let Some(arg) = open {
            if !word.starts_with('-') || !many_values(arg) {
                if arg.get_id() == "home" {
                    home = Some(word.clone());
                }
                if !many_values(arg) {
                    open = None;
                }
                continue;
            }
            open = None;
        }
        if only_positionals || !word.starts_with('-') || word == "-" {
            match sub {
                None => match root.find_subcommand(word) {
                    Some(found) => sub = Some(found),
                    None => {
                        return Position {
                            home,
                            wants_ioc_name: false,
                        };
                    }
                },
                Some(_) => positionals += 1,
            }
            continue;
        }
        if word == "--" {
            only_positionals = true;
        } else if let Some(long) = word.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (long, None),
            };
            let arg = cmd.get_arguments().find(|a| a.get_long() == Some(name));
            match (arg, inline) {
                (Some(arg), Some(value)) if arg.get_id() == "home" => {
                    home = Some(value.to_string())
                }
                (Some(arg), None) if takes_values(arg) => open = Some(arg),
                _ => {}
            }
        } else {
            // Bundled short flags (`-rf`); one that takes a value takes the rest of the
            // word, or the next word when it is last.
            let shorts: Vec<char> = word.chars().skip(1).collect();
            for (i, short) in shorts.iter().enumerate() {
                let arg = cmd.get_arguments().find(|a| a.get_short() == Some(*short));
                if let Some(arg) = arg
                    && takes_values(arg)
                {
                    if i + 1 == shorts.len() {
                        open = Some(arg);
                    }
                    break;
                }
            }
        }
    }
    let Some(sub) = sub else {
        return Position {
            home,
            wants_ioc_name: false,
        };
    };
    let arg = open.or_else(|| {
        let all: Vec<&Arg> = sub.get_positionals().collect();
        all.get(positionals)
            .copied()
            .or_else(|| all.last().copied().filter(|a| many_values(a)))
    });
    Position {
        home,
        wants_ioc_name: arg
            .is_some_and(|arg| IOC_NAME_ARGS.contains(&(sub.get_name(), arg.get_id().as_str()))),
    }
}

/// clap's bash script with IOC names added: its completion function is wrapped by
/// one that also offers the names the binary lists, registered in its place. `bin`
/// is the name the script completes.
pub(crate) fn bash_script(generated: &str, bin: &str) -> String {
    let function = generated
        .split_whitespace()
        .skip_while(|w| *w != "-F")
        .nth(1)
        .unwrap_or("_iocdock")
        .to_string();
    let wrapper = format!("{function}_with_ioc_names");
    let registered = generated.replace(
        &format!("complete -F {function} "),
        &format!("complete -F {wrapper} "),
    );
    format!(
        r#"{registered}
# IOC names where an argument takes one: the binary lists them for the words typed so
# far, from the home those words (--home) or IOCDOCK_HOME name.
{wrapper}() {{
    {function} "$@"
    local cur="${{COMP_WORDS[COMP_CWORD]}}" names
    [[ "$cur" == -* ]] && return 0
    names="$("${{COMP_WORDS[0]}}" {ASK_IOC_NAMES} -- "${{COMP_WORDS[@]:1:COMP_CWORD-1}}" 2>/dev/null)" || return 0
    [[ -n "$names" ]] || return 0
    COMPREPLY+=( $(compgen -W "$names" -- "$cur") )
}}
# (completes {bin})
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn at(words: &str) -> Position {
        let mut cli = crate::cli::Cli::command();
        cli.build();
        let words: Vec<String> = words.split_whitespace().map(String::from).collect();
        position(&cli, &words)
    }

    #[test]
    fn every_ioc_name_argument_exists() {
        let mut cli = crate::cli::Cli::command();
        cli.build();
        for (sub, id) in IOC_NAME_ARGS {
            let found = cli
                .find_subcommand(sub)
                .is_some_and(|c| c.get_arguments().any(|a| a.get_id() == id));
            assert!(found, "{sub} has no argument {id}");
        }
    }

    #[test]
    fn ioc_names_are_wanted_where_an_argument_takes_them() {
        for words in [
            "exec",
            "exec a b",
            "exec --gen-startup-file a",
            "--home /h exec",
            "-v set",
            "set a -o x=1 -s IOC",
            "ls -l",
            "list -l a",
            "rm -rf",
            "edit",
            "rename",
            "service",
        ] {
            assert!(at(words).wants_ioc_name, "{words}");
        }
        for words in [
            "",
            "create",
            "rename a",
            "edit a",
            "set a -s",
            "exec -r",
            "exec --backup-path",
            "list -s",
            "client",
            "--home",
            "nosuch",
        ] {
            assert!(!at(words).wants_ioc_name, "{words}");
        }
    }

    #[test]
    fn the_home_is_the_one_the_command_line_names() {
        assert_eq!(at("--home /a exec").home.as_deref(), Some("/a"));
        assert_eq!(at("exec --home=/b").home.as_deref(), Some("/b"));
        assert_eq!(at("exec x").home, None);
    }
}
