//! The host's one `bindgen!` site. Generated types stay inside `runtime`;
//! `convert` turns them into `crate::domain` types.

wasmtime::component::bindgen!({
    world: "host-runtime",
    path: "../wit",
});

pub use self::exports::switchboard::plugin::{adapter, guard, prompt_builder, templates};
pub use self::switchboard::plugin::host;
pub use self::switchboard::plugin::types;
