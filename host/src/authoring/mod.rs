//! The plugin author's loop, as a library: a plugin project on disk
//! (`plugin.json` + sources + saved cases), building it into a component
//! with the language's own tool, and running its saved cases through the
//! real runtime. The `switchboard plugin new|build|test` commands and the
//! tests use the same code.

mod build;
mod cases;
mod invoke;
mod project;
mod request_file;
mod scaffold;
mod toolchain;

pub use build::{BuildError, build, needs_build};
pub use cases::{CaseOutcome, run_cases};
pub use invoke::{Input, Invocation, WrongInput, error_json, invoke};
pub use project::{Language, MANIFEST, Manifest, Project, ProjectError};
pub use request_file::load_request;
pub use scaffold::{ScaffoldError, scaffold, wit_version};
pub use toolchain::{COMPONENTIZE_JS, COMPONENTIZE_PY, Toolchain};
