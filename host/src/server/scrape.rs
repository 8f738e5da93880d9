//! `GET /metrics`: the Prometheus exposition, optionally behind a bearer
//! token, with the database-derived gauges cached so that scraping (by
//! any number of scrapers, at any rate) costs at most one count query per
//! [`ScrapeConfig::db_refresh`].

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::{ApiError, AppState};

/// How `/metrics` is served.
#[derive(Debug, Clone)]
pub struct ScrapeConfig {
    /// When set, `/metrics` needs `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// The longest a database-derived gauge (the outbox depth) is reused
    /// before it is counted again.
    pub db_refresh: Duration,
}

impl Default for ScrapeConfig {
    fn default() -> Self {
        ScrapeConfig {
            token: None,
            db_refresh: Duration::from_secs(15),
        }
    }
}

/// A value fetched at most once per `ttl`; concurrent readers of a stale
/// value wait for one fetch instead of each running their own.
pub struct Cached<T> {
    ttl: Duration,
    slot: tokio::sync::Mutex<Option<(Instant, T)>>,
}

impl<T: Clone> Cached<T> {
    pub fn new(ttl: Duration) -> Self {
        Cached {
            ttl,
            slot: tokio::sync::Mutex::new(None),
        }
    }

    /// The cached value if it is younger than the TTL at `now`, else
    /// `fetch`'s (kept when it succeeds; a failure is not cached, and the
    /// previous value, if any, is served instead).
    pub async fn get<F, Fut, E>(&self, now: Instant, fetch: F) -> Option<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: std::fmt::Display,
    {
        let mut slot = self.slot.lock().await;
        if let Some((at, value)) = slot.as_ref()
            && now.saturating_duration_since(*at) < self.ttl
        {
            return Some(value.clone());
        }
        match fetch().await {
            Ok(value) => {
                *slot = Some((now, value.clone()));
                Some(value)
            }
            Err(e) => {
                tracing::warn!(error = %e, "refreshing a metrics gauge failed");
                slot.as_ref().map(|(_, v)| v.clone())
            }
        }
    }
}

/// What the handler needs: the token and the cached gauges.
pub struct Scrape {
    token: Option<String>,
    outbox_depth: Cached<i64>,
}

impl Scrape {
    pub fn new(config: &ScrapeConfig) -> Arc<Self> {
        Arc::new(Scrape {
            token: config.token.clone().filter(|t| !t.is_empty()),
            outbox_depth: Cached::new(config.db_refresh),
        })
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(expected) = &self.token else {
            return true;
        };
        let given = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .unwrap_or("");
        bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
    }
}

/// `GET /metrics`: Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, description = "Prometheus text format", content_type = "text/plain"), (status = 401, description = "A metrics token is configured and the request does not carry it", body = Object)))]
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let scrape = &state.scrape;
    if !scrape.authorized(&headers) {
        return ApiError::unauthorized().into_response();
    }
    let db = state.db();
    let depth = scrape
        .outbox_depth
        .get(Instant::now(), || db.outbox_depth())
        .await;
    (
        [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
        crate::metrics::metrics().render(depth),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_cached_value_is_fetched_once_per_ttl() {
        let cache = Cached::new(Duration::from_secs(15));
        let fetches = AtomicU32::new(0);
        let fetch = || async { Ok::<_, String>(fetches.fetch_add(1, Ordering::SeqCst) as i64) };
        let t0 = Instant::now();
        assert_eq!(cache.get(t0, fetch).await, Some(0));
        for s in [0, 1, 14] {
            let now = t0 + Duration::from_secs(s);
            assert_eq!(cache.get(now, fetch).await, Some(0), "{s} s");
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        // Stale: fetched again, then cached from then on.
        let later = t0 + Duration::from_secs(15);
        assert_eq!(cache.get(later, fetch).await, Some(1));
        assert_eq!(cache.get(later, fetch).await, Some(1));
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
        // A failed refresh serves the previous value and is retried.
        let much_later = later + Duration::from_secs(60);
        let failing = || async { Err::<i64, _>("db down") };
        assert_eq!(cache.get(much_later, failing).await, Some(1));
        assert_eq!(cache.get(much_later, fetch).await, Some(2));
    }

    #[test]
    fn the_token_is_checked_only_when_configured() {
        let mut headers = HeaderMap::new();
        let open = Scrape::new(&ScrapeConfig::default());
        assert!(open.authorized(&headers));
        let empty = Scrape::new(&ScrapeConfig {
            token: Some(String::new()),
            ..ScrapeConfig::default()
        });
        assert!(empty.authorized(&headers), "an empty token means none");

        let closed = Scrape::new(&ScrapeConfig {
            token: Some("scrape-secret".into()),
            ..ScrapeConfig::default()
        });
        assert!(!closed.authorized(&headers));
        for wrong in [
            "Bearer nope",
            "Basic scrape-secret",
            "scrape-secret",
            "Bearer ",
        ] {
            headers.insert("authorization", wrong.parse().unwrap());
            assert!(!closed.authorized(&headers), "{wrong}");
        }
        headers.insert("authorization", "bearer scrape-secret".parse().unwrap());
        assert!(closed.authorized(&headers));
    }
}
