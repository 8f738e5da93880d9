//! The plugin contract's data types, re-exported under plain names, plus
//! constructors that keep plugin code short.

use crate::__bindings::base::switchboard::plugin::types as wit;

pub use wit::{
    AdapterInfo, Attachment, AttachmentKind, BlockDetails, ConsentSignal, ContactAddress,
    DeliveryStatus, Direction, Event, GuardrailContext, Header, HttpRequest, HttpResponse,
    InboundMessage, InteractiveReply, Location, OutboundMessage, PersonaContext, PluginError,
    Prompt, ProviderError, Reaction, Receipt, StatusUpdate, TemplateMessage, Turn, Verdict,
};

/// What the host does next to fetch an inbound attachment (see
/// [`ChannelAdapter::media_request`](crate::ChannelAdapter::media_request)).
pub use crate::__bindings::adapter::exports::switchboard::plugin::media::MediaStep;

impl AdapterInfo {
    /// An adapter with the given name, a 4096-character text limit, no media
    /// and no outbound hosts. Adjust fields as needed.
    pub fn named(name: &str) -> Self {
        AdapterInfo {
            name: name.to_string(),
            max_text_length: 4096,
            supports_media: false,
            outbound_hosts: Vec::new(),
            config_keys: Vec::new(),
            route_config_key: None,
            statuses: Vec::new(),
        }
    }
}

impl ContactAddress {
    /// A contact known only by its channel address.
    pub fn new(address: impl Into<String>) -> Self {
        ContactAddress {
            address: address.into(),
            phone: None,
            user_id: None,
            display_name: None,
        }
    }
}

impl InboundMessage {
    /// A plain text message from `sender`.
    pub fn text(
        external_id: impl Into<String>,
        sender: impl Into<String>,
        text: impl Into<String>,
    ) -> Self {
        InboundMessage {
            external_id: external_id.into(),
            sender: ContactAddress::new(sender),
            recipient: None,
            group_id: None,
            timestamp: None,
            text: Some(text.into()),
            attachments: Vec::new(),
            location: None,
            reply_to: None,
            reaction: None,
            interactive: None,
            consent: None,
            kind: "text".to_string(),
            route_key: None,
        }
    }
}

impl HttpResponse {
    /// A response with a `text/plain` body.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        HttpResponse {
            status,
            headers: vec![Header {
                name: "content-type".into(),
                value: "text/plain; charset=utf-8".into(),
            }],
            body: body.into().into_bytes(),
        }
    }

    /// Look up a header, ignoring case.
    pub fn header(&self, name: &str) -> Option<&str> {
        header_value(&self.headers, name)
    }

    /// The body as UTF-8.
    pub fn body_str(&self) -> Result<&str, PluginError> {
        std::str::from_utf8(&self.body)
            .map_err(|_| PluginError::bad_request("response body is not UTF-8"))
    }

    /// Deserialize the body as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, PluginError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            PluginError::bad_request(format!("response body is not the expected JSON: {e}"))
        })
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl HttpRequest {
    /// A request with the given method and URL, no headers and no body.
    pub fn new(method: &str, url: impl Into<String>) -> Self {
        HttpRequest {
            method: method.to_string(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Add a header (builder style).
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push(Header {
            name: name.to_string(),
            value: value.into(),
        });
        self
    }

    /// Set a JSON body and its content type (builder style).
    pub fn with_json(mut self, body: &serde_json::Value) -> Self {
        self.body = serde_json::to_vec(body).unwrap_or_default();
        self.with_header("content-type", "application/json")
    }

    /// Set a form-urlencoded body and its content type (builder style).
    pub fn with_form<'a>(mut self, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        self.body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
            .into_bytes();
        self.with_header("content-type", "application/x-www-form-urlencoded")
    }

    /// Look up a header, ignoring case; the first value wins.
    pub fn header(&self, name: &str) -> Option<&str> {
        header_value(&self.headers, name)
    }

    /// The body as UTF-8.
    pub fn body_str(&self) -> Result<&str, PluginError> {
        std::str::from_utf8(&self.body).map_err(|_| PluginError::bad_request("body is not UTF-8"))
    }

    /// Deserialize the body as JSON, with a message naming what was wrong.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, PluginError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            PluginError::bad_request(format!("body is not valid JSON for this webhook: {e}"))
        })
    }

    /// The body as form-urlencoded pairs, in order (repeated keys kept).
    pub fn form(&self) -> Vec<(String, String)> {
        crate::request::form_pairs(&self.body)
    }

    /// The query string's pairs, decoded, in order.
    pub fn query(&self) -> Vec<(String, String)> {
        crate::request::query_pairs(&self.url)
    }

    /// The first value of query parameter `name`.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// The first value of header `name`, compared case-insensitively.
pub fn header_value<'a>(headers: &'a [Header], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

#[cfg(test)]
mod header_tests {
    use super::*;

    fn h(name: &str, value: &str) -> Header {
        Header {
            name: name.into(),
            value: value.into(),
        }
    }

    #[test]
    fn header_lookup_ignores_case_and_takes_first() {
        let headers = vec![
            h("X-Hub-Signature-256", "sha256=ab"),
            h("x-hub-signature-256", "second"),
        ];
        assert_eq!(
            header_value(&headers, "x-hub-signature-256"),
            Some("sha256=ab")
        );
        assert_eq!(
            header_value(&headers, "X-HUB-SIGNATURE-256"),
            Some("sha256=ab")
        );
        assert_eq!(header_value(&headers, "content-type"), None);
    }

    proptest::proptest! {
        #[test]
        fn any_header_is_found_by_its_own_name(text in "\\PC{0,200}") {
            let headers = vec![h(&text, &text)];
            proptest::prop_assert_eq!(header_value(&headers, &text), Some(text.as_str()));
        }
    }
}
