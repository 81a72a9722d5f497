//! One module per subcommand. Each takes resolved values and the printer, calls the
//! domain modules and reports; none parses arguments or touches files itself.

pub(crate) mod ansible;
pub(crate) mod client;
pub(crate) mod cluster;
pub(crate) mod completions;
pub(crate) mod config;
pub(crate) mod create;
pub(crate) mod deployment;
pub(crate) mod edit;
pub(crate) mod exec;
pub(crate) mod image;
pub(crate) mod init;
pub(crate) mod list;
pub(crate) mod make_certs;
mod outcome;
pub(crate) mod registry;
pub(crate) mod remove;
pub(crate) mod rename;
pub(crate) mod rollouts;
pub(crate) mod service;
pub(crate) mod set;
pub(crate) mod swarm;
pub(crate) mod update;
pub(crate) mod update_image;

use anyhow::Context;

pub(crate) use outcome::{ExitStatus, UsageError, only_with};

use crate::cli::EditArgs;
use crate::fsutil::RepositoryLock;
use crate::fsutil::leftovers::Cleared;
use crate::ioc::config::{IniChanges, Module, RawTemplate, parse_assignment, parse_section};
use crate::ioc::repository::{Repository, read_ini_file};
use crate::printer::Printer;
use crate::schema::ioc_name as name;
use crate::settings::Settings;

/// Warns when an IOC's `module` option needs a support module its image lacks, as
/// the labels of the image on this engine tell (`image build` writes them). Silent
/// when no engine answers within a moment or the image is not here: a command that
/// only writes files must not hang on, or fail for, the engine.
pub(crate) fn warn_missing_image_modules(
    iocs: &[(String, crate::ini::IniDocument)],
    printer: &Printer,
) {
    use crate::image::build::label;
    use crate::ioc::config::IOC;
    let wanted: Vec<(&str, &str, &str)> = iocs
        .iter()
        .filter_map(|(name, doc)| {
            let image = doc.get(IOC, "image")?.trim();
            let modules = doc.get(IOC, "module")?;
            (!image.is_empty() && !modules.trim().is_empty()).then_some((
                name.as_str(),
                image,
                modules,
            ))
        })
        .collect();
    if wanted.is_empty() {
        return;
    }
    let engine =
        match crate::swarm::engine::Engine::connect_for_view(std::time::Duration::from_secs(2)) {
            Ok(engine) => engine,
            Err(e) => {
                printer.detail(&format!("image modules not checked: {e}"));
                return;
            }
        };
    let mut labels: std::collections::HashMap<&str, Option<String>> = Default::default();
    for (name, image, modules) in wanted {
        let image_modules = labels.entry(image).or_insert_with(|| {
            crate::swarm::images::inspect(&engine, image)
                .ok()
                .flatten()
                .and_then(|found| found.labels.get(label::MODULES).cloned())
        });
        let Some(image_modules) = image_modules else {
            continue;
        };
        for (entry, support) in crate::image::missing_support(modules, image_modules) {
            printer.warn(&format!(
                "IOC \"{name}\": module {entry} needs the support module {support}, which image {image} lacks (it has {})",
                image_modules.replace(',', ", ")
            ));
        }
    }
}

/// Takes the repository lock for a mutating command, telling the operator when it
/// has to wait for another invocation (e.g. a cron backup). When the last command
/// that held it was killed half-way, what it left behind in any IOC's folders is
/// cleared first (see `Repository::clear_leftovers`), so the next command to touch
/// an IOC finds it whole. (Looking in every IOC's folders on every command would
/// cost a large deploy tens of system calls per IOC for nothing.)
pub(crate) fn lock_repository(
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<RepositoryLock> {
    let lock = RepositoryLock::acquire(&settings.paths.repository, || {
        printer.status("waiting for another iocdock command to release the repository lock...")
    })?;
    if lock.interrupted() {
        printer.detail(
            "the last command that changed the repository was interrupted; clearing what it left",
        );
        let cleared = Repository::new(&settings.paths).clear_leftovers(false)?;
        report_cleared(&cleared, printer);
    }
    Ok(lock)
}

/// Takes a shared lock for a command that only reads the repository (a backup), or
/// none when this user cannot read or make the lock file (a read-only home): such a
/// command must work wherever the repository can be read.
pub(crate) fn lock_repository_to_read(
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<Option<RepositoryLock>> {
    use crate::fsutil::ReadLock;
    let lock = RepositoryLock::acquire_shared(&settings.paths.repository, || {
        printer.status("waiting for another iocdock command to release the repository lock...")
    })?;
    Ok(match lock {
        ReadLock::Shared(lock) => Some(lock),
        ReadLock::Unlocked(why) => {
            printer.detail(&format!("reading the repository without its lock: {why}"));
            None
        }
    })
}

/// What cleaning an IOC's leftovers did, as (details, warnings): the leftovers
/// deleted are details; a folder put back, or one left alone, is worth a warning.
fn cleared_lines(cleared: &Cleared) -> (Vec<String>, Vec<String>) {
    let details = cleared
        .removed
        .iter()
        .map(|path| format!("removed {}, left by an interrupted command", path.display()))
        .collect();
    let mut warnings: Vec<String> = cleared
        .put_back
        .iter()
        .map(|(from, to)| {
            format!(
                "put {} back as {}: an interrupted command had moved it aside",
                from.display(),
                to.display()
            )
        })
        .collect();
    warnings.extend(cleared.failed.iter().map(|(path, why)| {
        format!(
            "cannot clear {}, left by an interrupted command: {why}",
            path.display()
        )
    }));
    (details, warnings)
}

pub(crate) fn report_cleared(cleared: &Cleared, printer: &Printer) {
    let (details, warnings) = cleared_lines(cleared);
    for line in details {
        printer.detail(&line);
    }
    for line in warnings {
        printer.warn(&line);
    }
}

/// The names that are IOC names, each once; every other one is reported (one line
/// each) and counted, so the valid names are still processed (SPEC §6 exit codes).
pub(crate) fn valid_names<'a>(names: &'a [String], printer: &Printer) -> (Vec<&'a str>, usize) {
    let mut valid: Vec<&str> = Vec::with_capacity(names.len());
    let mut failures = 0;
    for n in names {
        match name::validate(n) {
            Ok(()) if !valid.contains(&n.as_str()) => valid.push(n),
            Ok(()) => {}
            Err(e) => {
                printer.error(&e.to_string());
                failures += 1;
            }
        }
    }
    (valid, failures)
}

/// What the `create`/`set` flags ask to change, read and checked before any IOC is
/// touched so a bad option writes nothing.
pub(crate) fn ini_changes(args: &EditArgs) -> anyhow::Result<IniChanges> {
    let section = parse_section(&args.section)?;
    let assignments = args
        .options
        .iter()
        .map(|raw| parse_assignment(raw, &section))
        .collect::<Result<Vec<_>, _>>()?;
    let from_file = match &args.ini_file {
        Some(path) => Some(
            read_ini_file(path)
                .with_context(|| format!("-f {}: cannot use as ioc.ini", path.display()))?,
        ),
        None => None,
    };
    let chosen: Vec<Module> = [
        (args.autosave, Module::Autosave),
        (args.caputlog, Module::Caputlog),
        (args.status_ioc, Module::StatusIoc),
        (args.status_os, Module::StatusOs),
    ]
    .into_iter()
    .filter_map(|(on, module)| on.then_some(module))
    .collect();
    let raw = if args.add_asyn {
        Some(RawTemplate::Asyn)
    } else if args.add_stream {
        Some(RawTemplate::Stream)
    } else if args.add_raw {
        Some(RawTemplate::Empty)
    } else {
        None
    };
    Ok(IniChanges {
        from_file,
        assignments,
        modules: (!chosen.is_empty()).then_some(chosen),
        raw,
    })
}

/// A disruptive action that was neither confirmed with `--yes` nor asked about,
/// because nobody is at a terminal to see what it would touch.
#[derive(Debug, thiserror::Error)]
#[error(
    "refusing to {action} without confirmation: stdin is not a terminal (add --yes to confirm it up front)"
)]
pub(crate) struct NotConfirmed {
    pub(crate) action: String,
}

/// The one rule of every disruptive action (swarm-wide restarts and removals, engine
/// stops, removal of services or of several IOCs with all their copies): `--yes`
/// goes ahead; on a terminal the operator sees everything it would touch, one per
/// line, and answers; without a terminal it is refused, so a script or cron job never
/// disrupts more than it says. Returns whether to go ahead (false: declined).
// Part of the prompt below: see `confirm`.
#[allow(clippy::print_stderr)]
pub(crate) fn confirmed(action: &str, touched: &[String], yes: bool) -> Result<bool, NotConfirmed> {
    use std::io::IsTerminal;
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(NotConfirmed {
            action: action.to_string(),
        });
    }
    // Part of the question, so shown even with --quiet.
    for item in touched {
        eprintln!("  {item}");
    }
    Ok(confirm(&format!("{action}?")))
}

/// Asks a yes/no question on the terminal; anything but yes is no.
// A prompt talks to the operator at the terminal and must show even with --quiet,
// so it writes to stderr itself rather than through the printer's quiet rules.
#[allow(clippy::print_stderr)]
pub(crate) fn confirm(question: &str) -> bool {
    use std::io::{BufRead, Write};
    eprint!("{question} [y|n] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Asks for one line on the terminal (the caller checks there is one). With `hidden`
/// the answer is not echoed, as for a password. Ctrl-C, SIGTERM or SIGHUP while the
/// operator types end the command with the terminal as it was (echo on) and the exit
/// code a shell gives for that signal.
// A prompt talks to the operator at the terminal and must show even with --quiet,
// so it writes to stderr itself rather than through the printer's quiet rules.
#[allow(clippy::print_stderr)]
pub(crate) fn ask(question: &str, hidden: bool) -> anyhow::Result<String> {
    use std::io::{BufRead, Write};
    let mut watch =
        crate::interrupt::Watch::start().context("cannot watch for Ctrl-C and SIGTERM")?;
    let echo_off = if hidden {
        Some(EchoOff::new().context("cannot turn the terminal's echo off")?)
    } else {
        None
    };
    // Shown once echo is off, so nothing typed after the question appears is echoed.
    eprint!("{question}: ");
    let _ = std::io::stderr().flush();
    // The read blocks on its own thread so a signal can end the wait; that thread is
    // left blocked until the process ends, which it then does soon.
    let (read, interrupted) = watch.wait_for(
        || {
            let mut answer = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut answer)
                .map(|_| answer)
        },
        |_| crate::interrupt::Waiting::Stop,
    );
    drop(echo_off);
    if let Some(which) = interrupted {
        // The typed line was not ended by Enter: the error goes on a line of its own.
        eprintln!();
        return Err(crate::interrupt::Interrupted(which).into());
    }
    let answer = read
        .ok_or_else(|| std::io::Error::other("lost the terminal reader"))?
        .context("cannot read the answer from the terminal")?;
    Ok(answer.trim_end_matches(['\n', '\r']).to_string())
}

/// The terminal's echo off while a password is typed; back on when this is dropped,
/// however the prompt ends. Not `console`'s `read_secure_line`: it drops what was
/// typed ahead (TCSAFLUSH), turns echo off only after the question is shown, and
/// keeps the saved modes on the reading thread, so a signal ending the wait would
/// leave the echo off.
struct EchoOff {
    saved: rustix::termios::Termios,
}

impl EchoOff {
    fn new() -> std::io::Result<EchoOff> {
        use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin)?;
        let mut quiet = saved.clone();
        quiet.local_modes.remove(LocalModes::ECHO);
        // The Enter key still moves to the next line.
        quiet.local_modes.insert(LocalModes::ECHONL);
        tcsetattr(&stdin, OptionalActions::Now, &quiet)?;
        Ok(EchoOff { saved })
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(
            std::io::stdin(),
            rustix::termios::OptionalActions::Now,
            &self.saved,
        );
    }
}

/// What the engine says about the services of some IOCs, asked once.
pub(crate) struct Deployments {
    /// The connection, kept to remove services with; None when nothing had to be asked.
    pub(crate) engine: Option<crate::swarm::engine::Engine>,
    /// IOC name → its deployed swarm service, for the IOCs that are deployed.
    pub(crate) deployed: std::collections::BTreeMap<String, String>,
}

/// Which of `names` have a deployed swarm service. The engine is asked (once) only
/// when one of them could have been deployed at all: a service file, a run folder or
/// an export (see `Repository::may_be_deployed`). An engine that cannot be asked is
/// an error, since the answer decides whether files may move or go.
pub(crate) fn deployed_ioc_services(
    settings: &Settings,
    names: &[&str],
) -> Result<Deployments, crate::swarm::engine::SwarmError> {
    use crate::ioc::repository::Repository;
    use crate::services::catalog;
    use crate::swarm::deploy;
    use crate::swarm::engine::Engine;
    let repository = Repository::new(&settings.paths);
    let candidates: Vec<&str> = names
        .iter()
        .copied()
        .filter(|name| repository.may_be_deployed(name))
        .collect();
    if candidates.is_empty() {
        return Ok(Deployments {
            engine: None,
            deployed: Default::default(),
        });
    }
    let engine = Engine::connect_for_changes()?;
    let stack = deploy::deployed(&engine, &settings.prefix_stack_name)?;
    let deployed = candidates
        .into_iter()
        .map(|name| (name, catalog::ioc_service(settings, &repository, name)))
        .filter(|(_, service)| stack.contains_key(&service.service_name))
        .map(|(name, service)| (name.to_string(), service.service_name))
        .collect();
    Ok(Deployments {
        engine: Some(engine),
        deployed,
    })
}
