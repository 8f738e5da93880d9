//! The platform admin's console over HTTP on both databases: sign-in with
//! the admin token (a wrong token, a cross-site form and a forged or
//! member's cookie are refused), the tenants page with usage and limits,
//! and creating (with an owner who can then sign in), suspending,
//! reactivating and limiting a tenant, each refused without the page's
//! CSRF token.

use serde_json::Value;

use crate::console::{
    FormBody, PASSWORD, csrf_in, no_redirects, page_as, post_as, sign_in, tenant_with_owner,
};
use crate::harness::{Backend, TestServer, unique};
use crate::on_both;

/// The admin's cookie (`name=value`) and the page's CSRF token.
struct Admin {
    cookie: String,
    csrf: String,
}

async fn admin_sign_in(s: &TestServer) -> Admin {
    let r = no_redirects()
        .post(s.url("/console/admin/login"))
        .form_body(&[("token", &s.admin_token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/console/admin");
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/console/admin"] {
        assert!(set.contains(flag), "{set}");
    }
    let cookie = set.split(';').next().unwrap().to_string();
    let (status, page) = get(s, &cookie, "/console/admin").await;
    assert_eq!(status, 200, "{page}");
    let csrf = csrf_in(&page);
    Admin { cookie, csrf }
}

async fn get(s: &TestServer, cookie: &str, path: &str) -> (u16, String) {
    page_as(s, cookie, path).await
}

async fn post(s: &TestServer, a: &Admin, path: &str, pairs: &[(&str, &str)]) -> (u16, String) {
    post_as(s, &a.cookie, path, pairs).await
}

async fn admin_api(s: &TestServer, id: &str) -> Value {
    s.http
        .get(s.url(&format!("/v1/admin/tenants/{id}")))
        .bearer_auth(&s.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn the_platform_admin_runs_tenants(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (existing_id, existing_key, owner_email) = tenant_with_owner(&s, "admin-page").await;

    // Not signed in: to the admin's sign-in page, whose form is labelled.
    let r = no_redirects()
        .get(s.url("/console/admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/console/admin/login");
    let (status, page) = get(&s, "", "/console/admin/login").await;
    assert_eq!(status, 200);
    assert!(
        page.contains(r#"<label for="token">Admin token</label>"#),
        "{page}"
    );

    // A wrong token, and a form posted from another site, are refused.
    let wrong = no_redirects()
        .post(s.url("/console/admin/login"))
        .form_body(&[("token", "adm_not-the-token-at-all")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    assert!(wrong.text().await.unwrap().contains("not the admin token"));
    let cross = no_redirects()
        .post(s.url("/console/admin/login"))
        .header("origin", "https://evil.example")
        .form_body(&[("token", &s.admin_token)])
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
    assert!(cross.headers().get("set-cookie").is_none());

    let admin = admin_sign_in(&s).await;
    // A forged cookie (one signature digit changed), and a member's
    // session cookie, do not open the admin pages.
    let mut forged = admin.cookie.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    assert_eq!(get(&s, &forged, "/console/admin").await.0, 303);
    let member = sign_in(&s, &owner_email, PASSWORD).await;
    assert_eq!(get(&s, &member.cookie, "/console/admin").await.0, 303);

    // Every tenant is listed, with its usage this month.
    let (_, page) = get(&s, &admin.cookie, "/console/admin").await;
    let existing = admin_api(&s, &existing_id).await;
    let existing_slug = existing["slug"].as_str().unwrap();
    assert!(page.contains(existing_slug), "{page}");
    assert!(page.contains("Messages this month"), "{page}");

    // Creating: refused without the CSRF token (and nothing is created).
    let slug = format!("made-in-console-{}", unique());
    let owner = format!("first-owner-{}@example.test", unique());
    let fields = |csrf: &str| {
        vec![
            ("csrf".to_string(), csrf.to_string()),
            ("slug".to_string(), slug.clone()),
            ("name".to_string(), "Made in the console".to_string()),
            ("owner_email".to_string(), owner.clone()),
            ("owner_password".to_string(), PASSWORD.to_string()),
        ]
    };
    let pairs = fields("");
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, _) = post(&s, &admin, "/console/admin/tenants", &pairs).await;
    assert_eq!(status, 403);
    let (_, page) = get(&s, &admin.cookie, "/console/admin").await;
    assert!(!page.contains(&slug));

    let pairs = fields(&admin.csrf);
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, page) = post(&s, &admin, "/console/admin/tenants", &pairs).await;
    assert_eq!(status, 201, "{page}");
    // Its API key is shown once, and works; its owner can sign in.
    let key = page
        .split(r#"id="new-tenant-key""#)
        .nth(1)
        .and_then(|r| r.split(r#"value=""#).nth(1))
        .and_then(|r| r.split('"').next())
        .expect("the new key is shown")
        .to_string();
    let channels = s
        .http
        .get(s.url("/v1/channels"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(channels.status(), 200);
    sign_in(&s, &owner, PASSWORD).await;
    // A slug already taken is a clear error on the page.
    let (status, page) = post(&s, &admin, "/console/admin/tenants", &pairs).await;
    assert_eq!(status, 409, "{page}");
    assert!(page.contains(r#"role="alert""#), "{page}");

    // Suspend: the tenant's key is refused; reactivate: it works again.
    let path = format!("/console/admin/tenants/{existing_id}/status");
    assert_eq!(
        post(&s, &admin, &path, &[("csrf", ""), ("status", "suspended")])
            .await
            .0,
        403
    );
    assert_eq!(admin_api(&s, &existing_id).await["status"], "active");
    let (status, _) = post(
        &s,
        &admin,
        &path,
        &[("csrf", &admin.csrf), ("status", "suspended")],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(admin_api(&s, &existing_id).await["status"], "suspended");
    let refused = s
        .http
        .get(s.url("/v1/channels"))
        .bearer_auth(&existing_key)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let (_, page) = get(&s, &admin.cookie, "/console/admin").await;
    assert!(
        page.contains(&format!("Reactivate {existing_slug}")),
        "{page}"
    );
    post(
        &s,
        &admin,
        &path,
        &[("csrf", &admin.csrf), ("status", "active")],
    )
    .await;
    assert_eq!(admin_api(&s, &existing_id).await["status"], "active");

    // The monthly message limit: set, shown, refused when not a number.
    let path = format!("/console/admin/tenants/{existing_id}/limits");
    let (status, _) = post(
        &s,
        &admin,
        &path,
        &[("csrf", &admin.csrf), ("monthly_message_limit", "500")],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(
        admin_api(&s, &existing_id).await["limits"]["monthly_message_limit"],
        500
    );
    let (_, page) = get(&s, &admin.cookie, "/console/admin").await;
    assert!(page.contains("0 of 500"), "{page}");
    let (status, _) = post(
        &s,
        &admin,
        &path,
        &[("csrf", &admin.csrf), ("monthly_message_limit", "lots")],
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        admin_api(&s, &existing_id).await["limits"]["monthly_message_limit"],
        500
    );

    // Signing out clears the cookie.
    let r = no_redirects()
        .post(s.url("/console/admin/logout"))
        .header("cookie", &admin.cookie)
        .form_body(&[("csrf", &admin.csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
}
on_both!(the_platform_admin_runs_tenants);
