//! Loading: world detection, refusal of what is not a plugin, and the
//! compile caches (asserted with counters, not timing).

use switchboard::runtime::{PluginError, PluginRuntime, RuntimeOptions, World};
use switchboard_artifacts::first_party::WHATSAPP_CLOUD;
use switchboard_artifacts::test_guests::FUTURE_VERSION;

fn runtime_with_cache(dir: &std::path::Path) -> PluginRuntime {
    let mut opts = RuntimeOptions {
        cache_dir: Some(dir.to_path_buf()),
        ..Default::default()
    };
    opts.engine.pool_instances = 8;
    PluginRuntime::new(opts).unwrap()
}

#[test]
fn second_runtime_loads_from_disk_without_compiling() {
    let dir = tempfile::tempdir().unwrap();
    let first = runtime_with_cache(dir.path());
    let p = first.load(WHATSAPP_CLOUD).unwrap();
    assert_eq!(p.detected.world, World::ChannelAdapter);
    assert_eq!(p.detected.version, "0.1.2");
    assert!(p.compile_time.is_some());
    assert_eq!(first.stats().compiles, 1);
    assert_eq!(first.stats().disk_cache_hits, 0);

    // Same process, same bytes: the in-memory InstancePre cache answers.
    first.load(WHATSAPP_CLOUD).unwrap();
    assert_eq!(first.stats().compiles, 1);
    assert_eq!(first.stats().memory_cache_hits, 1);

    // A "restart": a new runtime over the same data directory.
    let second = runtime_with_cache(dir.path());
    let p2 = second.load(WHATSAPP_CLOUD).unwrap();
    assert_eq!(
        second.stats().compiles,
        0,
        "cache path must skip compilation"
    );
    assert_eq!(second.stats().disk_cache_hits, 1);
    assert!(p2.compile_time.is_none());
    let mut inst = second
        .instantiate(
            &p2,
            &switchboard::runtime::CallContext::for_tenant("t", "whatsapp-cloud"),
        )
        .unwrap();
    assert_eq!(inst.info().unwrap().name, "whatsapp-cloud");
}

#[test]
fn corrupt_cache_entry_is_discarded_and_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    runtime_with_cache(dir.path()).load(WHATSAPP_CLOUD).unwrap();
    // Overwrite every cached artifact with garbage.
    let mut corrupted = 0;
    for entry in walk(dir.path()) {
        if entry.extension().is_some_and(|e| e == "cwasm") {
            std::fs::write(&entry, b"not a compiled component").unwrap();
            corrupted += 1;
        }
    }
    assert_eq!(corrupted, 1);
    let rt = runtime_with_cache(dir.path());
    rt.load(WHATSAPP_CLOUD).unwrap();
    assert_eq!(rt.stats().compiles, 1);
    assert_eq!(rt.stats().disk_cache_hits, 0);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out
}

#[test]
fn a_newer_contract_version_is_refused_with_what_was_expected() {
    let bytes = std::fs::read(FUTURE_VERSION).unwrap();
    let err = crate::common::runtime().load(&bytes).unwrap_err();
    let PluginError::Incompatible(msg) = err else {
        panic!("{err:?}")
    };
    assert!(msg.contains("switchboard:plugin/adapter@9.0.0"), "{msg}");
    assert!(msg.contains("switchboard:plugin@0.1.0"), "{msg}");
}

#[test]
fn non_components_are_refused_clearly() {
    let rt = crate::common::runtime();
    // A minimal core module (magic + version 1).
    let core = b"\0asm\x01\0\0\0";
    let PluginError::Incompatible(msg) = rt.load(core).unwrap_err() else {
        panic!()
    };
    assert!(msg.contains("core wasm module, not a component"), "{msg}");
    let PluginError::Incompatible(msg) = rt.load(b"definitely not wasm").unwrap_err() else {
        panic!()
    };
    assert!(msg.contains("not a wasm binary"), "{msg}");
    // Right magic, broken body.
    let PluginError::Incompatible(msg) = rt.load(b"\0asm\x0d\0\x01\0garbage").unwrap_err() else {
        panic!()
    };
    assert!(msg.contains("not a valid wasm component"), "{msg}");
}

#[test]
fn calling_the_wrong_world_is_a_typed_error() {
    let rt = crate::common::runtime();
    let p = rt.load(WHATSAPP_CLOUD).unwrap();
    let mut inst = rt
        .instantiate(&p, &switchboard::runtime::CallContext::for_tenant("t", "w"))
        .unwrap();
    let ctx = switchboard::domain::GuardrailContext {
        direction: switchboard::domain::Direction::Inbound,
        text: "hi".into(),
        channel_adapter: "whatsapp-cloud".into(),
        contact_address: "1".into(),
        first_reply: false,
        prohibited_topics: vec![],
        required_disclaimers: vec![],
    };
    assert!(matches!(
        inst.check(&ctx),
        Err(PluginError::WrongWorld {
            expected: "guardrail",
            actual: "channel-adapter"
        })
    ));
}

fn cwasm_count(dir: &std::path::Path) -> usize {
    walk(dir)
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .count()
}

/// A component that fails validation (here: its smoke call traps) is
/// compiled, refused, and leaves nothing in memory or on disk; a valid one
/// is cached in both.
#[test]
fn a_failed_upload_leaves_nothing_behind() {
    use sha2::Digest;
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime_with_cache(dir.path());
    let bytes = std::fs::read(switchboard_artifacts::test_guests::SMOKE_TRAP).unwrap();
    let refused = rt.validate_upload(&bytes, 16 << 20).unwrap_err();
    assert_eq!(refused.code(), "smoke_failed");
    assert_eq!(rt.stats().compiles, 1);
    assert!(
        rt.cached(&hex::encode(sha2::Sha256::digest(&bytes)))
            .is_none()
    );
    assert_eq!(cwasm_count(dir.path()), 0);

    let ok = rt.validate_upload(WHATSAPP_CLOUD, 16 << 20).unwrap();
    assert!(rt.cached(&ok.plugin.sha256).is_some());
    assert_eq!(cwasm_count(dir.path()), 1);
}

/// Both caches are bounded and evict the least recently used entry.
#[test]
fn memory_and_disk_caches_are_bounded() {
    use switchboard_artifacts::first_party::{TELEGRAM, TWILIO_SMS};
    let dir = tempfile::tempdir().unwrap();
    // Room on disk for about two compiled adapters.
    let one = {
        let probe = tempfile::tempdir().unwrap();
        runtime_with_cache(probe.path()).load(TELEGRAM).unwrap();
        walk(probe.path())
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
            .map(|p| std::fs::metadata(p).unwrap().len())
            .sum::<u64>()
    };
    let mut opts = RuntimeOptions {
        cache_dir: Some(dir.path().to_path_buf()),
        max_loaded_components: 2,
        disk_cache_bytes: one * 5 / 2,
        ..Default::default()
    };
    opts.engine.pool_instances = 8;
    let rt = PluginRuntime::new(opts).unwrap();
    let a = rt.load(TELEGRAM).unwrap();
    let b = rt.load(TWILIO_SMS).unwrap();
    rt.load(TELEGRAM).unwrap(); // a is now the most recently used
    let c = rt.load(WHATSAPP_CLOUD).unwrap();
    assert!(rt.cached(&a.sha256).is_some());
    assert!(
        rt.cached(&b.sha256).is_none(),
        "b was the least recently used"
    );
    assert!(rt.cached(&c.sha256).is_some());
    // Three compiled components never fit in two and a half's room.
    assert!(cwasm_count(dir.path()) <= 2, "{}", cwasm_count(dir.path()));
    // An evicted component still loads (from disk or by compiling again).
    rt.load(TWILIO_SMS).unwrap();
}
