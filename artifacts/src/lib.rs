//! Every guest crate of the workspace, compiled to a wasm component by this
//! crate's build script.
//!
//! - [`first_party`]: the platform's own plugins, as bytes (embedded in the
//!   `switchboard` binary).
//! - [`examples`] and [`test_guests`]: paths to `.wasm` files, for tests.

include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));
