//! The operation log: one line per invocation (time, ssh connection, user, command
//! line) so operators can tell who changed what on a shared manager node.
//!
//! Command lines can carry secrets (`iocdock ansible -- -e ansible_password=...`), so
//! the log is private to its owner and such values are written as `***`.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::process::shell_word;

const ROTATE_AT_BYTES: u64 = 1024 * 1024;
const KEPT_BACKUPS: u32 = 3;

fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// Words in a `key=value` key that say the value is a secret.
const SECRET_WORDS: [&str; 4] = ["pass", "secret", "token", "key"];

fn names_a_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|word| key.contains(word))
}

/// An ansible extra-vars value with every value hidden: `k=v` pairs keep their keys,
/// a JSON object its keys; a `@file` names a file and stays; anything else is hidden
/// whole.
fn redact_extra_vars(value: &str) -> String {
    if value.starts_with('@') {
        return value.to_string();
    }
    let trimmed = value.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return match serde_json::from_str::<serde_json::Value>(value) {
            Ok(serde_json::Value::Object(map)) => {
                let hidden: serde_json::Map<String, serde_json::Value> = map
                    .into_iter()
                    .map(|(k, _)| (k, serde_json::Value::from("***")))
                    .collect();
                serde_json::Value::Object(hidden).to_string()
            }
            _ => "***".to_string(),
        };
    }
    split_pairs(value)
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) => format!("{key}=***"),
            None => "***".to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Splits `k=v k2='a b'` at the spaces outside quotes, as ansible reads extra vars.
fn split_pairs(value: &str) -> Vec<String> {
    let mut pairs = Vec::new();
    let mut current = String::new();
    let mut quote = None;
    for c in value.chars() {
        match (quote, c) {
            (None, '\'' | '"') => {
                quote = Some(c);
                current.push(c);
            }
            (Some(q), _) if c == q => {
                quote = None;
                current.push(c);
            }
            (None, c) if c.is_whitespace() => {
                if !current.is_empty() {
                    pairs.push(std::mem::take(&mut current));
                }
            }
            _ => current.push(c),
        }
    }
    if !current.is_empty() {
        pairs.push(current);
    }
    pairs
}

/// The command line with its secrets replaced: whatever follows `-e`/`--extra-vars`,
/// and the value of any `key=value` whose key names a secret.
fn redacted(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut extra_vars_next = false;
    for arg in args {
        if std::mem::take(&mut extra_vars_next) {
            out.push(redact_extra_vars(arg));
            continue;
        }
        if arg == "-e" || arg == "--extra-vars" {
            extra_vars_next = true;
            out.push(arg.clone());
        } else if let Some(value) = arg.strip_prefix("--extra-vars=") {
            out.push(format!("--extra-vars={}", redact_extra_vars(value)));
        } else if let Some(value) = arg.strip_prefix("-e").filter(|_| !arg.starts_with("--")) {
            out.push(format!("-e{}", redact_extra_vars(value)));
        } else if let Some((key, _)) = arg.split_once('=')
            && names_a_secret(key)
        {
            out.push(format!("{key}=***"));
        } else {
            out.push(arg.clone());
        }
    }
    out
}

/// This invocation's command line as the log writes it: secrets hidden, each word
/// quoted for a shell where it needs it, on one line.
pub(crate) fn command_line() -> String {
    let mut args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    // The program by its name, not where it was installed or built.
    if let Some(program) = args.first_mut()
        && let Some(name) = Path::new(program.as_str()).file_name()
    {
        *program = name.to_string_lossy().into_owned();
    }
    let command: Vec<String> = redacted(&args).iter().map(|a| shell_word(a)).collect();
    command.join(" ").replace('\n', "\\n")
}

/// Who runs this invocation: the user who ran sudo, else the login user, else the
/// numeric user ID.
pub(crate) fn operator() -> String {
    ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|value| !value.trim().is_empty())
        .unwrap_or_else(|| format!("uid {}", rustix::process::getuid().as_raw()))
}

pub(crate) fn record(path: &Path) -> io::Result<()> {
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let command: Vec<String> = redacted(&args).iter().map(|a| shell_word(a)).collect();
    let ssh = std::env::var("SSH_CONNECTION").unwrap_or_else(|_| "-".to_string());
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "-".to_string());
    let line = format!(
        "{} ssh=[{}] user={} cmd={}\n",
        chrono::Local::now().format("%Y-%m-%d %H:%M:%S"),
        ssh,
        user,
        command.join(" ").replace('\n', "\\n")
    );
    append(path, &line)
}

/// Mode of the log and its rotated files: the owner's alone.
const PRIVATE: u32 = 0o600;

fn is_private(metadata: &fs::Metadata) -> bool {
    metadata.permissions().mode() & 0o077 == 0
}

/// Takes group and other permissions away from a rotated file, if there is one.
fn tighten(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_file() && !is_private(&m) => {
            fs::set_permissions(path, fs::Permissions::from_mode(PRIVATE))
        }
        _ => Ok(()),
    }
}

fn append(path: &Path, line: &str) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let before = fs::metadata(path).ok();
    let rotate = before.as_ref().is_some_and(|m| m.len() >= ROTATE_AT_BYTES);
    if rotate {
        for n in (1..KEPT_BACKUPS).rev() {
            let from = rotated(path, n);
            if from.exists() {
                fs::rename(&from, rotated(path, n + 1))?;
            }
        }
        fs::rename(path, rotated(path, 1))?;
    }
    // One write of one line with O_APPEND: concurrent invocations never mix lines.
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(PRIVATE)
        .open(path)?;
    let loose = file.metadata().is_ok_and(|m| !is_private(&m));
    if loose {
        // A log written by an older iocdock (0644): tightened before this line lands.
        file.set_permissions(fs::Permissions::from_mode(PRIVATE))?;
    }
    // The rotated files are looked at only when something changed about them or the
    // log was loose, which is when an older iocdock may have left them readable.
    if loose || rotate || before.is_none() {
        for n in 1..=KEPT_BACKUPS {
            tighten(&rotated(path, n))?;
        }
    }
    file.write_all(line.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_at_one_megabyte_keeping_three() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("OperationLog");
        let big = "x".repeat(ROTATE_AT_BYTES as usize);
        for i in 0..5 {
            fs::write(&log, &big).unwrap();
            append(&log, &format!("line {i}\n")).unwrap();
        }
        assert_eq!(fs::read_to_string(&log).unwrap(), "line 4\n");
        assert!(rotated(&log, 3).exists());
        assert!(!rotated(&log, 4).exists());
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_log_and_its_rotated_files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("OperationLog");
        append(&log, "first\n").unwrap();
        assert_eq!(mode(&log), 0o600);
        // Files an older version left readable are tightened by the next write.
        fs::set_permissions(&log, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(rotated(&log, 2), "old\n").unwrap();
        fs::set_permissions(rotated(&log, 2), fs::Permissions::from_mode(0o644)).unwrap();
        append(&log, "second\n").unwrap();
        assert_eq!(mode(&log), 0o600);
        assert_eq!(mode(&rotated(&log, 2)), 0o600);
        assert_eq!(fs::read_to_string(&log).unwrap(), "first\nsecond\n");
        // Rotation keeps them private.
        fs::write(&log, "x".repeat(ROTATE_AT_BYTES as usize)).unwrap();
        append(&log, "third\n").unwrap();
        for file in [log.clone(), rotated(&log, 1), rotated(&log, 3)] {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
    }

    #[test]
    fn extra_vars_and_secret_looking_pairs_are_hidden() {
        let line = |args: &[&str]| {
            let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            redacted(&args).join(" ")
        };
        assert_eq!(
            line(&[
                "iocdock",
                "ansible",
                "--",
                "all",
                "-e",
                "user=u ansible_password='a b'"
            ]),
            "iocdock ansible -- all -e user=*** ansible_password=***"
        );
        assert_eq!(
            line(&[
                "iocdock",
                "ansible",
                "--",
                "--extra-vars",
                r#"{"pw": "x", "n": 1}"#
            ]),
            r#"iocdock ansible -- --extra-vars {"n":"***","pw":"***"}"#
        );
        assert_eq!(
            line(&[
                "iocdock",
                "ansible",
                "--",
                "--extra-vars=a=1",
                "-eb=2",
                "-e",
                "@vars.yml"
            ]),
            "iocdock ansible -- --extra-vars=a=*** -eb=*** -e @vars.yml"
        );
        assert_eq!(line(&["x", "-e", "[1, 2]"]), "x -e ***");
        assert_eq!(
            line(&[
                "x",
                "API_TOKEN=t",
                "db_Password=p",
                "secret=s",
                "ssh_key=k",
                "x_pass=p"
            ]),
            "x API_TOKEN=*** db_Password=*** secret=*** ssh_key=*** x_pass=***"
        );
        // Ordinary options keep their values.
        assert_eq!(
            line(&["iocdock", "set", "ioc", "-o", "labels=rack=a", "name=1"]),
            "iocdock set ioc -o labels=rack=a name=1"
        );
    }

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(shell_word("list"), "list");
        assert_eq!(shell_word("labels=a b"), "'labels=a b'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
    }
}
