//! Paths and settings: defaults, `$IOCDOCK_HOME/settings.yaml`, environment and flags
//! resolved once into one typed `Settings`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml::Value;

mod types;

pub(crate) use self::types::{EngineLimits, Seconds, TimeLimit};
use self::types::{SettingType, scalar_text};

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
    /// Source archives of `image build` (EPICS base, support modules).
    pub(crate) image_sources: PathBuf,
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
            image_sources: manager.join("image-sources"),
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
            ("IMAGE_SOURCES_PATH", show(&self.image_sources)),
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
    ioc_revisions_kept: u32 = 10;
    rollout_batch_size: u32 = 5;
    container_top_path: String = "/opt/EPICS".to_string();
    image_os_image: String = "ubuntu:24.04".to_string();
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
    node_drain_timeout: Seconds = Seconds::minutes(2);
    rebalance_batch_size: u32 = 2;
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
mod tests;
