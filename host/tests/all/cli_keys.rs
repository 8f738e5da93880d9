//! `switchboard keys rotate` and the master key's configuration, as real
//! processes on a temporary data directory (embedded SQLite).

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::common::hmac_sha256_hex;

/// The binary with no master key from the environment of the test run.
fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    c.env_remove("SWITCHBOARD_MASTER_KEY")
        .env_remove("SWITCHBOARD_NEW_MASTER_KEY")
        .env_remove("SWITCHBOARD_DATABASE_URL")
        .env_remove("SWITCHBOARD_ADMIN_TOKEN");
    c
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn failed(out: Output) -> String {
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The value after `prefix` on the line starting with it.
fn field(text: &str, prefix: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` in {text}"))
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn rotation_keeps_secrets_readable_and_the_old_key_is_refused() {
    const APP_SECRET: &str = "rotation-app-secret-5c1e";
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let out = ok(bin()
        .args([
            "tenant",
            "create",
            "acme",
            "--name",
            "Acme",
            "--data-dir",
            data,
        ])
        .output()
        .unwrap());
    let api_key = field(&out, "api key: ");
    let out = ok(bin()
        .args([
            "channel",
            "create",
            "--tenant",
            "acme",
            "--adapter",
            "whatsapp-cloud",
        ])
        .args(["--config", &format!("app_secret={APP_SECRET}")])
        .args([
            "--config",
            "verify_token=v",
            "--config",
            "access_token=EAAG-rot",
        ])
        .args(["--data-dir", data])
        .output()
        .unwrap());
    let channel = field(&out, "channel:");
    let master_file = dir.path().join("master.key");
    let old_key = std::fs::read_to_string(&master_file).unwrap();

    // Without a new key, or with the current one, nothing happens.
    let e = failed(
        bin()
            .args(["keys", "rotate", "--data-dir", data])
            .output()
            .unwrap(),
    );
    assert!(e.contains("--new-master-key-file"), "{e}");
    let same = dir.path().join("same.key");
    std::fs::write(&same, &old_key).unwrap();
    let e = failed(
        bin()
            .args([
                "keys",
                "rotate",
                "--new-master-key-file",
                same.to_str().unwrap(),
            ])
            .args(["--data-dir", data])
            .output()
            .unwrap(),
    );
    assert!(e.contains("is the current one"), "{e}");

    let keys = tempfile::tempdir().unwrap();
    let new_file = keys.path().join("new.key");
    let new_key = "3f".repeat(32);
    std::fs::write(&new_file, &new_key).unwrap();
    let out = ok(bin()
        .args([
            "keys",
            "rotate",
            "--new-master-key-file",
            new_file.to_str().unwrap(),
        ])
        .args(["--data-dir", data])
        .output()
        .unwrap());
    assert!(out.contains("re-wrapped 1 tenant data key(s)"), "{out}");
    assert_eq!(
        std::fs::read_to_string(&master_file).unwrap().trim(),
        new_key
    );
    assert!(!dir.path().join("master.key.new").exists());

    // The old key no longer opens anything, and the server says so at start.
    let e = failed(
        bin()
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", data])
            .env("SWITCHBOARD_MASTER_KEY", old_key.trim())
            .output()
            .unwrap(),
    );
    assert!(e.contains("different master key"), "{e}");
    assert!(!e.contains(old_key.trim()), "the key is never echoed");

    // With the new key (master.key), the channel's secret still works.
    let (child, addr) = serve(data);
    let got = http(
        &addr,
        "GET",
        &format!("/v1/channels/{channel}"),
        &api_key,
        &[],
        b"",
    );
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    assert!(got.contains("\"app_secret\":\"set\""), "{got}");
    assert!(!got.contains(APP_SECRET), "{got}");
    let body = &std::fs::read(format!(
        "{}/../tests/fixtures/meta_whatsapp/meta_dashboard_test_text_message.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()[..];
    let sig = format!("sha256={}", hmac_sha256_hex(APP_SECRET.as_bytes(), body));
    let path = format!("/webhooks/{channel}");
    let signed = [
        ("x-hub-signature-256", sig.as_str()),
        ("content-type", "application/json"),
    ];
    let got = http(&addr, "POST", &path, "", &signed, body);
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    let forged = [
        ("x-hub-signature-256", "sha256=00"),
        ("content-type", "application/json"),
    ];
    let got = http(&addr, "POST", &path, "", &forged, body);
    assert!(got.starts_with("HTTP/1.1 401"), "{got}");
    stop(child);
}

#[test]
fn a_malformed_master_key_is_refused_without_being_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let e = failed(
        bin()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(["--data-dir", dir.path().to_str().unwrap()])
            .env("SWITCHBOARD_MASTER_KEY", "hunter2-is-not-a-key")
            .output()
            .unwrap(),
    );
    assert!(
        e.contains("SWITCHBOARD_MASTER_KEY must be 64 hex characters"),
        "{e}"
    );
    assert!(!e.contains("hunter2"), "{e}");
    assert!(!dir.path().join("master.key").exists());
}

fn serve(data: &str) -> (std::process::Child, String) {
    let mut child = bin()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", data])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("server printed its address").unwrap();
        if let Some(a) = line.strip_prefix("switchboard listening on http://") {
            break a.to_string();
        }
    };
    (child, addr)
}

fn stop(mut child: std::process::Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    for _ in 0..100 {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
}

/// One HTTP/1.1 request; the whole response as text.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    bearer: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !bearer.is_empty() {
        head.push_str(&format!("Authorization: Bearer {bearer}\r\n"));
    }
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}
