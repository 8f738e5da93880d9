//! Web chat in a real headless Chromium: a page on another origin embeds
//! the widget with the snippet the API gives; a visitor opens it by its
//! accessible name, writes, sees the persona's reply, reloads and sees the
//! history, loses the network while the business writes, and sees that
//! message after the widget reconnects, once. Screenshots of each step
//! are saved under `target/screenshots/webchat-*.png`.

use fantoccini::Locator;
use fantoccini::key::Key;
use serde_json::json;

use crate::browser::{Browser, Proxy, serve_page};
use crate::harness::{Backend, TestServer};

const REPLY: &str = "Thanks for writing! A person will follow up shortly.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_chats_in_a_browser() {
    let Some(browser) = Browser::start("a_visitor_chats_in_a_browser").await else {
        return;
    };
    let s = TestServer::start(Backend::Sqlite).await;
    let (_, key) = s.tenant("webchat-browser").await;
    // The browser reaches the host through a proxy the test can cut.
    let upstream = s.base.trim_start_matches("http://").parse().unwrap();
    let proxy = Proxy::start(upstream).await;
    let persona = s
        .persona(
            &key,
            json!({ "name": "shop", "responder": { "kind": "static", "text": REPLY } }),
        )
        .await;

    // The page's origin must be allowed before the page exists: take a
    // page server, then create the channel, then serve the snippet.
    let page_html = std::sync::Arc::new(parking_lot::Mutex::new(String::new()));
    let page = serve_page(page_html.clone(), &proxy.base).await;
    let (status, created) = s
        .post_json(
            &key,
            "/v1/channels",
            &json!({
                "name": "Website",
                "adapter": "webchat",
                "persona_id": persona,
                "config": { "allowed_origins": [page], "title": "Shop help", "greeting": "Hi! How can we help?", "color": "#6b2fd6" },
            }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let ch = created["id"].as_str().unwrap().to_string();
    // The snippet as the API gives it, pointed at the proxy.
    let snippet = created["channel"]["embed"]
        .as_str()
        .unwrap()
        .replace(&s.base, &proxy.base);
    *page_html.lock() = include_str!("../../src/server/webchat/assets/page.html")
        .replace("<!--WIDGET-->", &snippet);
    let c = &browser.client;
    c.goto(&page).await.unwrap();

    // The launcher, by its accessible name.
    let launcher = browser.find("button[aria-label='Open chat']").await;
    assert_eq!(browser.accessible_name(&launcher).await, "Open chat");
    browser.screenshot("webchat-1-closed").await;
    launcher.click().await.unwrap();

    let message = browser.find("textarea").await;
    assert_eq!(browser.accessible_name(&message).await, "Message");
    assert_eq!(browser.role(&message).await, "textbox");
    let send = browser.find(".sbw-send").await;
    assert_eq!(browser.accessible_name(&send).await, "Send");
    let log = browser.find("[role='log']").await;
    assert!(log.is_displayed().await.unwrap());
    assert_eq!(browser.role(&log).await, "log");
    browser.wait_for(".sbw-title", |t| t == "Shop help").await;
    browser
        .wait_for(".sbw-greeting", |t| t.contains("How can we help?"))
        .await;
    browser.screenshot("webchat-2-open").await;

    // Write, and see the persona's reply as it is delivered.
    message.send_keys("Where is my order?").await.unwrap();
    send.click().await.unwrap();
    browser
        .wait_for(".sbw-msg.sbw-out", |t| t.contains(REPLY))
        .await;
    browser
        .wait_for(".sbw-msg.sbw-in", |t| t.contains("Where is my order?"))
        .await;
    browser.screenshot("webchat-3-reply").await;

    // The widget reported the reply delivered.
    let conversations = s
        .eventually(&key, &format!("/v1/conversations?channel_id={ch}"), |v| {
            v["data"].as_array().is_some_and(|d| d.len() == 1)
        })
        .await;
    let conversation = conversations["data"][0]["id"].as_str().unwrap().to_string();
    let messages = format!("/v1/conversations/{conversation}/messages");
    s.eventually(&key, &messages, |v| {
        v["data"].as_array().is_some_and(|d| {
            d.iter()
                .any(|m| m["direction"] == "outbound" && m["status"] == "delivered")
        })
    })
    .await;

    // A reload shows the same conversation with its history.
    c.refresh().await.unwrap();
    browser
        .find("button[aria-label='Open chat']")
        .await
        .click()
        .await
        .unwrap();
    browser
        .wait_for(".sbw-msg.sbw-out", |t| t.contains(REPLY))
        .await;
    assert_eq!(browser.texts(".sbw-msg").await.len(), 2, "history, once");
    browser.screenshot("webchat-4-history").await;

    // The network drops; the business writes meanwhile.
    proxy.cut();
    browser
        .wait_for("[role='alert']", |t| t.contains("Reconnecting"))
        .await;
    browser.screenshot("webchat-5-offline").await;
    let (_, contacts) = s.get(&key, "/v1/contacts").await;
    let address = contacts.to_string();
    let address = address
        .split('"')
        .find(|p| p.starts_with("visitor:"))
        .expect("the visitor's address")
        .to_string();
    let (status, sent) = s
        .post_json(
            &key,
            "/v1/messages",
            &json!({ "channel_id": ch, "to": address, "text": "Your order shipped today." }),
        )
        .await;
    assert_eq!(status, 202, "{sent}");
    s.eventually(&key, &messages, |v| {
        v["data"].as_array().is_some_and(|d| {
            d.iter()
                .any(|m| m["text"] == "Your order shipped today." && m["status"] == "sent")
        })
    })
    .await;
    proxy.restore();
    browser
        .wait_for(".sbw-log", |t| t.contains("Your order shipped today."))
        .await;
    browser.wait_for("[role='alert']", |t| t.is_empty()).await;
    let texts = browser.texts(".sbw-msg").await;
    assert_eq!(texts.len(), 3, "nothing missed, nothing twice: {texts:?}");
    browser.screenshot("webchat-6-resumed").await;

    // A second tab is the same visitor, with the same history.
    let tab = c.new_window(true).await.unwrap();
    c.switch_to_window(tab.handle).await.unwrap();
    c.goto(&page).await.unwrap();
    browser
        .find("button[aria-label='Open chat']")
        .await
        .click()
        .await
        .unwrap();
    browser
        .wait_for(".sbw-log", |t| t.contains("Your order shipped today."))
        .await;
    assert_eq!(browser.texts(".sbw-msg").await.len(), 3);

    // Keyboard: Escape closes the panel and gives focus back to the launcher.
    let message = browser.find("textarea").await;
    message
        .send_keys(&char::from(Key::Escape).to_string())
        .await
        .unwrap();
    let panel = c.find(Locator::Css("[role='dialog']")).await.unwrap();
    assert!(
        !panel.is_displayed().await.unwrap(),
        "Escape closes the panel"
    );
    let focused = c.active_element().await.unwrap();
    assert_eq!(browser.accessible_name(&focused).await, "Open chat");

    // On a phone-sized screen the open panel takes the screen.
    c.set_window_size(360, 740).await.unwrap();
    browser
        .find("button[aria-label='Open chat']")
        .await
        .click()
        .await
        .unwrap();
    browser.wait_for(".sbw-log", |t| t.contains(REPLY)).await;
    let (_, _, width, _) = c
        .find(Locator::Css("[role='dialog']"))
        .await
        .unwrap()
        .rectangle()
        .await
        .unwrap();
    assert!(width >= 340.0, "the panel fills a phone's width: {width}");
    browser.screenshot("webchat-7-phone").await;

    s.stop().await;
}
