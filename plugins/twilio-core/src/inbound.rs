//! Inbound webhooks: messages users sent and status callbacks for ours.
//!
//! Addresses: Twilio writes WhatsApp addresses as `whatsapp:+15551234567`
//! (or `whatsapp:US.1234` for a BSUID). The adapters store the address
//! **without** the channel prefix (`+15551234567`, `US.1234`) — exactly the
//! value `render` expects in `OutboundMessage.to` and prefixes again for
//! WhatsApp — so SMS and WhatsApp contacts of one number share an address.
//! `phone` is the E.164 number as digits only (`15551234567`), like the
//! WhatsApp Cloud adapter; `user_id` is the BSUID from `ExternalUserId` when
//! it differs from the address.

use switchboard_sdk::{
    Attachment, AttachmentKind, ConsentSignal, ContactAddress, DeliveryStatus, Event,
    InboundMessage, InteractiveReply, Location, PluginError, ProviderError, StatusUpdate,
    form_pairs,
};

use crate::Channel;

/// The decoded form fields of one webhook, first value per key.
pub struct Form(Vec<(String, String)>);

impl Form {
    /// Decode a form-urlencoded body.
    pub fn parse(body: &[u8]) -> Self {
        Form(form_pairs(body))
    }

    /// The first value of `key`, if present and not empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    fn owned(&self, key: &str) -> Option<String> {
        self.get(key).map(str::to_string)
    }
}

/// `whatsapp:+1555…` → `+1555…`; other values unchanged.
pub fn strip_channel_prefix(address: &str) -> &str {
    address.split_once(':').map_or(address, |(_, rest)| rest)
}

/// Digits of an E.164 number (`+15551234567` → `15551234567`); `None` for
/// anything else (short codes, BSUIDs, alphanumeric senders).
pub fn e164_digits(address: &str) -> Option<String> {
    let digits = address.strip_prefix('+')?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.to_string())
}

/// Map a Twilio message status. `Ok(None)` for statuses of inbound messages
/// (`receiving`, `received`), which update nothing.
pub fn delivery_status(status: &str) -> Result<Option<DeliveryStatus>, PluginError> {
    Ok(Some(match status.to_ascii_lowercase().as_str() {
        "queued" | "accepted" | "scheduled" | "sending" => DeliveryStatus::Queued,
        "sent" | "partially_delivered" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "read" => DeliveryStatus::Read,
        "undelivered" | "failed" | "canceled" => DeliveryStatus::Failed,
        "receiving" | "received" => return Ok(None),
        other => {
            return Err(PluginError::bad_request(format!(
                "unknown Twilio MessageStatus `{other}`"
            )));
        }
    }))
}

/// Whether a form is a status callback: it has `MessageStatus` and none of
/// the fields only inbound messages carry (courier's rule).
pub fn is_status_callback(form: &Form) -> bool {
    form.get("MessageStatus").is_some()
        && form.get("Body").is_none()
        && form.get("NumMedia").is_none()
}

/// Turn a webhook body into events (at most one: Twilio posts one message
/// or one status per request).
pub fn parse_webhook(channel: Channel, body: &[u8]) -> Result<Vec<Event>, PluginError> {
    let form = Form::parse(body);
    let external_id = form
        .owned("MessageSid")
        .or_else(|| form.owned("SmsSid"))
        .ok_or_else(|| PluginError::bad_request("Twilio webhook has no MessageSid (or SmsSid)"))?;
    if is_status_callback(&form) {
        return Ok(parse_status(&form, external_id)?
            .map(Event::Status)
            .into_iter()
            .collect());
    }
    Ok(vec![Event::Message(parse_message(
        channel,
        &form,
        external_id,
    )?)])
}

fn parse_status(form: &Form, external_id: String) -> Result<Option<StatusUpdate>, PluginError> {
    let Some(status) = delivery_status(form.get("MessageStatus").unwrap_or_default())? else {
        return Ok(None);
    };
    let error = matches!(status, DeliveryStatus::Failed).then(|| {
        let code = form.owned("ErrorCode");
        let message = form.owned("ErrorMessage").unwrap_or_else(|| match &code {
            Some(c) => format!("Twilio error {c} (https://www.twilio.com/docs/errors/{c})"),
            None => format!("message {}", form.get("MessageStatus").unwrap_or_default()),
        });
        let consent_revoked = code.as_deref() == Some(crate::OPTED_OUT_ERROR);
        ProviderError {
            retryable: false,
            retry_after_secs: None,
            code,
            message,
            consent_revoked,
        }
    });
    Ok(Some(StatusUpdate {
        external_id,
        status,
        recipient: form
            .get("To")
            .map(|to| strip_channel_prefix(to).to_string()),
        timestamp: None,
        error,
        // A status callback is about a message we sent: our number is From.
        route_key: form
            .get("From")
            .map(|f| strip_channel_prefix(f).to_string()),
    }))
}

fn parse_message(
    channel: Channel,
    form: &Form,
    external_id: String,
) -> Result<InboundMessage, PluginError> {
    let from = form.get("From").map(strip_channel_prefix);
    let bsuid = form.get("ExternalUserId").map(strip_channel_prefix);
    let address = from
        .or(bsuid)
        .ok_or_else(|| PluginError::bad_request("Twilio message has no From"))?;
    let phone = e164_digits(address).or_else(|| {
        form.get("WaId")
            .filter(|w| w.bytes().all(|b| b.is_ascii_digit()))
            .map(str::to_string)
    });
    let sender = ContactAddress {
        address: address.to_string(),
        phone,
        user_id: bsuid.filter(|b| *b != address).map(str::to_string),
        display_name: form.owned("ProfileName"),
    };

    let media_count = form
        .get("NumMedia")
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    let attachments: Vec<Attachment> = (0..media_count.max(10))
        .filter_map(|i| {
            let url = form.owned(&format!("MediaUrl{i}"))?;
            let mime = form.owned(&format!("MediaContentType{i}"));
            Some(Attachment {
                kind: attachment_kind(mime.as_deref()),
                id: None,
                url: Some(url),
                mime_type: mime,
                caption: None,
                filename: None,
                sha256: None,
            })
        })
        .collect();

    let location = match (form.get("Latitude"), form.get("Longitude")) {
        (Some(lat), Some(lon)) => Some(Location {
            latitude: lat.parse().map_err(|_| {
                PluginError::bad_request(format!("Latitude `{lat}` is not a number"))
            })?,
            longitude: lon.parse().map_err(|_| {
                PluginError::bad_request(format!("Longitude `{lon}` is not a number"))
            })?,
            name: form.owned("Label"),
            address: form.owned("Address"),
        }),
        _ => None,
    };

    // Buttons exist only on WhatsApp; an SMS form never means one (courier
    // ignores `ButtonText` on SMS too).
    let interactive = match channel {
        Channel::WhatsApp => form
            .get("ButtonPayload")
            .or(form.get("ButtonText"))
            .map(|id| InteractiveReply {
                id: id.to_string(),
                title: form.owned("ButtonText"),
                kind: "button".to_string(),
            }),
        Channel::Sms => None,
    };

    let consent = form
        .get("OptOutType")
        .and_then(|t| match t.to_ascii_uppercase().as_str() {
            "STOP" => Some(ConsentSignal::OptOut),
            "START" => Some(ConsentSignal::OptIn),
            "HELP" => Some(ConsentSignal::Help),
            _ => None,
        });

    let kind = match form.get("MessageType") {
        Some(t) => t.to_ascii_lowercase(),
        None if location.is_some() => "location".to_string(),
        None if interactive.is_some() => "button".to_string(),
        None if !attachments.is_empty() => "media".to_string(),
        None => "text".to_string(),
    };

    Ok(InboundMessage {
        external_id,
        sender,
        recipient: form
            .get("To")
            .map(|to| strip_channel_prefix(to).to_string()),
        group_id: None,
        timestamp: None,
        text: form.owned("Body"),
        attachments,
        location,
        reply_to: form.owned("OriginalRepliedMessageSid"),
        reaction: None,
        interactive,
        consent,
        kind,
        route_key: form
            .get("To")
            .map(|to| strip_channel_prefix(to).to_string()),
    })
}

fn attachment_kind(mime: Option<&str>) -> AttachmentKind {
    match mime.map(|m| m.split('/').next().unwrap_or("")) {
        Some("image") => AttachmentKind::Image,
        Some("audio") => AttachmentKind::Audio,
        Some("video") => AttachmentKind::Video,
        Some(_) => AttachmentKind::Document,
        None => AttachmentKind::Other,
    }
}

/// The channel a webhook belongs to: our own number as the binding's `from`
/// is configured (E.164 with `+`, no `whatsapp:` prefix) — `To` of an inbound
/// message, `From` of a status callback — plus the `MessagingServiceSid`
/// when Twilio names one. Never the end user's address.
pub fn route_keys(body: &[u8]) -> Vec<String> {
    let form = Form::parse(body);
    let ours = if is_status_callback(&form) {
        form.get("From")
    } else {
        form.get("To")
    };
    ours.map(|a| strip_channel_prefix(a).to_string())
        .into_iter()
        .chain(form.owned("MessagingServiceSid"))
        .collect()
}
