//! A web chat channel's configuration as the host reads it: which pages
//! may open the socket, what the widget shows, and the secret that
//! verifies a page's user ids.

use std::collections::BTreeMap;

/// What the host reads of a `webchat` channel's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebchatConfig {
    /// Origins (`scheme://host[:port]`, lowercase) allowed to embed the widget.
    pub allowed_origins: Vec<String>,
    pub title: String,
    pub greeting: String,
    /// A `#rgb` or `#rrggbb` colour; empty for the widget's default.
    pub color: String,
    /// Verifies `data-user-hash`; `None` when unset (identities refused).
    pub identity_secret: Option<String>,
}

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error(
        "`allowed_origins` is required: the origins of the pages that embed the widget, e.g. [\"https://shop.example\"]"
    )]
    NoOrigins,
    #[error(
        "`allowed_origins`: `{0}` is not an origin (scheme://host[:port], http or https, no path)"
    )]
    BadOrigin(String),
    #[error("`color`: `{0}` is not a #rgb or #rrggbb colour")]
    BadColor(String),
}

impl WebchatConfig {
    /// Read and check a channel's configuration.
    pub fn parse(config: &BTreeMap<String, String>) -> Result<WebchatConfig, ConfigError> {
        let get = |k: &str| {
            config
                .get(k)
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        let allowed_origins = origins(&get("allowed_origins"))?;
        let color = get("color");
        if !color.is_empty() && !is_color(&color) {
            return Err(ConfigError::BadColor(color));
        }
        Ok(WebchatConfig {
            allowed_origins,
            title: get("title"),
            greeting: get("greeting"),
            color,
            identity_secret: Some(get("identity_secret")).filter(|s| !s.is_empty()),
        })
    }

    /// Whether a socket's `Origin` header names an allowed page.
    pub fn allows(&self, origin: &str) -> bool {
        normal_origin(origin).is_some_and(|o| self.allowed_origins.contains(&o))
    }
}

/// The list as stored: a JSON array (the API stores a list that way), or
/// origins separated by commas or whitespace.
fn origins(value: &str) -> Result<Vec<String>, ConfigError> {
    let items: Vec<String> = match serde_json::from_str::<Vec<String>>(value) {
        Ok(list) => list,
        Err(_) => value
            .split([',', ' ', '\n', '\t'])
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    };
    if items.is_empty() {
        return Err(ConfigError::NoOrigins);
    }
    items
        .iter()
        .map(|o| normal_origin(o).ok_or_else(|| ConfigError::BadOrigin(o.clone())))
        .collect()
}

/// `scheme://host[:port]` in lowercase, the default port dropped; `None`
/// for anything with a path, query, credentials or another scheme.
fn normal_origin(value: &str) -> Option<String> {
    let url = url::Url::parse(value.trim()).ok()?;
    let bare = matches!(url.path(), "" | "/")
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none()
        && !value.trim().trim_end_matches('/').ends_with('?');
    if !bare || !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let origin = url.origin().ascii_serialization();
    (origin != "null").then_some(origin)
}

fn is_color(value: &str) -> bool {
    let hex = value.strip_prefix('#').unwrap_or("");
    matches!(hex.len(), 3 | 6) && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn origins_are_a_list_or_separated_and_compared_normalised() {
        let c = WebchatConfig::parse(&config(&[(
            "allowed_origins",
            r#"["https://Shop.Example", "http://127.0.0.1:8080/"]"#,
        )]))
        .unwrap();
        assert!(c.allows("https://shop.example"));
        assert!(c.allows("https://shop.example:443"));
        assert!(c.allows("http://127.0.0.1:8080"));
        assert!(!c.allows("http://shop.example"), "scheme differs");
        assert!(!c.allows("https://evil.example"));
        assert!(!c.allows("null"));
        assert!(!c.allows(""));
        let c = WebchatConfig::parse(&config(&[(
            "allowed_origins",
            "https://a.example, https://b.example",
        )]))
        .unwrap();
        assert_eq!(
            c.allowed_origins,
            ["https://a.example", "https://b.example"]
        );
    }

    #[test]
    fn bad_configurations_say_what_is_wrong() {
        assert_eq!(
            WebchatConfig::parse(&config(&[])),
            Err(ConfigError::NoOrigins)
        );
        assert_eq!(
            WebchatConfig::parse(&config(&[("allowed_origins", "https://a.example/page")])),
            Err(ConfigError::BadOrigin("https://a.example/page".into()))
        );
        assert_eq!(
            WebchatConfig::parse(&config(&[("allowed_origins", "ftp://a.example")])),
            Err(ConfigError::BadOrigin("ftp://a.example".into()))
        );
        assert_eq!(
            WebchatConfig::parse(&config(&[
                ("allowed_origins", "https://a.example"),
                ("color", "red")
            ])),
            Err(ConfigError::BadColor("red".into()))
        );
        let ok = WebchatConfig::parse(&config(&[
            ("allowed_origins", "https://a.example"),
            ("color", "#0B5fff"),
            ("identity_secret", ""),
        ]))
        .unwrap();
        assert_eq!(ok.identity_secret, None);
    }
}
