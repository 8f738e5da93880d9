//! One inbound `messages[]` item → [`InboundMessage`]. Pure.
//!
//! Meta sends one object per message with a `type` and a sub-object of the
//! same name (`text`, `image`, `interactive`, …). Types this adapter does not
//! understand (`unsupported`, `contacts`, `order`, `system`, future ones)
//! still become an event with `kind` set and no text, so the host sees that
//! the user wrote something.

use serde::Deserialize;
use serde_json::Value;
use switchboard_sdk::{
    Attachment, AttachmentKind, ContactAddress, InboundMessage, InteractiveReply, Location,
    Reaction,
};

use crate::address::{is_phone_number, phone_digits};
use crate::wire::{WaContact, lenient_timestamp};

#[derive(Deserialize)]
struct WaMessage {
    id: String,
    from: Option<String>,
    /// The sender's BSUID, present for username users (sometimes alone).
    from_user_id: Option<String>,
    group_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_timestamp")]
    timestamp: Option<u64>,
    #[serde(rename = "type")]
    kind: Option<String>,
    context: Option<WaContext>,
    text: Option<WaText>,
    image: Option<WaMedia>,
    audio: Option<WaMedia>,
    /// Only in legacy (on-premises) payloads; Cloud API sends `audio` with
    /// `voice: true` instead.
    voice: Option<WaMedia>,
    video: Option<WaMedia>,
    document: Option<WaMedia>,
    sticker: Option<WaMedia>,
    location: Option<WaLocation>,
    button: Option<WaButton>,
    interactive: Option<WaInteractive>,
    reaction: Option<WaReaction>,
}

#[derive(Deserialize)]
struct WaContext {
    /// The message replied to; absent for merely forwarded messages.
    id: Option<String>,
}

#[derive(Deserialize)]
struct WaText {
    body: Option<String>,
}

#[derive(Deserialize)]
struct WaMedia {
    id: Option<String>,
    url: Option<String>,
    mime_type: Option<String>,
    caption: Option<String>,
    filename: Option<String>,
    sha256: Option<String>,
    /// `true` for a recorded voice note sent as `audio`.
    voice: Option<bool>,
}

#[derive(Deserialize)]
struct WaLocation {
    latitude: Option<f64>,
    longitude: Option<f64>,
    name: Option<String>,
    address: Option<String>,
}

/// A tapped template quick-reply button.
#[derive(Deserialize)]
struct WaButton {
    payload: Option<String>,
    text: Option<String>,
}

#[derive(Deserialize)]
struct WaInteractive {
    #[serde(rename = "type")]
    kind: Option<String>,
    button_reply: Option<WaChoice>,
    list_reply: Option<WaChoice>,
    nfm_reply: Option<WaFlowReply>,
}

#[derive(Deserialize)]
struct WaChoice {
    id: Option<String>,
    title: Option<String>,
}

/// A WhatsApp Flow ("native flow message") submission.
#[derive(Deserialize)]
struct WaFlowReply {
    name: Option<String>,
    body: Option<String>,
    /// The submitted form as a JSON *string*.
    response_json: Option<String>,
}

#[derive(Deserialize)]
struct WaReaction {
    message_id: Option<String>,
    emoji: Option<String>,
}

/// Keep a string only if it has content; Meta sends `""` for "not set".
fn present(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

/// Convert one raw `messages[]` item. `contacts` are the change's contacts
/// (for the display name and the BSUID), `recipient` its
/// `metadata.phone_number_id`. The error is a reason to log: the item has
/// no id or no sender, or the wrong shape.
pub(crate) fn to_inbound(
    raw: Value,
    contacts: &[WaContact],
    recipient: Option<&str>,
) -> Result<InboundMessage, String> {
    let msg: WaMessage = serde_json::from_value(raw)
        .map_err(|e| format!("skipped a message that could not be read: {e}"))?;
    let sender = sender(&msg, contacts).ok_or_else(|| {
        format!(
            "skipped message `{}`: it has neither `from` nor `from_user_id`",
            msg.id
        )
    })?;

    let attachments = attachments(&msg);
    let interactive = interactive(&msg);
    let text = present(msg.text.as_ref().and_then(|t| t.body.clone()))
        .or_else(|| interactive_text(&msg))
        .or_else(|| attachments.iter().find_map(|a| a.caption.clone()));

    Ok(InboundMessage {
        sender,
        recipient: present(recipient.map(str::to_string)),
        group_id: present(msg.group_id),
        timestamp: msg.timestamp,
        text,
        attachments,
        location: msg.location.and_then(|l| {
            Some(Location {
                latitude: l.latitude?,
                longitude: l.longitude?,
                name: present(l.name),
                address: present(l.address),
            })
        }),
        reply_to: present(msg.context.and_then(|c| c.id)),
        // An empty emoji is how Meta reports a removed reaction.
        reaction: msg.reaction.and_then(|r| {
            Some(Reaction {
                message_id: present(r.message_id)?,
                emoji: present(r.emoji),
            })
        }),
        interactive,
        consent: None,
        kind: present(msg.kind).unwrap_or_else(|| "unknown".to_string()),
        external_id: msg.id,
        // The number it was sent to is also the channel's routing key.
        route_key: present(recipient.map(str::to_string)),
    })
}

/// Who sent `msg`. The address is what replies go to: `from` when present
/// (a phone number, or a BSUID for some username users), otherwise the
/// BSUID in `from_user_id`.
fn sender(msg: &WaMessage, contacts: &[WaContact]) -> Option<ContactAddress> {
    let from = msg.from.as_deref().filter(|f| !f.is_empty());
    let from_user_id = msg.from_user_id.as_deref().filter(|f| !f.is_empty());
    let address = from.or(from_user_id)?;

    // Contacts are matched on either identifier, because a username user's
    // contact may have only `user_id`.
    let contact = contacts.iter().find(|c| {
        let wa_id = c.wa_id.as_deref();
        let user_id = c.user_id.as_deref();
        (from.is_some() && (wa_id == from || user_id == from))
            || (from_user_id.is_some() && (user_id == from_user_id || wa_id == from_user_id))
    });

    let phone = from.and_then(phone_digits).or_else(|| {
        contact
            .and_then(|c| c.wa_id.as_deref())
            .and_then(phone_digits)
    });
    let user_id = from_user_id
        .map(str::to_string)
        .or_else(|| present(contact.and_then(|c| c.user_id.clone())))
        .or_else(|| from.filter(|f| !is_phone_number(f)).map(str::to_string));
    let display_name = present(
        contact
            .and_then(|c| c.profile.as_ref())
            .and_then(|p| p.name.clone()),
    );

    Some(ContactAddress {
        address: address.to_string(),
        phone,
        user_id,
        display_name,
    })
}

/// The media of a message. Normally one, but every known media field is
/// read so nothing is dropped if Meta ever sends more.
fn attachments(msg: &WaMessage) -> Vec<Attachment> {
    let audio_kind = match msg.audio.as_ref().and_then(|a| a.voice) {
        Some(true) => AttachmentKind::Voice,
        _ => AttachmentKind::Audio,
    };
    [
        (AttachmentKind::Image, &msg.image),
        (audio_kind, &msg.audio),
        (AttachmentKind::Voice, &msg.voice),
        (AttachmentKind::Video, &msg.video),
        (AttachmentKind::Document, &msg.document),
        (AttachmentKind::Sticker, &msg.sticker),
    ]
    .into_iter()
    .filter_map(|(kind, media)| {
        let media = media.as_ref()?;
        Some(Attachment {
            kind,
            id: present(media.id.clone()),
            url: present(media.url.clone()),
            mime_type: present(media.mime_type.clone()),
            caption: present(media.caption.clone()),
            filename: present(media.filename.clone()),
            sha256: present(media.sha256.clone()),
        })
    })
    .collect()
}

/// The tapped button, list row or submitted flow, if any.
fn interactive(msg: &WaMessage) -> Option<InteractiveReply> {
    if let Some(button) = &msg.button {
        let title = present(button.text.clone());
        let id = present(button.payload.clone()).or_else(|| title.clone())?;
        return Some(InteractiveReply {
            id,
            title,
            kind: "button".to_string(),
        });
    }
    let interactive = msg.interactive.as_ref()?;
    let kind = interactive.kind.clone()?;
    match kind.as_str() {
        "button_reply" | "list_reply" => {
            let choice = if kind == "button_reply" {
                &interactive.button_reply
            } else {
                &interactive.list_reply
            };
            let choice = choice.as_ref()?;
            Some(InteractiveReply {
                id: present(choice.id.clone())?,
                title: present(choice.title.clone()),
                kind,
            })
        }
        "nfm_reply" => {
            let flow = interactive.nfm_reply.as_ref()?;
            // The flow token is the only stable id a submission carries; the
            // flow name is the fallback.
            let id = flow_response(flow)
                .and_then(|r| {
                    r.get("flow_token")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .or_else(|| present(flow.name.clone()))
                .unwrap_or_else(|| kind.clone());
            Some(InteractiveReply {
                id,
                title: present(flow.body.clone()),
                kind,
            })
        }
        _ => None,
    }
}

/// The text of a button/list/flow reply. For a flow it is the submitted
/// `response_json` (the answers are the content; `body` is only the "Sent"
/// label), falling back to `body` when that is not a JSON object.
fn interactive_text(msg: &WaMessage) -> Option<String> {
    if let Some(button) = &msg.button {
        return present(button.text.clone());
    }
    let interactive = msg.interactive.as_ref()?;
    match interactive.kind.as_deref()? {
        "button_reply" => present(interactive.button_reply.as_ref()?.title.clone()),
        "list_reply" => present(interactive.list_reply.as_ref()?.title.clone()),
        "nfm_reply" => {
            let flow = interactive.nfm_reply.as_ref()?;
            match flow_response(flow) {
                Some(_) => flow.response_json.clone(),
                None => present(flow.body.clone()),
            }
        }
        _ => None,
    }
}

/// The flow's `response_json`, when it is a JSON object.
fn flow_response(flow: &WaFlowReply) -> Option<serde_json::Map<String, Value>> {
    match serde_json::from_str(flow.response_json.as_deref()?) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}
