//! The shipped playbooks and the runs of `ansible` / `ansible-playbook` over them.
//!
//! The playbooks are compiled into the binary, so a bare install has them, and are
//! written out to `$ANSIBLE_PATH` (by `init` and before every run) because ansible reads
//! them from disk. A file the operator changed there is kept: the new shipped version
//! goes beside it as `<file>.iocdock-new`. Settings reach the playbooks as extra vars in
//! a file of a private temporary folder, never written into `$ANSIBLE_PATH`, since they
//! carry passwords. Every string in that file is marked `!unsafe`, so ansible never
//! evaluates a `{{ }}` a setting holds, and the folder is removed however the run ends:
//! normally, with an error, or by Ctrl-C, SIGTERM or SIGHUP.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

use super::inventory::InventoryKind;
use super::{BadSetting, certs_dir, registry_name};
use crate::fsutil::{self, FsError, IoContext};
use crate::interrupt::{Interruption, Waiting, Watch};
use crate::process::{Exit, shell_word};
use crate::settings::Settings;

macro_rules! shipped {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/ansible/", $path)))),*]
    };
}

/// Relative path and contents of every file of the shipped ansible folder.
pub(crate) const SHIPPED: &[(&str, &str)] = shipped![
    "ansible.cfg",
    "create-remote-user.yml",
    "set-up-ssh-connection.yml",
    "set-up-basic-environment.yml",
    "set-up-swarm.yml",
    "set-up-file-and-dir.yml",
    "set-up-root-cert.yml",
    "set-up-engine-tls.yml",
    "registry-login.yml",
    "roles/iocdock_vars/tasks/main.yml",
    "roles/working_user/defaults/main.yml",
    "roles/working_user/tasks/main.yml",
    "roles/ssh_keys/defaults/main.yml",
    "roles/ssh_keys/tasks/main.yml",
    "roles/base_packages/defaults/main.yml",
    "roles/base_packages/tasks/main.yml",
    "roles/docker_engine/defaults/main.yml",
    "roles/docker_engine/handlers/main.yml",
    "roles/docker_engine/tasks/main.yml",
    "roles/swarm/defaults/main.yml",
    "roles/swarm/tasks/init.yml",
    "roles/swarm/tasks/join.yml",
    "roles/nfs_mount/defaults/main.yml",
    "roles/nfs_mount/tasks/main.yml",
    "roles/service_folders/defaults/main.yml",
    "roles/service_folders/tasks/main.yml",
    "roles/root_cert/defaults/main.yml",
    "roles/root_cert/handlers/main.yml",
    "roles/root_cert/tasks/main.yml",
    "roles/registry_login/defaults/main.yml",
    "roles/registry_login/tasks/main.yml",
    "roles/engine_tls/defaults/main.yml",
    "roles/engine_tls/handlers/main.yml",
    "roles/engine_tls/tasks/main.yml",
];

/// Records what iocdock last wrote to each file, to tell its own files (safe to
/// upgrade) from files an operator changed (kept).
const MANIFEST: &str = ".iocdock-shipped";
const NEW_SUFFIX: &str = ".iocdock-new";

#[derive(Debug, thiserror::Error)]
pub(crate) enum ClusterError {
    #[error(transparent)]
    Setting(#[from] BadSetting),
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{0}: no inventory; run `iocdock cluster --gen-inventory-files` first")]
    NoInventory(PathBuf),
    #[error(
        "{program} not found: install ansible-core (Debian: `apt-get install ansible-core`, or `pip install ansible-core`)"
    )]
    AnsibleMissing { program: &'static str },
    #[error("cannot run {program}: {cause}")]
    Spawn {
        program: &'static str,
        cause: io::Error,
    },
    #[error("{what} failed ({status}); see ansible's output above")]
    AnsibleFailed { what: String, status: String },
    #[error("{0} does not exist: run `iocdock make-certs` first")]
    NoRootCertificate(PathBuf),
    #[error("{0} does not exist: run `iocdock make-certs --node-engines` first")]
    NoEngineCertificates(PathBuf),
    #[error(
        "{file}: set registry_login_username and registry_login_password to log in to the registry"
    )]
    NoRegistryCredentials { file: PathBuf },
    #[error("cannot watch for Ctrl-C and SIGTERM: {0}")]
    Signals(io::Error),
    #[error("stopped by {}; ansible was stopped and its temporary files removed", .0.name())]
    Interrupted(Interruption),
}

/// What `install` did, for the command to report.
#[derive(Debug, Default)]
pub(crate) struct InstallReport {
    /// Files written because they were missing or still as iocdock wrote them.
    pub(crate) written: Vec<PathBuf>,
    /// Files changed by the operator, kept; the shipped version is beside each one.
    pub(crate) kept: Vec<(PathBuf, PathBuf)>,
}

/// FNV-1a: a hash that stays the same across Rust versions, so a manifest written by
/// one build of iocdock is read correctly by the next.
fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn read_manifest(path: &Path) -> BTreeMap<String, u64> {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let (hash, file) = line.split_once(' ')?;
            Some((file.to_string(), u64::from_str_radix(hash, 16).ok()?))
        })
        .collect()
}

/// Writes the shipped files into `dir`, upgrading the ones iocdock wrote before and
/// keeping the ones an operator changed.
pub(crate) fn install(dir: &Path) -> Result<InstallReport, FsError> {
    let manifest_path = dir.join(MANIFEST);
    let recorded = read_manifest(&manifest_path);
    let mut next = BTreeMap::new();
    let mut report = InstallReport::default();
    for (relative, contents) in SHIPPED {
        let target = dir.join(relative);
        let shipped = fingerprint(contents.as_bytes());
        let beside = PathBuf::from(format!("{}{NEW_SUFFIX}", target.display()));
        let current = match fs::read(&target) {
            Ok(bytes) => Some(fingerprint(&bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).at(&target, "cannot read"),
        };
        match current {
            Some(hash) if hash == shipped => {
                next.insert(relative.to_string(), shipped);
                if beside.exists() {
                    fs::remove_file(&beside).at(&beside, "cannot remove")?;
                }
            }
            Some(hash) if recorded.get(*relative) != Some(&hash) => {
                fsutil::write_if_changed(&beside, contents.as_bytes(), 0o644)?;
                if let Some(old) = recorded.get(*relative) {
                    next.insert(relative.to_string(), *old);
                }
                report.kept.push((target, beside));
            }
            _ => {
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent).at(parent, "cannot create folder")?;
                }
                fsutil::atomic_write(&target, contents.as_bytes(), 0o644)?;
                next.insert(relative.to_string(), shipped);
                report.written.push(target);
            }
        }
    }
    let manifest: String = next
        .iter()
        .map(|(file, hash)| format!("{hash:016x} {file}\n"))
        .collect();
    fsutil::write_if_changed(&manifest_path, manifest.as_bytes(), 0o644)?;
    Ok(report)
}

/// The set-up steps of SPEC §6, each one playbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Playbook {
    CreateRemoteUser,
    SetUpSshConnection,
    SetUpBasicEnvironment,
    SetUpSwarm,
    SetUpFileAndDir,
    SetUpRootCert,
    SetUpEngineTls,
    RegistryLogin,
}

impl Playbook {
    /// What `--set-up-cluster` runs, in order. The root certificate and the registry
    /// login are left out: the CA is made after the run directory is mounted (it lives
    /// there), and the registry runs as a service of the swarm this sets up.
    pub(crate) const SET_UP_CLUSTER: [Playbook; 5] = [
        Playbook::CreateRemoteUser,
        Playbook::SetUpSshConnection,
        Playbook::SetUpBasicEnvironment,
        Playbook::SetUpSwarm,
        Playbook::SetUpFileAndDir,
    ];

    pub(crate) fn file(self) -> &'static str {
        match self {
            Playbook::CreateRemoteUser => "create-remote-user.yml",
            Playbook::SetUpSshConnection => "set-up-ssh-connection.yml",
            Playbook::SetUpBasicEnvironment => "set-up-basic-environment.yml",
            Playbook::SetUpSwarm => "set-up-swarm.yml",
            Playbook::SetUpFileAndDir => "set-up-file-and-dir.yml",
            Playbook::SetUpRootCert => "set-up-root-cert.yml",
            Playbook::SetUpEngineTls => "set-up-engine-tls.yml",
            Playbook::RegistryLogin => "registry-login.yml",
        }
    }

    /// Checks what the playbook needs from this machine, so a missing certificate or
    /// password is one line here rather than a failure on every node.
    pub(crate) fn preflight(self, settings: &Settings) -> Result<(), ClusterError> {
        let ca = certs_dir(&settings.paths.mount).join("ca.crt");
        match self {
            Playbook::SetUpRootCert if !ca.is_file() => Err(ClusterError::NoRootCertificate(ca)),
            Playbook::SetUpEngineTls => {
                let engines = engines_dir(settings);
                if engines.is_dir() {
                    Ok(())
                } else {
                    Err(ClusterError::NoEngineCertificates(engines))
                }
            }
            Playbook::RegistryLogin => {
                if settings.registry_login_username.is_empty()
                    || settings.registry_login_password.is_empty()
                {
                    return Err(ClusterError::NoRegistryCredentials {
                        file: settings.settings_file(),
                    });
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Where `make-certs --node-engines` puts each node's engine certificates.
fn engines_dir(settings: &Settings) -> PathBuf {
    super::certs::engines_dir(&super::certs::CertFiles::of(settings))
}

/// The variables the playbooks read, from the settings (checked first).
pub(crate) fn extra_vars(settings: &Settings) -> Result<serde_json::Value, BadSetting> {
    crate::schema::settings::ensure(
        settings,
        &[
            "registry_master_ip",
            "swarm_advertise_ip",
            "ansible_for_user",
            "swarm_advertise_interface",
        ],
    )?;
    let registry = registry_name(settings)?;
    let for_user = settings.ansible_for_user.trim();
    let interface = settings.swarm_advertise_interface.trim();
    let ssh_user = settings.ansible_ssh_user.trim();
    let mount = settings.paths.mount.display().to_string();
    Ok(serde_json::json!({
        // Connecting as root needs no privilege escalation, and a minimal Debian node
        // has no sudo to escalate with.
        "iocdock_become": ssh_user != "root",
        "iocdock_mount_path": mount,
        "prefix_stack_name": settings.prefix_stack_name,
        "registry_common_name": registry,
        "registry_port": settings.registry_port,
        // Only the port: nodes log in with the pull identity alone, so the push
        // identity never leaves the manager's settings.
        "registry_push_port": settings.registry_push_port,
        "registry_master_ip": settings.registry_master_ip.trim(),
        "registry_login_username": settings.registry_login_username,
        "registry_login_password": settings.registry_login_password,
        "registry_ca_file": certs_dir(&settings.paths.mount).join("ca.crt"),
        "iocdock_engines_dir": engines_dir(settings),
        // The port iocdock connects to on every node (Docker's TLS port).
        "engine_tls_port": super::certs::ENGINE_TLS_PORT,
        "swarm_advertise_ip": settings.swarm_advertise_ip.trim(),
        "swarm_advertise_interface": interface,
        "ansible_ssh_user": ssh_user,
        "ansible_for_user": for_user,
        "ansible_create_password": settings.ansible_create_password,
        "mount_dir_nfs_mount_src": settings.mount_dir_nfs_mount_src.trim(),
        "registry_nfs_mount_src": settings.registry_nfs_mount_src.trim(),
        // Where every engine serves its metrics: the port prometheus scrapes.
        "docker_metrics_port": super::DOCKER_METRICS_PORT,
    }))
}

/// A double-quoted YAML scalar. Everything but printable ASCII is escaped, since YAML
/// readers refuse some characters written as they are.
fn yaml_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            c if u32::from(c) <= 0xffff => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\U{:08x}", u32::from(c));
            }
        }
    }
    out.push('"');
    out
}

/// A value as YAML in flow style with every string tagged `!unsafe`: ansible then
/// takes it as data and never evaluates `{{ }}` or `{% %}` inside it.
fn unsafe_yaml(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::String(text) => format!("!unsafe {}", yaml_quoted(text)),
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(unsafe_yaml).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", yaml_quoted(k), unsafe_yaml(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The extra-vars file: one top-level variable per line.
fn vars_file(vars: &serde_json::Value) -> String {
    match vars {
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{}: {}\n", yaml_quoted(k), unsafe_yaml(v)))
            .collect(),
        other => format!("{}\n", unsafe_yaml(other)),
    }
}

const VARS_FILE: &str = "vars.yml";

/// Ansible runs in `$ANSIBLE_PATH` against one inventory with the settings' variables.
pub(crate) struct Ansible {
    dir: PathBuf,
    inventory: PathBuf,
    inventory_shown: String,
    // Holds the vars file; removed (with the passwords in it) when this is dropped,
    // which a stopping signal no longer prevents while `watch` lives.
    vars: tempfile::TempDir,
    watch: Watch,
}

/// One command line, with the form shown to the operator (without the vars file).
pub(crate) struct Invocation {
    program: &'static str,
    args: Vec<OsString>,
    pub(crate) shown: String,
}

impl Ansible {
    pub(crate) fn new(settings: &Settings, kind: InventoryKind) -> Result<Self, ClusterError> {
        let dir = settings.paths.ansible.clone();
        let inventory = kind.path(&dir);
        if !inventory.is_file() {
            return Err(ClusterError::NoInventory(inventory));
        }
        let vars_json = extra_vars(settings)?;
        let watch = Watch::start().map_err(ClusterError::Signals)?;
        let vars = tempfile::Builder::new()
            .prefix("iocdock-ansible-")
            .permissions(fs::Permissions::from_mode(0o700))
            .tempdir()
            .at(&std::env::temp_dir(), "cannot create a temporary folder")?;
        let file = vars.path().join(VARS_FILE);
        fsutil::atomic_write(&file, vars_file(&vars_json).as_bytes(), 0o600)?;
        Ok(Ansible {
            dir,
            inventory,
            inventory_shown: format!("inventory/{}", kind.file_name()),
            vars,
            watch,
        })
    }

    fn invocation(&self, program: &'static str, rest: &[String]) -> Invocation {
        let mut args: Vec<OsString> = vec![
            "-i".into(),
            self.inventory.clone().into(),
            "-e".into(),
            format!("@{}", self.vars.path().join(VARS_FILE).display()).into(),
        ];
        args.extend(rest.iter().map(OsString::from));
        let shown = std::iter::once(format!("{program} -i {}", self.inventory_shown))
            .chain(rest.iter().map(|a| shell_word(a)))
            .collect::<Vec<_>>()
            .join(" ");
        Invocation {
            program,
            args,
            shown,
        }
    }

    /// `ansible-playbook PLAYBOOK EXTRA...`.
    pub(crate) fn playbook(&self, playbook: Playbook, extra: &[String]) -> Invocation {
        let mut rest = vec![playbook.file().to_string()];
        rest.extend(extra.iter().cloned());
        self.invocation("ansible-playbook", &rest)
    }

    /// `ansible ARGS...` (ad-hoc commands and `iocdock ansible --`).
    pub(crate) fn adhoc(&self, args: &[String]) -> Invocation {
        self.invocation("ansible", args)
    }

    /// Runs the command with the terminal's stdin, stdout and stderr (ansible's output
    /// is what the operator wants to see, and `--ask-pass` must be able to ask).
    /// A stopping signal stops ansible and is returned as `Interrupted`.
    pub(crate) fn run(&mut self, invocation: &Invocation) -> Result<(), ClusterError> {
        if let Some(which) = self.watch.arrived() {
            return Err(ClusterError::Interrupted(which));
        }
        let mut child = Command::new(invocation.program)
            .args(&invocation.args)
            .current_dir(&self.dir)
            // ansible ignores an ansible.cfg in a world-writable working folder.
            .env("ANSIBLE_CONFIG", self.dir.join("ansible.cfg"))
            .spawn()
            .map_err(|source| {
                if source.kind() == io::ErrorKind::NotFound {
                    ClusterError::AnsibleMissing {
                        program: invocation.program,
                    }
                } else {
                    ClusterError::Spawn {
                        program: invocation.program,
                        cause: source,
                    }
                }
            })?;
        let pid = rustix::process::Pid::from_child(&child);
        let (status, interrupted) = self.watch.wait_for(
            move || child.wait(),
            |which| {
                // A terminal's Ctrl-C reaches ansible too; a signal sent to iocdock
                // alone has to be passed on. Ansible then ends, and is waited for.
                let _ = rustix::process::kill_process(pid, which.signal());
                Waiting::KeepWaiting
            },
        );
        let status = status.unwrap_or_else(|| Err(io::Error::other("lost the ansible process")));
        if let Some(which) = interrupted {
            return Err(ClusterError::Interrupted(which));
        }
        let status = status.map_err(|source| ClusterError::Spawn {
            program: invocation.program,
            cause: source,
        })?;
        if status.success() {
            Ok(())
        } else {
            Err(ClusterError::AnsibleFailed {
                what: invocation.shown.clone(),
                status: describe(status),
            })
        }
    }
}

fn describe(status: ExitStatus) -> String {
    match Exit::of(status) {
        Exit::Code(code) => format!("exit code {code}"),
        Exit::Signal(signal) => format!("killed by signal {signal}"),
        Exit::Other(text) => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_the_ansible_folder_is_shipped() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("ansible");
        let on_disk: Vec<String> = fsutil::files_below(&root)
            .into_keys()
            .map(|p| p.display().to_string())
            .collect();
        let mut shipped: Vec<String> = SHIPPED.iter().map(|(p, _)| p.to_string()).collect();
        shipped.sort();
        assert_eq!(on_disk, shipped);
    }

    #[test]
    fn install_upgrades_own_files_and_keeps_edited_ones() {
        let dir = tempfile::tempdir().unwrap();
        let first = install(dir.path()).unwrap();
        assert_eq!(first.written.len(), SHIPPED.len());
        assert!(first.kept.is_empty());
        assert!(install(dir.path()).unwrap().written.is_empty());

        // A file iocdock wrote that has since changed in the binary is upgraded...
        let cfg = dir.path().join("ansible.cfg");
        let manifest = dir.path().join(MANIFEST);
        let old = "old shipped version\n";
        fs::write(&cfg, old).unwrap();
        let text = fs::read_to_string(&manifest).unwrap().replace(
            &format!("{:016x} ansible.cfg", fingerprint(SHIPPED[0].1.as_bytes())),
            &format!("{:016x} ansible.cfg", fingerprint(old.as_bytes())),
        );
        fs::write(&manifest, text).unwrap();
        let report = install(dir.path()).unwrap();
        assert_eq!(report.written, vec![cfg.clone()]);
        assert_eq!(fs::read_to_string(&cfg).unwrap(), SHIPPED[0].1);

        // ...one the operator changed is kept, with the shipped version beside it.
        let playbook = dir.path().join("set-up-swarm.yml");
        fs::write(&playbook, "# site version\n").unwrap();
        let report = install(dir.path()).unwrap();
        assert!(report.written.is_empty());
        assert_eq!(report.kept.len(), 1);
        assert_eq!(
            fs::read_to_string(&playbook).unwrap(),
            "# site version\n",
            "an edited playbook must survive"
        );
        let beside = dir.path().join("set-up-swarm.yml.iocdock-new");
        assert!(beside.is_file());
        // Putting the shipped text back makes it iocdock's own file again.
        fs::write(&playbook, fs::read(&beside).unwrap()).unwrap();
        let report = install(dir.path()).unwrap();
        assert!(report.kept.is_empty());
        assert!(!beside.exists());
    }

    #[test]
    fn every_string_of_the_vars_file_is_unsafe_and_quoted() {
        let vars = serde_json::json!({
            "password": "{{ lookup('pipe', 'id') }}",
            "odd": "a\"b\\c\nd\u{85}\u{1f600}",
            "port": 5443,
            "become": false,
            "list": ["x", 1],
        });
        assert_eq!(
            vars_file(&vars),
            "\"become\": false\n\
             \"list\": [!unsafe \"x\", 1]\n\
             \"odd\": !unsafe \"a\\\"b\\\\c\\u000ad\\u0085\\U0001f600\"\n\
             \"password\": !unsafe \"{{ lookup('pipe', 'id') }}\"\n\
             \"port\": 5443\n"
        );
    }

    #[test]
    fn playbooks_get_the_pull_identity_only() {
        let settings = crate::settings::for_test(
            "registry_login_username: puller\nregistry_login_password: pull-secret\n\
             registry_push_username: pusher\nregistry_push_password: push-secret\n",
        );
        let vars = extra_vars(&settings).unwrap().to_string();
        assert!(
            vars.contains("\"registry_login_username\":\"puller\""),
            "{vars}"
        );
        assert!(vars.contains("pull-secret"), "{vars}");
        assert!(vars.contains("\"registry_push_port\":4443"), "{vars}");
        assert!(vars.contains("\"docker_metrics_port\":9323"), "{vars}");
        assert!(
            !vars.contains("pusher") && !vars.contains("push-secret"),
            "{vars}"
        );
    }

    #[test]
    fn shown_command_lines_quote_what_the_shell_would_split() {
        assert_eq!(shell_word("all"), "all");
        assert_eq!(shell_word("--limit=w1"), "--limit=w1");
        assert_eq!(shell_word("echo hi"), "'echo hi'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }
}
