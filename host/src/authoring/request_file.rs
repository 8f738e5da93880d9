//! Saved requests (`plugin run --request`, the adapter cases of `plugin
//! test`): `{method, url, headers, body}` with headers as a list or an
//! object and the body as text, base64 or inline JSON.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

use crate::domain::{Header, HttpRequest};

/// A saved request: headers as a list of `{name, value}` or an object.
#[derive(Deserialize)]
pub(crate) struct RequestFile {
    #[serde(default = "default_method")]
    method: String,
    url: String,
    #[serde(default)]
    headers: HeadersFile,
    #[serde(default)]
    body: BodyFile,
}

fn default_method() -> String {
    "POST".into()
}

#[derive(Deserialize)]
#[serde(untagged)]
enum HeadersFile {
    List(Vec<Header>),
    Map(BTreeMap<String, String>),
}

impl Default for HeadersFile {
    fn default() -> Self {
        HeadersFile::List(Vec::new())
    }
}

/// A body as text, as `{"base64": ...}`, or as inline JSON (sent compact).
#[derive(Deserialize)]
#[serde(untagged)]
enum BodyFile {
    Text(String),
    Base64 { base64: String },
    Json(serde_json::Value),
}

impl Default for BodyFile {
    fn default() -> Self {
        BodyFile::Text(String::new())
    }
}

/// Read a saved request file.
pub fn load_request(path: &Path) -> anyhow::Result<HttpRequest> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: RequestFile = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a request file ({{method, url, headers, body}})",
            path.display()
        )
    })?;
    file.into_request()
}

impl RequestFile {
    /// The request this file describes.
    pub(crate) fn into_request(self) -> anyhow::Result<HttpRequest> {
        let headers = match self.headers {
            HeadersFile::List(l) => l,
            HeadersFile::Map(m) => m
                .into_iter()
                .map(|(name, value)| Header { name, value })
                .collect(),
        };
        let body = match self.body {
            BodyFile::Text(t) => t.into_bytes(),
            BodyFile::Base64 { base64 } => {
                base64::Engine::decode(&base64::engine::general_purpose::STANDARD, base64)
                    .context("body.base64 is not valid base64")?
            }
            BodyFile::Json(v) => serde_json::to_vec(&v)?,
        };
        Ok(HttpRequest {
            method: self.method.to_uppercase(),
            url: self.url,
            headers,
            body,
        })
    }
}
