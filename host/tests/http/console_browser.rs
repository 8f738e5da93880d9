//! The console in a real headless Chromium: an owner signs in by the
//! controls' accessible names, watches a customer's WhatsApp message
//! appear in the inbox without a reload, opens it, takes over, answers
//! (the provider stand-in receives exactly that text), hands back; an
//! agent cannot reach channel settings. Screenshots of each page are
//! saved as `target/screenshots/console-*.png`.

use fantoccini::Locator;
use serde_json::json;

use crate::browser::Browser;
use crate::console::{FormBody, tenant_with_owner};
use crate::harness::{APP_SECRET, Backend, TestServer, unique, wa_from};
use crate::mock::MockProvider;

const PASSWORD: &str = "correct horse battery staple";

async fn fill_and_sign_in(browser: &Browser, s: &TestServer, email: &str, password: &str) {
    let c = &browser.client;
    c.goto(&s.url("/console")).await.unwrap();
    let email_box = browser.find("#email").await;
    assert_eq!(browser.accessible_name(&email_box).await, "Email");
    assert_eq!(browser.role(&email_box).await, "textbox");
    let password_box = browser.find("#password").await;
    assert_eq!(browser.accessible_name(&password_box).await, "Password");
    let button = browser.find("form button[type=submit]").await;
    assert_eq!(browser.accessible_name(&button).await, "Sign in");
    email_box.send_keys(email).await.unwrap();
    password_box.send_keys(password).await.unwrap();
    button.click().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_works_a_conversation_in_the_console() {
    let Some(browser) = Browser::start("a_team_works_a_conversation_in_the_console").await else {
        return;
    };
    let s = TestServer::start(Backend::Sqlite).await;
    let graph = MockProvider::graph().await;
    let (_, key, owner_email) = tenant_with_owner(&s, "console-browser").await;
    let persona = s
        .persona(&key, json!({ "name": format!("p-{}", unique()), "responder": { "kind": "static", "text": "Thanks! We'll get back to you." } }))
        .await;
    let ch = s
        .whatsapp_channel_to(&key, &graph.base, &[], Some(&persona))
        .await;
    // An agent, invited with the API key and set up through the link.
    let agent_email = format!("agent-{}@example.test", unique());
    let (status, v) = s
        .post_json(
            &key,
            "/v1/members",
            &json!({ "email": agent_email, "role": "agent" }),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let invite = v["invite_url"].as_str().unwrap().to_string();
    let accepted = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(&invite)
        .form_body(&[("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 303);
    let c = &browser.client;

    // A wrong password says so, without saying which field was wrong.
    fill_and_sign_in(&browser, &s, &owner_email, "not the password").await;
    browser
        .wait_for("[role=alert]", |t| t == "Wrong email or password.")
        .await;
    browser.screenshot("console-1-sign-in-refused").await;
    fill_and_sign_in(&browser, &s, &owner_email, PASSWORD).await;
    browser.wait_for("h1", |t| t == "Inbox").await;
    let channel_filter = browser.find("#channel").await;
    assert_eq!(browser.accessible_name(&channel_filter).await, "Channel");
    browser.wait_for("body", |_| true).await;
    // Wait until the page follows the event stream, and mark this page:
    // the mark survives only if nothing reloads it.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while c.find(Locator::Css("body[data-live=on]")).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the inbox never went live"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    c.execute("window.__notReloaded = true;", vec![])
        .await
        .unwrap();
    browser.screenshot("console-2-inbox-empty").await;

    // A customer writes on WhatsApp: the inbox shows it, live.
    let r = s
        .post_signed(
            &ch,
            &wa_from(
                "wamid.c1",
                "Is my order on its way?",
                "15550002222",
                "Ann Lee",
            ),
            APP_SECRET,
        )
        .await;
    assert_eq!(r.status(), 200);
    browser
        .wait_for("ul.inbox", |t| {
            t.contains("Ann Lee") && t.contains("WhatsApp")
        })
        .await;
    let still = c
        .execute("return window.__notReloaded === true;", vec![])
        .await
        .unwrap();
    assert_eq!(still, json!(true), "the inbox updated without a reload");
    graph.wait_for(1).await; // the bot's reply
    browser
        .wait_for("ul.inbox", |t| t.contains("You: Thanks!"))
        .await;
    browser.screenshot("console-3-inbox-live").await;

    // Open it, take over, answer, hand back.
    browser.click("ul.inbox a").await;
    browser.wait_for("h1", |t| t == "Ann Lee").await;
    browser
        .wait_for("ol.messages", |t| t.contains("Is my order on its way?"))
        .await;
    browser.click_button("Take over").await;
    browser
        .wait_for("#conv-head", |t| t.contains("A person is handling"))
        .await;
    let reply = browser.find("#reply").await;
    assert_eq!(browser.accessible_name(&reply).await, "Reply");
    reply
        .send_keys("Hi Ann, it's Sam: your order ships today.")
        .await
        .unwrap();
    browser.click_button("Send").await;
    let sent = graph.wait_for(2).await;
    assert_eq!(
        sent[1].json()["text"]["body"],
        "Hi Ann, it's Sam: your order ships today."
    );
    browser
        .wait_for("ol.messages", |t| {
            t.contains(&owner_email) && t.contains("your order ships today")
        })
        .await;
    // A message while a person holds it gets no bot reply.
    s.post_signed(
        &ch,
        &wa_from("wamid.c2", "Great, thanks Sam", "15550002222", "Ann Lee"),
        APP_SECRET,
    )
    .await;
    browser
        .wait_for("ol.messages", |t| t.contains("Great, thanks Sam"))
        .await;
    browser
        .screenshot("console-4-conversation-taken-over")
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    assert_eq!(
        graph.requests().len(),
        2,
        "no bot reply while a person holds it"
    );
    browser.click_button("Hand back").await;
    browser
        .wait_for("#conv-head", |t| t.contains("The bot is answering"))
        .await;

    // Channels (owner) and members.
    c.goto(&s.url("/console/channels")).await.unwrap();
    browser
        .wait_for("ul.cards", |t| t.contains("Webhook URL"))
        .await;
    let url = browser
        .find("ul.cards input[readonly]")
        .await
        .prop("value")
        .await
        .unwrap();
    assert_eq!(
        url.as_deref(),
        Some(format!("{}/webhooks/{ch}", s.base).as_str())
    );
    browser.screenshot("console-5-channels").await;
    // A new web chat channel from the form its adapter declares.
    browser
        .click("a.button[href='/console/channels/new']")
        .await;
    let adapter = browser.find("#adapter").await;
    assert_eq!(browser.accessible_name(&adapter).await, "Adapter");
    adapter.select_by_value("webchat").await.unwrap();
    browser.click_button("Next").await;
    browser
        .find("#name")
        .await
        .send_keys("Website")
        .await
        .unwrap();
    browser
        .find("#cfg-allowed_origins")
        .await
        .send_keys("https://shop.example")
        .await
        .unwrap();
    browser
        .find("#guardrails")
        .await
        .send_keys("\npii-redact")
        .await
        .unwrap();
    browser
        .find("#cfg-title")
        .await
        .send_keys("Shop help")
        .await
        .unwrap();
    let secret = browser.find("#cfg-identity_secret").await;
    assert_eq!(
        secret.attr("type").await.unwrap().as_deref(),
        Some("password"),
        "secrets are write-only fields"
    );
    browser.screenshot("console-5b-new-channel").await;
    browser.click_button("Create channel").await;
    browser.wait_for("h1", |t| t.contains("Website")).await;
    let embed = browser
        .find("#webhook-url")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert!(
        embed.contains("/widget.js") && embed.contains("data-channel="),
        "{embed}"
    );
    // Disable it.
    browser.click("input[name=enabled]").await;
    browser.click_button("Save").await;
    browser.wait_for("[role=status]", |t| t == "Saved.").await;
    browser.screenshot("console-5c-channel-saved").await;
    let (_, list) = s.get(&key, "/v1/channels").await;
    let website = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Website")
        .expect("created")
        .clone();
    assert_eq!(website["status"], "disabled", "{website}");
    assert_eq!(website["config"]["allowed_origins"], "https://shop.example");
    assert_eq!(
        website["guardrails"],
        json!(["consent", "pii-redact"]),
        "{website}"
    );
    c.goto(&s.url("/console/members")).await.unwrap();
    browser
        .wait_for("table", |t| t.contains(&agent_email))
        .await;
    browser.screenshot("console-6-members").await;
    // Personas: try one in its sandbox (nothing stored or sent).
    c.goto(&s.url("/console/personas")).await.unwrap();
    browser.click("ul.cards h2 a").await;
    // Edit a field: the API sees it.
    let topics = browser.find("#p-topics").await;
    assert_eq!(
        browser.accessible_name(&topics).await,
        "Prohibited topics (one per line)"
    );
    topics.send_keys("politics").await.unwrap();
    browser.click_button("Save persona").await;
    browser.wait_for("[role=status]", |t| t == "Saved.").await;
    let (_, saved) = s.get(&key, &format!("/v1/personas/{persona}")).await;
    assert_eq!(saved["prohibited_topics"], json!(["politics"]), "{saved}");
    let try_box = browser.find("textarea[name=message]").await;
    assert_eq!(browser.accessible_name(&try_box).await, "Try a message");
    try_box.send_keys("Do you ship to Canada?").await.unwrap();
    browser.click_button("Try it").await;
    browser
        .wait_for(".tried", |t| {
            t.contains("Persona: Thanks! We'll get back to you.")
        })
        .await;
    browser.screenshot("console-6b-persona-tried").await;
    assert_eq!(graph.requests().len(), 2, "trying sends nothing");

    // API keys: a new one is shown once and works; usage; the audit log.
    c.goto(&s.url("/console/keys")).await.unwrap();
    browser
        .find("#key-name")
        .await
        .send_keys("CRM sync")
        .await
        .unwrap();
    browser.click_button("Create key").await;
    let new_key = browser
        .find("#new-key")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    let (status, _) = s.get(&new_key, "/v1/channels").await;
    assert_eq!(status, 200, "the key shown once works");
    browser.screenshot("console-6c-api-keys").await;
    c.goto(&s.url("/console/usage")).await.unwrap();
    browser.wait_for("table", |t| t.contains("WhatsApp")).await;
    browser.find("svg.chart rect.bar-in").await;
    browser.screenshot("console-6d-usage").await;
    c.goto(&s.url("/console/audit?action=member.invite"))
        .await
        .unwrap();
    browser
        .wait_for("table", |t| {
            t.contains("member.invite") && !t.contains("channel.create")
        })
        .await;
    browser.screenshot("console-6e-audit").await;

    // The WhatsApp channel's page: the number's wa.me QR code, and each
    // guardrail's own settings.
    c.goto(&s.url(&format!("/console/channels/{ch}")))
        .await
        .unwrap();
    let number = browser.find("#cfg-display_phone_number").await;
    assert_eq!(
        browser.accessible_name(&number).await,
        "display_phone_number"
    );
    number.send_keys("+1 555 000 9999").await.unwrap();
    browser.click_button("Save").await;
    browser.wait_for("[role=status]", |t| t == "Saved.").await;
    let qr = browser.find("figure.qr img").await;
    assert_eq!(
        browser.accessible_name(&qr).await,
        "QR code of https://wa.me/15550009999"
    );
    let settings = browser.find("#gcfg-0").await;
    assert_eq!(
        browser.accessible_name(&settings).await,
        "Settings of consent (key = value, one per line)"
    );
    browser.screenshot("console-5d-whatsapp-qr").await;

    // Plugins: upload a component through the form.
    c.goto(&s.url("/console/plugins")).await.unwrap();
    let name = browser.find("#plugin-name").await;
    assert_eq!(browser.accessible_name(&name).await, "Plugin name");
    name.send_keys("chat").await.unwrap();
    browser
        .find("#plugin-version")
        .await
        .send_keys("1.0.0")
        .await
        .unwrap();
    let file = std::fs::canonicalize(switchboard_artifacts::examples::SIMPLE_JSON_ADAPTER).unwrap();
    browser
        .find("#plugin-file")
        .await
        .send_keys(file.to_str().unwrap())
        .await
        .unwrap();
    browser.click_button("Upload").await;
    browser
        .wait_for("[role=status]", |t| t == "Uploaded chat 1.0.0.")
        .await;
    browser.screenshot("console-6f-plugins").await;

    // An agent cannot reach channel settings.
    browser.click_button("Sign out").await;
    browser.wait_for("h1", |t| t == "Sign in").await;
    fill_and_sign_in(&browser, &s, &agent_email, PASSWORD).await;
    browser.wait_for("h1", |t| t == "Inbox").await;
    let nav = browser.find("nav").await.text().await.unwrap();
    assert!(!nav.contains("Channels"), "{nav}");
    c.goto(&s.url("/console/channels")).await.unwrap();
    browser
        .wait_for("main", |t| t.contains("Only owners and admins"))
        .await;
    browser.screenshot("console-7-agent-refused").await;

    // A phone-sized screen.
    c.set_window_size(360, 740).await.unwrap();
    c.goto(&s.url("/console/inbox")).await.unwrap();
    browser
        .wait_for("ul.inbox", |t| t.contains("Ann Lee"))
        .await;
    browser.screenshot("console-8-inbox-phone").await;

    // The platform admin: the tenants page, signed in with the admin token.
    c.set_window_size(1280, 900).await.unwrap();
    c.goto(&s.url("/console/admin")).await.unwrap();
    let token = browser.find("#token").await;
    assert_eq!(browser.accessible_name(&token).await, "Admin token");
    token.send_keys(&s.admin_token).await.unwrap();
    browser.click_button("Sign in").await;
    browser
        .wait_for("table", |t| t.contains("console-browser"))
        .await;
    browser.screenshot("console-9-admin-tenants").await;
    s.stop().await;
}
