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
