//! Console sessions: the cookie, the signed-in extractor, the CSRF check
//! of forms, and sign-in attempt limits.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use parking_lot::Mutex;
use subtle::ConstantTimeEq;

use super::super::AppState;
use super::super::auth::{Caller, SESSION_COOKIE, cookie};
use crate::storage::SessionRecord;

/// How long a session lasts.
pub const SESSION_TTL_MS: i64 = 12 * 3600 * 1000;

/// The `Set-Cookie` value that starts (or, with `None`, ends) a session.
/// `HttpOnly` (no script reads it), `SameSite=Lax` (no cross-site POST
/// carries it), `Secure` when the platform is served over HTTPS.
pub fn session_cookie(state: &AppState, token: Option<&str>) -> String {
    let secure = if state.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    match token {
        Some(t) => format!(
            "{SESSION_COOKIE}={t}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            SESSION_TTL_MS / 1000
        ),
        None => format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
    }
}

/// Extractor: a signed-in member (else a redirect to the sign-in page).
pub struct Signed {
    pub session: SessionRecord,
    pub caller: Caller,
}

impl Signed {
    /// Whether a form's `csrf` field is this session's token.
    pub fn csrf_ok(&self, given: &str) -> bool {
        bool::from(given.as_bytes().ct_eq(self.session.csrf.as_bytes()))
    }
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let to_sign_in = || Redirect::to("/console/login").into_response();
        let token = cookie(parts, SESSION_COOKIE).ok_or_else(to_sign_in)?;
        let session = match state.db().session(token).await {
            Ok(Some(s)) => s,
            Ok(None) => return Err(to_sign_in()),
            Err(e) => return Err(super::super::ApiError::from(e).into_response()),
        };
        let tenant = state
            .db()
            .tenant(&session.member.tenant_id)
            .await
            .map_err(|e| super::super::ApiError::from(e).into_response())?;
        Ok(Signed {
            caller: Caller {
                tenant,
                member: Some(session.member.clone()),
            },
            session,
        })
    }
}

/// Failed sign-ins allowed per account, and per address, in [`WINDOW`].
const PER_ACCOUNT: usize = 5;
const PER_ADDRESS: usize = 20;
const WINDOW: Duration = Duration::from_secs(15 * 60);

/// Failed sign-in attempts, per account and per client address.
#[derive(Default)]
pub struct SignInLimits {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl SignInLimits {
    /// Whether another attempt for `email` from `address` may be tried.
    pub fn allowed(&self, email: &str, address: &str) -> bool {
        let now = Instant::now();
        let mut failures = self.failures.lock();
        let mut recent = |key: String| {
            let times = failures.entry(key).or_default();
            while times
                .front()
                .is_some_and(|t| now.duration_since(*t) >= WINDOW)
            {
                times.pop_front();
            }
            times.len()
        };
        recent(format!("account:{email}")) < PER_ACCOUNT
            && recent(format!("address:{address}")) < PER_ADDRESS
    }

    /// Count a failed attempt.
    pub fn failed(&self, email: &str, address: &str) {
        let now = Instant::now();
        let mut failures = self.failures.lock();
        if failures.len() > 100_000 {
            failures.retain(|_, t| t.back().is_some_and(|t| now.duration_since(*t) < WINDOW));
        }
        for key in [format!("account:{email}"), format!("address:{address}")] {
            failures.entry(key).or_default().push_back(now);
        }
    }

    /// A successful sign-in clears the account's failures.
    pub fn succeeded(&self, email: &str) {
        self.failures.lock().remove(&format!("account:{email}"));
    }
}
