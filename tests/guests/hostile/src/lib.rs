//! A hostile channel adapter for the sandbox tests. `parse` misbehaves as the
//! binding's `mode` configuration says; forbidden-access modes report what
//! they observed as the event text so the host test can assert denial.

// Only meaningful as a wasm component; natively this crate is empty.
#![cfg(target_arch = "wasm32")]

use switchboard_sdk::prelude::*;

struct Hostile;

/// `n` strings that all point at one `mib`-MiB buffer in guest memory. A
/// guest can hand the host such a list for the price of one buffer; a host
/// that copied every element would allocate `n × mib` MiB. (Several `String`s
/// owning one buffer is not sound Rust; this guest is hostile on purpose, and
/// never drops them.)
fn aliased(n: usize, mib: usize) -> Vec<String> {
    let buf: &'static mut str = "a".repeat(mib << 20).leak();
    let (ptr, len) = (buf.as_mut_ptr(), buf.len());
    (0..n)
        // SAFETY: not sound (see above); the host must cope.
        .map(|_| unsafe { String::from_raw_parts(ptr, len, len) })
        .collect()
}

/// Stop here for an hour (a WASI monotonic-clock wait): only the host's
/// call deadline can end it.
fn sleep_if(export: &str) {
    if host::config("sleep-in").as_deref() == Some(export) {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

fn report(text: String) -> Result<Vec<Event>, PluginError> {
    Ok(vec![Event::Message(InboundMessage::text(
        "hostile-1",
        "attacker",
        text,
    ))])
}

#[inline(never)]
#[allow(unconditional_recursion)] // unbounded on purpose: the host must stop it
fn recurse(depth: u64, pad: &mut [u8; 256]) -> u64 {
    pad[(depth % 256) as usize] = depth as u8;
    // black_box keeps the recursion from being turned into a loop.
    1 + recurse(std::hint::black_box(depth + 1), std::hint::black_box(pad))
}

impl ChannelAdapter for Hostile {
    fn info() -> AdapterInfo {
        sleep_if("info");
        let mut info = AdapterInfo::named("hostile");
        if host::config("info-mode").as_deref() == Some("alias") {
            info.outbound_hosts = aliased(100_000, 16);
        }
        info
    }

    fn verify(_request: &HttpRequest) -> Result<Option<HttpResponse>, PluginError> {
        sleep_if("verify");
        Ok(None)
    }

    fn render(_message: &OutboundMessage) -> Result<HttpRequest, PluginError> {
        sleep_if("render");
        Err(PluginError::Unsupported(
            "hostile adapters send nothing".into(),
        ))
    }

    fn parse_send_response(_response: &HttpResponse) -> Result<Receipt, PluginError> {
        sleep_if("parse-send-response");
        Err(PluginError::Unsupported(
            "hostile adapters send nothing".into(),
        ))
    }

    fn parse(_request: &HttpRequest) -> Result<Vec<Event>, PluginError> {
        sleep_if("parse");
        let mode = host::config("mode").unwrap_or_default();
        match mode.as_str() {
            "ok" => report("fine".into()),
            "alias-events" => Ok(aliased(1_000, 16)
                .into_iter()
                .enumerate()
                .map(|(i, text)| Event::Message(InboundMessage::text(i.to_string(), "a", text)))
                .collect()),
            "alias-log" => {
                let values = aliased(100_000, 16);
                let keys = aliased(100_000, 0);
                let fields: Vec<(String, String)> = keys.into_iter().zip(values).collect();
                switchboard_sdk::__bindings::base::switchboard::plugin::host::log(
                    host::LogLevel::Info,
                    "aliased fields",
                    &fields,
                );
                std::mem::forget(fields);
                report("logged".into())
            }
            "busy-wait" => {
                // Spins on the clock rather than sleeping: epoch interruption,
                // not the async deadline, must end it.
                let start = std::time::Instant::now();
                while start.elapsed() < std::time::Duration::from_secs(3600) {}
                report("waited".into())
            }
            "loop" => {
                let mut i: u64 = 0;
                loop {
                    i = std::hint::black_box(i.wrapping_add(1));
                }
            }
            "memory-bomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![0xAB; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "recursion" => {
                let mut pad = [0u8; 256];
                report(recurse(0, &mut pad).to_string())
            }
            "panic" => panic!("hostile plugin panicked on purpose"),
            "unreachable" => {
                // An explicit trap, not a Rust panic.
                core::arch::wasm32::unreachable()
            }
            "big-string" => report("x".repeat(100 << 20)),
            "many-events" => Ok((0..host::config("count")
                .and_then(|c| c.parse::<u32>().ok())
                .unwrap_or(1_000_000))
                .map(|i| Event::Message(InboundMessage::text(i.to_string(), "a", "")))
                .collect()),
            "log-flood" => {
                let lines: u32 = host::config("count")
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1_000_000);
                for i in 0..lines {
                    host::log(host::LogLevel::Info, "flood", &[("i", &i.to_string())]);
                }
                report("logged".into())
            }
            "stdout-flood" => {
                let line = "y".repeat(1024);
                for _ in 0..20_000 {
                    println!("{line}");
                    eprintln!("{line}");
                }
                report("printed".into())
            }
            "read-file" => report(match std::fs::read_to_string("/etc/passwd") {
                Ok(s) => format!("LEAKED {}", s.len()),
                Err(e) => format!("denied: {e}"),
            }),
            "list-dir" => report(match std::fs::read_dir("/") {
                Ok(d) => format!("LEAKED {}", d.count()),
                Err(e) => format!("denied: {e}"),
            }),
            "env" => {
                let vars: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
                let args: Vec<String> = std::env::args().collect();
                report(if vars.is_empty() && args.len() <= 1 {
                    "denied: no env".into()
                } else {
                    format!("LEAKED {vars:?} {args:?}")
                })
            }
            "socket" => report(match std::net::TcpStream::connect("127.0.0.1:80") {
                Ok(_) => "LEAKED connected".into(),
                Err(e) => format!("denied: {e}"),
            }),
            "udp" => report(match std::net::UdpSocket::bind("0.0.0.0:0") {
                Ok(_) => "LEAKED bound".into(),
                Err(e) => format!("denied: {e}"),
            }),
            "kv-roundtrip" => {
                host::kv::set("greeting", b"hello")
                    .map_err(|e| PluginError::internal(format!("{e:?}")))?;
                let v = host::kv::get("greeting")
                    .map_err(|e| PluginError::internal(format!("{e:?}")))?;
                let too_big = host::kv::set("big", &vec![7u8; 1 << 20]);
                report(format!(
                    "got {:?}; 1 MiB value: {too_big:?}",
                    v.map(String::from_utf8)
                ))
            }
            "kv-abuse" => {
                let big = vec![7u8; 1 << 20];
                if let Err(e) = host::kv::set("big", &big) {
                    let mut keys = 0u32;
                    let count_err = loop {
                        match host::kv::set(&format!("k{keys}"), b"v") {
                            Ok(()) => keys += 1,
                            Err(e) => break e,
                        }
                        if keys > 1_000_000 {
                            return report("LEAKED unlimited keys".into());
                        }
                    };
                    return report(format!(
                        "denied: value {e:?}; keys stopped after {keys} with {count_err:?}"
                    ));
                }
                report("LEAKED 1 MiB value accepted".into())
            }
            other => Err(PluginError::config(format!("unknown mode {other:?}"))),
        }
    }
}

switchboard_sdk::export_adapter!(Hostile);
