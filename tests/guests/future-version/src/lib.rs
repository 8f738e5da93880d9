//! Built straight on wit-bindgen (not the SDK) against a made-up
//! `switchboard:plugin@9.0.0`, so the host sees a version it must refuse.

// Only meaningful as a wasm component; natively this crate is empty.
#![cfg(target_arch = "wasm32")]

wit_bindgen::generate!({
    inline: "
        package switchboard:plugin@9.0.0;
        interface adapter {
            info: func() -> string;
        }
        world next-gen {
            export adapter;
        }
    ",
    world: "next-gen",
});

struct Future;

impl exports::switchboard::plugin::adapter::Guest for Future {
    fn info() -> String {
        "from the future".into()
    }
}

export!(Future);
