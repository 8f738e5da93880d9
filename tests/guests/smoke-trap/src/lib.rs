//! An adapter that is a valid component of a known world but traps in
//! `info`: the upload's smoke call must refuse it.

// Only meaningful as a wasm component; natively this crate is empty.
#![cfg(target_arch = "wasm32")]

use switchboard_sdk::prelude::*;

struct SmokeTrap;

impl ChannelAdapter for SmokeTrap {
    fn info() -> AdapterInfo {
        panic!("smoke-trap traps in info on purpose")
    }

    fn parse(_request: &HttpRequest) -> Result<Vec<Event>, PluginError> {
        Ok(vec![])
    }
}

switchboard_sdk::export_adapter!(SmokeTrap);
