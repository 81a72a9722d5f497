//! What iocdock accepts, in one place: every option of ioc.ini (`ioc_ini`), every
//! setting of settings.yaml (`settings`), the names of IOCs (`ioc_name`), the names
//! swarm takes for services (`names`) and the value syntaxes they are made of
//! (`values`). Commands, generation and export ask these rules; none keeps a rule of
//! its own.

pub(crate) mod ioc_ini;
pub(crate) mod ioc_name;
pub(crate) mod names;
pub(crate) mod settings;
pub(crate) mod values;
