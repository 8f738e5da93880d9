//! Builds every guest crate into a WebAssembly component, the way wasmtime's
//! `test-programs/artifacts` does: one nested `cargo build` for
//! `wasm32-wasip2` into `<target>/guests`, then a generated module of
//! constants.
//!
//! - `plugins/*`      → `first_party::NAME` (bytes, embedded in the host)
//! - `examples/*`     → `examples::NAME` (path to the .wasm)
//! - `tests/guests/*` → `test_guests::NAME` (path to the .wasm)
//!
//! Every guest must be exercised by a host-side test (a test file under
//! `host/tests/` that names its constant), or the build fails.

use std::collections::BTreeMap;
use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";
const PROFILE: &str = "guest";

struct Guest {
    group: &'static str,
    package: String,
}

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap());

    for dir in [
        "wit",
        "sdk-guest",
        "plugins",
        "examples",
        "tests/guests",
        "host/tests",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        root.join("Cargo.lock").display()
    );
    // Profiles (the `guest` profile) live in the workspace manifest.
    println!(
        "cargo:rerun-if-changed={}",
        root.join("Cargo.toml").display()
    );
    println!("cargo:rerun-if-env-changed=SWITCHBOARD_GUEST_CHECK");

    let guests = discover(&root);
    ensure_target_installed();

    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { root.join(p) })
        .unwrap_or_else(|| root.join("target"))
        .join("guests");
    build_guests(&root, &target_dir, &guests);
    check_every_guest_is_tested(&root, &guests);

    let mut src = String::new();
    let mut groups: BTreeMap<&str, Vec<&Guest>> = BTreeMap::new();
    for g in &guests {
        groups.entry(g.group).or_default().push(g);
    }
    for (group, members) in groups {
        writeln!(src, "pub mod {group} {{").unwrap();
        let mut all = Vec::new();
        for g in members {
            let file = g.package.replace('-', "_") + ".wasm";
            let built = target_dir.join(TARGET).join(PROFILE).join(&file);
            // Copy so the constant points at a snapshot this build owns, not a
            // file a later guest build (another profile) may rewrite.
            let copy = out_dir.join(&file);
            fs::copy(&built, &copy).unwrap_or_else(|e| panic!("copying {}: {e}", built.display()));
            let ident = const_name(&g.package);
            if group == "first_party" {
                writeln!(src, "    /// The `{}` component.", g.package).unwrap();
                writeln!(
                    src,
                    "    pub const {ident}: &[u8] = include_bytes!({:?});",
                    copy.display().to_string()
                )
                .unwrap();
            } else {
                writeln!(src, "    /// Path to the `{}` component.", g.package).unwrap();
                writeln!(
                    src,
                    "    pub const {ident}: &str = {:?};",
                    copy.display().to_string()
                )
                .unwrap();
            }
            all.push((g.package.clone(), ident));
        }
        let ty = if group == "first_party" {
            "&[u8]"
        } else {
            "&str"
        };
        writeln!(
            src,
            "    /// Every component in this group, by package name."
        )
        .unwrap();
        writeln!(src, "    pub const ALL: &[(&str, {ty})] = &[").unwrap();
        for (name, ident) in all {
            writeln!(src, "        ({name:?}, {ident}),").unwrap();
        }
        writeln!(src, "    ];\n}}").unwrap();
    }
    fs::write(out_dir.join("artifacts.rs"), src).unwrap();
}

/// Guest crates are the folders with a Cargo.toml under the three roots.
fn discover(root: &Path) -> Vec<Guest> {
    let mut guests = Vec::new();
    for (group, dir) in [
        ("first_party", "plugins"),
        ("examples", "examples"),
        ("test_guests", "tests/guests"),
    ] {
        let Ok(entries) = fs::read_dir(root.join(dir)) else {
            continue;
        };
        let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        names.sort();
        for path in names {
            let manifest = path.join("Cargo.toml");
            let Ok(text) = fs::read_to_string(&manifest) else {
                continue;
            };
            // Library crates shared by several plugins (crate-type without
            // `cdylib`) are dependencies, not components.
            if !text.contains("cdylib") {
                continue;
            }
            let package = text
                .lines()
                .find_map(|l| {
                    l.trim()
                        .strip_prefix("name = ")
                        .map(|v| v.trim_matches('"').to_string())
                })
                .unwrap_or_else(|| panic!("{} has no package name", manifest.display()));
            guests.push(Guest { group, package });
        }
    }
    guests
}

/// A fresh machine may lack the wasm target (`RUSTUP_AUTO_INSTALL=0`): add it
/// through rustup when possible, or stop with the exact command to run.
fn ensure_target_installed() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let has_target = || {
        Command::new(&rustc)
            .args(["--print", "target-libdir", "--target", TARGET])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).exists())
            .unwrap_or(false)
    };
    if has_target() {
        return;
    }
    let toolchain = env::var("RUSTUP_TOOLCHAIN").ok();
    let mut cmd = Command::new("rustup");
    cmd.args(["target", "add", TARGET]);
    if let Some(tc) = &toolchain {
        cmd.args(["--toolchain", tc]);
    }
    let added = cmd.status().map(|s| s.success()).unwrap_or(false);
    if !added || !has_target() {
        panic!(
            "\n\nThe Rust target `{TARGET}` is not installed and could not be added automatically.\n\
             Run:\n\n    rustup target add {TARGET}\n\nthen build again.\n"
        );
    }
}

fn build_guests(root: &Path, target_dir: &Path, guests: &[Guest]) {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args([
            "build",
            "--target",
            TARGET,
            "--profile",
            PROFILE,
            "--target-dir",
        ])
        .arg(target_dir);
    for g in guests {
        cmd.args(["-p", &g.package]);
    }
    // The outer build's flags target the host; they must not leak into the
    // wasm build (wasmtime's artifacts build.rs does the same).
    for (key, _) in env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("CARGO_ENCODED_RUSTFLAGS")
            || key == "RUSTFLAGS"
            || key == "CARGO_TARGET_DIR"
            || key == "CARGO_BUILD_TARGET"
            || key.starts_with("CARGO_PROFILE_")
            || key == "RUSTC_WORKSPACE_WRAPPER"
            || key == "CARGO_BUILD_RUSTFLAGS"
        {
            cmd.env_remove(&key);
        }
    }
    let status = cmd
        .status()
        .expect("failed to run cargo for the guest build");
    if !status.success() {
        panic!("building the wasm guests failed (see the cargo output above)");
    }
}

/// Mirrors wasmtime's rule: a guest with no host-side test fails the build.
fn check_every_guest_is_tested(root: &Path, guests: &[Guest]) {
    let mut sources = String::new();
    collect_rs(&root.join("host/tests"), &mut sources);
    let missing: Vec<_> = guests
        .iter()
        .map(|g| const_name(&g.package))
        .filter(|c| !sources.contains(c.as_str()))
        .collect();
    if !missing.is_empty() {
        panic!(
            "these guest components have no host-side test in host/tests (reference their constant): {missing:?}"
        );
    }
}

fn collect_rs(dir: &Path, out: &mut String) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_rs(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push_str(&fs::read_to_string(&p).unwrap_or_default());
        }
    }
}

fn const_name(package: &str) -> String {
    package.to_uppercase().replace('-', "_")
}
