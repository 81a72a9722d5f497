//! `iocdock image build|list|push|prepare|modules`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Instant;

use anyhow::Context;
use bollard::auth::DockerCredentials;

use crate::cli::{
    ImageAction, ImageArgs, ImageBuildArgs, ImageListArgs, ImagePrepareArgs, ImagePushArgs,
    OutputFormat,
};
use crate::cluster::htpasswd::Identity;
use crate::cluster::registry::{Registry, RegistryError};
use crate::commands::{ExitStatus, UsageError};
use crate::embedded::{ServiceSources, Templates};
use crate::image::build::{self, ImageBuild, Inputs, label};
use crate::image::modules::{self, MODULES_FILE, ModuleSets};
use crate::printer::Printer;
use crate::process::printable;
use crate::schema::settings::{IMAGE_BUILD, ensure};
use crate::services::{images as service_images, registry_host};
use crate::settings::Settings;
use crate::swarm::engine::{Engine, SwarmError};
use crate::swarm::images::{self, Progress};
use crate::swarm::registry_auth::{Lookup, RegistryAuth};
use crate::table::Table;

pub(crate) fn run(
    args: ImageArgs,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    match args.action {
        ImageAction::Build(args) => build_images(&args, settings, printer),
        ImageAction::List(args) => list(&args, settings, printer),
        ImageAction::Push(args) => push(&args, settings, printer),
        ImageAction::Prepare(args) => prepare(&args, settings, printer),
        ImageAction::Modules => {
            let (text, _) = module_file(settings)?;
            printer.data(&text);
            Ok(ExitStatus::Success)
        }
    }
}

/// The module-set file's text and how errors name it: the site's copy among the
/// templates, else the built-in one.
fn module_file(settings: &Settings) -> anyhow::Result<(String, String)> {
    let templates = Templates::new(&settings.paths.templates);
    let site = settings.paths.templates.join(MODULES_FILE);
    let origin = if site.is_file() {
        site.display().to_string()
    } else {
        format!("built-in templates/{MODULES_FILE}")
    };
    let bytes = templates
        .read(MODULES_FILE)?
        .with_context(|| format!("{origin}: missing"))?;
    let text = String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{origin}: not UTF-8 text"))?;
    Ok((text, origin))
}

fn load_sets(settings: &Settings) -> anyhow::Result<ModuleSets> {
    let (text, origin) = module_file(settings)?;
    Ok(modules::parse(&text, &origin)?)
}

/// The sets named on the command line, checked, or every set of the file.
fn chosen_sets(sets: &ModuleSets, named: &[String]) -> anyhow::Result<Vec<String>> {
    if named.is_empty() {
        return Ok(sets.sets.keys().cloned().collect());
    }
    for name in named {
        if !sets.sets.contains_key(name) {
            return Err(UsageError(format!(
                "module set \"{name}\" is not in {} (its sets: {})",
                sets.origin,
                sets.sets.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
            .into());
        }
    }
    Ok(named.to_vec())
}

fn short_id(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    &id[..id.len().min(12)]
}

fn build_images(
    args: &ImageBuildArgs,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    ensure(settings, IMAGE_BUILD)?;
    let sets = load_sets(settings)?;
    let chosen = if args.base_only {
        Vec::new()
    } else {
        chosen_sets(&sets, &args.sets)?
    };
    let registry = registry_host(settings, settings.registry_port);
    let templates = Templates::new(&settings.paths.templates);
    let sources = args
        .sources
        .clone()
        .unwrap_or_else(|| settings.paths.image_sources.clone());
    let top = settings.container_top_path.trim_end_matches('/');
    let inputs = Inputs {
        templates: &templates,
        sources: &sources,
        registry: &registry,
        os_image: settings.image_os_image.trim(),
        top,
    };
    // Every archive is read and checked before the first build starts, so a missing
    // or changed one stops the run before it has made anything.
    let base = build::base(&sets, &inputs)?;
    let mut execs = Vec::new();
    for set in &chosen {
        execs.push(build::ioc_exec(&sets, set, &base, &inputs)?);
    }
    let builds: Vec<ImageBuild> = std::iter::once(base).chain(execs).collect();
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get() as u32));
    let engine = Engine::connect_for_changes()?;
    for image in &builds {
        let from_id = match images::inspect(&engine, &image.from)? {
            Some(found) => found.id,
            None if image.kind == build::ImageKind::Base => {
                pull_os_image(&engine, &image.from, printer)?
            }
            None => anyhow::bail!("{}: the image it is built FROM does not exist", image.from),
        };
        let digest = image.inputs_digest(&from_id);
        if !args.force
            && let Some(existing) = images::inspect(&engine, &image.reference)?
            && existing.labels.get(label::INPUTS) == Some(&digest)
        {
            printer.status(&format!(
                "{}: up to date ({}), built from the same inputs",
                image.reference,
                short_id(&existing.id)
            ));
            continue;
        }
        let started = Instant::now();
        let id = run_build(&engine, image, &digest, jobs, args.force, printer)?;
        printer.status(&format!(
            "{}: built ({}) in {} s",
            image.reference,
            short_id(&id),
            started.elapsed().as_secs()
        ));
    }
    Ok(ExitStatus::Success)
}

/// Pulls the OS image the base is built FROM when this engine lacks it; its id.
fn pull_os_image(engine: &Engine, image: &str, printer: &Printer) -> anyhow::Result<String> {
    printer.status(&format!("{image}: not on this engine; pulling it"));
    let credentials = credentials_for(image, printer);
    images::pull(engine, image, credentials, &mut |_| {}).map_err(|e| {
        pull_failure(e, |why| {
            format!(
                "{why}; the OS image of the base image (setting image_os_image) must be on this engine or pullable: load it with `docker load`, or name another one in settings.yaml"
            )
        })
    })?;
    Ok(images::inspect(engine, image)?
        .map(|found| found.id)
        .unwrap_or_default())
}

/// A failed pull in the words of `message` (given the engine's reason), unless the
/// engine itself failed, which keeps its own error (and exit code).
fn pull_failure(e: SwarmError, message: impl FnOnce(&SwarmError) -> String) -> anyhow::Error {
    if e.is_engine_failure() {
        e.into()
    } else {
        anyhow::anyhow!(message(&e))
    }
}

/// The docker config's credentials for pulling `image`, if it has some.
fn credentials_for(image: &str, printer: &Printer) -> Option<DockerCredentials> {
    match RegistryAuth::load().and_then(|auth| auth.lookup(image)) {
        Ok(Lookup::Found(credentials)) => Some(credentials),
        Ok(Lookup::None) => None,
        Ok(Lookup::Helper(note)) | Err(note) => {
            printer.warn(&note);
            None
        }
    }
}

/// What a build printed, shown as it goes: each `Step n/m` line (on a terminal beside
/// a spinner), everything with --verbose, and the last lines again when it fails.
struct BuildOutput<'a> {
    printer: &'a Printer,
    spinner: crate::printer::Progress<'a>,
    partial: String,
    tail: VecDeque<String>,
}

/// Lines of a failed build shown with its error.
const TAIL_LINES: usize = 40;

impl BuildOutput<'_> {
    fn take(&mut self, text: &str) {
        self.partial.push_str(text);
        while let Some(end) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=end).collect();
            self.line(line.trim_end());
        }
    }

    fn line(&mut self, line: &str) {
        // What the build's commands print is the container's to choose: shown only
        // without escape sequences (the builder itself colours stderr red).
        let line = printable(line);
        if line.trim().is_empty() {
            return;
        }
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        if line.starts_with("Step ") {
            if self.spinner.visible() {
                self.spinner.message(&line);
            } else {
                self.printer.status(&line);
            }
        } else {
            self.printer.detail(&line);
        }
        self.tail.push_back(line);
    }
}

fn run_build(
    engine: &Engine,
    image: &ImageBuild,
    digest: &str,
    jobs: u32,
    no_cache: bool,
    printer: &Printer,
) -> anyhow::Result<String> {
    let mut labels: HashMap<String, String> = image.labels.clone().into_iter().collect();
    labels.insert(label::INPUTS.to_string(), digest.to_string());
    let context = image
        .context_tar()
        .context("cannot assemble the build context")?;
    printer.status(&format!(
        "{}: building FROM {} ({} MB of context)",
        image.reference,
        image.from,
        context.len().div_ceil(1 << 20)
    ));
    let mut output = BuildOutput {
        printer,
        spinner: printer.activity(&image.reference),
        partial: String::new(),
        tail: VecDeque::new(),
    };
    let build_args = HashMap::from([("JOBS".to_string(), jobs.to_string())]);
    let result = images::build(
        engine,
        &image.reference,
        context,
        labels,
        build_args,
        no_cache,
        &mut |p| {
            if let Progress::Output(text) = p {
                output.take(text);
            }
        },
    );
    let tail: Vec<String> = output.tail.drain(..).collect();
    drop(output);
    match result {
        Ok(id) => Ok(id),
        Err(e) if e.is_engine_failure() => Err(e.into()),
        Err(e) => {
            if !tail.is_empty() {
                printer.error_details(&tail.join("\n"));
            }
            // The engine's own words on the failed step, without the request's name
            // that the image's name already says.
            let reason = match &e {
                SwarmError::Api { detail, .. } => detail
                    .strip_prefix("Docker stream error: ")
                    .unwrap_or(detail)
                    .to_string(),
                other => other.to_string(),
            };
            Err(anyhow::anyhow!(
                "{}: the build failed: {}",
                image.reference,
                printable(&reason)
            ))
        }
    }
}

/// The push registry's login and how images are named there (`name:port`).
struct PushTarget {
    host: String,
    credentials: DockerCredentials,
}

fn push_target(settings: &Settings) -> anyhow::Result<PushTarget> {
    ensure(settings, &["registry_common_name", "registry_push_port"])?;
    let (user, password) = Identity::Push.credentials(settings);
    if user.is_empty() || password.is_empty() {
        anyhow::bail!(
            "{}: {} and {} must be set: only the push login may write to the cluster registry (registry_push_port {})",
            settings.settings_file().display(),
            Identity::Push.username_key(),
            Identity::Push.password_key(),
            settings.registry_push_port
        );
    }
    let host = format!(
        "{}:{}",
        settings.registry_common_name.trim(),
        settings.registry_push_port
    );
    Ok(PushTarget {
        credentials: DockerCredentials {
            username: Some(user.to_string()),
            password: Some(password.to_string()),
            serveraddress: Some(host.clone()),
            ..Default::default()
        },
        host,
    })
}

/// Pushes local image `source` as `target` (named for the push registry), leaving no
/// extra name behind.
fn push_as(
    engine: &Engine,
    source: &str,
    target: &str,
    push: &PushTarget,
    printer: &Printer,
) -> Result<(), SwarmError> {
    images::tag(engine, source, target)?;
    let spinner = printer.activity(target);
    let result = images::push(engine, target, push.credentials.clone(), &mut |p| {
        if let Progress::Status(status) = p {
            spinner.message(status);
        }
    });
    drop(spinner);
    if let Err(e) = images::untag(engine, target) {
        printer.detail(&format!("{target}: cannot remove the push name: {e}"));
    }
    result
}

/// `<registry>/<repository>:<tag>` → `<push host>/<repository>:<tag>`.
fn renamed(reference: &str, registry: &str, push_host: &str) -> String {
    match reference.strip_prefix(&format!("{registry}/")) {
        Some(rest) => format!("{push_host}/{rest}"),
        None => format!("{push_host}/{reference}"),
    }
}

fn push(
    args: &ImagePushArgs,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let target = push_target(settings)?;
    let sets = load_sets(settings)?;
    let chosen = chosen_sets(&sets, &args.sets)?;
    let registry = registry_host(settings, settings.registry_port);
    let mut references = vec![build::base_reference(&sets, &registry)];
    references.extend(
        chosen
            .iter()
            .map(|set| build::ioc_exec_reference(&sets, &registry, set)),
    );
    let engine = Engine::connect_for_changes()?;
    let mut pushed = 0;
    for (i, reference) in references.iter().enumerate() {
        if images::inspect(&engine, reference)?.is_none() {
            // The base image is always needed; an ioc-exec image only when named.
            if i == 0 || !args.sets.is_empty() {
                anyhow::bail!(
                    "{reference} does not exist on this engine: build it first (`iocdock image build{}`)",
                    if i == 0 {
                        " --base-only".to_string()
                    } else {
                        format!(" {}", chosen[i - 1])
                    }
                );
            }
            printer.detail(&format!("{reference}: not built here; skipped"));
            continue;
        }
        let destination = renamed(reference, &registry, &target.host);
        push_as(&engine, reference, &destination, &target, printer)?;
        printer.status(&format!("{reference}: pushed as {destination}"));
        pushed += 1;
    }
    printer.detail(&format!("{pushed} image(s) pushed"));
    Ok(ExitStatus::Success)
}

fn prepare(
    args: &ImagePrepareArgs,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let target = push_target(settings)?;
    let sources = ServiceSources::new(&settings.paths.services).all()?;
    let table = sources
        .iter()
        .find(|s| s.relative == service_images::IMAGES_FILE)
        .context("the built-in services' versions table images.yaml is missing")?;
    let text = std::str::from_utf8(&table.bytes)
        .map_err(|_| anyhow::anyhow!("{}: not UTF-8 text", table.origin))?;
    let table_images =
        service_images::parse(text).map_err(|e| anyhow::anyhow!("{}: {e}", table.origin))?;
    for key in &args.keys {
        if !table_images.contains_key(key) {
            return Err(UsageError(format!(
                "\"{key}\" is not a key of {} (its keys: {})",
                table.origin,
                table_images.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
            .into());
        }
    }
    let registry = registry_host(settings, settings.registry_port);
    let engine = Engine::connect_for_changes()?;
    let mut failed = Vec::new();
    for (key, entry) in &table_images {
        if !args.keys.is_empty() && !args.keys.contains(key) {
            continue;
        }
        let plain = format!("{}:{}", entry.image, entry.tag);
        let named = service_images::reference(&registry, entry);
        let destination = service_images::reference(&target.host, entry);
        let outcome = (|| -> anyhow::Result<String> {
            let source = if images::inspect(&engine, &plain)?.is_some() {
                plain.clone()
            } else if images::inspect(&engine, &named)?.is_some() {
                named.clone()
            } else {
                printer.status(&format!("{plain}: not on this engine; pulling it"));
                let credentials = credentials_for(&plain, printer);
                images::pull(&engine, &plain, credentials, &mut |_| {}).map_err(|e| {
                    pull_failure(e, |why| {
                        format!(
                            "not on this engine as {plain} or {named}, and the pull failed: {why}"
                        )
                    })
                })?;
                plain.clone()
            };
            push_as(&engine, &source, &destination, &target, printer)?;
            Ok(source)
        })();
        match outcome {
            Ok(source) => printer.status(&format!("{key}: {source} pushed as {destination}")),
            Err(e) if crate::swarm::is_engine_failure(&e) => return Err(e),
            Err(e) => {
                printer.error(&format!("{key}: {e:#}"));
                failed.push(key.clone());
            }
        }
    }
    if failed.is_empty() {
        Ok(ExitStatus::Success)
    } else {
        anyhow::bail!(
            "{} of the images were not copied into the registry: {}",
            failed.len(),
            failed.join(", ")
        )
    }
}

/// One ioc-exec image in the list.
#[derive(Debug, Default, serde::Serialize)]
struct ListedImage {
    image: String,
    set: String,
    modules: String,
    base: String,
    /// The image id on this engine, if it is here.
    local: Option<String>,
    in_registry: bool,
    iocs: Vec<String>,
}

/// Set, module names and EPICS base version from an image's labels.
fn fill_from_labels(row: &mut ListedImage, labels: &BTreeMap<String, String>) {
    row.set = labels.get(label::SET).cloned().unwrap_or_default();
    row.modules = labels
        .get(label::MODULES)
        .map(|m| {
            m.split(',')
                .map(|pair| pair.split('=').next().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    row.base = labels.get(label::BASE_VERSION).cloned().unwrap_or_default();
}

fn list(
    args: &ImageListArgs,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let registry = registry_host(settings, settings.registry_port);
    let mut rows: BTreeMap<String, ListedImage> = BTreeMap::new();
    let engine = Engine::connect()?;
    for image in images::with_label(&engine, label::KIND, build::IOC_EXEC_REPOSITORY)? {
        for name in &image.names {
            let row = rows.entry(name.clone()).or_default();
            row.image = name.clone();
            row.local = Some(short_id(&image.id).to_string());
            let labels: BTreeMap<String, String> = image.labels.clone().into_iter().collect();
            fill_from_labels(row, &labels);
        }
    }
    // A registry without the repository yet has no ioc-exec image: no warning.
    let listed = Registry::from_settings(settings).and_then(|cluster| {
        match cluster.tags(build::IOC_EXEC_REPOSITORY) {
            Ok(tags) => Ok((cluster, tags)),
            Err(RegistryError::NoSuchImage { .. }) => Ok((cluster, Vec::new())),
            Err(e) => Err(e),
        }
    });
    match listed {
        Ok((cluster, tags)) => {
            for tag in tags {
                let name = format!("{registry}/{}:{tag}", build::IOC_EXEC_REPOSITORY);
                let row = rows.entry(name.clone()).or_default();
                row.image = name;
                row.in_registry = true;
                if row.local.is_some() {
                    continue;
                }
                // Not here: what it holds comes from its labels in the registry.
                match cluster.labels(build::IOC_EXEC_REPOSITORY, &tag) {
                    Ok(labels) => fill_from_labels(row, &labels),
                    Err(e) => printer.warn(&format!("{}: labels not read: {e}", row.image)),
                }
                if row.set.is_empty() {
                    row.set = tag.rsplit('.').next().unwrap_or_default().to_string();
                }
            }
        }
        Err(e) => printer.warn(&format!("the cluster registry is not listed: {e}")),
    }
    let repository = crate::ioc::repository::Repository::new(&settings.paths);
    for name in repository.names()? {
        let Ok(doc) = repository.read_ini(&name) else {
            continue;
        };
        let Some(image) = doc.get(crate::ioc::config::IOC, "image") else {
            continue;
        };
        let image = crate::compose::image::tagged(image.trim());
        let key = rows
            .keys()
            .find(|k| crate::compose::image::tagged(k) == image)
            .cloned();
        match key {
            Some(key) => rows.entry(key).or_default().iocs.push(name),
            // An IOC on an ioc-exec image that is nowhere is worth seeing.
            None if image.contains(&format!("/{}:", build::IOC_EXEC_REPOSITORY)) => {
                let row = rows.entry(image.clone()).or_default();
                row.image = image;
                row.iocs.push(name);
            }
            None => {}
        }
    }
    let rows: Vec<ListedImage> = rows.into_values().collect();
    if args.format == OutputFormat::Json {
        #[derive(serde::Serialize)]
        struct Document<'a> {
            version: u32,
            images: &'a [ListedImage],
        }
        printer.json(&Document {
            version: 1,
            images: &rows,
        });
        return Ok(ExitStatus::Success);
    }
    let show = |flag: bool| if flag { "yes" } else { "no" }.to_string();
    let table = Table::new(
        &[
            "Image", "Set", "Modules", "Base", "Here", "Registry", "IOCs",
        ],
        rows.into_iter()
            .map(|row| {
                vec![
                    row.image,
                    row.set,
                    row.modules,
                    row.base,
                    row.local.unwrap_or_else(|| "no".to_string()),
                    show(row.in_registry),
                    row.iocs.join(" "),
                ]
            })
            .collect(),
    );
    printer.table(&table);
    Ok(ExitStatus::Success)
}
