//! `switchboard serve`, `migrate`, `tenant create`, `channel create` as real
//! processes on a temporary data directory.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
}

#[test]
fn operator_commands_create_a_tenant_and_channel() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let out = bin()
        .args(["migrate", "--data-dir", data])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = bin()
        .args([
            "tenant",
            "create",
            "acme",
            "--name",
            "Acme Inc",
            "--data-dir",
            data,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("tenant:  acme (tn_"), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("api key: sk_")),
        "{text}"
    );
    let out = bin()
        .args([
            "channel",
            "create",
            "--tenant",
            "acme",
            "--adapter",
            "whatsapp-cloud",
            "--config",
            "app_secret=s3",
            "--config",
            "verify_token=v",
            "--data-dir",
            data,
            "--public-url",
            "https://sb.example",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("webhook URL: https://sb.example/webhooks/ch_"),
        "{text}"
    );
    // A taken slug and an unknown adapter are refused with a reason.
    let out = bin()
        .args([
            "tenant",
            "create",
            "acme",
            "--name",
            "Again",
            "--data-dir",
            data,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    let out = bin()
        .args([
            "channel",
            "create",
            "--tenant",
            "acme",
            "--adapter",
            "nope",
            "--data-dir",
            data,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("neither a first-party plugin"));
}

#[test]
fn serve_prints_the_admin_token_once_answers_health_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_string();
    let start = |data: &str| {
        let mut child = bin()
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", data])
            .env_remove("SWITCHBOARD_ADMIN_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut printed = Vec::new();
        let addr = loop {
            let line = lines.next().expect("server printed its address").unwrap();
            if let Some(a) = line.strip_prefix("switchboard listening on http://") {
                break a.to_string();
            }
            printed.push(line);
        };
        (child, addr, printed)
    };
    let (child, addr, printed) = start(&data);
    assert!(
        printed.iter().any(|l| l.starts_with("admin token")),
        "first start prints the generated token: {printed:?}"
    );
    let token = std::fs::read_to_string(dir.path().join("admin-token")).unwrap();
    assert!(printed[0].ends_with(token.trim()));
    let health = http_get(&addr, "/healthz");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let ready = http_get(&addr, "/readyz");
    assert!(ready.contains("\"ready\":true"), "{ready}");
    stop(child);
    // Second start: the token is reused, not printed again.
    let (child, _, printed) = start(&data);
    assert!(
        !printed.iter().any(|l| l.starts_with("admin token")),
        "{printed:?}"
    );
    stop(child);
}

#[test]
fn serve_refuses_an_empty_or_short_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_string();
    let almost = "x".repeat(11);
    // (flag, environment, stored file)
    let cases: [(Option<&str>, Option<&str>, Option<&str>); 5] = [
        (Some(""), None, None),
        (Some("short"), None, None),
        (Some(&almost), None, None),
        (None, Some("0123456789a"), None),
        (None, None, Some("\n")),
    ];
    for (flag, env, file) in cases {
        let token_file = dir.path().join("admin-token");
        let _ = std::fs::remove_file(&token_file);
        if let Some(f) = file {
            std::fs::write(&token_file, f).unwrap();
        }
        let mut cmd = bin();
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir", &data])
            .env_remove("SWITCHBOARD_ADMIN_TOKEN")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(f) = flag {
            cmd.args(["--admin-token", f]);
        }
        if let Some(e) = env {
            cmd.env("SWITCHBOARD_ADMIN_TOKEN", e);
        }
        let (status, stderr) = exits(cmd);
        let case = format!("{flag:?} {env:?} {file:?}");
        assert!(!status.success(), "{case}: started");
        assert!(stderr.contains("at least 12"), "{case}: {stderr}");
        assert!(!stderr.contains("0123456789a"), "never echoed: {stderr}");
    }
    // A long enough token starts.
    let mut child = bin()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", &data])
        .args(["--admin-token", &"k".repeat(12)])
        .env_remove("SWITCHBOARD_ADMIN_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(
        lines.any(|l| l.unwrap().starts_with("switchboard listening on")),
        "a 32-character token is accepted"
    );
    stop(child);
}

/// Run `cmd` to its end (killed, and the test failed, after 30 s).
fn exits(mut cmd: Command) -> (std::process::ExitStatus, String) {
    use std::io::Read;
    let mut child = cmd.spawn().unwrap();
    for _ in 0..600 {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            return (status, stderr);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    panic!("the command did not exit");
}

fn stop(mut child: std::process::Child) {
    // SIGTERM: graceful shutdown, exit 0.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    for _ in 0..100 {
        if let Some(s) = child.try_wait().unwrap() {
            assert!(s.success(), "exit status {s:?}");
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    panic!("server did not stop within 5 s of SIGTERM");
}

fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}
