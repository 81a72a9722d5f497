//! The outcome of a command: exit statuses with fixed codes and the usage error that
//! maps to one of them.

use crate::interrupt::Interruption;

/// Outcomes with fixed exit codes (SPEC §6), so scripts can tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExitStatus {
    Success,
    /// The operation failed, or failed for some of several named IOCs.
    Failure,
    /// The command line was wrong in a way only the command could tell.
    Usage,
    /// The Docker engine could not be reached or did not answer in time.
    EngineUnreachable,
    /// `config` of a name it does not know.
    UnknownName,
    /// A check found something to look at: `list -p --check` (an IOC not running,
    /// not healthy or not consistent), `service --check-deploy --exit-code` (drift).
    CheckFailed,
    /// The exit code of a tool run for the operator (`client`), passed through.
    Tool(u8),
    /// Stopped by a signal: the code a shell gives a program that signal stopped.
    Interrupted(Interruption),
}

impl ExitStatus {
    pub(crate) fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Usage => 2,
            ExitStatus::EngineUnreachable => 3,
            ExitStatus::CheckFailed => 4,
            ExitStatus::UnknownName => 10,
            ExitStatus::Tool(code) => code,
            ExitStatus::Interrupted(which) => which.exit_code(),
        }
    }

    /// Failure if any of the per-IOC outcomes failed.
    pub(crate) fn from_failures(failures: usize) -> Self {
        if failures == 0 {
            ExitStatus::Success
        } else {
            ExitStatus::Failure
        }
    }
}

/// A mistake in how the command was called that clap cannot see (e.g. a list
/// condition without `=`): reported like clap's own errors, with exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct UsageError(pub(crate) String);

/// Refuses the first of `options` (name, given) that was given without `action`.
/// clap's `requires` cannot say this when the action is one of an exclusive group:
/// with another action of the group given, the required one conflicts with it, and
/// clap counts that conflict as excusing the requirement (`service --show-info --tail
/// 5` and `list -l --check` would pass, the option silently unused).
pub(crate) fn only_with(action: (&str, bool), options: &[(&str, bool)]) -> Result<(), UsageError> {
    let (action, given) = action;
    match options.iter().find(|(_, used)| *used) {
        Some((option, _)) if !given => Err(UsageError(format!("{option} goes with {action}"))),
        _ => Ok(()),
    }
}
