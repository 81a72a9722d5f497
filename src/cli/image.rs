//! `iocdock image`: the IOC images built from source, and the images the cluster
//! registry must hold.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::OutputFormat;

#[derive(Debug, Args)]
pub(crate) struct ImageArgs {
    #[command(subcommand)]
    pub(crate) action: ImageAction,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ImageAction {
    /// Build the EPICS base image and the ioc-exec images of module sets from source archives
    #[command(after_help = "\
Examples:
  # the base image and every module set of the module-set file
  iocdock image build

  # only module set 1 (seq asyn autosave caPutLog iocStats StreamDevice modbus)
  iocdock image build 1

  # archives from another folder, with 8 compile jobs
  iocdock image build 0 1 --sources /srv/epics-sources --jobs 8
")]
    Build(ImageBuildArgs),
    /// List the ioc-exec images here and in the cluster registry, their modules and IOCs
    #[command(after_help = "\
Examples:
  # images, module sets and the IOCs that run on each
  iocdock image list

  # the same as JSON
  iocdock image list --format json
")]
    List(ImageListArgs),
    /// Push the base and ioc-exec images to the cluster registry (push login of the settings)
    #[command(after_help = "\
Examples:
  # every image built here
  iocdock image push

  # only the base image and module set 1
  iocdock image push 1
")]
    Push(ImagePushArgs),
    /// Copy the built-in services' images (imsrvs/images.yaml) into the cluster registry
    #[command(after_help = "\
Examples:
  # every image of the versions table
  iocdock image prepare

  # only prometheus and grafana
  iocdock image prepare prometheus grafana
")]
    Prepare(ImagePrepareArgs),
    /// Print the module-set file in effect (a start for $TEMPLATE_PATH/image/modules.yaml)
    #[command(after_help = "\
Examples:
  # start a site's own module-set file from the one in effect
  mkdir -p \"$(iocdock config TEMPLATE_PATH)/image\"
  iocdock image modules > \"$(iocdock config TEMPLATE_PATH)/image/modules.yaml\"
")]
    Modules,
}

#[derive(Debug, Args)]
pub(crate) struct ImageBuildArgs {
    /// Module sets to build (names of the module-set file); all when none is given
    #[arg(value_name = "SET")]
    pub(crate) sets: Vec<String>,
    /// Build only the base image
    #[arg(long = "base-only", conflicts_with = "sets")]
    pub(crate) base_only: bool,
    /// Folder of the source archives [default: $IMAGE_SOURCES_PATH]
    #[arg(long, value_name = "DIR")]
    pub(crate) sources: Option<PathBuf>,
    /// Build anew, without the engine's build cache, even when an image from the same
    /// inputs exists (e.g. to take newer OS packages)
    #[arg(long)]
    pub(crate) force: bool,
    /// Parallel compile jobs in the build [default: this machine's processors]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub(crate) jobs: Option<u32>,
}

#[derive(Debug, Args)]
pub(crate) struct ImageListArgs {
    /// Output format: a text table, or one JSON document
    #[arg(long, value_enum, default_value_t = OutputFormat::Text, value_name = "FORMAT")]
    pub(crate) format: OutputFormat,
}

#[derive(Debug, Args)]
pub(crate) struct ImagePushArgs {
    /// Module sets whose ioc-exec image to push with the base image; all that exist
    /// here when none is given
    #[arg(value_name = "SET")]
    pub(crate) sets: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ImagePrepareArgs {
    /// Keys of the versions table to copy (e.g. prometheus); all when none is given
    #[arg(value_name = "KEY")]
    pub(crate) keys: Vec<String>,
}
