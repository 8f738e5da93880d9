//! The only place wit-bindgen runs. Everything here is `#[doc(hidden)]`:
//! plugin authors use the re-exports and traits in the crate root.

/// Shared types and the `host` imports, generated once.
pub mod base {
    wit_bindgen::generate!({
        world: "plugin-base",
        path: "../wit",
        generate_unused_types: true,
        runtime_path: "switchboard_sdk::__rt::wit_bindgen::rt",
        additional_derives: [PartialEq],
    });
}

/// The `channel-adapter` world's export glue.
pub mod adapter {
    wit_bindgen::generate!({
        world: "channel-adapter",
        path: "../wit",
        with: {
            "switchboard:plugin/host@0.1.2": switchboard_sdk::__bindings::base::switchboard::plugin::host,
            "switchboard:plugin/types@0.1.2": switchboard_sdk::__bindings::base::switchboard::plugin::types,
        },
        pub_export_macro: true,
        export_macro_name: "__export_channel_adapter_world",
        default_bindings_module: "switchboard_sdk::__bindings::adapter",
        runtime_path: "switchboard_sdk::__rt::wit_bindgen::rt",
    });
}

/// The `guardrail` world's export glue.
pub mod guardrail {
    wit_bindgen::generate!({
        world: "guardrail",
        path: "../wit",
        with: {
            "switchboard:plugin/host@0.1.2": switchboard_sdk::__bindings::base::switchboard::plugin::host,
            "switchboard:plugin/types@0.1.2": switchboard_sdk::__bindings::base::switchboard::plugin::types,
        },
        pub_export_macro: true,
        export_macro_name: "__export_guardrail_world",
        default_bindings_module: "switchboard_sdk::__bindings::guardrail",
        runtime_path: "switchboard_sdk::__rt::wit_bindgen::rt",
    });
}

/// The `persona` world's export glue.
pub mod persona {
    wit_bindgen::generate!({
        world: "persona",
        path: "../wit",
        with: {
            "switchboard:plugin/host@0.1.2": switchboard_sdk::__bindings::base::switchboard::plugin::host,
            "switchboard:plugin/types@0.1.2": switchboard_sdk::__bindings::base::switchboard::plugin::types,
        },
        pub_export_macro: true,
        export_macro_name: "__export_persona_world",
        default_bindings_module: "switchboard_sdk::__bindings::persona",
        runtime_path: "switchboard_sdk::__rt::wit_bindgen::rt",
    });
}
