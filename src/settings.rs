//! Paths and settings: defaults, `$IOCDOCK_HOME/settings.yaml`, environment and flags
//! resolved once into one typed `Settings`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_yaml::Value;

use crate::swarm::engine::EngineLimits;

pub(crate) const DEFAULT_HOME: &str = "/opt/IocDockHome";
pub(crate) const SETTINGS_FILE: &str = "settings.yaml";

#[derive(Debug, thiserror::Error)]
pub(crate) enum SettingsError {
    #[error("{file}: cannot read: {cause}")]
    Read {
        file: PathBuf,
        cause: std::io::Error,
    },
    #[error("{file}: not valid YAML: {message}")]
    Syntax { file: PathBuf, message: String },
    #[error("{file}: expected a mapping of setting names to values at the top level")]
    NotAMapping { file: PathBuf },
    #[error("{file}: key \"{key}\" must be {expected}")]
    WrongType {
        file: PathBuf,
        key: String,
        expected: &'static str,
    },
    #[error("environment variable {variable}={value:?} (for {key}) must be {expected}")]
    WrongEnvironment {
        variable: &'static str,
        value: String,
        key: &'static str,
        expected: &'static str,
    },
    #[error(
        "{file}: writable by group or others (mode {mode:04o}), but the engine stop/start commands it holds run as root: run `chmod 600 {file}`"
    )]
    Writable { file: PathBuf, mode: u32 },
    #[error(
        "{file}: owned by uid {owner}, neither root nor the user running iocdock (uid {user}), but the engine stop/start commands it holds run as root: run `chown {user} {file}`"
    )]
    ForeignOwner {
        file: PathBuf,
        owner: u32,
        user: u32,
    },
}

/// Settings keys whose values are secrets besides every key naming a password: a
/// webhook URL carries the receiver's token. `config` prints secrets as `***`, and a
/// settings.yaml holding one should be readable by its owner only.
const SECRET_KEYS: &[&str] = &[
    "alert_manager_default_webhook_receiver",
    "alert_manager_info_webhook_receiver",
];

pub(crate) fn is_secret_key(key: &str) -> bool {
    key.contains("password") || SECRET_KEYS.contains(&key)
}

/// Every folder the tool works in, derived from the home folder (SPEC §2).
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    pub(crate) home: PathBuf,
    pub(crate) manager: PathBuf,
    pub(crate) repository: PathBuf,
    pub(crate) snapshot: PathBuf,
    pub(crate) templates: PathBuf,
    pub(crate) services: PathBuf,
    pub(crate) ansible: PathBuf,
    pub(crate) mount: PathBuf,
    /// IOC service files, root-only: no container mounts anything below it.
    pub(crate) service_files: PathBuf,
    pub(crate) ioc_backup: PathBuf,
    pub(crate) swarm_backup: PathBuf,
    pub(crate) operation_log: PathBuf,
}

impl Paths {
    pub(crate) fn new(home: PathBuf, mount_override: Option<PathBuf>) -> Self {
        let manager = home.join("IocDock");
        Paths {
            repository: manager.join("ioc-repository"),
            snapshot: manager.join("ioc-snapshot"),
            templates: manager.join("templates"),
            services: manager.join("imsrvs"),
            ansible: manager.join("ansible"),
            operation_log: manager.join("OperationLog"),
            service_files: manager.join("service-files"),
            // Service files name bind sources below it, which must be absolute.
            mount: mount_override
                .map(|m| std::path::absolute(&m).unwrap_or(m))
                .unwrap_or_else(|| home.join("IocDock-data")),
            ioc_backup: home.join("ioc-backup"),
            swarm_backup: home.join("swarm-backup"),
            manager,
            home,
        }
    }

    /// Name/value pairs as `config` prints them; names are the original tool's.
    fn entries(&self) -> Vec<(&'static str, String)> {
        let show = |p: &Path| p.display().to_string();
        vec![
            ("IOCDOCK_HOME", show(&self.home)),
            ("MANAGER_PATH", show(&self.manager)),
            ("REPOSITORY_PATH", show(&self.repository)),
            ("SNAPSHOT_PATH", show(&self.snapshot)),
            ("TEMPLATE_PATH", show(&self.templates)),
            ("SERVICES_PATH", show(&self.services)),
            ("ANSIBLE_PATH", show(&self.ansible)),
            ("MOUNT_PATH", show(&self.mount)),
            ("SERVICE_FILE_PATH", show(&self.service_files)),
            ("IOC_BACKUP_PATH", show(&self.ioc_backup)),
            ("SWARM_BACKUP_PATH", show(&self.swarm_backup)),
            ("OPERATION_LOG_FILE_PATH", show(&self.operation_log)),
        ]
    }

    /// Folders `init` creates so a fresh home has the documented layout.
    pub(crate) fn layout_folders(&self) -> [&Path; 9] {
        [
            &self.manager,
            &self.repository,
            &self.snapshot,
            &self.templates,
            &self.services,
            &self.ansible,
            &self.mount,
            &self.ioc_backup,
            &self.swarm_backup,
        ]
    }
}

/// A type a setting can have, with how it is read from YAML and shown by `config`.
trait SettingType: Sized {
    const EXPECTED: &'static str;
    fn from_yaml(value: &Value) -> Option<Self>;
    fn show(&self) -> String;
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

impl SettingType for String {
    const EXPECTED: &'static str = "a string";
    fn from_yaml(value: &Value) -> Option<Self> {
        scalar_text(value)
    }
    fn show(&self) -> String {
        self.clone()
    }
}

impl SettingType for u16 {
    const EXPECTED: &'static str = "a port number (1-65535)";
    fn from_yaml(value: &Value) -> Option<Self> {
        let n = match value {
            Value::Number(n) => n.as_u64()?,
            Value::String(s) => s.trim().parse().ok()?,
            _ => return None,
        };
        u16::try_from(n).ok().filter(|port| *port != 0)
    }
    fn show(&self) -> String {
        self.to_string()
    }
}

/// A time limit in seconds (`10`, `2.5`), from a tenth of a second up to a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeLimit(pub(crate) Duration);

impl TimeLimit {
    fn parse(text: &str) -> Option<TimeLimit> {
        let seconds: f64 = text.trim().parse().ok()?;
        (0.1..=86_400.0)
            .contains(&seconds)
            .then(|| TimeLimit(Duration::from_secs_f64(seconds)))
    }
}

impl SettingType for TimeLimit {
    const EXPECTED: &'static str = "a number of seconds from 0.1 to 86400";
    fn from_yaml(value: &Value) -> Option<Self> {
        match value {
            Value::Number(n) => TimeLimit::parse(&n.to_string()),
            Value::String(s) => TimeLimit::parse(s),
            _ => None,
        }
    }
    fn show(&self) -> String {
        let text = format!("{:.3}", self.0.as_secs_f64());
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

impl SettingType for Vec<String> {
    const EXPECTED: &'static str = "a list of strings";
    fn from_yaml(value: &Value) -> Option<Self> {
        match value {
            Value::Sequence(items) => items.iter().map(scalar_text).collect(),
            Value::Null => Some(Vec::new()),
            _ => None,
        }
    }
    fn show(&self) -> String {
        self.join(", ")
    }
}

impl SettingType for BTreeMap<String, String> {
    const EXPECTED: &'static str = "a mapping of hostname to IP address";
    fn from_yaml(value: &Value) -> Option<Self> {
        match value {
            Value::Mapping(map) => map
                .iter()
                .map(|(k, v)| Some((scalar_text(k)?, scalar_text(v)?)))
                .collect(),
            Value::Null => Some(BTreeMap::new()),
            _ => None,
        }
    }
    fn show(&self) -> String {
        let mut out = String::new();
        for (i, (host, ip)) in self.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{host}={ip}");
        }
        out
    }
}

/// A duration of at least one second, written as compose files and Go write them
/// (`30s`, `2m`, `1m30s`); kept as written, so files rendered from it show it so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Seconds {
    text: String,
    nanos: i64,
}

impl Seconds {
    const NANOS: i64 = 1_000_000_000;

    fn new(seconds: u32) -> Seconds {
        Seconds {
            text: format!("{seconds}s"),
            nanos: i64::from(seconds) * Self::NANOS,
        }
    }

    fn minutes(minutes: u32) -> Seconds {
        Seconds {
            text: format!("{minutes}m"),
            nanos: i64::from(minutes) * 60 * Self::NANOS,
        }
    }

    pub(crate) fn as_text(&self) -> &str {
        &self.text
    }

    /// Whole seconds, rounded down.
    pub(crate) fn whole_seconds(&self) -> u64 {
        u64::try_from(self.nanos / Self::NANOS).unwrap_or(0)
    }
}

impl SettingType for Seconds {
    const EXPECTED: &'static str = "a duration of at least 1s, such as 30s, 2m or 1m30s";
    fn from_yaml(value: &Value) -> Option<Self> {
        let text = match value {
            Value::String(s) => s.trim().to_string(),
            _ => return None,
        };
        let nanos = crate::compose::units::duration_nanos(&text).ok()?;
        (nanos >= Self::NANOS).then_some(Seconds { text, nanos })
    }
    fn show(&self) -> String {
        self.text.clone()
    }
}

impl SettingType for u32 {
    const EXPECTED: &'static str = "a whole number of at least 1";
    fn from_yaml(value: &Value) -> Option<Self> {
        let n = match value {
            Value::Number(n) => n.as_u64()?,
            Value::String(s) => s.trim().parse().ok()?,
            _ => return None,
        };
        u32::try_from(n).ok().filter(|n| *n != 0)
    }
    fn show(&self) -> String {
        self.to_string()
    }
}

/// Declares every settings key once: the struct field, its type and its default
/// (a default may use keys declared above it), so reading, listing and `config`
/// can never disagree about which keys exist.
macro_rules! settings_keys {
    ($( $key:ident : $ty:ty = $default:expr ;)*) => {
        /// Resolved settings (SPEC §2).
        #[derive(Debug, Clone)]
        pub(crate) struct Settings {
            pub(crate) paths: Paths,
            $(pub(crate) $key: $ty,)*
        }

        const KEYS: &[&str] = &[$(stringify!($key)),*];

        impl Settings {
            fn from_values(
                paths: Paths,
                values: &serde_yaml::Mapping,
                file: &Path,
            ) -> Result<Settings, SettingsError> {
                $(
                    let $key: $ty = match values.get(stringify!($key)) {
                        Some(value) => <$ty as SettingType>::from_yaml(value).ok_or_else(|| {
                            SettingsError::WrongType {
                                file: file.to_path_buf(),
                                key: stringify!($key).to_string(),
                                expected: <$ty as SettingType>::EXPECTED,
                            }
                        })?,
                        None => $default,
                    };
                )*
                Ok(Settings { paths, $($key,)* })
            }

            fn key_entries(&self) -> Vec<(&'static str, String)> {
                vec![$((stringify!($key), SettingType::show(&self.$key)),)*]
            }
        }
    };
}

settings_keys! {
    prefix_stack_name: String = "iasf".to_string();
    default_modules: String = "autosave, caputlog".to_string();
    default_ioc_bin: String = "ST-IOC".to_string();
    ioc_cpu_limit: String = "1".to_string();
    ioc_memory_limit: String = "1G".to_string();
    ioc_default_constraints: Vec<String> = vec!["node.role==worker".to_string()];
    ioc_health_interval: Seconds = Seconds::new(30);
    ioc_health_timeout: Seconds = Seconds::new(10);
    ioc_health_retries: u32 = 5;
    ioc_health_start_period: Seconds = Seconds::new(120);
    container_top_path: String = "/opt/EPICS".to_string();
    registry_common_name: String = format!("registry.{prefix_stack_name}");
    registry_port: u16 = 443;
    registry_master_ip: String = String::new();
    registry_login_username: String = String::new();
    registry_login_password: String = String::new();
    registry_push_port: u16 = 4443;
    registry_push_username: String = String::new();
    registry_push_password: String = String::new();
    cluster_manager_nodes: BTreeMap<String, String> = BTreeMap::new();
    cluster_worker_nodes: BTreeMap<String, String> = BTreeMap::new();
    default_nodes: BTreeMap<String, String> = BTreeMap::new();
    swarm_advertise_ip: String = String::new();
    swarm_advertise_interface: String = String::new();
    ansible_ssh_user: String = "root".to_string();
    ansible_for_user: String = "iocdock".to_string();
    ansible_create_password: String = String::new();
    mount_dir_nfs_mount_src: String = String::new();
    registry_nfs_mount_src: String = String::new();
    alert_manager_master_ip: String = String::new();
    alert_manager_smtp_smart_host: String = String::new();
    alert_manager_smtp_tls: String = "starttls".to_string();
    alert_manager_smtp_auth_username: String = String::new();
    alert_manager_smtp_auth_password: String = String::new();
    alert_manager_smtp_email_send_address: String = String::new();
    alert_manager_receive_email_list: Vec<String> = Vec::new();
    alert_manager_default_webhook_receiver: String = String::new();
    alert_manager_info_webhook_receiver: String = String::new();
    management_address: String = String::new();
    prometheus_external_url: String = String::new();
    alertmanager_external_url: String = String::new();
    ioc_down_alert_after: Seconds = Seconds::minutes(3);
    monitoring_admin_password: String = String::new();
    grafana_admin_password: String = String::new();
    docker_stop_command: String = "systemctl stop docker".to_string();
    docker_start_command: String = "systemctl start docker".to_string();
    docker_swarm_dir: String = "/var/lib/docker/swarm".to_string();
    engine_read_timeout: TimeLimit = TimeLimit(EngineLimits::DEFAULT.read);
    engine_write_timeout: TimeLimit = TimeLimit(EngineLimits::DEFAULT.write);
}

/// Environment variables that override a settings key, for one shell or cron job.
/// The settings key an unknown `key` is probably a slip for.
pub(crate) fn near_key(key: &str) -> Option<&'static str> {
    crate::suggest::closest(key, KEYS.iter().copied())
}

const ENVIRONMENT_KEYS: &[(&str, &str)] = &[
    ("IOCDOCK_ENGINE_READ_TIMEOUT", "engine_read_timeout"),
    ("IOCDOCK_ENGINE_WRITE_TIMEOUT", "engine_write_timeout"),
];

/// What the environment and the global flags say about where things are.
#[derive(Debug, Clone, Default)]
pub(crate) struct Overrides {
    pub(crate) home_flag: Option<PathBuf>,
    pub(crate) home_env: Option<PathBuf>,
    pub(crate) mount_env: Option<PathBuf>,
    /// Settings keys set through the environment (`ENVIRONMENT_KEYS`), with the
    /// variable and its value.
    pub(crate) keys_env: Vec<(&'static str, &'static str, String)>,
}

impl Overrides {
    pub(crate) fn from_env(home_flag: Option<PathBuf>) -> Self {
        let non_empty = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Overrides {
            home_flag,
            home_env: non_empty("IOCDOCK_HOME"),
            mount_env: non_empty("MOUNT_PATH"),
            keys_env: ENVIRONMENT_KEYS
                .iter()
                .filter_map(|&(variable, key)| {
                    let value = std::env::var_os(variable).filter(|v| !v.is_empty())?;
                    Some((variable, key, value.to_string_lossy().into_owned()))
                })
                .collect(),
        }
    }
}

/// Settings together with the keys of settings.yaml that were not understood, which
/// the caller reports as warnings.
pub(crate) struct Loaded {
    pub(crate) settings: Settings,
    pub(crate) unknown_keys: Vec<String>,
    /// Why the settings file should be tightened, when others can read its secrets.
    pub(crate) exposure: Option<String>,
}

/// Reads settings.yaml after checking who may change it: its engine stop/start
/// commands run as root, so a file others can write (or that another user owns) is
/// refused. Returns the text and the file's mode; a missing file is an empty text.
fn read_checked(file: &Path) -> Result<(String, u32), SettingsError> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let read_error = |source| SettingsError::Read {
        file: file.to_path_buf(),
        cause: source,
    };
    let mut handle = match std::fs::File::open(file) {
        Ok(handle) => handle,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((String::new(), 0o600)),
        Err(source) => return Err(read_error(source)),
    };
    // The open file is checked, so the file read is the file judged.
    let metadata = handle.metadata().map_err(read_error)?;
    let mode = metadata.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(SettingsError::Writable {
            file: file.to_path_buf(),
            mode,
        });
    }
    let user = rustix::process::geteuid().as_raw();
    if metadata.uid() != 0 && metadata.uid() != user {
        return Err(SettingsError::ForeignOwner {
            file: file.to_path_buf(),
            owner: metadata.uid(),
            user,
        });
    }
    let mut text = String::new();
    handle.read_to_string(&mut text).map_err(read_error)?;
    Ok((text, mode))
}

impl Settings {
    pub(crate) fn load(overrides: Overrides) -> Result<Loaded, SettingsError> {
        let home = overrides
            .home_flag
            .or(overrides.home_env)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_HOME));
        let home = std::path::absolute(&home).unwrap_or(home);
        let paths = Paths::new(home, overrides.mount_env);
        let file = paths.home.join(SETTINGS_FILE);
        let (text, mode) = read_checked(&file)?;
        let document: Value = if text.trim().is_empty() {
            Value::Mapping(Default::default())
        } else {
            serde_yaml::from_str(&text).map_err(|e| SettingsError::Syntax {
                file: file.clone(),
                message: e.to_string().replace('\n', " "),
            })?
        };
        let values = match document {
            Value::Mapping(map) => map,
            Value::Null => Default::default(),
            _ => return Err(SettingsError::NotAMapping { file }),
        };
        let unknown_keys = values
            .keys()
            .map(|k| scalar_text(k).unwrap_or_else(|| format!("{k:?}")))
            .filter(|k| !KEYS.contains(&k.as_str()))
            .collect();
        let mut settings = Settings::from_values(paths, &values, &file)?;
        for (variable, key, value) in &overrides.keys_env {
            settings.set_from_environment(variable, key, value)?;
        }
        let secrets = settings.secrets_set();
        let exposure = (mode & 0o044 != 0 && !secrets.is_empty()).then(|| {
            format!(
                "{}: readable by group or others (mode {mode:04o}) while it holds secrets ({}): run `chmod 600 {}`",
                file.display(),
                secrets.join(", "),
                file.display()
            )
        });
        Ok(Loaded {
            settings,
            unknown_keys,
            exposure,
        })
    }

    /// A key's value from environment variable `variable`, which wins over the file.
    fn set_from_environment(
        &mut self,
        variable: &'static str,
        key: &'static str,
        value: &str,
    ) -> Result<(), SettingsError> {
        let wrong = |expected| SettingsError::WrongEnvironment {
            variable,
            value: value.to_string(),
            key,
            expected,
        };
        let field = match key {
            "engine_read_timeout" => &mut self.engine_read_timeout,
            "engine_write_timeout" => &mut self.engine_write_timeout,
            _ => return Ok(()),
        };
        *field = TimeLimit::parse(value).ok_or_else(|| wrong(TimeLimit::EXPECTED))?;
        Ok(())
    }

    /// How long iocdock waits for the Docker engine.
    pub(crate) fn engine_limits(&self) -> EngineLimits {
        EngineLimits {
            read: self.engine_read_timeout.0,
            write: self.engine_write_timeout.0,
            ..EngineLimits::DEFAULT
        }
    }

    /// The secret keys that have a value.
    pub(crate) fn secrets_set(&self) -> Vec<&'static str> {
        self.key_entries()
            .into_iter()
            .filter(|(key, value)| is_secret_key(key) && !value.is_empty())
            .map(|(key, _)| key)
            .collect()
    }

    pub(crate) fn settings_file(&self) -> PathBuf {
        self.paths.home.join(SETTINGS_FILE)
    }

    /// Every name `config` knows with its printable value: paths first, then the
    /// settings keys, names in upper case as the original tool printed them.
    /// Secrets that are set print as `***`.
    pub(crate) fn entries(&self) -> Vec<(String, String)> {
        let mut entries: Vec<(String, String)> = self
            .paths
            .entries()
            .into_iter()
            .map(|(name, value)| (name.to_string(), value))
            .collect();
        for (key, value) in self.key_entries() {
            let value = if is_secret_key(key) && !value.is_empty() {
                "***".to_string()
            } else {
                value
            };
            entries.push((key.to_ascii_uppercase(), value));
        }
        entries
    }

    /// The value of one name, accepted in upper or snake case.
    pub(crate) fn lookup(&self, name: &str) -> Option<String> {
        let wanted = name.trim().to_ascii_uppercase();
        self.entries()
            .into_iter()
            .find(|(n, _)| *n == wanted)
            .map(|(_, v)| v)
    }

    /// `module` of a new IOC, normalised the way ioc.ini stores lists.
    pub(crate) fn default_module_list(&self) -> Vec<String> {
        self.default_modules
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Where IOC projects live inside a container: `<top>/RUN`.
    pub(crate) fn container_run_path(&self) -> String {
        format!("{}/RUN", self.container_top_path.trim_end_matches('/'))
    }
}

/// Settings of a throw-away home whose settings.yaml is `yaml`, for unit tests: the
/// folder is gone when this returns, and settings only hold paths into it.
#[cfg(test)]
pub(crate) fn for_test(yaml: &str) -> Settings {
    let home = tempfile::tempdir().expect("temporary home");
    std::fs::write(home.path().join(SETTINGS_FILE), yaml).expect("settings.yaml");
    Settings::load(Overrides {
        home_flag: Some(home.path().to_path_buf()),
        ..Default::default()
    })
    .expect("test settings")
    .settings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_with(yaml: &str) -> Result<Loaded, SettingsError> {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(home.path().join(SETTINGS_FILE), yaml).unwrap();
        Settings::load(Overrides {
            home_flag: Some(home.path().to_path_buf()),
            ..Default::default()
        })
    }

    #[test]
    fn defaults_follow_the_prefix() {
        let loaded = load_with("prefix_stack_name: lab\n").unwrap();
        assert_eq!(loaded.settings.registry_common_name, "registry.lab");
        assert_eq!(
            loaded.settings.lookup("REGISTRY_COMMON_NAME").unwrap(),
            "registry.lab"
        );
        assert_eq!(loaded.settings.lookup("prefix_stack_name").unwrap(), "lab");
    }

    #[test]
    fn wrong_type_names_file_key_and_type() {
        let err = load_with("registry_port: [1]\n").err().unwrap().to_string();
        assert!(err.contains("settings.yaml"), "{err}");
        assert!(err.contains("\"registry_port\""), "{err}");
        assert!(err.contains("port number"), "{err}");
        let err = load_with("cluster_worker_nodes: abc\n")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("mapping of hostname"), "{err}");
    }

    #[test]
    fn health_timing_is_checked() {
        let loaded = load_with("ioc_health_interval: 1m30s\nioc_health_retries: 3\n").unwrap();
        assert_eq!(loaded.settings.ioc_health_interval.as_text(), "1m30s");
        assert_eq!(loaded.settings.ioc_health_interval.whole_seconds(), 90);
        assert_eq!(loaded.settings.ioc_health_retries, 3);
        assert_eq!(loaded.settings.ioc_health_start_period.as_text(), "120s");
        assert_eq!(loaded.settings.lookup("IOC_HEALTH_TIMEOUT").unwrap(), "10s");
        for bad in [
            "ioc_health_timeout: 500ms",
            "ioc_health_timeout: 10",
            "ioc_health_interval: soon",
            "ioc_health_start_period: -2m",
        ] {
            let err = load_with(bad).err().unwrap().to_string();
            assert!(err.contains("a duration of at least 1s"), "{bad}: {err}");
        }
        let err = load_with("ioc_health_retries: 0")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("\"ioc_health_retries\" must be a whole number of at least 1"),
            "{err}"
        );
    }

    #[test]
    fn engine_timeouts_come_from_the_file_and_the_environment_wins() {
        let defaults = load_with("").unwrap().settings.engine_limits();
        assert_eq!(defaults, EngineLimits::DEFAULT);
        assert_eq!(defaults.connect, Duration::from_secs(3));
        assert_eq!(defaults.read, Duration::from_secs(10));
        assert_eq!(defaults.write, Duration::from_secs(60));

        let loaded = load_with("engine_read_timeout: 2.5\nengine_write_timeout: \"30\"\n").unwrap();
        let limits = loaded.settings.engine_limits();
        assert_eq!(limits.read, Duration::from_millis(2500));
        assert_eq!(limits.write, Duration::from_secs(30));
        assert_eq!(
            loaded.settings.lookup("ENGINE_READ_TIMEOUT").unwrap(),
            "2.5"
        );
        for bad in [
            "engine_read_timeout: 0",
            "engine_read_timeout: -1",
            "engine_write_timeout: soon",
            "engine_write_timeout: 100000",
            "engine_write_timeout: [1]",
        ] {
            let err = load_with(bad).err().unwrap().to_string();
            assert!(
                err.contains("a number of seconds from 0.1 to 86400"),
                "{bad}: {err}"
            );
        }

        let home = tempfile::tempdir().unwrap();
        std::fs::write(home.path().join(SETTINGS_FILE), "engine_read_timeout: 5\n").unwrap();
        let with_env = |variable: &'static str, key: &'static str, value: &str| {
            Settings::load(Overrides {
                home_flag: Some(home.path().to_path_buf()),
                keys_env: vec![(variable, key, value.to_string())],
                ..Default::default()
            })
        };
        let loaded = with_env("IOCDOCK_ENGINE_READ_TIMEOUT", "engine_read_timeout", "0.5").unwrap();
        assert_eq!(
            loaded.settings.engine_limits().read,
            Duration::from_millis(500)
        );
        let loaded = with_env("IOCDOCK_ENGINE_WRITE_TIMEOUT", "engine_write_timeout", "7").unwrap();
        assert_eq!(
            loaded.settings.engine_limits().write,
            Duration::from_secs(7)
        );
        assert_eq!(loaded.settings.engine_limits().read, Duration::from_secs(5));
        let err = with_env("IOCDOCK_ENGINE_READ_TIMEOUT", "engine_read_timeout", "ten")
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            err,
            "environment variable IOCDOCK_ENGINE_READ_TIMEOUT=\"ten\" (for engine_read_timeout) must be a number of seconds from 0.1 to 86400"
        );
    }

    #[test]
    fn unknown_keys_are_reported_not_fatal() {
        let loaded = load_with("colour: blue\nprefix_stack_name: x\n").unwrap();
        assert_eq!(loaded.unknown_keys, vec!["colour".to_string()]);
    }

    fn load_with_mode(yaml: &str, mode: u32) -> (tempfile::TempDir, Result<Loaded, SettingsError>) {
        use std::os::unix::fs::PermissionsExt;
        let home = tempfile::tempdir().unwrap();
        let file = home.path().join(SETTINGS_FILE);
        std::fs::write(&file, yaml).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
        let loaded = Settings::load(Overrides {
            home_flag: Some(home.path().to_path_buf()),
            ..Default::default()
        });
        (home, loaded)
    }

    #[test]
    fn a_settings_file_others_can_write_is_refused() {
        for mode in [0o666, 0o620, 0o602] {
            let (_home, loaded) = load_with_mode("prefix_stack_name: x\n", mode);
            let err = loaded.err().unwrap().to_string();
            assert!(
                err.contains("settings.yaml: writable by group or others"),
                "{err}"
            );
            assert!(err.contains(&format!("(mode {mode:04o})")), "{err}");
            assert!(err.contains("run `chmod 600 "), "{err}");
        }
    }

    #[test]
    fn others_reading_secrets_is_a_warning_naming_them() {
        let secret =
            "registry_login_password: pw\nalert_manager_info_webhook_receiver: http://h/t\n";
        let (_home, loaded) = load_with_mode(secret, 0o644);
        let exposure = loaded.unwrap().exposure.unwrap();
        assert!(
            exposure.contains("readable by group or others (mode 0644)"),
            "{exposure}"
        );
        assert!(
            exposure.contains("(registry_login_password, alert_manager_info_webhook_receiver)"),
            "{exposure}"
        );
        assert!(exposure.contains("run `chmod 600 "), "{exposure}");
        let (_home, loaded) = load_with_mode(secret, 0o600);
        assert!(loaded.unwrap().exposure.is_none());
        let (_home, loaded) = load_with_mode("prefix_stack_name: x\n", 0o644);
        assert!(loaded.unwrap().exposure.is_none());
    }

    #[test]
    fn webhook_urls_are_secrets_like_passwords() {
        let loaded =
            load_with("alert_manager_default_webhook_receiver: http://hooks/T0K3N\n").unwrap();
        assert_eq!(
            loaded
                .settings
                .lookup("ALERT_MANAGER_DEFAULT_WEBHOOK_RECEIVER")
                .unwrap(),
            "***"
        );
        assert!(is_secret_key("grafana_admin_password"));
        assert!(!is_secret_key("registry_login_username"));
    }

    #[test]
    fn passwords_are_masked_when_set() {
        let loaded =
            load_with("registry_login_password: secret\nregistry_push_password: secret\n").unwrap();
        assert_eq!(
            loaded.settings.lookup("REGISTRY_LOGIN_PASSWORD").unwrap(),
            "***"
        );
        assert_eq!(
            loaded.settings.lookup("REGISTRY_PUSH_PASSWORD").unwrap(),
            "***"
        );
        assert_eq!(
            loaded.settings.lookup("ANSIBLE_CREATE_PASSWORD").unwrap(),
            ""
        );
        let loaded =
            load_with("monitoring_admin_password: m0n\ngrafana_admin_password: gr4f\n").unwrap();
        for key in ["MONITORING_ADMIN_PASSWORD", "GRAFANA_ADMIN_PASSWORD"] {
            assert_eq!(loaded.settings.lookup(key).unwrap(), "***", "{key}");
        }
    }
}
