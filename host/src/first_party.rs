//! The platform's own plugins, compiled from `plugins/` by the build and
//! embedded in the binary. Addressable by name wherever a plugin file is.

/// The component bytes of the first-party plugin `name`, if there is one.
pub fn bytes(name: &str) -> Option<&'static [u8]> {
    switchboard_artifacts::first_party::ALL
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, b)| *b)
}

/// Names of all first-party plugins.
pub fn names() -> impl Iterator<Item = &'static str> {
    switchboard_artifacts::first_party::ALL
        .iter()
        .map(|(n, _)| *n)
}
