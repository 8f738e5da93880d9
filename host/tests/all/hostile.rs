//! Hostile plugins: each misbehaviour ends in its typed error (or a denial),
//! and the host keeps serving other tenants meanwhile.

use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard::domain::Event;
use switchboard::runtime::{CallContext, LimitOverrides, LoadedPlugin, PluginError, TrapKind};
use switchboard_artifacts::test_guests::HOSTILE;

use crate::common::{ctx, load_path, post, runtime};

fn hostile() -> Arc<LoadedPlugin> {
    load_path(HOSTILE)
}

fn call(
    mode: &str,
    limits: LimitOverrides,
) -> (
    Result<Vec<Event>, PluginError>,
    switchboard::runtime::CallReport,
) {
    call_with(&[("mode", mode)], limits)
}

fn call_with(
    config: &[(&str, &str)],
    limits: LimitOverrides,
) -> (
    Result<Vec<Event>, PluginError>,
    switchboard::runtime::CallReport,
) {
    let mut c: CallContext = ctx("evil-tenant", "hostile", config);
    c.limits = limits;
    let mut inst = runtime().instantiate(&hostile(), &c).expect("instantiates");
    let result = inst.parse(&post("https://x.test/webhooks/c", &[], b"{}"));
    (result, inst.finish())
}

fn text_of(events: &[Event]) -> &str {
    match &events[0] {
        Event::Message(m) => m.text.as_deref().unwrap_or(""),
        other => panic!("unexpected event {other:?}"),
    }
}

#[test]
fn well_behaved_mode_works() {
    let (r, _) = call("ok", LimitOverrides::default());
    assert_eq!(text_of(&r.unwrap()), "fine");
}

#[test]
fn infinite_loop_is_stopped_by_fuel() {
    let limits = LimitOverrides {
        fuel: Some(10_000_000),
        deadline_ms: Some(30_000),
        ..Default::default()
    };
    let (r, report) = call("loop", limits);
    assert!(
        matches!(r, Err(PluginError::OutOfFuel { budget: 10_000_000 })),
        "{r:?}"
    );
    assert_eq!(report.fuel_consumed, 10_000_000);
}

#[test]
fn infinite_loop_with_generous_fuel_is_stopped_by_deadline() {
    let limits = LimitOverrides {
        fuel: Some(u64::MAX / 2),
        deadline_ms: Some(50),
        ..Default::default()
    };
    let started = Instant::now();
    let (r, _) = call("loop", limits);
    assert!(
        matches!(r, Err(PluginError::Deadline { deadline_ms: 50 })),
        "{r:?}"
    );
    // Not a timing assertion on speed: only that the deadline, not fuel, ended
    // a call that would otherwise run for hours.
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn memory_bomb_hits_the_memory_limit() {
    let limits = LimitOverrides {
        memory_bytes: Some(16 << 20),
        ..Default::default()
    };
    let (r, _) = call("memory-bomb", limits);
    assert!(
        matches!(r, Err(PluginError::MemoryLimit { limit }) if limit == 16 << 20),
        "{r:?}"
    );
}

#[test]
fn deep_recursion_is_a_stack_overflow_trap() {
    let (r, _) = call("recursion", LimitOverrides::default());
    assert!(
        matches!(
            r,
            Err(PluginError::Trap {
                kind: TrapKind::StackOverflow,
                ..
            })
        ),
        "{r:?}"
    );
}

#[test]
fn panic_is_an_unreachable_trap_with_the_message_in_the_log() {
    let (r, report) = call("panic", LimitOverrides::default());
    assert!(
        matches!(
            r,
            Err(PluginError::Trap {
                kind: TrapKind::Unreachable,
                ..
            })
        ),
        "{r:?}"
    );
    assert!(
        report.logs.iter().any(
            |l| l.level == "stderr" && l.message.contains("hostile plugin panicked on purpose")
        ),
        "panic message captured from stderr: {:?}",
        report.logs
    );
}

#[test]
fn explicit_unreachable_is_a_trap() {
    let (r, _) = call("unreachable", LimitOverrides::default());
    assert!(
        matches!(
            r,
            Err(PluginError::Trap {
                kind: TrapKind::Unreachable,
                ..
            })
        ),
        "{r:?}"
    );
}

#[test]
fn hundred_megabyte_string_cannot_be_built_under_default_memory() {
    let (r, _) = call("big-string", LimitOverrides::default());
    assert!(matches!(r, Err(PluginError::MemoryLimit { .. })), "{r:?}");
}

#[test]
fn hundred_megabyte_string_is_refused_by_the_output_cap() {
    // With memory to build it, the string reaches the output cap instead.
    let limits = LimitOverrides {
        memory_bytes: Some(512 << 20),
        ..Default::default()
    };
    let (r, _) = call("big-string", limits);
    match r {
        // Refused while wasmtime lifts it, before the host copies more than
        // the cap: the host never holds the 100 MB.
        Err(PluginError::OutputTooLarge { what, limit, .. }) => {
            assert_eq!(what, "data passed to the host");
            assert_eq!(limit, runtime().default_limits().output_bytes);
        }
        other => panic!("expected OutputTooLarge, got {other:?}"),
    }
}

#[test]
fn million_events_exceed_memory_before_reaching_the_host() {
    let (r, _) = call("many-events", LimitOverrides::default());
    assert!(matches!(r, Err(PluginError::MemoryLimit { .. })), "{r:?}");
}

#[test]
fn too_many_events_are_refused_by_count_before_conversion() {
    let limits = LimitOverrides {
        memory_bytes: Some(256 << 20),
        ..Default::default()
    };
    // Small enough to lift within the output cap, more than the count cap.
    let (r, _) = call_with(&[("mode", "many-events"), ("count", "1500")], limits);
    assert!(
        matches!(
            r,
            Err(PluginError::OutputTooLarge {
                what: "event count",
                size: 1_500,
                limit: 1_000
            })
        ),
        "{r:?}"
    );
    // Many more are refused earlier, while they are lifted.
    let (r, _) = call_with(&[("mode", "many-events"), ("count", "50000")], limits);
    assert!(
        matches!(
            r,
            Err(PluginError::OutputTooLarge {
                what: "data passed to the host",
                ..
            })
        ),
        "{r:?}"
    );
}

#[test]
fn log_flood_is_capped_and_counted() {
    // Generous fuel and time: this test is about the log cap, not the others.
    let limits = LimitOverrides {
        log_bytes: Some(4096),
        fuel: Some(u64::MAX / 2),
        deadline_ms: Some(60_000),
        ..Default::default()
    };
    let (r, report) = call_with(&[("mode", "log-flood"), ("count", "200000")], limits);
    assert_eq!(text_of(&r.unwrap()), "logged");
    let kept: usize = report
        .logs
        .iter()
        .map(|l| {
            l.message.len()
                + l.fields
                    .iter()
                    .map(|(k, v)| k.len() + v.len())
                    .sum::<usize>()
        })
        .sum();
    assert!(kept <= 4096, "kept {kept} bytes");
    assert_eq!(report.logs.len() as u64 + report.dropped_log_lines, 200_000);
}

#[test]
fn stdout_flood_is_captured_up_to_the_cap() {
    let limits = LimitOverrides {
        log_bytes: Some(8192),
        fuel: Some(u64::MAX / 2),
        deadline_ms: Some(60_000),
        ..Default::default()
    };
    let (r, report) = call("stdout-flood", limits);
    assert_eq!(text_of(&r.unwrap()), "printed");
    let printed: usize = report
        .logs
        .iter()
        .filter(|l| l.level == "stdout" || l.level == "stderr")
        .map(|l| l.message.len())
        .sum();
    assert!(printed <= 2 * 8192, "printed {printed}");
    // 20,000 lines of 1 KiB to each stream, all but 8 KiB per stream dropped.
    assert!(
        report.dropped_output_bytes > 2 * 20_000 * 1024 - 2 * 8192,
        "dropped {}",
        report.dropped_output_bytes
    );
}

#[test]
fn files_environment_and_sockets_are_denied() {
    for mode in ["read-file", "list-dir", "env", "socket", "udp"] {
        let (r, _) = call(mode, LimitOverrides::default());
        let events = r.unwrap_or_else(|e| panic!("{mode}: {e}"));
        let text = text_of(&events);
        assert!(text.starts_with("denied"), "{mode} leaked: {text}");
    }
}

#[test]
fn kv_quotas_stop_abuse() {
    let (r, _) = call("kv-abuse", LimitOverrides::default());
    let events = r.unwrap();
    let text = text_of(&events);
    assert!(
        text.starts_with("denied: value KvError::ValueTooLarge(65536)"),
        "{text}"
    );
    assert!(
        text.contains("keys stopped after 1000 with KvError::TooManyKeys(1000)"),
        "{text}"
    );
}

#[test]
fn kv_is_scoped_per_tenant() {
    // The same kv backend, two tenants: the second sees none of the first's keys.
    let kv: Arc<dyn switchboard::kv::KvStore> = Arc::new(switchboard::kv::MemoryKv::default());
    let mut a = ctx("tenant-a", "hostile", &[("mode", "kv-abuse")]);
    a.kv = kv.clone();
    let mut inst = runtime().instantiate(&hostile(), &a).unwrap();
    inst.parse(&post("https://x.test/", &[], b"")).unwrap();
    let scope_a = switchboard::kv::KvScope {
        tenant: "tenant-a".into(),
        plugin: "hostile".into(),
    };
    let scope_b = switchboard::kv::KvScope {
        tenant: "tenant-b".into(),
        plugin: "hostile".into(),
    };
    assert_eq!(kv.count(&scope_a).unwrap(), 1000);
    assert_eq!(kv.count(&scope_b).unwrap(), 0);
}

#[test]
fn host_keeps_serving_other_tenants_while_hostile_plugins_run() {
    let hostile_thread = std::thread::spawn(|| {
        let mut errors = Vec::new();
        for mode in ["loop", "memory-bomb", "recursion", "panic", "loop"] {
            let limits = LimitOverrides {
                fuel: Some(u64::MAX / 2),
                deadline_ms: Some(200),
                memory_bytes: Some(16 << 20),
                ..Default::default()
            };
            errors.push(call(mode, limits).0.unwrap_err().code());
        }
        errors
    });
    let good = load_path(switchboard_artifacts::examples::SIMPLE_JSON_ADAPTER);
    let body = br#"{"messages":[{"id":"m1","from":"+15550001","name":"Ann","text":"hi"}]}"#;
    let sig = crate::common::hmac_sha256_hex(b"s3cret", body);
    let mut ok = 0;
    while !hostile_thread.is_finished() || ok < 20 {
        let mut inst = runtime()
            .instantiate(
                &good,
                &ctx("good-tenant", "simple-json", &[("secret", "s3cret")]),
            )
            .unwrap();
        let req = post("https://x.test/webhooks/c", &[("X-Signature", &sig)], body);
        inst.verify(&req).expect("verify");
        let events = inst.parse(&req).expect("good tenant still served");
        assert_eq!(events.len(), 1);
        ok += 1;
    }
    let codes = hostile_thread.join().unwrap();
    assert_eq!(
        codes,
        vec!["deadline", "memory-limit", "trap", "trap", "deadline"]
    );
    assert!(ok >= 20);
}

/// Where a visit runs, seen from inside it: a short call polls inline on
/// the async worker that asked; a call that outgrows its inline slice
/// (computing, or waiting in a WASI sleep) still ends in its typed error,
/// and its tenant's next visits run on the lower-priority plugin threads,
/// while other tenants' stay inline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_call_sends_its_tenant_to_the_plugin_threads() {
    let rt = Arc::new(
        switchboard::runtime::PluginRuntime::new(switchboard::runtime::RuntimeOptions::default())
            .unwrap(),
    );
    let plugin = rt
        .load(&std::fs::read(HOSTILE).unwrap())
        .expect("component loads");
    let visit = async |tenant: &str, config: &[(&str, &str)]| {
        let mut c = ctx(tenant, "hostile", config);
        c.limits = LimitOverrides {
            fuel: Some(u64::MAX / 2),
            deadline_ms: Some(300),
            ..Default::default()
        };
        rt.run(&plugin, c, |inst| {
            let thread = std::thread::current().name().unwrap_or("").to_string();
            (
                thread,
                inst.parse(&post("https://x.test/webhooks/c", &[], b"{}")),
            )
        })
        .await
        .expect("the visit ran")
    };
    let on_plugin_thread = |thread: &str| thread == "switchboard-plugin";

    let (thread, r) = visit("calm", &[("mode", "ok")]).await;
    assert_eq!(text_of(&r.unwrap()), "fine");
    assert!(!on_plugin_thread(&thread), "a short call ran on {thread}");

    // The loop leaves the worker after its inline slice and is stopped at
    // its deadline.
    let (thread, r) = visit("looping", &[("mode", "loop")]).await;
    assert!(
        matches!(r, Err(PluginError::Deadline { deadline_ms: 300 })),
        "{r:?}"
    );
    assert!(!on_plugin_thread(&thread), "it started inline, on {thread}");
    let (thread, r) = visit("looping", &[("mode", "ok")]).await;
    assert!(r.is_ok());
    assert!(
        on_plugin_thread(&thread),
        "the looping tenant stayed on {thread}"
    );

    // A guest asleep in WASI never yields by fuel: the wait itself moves it.
    let (_, r) = visit("sleepy", &[("mode", "ok"), ("sleep-in", "parse")]).await;
    assert!(
        matches!(r, Err(PluginError::Deadline { deadline_ms: 300 })),
        "{r:?}"
    );
    let (thread, _) = visit("sleepy", &[("mode", "ok")]).await;
    assert!(
        on_plugin_thread(&thread),
        "the sleeping tenant stayed on {thread}"
    );

    let (thread, r) = visit("calm", &[("mode", "ok")]).await;
    assert!(r.is_ok());
    assert!(
        !on_plugin_thread(&thread),
        "another tenant's call ran on {thread}"
    );
}
