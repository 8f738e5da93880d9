//! A real headless Chromium driven over WebDriver (Debian's `chromium`
//! and `chromium-driver`), for what a person sees. Without them the
//! browser tests print that they were skipped, unless
//! `SWITCHBOARD_REQUIRE_BROWSER=1` (set by `.ci/run`, which installs
//! them) makes that a failure. Also: a page server for embedding pages,
//! and a TCP proxy whose connections a test can cut, as a network drop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use parking_lot::Mutex;
use serde_json::{Value, json};

/// A headless Chromium session with its chromedriver.
pub struct Browser {
    pub client: Client,
    http: reqwest::Client,
    driver_url: String,
    driver_port: u16,
    /// The WebDriver session, ended when the browser is dropped.
    session: Option<String>,
    driver: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // End the WebDriver session first, so chromedriver quits the
        // Chromium it started: killing only the driver left every test's
        // browser running. (A blocking request: `drop` cannot await.)
        if let Some(session) = &self.session {
            end_session(self.driver_port, session);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `DELETE /session/{id}` on the driver, waiting (a few seconds at most)
/// for its answer, by which time the browser has quit.
fn end_session(port: u16, session: &str) {
    use std::io::{Read, Write};
    let Ok(mut conn) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return;
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!(
        "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if conn.write_all(request.as_bytes()).is_ok() {
        let _ = conn.read_to_end(&mut Vec::new());
    }
}

fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

fn from_env_or(var: &str, names: &[&str]) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => on_path(names),
    }
}

impl Browser {
    /// Start chromedriver and a headless Chromium; `None` (with a notice)
    /// when they are not installed and not required.
    pub async fn start(test: &str) -> Option<Browser> {
        switchboard::outbound::install_tls_provider();
        let driver = from_env_or("SWITCHBOARD_CHROMEDRIVER", &["chromedriver"]);
        let chromium = from_env_or(
            "SWITCHBOARD_CHROMIUM",
            &["chromium", "chromium-browser", "google-chrome"],
        );
        let (Some(driver), Some(chromium)) = (driver, chromium) else {
            let required = std::env::var("SWITCHBOARD_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "{test}: chromium and chromedriver are required (apt-get install chromium chromium-driver)"
            );
            eprintln!(
                "skipped: {test} needs chromium and chromedriver (apt-get install chromium chromium-driver)"
            );
            return None;
        };
        let port = free_port();
        let driver = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver_url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let mut ready = false;
        for _ in 0..100 {
            if let Ok(r) = http.get(format!("{driver_url}/status")).send().await
                && r.status().is_success()
            {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ready, "chromedriver did not answer on {driver_url}");
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,800", "--no-first-run"],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&driver_url)
            .await
            .expect("a Chromium session");
        let session = client.session_id().await.ok().flatten();
        Some(Browser {
            client,
            http,
            driver_url,
            driver_port: port,
            session,
            driver,
        })
    }

    /// The element's accessible name, as Chromium computes it for
    /// assistive technology (WebDriver "Get Computed Label").
    pub async fn accessible_name(&self, element: &Element) -> String {
        self.computed(element, "computedlabel").await
    }

    /// The element's computed ARIA role (WebDriver "Get Computed Role").
    pub async fn role(&self, element: &Element) -> String {
        self.computed(element, "computedrole").await
    }

    async fn computed(&self, element: &Element, what: &str) -> String {
        self.computed_of(element, what)
            .await
            .unwrap_or_else(|| panic!("no {what} for the element (gone from the page?)"))
    }

    /// The accessible name, or `None` when the element is gone.
    async fn accessible_name_of(&self, element: &Element) -> Option<String> {
        self.computed_of(element, "computedlabel").await
    }

    async fn computed_of(&self, element: &Element, what: &str) -> Option<String> {
        let session = self.client.session_id().await.ok()??;
        let url = format!(
            "{}/session/{session}/element/{}/{what}",
            self.driver_url,
            element.element_id()
        );
        let v: Value = self.http.get(url).send().await.ok()?.json().await.ok()?;
        // A stale element answers with an error object, not a string.
        v["value"].as_str().map(str::to_string)
    }

    /// The first element matching the CSS selector, waiting up to 20 s.
    pub async fn find(&self, css: &str) -> Element {
        self.wait_for(css, |_| true).await
    }

    /// Wait (up to 20 s) until the element matching `css` satisfies
    /// `ready` given its text.
    pub async fn wait_for(&self, css: &str, ready: impl Fn(&str) -> bool) -> Element {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let mut last = String::new();
        loop {
            if let Ok(e) = self.client.find(Locator::Css(css)).await {
                last = e.text().await.unwrap_or_default();
                if ready(&last) {
                    return e;
                }
            }
            if tokio::time::Instant::now() > deadline {
                self.screenshot("timeout").await;
                panic!(
                    "`{css}` not ready after 20 s (text: {last:?}); screenshot target/screenshots/timeout.png"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Click the first element matching `css`, finding it again if the
    /// page replaced it in between (live pages re-render parts of
    /// themselves).
    pub async fn click(&self, css: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let clicked = match self.client.find(Locator::Css(css)).await {
                Ok(e) => e.click().await.is_ok(),
                Err(_) => false,
            };
            if clicked {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "could not click `{css}`"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Click the first button whose accessible name is `name` (found again
    /// if the page replaced it).
    pub async fn click_button(&self, name: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            for b in self
                .client
                .find_all(Locator::Css("button"))
                .await
                .unwrap_or_default()
            {
                if self.accessible_name_of(&b).await.as_deref() == Some(name)
                    && b.click().await.is_ok()
                {
                    return;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no button named {name:?} to click"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The texts of every element matching `css`.
    pub async fn texts(&self, css: &str) -> Vec<String> {
        let mut texts = Vec::new();
        for e in self.client.find_all(Locator::Css(css)).await.unwrap() {
            texts.push(e.text().await.unwrap());
        }
        texts
    }

    /// Save a screenshot as `target/screenshots/<name>.png`, for a person
    /// to look at.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../target/screenshots"
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(&path, png).unwrap();
        path
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A page server: `/` answers what `html` holds then (with a strict
/// Content-Security-Policy allowing only `allow` beside itself, so an
/// embedded script that needs inline code or styles fails as it would on
/// a careful site). Returns its base URL.
pub async fn serve_page(html: Arc<Mutex<String>>, allow: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let ws = allow.replacen("http", "ws", 1);
    let csp = format!(
        "default-src 'self'; script-src 'self' {allow}; style-src 'self' {allow}; connect-src 'self' {allow} {ws}; img-src 'self' data:"
    );
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let (html, csp) = (html.lock().clone(), csp.clone());
            async move {
                (
                    [
                        ("content-type", "text/html; charset=utf-8".to_string()),
                        ("content-security-policy", csp),
                    ],
                    html,
                )
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// A TCP proxy to `upstream` whose connections can be cut (and new ones
/// refused) and restored: a network drop between a browser and the host.
pub struct Proxy {
    pub base: String,
    state: Arc<Mutex<ProxyState>>,
}

#[derive(Default)]
struct ProxyState {
    down: bool,
    live: Vec<tokio::task::AbortHandle>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(ProxyState::default()));
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut guard = shared.lock();
                if guard.down {
                    drop(client);
                    continue;
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                guard.live.retain(|t| !t.is_finished());
                guard.live.push(task.abort_handle());
            }
        });
        Proxy { base, state }
    }

    /// Drop every open connection and refuse new ones.
    pub fn cut(&self) {
        let mut state = self.state.lock();
        state.down = true;
        for task in state.live.drain(..) {
            task.abort();
        }
    }

    /// Take connections again.
    pub fn restore(&self) {
        self.state.lock().down = false;
    }
}
