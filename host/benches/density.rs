//! Density benchmark (issue 10): many tenants, each with its own adapter
//! component (distinct bytes: the example adapter plus a custom section
//! naming the tenant), called at random. Run with
//! `cargo bench -p switchboard --bench density -- --tenants 10000`.
//!
//! Phases, in one run against one disk cache:
//! 1. **compile**: each tenant's first call when its component was never
//!    seen (compile + cache on disk + instantiate + verify/parse);
//! 2. **cold from disk**: a fresh runtime (empty memory cache), each tenant's
//!    first call loads its compiled code from the disk cache;
//! 3. **steady state**: calls spread uniformly over all tenants, through the
//!    bounded in-memory cache (1,000 components by default).
//!
//! Prints p50/p99 per phase and the process's RSS as tenants are added, and
//! last one JSON line.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard::domain::{Header, HttpRequest};
use switchboard::runtime::{CallContext, LoadedPlugin, PluginRuntime, RuntimeOptions};

const SECRET: &str = "density-secret";

fn arg(name: &str, default: usize) -> usize {
    std::env::args()
        .skip_while(|a| a != name)
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The component with a custom section appended: distinct bytes (and
/// sha256), identical behaviour.
fn distinct(base: &[u8], tenant: usize) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
    }
    let name = b"switchboard-density";
    let payload = format!("tenant-{tenant}");
    let mut content = Vec::new();
    leb(name.len(), &mut content);
    content.extend_from_slice(name);
    content.extend_from_slice(payload.as_bytes());
    let mut out = base.to_vec();
    out.push(0); // custom section
    leb(content.len(), &mut out);
    out.extend_from_slice(&content);
    out
}

fn request() -> HttpRequest {
    use hmac::{Hmac, Mac};
    let body =
        br#"{"messages":[{"id":"m1","from":"+15550001","name":"Ann","text":"hi"}]}"#.to_vec();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&body);
    HttpRequest {
        method: "POST".into(),
        url: "https://x.test/webhooks/c".into(),
        headers: vec![Header {
            name: "X-Signature".into(),
            value: hex::encode(mac.finalize().into_bytes()),
        }],
        body,
    }
}

fn ctx(tenant: usize) -> CallContext {
    CallContext::for_tenant(&format!("t{tenant}"), "adapter")
        .with_config(BTreeMap::from([("secret".to_string(), SECRET.to_string())]))
}

/// Load (from memory, disk or by compiling) and make one webhook call.
fn first_call(
    rt: &PluginRuntime,
    bytes: &[u8],
    tenant: usize,
    req: &HttpRequest,
) -> Arc<LoadedPlugin> {
    let plugin = rt.load(bytes).expect("loads");
    let mut inst = rt.instantiate(&plugin, &ctx(tenant)).expect("instantiates");
    match inst.verify_then_parse(req.clone()) {
        Ok(switchboard::runtime::Verified::Events(e)) => assert_eq!(e.len(), 1),
        other => panic!("unexpected {other:?}"),
    }
    plugin
}

fn cwasm_names(dir: &std::path::Path, out: &mut std::collections::HashSet<String>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            cwasm_names(&p, out);
        } else if let Some(n) = p.file_name().and_then(|n| n.to_str()) {
            out.insert(n.to_string());
        }
    }
}

fn rss_mib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
            >> 10
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)].as_secs_f64() * 1e3
}

/// A small deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn main() {
    let tenants = arg("--tenants", 10_000);
    let calls = arg("--calls", 50_000);
    // `--cache-dir DIR --skip-compile`: reuse the compiled components an
    // earlier run left in DIR (its phase 1 takes ~0.2 s per tenant on two
    // cores) and measure phases 2 and 3 over the tenants found there.
    let kept = std::env::args()
        .skip_while(|a| a != "--cache-dir")
        .nth(1)
        .map(std::path::PathBuf::from);
    let skip_compile = std::env::args().any(|a| a == "--skip-compile");
    let base = std::fs::read(switchboard_artifacts::examples::SIMPLE_JSON_ADAPTER).unwrap();
    let temp = tempfile::tempdir().unwrap();
    let dir = kept.unwrap_or_else(|| temp.path().to_path_buf());
    let req = request();
    let options = || RuntimeOptions {
        cache_dir: Some(dir.clone()),
        ..Default::default()
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);

    // 1. Never seen: compile.
    let rt = PluginRuntime::new(options()).unwrap();
    let mut compile = Vec::with_capacity(tenants);
    let started = Instant::now();
    for t in 0..if skip_compile { 0 } else { tenants } {
        let bytes = distinct(&base, t);
        let t0 = Instant::now();
        first_call(&rt, &bytes, t, &req);
        compile.push(t0.elapsed());
        if (t + 1) % 1000 == 0 {
            let (rss, _) = rss_mib();
            eprintln!(
                "compiled {} tenants in {:.0?}, RSS {rss} MiB",
                t + 1,
                started.elapsed()
            );
        }
    }
    let (rss_after_compile, _) = rss_mib();
    drop(rt);

    // 2. A fresh runtime: every first call loads from the disk cache.
    let rt = PluginRuntime::new(options()).unwrap();
    // The tenants whose compiled code is on disk (all of them, unless an
    // earlier run's cache was reused).
    let mut files = std::collections::HashSet::new();
    cwasm_names(&dir, &mut files);
    let on_disk = |t: usize| {
        use sha2::Digest;
        let sha = hex::encode(sha2::Sha256::digest(distinct(&base, t)));
        files.contains(&format!("{sha}.cwasm"))
    };
    let mut order: Vec<usize> = (0..tenants).filter(|&t| on_disk(t)).collect();
    let tenants_on_disk = order.len();
    assert!(
        tenants_on_disk > 0,
        "no compiled component in {}",
        dir.display()
    );
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
    let mut cold = Vec::with_capacity(tenants);
    let mut rss_by_tenants = Vec::new();
    for (i, &t) in order.iter().enumerate() {
        let bytes = distinct(&base, t);
        let t0 = Instant::now();
        first_call(&rt, &bytes, t, &req);
        cold.push(t0.elapsed());
        if (i + 1) % (tenants_on_disk / 10).max(1) == 0 {
            rss_by_tenants.push((i + 1, rss_mib().0));
        }
    }
    let disk_hits = rt.stats().disk_cache_hits;

    // 3. Steady state: uniform over the same tenants through the bounded
    // cache. (The bytes are made per call, outside the timing: a server
    // reads them from its database, not from memory.)
    let mut steady = Vec::with_capacity(calls);
    let before = rt.stats();
    for _ in 0..calls {
        let t = order[rng.below(order.len())];
        let bytes = distinct(&base, t);
        let t0 = Instant::now();
        first_call(&rt, &bytes, t, &req);
        steady.push(t0.elapsed());
    }
    let after = rt.stats();
    let (rss_end, hwm) = rss_mib();

    let (compile_p50, compile_p99) = if compile.is_empty() {
        (f64::NAN, f64::NAN)
    } else {
        (pct(&mut compile, 0.5), pct(&mut compile, 0.99))
    };
    let cold_p50 = pct(&mut cold, 0.5);
    let cold_p99 = pct(&mut cold, 0.99);
    let steady_p50 = pct(&mut steady, 0.5);
    let steady_p99 = pct(&mut steady, 0.99);
    let memory_hits = after.memory_cache_hits - before.memory_cache_hits;
    println!();
    println!(
        "tenants: {tenants}, each with its own component ({tenants_on_disk} from the disk cache)"
    );
    println!("first call, compiled:        p50 {compile_p50:8.2} ms   p99 {compile_p99:8.2} ms");
    println!(
        "first call, from disk cache: p50 {cold_p50:8.2} ms   p99 {cold_p99:8.2} ms   ({disk_hits} disk hits)"
    );
    println!(
        "steady state ({calls} calls):  p50 {steady_p50:8.2} ms   p99 {steady_p99:8.2} ms   (memory-cache hits {:.1}%)",
        memory_hits as f64 * 100.0 / calls as f64
    );
    println!(
        "RSS after compiling all: {rss_after_compile} MiB; as tenants were loaded from disk: {rss_by_tenants:?} MiB; at the end {rss_end} MiB (peak {hwm} MiB)"
    );
    println!(
        "{}",
        serde_json::json!({
            "bench": "density", "tenants": tenants, "tenants_from_disk": tenants_on_disk, "calls": calls,
            "compile_first_call_ms": { "p50": compile_p50, "p99": compile_p99 },
            "disk_first_call_ms": { "p50": cold_p50, "p99": cold_p99 },
            "steady_ms": { "p50": steady_p50, "p99": steady_p99 },
            "memory_cache_hit_ratio": memory_hits as f64 / calls as f64,
            "rss_mib": { "after_compile": rss_after_compile, "by_tenants": rss_by_tenants, "end": rss_end, "peak": hwm },
        })
    );
}
