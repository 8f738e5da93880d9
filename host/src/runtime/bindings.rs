//! The host's one `bindgen!` site. Generated types stay inside `runtime`;
//! `convert` turns them into `crate::domain` types.

wasmtime::component::bindgen!({
    world: "host-runtime",
    path: "../wit",
    // Exports are called with `call_async` so that a call is a future the
    // host can abandon at its deadline, even while the guest waits in a WASI
    // call (a sleep, a poll). The `host` imports stay synchronous: they
    // never wait on anything.
    exports: { default: async },
});

pub use self::exports::switchboard::plugin::{
    adapter, configuration, guard, media, prompt_builder, templates,
};
pub use self::switchboard::plugin::host;
pub use self::switchboard::plugin::types;
