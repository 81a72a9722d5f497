//! The health check of an IOC service: whether it runs, which PV it reads (from
//! ioc.ini and the IOC's own databases) and the command that reads it from inside
//! the IOC's container.
//!
//! An IOC is healthy when its own PVs answer. The check runs `caget` of the image on
//! the IOC's node and searches with a broadcast on the loopback network: every IOC
//! of the node's host network receives it (a unicast search to 127.0.0.1 reaches
//! only one of the IOCs sharing UDP port 5064) and it never leaves the node.

use std::path::Path;

use crate::ini::{IniDocument, value_lines};
use crate::ioc::config::{DB, DEPLOY, Module};
use crate::ioc::repository::SRC_DIR;
use crate::ioc::startup::{self, SourceError};
use crate::schema::ioc_ini::{CHECK_OPTION, PV_OPTION};
use crate::schema::values::{PV_RULE, is_pv_name};

/// The status-ioc database names its heartbeat `$(IOC):HEARTBEAT`, and so does
/// devIocStats' `iocAdminSoft.db`: the name holds when one replaces the other.
const HEARTBEAT_SUFFIX: &str = ":HEARTBEAT";
/// Where the check searches: the loopback broadcast address.
const SEARCH_ADDRESS: &str = "127.255.255.255";

#[derive(Debug, thiserror::Error)]
pub(crate) enum HealthError {
    #[error("IOC \"{ioc}\": option \"{option}\" of section [DEPLOY] is \"{value}\" ({expected})")]
    Option {
        ioc: String,
        option: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error(
        "IOC \"{ioc}\": no PV for the health check: {reason}; name one (iocdock set {ioc} -s deploy -o health-pv=PV) or turn the check off (-o health-check=false)"
    )]
    NoPv { ioc: String, reason: String },
}

/// The `[DEPLOY]` options of the check, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HealthOptions {
    pub(crate) enabled: bool,
    /// The PV named by `health-pv`; `None` lets iocdock choose.
    pub(crate) pv: Option<String>,
}

/// Reads and checks `health-check` (true or false, any case; empty or missing means
/// true) and `health-pv` (a PV name; empty or missing means automatic).
pub(crate) fn options(ioc: &str, doc: &IniDocument) -> Result<HealthOptions, HealthError> {
    let value = |option| doc.get(DEPLOY, option).map(str::trim).unwrap_or("");
    let check = value(CHECK_OPTION);
    let enabled = if check.is_empty() || check.eq_ignore_ascii_case("true") {
        true
    } else if check.eq_ignore_ascii_case("false") {
        false
    } else {
        return Err(HealthError::Option {
            ioc: ioc.to_string(),
            option: CHECK_OPTION,
            value: check.escape_default().to_string(),
            expected: "expected true or false",
        });
    };
    let pv = value(PV_OPTION);
    if !pv.is_empty() && !is_pv_name(pv) {
        return Err(HealthError::Option {
            ioc: ioc.to_string(),
            option: PV_OPTION,
            value: pv.escape_default().to_string(),
            expected: PV_RULE,
        });
    }
    Ok(HealthOptions {
        enabled,
        pv: (!pv.is_empty()).then(|| pv.to_string()),
    })
}

/// The PV the check of IOC `ioc` reads, `None` when the check is off: `health-pv`
/// when set; else the status-ioc heartbeat `<ioc>:HEARTBEAT` when that module is
/// loaded; else the first record of the first database of `[DB] load` (read from
/// the IOC's `src/` in `ioc_dir`) that has one, with the load line's macros.
pub(crate) fn checked_pv(
    ioc: &str,
    doc: &IniDocument,
    ioc_dir: &Path,
) -> Result<Option<String>, HealthError> {
    let options = options(ioc, doc)?;
    if !options.enabled {
        return Ok(None);
    }
    if let Some(pv) = options.pv {
        return Ok(Some(pv));
    }
    if startup::modules(doc).contains(&Module::StatusIoc) {
        return Ok(Some(format!("{ioc}{HEARTBEAT_SUFFIX}")));
    }
    let no_pv = |reason: String| HealthError::NoPv {
        ioc: ioc.to_string(),
        reason,
    };
    let src = ioc_dir.join(SRC_DIR);
    for line in value_lines(doc.get(DB, "load").unwrap_or("")) {
        let load = crate::schema::values::parse_load_line(line).map_err(|_| {
            no_pv(format!(
                "the load line \"{line}\" of section [DB] is invalid (--gen-startup-file lists why)"
            ))
        })?;
        let db = load.db;
        let text = match startup::read_inside(&src, db) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(SourceError::NotFound) => {
                return Err(no_pv(format!("db file \"{db}\" is not in src/")));
            }
            Err(SourceError::Link) => {
                return Err(no_pv(format!(
                    "db file \"{db}\" is a symbolic link (never read through)"
                )));
            }
            Err(SourceError::Unreadable(e)) => {
                return Err(no_pv(format!("db file \"{db}\" is unreadable: {e}")));
            }
        };
        let Some(raw) = first_record(&text) else {
            continue;
        };
        let name = expand(&raw, &load.macros).map_err(|problem| {
            no_pv(format!(
                "the first record of {db}, \"{raw}\", uses macro {problem} on the load line \"{line}\""
            ))
        })?;
        if !is_pv_name(&name) {
            return Err(no_pv(format!(
                "the first record of {db} is \"{}\", which the check cannot name ({PV_RULE})",
                name.escape_default()
            )));
        }
        return Ok(Some(name));
    }
    Err(no_pv(
        "no database of [DB] load defines a record of its own".to_string(),
    ))
}

/// The check's shell command (`CMD-SHELL`: the image's `/bin/sh`): `caget` from
/// PATH, else from `$EPICS_BASE/bin/$EPICS_HOST_ARCH`, reads `pv` once, waiting at
/// most `wait_seconds`. Without such a tool it succeeds and says so on its output:
/// an image without CA tools gives no verdict, and must never be restarted for it.
pub(crate) fn check_command(pv: &str, wait_seconds: u64) -> String {
    format!(
        "caget=$(command -v caget || echo \"$EPICS_BASE/bin/$EPICS_HOST_ARCH/caget\"); \
         if [ ! -x \"$caget\" ]; then \
         echo \"no health verdict: no caget in PATH or in \\$EPICS_BASE/bin/\\$EPICS_HOST_ARCH\"; \
         exit 0; fi; \
         export EPICS_CA_AUTO_ADDR_LIST=NO EPICS_CA_ADDR_LIST={SEARCH_ADDRESS}; \
         exec \"$caget\" -w {wait_seconds} '{pv}'"
    )
}

/// A word of a database file: what the first-record scan needs to tell apart.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Text(String),
    Punct(char),
}

/// The tokens of a database file: barewords (macro references such as `$(P)` kept
/// whole), double-quoted strings (escapes resolved), and `( ) { } ,`; comments
/// from `#` to the end of the line are skipped.
struct Tokens<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
}

impl Iterator for Tokens<'_> {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        loop {
            let c = *self.chars.peek()?;
            if c.is_whitespace() {
                self.chars.next();
            } else if c == '#' {
                for c in self.chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            } else {
                break;
            }
        }
        let c = self.chars.next()?;
        match c {
            '(' | ')' | '{' | '}' | ',' => Some(Token::Punct(c)),
            '"' => {
                let mut text = String::new();
                while let Some(c) = self.chars.next() {
                    match c {
                        '"' => break,
                        '\\' => text.extend(self.chars.next()),
                        c => text.push(c),
                    }
                }
                Some(Token::Text(text))
            }
            first => {
                let mut word = String::from(first);
                while let Some(&c) = self.chars.peek() {
                    if c.is_whitespace() || "(){},\"#".contains(c) {
                        if !(word.ends_with('$') && (c == '(' || c == '{')) {
                            break;
                        }
                        // A macro reference inside a bareword: take it up to its close.
                        let mut level = 0usize;
                        for c in self.chars.by_ref() {
                            word.push(c);
                            match c {
                                '(' | '{' => level += 1,
                                ')' | '}' => {
                                    level -= 1;
                                    if level == 0 {
                                        break;
                                    }
                                }
                                _ => {}
                            }
                        }
                        continue;
                    }
                    word.push(c);
                    self.chars.next();
                }
                Some(Token::Word(word))
            }
        }
    }
}

/// The name of the first `record`/`grecord` of a database file, as written (macros
/// not expanded). Files it `include`s are not followed: a record written in the file
/// itself is loaded as surely and needs no include path.
fn first_record(db: &str) -> Option<String> {
    let mut tokens = Tokens {
        chars: db.chars().peekable(),
    };
    let mut depth = 0usize;
    while let Some(token) = tokens.next() {
        match token {
            Token::Punct('{') => depth += 1,
            Token::Punct('}') => depth = depth.saturating_sub(1),
            Token::Word(word) if depth == 0 && (word == "record" || word == "grecord") => {
                let head: Vec<Token> = tokens.by_ref().take(4).collect();
                return match head.as_slice() {
                    [
                        Token::Punct('('),
                        Token::Word(_) | Token::Text(_),
                        Token::Punct(','),
                        Token::Word(name) | Token::Text(name),
                    ] => Some(name.clone()),
                    _ => None,
                };
            }
            _ => {}
        }
    }
    None
}

/// Deep enough for any real nesting; deeper means a macro defined through itself.
const MAX_MACRO_DEPTH: usize = 16;

/// Expands `$(NAME)`, `${NAME}` and `$(NAME=default)` (nested references too) as
/// EPICS' macLib does with the macros of a load line. The error names the macro
/// that has no value (`"P" (undefined)`) or is defined through itself.
fn expand(text: &str, macros: &[(&str, &str)]) -> Result<String, String> {
    expand_at(text, macros, 0)
}

fn expand_at(text: &str, macros: &[(&str, &str)], depth: usize) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let close = match after.chars().next() {
            Some('(') => ')',
            Some('{') => '}',
            _ => {
                out.push('$');
                rest = after;
                continue;
            }
        };
        // The matching close, and where the name ends (`=` or `,` at the top level).
        let mut level = 0usize;
        let mut end = None;
        let mut name_end = None;
        for (i, c) in after.char_indices().skip(1) {
            if level == 0 && c == close {
                end = Some(i);
                break;
            }
            match c {
                '(' | '{' => level += 1,
                ')' | '}' => level = level.saturating_sub(1),
                '=' | ',' if level == 0 && name_end.is_none() => name_end = Some(i),
                _ => {}
            }
        }
        let Some(end) = end else {
            // macLib leaves an unterminated reference as it is.
            out.push_str(&rest[at..]);
            return Ok(out);
        };
        let name_end = name_end.unwrap_or(end);
        let name = expand_at(&after[1..name_end], macros, depth)?;
        if depth >= MAX_MACRO_DEPTH {
            return Err(format!("\"{name}\" (defined through itself)"));
        }
        let default = after[name_end..end]
            .strip_prefix('=')
            .map(|d| d.split(',').next().unwrap_or(""));
        let value = match macros.iter().find(|(n, _)| *n == name) {
            Some((_, value)) => expand_at(value, macros, depth + 1)?,
            None => match default {
                Some(default) => expand_at(default, macros, depth + 1)?,
                None => return Err(format!("\"{name}\" (undefined)")),
            },
        };
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(deploy: &str, module: &str, load: &str) -> IniDocument {
        IniDocument::parse(
            &format!(
                "[IOC]\nname = x\nmodule = {module}\n\n[DB]\nload = {load}\n\n[DEPLOY]\n{deploy}\n"
            ),
            Path::new("ioc.ini"),
        )
        .unwrap()
    }

    fn ioc_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(SRC_DIR)).unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(SRC_DIR).join(name), text).unwrap();
        }
        dir
    }

    const RAMPER: &str = include_str!("../../templates/test/ramper.db");

    #[test]
    fn the_first_record_of_the_first_database_with_its_macros() {
        let dir = ioc_dir(&[("ramper.db", RAMPER)]);
        let pv = checked_pv("x", &doc("", "", "ramper.db, name=x"), dir.path()).unwrap();
        assert_eq!(pv.as_deref(), Some("limit:x"));
    }

    #[test]
    fn the_status_ioc_heartbeat_comes_first_and_health_pv_before_it() {
        let dir = ioc_dir(&[("ramper.db", RAMPER)]);
        let modules = "autosave, status-ioc";
        let pv = checked_pv("ioc1", &doc("", modules, "ramper.db, name=x"), dir.path());
        assert_eq!(pv.unwrap().as_deref(), Some("ioc1:HEARTBEAT"));
        let named = doc("health-pv = ctrl:x.SEVR", modules, "ramper.db, name=x");
        let pv = checked_pv("ioc1", &named, dir.path()).unwrap();
        assert_eq!(pv.as_deref(), Some("ctrl:x.SEVR"));
        // Not even the databases are read when the PV is named.
        let pv = checked_pv("ioc1", &named, Path::new("/nowhere")).unwrap();
        assert_eq!(pv.as_deref(), Some("ctrl:x.SEVR"));
    }

    #[test]
    fn the_check_turned_off_needs_no_pv() {
        for value in ["false", "False", " FALSE "] {
            let off = doc(&format!("health-check = {value}"), "", "");
            assert_eq!(checked_pv("x", &off, Path::new("/nowhere")).unwrap(), None);
        }
        let on = doc("health-check = TRUE\nhealth-pv = a:b", "", "");
        assert_eq!(
            options("x", &on).unwrap(),
            HealthOptions {
                enabled: true,
                pv: Some("a:b".to_string())
            }
        );
        let default = doc("health-check = \nhealth-pv = ", "", "");
        assert_eq!(
            options("x", &default).unwrap(),
            HealthOptions {
                enabled: true,
                pv: None
            }
        );
    }

    #[test]
    fn bad_options_name_ioc_option_and_what_is_expected() {
        let err = options("x", &doc("health-check = maybe", "", ""))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "IOC \"x\": option \"health-check\" of section [DEPLOY] is \"maybe\" (expected true or false)"
        );
        for pv in ["a b", "it's", "$(P):x", "-w", "a\"b", "a`b`", "ä:x"] {
            let err = options("x", &doc(&format!("health-pv = {pv}"), "", ""))
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("IOC \"x\": option \"health-pv\" of section [DEPLOY] is"),
                "{pv}: {err}"
            );
            assert!(err.contains("expected a PV name"), "{err}");
        }
    }

    #[test]
    fn databases_without_records_of_their_own_are_passed_over() {
        let dir = ioc_dir(&[
            (
                "aliases.db",
                "# only an include\ninclude \"other.db\"\nalias(\"a\", \"b\")\n",
            ),
            ("ramper.db", RAMPER),
        ]);
        let load = "\n\taliases.db\n\tramper.db, name=two";
        let pv = checked_pv("x", &doc("", "", load), dir.path()).unwrap();
        assert_eq!(pv.as_deref(), Some("limit:two"));
    }

    #[test]
    fn what_cannot_give_a_pv_is_one_clear_error() {
        let dir = ioc_dir(&[
            ("ramper.db", RAMPER),
            ("empty.db", "# nothing\n"),
            ("spaced.db", "record(ai, \"a b\") {}\n"),
        ]);
        let cases = [
            (
                "ramper.db",
                "uses macro \"name\" (undefined) on the load line \"ramper.db\"",
            ),
            ("missing.db", "db file \"missing.db\" is not in src/"),
            (
                "empty.db",
                "no database of [DB] load defines a record of its own",
            ),
            ("spaced.db", "the first record of spaced.db is \"a b\""),
            (
                "ramper.db, name",
                "the load line \"ramper.db, name\" of section [DB] is invalid",
            ),
        ];
        for (load, expected) in cases {
            let err = checked_pv("x", &doc("", "", load), dir.path())
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("IOC \"x\": no PV for the health check: "),
                "{err}"
            );
            assert!(err.contains(expected), "{load}: {err}");
            assert!(
                err.ends_with("or turn the check off (-o health-check=false)"),
                "{err}"
            );
        }
    }

    #[test]
    fn first_record_reads_the_database_grammar() {
        let cases = [
            ("record(ai, \"a:b\") {}", Some("a:b")),
            ("grecord(ai,a:b)", Some("a:b")),
            ("  record ( calc , $(P)$(R=x):c )", Some("$(P)$(R=x):c")),
            (
                "# record(ai, \"commented\")\nrecord(bo, \"real\")",
                Some("real"),
            ),
            ("record(ai, \"esc\\\"aped\")", Some("esc\"aped")),
            (
                "path \".\"\nrecord(ai, \"first\") { field(INP, {const: 1}) }\nrecord(ai, \"second\")",
                Some("first"),
            ),
            ("menu(m) { choice(c, \"record(ai, \\\"no\\\")\") }", None),
            ("record(ai)", None),
            ("", None),
        ];
        for (db, expected) in cases {
            assert_eq!(first_record(db).as_deref(), expected, "{db}");
        }
    }

    #[test]
    fn macros_expand_as_maclib_does() {
        let macros = [
            ("P", "ioc:"),
            ("R", "$(P)r"),
            ("N", "${D=3}"),
            ("SELF", "$(SELF)"),
        ];
        let cases = [
            ("$(P)x", Ok("ioc:x")),
            ("${P}x", Ok("ioc:x")),
            ("$(R):$(N)", Ok("ioc:r:3")),
            ("$(Q=def)", Ok("def")),
            ("$(Q=$(P))", Ok("ioc:")),
            ("$(P,X=1)y", Ok("ioc:y")),
            ("a$b", Ok("a$b")),
            ("$(P", Ok("$(P")),
            ("$(Q)", Err("\"Q\" (undefined)")),
            ("$(SELF)", Err("\"SELF\" (defined through itself)")),
        ];
        for (text, expected) in cases {
            assert_eq!(
                expand(text, &macros),
                expected.map(str::to_string).map_err(str::to_string),
                "{text}"
            );
        }
    }

    #[test]
    fn the_check_command_runs_in_a_posix_shell() {
        let root = tempfile::tempdir().unwrap();
        let arch_bin = root.path().join("base/bin/arch");
        std::fs::create_dir_all(&arch_bin).unwrap();
        // A stand-in caget that shows what it was given and where it searches.
        let fake = "#!/bin/sh\necho \"$0 $*\" \"$EPICS_CA_AUTO_ADDR_LIST\" \"$EPICS_CA_ADDR_LIST\"\nexit 3\n";
        let tool = arch_bin.join("caget");
        std::fs::write(&tool, fake).unwrap();
        std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let run = |path: &str, base: &str| {
            std::process::Command::new("/bin/sh")
                .args(["-c", &check_command("a:b.VAL", 5)])
                .env_clear()
                .env("PATH", path)
                .env("EPICS_BASE", base)
                .env("EPICS_HOST_ARCH", "arch")
                .env("EPICS_CA_AUTO_ADDR_LIST", "YES")
                .output()
                .unwrap()
        };
        let base = root.path().join("base").display().to_string();
        // `command`, `[` and `echo` are built into the shell: an empty folder is a
        // PATH without any caget.
        let empty = root.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        let empty = empty.display().to_string();
        // Found through $EPICS_BASE/bin/$EPICS_HOST_ARCH; its exit status is the verdict.
        let out = run(&empty, &base);
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{} -w 5 a:b.VAL NO 127.255.255.255\n", tool.display())
        );
        // PATH wins.
        let out = run(&arch_bin.display().to_string(), "/nowhere");
        assert_eq!(out.status.code(), Some(3));
        // No tool anywhere: success, and the output says there is no verdict.
        let out = run(&empty, "/nowhere");
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "no health verdict: no caget in PATH or in $EPICS_BASE/bin/$EPICS_HOST_ARCH\n"
        );
    }
}
