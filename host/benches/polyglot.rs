//! Rust, JavaScript and Python adapters side by side (run with `cargo bench
//! -p switchboard --bench polyglot`). Prints a table and, last, one JSON
//! line.
//!
//! The three speak the same protocol (SimpleChat: HMAC-signed JSON
//! webhooks): `examples/simple-json-adapter` (Rust), `examples/js-adapter`
//! (componentize-js) and the Python adapter `switchboard plugin new --lang
//! python --world channel-adapter` creates (componentize-py), built here
//! from source. A language whose tool is missing is left out, saying so.
//!
//! Per language: component size, compile time, disk-cache load, a fresh
//! instance's `verify` + `parse` of a 1 KB webhook (p50, p99: the platform
//! instantiates per call), instantiation alone, fuel and the linear memory
//! an instance grows to, and the process's resident memory after the calls.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use hmac::{Hmac, Mac};
use serde_json::json;
use switchboard::authoring::{BuildError, Language, Project, Toolchain, build, scaffold};
use switchboard::domain::{Header, HttpRequest};
use switchboard::runtime::{
    CallContext, DiskCache, LoadedPlugin, PluginRuntime, RuntimeOptions, Verified,
};

const SECRET: &str = "bench-secret";

fn main() {
    let work = tempfile::tempdir().expect("tempdir");
    let mut components: Vec<(&str, Vec<u8>)> = vec![(
        "rust",
        std::fs::read(switchboard_artifacts::examples::SIMPLE_JSON_ADAPTER).expect("rust example"),
    )];
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let js = Project::open(&repo.join("examples/js-adapter")).expect("js example");
    let py_dir = scaffold(
        work.path(),
        "py-adapter",
        Language::Python,
        "channel-adapter",
    )
    .expect("python adapter");
    let py = Project::open(&py_dir).expect("python project");
    for (lang, project) in [("js", js), ("python", py)] {
        match build(&project, &Toolchain::from_env()) {
            Ok((path, took)) => {
                eprintln!("{lang}: built in {:.1} s", took.as_secs_f64());
                components.push((lang, std::fs::read(path).expect("built")));
            }
            Err(BuildError::ToolMissing { tool, install }) => {
                eprintln!("{lang}: left out, {tool} is not installed ({install})")
            }
            Err(e) => panic!("{lang}: {e}"),
        }
    }

    let body = webhook(1024);
    let request = signed(&body);
    let ctx = CallContext::for_tenant("bench", "adapter")
        .with_config(BTreeMap::from([("secret".to_string(), SECRET.to_string())]));

    println!(
        "polyglot adapters: verify+parse of a {} byte signed webhook, fresh instance per call",
        body.len()
    );
    println!(
        "{:<8} {:>10} {:>11} {:>11} {:>10} {:>10} {:>12} {:>10} {:>10} {:>9}",
        "lang",
        "size",
        "compile",
        "cache load",
        "call p50",
        "call p99",
        "instantiate",
        "fuel",
        "memory",
        "RSS"
    );
    let mut rows = Vec::new();
    for (lang, bytes) in &components {
        let samples = if *lang == "rust" { 5_000 } else { 500 };
        // One compile for the big components (seconds each), three for Rust.
        let compiles = if *lang == "rust" { 3 } else { 1 };
        let compile_ms = median((0..compiles).map(|_| {
            let rt = PluginRuntime::new(RuntimeOptions::default()).expect("runtime");
            let p = rt.load(bytes).expect("compiles");
            p.compile_time.expect("compiled").as_secs_f64() * 1e3
        }));
        let rt = Arc::new(PluginRuntime::new(RuntimeOptions::default()).expect("runtime"));
        let plugin = rt.load(bytes).expect("load");
        let cache_load_us = {
            let dir = tempfile::tempdir().expect("tempdir");
            let cache = DiskCache::open(dir.path(), rt.engine(), u64::MAX).expect("cache");
            let component =
                wasmtime::component::Component::new(rt.engine(), bytes).expect("compile");
            cache.store(&plugin.sha256, &component);
            median((0..5).map(|_| {
                let t = Instant::now();
                let c = cache.load(rt.engine(), &plugin.sha256).expect("cached");
                let us = t.elapsed().as_secs_f64() * 1e6;
                drop(c);
                us
            }))
        };
        let (fuel, memory) = one_call(&rt, &plugin, &ctx, &request);
        for _ in 0..samples / 10 {
            one_call(&rt, &plugin, &ctx, &request);
        }
        let mut calls = Vec::with_capacity(samples);
        let mut instantiations = Vec::with_capacity(samples);
        for _ in 0..samples {
            let t = Instant::now();
            one_call(&rt, &plugin, &ctx, &request);
            calls.push(t.elapsed().as_secs_f64() * 1e6);
            let t = Instant::now();
            drop(rt.instantiate(&plugin, &ctx).expect("instantiate"));
            instantiations.push(t.elapsed().as_secs_f64() * 1e6);
        }
        let (call_p50, call_p99) = percentiles(&mut calls);
        let (inst_p50, _) = percentiles(&mut instantiations);
        let rss = rss_mib();
        println!(
            "{:<8} {:>8.1}MB {:>9.0}ms {:>9.0}us {:>8.0}us {:>8.0}us {:>10.0}us {:>10} {:>8.1}MB {:>7.0}MB",
            lang,
            bytes.len() as f64 / 1e6,
            compile_ms,
            cache_load_us,
            call_p50,
            call_p99,
            inst_p50,
            fuel,
            memory as f64 / 1e6,
            rss
        );
        rows.push(json!({
            "lang": lang, "size_bytes": bytes.len(), "compile_ms": round1(compile_ms),
            "cache_load_us": round1(cache_load_us), "call_us_p50": round1(call_p50),
            "call_us_p99": round1(call_p99), "instantiate_us_p50": round1(inst_p50),
            "fuel_per_call": fuel, "guest_memory_bytes": memory, "process_rss_mib": round1(rss),
            "samples": samples,
        }));
    }
    println!("{}", json!({ "body_bytes": body.len(), "adapters": rows }));
}

/// One fresh instance: verify + parse, as the webhook pipeline does.
/// Returns the fuel used and the linear memory the instance grew to.
fn one_call(
    rt: &PluginRuntime,
    plugin: &Arc<LoadedPlugin>,
    ctx: &CallContext,
    req: &HttpRequest,
) -> (u64, u64) {
    let mut inst = rt.instantiate(plugin, ctx).expect("instantiate");
    match inst.verify_then_parse(req.clone()) {
        Ok(Verified::Events(events)) => assert_eq!(events.len(), 1),
        other => panic!("unexpected {other:?}"),
    }
    let report = inst.finish();
    (report.fuel_consumed, report.memory_bytes)
}

/// A SimpleChat webhook with one message, padded to `size` bytes.
fn webhook(size: usize) -> Vec<u8> {
    let base =
        json!({ "messages": [{ "id": "m-1", "from": "+15551234567", "name": "Ann", "text": "" }] });
    let pad = size.saturating_sub(serde_json::to_vec(&base).expect("json").len());
    serde_json::to_vec(
        &json!({ "messages": [{ "id": "m-1", "from": "+15551234567", "name": "Ann", "text": "x".repeat(pad) }] }),
    )
    .expect("json")
}

fn signed(body: &[u8]) -> HttpRequest {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(body);
    HttpRequest {
        method: "POST".into(),
        url: "https://switchboard.example/webhooks/ch_bench".into(),
        headers: vec![Header {
            name: "X-Signature".into(),
            value: hex::encode(mac.finalize().into_bytes()),
        }],
        body: body.to_vec(),
    }
}

fn percentiles(v: &mut [f64]) -> (f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[v.len() / 2], v[v.len() * 99 / 100])
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// The process's resident set, from /proc (0 elsewhere).
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}
