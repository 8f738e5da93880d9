//! Which plugin world a component implements, detected from its exports.

use wasmtime::Engine;
use wasmtime::component::Component;

/// The package and version this host implements.
pub const PACKAGE: &str = "switchboard:plugin";
/// Versions this host can run, newest first.
/// 0.1.1 adds the optional `templates` interface, 0.1.2 the optional
/// `configuration` interface; older components keep working (their names
/// match the host's 0.1.2 semver-compatibly).
pub const SUPPORTED_VERSIONS: &[&str] = &["0.1.0", "0.1.1", "0.1.2"];

/// A plugin world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum World {
    /// Exports `adapter`.
    ChannelAdapter,
    /// Exports `guard`.
    Guardrail,
    /// Exports `prompt-builder`.
    Persona,
}

impl World {
    /// The world's WIT name.
    pub fn name(self) -> &'static str {
        match self {
            World::ChannelAdapter => "channel-adapter",
            World::Guardrail => "guardrail",
            World::Persona => "persona",
        }
    }

    /// The interface the world exports.
    pub fn interface(self) -> &'static str {
        match self {
            World::ChannelAdapter => "adapter",
            World::Guardrail => "guard",
            World::Persona => "prompt-builder",
        }
    }

    fn from_interface(name: &str) -> Option<World> {
        [World::ChannelAdapter, World::Guardrail, World::Persona]
            .into_iter()
            .find(|w| w.interface() == name)
    }
}

impl std::fmt::Display for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a component declares.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Detected {
    pub world: World,
    pub version: String,
    pub exports: Vec<String>,
    pub imports: Vec<String>,
}

/// Find the one plugin world `component` exports, or say exactly what was
/// expected.
pub fn detect(engine: &Engine, component: &Component) -> Result<Detected, String> {
    let ty = component.component_type();
    let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
    let imports: Vec<String> = ty.imports(engine).map(|(n, _)| n.to_string()).collect();
    let expected = || {
        SUPPORTED_VERSIONS
            .iter()
            .flat_map(|v| {
                ["adapter", "guard", "prompt-builder"].map(|i| format!("{PACKAGE}/{i}@{v}"))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut found = Vec::new();
    for name in &exports {
        let Some(rest) = name.strip_prefix(PACKAGE).and_then(|r| r.strip_prefix('/')) else {
            continue;
        };
        let (iface, version) = rest.split_once('@').unwrap_or((rest, ""));
        let Some(world) = World::from_interface(iface) else {
            continue;
        };
        if !SUPPORTED_VERSIONS.contains(&version) {
            return Err(format!(
                "component exports `{name}`, but this host supports {PACKAGE}@{} (expected one of: {})",
                SUPPORTED_VERSIONS.join(", "),
                expected()
            ));
        }
        found.push((world, version.to_string()));
    }
    match found.as_slice() {
        [(world, version)] => Ok(Detected {
            world: *world,
            version: version.clone(),
            exports,
            imports,
        }),
        [] => Err(format!(
            "component exports none of the plugin interfaces (expected one of: {}; found: [{}])",
            expected(),
            exports.join(", ")
        )),
        _ => Err(format!(
            "component exports several plugin interfaces ({}); a plugin implements exactly one world",
            exports.join(", ")
        )),
    }
}
