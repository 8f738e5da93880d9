//! The sandbox holds whatever a guest does (issue 10): aliasing lists cannot
//! make the host allocate past the output cap, a guest that sleeps in any
//! export returns at its deadline, and one tenant's flood of such calls
//! leaves another tenant's calls alone.

use std::sync::Arc;

use switchboard::domain::{Direction, GuardrailContext, HttpResponse, OutboundMessage};
use switchboard::runtime::{
    CallContext, Fairness, LimitOverrides, PluginError, PluginRuntime, RuntimeOptions,
};
use switchboard_artifacts::test_guests::{HOSTILE, HOSTILE_GUARDRAIL};

use crate::common::{ctx, load_path, post, runtime};

fn short_deadline() -> LimitOverrides {
    LimitOverrides {
        deadline_ms: Some(100),
        ..Default::default()
    }
}

fn is_output_cap(r: &Result<impl std::fmt::Debug, PluginError>) -> bool {
    matches!(
        r,
        Err(PluginError::OutputTooLarge {
            what: "data passed to the host",
            ..
        })
    )
}

#[test]
fn aliased_info_hosts_stop_at_the_output_cap() {
    let c = ctx("evil", "hostile", &[("info-mode", "alias")]);
    let mut inst = runtime().instantiate(&load_path(HOSTILE), &c).unwrap();
    let r = inst.info();
    assert!(is_output_cap(&r), "{r:?}");
}

#[test]
fn aliased_events_stop_at_the_output_cap() {
    let c = ctx("evil", "hostile", &[("mode", "alias-events")]);
    let mut inst = runtime().instantiate(&load_path(HOSTILE), &c).unwrap();
    let r = inst.parse(&post("https://x.test/", &[], b"{}"));
    assert!(is_output_cap(&r), "{r:?}");
}

#[test]
fn aliased_log_fields_stop_at_the_output_cap() {
    let c = ctx("evil", "hostile", &[("mode", "alias-log")]);
    let mut inst = runtime().instantiate(&load_path(HOSTILE), &c).unwrap();
    let r = inst.parse(&post("https://x.test/", &[], b"{}"));
    assert!(is_output_cap(&r), "{r:?}");
}

/// Peak resident memory of this process since the last reset, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status");
    kb << 10
}

/// 16 concurrent aliasing calls (each a 16 MiB buffer referenced 100,000
/// times) raise the host's peak RSS by about 16 × (guest memory + output
/// cap), not by the gigabytes a per-element copy would take. Runs in a
/// child process of this test binary so that no other test's memory counts.
#[test]
fn aliasing_calls_keep_host_memory_bounded() {
    const CHILD: &str = "SWITCHBOARD_SANDBOX_RSS_CHILD";
    if std::env::var_os(CHILD).is_none() {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "sandbox::aliasing_calls_keep_host_memory_bounded",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
        assert!(
            stdout.contains("peak rss growth"),
            "child ran nothing:\n{stdout}"
        );
        println!(
            "{}",
            stdout
                .lines()
                .find(|l| l.contains("peak rss growth"))
                .unwrap()
        );
        return;
    }
    let plugin = load_path(HOSTILE);
    // Warm up once (code pages, pool slots), then measure from here.
    let mut warm = runtime()
        .instantiate(&plugin, &ctx("evil", "hostile", &[("mode", "ok")]))
        .unwrap();
    warm.parse(&post("https://x.test/", &[], b"{}")).unwrap();
    drop(warm);
    // Writing 5 to clear_refs resets the peak (VmHWM) to the current RSS.
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let base = peak_rss();
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let plugin = plugin.clone();
            std::thread::spawn(move || {
                let (key, mode) = match i % 3 {
                    0 => ("info-mode", "alias"),
                    1 => ("mode", "alias-events"),
                    _ => ("mode", "alias-log"),
                };
                let mut inst = runtime()
                    .instantiate(&plugin, &ctx("evil", "hostile", &[(key, mode)]))
                    .unwrap();
                let r = if key == "info-mode" {
                    inst.info().map(|_| ())
                } else {
                    inst.parse(&post("https://x.test/", &[], b"{}")).map(|_| ())
                };
                assert!(is_output_cap(&r), "{r:?}");
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let growth = peak_rss().saturating_sub(base);
    println!("peak rss growth: {} MiB", growth >> 20);
    // 16 × (16 MiB buffer + 2 MiB cap + slack) ≈ 300 MiB; copying each
    // element would be 16 × 128 MiB (wasmtime's default hostcall fuel) or
    // more.
    assert!(growth < 600 << 20, "peak RSS grew by {} MiB", growth >> 20);
}

#[test]
fn sleeping_in_any_adapter_export_ends_at_the_deadline() {
    let plugin = load_path(HOSTILE);
    for export in ["info", "verify", "parse", "render", "parse-send-response"] {
        let mut c = ctx("evil", "hostile", &[("sleep-in", export), ("mode", "ok")]);
        c.limits = short_deadline();
        let mut inst = runtime().instantiate(&plugin, &c).unwrap();
        let req = post("https://x.test/", &[], b"{}");
        let r = match export {
            "info" => inst.info().map(|_| ()),
            "verify" => inst.verify(&req).map(|_| ()),
            "parse" => inst.parse(&req).map(|_| ()),
            "render" => inst
                .render(&OutboundMessage {
                    message_id: "m1".into(),
                    to: "+15550001".into(),
                    text: Some("hi".into()),
                    attachments: vec![],
                    reply_to: None,
                })
                .map(|_| ()),
            _ => inst
                .parse_send_response(&HttpResponse {
                    status: 200,
                    headers: vec![],
                    body: b"{}".to_vec(),
                })
                .map(|_| ()),
        };
        assert!(
            matches!(r, Err(PluginError::Deadline { deadline_ms: 100 })),
            "{export}: {r:?}"
        );
        // The instance is poisoned, never reused.
        assert!(inst.info().is_err());
    }
}

#[test]
fn busy_waiting_on_the_clock_ends_at_the_deadline() {
    let mut c = ctx("evil", "hostile", &[("mode", "busy-wait")]);
    c.limits = LimitOverrides {
        fuel: Some(u64::MAX / 2),
        deadline_ms: Some(100),
        ..Default::default()
    };
    let mut inst = runtime().instantiate(&load_path(HOSTILE), &c).unwrap();
    let r = inst.parse(&post("https://x.test/", &[], b"{}"));
    assert!(matches!(r, Err(PluginError::Deadline { .. })), "{r:?}");
}

fn guard_context(direction: Direction) -> GuardrailContext {
    GuardrailContext {
        direction,
        text: "hello".into(),
        channel_adapter: "whatsapp-cloud".into(),
        contact_address: "+15550001".into(),
        first_reply: false,
        prohibited_topics: vec![],
        required_disclaimers: vec![],
    }
}

#[test]
fn hostile_guardrail_is_contained_in_both_directions() {
    let plugin = load_path(HOSTILE_GUARDRAIL);
    for direction in [Direction::Inbound, Direction::Outbound] {
        let call = |mode: &str, limits: LimitOverrides| {
            let mut c = ctx("evil", "hostile-guardrail", &[("guard-mode", mode)]);
            c.limits = limits;
            runtime()
                .instantiate(&plugin, &c)
                .unwrap()
                .check(&guard_context(direction))
        };
        let r = call("sleep", short_deadline());
        assert!(matches!(r, Err(PluginError::Deadline { .. })), "{r:?}");
        let r = call(
            "loop",
            LimitOverrides {
                fuel: Some(5_000_000),
                ..Default::default()
            },
        );
        assert!(matches!(r, Err(PluginError::OutOfFuel { .. })), "{r:?}");
        // A 16 MiB rewrite is over the 2 MiB output cap: refused while it is
        // lifted, before the host holds 16 MiB of it.
        let r = call("huge-rewrite", LimitOverrides::default());
        assert!(is_output_cap(&r), "{r:?}");
        let r = call("allow", LimitOverrides::default());
        assert!(r.is_ok(), "{r:?}");
    }
}

/// One tenant's many sleeping calls (more than the instance pool holds)
/// wait behind that tenant's own gate or are refused as busy; another
/// tenant's call meanwhile goes through, without error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_flood_of_sleeping_calls_leaves_other_tenants_alone() {
    let rt = Arc::new(
        PluginRuntime::new(RuntimeOptions {
            fairness: Fairness {
                calls_per_tenant: 2,
                queue_per_tenant: 8,
                max_wait: std::time::Duration::from_millis(200),
                background_max_wait: std::time::Duration::from_millis(200),
                compiles: 1,
            },
            ..Default::default()
        })
        .unwrap(),
    );
    let hostile = rt
        .load_blocking(std::fs::read(HOSTILE).unwrap())
        .await
        .unwrap();
    let flood: Vec<_> = (0..150)
        .map(|_| {
            let rt = rt.clone();
            let hostile = hostile.clone();
            tokio::spawn(async move {
                let mut c = ctx("flooder", "hostile", &[("sleep-in", "parse")]);
                c.limits = LimitOverrides {
                    deadline_ms: Some(300),
                    ..Default::default()
                };
                rt.run(&hostile, c, |inst| {
                    inst.parse(&post("https://x.test/", &[], b"{}"))
                })
                .await
                .and_then(|r| r)
                .map(|_| ())
            })
        })
        .collect();
    // Meanwhile, the quiet tenant's calls.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    for _ in 0..5 {
        let c: CallContext = ctx("quiet", "hostile", &[("mode", "ok")]);
        let events = rt
            .run(&hostile, c, |inst| {
                inst.parse(&post("https://x.test/", &[], b"{}"))
            })
            .await
            .and_then(|r| r)
            .expect("the quiet tenant is served during the flood");
        assert_eq!(events.len(), 1);
    }
    let mut codes = std::collections::BTreeMap::new();
    for f in flood {
        let code = match f.await.unwrap() {
            Ok(()) => "ok",
            Err(e) => e.code(),
        };
        *codes.entry(code).or_insert(0) += 1;
    }
    // Every flood call ended in its deadline or was refused as busy; none
    // was refused for want of an instance slot.
    assert_eq!(
        codes.keys().copied().collect::<Vec<_>>(),
        vec!["busy", "deadline"],
        "{codes:?}"
    );
}
