//! Names no IOC may take because something else already goes by them. Which names
//! those are is the service catalog's to say (`services::catalog::reserved_names`);
//! the repository and the workflows only ask.

/// An IOC name that is the name of a built-in service, a custom service or a folder
/// of the run directory. Such an IOC would share that service's folder, service name
/// or `--type`-less lookups with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "IOC name \"{name}\" is reserved for {what} \"{reserved}\" (IOC names may not be the name of a built-in service, a service of services.yaml or the run folders iocLog, iocs, global-services, in any case)"
)]
pub(crate) struct ReservedName {
    pub(crate) name: String,
    pub(crate) reserved: String,
    pub(crate) what: &'static str,
}

/// The names no IOC may take, compared without regard to case, each with what
/// holds it ("the built-in service", "the run folder", ...).
#[derive(Debug, Clone, Default)]
pub(crate) struct ReservedNames {
    names: Vec<(String, &'static str)>,
}

impl ReservedNames {
    pub(crate) fn new(names: impl IntoIterator<Item = (String, &'static str)>) -> Self {
        ReservedNames {
            names: names.into_iter().collect(),
        }
    }

    pub(crate) fn check(&self, name: &str) -> Result<(), ReservedName> {
        match self
            .names
            .iter()
            .find(|(reserved, _)| reserved.eq_ignore_ascii_case(name))
        {
            Some((reserved, what)) => Err(ReservedName {
                name: name.to_string(),
                reserved: reserved.clone(),
                what,
            }),
            None => Ok(()),
        }
    }
}
