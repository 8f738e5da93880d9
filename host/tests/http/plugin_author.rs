//! The plugin author's loop, as a new author runs it, for Rust, JavaScript
//! and Python: in a fresh directory `switchboard plugin new` (an adapter and
//! a guardrail) → `plugin build` → `plugin test` → `plugin check` → `plugin
//! upload DIR` (into the running server's database) → a webhook through
//! both. JavaScript and Python are skipped, saying so, when their tools are
//! not installed.

use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::harness::{Backend, TestServer, unique};
use crate::polyglot::{simplechat_webhook, stored};

/// The secret the scaffolded adapter cases are signed with.
const CASE_SECRET: &str = "example-secret";

/// Run the CLI in `cwd`; panics with its output unless it succeeds.
fn switchboard(cwd: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .current_dir(cwd)
        .args(args)
        // Fresh Rust plugins share one target directory, so their
        // dependencies are compiled once per machine, not per test run.
        .env(
            "SWITCHBOARD_PLUGIN_TARGET_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-new"),
        )
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "switchboard {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Whether `lang`'s tool is installed; prints why not.
fn tools_present(lang: &str) -> bool {
    let tools = switchboard::authoring::Toolchain::from_env();
    let probe = Path::new(".");
    let missing = match lang {
        "js" => tools.componentize_js(probe).err(),
        "python" => tools.componentize_py(probe).err(),
        _ => None,
    };
    if let Some(m) = missing {
        let msg = format!(
            "skipped: the {lang} author loop needs {} ({})",
            m.tool, m.install
        );
        assert!(
            std::env::var_os("SWITCHBOARD_REQUIRE_POLYGLOT").is_none(),
            "{msg}"
        );
        eprintln!("{msg}");
        return false;
    }
    true
}

async fn author_loop(lang: &str) {
    if !tools_present(lang) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    // The server shares the CLI upload's compiled-component cache, as a
    // `serve` on the same data directory would.
    let cache_dir = cache.path().to_path_buf();
    let s =
        TestServer::start_with(Backend::Sqlite, |c| c.component_cache_dir = Some(cache_dir)).await;
    let (tenant, key) = s.tenant("author").await;
    let adapter = format!("{lang}-chat");
    let guard = format!("{lang}-filter");
    for (name, world) in [(&adapter, "channel-adapter"), (&guard, "guardrail")] {
        let dir = work.path();
        let out = switchboard(
            dir,
            &["plugin", "new", "--lang", lang, "--world", world, name],
        );
        assert!(out.contains(&format!("created ./{name}")), "{out}");
        let built = switchboard(dir, &["plugin", "build", name]);
        assert!(
            built
                .trim_end()
                .ends_with(&format!("{name}/dist/{name}.wasm")),
            "build prints the component's path: {built}"
        );
        let tested = switchboard(dir, &["plugin", "test", name]);
        assert!(tested.contains("2 passed, 0 failed"), "{tested}");
        let checked = switchboard(dir, &["plugin", "check", name]);
        assert!(
            checked.contains(&format!("world:        {world}")),
            "{checked}"
        );
        assert!(checked.contains("smoke call:   ok"), "{checked}");
        let uploaded = switchboard(
            dir,
            &[
                "plugin",
                "upload",
                name,
                "--tenant",
                &tenant,
                "--data-dir",
                &cache.path().display().to_string(),
                "--database-url",
                &s.database_url(&Backend::Sqlite),
            ],
        );
        let record: serde_json::Value =
            serde_json::from_str(&uploaded).expect("upload prints JSON");
        assert_eq!(record["name"], name.as_str(), "{record}");
        assert_eq!(
            record["version"], "0.1.0",
            "the manifest's version: {record}"
        );
    }

    let (st, ch) = s
        .post_json(
            &key,
            "/v1/channels",
            &json!({ "name": format!("{lang}-{}", unique()), "adapter": adapter,
                     "config": { "secret": CASE_SECRET },
                     "guardrails": [{ "plugin": guard, "config": { "mask_words": "darn" } }] }),
        )
        .await;
    assert_eq!(st, 201, "{ch}");
    let ch = ch["id"].as_str().unwrap().to_string();
    assert_eq!(
        simplechat_webhook(&s, &ch, CASE_SECRET, "a-1", "well darn it").await,
        200
    );
    assert_eq!(
        simplechat_webhook(&s, &ch, CASE_SECRET, "a-2", "so forbidden").await,
        200
    );
    assert_eq!(stored(&s, &key, &ch, "a-1").await["text"], "well **** it");
    assert_eq!(stored(&s, &key, &ch, "a-2").await["status"], "blocked");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_author_loop() {
    author_loop("rust").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_author_loop() {
    author_loop("js").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_author_loop() {
    author_loop("python").await;
}
