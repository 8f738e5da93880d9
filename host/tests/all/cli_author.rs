//! `switchboard plugin test|build` on a plugin directory, as a real
//! process: a mismatching saved case is shown as a diff, and a missing build
//! tool is named with the command that installs it. (The whole loop, per
//! language, is `host/tests/http/plugin_author.rs`.)

use std::path::Path;
use std::process::{Command, Output};

use switchboard_artifacts::examples::SIMPLE_JSON_ADAPTER;

fn switchboard(args: &[&str], path_var: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.args(args);
    if let Some(p) = path_var {
        cmd.env("PATH", p);
    }
    cmd.output().expect("runs")
}

/// A plugin directory holding an already built component (the Rust
/// example), so `plugin test` needs no build tool.
fn project_with(dir: &Path, language: &str, case: serde_json::Value) {
    std::fs::write(
        dir.join("plugin.json"),
        serde_json::json!({ "name": "chat", "language": language, "world": "channel-adapter", "source": "adapter.js" }).to_string(),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("cases")).unwrap();
    std::fs::write(dir.join("cases/one.json"), case.to_string()).unwrap();
    // Written last, so the component is newer than every source file.
    std::fs::create_dir_all(dir.join("dist")).unwrap();
    std::fs::copy(SIMPLE_JSON_ADAPTER, dir.join("dist/chat.wasm")).unwrap();
}

#[test]
fn test_shows_a_diff_when_an_output_differs() {
    let dir = tempfile::tempdir().unwrap();
    let body = r#"{"messages":[{"id":"m-1","from":"+1555","text":"Hello"}]}"#;
    let sig = crate::common::hmac_sha256_hex(b"s3cret", body.as_bytes());
    project_with(
        dir.path(),
        "rust",
        serde_json::json!({
            "config": { "secret": "s3cret" },
            "request": { "url": "https://x.test/", "headers": { "x-signature": sig }, "body": body },
            "expect": { "verify": "accepted", "events": [{ "type": "message", "external_id": "m-1",
                        "text": "Goodbye" }] },
        }),
    );
    let out = switchboard(&["plugin", "test", &dir.path().display().to_string()], None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAILED one.json"), "{stdout}");
    assert!(stdout.contains("-       \"text\": \"Goodbye\""), "{stdout}");
    assert!(stdout.contains("+       \"text\": \"Hello\""), "{stdout}");
    assert!(stdout.contains("0 passed, 1 failed"), "{stdout}");
}

#[test]
fn build_names_the_install_command_of_a_missing_tool() {
    let dir = tempfile::tempdir().unwrap();
    project_with(
        dir.path(),
        "js",
        serde_json::json!({ "message": "x", "expect": {} }),
    );
    std::fs::write(dir.path().join("adapter.js"), "export const adapter = {};").unwrap();
    // No `node` on an empty PATH.
    let out = switchboard(
        &["plugin", "build", &dir.path().display().to_string()],
        Some(""),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("node is not installed; install it with:")
            && stderr.contains("apt-get install nodejs npm"),
        "{stderr}"
    );
}
