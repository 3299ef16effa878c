//! What a test of your own needs: load a scenario ([`Scenario::load`] a file,
//! [`Scenario::parse`] a string), change `scenario.spec`, [`run`] it, read the
//! [`Report`].

pub use crate::runner::{run_scenario as run, Report};
pub use crate::scenario::{Scenario, ScenarioError, Schedule};
pub use kernel_model::event::EventKind;
pub use kernel_model::profile::KernelProfile;
pub use kernel_model::Isa;
