//! iocdock: parse the command line, resolve the settings, run one subcommand and turn
//! its outcome into an exit status.

mod archive;
mod cli;
mod cluster;
mod commands;
mod completion;
mod compose;
mod embedded;
mod fsutil;
mod image;
mod ini;
mod interrupt;
mod ioc;
mod manual;
mod oplog;
mod parallel;
mod printer;
mod process;
mod schema;
mod services;
mod settings;
mod suggest;
mod swarm;
mod table;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command};
use crate::commands::{ExitStatus, UsageError};
use crate::printer::Printer;
use crate::settings::{Overrides, Settings};

pub fn run() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // The completion script's question at every Tab press: outside clap, so no
    // completion, help or man page offers it; no operation log, no settings warnings.
    let words: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if words.get(1).map(String::as_str) == Some(completion::ASK_IOC_NAMES) {
        let typed = words.get(2..).unwrap_or_default();
        let typed = typed.strip_prefix(&["--".to_string()]).unwrap_or(typed);
        let printer = Printer::new(true, false);
        return exit(commands::completions::ioc_names(typed, &printer), &printer);
    }
    if words.get(1).map(String::as_str) == Some(manual::WRITE_MAN_PAGES) {
        let printer = Printer::new(false, false);
        return exit(
            commands::completions::man_pages(words.get(2), &printer),
            &printer,
        );
    }
    let command = Cli::command().color(printer::clap_colour());
    let parsed = command
        .clone()
        .try_get_matches_from(&args)
        .and_then(|mut matches| {
            Cli::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut command.clone()))
        });
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let e = suggest::amend_usage_error(e, &command, &args);
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let printer = Printer::new(cli.quiet, cli.verbose);
    if let Command::Completions(args) = &cli.command {
        return exit(commands::completions::run(args.shell, &printer), &printer);
    }
    let loaded = match Settings::load(Overrides::from_env(cli.home.clone())) {
        Ok(loaded) => loaded,
        Err(e) => {
            printer.error(&e.to_string());
            return ExitCode::from(ExitStatus::Failure.code());
        }
    };
    let settings = loaded.settings;
    swarm::engine::set_limits(settings.engine_limits());
    if let Some(exposure) = &loaded.exposure {
        printer.warn(exposure);
    }
    for key in &loaded.unknown_keys {
        let near = settings::near_key(key)
            .map(|near| format!(" (did you mean \"{near}\"?)"))
            .unwrap_or_default();
        printer.warn(&format!(
            "{}: unknown key \"{key}\" ignored{near}",
            settings.settings_file().display()
        ));
    }
    if let Err(e) = oplog::record(&settings.paths.operation_log) {
        printer.warn(&format!(
            "cannot write the operation log {}: {e}",
            settings.paths.operation_log.display()
        ));
    }
    let result = dispatch(cli.command, &settings, &printer);
    exit(result, &printer)
}

fn dispatch(
    command: Command,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    match command {
        Command::Create(args) => commands::create::run(&args, settings, printer),
        Command::Set(args) => commands::set::run(&args, settings, printer),
        Command::UpdateImage(args) => commands::update_image::run(&args, settings, printer),
        Command::List(args) => commands::list::run(&args, settings, printer),
        Command::Edit(args) => commands::edit::run(&args.name, args.discard, settings, printer),
        Command::Remove(args) => commands::remove::run(&args, settings, printer),
        Command::Rename(args) => commands::rename::run(&args, settings, printer),
        Command::Update => commands::update::run(settings, printer),
        Command::Exec(args) => commands::exec::run(&args, settings, printer),
        Command::Service(args) => commands::service::run(&args, settings, printer),
        Command::Swarm(args) => commands::swarm::run(&args, settings, printer),
        Command::Client(args) => commands::client::run(&args, settings, printer),
        Command::Cluster(args) => commands::cluster::run(&args, settings, printer),
        Command::Ansible(args) => commands::ansible::run(&args, settings, printer),
        Command::Registry(args) => commands::registry::run(&args, settings, printer),
        Command::Image(args) => commands::image::run(args, settings, printer),
        Command::MakeCerts(args) => commands::make_certs::run(&args, settings, printer),
        Command::Config(args) => commands::config::run(&args, settings, printer),
        Command::Init => commands::init::run(settings, printer),
        Command::Completions(args) => commands::completions::run(args.shell, printer),
    }
}

fn exit(result: anyhow::Result<ExitStatus>, printer: &Printer) -> ExitCode {
    let status = match result {
        Ok(status) => status,
        Err(e) if e.is::<UsageError>() => {
            printer.error(&e.to_string());
            ExitStatus::Usage
        }
        Err(e) if e.is::<interrupt::Interrupted>() => {
            printer.error(&format!("{e:#}"));
            match e.downcast_ref::<interrupt::Interrupted>() {
                Some(interrupt::Interrupted(which)) => ExitStatus::Interrupted(*which),
                None => ExitStatus::Failure,
            }
        }
        Err(e) if swarm::is_engine_failure(&e) => {
            printer.error(&format!("{e:#}"));
            ExitStatus::EngineUnreachable
        }
        Err(e) => {
            printer.error(&format!("{e:#}"));
            ExitStatus::Failure
        }
    };
    printer.flush();
    ExitCode::from(status.code())
}
