//! Ctrl-C, SIGTERM and SIGHUP, caught while iocdock holds something it must give
//! back (the terminal's echo or raw mode, a temporary folder with passwords), so the
//! command ends through its normal path: guards are dropped, the error is one line,
//! and the exit code is the one a shell gives a program that signal stopped (130
//! for Ctrl-C, 143 for SIGTERM).
//!
//! Catching lasts for the rest of the process once it has begun: tokio never gives
//! a signal's handler back. So a `Watch` is only taken where the command either keeps
//! watching until it ends or has little left to do afterwards.

use std::io;

use futures_util::FutureExt;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// A signal that stops a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interruption {
    Interrupt,
    Terminate,
    HangUp,
}

impl Interruption {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Interruption::Interrupt => "Ctrl-C (SIGINT)",
            Interruption::Terminate => "SIGTERM",
            Interruption::HangUp => "SIGHUP",
        }
    }

    pub(crate) fn signal(self) -> rustix::process::Signal {
        match self {
            Interruption::Interrupt => rustix::process::Signal::INT,
            Interruption::Terminate => rustix::process::Signal::TERM,
            Interruption::HangUp => rustix::process::Signal::HUP,
        }
    }

    /// The exit code of a program stopped by this signal, as shells report it.
    pub(crate) fn exit_code(self) -> u8 {
        128 + self.signal().as_raw() as u8
    }
}

/// A command stopped by a signal before it was done.
#[derive(Debug, thiserror::Error)]
#[error("stopped by {}", .0.name())]
pub(crate) struct Interrupted(pub(crate) Interruption);

/// The stopping signals, caught from the moment this exists. They may be awaited on
/// any tokio runtime: arrivals are process-wide, not tied to the one that caught them.
pub(crate) struct Signals(Vec<(Interruption, Signal)>);

impl Signals {
    /// Needs a tokio runtime with its signal driver (`enable_all`) entered.
    fn catch() -> io::Result<Signals> {
        [
            (Interruption::Interrupt, SignalKind::interrupt()),
            (Interruption::Terminate, SignalKind::terminate()),
            (Interruption::HangUp, SignalKind::hangup()),
        ]
        .into_iter()
        .map(|(which, kind)| Ok((which, signal(kind)?)))
        .collect::<io::Result<Vec<_>>>()
        .map(Signals)
    }

    /// The next signal to arrive.
    pub(crate) async fn next(&mut self) -> Interruption {
        let arrivals = self
            .0
            .iter_mut()
            .map(|(which, signal)| Box::pin(async move { signal.recv().await.map(|_| *which) }));
        match futures_util::future::select_all(arrivals).await {
            (Some(which), _, _) => which,
            // `recv` never ends with None: tokio keeps the handlers for the process's life.
            (None, _, _) => std::future::pending().await,
        }
    }

    /// A signal that arrived and was not yet looked at, if any.
    fn pending(&mut self) -> Option<Interruption> {
        self.0
            .iter_mut()
            .find_map(|(which, signal)| signal.recv().now_or_never().map(|_| *which))
    }
}

/// Signals caught by a blocking command, on a small runtime of its own.
pub(crate) struct Watch {
    runtime: tokio::runtime::Runtime,
    signals: Signals,
}

impl Watch {
    pub(crate) fn start() -> io::Result<Watch> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let signals = {
            let _context = runtime.enter();
            Signals::catch()?
        };
        Ok(Watch { runtime, signals })
    }

    /// The signals themselves, to await inside another runtime's future.
    pub(crate) fn signals(&mut self) -> &mut Signals {
        &mut self.signals
    }

    /// A signal that arrived since the last look, if any.
    pub(crate) fn arrived(&mut self) -> Option<Interruption> {
        let signals = &mut self.signals;
        self.runtime.block_on(async move {
            // Lets the runtime read the signals that came while it was not running.
            tokio::task::yield_now().await;
            signals.pending()
        })
    }

    /// Runs `work`, which blocks, on a thread of its own and waits for it. A signal
    /// that arrives meanwhile goes to `on_signal`, which says whether to keep waiting
    /// (e.g. after passing it on to a child process) or to stop now, leaving `work`
    /// to the end of the process. Returns what `work` returned, if it did, and the
    /// first signal that arrived.
    pub(crate) fn wait_for<T: Send + 'static>(
        &mut self,
        work: impl FnOnce() -> T + Send + 'static,
        mut on_signal: impl FnMut(Interruption) -> Waiting,
    ) -> (Option<T>, Option<Interruption>) {
        let (done, finished) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let _ = done.send(work());
        });
        let signals = &mut self.signals;
        self.runtime.block_on(async move {
            let mut finished = finished;
            let mut first = None;
            loop {
                tokio::select! {
                    result = &mut finished => return (result.ok(), first),
                    which = signals.next() => {
                        first.get_or_insert(which);
                        if on_signal(which) == Waiting::Stop {
                            return (None, first);
                        }
                    }
                }
            }
        })
    }
}

/// What `Watch::wait_for` does after a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waiting {
    KeepWaiting,
    Stop,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_those_shells_report() {
        assert_eq!(Interruption::Interrupt.exit_code(), 130);
        assert_eq!(Interruption::Terminate.exit_code(), 143);
        assert_eq!(Interruption::HangUp.exit_code(), 129);
    }
}
