//! Outbound template messages (contract 0.1.1): the Cloud API's
//! `"type": "template"` body, with the body's text parameters in order, as in
//! the request bodies of `tests/fixtures/meta_whatsapp/
//! send_message_requests_and_responses.json`.

use serde_json::{Value, json};
use switchboard_sdk::{HttpRequest, PluginError, TemplateMessage};

use crate::address::is_phone_number;
use crate::send::{SendConfig, messages_url};

/// The JSON body for a template send.
pub fn render_body(message: &TemplateMessage) -> Result<Value, PluginError> {
    let to = message.to.trim();
    if to.is_empty() {
        return Err(PluginError::bad_request(
            "template message has no recipient (`to` is empty)",
        ));
    }
    let name = message.name.trim();
    if name.is_empty() {
        return Err(PluginError::bad_request("template message has no `name`"));
    }
    let language = message.language.trim();
    if language.is_empty() {
        return Err(PluginError::bad_request(
            "template message has no `language`",
        ));
    }
    let mut template = json!({
        "name": name,
        "language": { "policy": "deterministic", "code": language },
    });
    if !message.parameters.is_empty() {
        let parameters: Vec<Value> = message
            .parameters
            .iter()
            .map(|p| json!({ "type": "text", "text": p }))
            .collect();
        template["components"] = json!([{ "type": "body", "parameters": parameters }]);
    }
    let address_field = if is_phone_number(to) {
        "to"
    } else {
        "recipient"
    };
    let mut body = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "type": "template",
        "template": template,
    });
    body[address_field] = json!(to);
    Ok(body)
}

/// The whole request: `POST {api_base_url}/{phone_number_id}/messages`.
pub fn render_request(
    message: &TemplateMessage,
    config: &SendConfig,
) -> Result<HttpRequest, PluginError> {
    let id = &config.phone_number_id;
    if !switchboard_sdk::is_path_segment(id, b"_-") {
        return Err(PluginError::config(format!(
            "`phone_number_id` must be the numeric id Meta shows for the number, got `{id}`"
        )));
    }
    Ok(
        HttpRequest::new("POST", messages_url(&config.api_base_url, id))
            .with_header("authorization", format!("Bearer {}", config.access_token))
            .with_json(&render_body(message)?),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_bodies() -> Vec<Value> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/meta_whatsapp/send_message_requests_and_responses.json"
        );
        let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        v["request_bodies"].as_array().unwrap().clone()
    }

    #[test]
    fn body_parameters_render_like_the_cloud_api_expects() {
        // The fixture's body-only template: revive_issue with two texts.
        let expected = fixture_bodies()
            .into_iter()
            .find(|b| {
                b["type"] == "template"
                    && b["template"]["components"]
                        .as_array()
                        .is_some_and(|c| c.len() == 1 && c[0]["type"] == "body")
            })
            .expect("a body-only template request in the fixture");
        let message = TemplateMessage {
            message_id: "msg_1".into(),
            to: expected["to"].as_str().unwrap().into(),
            name: expected["template"]["name"].as_str().unwrap().into(),
            language: expected["template"]["language"]["code"]
                .as_str()
                .unwrap()
                .into(),
            parameters: expected["template"]["components"][0]["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["text"].as_str().unwrap().to_string())
                .collect(),
        };
        assert_eq!(render_body(&message).unwrap(), expected);
    }

    #[test]
    fn no_parameters_no_components_and_names_are_required() {
        let mut m = TemplateMessage {
            message_id: "m".into(),
            to: "250788123123".into(),
            name: "hello_world".into(),
            language: "en_US".into(),
            parameters: vec![],
        };
        let body = render_body(&m).unwrap();
        assert!(body["template"].get("components").is_none());
        assert_eq!(body["template"]["language"]["code"], "en_US");
        m.name = " ".into();
        assert!(render_body(&m).is_err());
    }
}
