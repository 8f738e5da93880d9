//! The console's people and sessions, and human handoff, over HTTP on both
//! databases: a tenant created with its owner, invitations, roles (an
//! agent reads and answers conversations, nothing else; a tenant keeps
//! one owner), the session cookie's flags, CSRF on every signed-in change
//! (a cross-site POST is refused), sign-in limits, sessions ending with
//! the membership; and a conversation a person took over gets no bot
//! reply, while the agent's own reply goes out through the provider.

use serde_json::{Value, json};

use crate::harness::{APP_SECRET, Backend, TestServer, unique, wa_from};
use crate::mock::MockProvider;
use crate::on_both;

pub const PASSWORD: &str = "correct horse battery staple";

/// An HTML form's body, as a browser sends it.
pub trait FormBody {
    fn form_body(self, pairs: &[(&str, &str)]) -> Self;
}

impl FormBody for reqwest::RequestBuilder {
    fn form_body(self, pairs: &[(&str, &str)]) -> Self {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(body)
    }
}

/// A signed-in browser, as far as the server can tell: its cookie and the
/// CSRF token its pages carry.
pub struct Member {
    pub cookie: String,
    pub csrf: String,
}

pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Sign in through the console's form; the raw answer.
async fn sign_in_raw(s: &TestServer, email: &str, password: &str) -> reqwest::Response {
    no_redirects()
        .post(s.url("/console/login"))
        .form_body(&[("email", email), ("password", password)])
        .send()
        .await
        .unwrap()
}

/// The session cookie a `Set-Cookie` answer carries, with its attributes.
fn set_cookie(r: &reqwest::Response) -> String {
    r.headers()
        .get("set-cookie")
        .expect("a session cookie")
        .to_str()
        .unwrap()
        .to_string()
}

/// The CSRF token of the session's pages.
async fn csrf_of(s: &TestServer, cookie: &str) -> String {
    csrf_in(&page_as(s, cookie, "/console/inbox").await.1)
}

/// The CSRF token a console page carries.
pub fn csrf_in(html: &str) -> String {
    html.split(r#"name="csrf-token" content=""#)
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the page carries the CSRF token")
        .to_string()
}

/// A console page as the browser holding `cookie` gets it.
pub async fn page_as(s: &TestServer, cookie: &str, path: &str) -> (u16, String) {
    let r = no_redirects()
        .get(s.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// A console form posted by the browser holding `cookie`.
pub async fn post_as(
    s: &TestServer,
    cookie: &str,
    path: &str,
    pairs: &[(&str, &str)],
) -> (u16, String) {
    let r = no_redirects()
        .post(s.url(path))
        .header("cookie", cookie)
        .form_body(pairs)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

pub async fn sign_in(s: &TestServer, email: &str, password: &str) -> Member {
    let r = sign_in_raw(s, email, password).await;
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    let cookie = set_cookie(&r).split(';').next().unwrap().to_string();
    let csrf = csrf_of(s, &cookie).await;
    Member { cookie, csrf }
}

/// A signed-in API call: `csrf` decides whether the token is sent.
pub async fn call(
    s: &TestServer,
    m: &Member,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    csrf: bool,
) -> (u16, Value) {
    let mut req = no_redirects()
        .request(method, s.url(path))
        .header("cookie", &m.cookie);
    if csrf {
        req = req.header("x-csrf-token", &m.csrf);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A tenant with an owner; returns (tenant id, API key, owner email).
pub async fn tenant_with_owner(s: &TestServer, prefix: &str) -> (String, String, String) {
    let email = format!("owner-{}@example.test", unique());
    let r = s
        .http
        .post(s.url("/v1/admin/tenants"))
        .bearer_auth(&s.admin_token)
        .json(&json!({ "slug": format!("{prefix}-{}", unique()), "name": prefix, "owner": { "email": email, "password": PASSWORD } }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["owner"]["email"], email.as_str());
    assert_eq!(v["owner"]["role"], "owner");
    (
        v["id"].as_str().unwrap().to_string(),
        v["api_key"].as_str().unwrap().to_string(),
        email,
    )
}

/// Invite `role` as the owner and accept; returns the member's email,
/// id and signed-in session.
pub async fn invited(s: &TestServer, owner: &Member, role: &str) -> (String, String, Member) {
    let email = format!("{role}-{}@example.test", unique());
    let (status, v) = call(
        s,
        owner,
        reqwest::Method::POST,
        "/v1/members",
        Some(json!({ "email": email, "role": role })),
        true,
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let url = v["invite_url"].as_str().unwrap().to_string();
    let path = url.trim_start_matches(&s.base).to_string();
    assert!(path.starts_with("/console/invite/"), "{url}");
    let page = no_redirects().get(s.url(&path)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let r = no_redirects()
        .post(s.url(&path))
        .form_body(&[("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    // The link works once.
    let again = no_redirects()
        .post(s.url(&path))
        .form_body(&[("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    let member = sign_in(s, &email, PASSWORD).await;
    (email, v["id"].as_str().unwrap().to_string(), member)
}

async fn members_roles_and_sessions(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key, owner_email) = tenant_with_owner(&s, "console").await;

    // The session cookie is HttpOnly and SameSite=Lax; the page has a CSP.
    let r = sign_in_raw(&s, &owner_email, PASSWORD).await;
    assert_eq!(r.status(), 303);
    let cookie = set_cookie(&r);
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    let login_page = s.http.get(s.url("/console/login")).send().await.unwrap();
    let csp = login_page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );

    let owner = sign_in(&s, &owner_email, PASSWORD).await;
    // A signed-in change without the CSRF token is refused (a cross-site
    // form or script cannot know it).
    let (status, v) = call(
        &s,
        &owner,
        reqwest::Method::POST,
        "/v1/members",
        Some(json!({ "email": "x@example.test", "role": "agent" })),
        false,
    )
    .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("csrf_failed")),
        "{v}"
    );
    let cross = no_redirects()
        .post(s.url("/console/members"))
        .header("cookie", &owner.cookie)
        .header("origin", "https://evil.test")
        .form_body(&[("email", "y@example.test"), ("role", "admin")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        cross.status(),
        403,
        "a cross-site form post without the token"
    );
    let cross_login = no_redirects()
        .post(s.url("/console/login"))
        .header("origin", "https://evil.test")
        .form_body(&[("email", owner_email.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(cross_login.status(), 403, "login CSRF");

    // An agent: conversations yes, settings no (page and API).
    let (agent_email, agent_id, agent) = invited(&s, &owner, "agent").await;
    let (status, _) = call(
        &s,
        &agent,
        reqwest::Method::GET,
        "/v1/conversations",
        None,
        false,
    )
    .await;
    assert_eq!(status, 200);
    let (status, v) = call(
        &s,
        &agent,
        reqwest::Method::GET,
        "/v1/channels",
        None,
        false,
    )
    .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("forbidden_for_role")),
        "{v}"
    );
    let (status, _) = call(
        &s,
        &agent,
        reqwest::Method::POST,
        "/v1/members",
        Some(json!({ "email": "z@example.test", "role": "agent" })),
        true,
    )
    .await;
    assert_eq!(status, 403);
    let page = no_redirects()
        .get(s.url("/console/channels"))
        .header("cookie", &agent.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 403);
    // The API key still does everything.
    let (status, list) = s.get(&key, "/v1/members").await;
    assert_eq!(status, 200);
    assert_eq!(list["data"].as_array().unwrap().len(), 2, "{list}");

    // An admin cannot touch owners; the last owner stays.
    let (_, _, admin) = invited(&s, &owner, "admin").await;
    let owner_id = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "owner")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = call(
        &s,
        &admin,
        reqwest::Method::PATCH,
        &format!("/v1/members/{owner_id}"),
        Some(json!({ "role": "agent" })),
        true,
    )
    .await;
    assert_eq!(status, 403);
    let (status, v) = call(
        &s,
        &owner,
        reqwest::Method::PATCH,
        &format!("/v1/members/{owner_id}"),
        Some(json!({ "role": "admin" })),
        true,
    )
    .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("last_owner")),
        "{v}"
    );
    let (status, _) = s.delete(&key, &format!("/v1/members/{owner_id}")).await;
    assert_eq!(status, 409);
    let (status, v) = call(
        &s,
        &owner,
        reqwest::Method::PATCH,
        &format!("/v1/members/{agent_id}"),
        Some(json!({ "role": "chief" })),
        true,
    )
    .await;
    assert_eq!(status, 422, "{v}");

    // Removing a member ends their sessions.
    let (status, _) = call(
        &s,
        &owner,
        reqwest::Method::DELETE,
        &format!("/v1/members/{agent_id}"),
        None,
        true,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = call(
        &s,
        &agent,
        reqwest::Method::GET,
        "/v1/conversations",
        None,
        false,
    )
    .await;
    assert_eq!(status, 401, "the removed agent's session ended");
    let r = sign_in_raw(&s, &agent_email, PASSWORD).await;
    assert_eq!(r.status(), 401, "and they cannot sign in to this tenant");

    // A new password ends every session of the user, and only it works.
    let other = sign_in(&s, &owner_email, PASSWORD).await;
    let new_password = "another long passphrase";
    let changed = no_redirects()
        .post(s.url("/console/account/password"))
        .header("cookie", &owner.cookie)
        .form_body(&[
            ("csrf", owner.csrf.as_str()),
            ("current", PASSWORD),
            ("new", new_password),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 303);
    for session in [&owner, &other] {
        let (status, _) = call(
            &s,
            session,
            reqwest::Method::GET,
            "/v1/conversations",
            None,
            false,
        )
        .await;
        assert_eq!(status, 401, "sessions end with a password change");
    }
    assert_eq!(sign_in_raw(&s, &owner_email, PASSWORD).await.status(), 401);
    let owner = sign_in(&s, &owner_email, new_password).await;

    // A wrong password and an unknown email read the same; then the limit.
    let wrong = sign_in_raw(&s, &owner_email, "not the password").await;
    assert_eq!(wrong.status(), 401);
    let wrong = wrong.text().await.unwrap();
    let unknown = sign_in_raw(&s, "nobody@example.test", "not the password")
        .await
        .text()
        .await
        .unwrap();
    assert!(wrong.contains("Wrong email or password."), "{wrong}");
    assert!(unknown.contains("Wrong email or password."));
    for _ in 0..4 {
        sign_in_raw(&s, &owner_email, "not the password").await;
    }
    let limited = sign_in_raw(&s, &owner_email, new_password).await;
    assert_eq!(
        limited.status(),
        429,
        "five failures lock the account for a while"
    );

    // Signing out ends the session.
    let out = no_redirects()
        .post(s.url("/console/logout"))
        .header("cookie", &owner.cookie)
        .form_body(&[("csrf", owner.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    let (status, _) = call(
        &s,
        &owner,
        reqwest::Method::GET,
        "/v1/conversations",
        None,
        false,
    )
    .await;
    assert_eq!(status, 401);

    // The audit log has the people changes.
    let (_, audit) = s.get(&key, "/v1/audit").await;
    let text = audit.to_string();
    for action in ["member.invite", "member.accept", "member.remove"] {
        assert!(text.contains(action), "{action} in {audit}");
    }
    s.stop().await;
}
on_both!(members_roles_and_sessions);

async fn a_person_takes_over_and_hands_back(backend: Backend) {
    let s = TestServer::start(backend).await;
    let graph = MockProvider::graph().await;
    let (_, key, owner_email) = tenant_with_owner(&s, "handoff").await;
    let persona = s
        .persona(&key, json!({ "name": format!("p-{}", unique()), "responder": { "kind": "static", "text": "Bot here." } }))
        .await;
    let ch = s
        .whatsapp_channel_to(&key, &graph.base, &[], Some(&persona))
        .await;
    let owner = sign_in(&s, &owner_email, PASSWORD).await;
    let (_, _, agent) = invited(&s, &owner, "agent").await;

    let r = s
        .post_signed(
            &ch,
            &wa_from("wamid.h1", "hello", "15550001111", "Ann"),
            APP_SECRET,
        )
        .await;
    assert_eq!(r.status(), 200);
    graph.wait_for(1).await;
    let (_, list) = s
        .get(&key, &format!("/v1/conversations?channel_id={ch}"))
        .await;
    let id = list["data"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(list["data"][0]["handler"], "bot");

    // The agent takes over: the conversation is theirs, and an event says so.
    let (status, c) = call(
        &s,
        &agent,
        reqwest::Method::POST,
        &format!("/v1/conversations/{id}/handoff"),
        Some(json!({ "to": "human" })),
        true,
    )
    .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["handler"], "human");
    assert!(c["assignee_id"].is_string());
    let (_, events) = s.get(&key, "/v1/events?types=conversation.updated").await;
    assert_eq!(events["data"][0]["data"]["handler"], "human", "{events}");

    // The customer writes: stored, shown, not answered by the bot.
    s.post_signed(
        &ch,
        &wa_from("wamid.h2", "are you a person?", "15550001111", "Ann"),
        APP_SECRET,
    )
    .await;
    let messages = format!("/v1/conversations/{id}/messages");
    s.eventually(&key, &messages, |v| {
        v["data"].as_array().is_some_and(|d| d.len() == 3)
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(
        graph.requests().len(),
        1,
        "no bot reply while a person holds the conversation"
    );

    // The agent answers: exactly that text reaches the provider.
    let (status, sent) = call(
        &s,
        &agent,
        reqwest::Method::POST,
        &messages,
        Some(json!({ "text": "Yes, I'm Sam from support." })),
        true,
    )
    .await;
    assert_eq!(status, 202, "{sent}");
    assert_eq!(sent["kind"], "agent");
    assert!(sent["author_id"].is_string());
    let got = graph.wait_for(2).await;
    assert_eq!(got[1].json()["text"]["body"], "Yes, I'm Sam from support.");
    // Without the CSRF token the same reply is refused.
    let (status, _) = call(
        &s,
        &agent,
        reqwest::Method::POST,
        &messages,
        Some(json!({ "text": "again" })),
        false,
    )
    .await;
    assert_eq!(status, 403);

    // Handed back: the bot answers again.
    let (status, c) = call(
        &s,
        &agent,
        reqwest::Method::POST,
        &format!("/v1/conversations/{id}/handoff"),
        Some(json!({ "to": "bot" })),
        true,
    )
    .await;
    assert_eq!((status, c["handler"].as_str()), (200, Some("bot")));
    s.post_signed(
        &ch,
        &wa_from("wamid.h3", "thanks", "15550001111", "Ann"),
        APP_SECRET,
    )
    .await;
    let got = graph.wait_for(3).await;
    assert_eq!(got[2].json()["text"]["body"], "Bot here.");

    // Resolve it; a bad status is refused.
    let (status, c) = s
        .patch_json(
            &key,
            &format!("/v1/conversations/{id}"),
            &json!({ "status": "resolved" }),
        )
        .await;
    assert_eq!(
        (status, c["status"].as_str()),
        (200, Some("resolved")),
        "{c}"
    );
    let (status, _) = s
        .patch_json(
            &key,
            &format!("/v1/conversations/{id}"),
            &json!({ "status": "closed" }),
        )
        .await;
    assert_eq!(status, 422);
    s.stop().await;
}
on_both!(a_person_takes_over_and_hands_back);

async fn the_persona_hands_over_on_its_own(backend: Backend) {
    let s = TestServer::start(backend).await;
    let graph = MockProvider::graph().await;
    let (_, key) = s.tenant("self-handoff").await;
    let persona = s
        .persona(&key, json!({ "name": format!("p-{}", unique()), "responder": { "kind": "static", "text": "[[handoff]] Let me get a colleague for this." } }))
        .await;
    let ch = s
        .whatsapp_channel_to(&key, &graph.base, &[], Some(&persona))
        .await;
    s.post_signed(
        &ch,
        &wa_from("wamid.s1", "I want a refund", "15550003333", "Bo"),
        APP_SECRET,
    )
    .await;
    // What it says besides the signal goes out; the signal does not.
    let got = graph.wait_for(1).await;
    assert_eq!(
        got[0].json()["text"]["body"],
        "Let me get a colleague for this."
    );
    let list = s
        .eventually(&key, &format!("/v1/conversations?channel_id={ch}"), |v| {
            v["data"][0]["handler"] == "human"
        })
        .await;
    let id = list["data"][0]["id"].as_str().unwrap().to_string();
    // From now on the bot is quiet.
    s.post_signed(
        &ch,
        &wa_from("wamid.s2", "hello?", "15550003333", "Bo"),
        APP_SECRET,
    )
    .await;
    s.eventually(&key, &format!("/v1/conversations/{id}/messages"), |v| {
        v["data"].as_array().is_some_and(|d| d.len() == 3)
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(
        graph.requests().len(),
        1,
        "no bot reply after the persona handed over"
    );
    let (_, audit) = s.get(&key, "/v1/audit").await;
    assert!(
        audit.to_string().contains("\"actor\":\"persona\""),
        "{audit}"
    );
    s.stop().await;
}
on_both!(the_persona_hands_over_on_its_own);

/// Trying a persona runs its real prompt, responder and guardrails, and
/// stores and sends nothing.
async fn a_persona_is_tried_without_a_channel(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("try").await;
    let disclaimed = s
        .persona(&key, json!({ "name": "helper", "required_disclaimers": ["I am an automated assistant."], "prohibited_topics": ["bitcoin"], "responder": { "kind": "static", "text": "Happy to help." } }))
        .await;
    let (status, v) = s
        .post_json(
            &key,
            &format!("/v1/personas/{disclaimed}/try"),
            &json!({ "messages": [{ "role": "user", "text": "hi" }] }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let reply = v["reply"].as_str().unwrap();
    assert!(
        reply.starts_with("Happy to help.") && reply.contains("I am an automated assistant."),
        "the disclaimer on a first reply: {v}"
    );
    assert!(
        v["system_prompt"].as_str().unwrap().contains("bitcoin"),
        "the platform's rules are in the prompt shown: {v}"
    );
    assert_eq!(v["handoff"], false);
    // Not the first reply any more: no disclaimer.
    let (_, v) = s
        .post_json(&key, &format!("/v1/personas/{disclaimed}/try"), &json!({ "messages": [{ "role": "user", "text": "hi" }, { "role": "assistant", "text": "Happy to help. I am an automated assistant." }, { "role": "user", "text": "thanks" }] }))
        .await;
    assert_eq!(v["reply"], "Happy to help.", "{v}");

    let talker = s
        .persona(&key, json!({ "name": "crypto", "prohibited_topics": ["bitcoin"], "responder": { "kind": "static", "text": "You should buy Bitcoin today." } }))
        .await;
    let (_, v) = s
        .post_json(
            &key,
            &format!("/v1/personas/{talker}/try"),
            // `content` is accepted for `text` (the chat-completions spelling).
            &json!({ "messages": [{ "role": "user", "content": "tips?" }] }),
        )
        .await;
    assert_eq!(v["reply"], Value::Null, "{v}");
    assert!(
        v["blocked"]["reason"]
            .as_str()
            .unwrap()
            .contains("prohibited-topics"),
        "{v}"
    );

    let quitter = s
        .persona(
            &key,
            json!({ "name": "quitter", "responder": { "kind": "static", "text": "[[handoff]]" } }),
        )
        .await;
    let (_, v) = s
        .post_json(
            &key,
            &format!("/v1/personas/{quitter}/try"),
            &json!({ "messages": [{ "role": "user", "text": "refund!" }] }),
        )
        .await;
    assert_eq!(
        (v["handoff"].as_bool(), &v["reply"]),
        (Some(true), &Value::Null),
        "{v}"
    );

    // Bad requests say what is wrong; nothing was stored.
    let (status, v) = s
        .post_json(
            &key,
            &format!("/v1/personas/{talker}/try"),
            &json!({ "messages": [{ "role": "assistant", "text": "hi" }] }),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (422, Some("invalid_messages")),
        "{v}"
    );
    let (status, _) = s
        .post_json(
            &key,
            "/v1/personas/per_nope/try",
            &json!({ "messages": [{ "role": "user", "text": "hi" }] }),
        )
        .await;
    assert_eq!(status, 404);
    let (_, conversations) = s.get(&key, "/v1/conversations").await;
    assert_eq!(conversations["data"].as_array().unwrap().len(), 0);
    s.stop().await;
}
on_both!(a_persona_is_tried_without_a_channel);

/// A persona's responder is edited in its form, through the API's rules:
/// the key is write-only (an empty field keeps it, a new base URL needs it
/// again), a bad value is refused with its reason.
async fn a_persona_s_responder_is_edited_in_its_form(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key, email) = tenant_with_owner(&s, "responder-form").await;
    let owner = sign_in(&s, &email, PASSWORD).await;
    let persona = s
        .persona(
            &key,
            json!({ "name": "desk", "responder": { "kind": "static", "text": "Hello." } }),
        )
        .await;
    let path = format!("/console/personas/{persona}");
    let save = |fields: &[(&'static str, &'static str)]| {
        let mut pairs = vec![("name", "desk")];
        pairs.extend_from_slice(fields);
        pairs
    };
    let post = |pairs: Vec<(&'static str, &'static str)>| {
        let (s, owner, path) = (&s, &owner, &path);
        async move {
            let mut pairs: Vec<(&str, &str)> = pairs;
            pairs.push(("csrf", &owner.csrf));
            let r = no_redirects()
                .post(s.url(path))
                .header("cookie", &owner.cookie)
                .form_body(&pairs)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let responder = || async {
        let (_, v) = s.get(&key, &format!("/v1/personas/{persona}")).await;
        v["responder"].clone()
    };

    let (status, page) = post(save(&[
        ("responder_kind", "openai"),
        ("base_url", "https://llm.example/v1"),
        ("model", "small-model"),
        ("api_key", "sk-very-secret-key"),
        ("temperature", "0.3"),
        ("max_tokens", "200"),
    ]))
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(
        !page.contains("sk-very-secret-key"),
        "the key is never shown"
    );
    assert!(
        page.contains("API key (set: leave empty to keep)"),
        "{page}"
    );
    assert_eq!(
        responder().await,
        json!({ "kind": "openai", "base_url": "https://llm.example/v1", "model": "small-model", "api_key": "set", "temperature": 0.3, "max_tokens": 200 })
    );
    // An empty key field keeps the key.
    let (status, _) = post(save(&[
        ("responder_kind", "openai"),
        ("base_url", "https://llm.example/v1"),
        ("model", "bigger-model"),
        ("api_key", ""),
    ]))
    .await;
    assert_eq!(status, 200);
    let r = responder().await;
    assert_eq!(
        (r["model"].as_str(), r["api_key"].as_str()),
        (Some("bigger-model"), Some("set"))
    );
    // Another base URL without the key again: refused, with the reason.
    let (status, page) = post(save(&[
        ("responder_kind", "openai"),
        ("base_url", "https://elsewhere.example/v1"),
        ("model", "bigger-model"),
    ]))
    .await;
    assert_eq!(status, 422);
    assert!(page.contains("send `responder.api_key` again"), "{page}");
    let (status, page) = post(save(&[
        ("responder_kind", "openai"),
        ("base_url", "https://llm.example/v1"),
        ("model", "bigger-model"),
        ("temperature", "warm"),
    ]))
    .await;
    assert_eq!(status, 422);
    assert!(page.contains("responder"), "{page}");
    assert_eq!(responder().await["model"], "bigger-model");
    // Back to a fixed reply.
    let (status, _) = post(save(&[
        ("responder_kind", "static"),
        (
            "responder_text",
            "Hi {{contact_name}}, we will answer soon.",
        ),
    ]))
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        responder().await,
        json!({ "kind": "static", "text": "Hi {{contact_name}}, we will answer soon." })
    );
    s.stop().await;
}
on_both!(a_persona_s_responder_is_edited_in_its_form);
