//! How long a command waits for the engine: each request by its method, and the
//! whole session, so many slow answers cannot add up.

use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::SwarmError;
use super::cause::{Expired, Limit, Setting};
use crate::settings::EngineLimits;

static LIMITS: OnceLock<EngineLimits> = OnceLock::new();

/// Sets the limits of every engine connection of this process, once, from the
/// settings: engine connections are made deep inside commands and domain modules,
/// and none of them may go without.
pub(crate) fn set_limits(limits: EngineLimits) {
    let _ = LIMITS.set(limits);
}

pub(super) fn limits() -> EngineLimits {
    LIMITS.get().copied().unwrap_or(EngineLimits::DEFAULT)
}

/// The deadlines of one command's engine session: per request (by method), and for
/// everything the command asks together, so many slow answers cannot add up.
pub(super) struct Session {
    pub(super) limits: EngineLimits,
    /// What the whole command may wait, and the setting it comes from.
    pub(super) budget: Limit,
    /// When the command's time is up; None while a stream runs.
    ends: Mutex<Option<Instant>>,
}

impl Session {
    pub(super) fn new(limits: EngineLimits, budget: Limit) -> Arc<Session> {
        Arc::new(Session {
            limits,
            budget,
            ends: Mutex::new(Instant::now().checked_add(budget.time)),
        })
    }

    fn ends(&self) -> Option<Instant> {
        *self.ends.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn set_ends(&self, ends: Option<Instant>) {
        *self.ends.lock().unwrap_or_else(|e| e.into_inner()) = ends;
    }

    /// The time left to the command, or None while it is not counted.
    fn remaining(&self) -> Option<Duration> {
        self.ends()
            .map(|ends| ends.saturating_duration_since(Instant::now()))
    }

    /// How long connecting may take (a few seconds, or less when the command has
    /// less), and the limit to name when it does not make it.
    pub(super) fn connect_limit(&self) -> (Duration, Limit) {
        let own = Limit {
            time: self.limits.connect,
            setting: None,
        };
        match self.remaining() {
            Some(left) if left < own.time => (left, self.budget),
            _ => (own.time, own),
        }
    }

    /// How long a request with `method` may take, and the limit to name when it does
    /// not make it: its own, or the command's when that ends first.
    pub(super) fn request_limit(&self, method: &hyper::Method) -> (Duration, Limit) {
        let own = if method == hyper::Method::GET || method == hyper::Method::HEAD {
            Limit {
                time: self.limits.read,
                setting: Some(Setting::Read),
            }
        } else {
            Limit {
                time: self.limits.write,
                setting: Some(Setting::Write),
            }
        };
        match self.remaining() {
            Some(left) if left < own.time => (left, self.budget),
            _ => (own.time, own),
        }
    }

    /// The command's time ran out.
    pub(super) fn spent(&self) -> SwarmError {
        SwarmError::expired(Expired {
            limit: self.budget,
            connecting: false,
        })
    }
}

/// Runs `future` until the session's time is up.
pub(super) async fn bounded<F: Future>(
    session: &Session,
    future: F,
) -> Result<F::Output, SwarmError> {
    match session.remaining() {
        None => Ok(future.await),
        Some(left) => tokio::time::timeout(left, future)
            .await
            .map_err(|_| session.spent()),
    }
}
