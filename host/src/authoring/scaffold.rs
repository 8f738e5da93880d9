//! `plugin new`: a plugin directory an author can build, test and upload
//! at once — source, build files, the WIT it is built against, saved cases
//! with their expected output, and a README.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::project::{Language, MANIFEST, Manifest};
use super::toolchain::COMPONENTIZE_JS;

/// The WIT this binary speaks, copied into every new plugin.
const WIT: &[(&str, &str)] = &[
    ("host.wit", include_str!("../../../wit/host.wit")),
    ("types.wit", include_str!("../../../wit/types.wit")),
    ("worlds.wit", include_str!("../../../wit/worlds.wit")),
];

const JS_ADAPTER: &str = include_str!("../../../examples/js-adapter/adapter.js");
const JS_GUARDRAIL: &str = include_str!("templates/guardrail.js");
const JS_PERSONA: &str = include_str!("templates/persona.js");
const PY_ADAPTER: &str = include_str!("templates/adapter.py");
const PY_GUARDRAIL: &str = include_str!("../../../examples/python-guardrail/app.py");
const PY_PERSONA: &str = include_str!("templates/persona.py");
const RS_ADAPTER: &str = include_str!("../../../examples/simple-json-adapter/src/lib.rs");
const RS_GUARDRAIL: &str = include_str!("templates/guardrail.rs");
const RS_PERSONA: &str = include_str!("templates/persona.rs");

const WORKSPACE_LOCK: &str = include_str!("../../../Cargo.lock");

/// The secret the saved adapter cases are signed with.
const CASE_SECRET: &str = "example-secret";

/// Why `plugin new` created nothing.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error("`{0}` is not a plugin name (a-z, 0-9 and '-', starting with a letter)")]
    BadName(String),
    #[error("unknown world `{0}` (expected channel-adapter, guardrail or persona)")]
    UnknownWorld(String),
    #[error("{0} already exists")]
    Exists(PathBuf),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// `switchboard:plugin@X.Y.Z` → `X.Y.Z`, from the embedded WIT.
pub fn wit_version() -> &'static str {
    WIT[2]
        .1
        .lines()
        .find_map(|l| l.trim().strip_prefix("package switchboard:plugin@"))
        .map(|v| v.trim_end_matches(';'))
        .unwrap_or("0.1.0")
}

/// Create `parent/name/` for a plugin in `language` targeting `world`.
pub fn scaffold(
    parent: &Path,
    name: &str,
    language: Language,
    world: &str,
) -> Result<PathBuf, ScaffoldError> {
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        return Err(ScaffoldError::BadName(name.into()));
    }
    if !matches!(world, "channel-adapter" | "guardrail" | "persona") {
        return Err(ScaffoldError::UnknownWorld(world.into()));
    }
    let dir = parent.join(name);
    if dir.exists() {
        return Err(ScaffoldError::Exists(dir));
    }
    let mut files: Vec<(String, String)> = Vec::new();
    for (file, text) in WIT {
        files.push((format!("wit/{file}"), (*text).into()));
    }
    let version = wit_version();
    let fill = |t: &str| {
        let t = t
            .replace("{{name}}", name)
            .replace("{{wit_version}}", version);
        pin_host_import(&t, version)
    };
    let source = match language {
        Language::Js => {
            let (file, text) = match world {
                "channel-adapter" => ("adapter.js", JS_ADAPTER),
                "guardrail" => ("guardrail.js", JS_GUARDRAIL),
                _ => ("persona.js", JS_PERSONA),
            };
            files.push((file.into(), fill(text)));
            files.push(("package.json".into(), package_json(name)));
            Some(file.to_string())
        }
        Language::Python => {
            let text = match world {
                "channel-adapter" => PY_ADAPTER,
                "guardrail" => PY_GUARDRAIL,
                _ => PY_PERSONA,
            };
            files.push(("app.py".into(), fill(text)));
            files.push((
                "requirements.txt".into(),
                format!("{}\n", super::toolchain::COMPONENTIZE_PY),
            ));
            Some("app".to_string())
        }
        Language::Rust => {
            let text = match world {
                "channel-adapter" => RS_ADAPTER,
                "guardrail" => RS_GUARDRAIL,
                _ => RS_PERSONA,
            };
            files.push(("src/lib.rs".into(), fill(text)));
            files.push(("Cargo.toml".into(), cargo_toml(name)));
            // The versions this repository builds with: already downloaded
            // wherever it was built, so the first build needs no registry
            // (cargo drops the entries the plugin does not use).
            files.push(("Cargo.lock".into(), WORKSPACE_LOCK.into()));
            None
        }
    };
    let manifest = Manifest {
        name: name.into(),
        language,
        world: world.into(),
        version: "0.1.0".into(),
        source,
        wit: "wit".into(),
    };
    files.push((
        MANIFEST.into(),
        serde_json::to_string_pretty(&manifest).expect("manifest serializes") + "\n",
    ));
    for (file, case) in cases(name, world) {
        files.push((
            format!("cases/{file}"),
            serde_json::to_string_pretty(&case).expect("case serializes") + "\n",
        ));
    }
    files.push(("README.md".into(), readme(name, language, world)));
    files.push((
        ".gitignore".into(),
        "dist/\ntarget/\nnode_modules/\n.venv/\n__pycache__/\n".into(),
    ));
    for (file, text) in files {
        let path = dir.join(&file);
        std::fs::create_dir_all(path.parent().expect("inside the plugin directory"))?;
        std::fs::write(path, text)?;
    }
    Ok(dir)
}

/// JS imports name the contract version (`switchboard:plugin/host@0.1.2`):
/// point the template's at the version this binary's WIT declares.
fn pin_host_import(text: &str, version: &str) -> String {
    const PREFIX: &str = "switchboard:plugin/host@";
    let Some(start) = text.find(PREFIX) else {
        return text.into();
    };
    let rest = &text[start + PREFIX.len()..];
    let end = rest.find('"').unwrap_or(0);
    format!("{}{PREFIX}{version}{}", &text[..start], &rest[end..])
}

fn package_json(name: &str) -> String {
    let (package, version) = COMPONENTIZE_JS
        .rsplit_once('@')
        .expect("pinned with a version");
    serde_json::to_string_pretty(&json!({
        "name": name,
        "private": true,
        "type": "module",
        "devDependencies": { package: version },
    }))
    .expect("serializes")
        + "\n"
}

fn cargo_toml(name: &str) -> String {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk-guest");
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"

[lib]
crate-type = ["cdylib"]

[dependencies]
switchboard-sdk = {{ path = {sdk:?} }}
serde = {{ version = "1", features = ["derive"] }}
serde_json = "1"

[profile.release]
opt-level = "s"
lto = true
strip = "debuginfo"
panic = "abort"

# Not part of any enclosing workspace.
[workspace]
"#,
        sdk = sdk.display().to_string()
    )
}

/// The saved cases `plugin test` runs: the same protocol (SimpleChat) and
/// policy (word filter) in every language, so the expectations are shared.
fn cases(name: &str, world: &str) -> Vec<(&'static str, Value)> {
    match world {
        "channel-adapter" => {
            let body =
                r#"{"messages":[{"id":"m-1","from":"+15551234567","name":"Ann","text":"Hello"}]}"#;
            let signature = {
                use hmac::Mac;
                let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(CASE_SECRET.as_bytes())
                    .expect("any key length");
                mac.update(body.as_bytes());
                hex::encode(mac.finalize().into_bytes())
            };
            let request = |sig: &str| {
                json!({ "method": "POST", "url": "https://example.test/webhooks/channel",
                        "headers": { "content-type": "application/json", "x-signature": sig },
                        "body": body })
            };
            vec![
                (
                    "signed-message.json",
                    json!({
                        "config": { "secret": CASE_SECRET },
                        "request": request(&signature),
                        "expect": { "verify": "accepted", "events": [{
                            "type": "message", "external_id": "m-1", "kind": "text", "text": "Hello",
                            "sender": { "address": "+15551234567", "display_name": "Ann", "phone": null, "user_id": null },
                            "attachments": [], "consent": null, "group_id": null, "interactive": null,
                            "location": null, "reaction": null, "recipient": null, "reply_to": null,
                            "route_key": null, "timestamp": null,
                        }]},
                    }),
                ),
                (
                    "bad-signature.json",
                    json!({
                        "config": { "secret": CASE_SECRET },
                        "request": request(&"0".repeat(64)),
                        "expect": { "error": {
                            "code": "guest-error",
                            "message": "invalid signature: X-Signature does not match the body",
                            "detail": { "kind": "invalid-signature", "detail": "X-Signature does not match the body" },
                        }},
                    }),
                ),
            ]
        }
        "guardrail" => vec![
            (
                "blocks.json",
                json!({
                    "message": "this is forbidden",
                    "expect": { "verdict": { "verdict": "block", "reason": "contains blocked word `forbidden`", "reply": null } },
                }),
            ),
            (
                "masks.json",
                json!({
                    "config": { "mask_words": "darn" },
                    "message": "well darn it",
                    "direction": "outbound",
                    "expect": { "verdict": { "verdict": "rewrite", "text": "well **** it" } },
                }),
            ),
        ],
        _ => vec![(
            "prompt.json",
            json!({
                "message": "Hello",
                "expect": { "prompt": { "system": format!("You are {name}. Answer briefly and kindly."), "context": null } },
            }),
        )],
    }
}

fn readme(name: &str, language: Language, world: &str) -> String {
    let build_tool = match language {
        Language::Rust => "cargo (with `rustup target add wasm32-wasip2`)",
        Language::Js => "componentize-js (`npm install` here installs the pinned version)",
        Language::Python => {
            "componentize-py (`pip install -r requirements.txt`, in a venv at `.venv`)"
        }
    };
    format!(
        r#"# {name}

A Switchboard `{world}` plugin. See the plugin author's guide
(`docs/plugins.md` in the Switchboard repository) for what each export must
do, the limits and the host capabilities.

```sh
switchboard plugin build {name}     # -> {name}/dist/{name}.wasm, built with {build_tool}
switchboard plugin test {name}      # runs cases/*.json under the platform's limits
switchboard plugin check {name}     # what the upload validation will say
switchboard plugin upload {name} --tenant acme    # or POST the .wasm to /v1/plugins
```

`cases/*.json` hold saved inputs (`request` for an adapter, `message` for a
guardrail or persona), the binding `config`, and the `expect`ed output (what
`switchboard plugin run` prints, or `{{"error": …}}`). `wit/` is the contract
this plugin is built against.
"#
    )
}
