//! What `image build` sends to the engine: for each image its build context (the
//! Dockerfile rendered from a template, the build scripts, generated lists and the
//! source archives), its tag and its labels, and the digest of all of it that tells
//! whether an existing image was built from the same inputs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::modules::{Module, ModuleSets};
use crate::embedded::Templates;
use crate::embedded::placeholder::{Values, substitute};

/// Labels every image iocdock builds carries, read back by `image list` and the
/// module checks of `create`/`set`.
pub(crate) mod label {
    pub(crate) const KIND: &str = "org.iocdock.image";
    pub(crate) const RELEASE: &str = "org.iocdock.release";
    pub(crate) const BASE_VERSION: &str = "org.iocdock.epics-base.version";
    pub(crate) const BASE_SHA256: &str = "org.iocdock.epics-base.sha256";
    pub(crate) const SET: &str = "org.iocdock.set";
    /// `name=version` of each module, comma-separated, in build order.
    pub(crate) const MODULES: &str = "org.iocdock.modules";
    pub(crate) const INPUTS: &str = "org.iocdock.inputs";

    pub(crate) fn module_sha256(name: &str) -> String {
        format!("org.iocdock.module.{name}.sha256")
    }
}

/// Repository names of the images in the registry.
pub(crate) const BASE_REPOSITORY: &str = "base";
pub(crate) const IOC_EXEC_REPOSITORY: &str = "ioc-exec";

/// Templates of the build, under `image/` among the templates.
const BASE_TEMPLATES: &[&str] = &[
    "Dockerfile.base",
    "build-base.sh",
    "unpack.sh",
    "packages.sh",
];
const IOC_EXEC_TEMPLATES: &[&str] = &[
    "Dockerfile.ioc-exec",
    "build-modules.sh",
    "make-st-ioc.sh",
    "unpack.sh",
    "packages.sh",
];

#[derive(Debug, thiserror::Error)]
pub(crate) enum BuildInputError {
    #[error(
        "{}: no such source archive; put {what}'s archive there, or name another folder with --sources",
        .path.display()
    )]
    MissingArchive { path: PathBuf, what: String },
    #[error("{}: cannot read: {cause}", .path.display())]
    Unreadable {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(
        "{}: its sha256 is {actual}, but {origin} gives {expected} for {what}; a changed archive needs its new checksum in the module-set file",
        .path.display()
    )]
    Checksum {
        path: PathBuf,
        what: String,
        origin: String,
        expected: String,
        actual: String,
    },
    #[error("template image/{name}: not found among the templates")]
    NoTemplate { name: String },
    #[error("template image/{name}: {problem}")]
    Template { name: String, problem: String },
    #[error("{0}")]
    Fs(#[from] crate::fsutil::FsError),
    #[error("module set \"{0}\" is not in the module-set file")]
    NoSuchSet(String),
}

/// One file of a build context.
#[derive(Debug, Clone)]
pub(crate) struct ContextFile {
    pub(crate) name: String,
    pub(crate) bytes: Vec<u8>,
    pub(crate) mode: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ImageKind {
    Base,
    IocExec { set: String },
}

/// One image to build.
#[derive(Debug, Clone)]
pub(crate) struct ImageBuild {
    pub(crate) kind: ImageKind,
    /// `<registry>/<repository>:<release>`, the name IOCs and nodes pull.
    pub(crate) reference: String,
    /// The image its Dockerfile starts FROM.
    pub(crate) from: String,
    pub(crate) files: Vec<ContextFile>,
    /// Labels besides the inputs digest, which needs the FROM image's id.
    pub(crate) labels: BTreeMap<String, String>,
}

/// What the builds are made from besides the module-set file.
pub(crate) struct Inputs<'a> {
    pub(crate) templates: &'a Templates,
    /// Folder of the source archives.
    pub(crate) sources: &'a Path,
    /// `<registry_common_name>[:<registry_port>]`.
    pub(crate) registry: &'a str,
    pub(crate) os_image: &'a str,
    /// `container_top_path`.
    pub(crate) top: &'a str,
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl ImageBuild {
    /// The digest of everything the image is made from: the FROM image's id, each
    /// context file and the labels. An image whose inputs label equals it needs no
    /// build.
    pub(crate) fn inputs_digest(&self, from_id: &str) -> String {
        let mut text = format!("iocdock image inputs 1\nfrom {} {from_id}\n", self.from);
        let mut files: Vec<&ContextFile> = self.files.iter().collect();
        files.sort_by(|a, b| a.name.cmp(&b.name));
        for file in files {
            text.push_str(&format!(
                "file {} {:o} {}\n",
                file.name,
                file.mode,
                sha256_hex(&file.bytes)
            ));
        }
        for (key, value) in &self.labels {
            text.push_str(&format!("label {key}={value}\n"));
        }
        format!("sha256:{}", sha256_hex(text.as_bytes()))
    }

    /// The build context as an uncompressed tar, with fixed owners and times so the
    /// same inputs give the same bytes.
    pub(crate) fn context_tar(&self) -> std::io::Result<Vec<u8>> {
        let mut builder = tar::Builder::new(Vec::new());
        for file in &self.files {
            let mut header = tar::Header::new_gnu();
            header.set_size(file.bytes.len() as u64);
            header.set_mode(file.mode);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(0);
            header.set_entry_type(tar::EntryType::Regular);
            builder.append_data(&mut header, &file.name, file.bytes.as_slice())?;
        }
        builder.into_inner()
    }
}

/// `<registry>/base:<release>` of the file.
pub(crate) fn base_reference(sets: &ModuleSets, registry: &str) -> String {
    format!("{registry}/{BASE_REPOSITORY}:{}", sets.base.release)
}

/// `<registry>/ioc-exec:<release>.<set>`.
pub(crate) fn ioc_exec_reference(sets: &ModuleSets, registry: &str, set: &str) -> String {
    format!(
        "{registry}/{IOC_EXEC_REPOSITORY}:{}.{set}",
        sets.ioc_exec.release
    )
}

struct Archive {
    bytes: Vec<u8>,
    sha256: String,
}

/// Reads an archive and checks it against the checksum the file gives.
fn read_archive(
    sources: &Path,
    name: &str,
    expected: Option<&str>,
    what: &str,
    origin: &str,
) -> Result<Archive, BuildInputError> {
    let path = sources.join(name);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BuildInputError::MissingArchive {
                path,
                what: what.to_string(),
            });
        }
        Err(cause) => return Err(BuildInputError::Unreadable { path, cause }),
    };
    let sha256 = sha256_hex(&bytes);
    if let Some(expected) = expected
        && expected != sha256
    {
        return Err(BuildInputError::Checksum {
            path,
            what: what.to_string(),
            origin: origin.to_string(),
            expected: expected.to_string(),
            actual: sha256,
        });
    }
    Ok(Archive { bytes, sha256 })
}

fn template(templates: &Templates, name: &str) -> Result<Vec<u8>, BuildInputError> {
    templates
        .read(&format!("image/{name}"))?
        .ok_or_else(|| BuildInputError::NoTemplate {
            name: name.to_string(),
        })
}

/// The template files of a build: the Dockerfile rendered with `values`, the scripts
/// as they are.
fn template_files(
    templates: &Templates,
    names: &[&str],
    values: &Values,
) -> Result<Vec<ContextFile>, BuildInputError> {
    let mut files = Vec::new();
    for name in names {
        let bytes = template(templates, name)?;
        if name.starts_with("Dockerfile") {
            let text = String::from_utf8(bytes).map_err(|_| BuildInputError::Template {
                name: name.to_string(),
                problem: "not UTF-8 text".to_string(),
            })?;
            let rendered =
                substitute(&text, values).map_err(|problem| BuildInputError::Template {
                    name: name.to_string(),
                    problem,
                })?;
            files.push(ContextFile {
                name: "Dockerfile".to_string(),
                bytes: rendered.into_bytes(),
                mode: 0o644,
            });
        } else {
            files.push(ContextFile {
                name: name.to_string(),
                bytes,
                mode: 0o755,
            });
        }
    }
    Ok(files)
}

fn text_file(name: &str, text: String) -> ContextFile {
    ContextFile {
        name: name.to_string(),
        bytes: text.into_bytes(),
        mode: 0o644,
    }
}

/// Shell assignments the build scripts source; every value was checked to hold no
/// character a shell treats specially, the quotes only keep lists together.
fn build_env(pairs: &[(&str, String)]) -> ContextFile {
    let mut text =
        String::from("# Written by iocdock image build; sourced by the build scripts.\n");
    for (name, value) in pairs {
        text.push_str(&format!("{name}=\"{value}\"\nexport {name}\n"));
    }
    text_file("build.env", text)
}

fn epics_base(sets: &ModuleSets, top: &str) -> String {
    format!("{top}/base-{}", sets.base.version)
}

/// The base image: EPICS base from its source archive.
pub(crate) fn base(sets: &ModuleSets, inputs: &Inputs) -> Result<ImageBuild, BuildInputError> {
    let base = &sets.base;
    let archive = read_archive(
        inputs.sources,
        &base.archive,
        base.sha256.as_deref(),
        "EPICS base",
        &sets.origin,
    )?;
    let epics_base = epics_base(sets, inputs.top);
    let mut values = Values::default();
    values.insert("os_image", inputs.os_image);
    values.insert("archive", base.archive.as_str());
    values.insert("top", inputs.top);
    values.insert("epics_base", epics_base.as_str());
    values.insert("host_arch", base.host_arch.as_str());
    let mut files = template_files(inputs.templates, BASE_TEMPLATES, &values)?;
    files.push(build_env(&[
        ("TOP", inputs.top.to_string()),
        ("EPICS_BASE", epics_base.clone()),
        ("EPICS_HOST_ARCH", base.host_arch.clone()),
        ("ARCHIVE", base.archive.clone()),
        ("PACKAGES", base.packages.join(" ")),
        ("PURGE", base.purge.join(" ")),
    ]));
    files.push(ContextFile {
        name: base.archive.clone(),
        bytes: archive.bytes,
        mode: 0o644,
    });
    let labels = BTreeMap::from([
        (label::KIND.to_string(), BASE_REPOSITORY.to_string()),
        (label::RELEASE.to_string(), base.release.clone()),
        (label::BASE_VERSION.to_string(), base.version.clone()),
        (label::BASE_SHA256.to_string(), archive.sha256),
    ]);
    Ok(ImageBuild {
        kind: ImageKind::Base,
        reference: base_reference(sets, inputs.registry),
        from: inputs.os_image.to_string(),
        files,
        labels,
    })
}

/// The ioc-exec image of module set `set`, FROM `base` (whose labels name EPICS
/// base's archive, read once for all sets).
pub(crate) fn ioc_exec(
    sets: &ModuleSets,
    set: &str,
    base: &ImageBuild,
    inputs: &Inputs,
) -> Result<ImageBuild, BuildInputError> {
    let modules = sets
        .set(set)
        .ok_or_else(|| BuildInputError::NoSuchSet(set.to_string()))?;
    let base_sha256 = base
        .labels
        .get(label::BASE_SHA256)
        .cloned()
        .unwrap_or_default();
    let exe = &sets.ioc_exec.executable;
    let base_image = base.reference.clone();
    let mut values = Values::default();
    values.insert("base_image", base_image.as_str());
    values.insert("top", inputs.top);
    let mut files = template_files(inputs.templates, IOC_EXEC_TEMPLATES, &values)?;
    files.push(build_env(&[
        ("TOP", inputs.top.to_string()),
        ("EXECUTABLE", exe.clone()),
        ("PACKAGES", sets.ioc_exec.packages.join(" ")),
        ("PURGE", sets.ioc_exec.purge.join(" ")),
    ]));
    files.push(text_file("modules.list", modules_list(sets, &modules)));
    files.push(text_file(
        "st-ioc.mk",
        executable_makefile_lines(exe, &modules),
    ));
    files.push(text_file("st-ioc-db.mk", db_makefile_lines(&modules)));
    let mut labels = BTreeMap::from([
        (label::KIND.to_string(), IOC_EXEC_REPOSITORY.to_string()),
        (
            label::RELEASE.to_string(),
            format!("{}.{set}", sets.ioc_exec.release),
        ),
        (label::BASE_VERSION.to_string(), sets.base.version.clone()),
        (label::BASE_SHA256.to_string(), base_sha256),
        (label::SET.to_string(), set.to_string()),
        (
            label::MODULES.to_string(),
            modules
                .iter()
                .map(|m| format!("{}={}", m.name, m.version))
                .collect::<Vec<_>>()
                .join(","),
        ),
    ]);
    for module in &modules {
        let archive = read_archive(
            inputs.sources,
            &module.archive,
            module.sha256.as_deref(),
            &format!("module {}", module.name),
            &sets.origin,
        )?;
        labels.insert(label::module_sha256(&module.name), archive.sha256);
        files.push(ContextFile {
            name: format!("sources/{}", module.archive),
            bytes: archive.bytes,
            mode: 0o644,
        });
    }
    Ok(ImageBuild {
        kind: ImageKind::IocExec {
            set: set.to_string(),
        },
        reference: ioc_exec_reference(sets, inputs.registry, set),
        from: base_image,
        files,
        labels,
    })
}

/// `name archive VARIABLE DEPENDENCY_VARIABLES` per module in build order, the
/// variables of the modules it needs comma-separated (`-` for none).
fn modules_list(sets: &ModuleSets, modules: &[&Module]) -> String {
    let mut text = String::new();
    for module in modules {
        let depends: Vec<&str> = module
            .depends
            .iter()
            .filter_map(|d| sets.modules.get(d))
            .map(|d| d.variable.as_str())
            .collect();
        let depends = if depends.is_empty() {
            "-".to_string()
        } else {
            depends.join(",")
        };
        text.push_str(&format!(
            "{} {} {} {depends}\n",
            module.name, module.archive, module.variable
        ));
    }
    text
}

/// The lines for the IOC executable's `src/Makefile`: dbd files in build order, and
/// libraries in the reverse, so a library comes before the ones it uses when linked.
fn executable_makefile_lines(exe: &str, modules: &[&Module]) -> String {
    let mut text = String::new();
    for module in modules {
        if module.dbd.is_empty() {
            continue;
        }
        text.push_str(&format!("# {}\n", module.name));
        for dbd in &module.dbd {
            text.push_str(&format!("{exe}_DBD += {dbd}\n"));
        }
    }
    for module in modules.iter().rev() {
        for lib in &module.libs {
            text.push_str(&format!("{exe}_LIBS += {lib}\n"));
        }
    }
    text
}

/// `DB_INSTALLS` lines for the executable's `Db/Makefile`.
fn db_makefile_lines(modules: &[&Module]) -> String {
    modules
        .iter()
        .flat_map(|m| {
            m.db.iter()
                .map(move |db| format!("DB_INSTALLS += $({})/db/{db}\n", m.variable))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::modules::parse;

    const BUILT_IN: &str = include_str!("../../templates/image/modules.yaml");

    /// The built-in file with checksums dropped and tiny archives in a folder.
    fn fixture() -> (tempfile::TempDir, ModuleSets) {
        let dir = tempfile::tempdir().unwrap();
        let text: String = BUILT_IN
            .lines()
            .filter(|l| !l.trim_start().starts_with("sha256:"))
            .map(|l| format!("{l}\n"))
            .collect();
        let sets = parse(&text, "modules.yaml").unwrap();
        std::fs::write(dir.path().join(&sets.base.archive), b"base").unwrap();
        for module in sets.modules.values() {
            std::fs::write(dir.path().join(&module.archive), module.name.as_bytes()).unwrap();
        }
        (dir, sets)
    }

    fn inputs<'a>(templates: &'a Templates, sources: &'a Path) -> Inputs<'a> {
        Inputs {
            templates,
            sources,
            registry: "registry.lab",
            os_image: "ubuntu:24.04",
            top: "/opt/EPICS",
        }
    }

    /// The ioc-exec image of `set` with its base, as `image build` makes them.
    fn ioc_exec_of(
        sets: &ModuleSets,
        set: &str,
        inputs: &Inputs,
    ) -> Result<ImageBuild, BuildInputError> {
        ioc_exec(sets, set, &base(sets, inputs)?, inputs)
    }

    fn file<'a>(build: &'a ImageBuild, name: &str) -> &'a str {
        let file = build.files.iter().find(|f| f.name == name).unwrap();
        std::str::from_utf8(&file.bytes).unwrap()
    }

    #[test]
    fn a_set_becomes_lists_labels_and_a_context() {
        let (dir, sets) = fixture();
        let templates = Templates::new(Path::new("/nonexistent"));
        let build = ioc_exec_of(&sets, "1", &inputs(&templates, dir.path())).unwrap();
        assert_eq!(build.reference, "registry.lab/ioc-exec:1.1.1");
        assert_eq!(build.from, "registry.lab/base:1.0.1");
        assert!(file(&build, "Dockerfile").contains("\nFROM registry.lab/base:1.0.1\n"));
        assert_eq!(
            file(&build, "modules.list"),
            "seq seq.zip SNCSEQ -\nasyn asyn.zip ASYN -\nautosave autosave.zip AUTOSAVE -\n\
             caPutLog caPutLog.zip caPutLog -\niocStats iocStats.zip IOCADMIN -\n\
             StreamDevice StreamDevice.zip STREAM ASYN\nmodbus modbus.zip MODBUS ASYN\n"
        );
        let makefile = file(&build, "st-ioc.mk");
        let stream = makefile.find("ST-IOC_LIBS += stream").unwrap();
        let asyn = makefile.find("ST-IOC_LIBS += asyn").unwrap();
        assert!(stream < asyn, "{makefile}");
        assert!(makefile.contains("ST-IOC_DBD += drvAsynIPPort.dbd\n"));
        assert_eq!(
            file(&build, "st-ioc-db.mk"),
            "DB_INSTALLS += $(ASYN)/db/asynRecord.db\n"
        );
        assert_eq!(
            build.labels[label::MODULES],
            "seq=2.2.9,asyn=R4-44-2,autosave=R5-10-2,caPutLog=R4.0,iocStats=3.2.0,StreamDevice=2.8.24,modbus=R3-3"
        );
        assert_eq!(
            build.labels[&label::module_sha256("asyn")],
            sha256_hex(b"asyn")
        );
        assert_eq!(build.labels[label::BASE_SHA256], sha256_hex(b"base"));
        assert!(build.files.iter().any(|f| f.name == "sources/modbus.zip"));
        assert!(!build.files.iter().any(|f| f.name == "sources/s7nodave.zip"));

        // The same inputs give the same digest and context; any change gives another.
        let again = ioc_exec_of(&sets, "1", &inputs(&templates, dir.path())).unwrap();
        assert_eq!(
            build.inputs_digest("sha256:1"),
            again.inputs_digest("sha256:1")
        );
        assert_eq!(build.context_tar().unwrap(), again.context_tar().unwrap());
        assert_ne!(
            build.inputs_digest("sha256:1"),
            build.inputs_digest("sha256:2")
        );
        std::fs::write(dir.path().join("asyn.zip"), b"asyn 2").unwrap();
        let changed = ioc_exec_of(&sets, "1", &inputs(&templates, dir.path())).unwrap();
        assert_ne!(
            build.inputs_digest("sha256:1"),
            changed.inputs_digest("sha256:1")
        );
    }

    #[test]
    fn the_base_installs_where_services_look() {
        let (dir, sets) = fixture();
        let templates = Templates::new(Path::new("/nonexistent"));
        let build = base(&sets, &inputs(&templates, dir.path())).unwrap();
        assert_eq!(build.reference, "registry.lab/base:1.0.1");
        let dockerfile = file(&build, "Dockerfile");
        assert!(dockerfile.contains("FROM ubuntu:24.04\n"), "{dockerfile}");
        assert!(
            dockerfile.contains("EPICS_BASE=/opt/EPICS/base-7.0.8.1"),
            "{dockerfile}"
        );
        let env = file(&build, "build.env");
        assert!(
            env.contains("PURGE=\"build-essential libreadline-dev\"\n"),
            "{env}"
        );
    }

    #[test]
    fn a_site_template_replaces_the_built_in_one() {
        let (dir, sets) = fixture();
        let site = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(site.path().join("image")).unwrap();
        std::fs::write(
            site.path().join("image/packages.sh"),
            "#!/bin/sh\n# the site's package manager\n",
        )
        .unwrap();
        std::fs::write(
            site.path().join("image/Dockerfile.ioc-exec"),
            "FROM {{iocdock.base_image}}\nRUN true\n",
        )
        .unwrap();
        let templates = Templates::new(site.path());
        let build = ioc_exec_of(&sets, "0", &inputs(&templates, dir.path())).unwrap();
        assert_eq!(
            file(&build, "packages.sh"),
            "#!/bin/sh\n# the site's package manager\n"
        );
        assert_eq!(
            file(&build, "Dockerfile"),
            "FROM registry.lab/base:1.0.1\nRUN true\n"
        );
        // A placeholder the build does not know is an error naming the template.
        std::fs::write(
            site.path().join("image/Dockerfile.ioc-exec"),
            "FROM {{iocdock.base}}\n",
        )
        .unwrap();
        let err = ioc_exec_of(&sets, "0", &inputs(&templates, dir.path()))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "template image/Dockerfile.ioc-exec: line 1: unknown placeholder {{iocdock.base}}"
        );
    }

    #[test]
    fn archives_are_checked() {
        let (dir, mut sets) = fixture();
        let templates = Templates::new(Path::new("/nonexistent"));
        sets.modules.get_mut("seq").unwrap().sha256 = Some("0".repeat(64));
        let err = ioc_exec_of(&sets, "0", &inputs(&templates, dir.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("seq.zip: its sha256 is "), "{err}");
        assert!(err.contains("for module seq"), "{err}");
        std::fs::remove_file(dir.path().join("iocStats.zip")).unwrap();
        sets.modules.get_mut("seq").unwrap().sha256 = None;
        let err = ioc_exec_of(&sets, "0", &inputs(&templates, dir.path()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("iocStats.zip: no such source archive"),
            "{err}"
        );
    }
}
