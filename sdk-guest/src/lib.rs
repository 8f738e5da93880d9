//! # switchboard-sdk
//!
//! Write Switchboard plugins — channel adapters, guardrails and personas — as
//! WebAssembly components. Implement one trait (every method but the essential
//! ones has a default) on a struct and call one export macro:
//!
//! ```ignore
//! use switchboard_sdk::prelude::*;
//!
//! struct Echo;
//!
//! impl ChannelAdapter for Echo {
//!     fn info() -> AdapterInfo {
//!         AdapterInfo::named("echo")
//!     }
//!     fn parse(request: &HttpRequest) -> Result<Vec<Event>, PluginError> {
//!         let text = request.body_str()?.to_string();
//!         Ok(vec![Event::Message(InboundMessage::text("id-1", "user-1", text))])
//!     }
//! }
//!
//! switchboard_sdk::export_adapter!(Echo);
//! ```
//!
//! Build with `cargo build --target wasm32-wasip2`. The
//! plugin gets no filesystem, environment, sockets or network: everything it
//! may do goes through [`host`].

// Lets generated code name this crate the same way from inside and outside.
#[allow(unused_extern_crates)]
extern crate self as switchboard_sdk;

#[doc(hidden)]
#[path = "bindings.rs"]
pub mod __bindings;

#[doc(hidden)]
pub mod __rt {
    pub use wit_bindgen;
}

mod error;
pub mod host;
mod request;
mod types;

mod adapter;
mod guardrail;
mod persona;

#[doc(hidden)]
pub use adapter::AdapterExport as __AdapterExport;
pub use adapter::ChannelAdapter;
pub use guardrail::Guardrail;
#[doc(hidden)]
pub use guardrail::GuardrailExport as __GuardrailExport;
pub use persona::Persona;
#[doc(hidden)]
pub use persona::PersonaExport as __PersonaExport;

pub use request::{form_pairs, is_path_segment, query_pairs};
pub use types::*;

/// Everything a plugin usually needs, in one import.
pub mod prelude {
    pub use crate::ChannelAdapter;
    pub use crate::Guardrail;
    pub use crate::Persona;
    pub use crate::host;
    pub use crate::types::*;
}
