//! Built straight on wit-bindgen against the frozen 0.1.1 contract
//! (`wit/since-v0.1.1`), as a tenant's adapter uploaded before 0.1.2
//! would be: the host must still run it (templates included), and treat it
//! as declaring no secret configuration keys (every value is a secret).

// Only meaningful as a wasm component; natively this crate is empty.
#![cfg(target_arch = "wasm32")]

wit_bindgen::generate!({
    path: "../../../wit/since-v0.1.1",
    world: "channel-adapter",
});

use exports::switchboard::plugin::adapter::Guest;
use exports::switchboard::plugin::templates::Guest as Templates;
use switchboard::plugin::types::*;

struct V011;

impl Guest for V011 {
    fn info() -> AdapterInfo {
        AdapterInfo {
            name: "v011".into(),
            max_text_length: 1000,
            supports_media: false,
            outbound_hosts: vec![],
            config_keys: vec![],
            route_config_key: None,
            statuses: vec![],
        }
    }
    fn verify(_: HttpRequest) -> Result<Option<HttpResponse>, PluginError> {
        Ok(None)
    }
    /// The body is the text; one message from `user-1`.
    fn parse(request: HttpRequest) -> Result<Vec<Event>, PluginError> {
        let text = String::from_utf8(request.body)
            .map_err(|_| PluginError::BadRequest("body is not UTF-8".into()))?;
        Ok(vec![Event::Message(InboundMessage {
            external_id: "v011-1".into(),
            sender: ContactAddress {
                address: "user-1".into(),
                phone: None,
                user_id: None,
                display_name: None,
            },
            recipient: None,
            group_id: None,
            timestamp: None,
            text: Some(text),
            attachments: vec![],
            location: None,
            reply_to: None,
            reaction: None,
            interactive: None,
            consent: None,
            kind: "text".into(),
            route_key: None,
        })])
    }
    fn render(_: OutboundMessage) -> Result<HttpRequest, PluginError> {
        Err(PluginError::Unsupported("receive-only".into()))
    }
    fn parse_send_response(_: HttpResponse) -> Result<Receipt, PluginError> {
        Err(PluginError::Unsupported("receive-only".into()))
    }
    fn route_key(_: HttpRequest) -> Result<Vec<String>, PluginError> {
        Ok(vec![])
    }
}

/// A template send is a plain POST naming the template.
impl Templates for V011 {
    fn render_template(message: TemplateMessage) -> Result<HttpRequest, PluginError> {
        Ok(HttpRequest {
            method: "POST".into(),
            url: format!("https://v011.example/templates/{}", message.name),
            headers: vec![],
            body: message.to.into_bytes(),
        })
    }
}

export!(V011);
