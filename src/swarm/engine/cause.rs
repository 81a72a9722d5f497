//! Why an engine request failed, in the operator's words: the cause as the OS reported
//! it (found by walking the error's sources down to the `io::Error`, past the client
//! library's "client error (Connect)") and what to do about it.

use std::error::Error;
use std::fmt;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

/// Which setting a deadline comes from, so a timeout can name what to raise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Setting {
    Read,
    Write,
}

impl Setting {
    fn names(self) -> &'static str {
        match self {
            Setting::Read => "engine_read_timeout (IOCDOCK_ENGINE_READ_TIMEOUT)",
            Setting::Write => "engine_write_timeout (IOCDOCK_ENGINE_WRITE_TIMEOUT)",
        }
    }
}

/// A deadline: how long, and the setting it comes from (None for fixed ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limit {
    pub(crate) time: Duration,
    pub(crate) setting: Option<Setting>,
}

/// A deadline that passed: while connecting, or while waiting for the answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expired {
    pub(crate) limit: Limit,
    pub(crate) connecting: bool,
}

impl fmt::Display for Expired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.connecting {
            "connecting"
        } else {
            "waiting for an answer"
        };
        write!(f, "timed out after {} {what}", seconds(self.limit.time))
    }
}

impl Error for Expired {}

impl Expired {
    /// As the error of a request, for bollard to hand back.
    pub(crate) fn into_request_error(self) -> bollard::errors::Error {
        bollard::errors::Error::from(io::Error::new(io::ErrorKind::TimedOut, self))
    }

    fn hint(&self) -> String {
        if self.connecting {
            return "nothing answered the connection: check that the engine's host is up and reachable and that DOCKER_HOST names it".to_string();
        }
        let mut hint = "the engine took the connection but did not answer (hung, frozen or overloaded): check dockerd on that host".to_string();
        if let Some(setting) = self.limit.setting {
            hint.push_str(&format!(
                "; {} sets how long iocdock waits",
                setting.names()
            ));
        }
        hint
    }
}

/// `3 s`, `2.5 s`, `0.25 s`.
pub(crate) fn seconds(time: Duration) -> String {
    let text = format!("{:.3}", time.as_secs_f64());
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} s")
}

/// The cause of a failed engine request and a hint, or None when the engine answered
/// (an error status or an answer iocdock could not read is not a connection problem).
pub(crate) struct Failure {
    pub(crate) cause: String,
    pub(crate) hint: String,
}

/// What the error's sources say about a failed request.
#[derive(Default)]
struct Trace<'a> {
    expired: Option<&'a Expired>,
    connecting: bool,
    /// The innermost `io::Error`: the one the OS reported.
    io: Option<&'a io::Error>,
    /// Something below the HTTP answer failed: the connection, or the wait for it.
    transport: bool,
    /// Text of the innermost error (a TLS alert, "connection closed before message
    /// completed", ...), for causes without an OS error.
    innermost: String,
}

/// Walks `error` and its sources. `io::Error` and bollard's I/O variant hide the error
/// they carry from `source()`, so they are opened by hand.
fn trace<'a>(error: &'a (dyn Error + 'static)) -> Trace<'a> {
    let mut found = Trace::default();
    let mut next = Some(error);
    while let Some(current) = next {
        found.innermost = current.to_string();
        next = current.source();
        if let Some(expired) = current.downcast_ref::<Expired>() {
            found.expired = Some(expired);
            found.transport = true;
        } else if let Some(e) = current.downcast_ref::<io::Error>() {
            found.io = Some(e);
            found.transport = true;
            next = e.get_ref().map(|inner| inner as &(dyn Error + 'static));
        } else if let Some(e) = current.downcast_ref::<hyper_util::client::legacy::Error>() {
            found.connecting |= e.is_connect();
            found.transport = true;
        } else if current.downcast_ref::<hyper::Error>().is_some() {
            found.transport = true;
        } else if let Some(e) = current.downcast_ref::<bollard::errors::Error>() {
            match e {
                bollard::errors::Error::IOError { err } => next = Some(err),
                bollard::errors::Error::HyperLegacyError { err } => next = Some(err),
                bollard::errors::Error::RequestTimeoutError => found.transport = true,
                _ => {}
            }
        }
    }
    found
}

/// Whether `error` is a connection error of the kind a hung engine gives: a connect
/// that timed out (hyper-util's connect timeout has no OS error, only its kind).
pub(crate) fn is_connect_timeout(error: &(dyn Error + 'static)) -> bool {
    let found = trace(error);
    found.connecting
        && found
            .io
            .is_some_and(|e| e.kind() == io::ErrorKind::TimedOut)
}

/// The failure `error` stands for when the engine at `endpoint` could not be used.
pub(crate) fn failure(error: &(dyn Error + 'static), endpoint: &str) -> Option<Failure> {
    let found = trace(error);
    if !found.transport {
        return None;
    }
    if let Some(expired) = found.expired {
        return Some(Failure {
            cause: expired.to_string(),
            hint: expired.hint(),
        });
    }
    if let Some(io) = found.io
        && io.raw_os_error().is_some()
    {
        return Some(of_io(io, found.connecting, endpoint));
    }
    Some(Failure {
        cause: found.innermost,
        hint: GENERIC_HINT.to_string(),
    })
}

const GENERIC_HINT: &str = "is dockerd running? set DOCKER_HOST to use another";

fn start_hint() -> String {
    "start the engine (systemctl start docker), or point DOCKER_HOST at a running one".to_string()
}

/// The failure an OS error stands for, connecting to `endpoint` or talking to it.
pub(crate) fn of_io(error: &io::Error, connecting: bool, endpoint: &str) -> Failure {
    use rustix::io::Errno;
    let socket = endpoint.strip_prefix("unix://").map(Path::new);
    let generic = || Failure {
        cause: os_text(error),
        hint: GENERIC_HINT.to_string(),
    };
    let Some(code) = Errno::from_io_error(error) else {
        return generic();
    };
    match (code, socket) {
        (Errno::NOENT, Some(path)) => Failure {
            cause: format!(
                "no such file or directory: {} (no engine listens there)",
                path.display()
            ),
            hint: start_hint(),
        },
        (Errno::ACCESS | Errno::PERM, Some(path)) => permission_denied(path),
        (Errno::CONNREFUSED, Some(path)) => Failure {
            cause: format!(
                "connection refused: {} is a socket no engine listens on (left by an engine that stopped?)",
                path.display()
            ),
            hint: start_hint(),
        },
        (Errno::CONNREFUSED, None) => Failure {
            cause: "connection refused (the host answers, but nothing listens on that port)"
                .to_string(),
            hint: "check that the engine listens there (dockerd -H tcp://...) and the port in DOCKER_HOST".to_string(),
        },
        (Errno::HOSTUNREACH | Errno::NETUNREACH, _) => Failure {
            cause: os_text(error),
            hint: "check the host in DOCKER_HOST, that it is up and that this machine can reach it"
                .to_string(),
        },
        (Errno::AGAIN, Some(_)) if connecting => Failure {
            cause: "resource temporarily unavailable (the engine takes no more connections)"
                .to_string(),
            hint: "the engine is hung or overloaded: check dockerd on that host".to_string(),
        },
        (Errno::TIMEDOUT, _) if connecting => Failure {
            cause: "connection timed out (the host did not answer)".to_string(),
            hint: "check that the engine's host is up and reachable and that DOCKER_HOST names it"
                .to_string(),
        },
        _ => generic(),
    }
}

/// The OS's words for an error, without Rust's "(os error N)": `no route to host`.
fn os_text(error: &io::Error) -> String {
    let text = error.to_string();
    let text = match text.find(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

/// Permission denied on the engine's socket: who owns it, its mode, who may use it
/// and who iocdock runs as. Connecting needs write permission on the socket file.
fn permission_denied(path: &Path) -> Failure {
    let me = Identity::current();
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(_) => {
            return Failure {
                cause: format!(
                    "permission denied: {} may not search a folder above {}",
                    me.describe(),
                    path.display()
                ),
                hint: "run iocdock as root, or let its user reach the engine's socket".to_string(),
            };
        }
    };
    let mode = metadata.mode() & 0o7777;
    let owner = user_name(metadata.uid());
    let group = group_name(metadata.gid());
    let mut allowed = vec!["root".to_string()];
    if mode & 0o200 != 0 && metadata.uid() != 0 {
        allowed.push(format!("user {owner}"));
    }
    if mode & 0o020 != 0 {
        allowed.push(format!("members of group {group}"));
    }
    let who = if mode & 0o002 != 0 {
        "everyone may use it".to_string()
    } else if allowed.len() == 1 {
        "only root may use it".to_string()
    } else {
        format!("{} may use it", join_words(&allowed))
    };
    let hint = if mode & 0o020 != 0 && metadata.gid() != 0 {
        format!(
            "run iocdock as root or as a member of group {group} (usermod -aG {group} USER, then log in again)"
        )
    } else {
        "run iocdock as root".to_string()
    };
    Failure {
        cause: format!(
            "permission denied on the socket {} (owner {owner}, group {group}, mode {mode:04o}: {who}; iocdock runs as {})",
            path.display(),
            me.describe()
        ),
        hint,
    }
}

fn join_words(words: &[String]) -> String {
    match words {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The user iocdock runs as, for permission messages.
struct Identity {
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
}

impl Identity {
    fn current() -> Identity {
        Identity {
            uid: rustix::process::geteuid().as_raw(),
            gid: rustix::process::getegid().as_raw(),
            groups: rustix::process::getgroups()
                .map(|g| g.into_iter().map(|g| g.as_raw()).collect())
                .unwrap_or_default(),
        }
    }

    fn describe(&self) -> String {
        let mut groups: Vec<String> = Vec::new();
        for gid in std::iter::once(self.gid).chain(self.groups.iter().copied()) {
            let name = group_name(gid);
            if !groups.contains(&name) {
                groups.push(name);
            }
        }
        format!(
            "user {} (uid {}, groups {})",
            user_name(self.uid),
            self.uid,
            groups.join(", ")
        )
    }
}

/// The name of an id in a `name:x:id:...` database (`/etc/passwd`, `/etc/group`), or
/// the number when it has none.
fn name_in(database: &str, id: u32) -> String {
    std::fs::read_to_string(database)
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                let number = fields.nth(1)?;
                (number.parse::<u32>().ok()? == id).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| id.to_string())
}

fn user_name(uid: u32) -> String {
    name_in("/etc/passwd", uid)
}

fn group_name(gid: u32) -> String {
    name_in("/etc/group", gid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::io::Errno;

    fn io(code: i32) -> io::Error {
        io::Error::from_raw_os_error(code)
    }

    #[test]
    fn os_errors_read_as_the_os_words_them() {
        let tcp = "tcp://10.0.0.9:2376";
        let f = of_io(&io(Errno::HOSTUNREACH.raw_os_error()), true, tcp);
        assert_eq!(f.cause, "no route to host");
        assert!(f.hint.contains("DOCKER_HOST"), "{}", f.hint);
        let f = of_io(&io(Errno::CONNREFUSED.raw_os_error()), true, tcp);
        assert!(f.cause.starts_with("connection refused"), "{}", f.cause);
        let f = of_io(&io(Errno::NETUNREACH.raw_os_error()), true, tcp);
        assert_eq!(f.cause, "network is unreachable");

        let unix = "unix:///run/none/docker.sock";
        let f = of_io(&io(Errno::NOENT.raw_os_error()), true, unix);
        assert_eq!(
            f.cause,
            "no such file or directory: /run/none/docker.sock (no engine listens there)"
        );
        assert!(f.hint.contains("systemctl start docker"), "{}", f.hint);
        let f = of_io(&io(Errno::CONNREFUSED.raw_os_error()), true, unix);
        assert!(
            f.cause
                .starts_with("connection refused: /run/none/docker.sock is a socket"),
            "{}",
            f.cause
        );
    }

    #[test]
    fn the_cause_is_found_below_the_client_library_wrappers() {
        // As the transport hands it to bollard: an I/O error carrying another error
        // that carries the OS error.
        #[derive(Debug)]
        struct Wrapper(io::Error);
        impl fmt::Display for Wrapper {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("client error (Connect)")
            }
        }
        impl Error for Wrapper {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                Some(&self.0)
            }
        }
        let error = bollard::errors::Error::from(io::Error::other(Wrapper(io(
            Errno::HOSTUNREACH.raw_os_error()
        ))));
        let f = failure(&error, "tcp://10.0.0.9:2376").expect("a connection failure");
        assert_eq!(f.cause, "no route to host");

        let expired = Expired {
            limit: Limit {
                time: Duration::from_millis(2500),
                setting: Some(Setting::Read),
            },
            connecting: false,
        };
        let f = failure(&expired.into_request_error(), "unix:///x").expect("a timeout");
        assert_eq!(f.cause, "timed out after 2.5 s waiting for an answer");
        assert!(f.hint.contains("IOCDOCK_ENGINE_READ_TIMEOUT"), "{}", f.hint);

        // An answer of the engine is no connection failure.
        let answered = bollard::errors::Error::DockerResponseServerError {
            status_code: 503,
            message: "This node is not a swarm manager.".to_string(),
        };
        assert!(failure(&answered, "unix:///x").is_none());
    }

    #[test]
    fn seconds_read_naturally() {
        assert_eq!(seconds(Duration::from_secs(10)), "10 s");
        assert_eq!(seconds(Duration::from_millis(2500)), "2.5 s");
        assert_eq!(seconds(Duration::from_millis(250)), "0.25 s");
    }

    #[test]
    fn who_may_use_a_socket_is_said_from_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("engine.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
        let f = permission_denied(&path);
        assert!(
            f.cause.contains("mode 0000: only root may use it"),
            "{}",
            f.cause
        );
        assert_eq!(f.hint, "run iocdock as root");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660)).unwrap();
        let f = permission_denied(&path);
        assert!(f.cause.contains("mode 0660: "), "{}", f.cause);
        assert!(f.cause.contains("iocdock runs as user "), "{}", f.cause);
    }
}
