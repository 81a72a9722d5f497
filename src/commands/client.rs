//! `iocdock client CMD ARGS...`: an EPICS client tool in the client service's
//! container on this node, with its output and exit code as if run here.

use std::io::{self, IsTerminal, Read};

use anyhow::Context;
use rustix::termios::{OptionalActions, Termios, tcgetattr, tcgetwinsize, tcsetattr};

use crate::cli::ClientArgs;
use crate::commands::ExitStatus;
use crate::interrupt::{Interrupted, Interruption, Watch};
use crate::printer::Printer;
use crate::services::catalog;
use crate::settings::Settings;
use crate::swarm::client::{self, ClientContainer, ExecOutcome, Tty};
use crate::swarm::engine::{Engine, SwarmError};
use crate::swarm::logs::LogStream;

use crate::process::shell_line;

pub(crate) fn run(
    args: &ClientArgs,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let Some((tool, tool_args)) = args.command.split_first() else {
        return Err(crate::commands::UsageError(
            "client: name the tool to run, e.g. caget".to_string(),
        )
        .into());
    };
    let engine = Engine::connect()?;
    let container = client::find(&engine, &catalog::client_service_name(settings))?;
    let command = container.tools.command(tool, tool_args);
    printer.status(&format!("executing \"{}\".", shell_line(&command)));

    exec_with_terminal(
        &engine,
        &container,
        command,
        "the tool was asked to stop and may still be running in the client container",
        &|e| e,
        printer,
    )
}

/// Runs `command` in `container` as `docker exec [-it]` would: a terminal on both ends
/// gets a tty (camonitor's Ctrl-C, line editing), in a pipeline stdout and stderr stay
/// apart and free of tty line endings; the command's exit code becomes iocdock's.
/// `stopped` is the warning when iocdock was stopped while the command ran;
/// `on_error` names where an engine error happened.
pub(crate) fn exec_with_terminal(
    engine: &Engine,
    container: &ClientContainer,
    command: Vec<String>,
    stopped: &str,
    on_error: &dyn Fn(SwarmError) -> SwarmError,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let interactive = io::stdin().is_terminal() && io::stdout().is_terminal();
    // Caught before the terminal goes raw, so no signal can end iocdock before the
    // terminal is given back.
    let mut watch = Watch::start().context("cannot watch for Ctrl-C and SIGTERM")?;
    let raw_mode = if interactive { RawMode::enable() } else { None };
    let tty = raw_mode.as_ref().map(|_| Tty {
        input: forward_stdin(),
        size: Box::new(terminal_size),
    });
    let outcome = client::exec(
        engine,
        container,
        command,
        tty,
        watch.signals(),
        &mut |stream, bytes| match stream {
            LogStream::Out => printer.stream_out(bytes),
            LogStream::Err => printer.stream_err(bytes),
        },
        &mut |text| printer.warn(text),
    );
    drop(raw_mode);
    match outcome.map_err(on_error)? {
        // Codes outside 0..=255 cannot be an exit status; they still mean failure.
        ExecOutcome::Exited(code) => Ok(ExitStatus::Tool(u8::try_from(code).unwrap_or(1))),
        // The operator's second Ctrl-C: the command's output already says where it was.
        ExecOutcome::Interrupted(Interruption::Interrupt) => {
            Ok(ExitStatus::Interrupted(Interruption::Interrupt))
        }
        ExecOutcome::Interrupted(which) => {
            printer.warn(stopped);
            Err(Interrupted(which).into())
        }
    }
}

/// Keystrokes from stdin, read on a plain thread: a blocked read there cannot keep
/// the process from exiting once the tool has ended, as tokio's stdin reader would.
pub(crate) fn forward_stdin() -> tokio::sync::mpsc::Receiver<Vec<u8>> {
    let (sender, receiver) = tokio::sync::mpsc::channel(64);
    std::thread::spawn(move || {
        let mut stdin = io::stdin().lock();
        let mut buffer = [0u8; 4096];
        loop {
            match stdin.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if sender.blocking_send(buffer[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    receiver
}

pub(crate) fn terminal_size() -> Option<(u16, u16)> {
    let size = tcgetwinsize(io::stdout()).ok()?;
    (size.ws_col > 0 && size.ws_row > 0).then_some((size.ws_col, size.ws_row))
}

/// The terminal in raw mode while the remote tool owns it (so Ctrl-C, Ctrl-D and
/// arrow keys reach it), restored however the session ends.
pub(crate) struct RawMode {
    saved: Termios,
}

impl RawMode {
    pub(crate) fn enable() -> Option<RawMode> {
        let saved = tcgetattr(io::stdin()).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        tcsetattr(io::stdin(), OptionalActions::Now, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = tcsetattr(io::stdin(), OptionalActions::Now, &self.saved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_only_when_a_shell_would_split_them() {
        let words = |w: &[&str]| shell_line(&w.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(words(&["./caget", "ramper:ioc1"]), "./caget ramper:ioc1");
        assert_eq!(
            words(&["./caput", "a:b", "two words"]),
            "./caput a:b 'two words'"
        );
        assert_eq!(words(&["./x", "it's"]), r"./x 'it'\''s'");
        assert_eq!(words(&["./x", ""]), "./x ''");
    }
}
