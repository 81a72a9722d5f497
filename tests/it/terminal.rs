//! Signals while iocdock has changed the terminal (a password prompt without echo,
//! `client`'s raw mode): the terminal is given back and the exit code is the one a
//! shell gives for that signal. Runs iocdock on a pseudo-terminal made by util-linux
//! `script`, and reads the terminal's modes with `stty -F` from outside.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::TestContext;
use crate::builtin::tool_ready;

const NO_DAEMON: &str = "unix:///nonexistent/iocdock-test/docker.sock";
const LIMIT: Duration = Duration::from_secs(60);

/// iocdock running on a terminal of its own; after it ends, the shell around it
/// prints its exit code and the terminal's modes (`stty -a`).
struct OnTerminal {
    child: Child,
    keys: Option<ChildStdin>,
    screen: Arc<Mutex<Vec<u8>>>,
    home: std::path::PathBuf,
}

impl OnTerminal {
    fn start(t: &TestContext, args: &str, docker_host: Option<&str>) -> OnTerminal {
        // bash survives the Ctrl-C meant for iocdock (a trapped signal is reset to
        // its default in iocdock), so it reports what iocdock left behind.
        let command = format!(
            "trap : INT; '{}' --home '{}' {args}; echo \"exit=$?\"; stty -a",
            crate::bin().display(),
            t.home().display()
        );
        let mut script = Command::new("script");
        script
            .args(["-qec", &command, "/dev/null"])
            .env("SHELL", "/bin/bash")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        if let Some(host) = docker_host {
            script.env("DOCKER_HOST", host);
        }
        let mut child = script.spawn().expect("script");
        let keys = child.stdin.take();
        let mut out = child.stdout.take().expect("script's stdout");
        let screen = Arc::new(Mutex::new(Vec::new()));
        let filled = Arc::clone(&screen);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n @ 1..) = out.read(&mut buffer) {
                filled.lock().unwrap().extend_from_slice(&buffer[..n]);
            }
        });
        OnTerminal {
            child,
            keys,
            screen,
            home: t.home().to_path_buf(),
        }
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().unwrap()).into_owned()
    }

    fn wait_for_screen(&self, text: &str) {
        let start = Instant::now();
        while !self.screen().contains(text) {
            assert!(
                start.elapsed() < LIMIT,
                "no {text:?} on the terminal: {}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn press(&mut self, bytes: &[u8]) {
        let keys = self.keys.as_mut().expect("terminal input");
        keys.write_all(bytes).unwrap();
        keys.flush().unwrap();
    }

    /// The iocdock process (found by its unique home among this user's processes).
    fn iocdock_pid(&self) -> u32 {
        self.running()
            .unwrap_or_else(|| panic!("iocdock is not running: {}", self.screen()))
    }

    fn running(&self) -> Option<u32> {
        let bin = crate::bin();
        let home = self.home.display().to_string();
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .find(|pid| {
                let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                    return false;
                };
                let args: Vec<String> = cmdline
                    .split(|b| *b == 0)
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                args.first().map(std::path::Path::new) == Some(bin.as_path())
                    && args.contains(&home)
            })
    }

    /// The modes of iocdock's terminal while it runs, as `stty -a` words.
    fn modes(&self) -> Vec<String> {
        self.modes_now()
            .unwrap_or_else(|| panic!("iocdock is not running: {}", self.screen()))
    }

    fn modes_now(&self) -> Option<Vec<String>> {
        let tty = std::fs::read_link(format!("/proc/{}/fd/0", self.running()?)).ok()?;
        let out = Command::new("stty")
            .arg("-F")
            .arg(&tty)
            .arg("-a")
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| words(&String::from_utf8_lossy(&out.stdout)))
    }

    /// Waits until the terminal is in a mode (e.g. "-echo"), as iocdock sets it.
    fn wait_for_mode(&self, mode: &str) {
        let start = Instant::now();
        while !self
            .modes_now()
            .is_some_and(|modes| modes.iter().any(|m| m == mode))
        {
            assert!(
                start.elapsed() < LIMIT && !self.screen().contains("exit="),
                "the terminal never got {mode}: {}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(&self, name: &str) {
        let pid = self.iocdock_pid().to_string();
        let status = Command::new("kill")
            .args(["-s", name, &pid])
            .status()
            .unwrap();
        assert!(status.success(), "kill -s {name} {pid}");
    }

    /// Waits for the shell to end; returns what the terminal showed.
    fn finish(mut self) -> String {
        let start = Instant::now();
        loop {
            if self.child.try_wait().unwrap().is_some() {
                break;
            }
            if start.elapsed() > LIMIT {
                let _ = self.child.kill();
                panic!("iocdock did not end: {}", self.screen());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(self.keys.take());
        // The reader thread has the rest once the terminal is closed.
        std::thread::sleep(Duration::from_millis(200));
        self.screen()
    }
}

fn words(text: &str) -> Vec<String> {
    text.split([' ', ';', '\n', '\r'])
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect()
}

/// The exit code and the terminal modes the shell printed after iocdock ended.
fn after(screen: &str) -> (String, Vec<String>) {
    let (_, rest) = screen
        .rsplit_once("exit=")
        .unwrap_or_else(|| panic!("no exit code on the terminal: {screen}"));
    let code = rest.split_whitespace().next().unwrap_or("").to_string();
    (code, words(rest))
}

fn has(modes: &[String], mode: &str) -> bool {
    modes.iter().any(|m| m == mode)
}

#[test]
fn stopping_a_password_prompt_gives_the_echo_back() {
    let test = "stopping_a_password_prompt_gives_the_echo_back";
    if !tool_ready("script", "bsdutils", test) {
        return;
    }
    for (signal, code, said) in [
        ("INT", "130", "stopped by Ctrl-C (SIGINT)"),
        ("TERM", "143", "stopped by SIGTERM"),
    ] {
        let t = TestContext::new();
        let mut terminal =
            OnTerminal::start(&t, "swarm --gen-built-in-services --yes", Some(NO_DAEMON));
        terminal.wait_for_screen("registry_login_username (");
        terminal.press(b"ops\n");
        terminal.wait_for_screen("registry_login_password (");
        // The question shows only once echo is off.
        assert!(has(&terminal.modes(), "-echo"), "{:?}", terminal.modes());
        if signal == "INT" {
            // Ctrl-C as typed: the terminal turns it into SIGINT for iocdock.
            terminal.press(&[0x03]);
        } else {
            terminal.signal(signal);
        }
        let screen = terminal.finish();
        let (exit, modes) = after(&screen);
        assert_eq!(exit, code, "{screen}");
        assert!(has(&modes, "echo") && !has(&modes, "-echo"), "{screen}");
        assert!(screen.contains(said), "{screen}");
        assert!(
            !t.mount().join("swarm").exists(),
            "a stopped prompt wrote files"
        );
    }
}

#[test]
fn stopping_client_gives_the_terminal_back_from_raw_mode() {
    use crate::docker::{StackGuard, docker, docker_ready, swarm_context, unique_prefix};
    let test = "stopping_client_gives_the_terminal_back_from_raw_mode";
    if !docker_ready(test) || !tool_ready("script", "bsdutils", test) {
        return;
    }
    let prefix = unique_prefix("tt");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    crate::status::create_service(
        &prefix,
        "srv-client",
        &["--mode", "global"],
        crate::docker::TEST_IMAGE,
        &["sleep", "100000"],
    );
    let name = format!("{prefix}_srv-client");
    crate::status::wait_for("client task running", LIMIT, || {
        let state = docker(&["service", "ps", "--format", "{{.CurrentState}}", &name]);
        if state.starts_with("Running") {
            Ok(())
        } else {
            Err(state)
        }
    });
    // Without EPICS base in its environment the client runs the tool from PATH.
    let terminal = OnTerminal::start(&t, "client sleep 300", None);
    terminal.wait_for_mode("-icanon");
    assert!(has(&terminal.modes(), "-echo"), "{:?}", terminal.modes());
    terminal.signal("TERM");
    let screen = terminal.finish();
    let (exit, modes) = after(&screen);
    assert_eq!(exit, "143", "{screen}");
    for mode in ["echo", "icanon", "isig"] {
        assert!(has(&modes, mode), "{mode} not back: {screen}");
    }
    assert!(screen.contains("stopped by SIGTERM"), "{screen}");
}
