//! A complete adapter for "SimpleChat", a made-up JSON provider: it signs
//! webhooks with `X-Signature: <hex HMAC-SHA256 of the body>` and sends with
//! `POST {api_base_url}/messages`. The host-side test is
//! `host/tests/all/example_adapter.rs`.
use serde::Deserialize;
use switchboard_sdk::host::{HashAlgorithm, crypto};
use switchboard_sdk::prelude::*;

#[derive(Deserialize)]
struct Webhook {
    messages: Vec<Msg>,
}
#[derive(Deserialize)]
struct Msg {
    id: String,
    from: String,
    name: Option<String>,
    text: String,
}

struct SimpleChat;

impl ChannelAdapter for SimpleChat {
    fn info() -> AdapterInfo {
        AdapterInfo {
            outbound_hosts: vec!["api.simplechat.example".into()],
            config_keys: vec!["secret".into()],
            ..AdapterInfo::named("simple-json")
        }
    }

    /// `secret` signs webhooks: the API shows it only as set.
    fn secret_keys() -> Option<Vec<String>> {
        Some(vec!["secret".into()])
    }

    fn verify(req: &HttpRequest) -> Result<Option<HttpResponse>, PluginError> {
        let secret = host::require_config("secret")?;
        let sig = req
            .header("x-signature")
            .ok_or_else(|| PluginError::invalid_signature("missing X-Signature"))?;
        match crypto::verify_hmac_hex(HashAlgorithm::Sha256, secret.as_bytes(), &req.body, sig) {
            true => Ok(None),
            false => Err(PluginError::invalid_signature(
                "X-Signature does not match the body",
            )),
        }
    }

    fn parse(req: &HttpRequest) -> Result<Vec<Event>, PluginError> {
        let hook: Webhook = req.json()?;
        Ok(hook
            .messages
            .into_iter()
            .map(|m| {
                let mut msg = InboundMessage::text(m.id, m.from, m.text);
                msg.sender.display_name = m.name;
                Event::Message(msg)
            })
            .collect())
    }

    fn render(msg: &OutboundMessage) -> Result<HttpRequest, PluginError> {
        let base = host::config_or("api_base_url", "https://api.simplechat.example");
        let body = serde_json::json!({ "to": msg.to, "text": msg.text });
        Ok(HttpRequest::new("POST", format!("{base}/messages"))
            .with_header(
                "authorization",
                format!("Bearer {}", host::require_config("api_key")?),
            )
            .with_json(&body))
    }

    fn parse_send_response(resp: &HttpResponse) -> Result<Receipt, PluginError> {
        #[derive(Deserialize)]
        struct Sent {
            id: String,
        }
        if !resp.is_success() {
            return Err(PluginError::Provider(ProviderError::new(
                resp.status >= 500,
                Some(resp.status.to_string()),
                resp.body_str()?,
            )));
        }
        Ok(Receipt {
            external_id: Some(resp.json::<Sent>()?.id),
            status: DeliveryStatus::Queued,
        })
    }
}

switchboard_sdk::export_adapter!(SimpleChat);
