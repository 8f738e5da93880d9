//! `switchboard demo` (the README's run command): typed lines become signed
//! webhooks through the real pipeline; replies come back from the
//! simulated Graph API with their delivery status.

use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn demo_answers_typed_messages_and_honours_stop() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        // A long reply timeout: a message that gets no reply must still end
        // with its reason as soon as its processing is over, not after it.
        .args(["demo", "--reply-timeout", "120", "--name", "Ada"])
        // The demo must not pick up an LLM from the environment here.
        .env_remove("SWITCHBOARD_LLM_BASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hello there\nSTOP\nanyone?\nSTART\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bot: Vec<&str> = stdout.lines().filter(|l| l.contains("bot> ")).collect();
    assert_eq!(bot.len(), 3, "{stdout}");
    assert!(bot[0].contains("Hi Ada!"), "{stdout}");
    assert!(bot[1].contains("unsubscribed"), "{stdout}");
    assert!(
        stdout.contains("(no reply: you opted out on this channel; send START"),
        "{stdout}"
    );
    assert!(bot[2].contains("resubscribed"), "{stdout}");
    // Every delivered reply was marked read by the simulated phone.
    assert_eq!(stdout.matches(" · read]").count(), 3, "{stdout}");
}

/// The demo's web chat page: a page on its own origin embedding the
/// widget, whose socket reaches the same persona.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_offers_the_conversation_in_a_web_page() {
    use futures_util::{SinkExt, StreamExt};
    use tokio::io::AsyncBufReadExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    switchboard::outbound::install_tls_provider();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["demo"])
        .env_remove("SWITCHBOARD_LLM_BASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let page = loop {
        let line = tokio::time::timeout(std::time::Duration::from_secs(60), lines.next_line())
            .await
            .expect("the demo starts within 60 s")
            .unwrap()
            .expect("the demo prints its web chat page");
        if let Some(rest) = line.trim().strip_prefix("web chat") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    let html = reqwest::get(&page).await.unwrap().text().await.unwrap();
    let script = html
        .split("<script ")
        .nth(1)
        .expect("the page embeds the widget");
    let attr = |name: &str| {
        script
            .split(&format!("{name}=\""))
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_else(|| panic!("no {name} in {script}"))
            .to_string()
    };
    let (src, channel) = (attr("src"), attr("data-channel"));
    let widget = reqwest::get(&src).await.unwrap();
    assert_eq!(widget.status(), 200);
    assert!(widget.text().await.unwrap().contains("Open chat"));

    let base = src.trim_end_matches("/widget.js").replacen("http", "ws", 1);
    let mut request = format!("{base}/webchat/{channel}/socket")
        .into_client_request()
        .unwrap();
    let origin = page.trim_end_matches('/').to_string();
    request
        .headers_mut()
        .insert("origin", origin.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let hello = serde_json::json!({"type": "message", "client_id": "demo-1", "text": "hello from the page"});
    ws.send(Message::text(hello.to_string())).await.unwrap();
    let reply = loop {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(30), ws.next())
            .await
            .expect("a reply within 30 s")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = frame {
            let v: serde_json::Value = serde_json::from_str(&t).unwrap();
            if v["type"] == "message" && v["direction"] == "outbound" {
                break v;
            }
        }
    };
    assert!(
        reply["text"].as_str().unwrap().contains("Demo Coffee Co."),
        "{reply}"
    );
    drop(child.stdin.take());
    let status = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
}
