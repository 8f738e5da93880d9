//! Plugin-call benchmark (run with `cargo bench -p switchboard --bench
//! plugin_calls`). Prints a table and, last, one JSON line.
//!
//! Measures, on a 1 KB signed WhatsApp webhook:
//! - a fresh-instance `verify` + `parse` through the sandbox (p50, p99),
//! - the same work done natively (the plugin's own pure functions compiled
//!   for the host, with native HMAC),
//! - instantiation alone,
//! - calls/s on one and two threads,
//! - the cost of metering (fuel + epochs) against an unmetered engine,
//! - compile time against a disk-cache load.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use switchboard::domain::{Header, HttpRequest};
use switchboard::runtime::{
    CallContext, DiskCache, EngineOptions, LoadedPlugin, PluginRuntime, RuntimeOptions,
};
use switchboard_artifacts::first_party::WHATSAPP_CLOUD;

const SECRET: &str = "bench-app-secret";
const SAMPLES: usize = 20_000;
const THROUGHPUT_WINDOW: Duration = Duration::from_secs(3);

fn main() {
    let body = webhook_of_size(1024);
    let request = signed_request(&body);
    let ctx = CallContext::for_tenant("bench", "whatsapp-cloud").with_config(BTreeMap::from([(
        "app_secret".to_string(),
        SECRET.to_string(),
    )]));

    let metered = Arc::new(PluginRuntime::new(RuntimeOptions::default()).expect("runtime"));
    let plugin = metered.load(WHATSAPP_CLOUD).expect("load");
    let fuel_per_call = one_call(&metered, &plugin, &ctx, &request);

    let unmetered_rt = PluginRuntime::new(RuntimeOptions {
        engine: EngineOptions {
            metering: false,
            ..Default::default()
        },
        ..Default::default()
    })
    .expect("runtime");
    let unmetered_plugin = unmetered_rt.load(WHATSAPP_CLOUD).expect("load");

    // Interleaved, so drift (frequency scaling, the other core's load) hits
    // every variant alike instead of whichever ran last.
    let [wasm, unmetered, instantiate_only, native] = interleaved(
        SAMPLES,
        [
            &mut || {
                one_call(&metered, &plugin, &ctx, &request);
            },
            &mut || {
                one_call(&unmetered_rt, &unmetered_plugin, &ctx, &request);
            },
            &mut || drop(metered.instantiate(&plugin, &ctx).expect("instantiate")),
            &mut || native_call(&request),
        ],
    );

    let cps_1 = throughput(1, &metered, &plugin, &ctx, &request);
    let cps_2 = throughput(2, &metered, &plugin, &ctx, &request);

    let compile_ms = median((0..3).map(|_| {
        let rt = PluginRuntime::new(RuntimeOptions::default()).expect("runtime");
        let p = rt.load(WHATSAPP_CLOUD).expect("load");
        p.compile_time.expect("compiled").as_secs_f64() * 1e3
    }));
    let cache_load_us = {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = DiskCache::open(dir.path(), metered.engine(), u64::MAX).expect("cache");
        let component = wasmtime_component(&metered);
        cache.store(&plugin.sha256, &component);
        median((0..50).map(|_| {
            let t = Instant::now();
            let c = cache
                .load(metered.engine(), &plugin.sha256)
                .expect("cached");
            let us = t.elapsed().as_secs_f64() * 1e6;
            drop(c);
            us
        }))
    };

    let ratio = wasm.p50 / native.p50;
    let metering_overhead = (wasm.p50 / unmetered.p50 - 1.0) * 100.0;
    println!(
        "plugin call benchmark: whatsapp-cloud verify+parse, {} byte body, {SAMPLES} samples",
        body.len()
    );
    println!("{:<42} {:>12} {:>12}", "measure", "p50", "p99");
    println!(
        "{:<42} {:>10.2}us {:>10.2}us",
        "wasm fresh instance (metered)", wasm.p50, wasm.p99
    );
    println!(
        "{:<42} {:>10.2}us {:>10.2}us",
        "wasm fresh instance (no fuel, no epoch)", unmetered.p50, unmetered.p99
    );
    println!(
        "{:<42} {:>10.2}us {:>10.2}us",
        "  of which instantiate + drop (metered)", instantiate_only.p50, instantiate_only.p99
    );
    println!(
        "{:<42} {:>10.2}us {:>10.2}us",
        "native (same code, native HMAC)", native.p50, native.p99
    );
    println!("{:<42} {:>12.1}", "wasm / native", ratio);
    println!(
        "{:<42} {:>11.1}%",
        "metering overhead (p50)", metering_overhead
    );
    println!("{:<42} {:>12.0}", "calls/s, 1 thread", cps_1);
    println!(
        "{:<42} {:>12.0} ({:.2}x)",
        "calls/s, 2 threads",
        cps_2,
        cps_2 / cps_1
    );
    println!(
        "{:<42} {:>10.1}ms",
        "compile (Component::new, median of 3)", compile_ms
    );
    println!(
        "{:<42} {:>10.1}us",
        "disk cache load (median of 50)", cache_load_us
    );
    println!("{:<42} {:>12}", "fuel per call", fuel_per_call);
    println!(
        "{}",
        serde_json::json!({
            "wasm_call_us_p50": round2(wasm.p50),
            "wasm_call_us_p99": round2(wasm.p99),
            "wasm_unmetered_us_p50": round2(unmetered.p50),
            "instantiate_us_p50": round2(instantiate_only.p50),
            "native_call_us_p50": round2(native.p50),
            "ratio": round2(ratio),
            "metering_overhead_pct": round2(metering_overhead),
            "calls_per_sec_1t": cps_1.round(),
            "calls_per_sec_2t": cps_2.round(),
            "scaling_2t": round2(cps_2 / cps_1),
            "compile_ms": round2(compile_ms),
            "cache_load_us": round2(cache_load_us),
            "fuel_per_call": fuel_per_call,
            "body_bytes": body.len(),
        })
    );
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// A real Meta webhook (the dashboard's test message) with the text padded
/// so the compact body is exactly `size` bytes.
fn webhook_of_size(size: usize) -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/meta_whatsapp/meta_dashboard_test_text_message.json"
    );
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    let base = serde_json::to_vec(&v).expect("json").len();
    let text = &mut v["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"];
    let current = text.as_str().unwrap_or("").to_string();
    *text = serde_json::Value::String(current + &"x".repeat(size.saturating_sub(base)));
    serde_json::to_vec(&v).expect("json")
}

fn signed_request(body: &[u8]) -> HttpRequest {
    HttpRequest {
        method: "POST".into(),
        url: "https://switchboard.example/webhooks/ch_bench".into(),
        headers: vec![
            Header {
                name: "Content-Type".into(),
                value: "application/json".into(),
            },
            Header {
                name: "X-Hub-Signature-256".into(),
                value: format!(
                    "sha256={}",
                    hex::encode(hmac_sha256(SECRET.as_bytes(), body))
                ),
            },
        ],
        body: body.to_vec(),
    }
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("key");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// One fresh instance: verify + parse, as the webhook pipeline does.
fn one_call(
    rt: &PluginRuntime,
    plugin: &Arc<LoadedPlugin>,
    ctx: &CallContext,
    req: &HttpRequest,
) -> u64 {
    let mut inst = rt.instantiate(plugin, ctx).expect("instantiate");
    // As the pipeline does: one conversion of the request, moved in.
    match inst.verify_then_parse(req.clone()) {
        Ok(switchboard::runtime::Verified::Events(events)) => assert_eq!(events.len(), 1),
        other => panic!("unexpected {other:?}"),
    }
    inst.finish().fuel_consumed
}

struct NativeCrypto;
impl whatsapp_cloud::verify::Crypto for NativeCrypto {
    fn hmac_sha256(&self, key: &[u8], data: &[u8]) -> Vec<u8> {
        hmac_sha256(key, data)
    }
    fn constant_time_eq(&self, a: &[u8], b: &[u8]) -> bool {
        subtle::ConstantTimeEq::ct_eq(a, b).into()
    }
}

/// The same verify + parse with the plugin's code compiled natively.
fn native_call(req: &HttpRequest) {
    let sig = req.header("x-hub-signature-256");
    whatsapp_cloud::verify::check_signature(sig, &req.body, SECRET.as_bytes(), &NativeCrypto)
        .expect("signature");
    let parsed = whatsapp_cloud::webhook::parse_webhook(&req.body).expect("parse");
    assert_eq!(parsed.events.len(), 1);
    std::hint::black_box(parsed);
}

struct Percentiles {
    p50: f64,
    p99: f64,
}

fn interleaved<const N: usize>(samples: usize, mut fs: [&mut dyn FnMut(); N]) -> [Percentiles; N] {
    for f in fs.iter_mut() {
        for _ in 0..samples / 10 {
            f();
        }
    }
    let mut times: [Vec<f64>; N] = std::array::from_fn(|_| Vec::with_capacity(samples));
    for _ in 0..samples {
        for (f, t) in fs.iter_mut().zip(times.iter_mut()) {
            let start = Instant::now();
            f();
            t.push(start.elapsed().as_secs_f64() * 1e6);
        }
    }
    times.map(|mut t| {
        t.sort_by(|a, b| a.total_cmp(b));
        Percentiles {
            p50: t[t.len() / 2],
            p99: t[t.len() * 99 / 100],
        }
    })
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn throughput(
    threads: usize,
    rt: &Arc<PluginRuntime>,
    plugin: &Arc<LoadedPlugin>,
    ctx: &CallContext,
    req: &HttpRequest,
) -> f64 {
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (rt, plugin, ctx, req) = (rt.clone(), plugin.clone(), ctx.clone(), req.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while start.elapsed() < THROUGHPUT_WINDOW {
                    one_call(&rt, &plugin, &ctx, &req);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().expect("thread")).sum();
    total as f64 / start.elapsed().as_secs_f64()
}

/// A compiled component for the cache-load measurement.
fn wasmtime_component(rt: &PluginRuntime) -> wasmtime::component::Component {
    wasmtime::component::Component::new(rt.engine(), WHATSAPP_CLOUD).expect("compile")
}
