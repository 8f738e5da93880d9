//! Conversions between generated WIT types and `crate::domain`. Mechanical on
//! purpose: the two sides may drift (a new WIT version, a richer domain type)
//! and this file is where that gets reconciled.

use super::bindings::types as w;
use crate::domain as d;

macro_rules! same_enum {
    ($w:ty, $d:ty, [$($v:ident),*]) => {
        impl From<$w> for $d {
            fn from(v: $w) -> Self { match v { $(<$w>::$v => <$d>::$v,)* } }
        }
        impl From<$d> for $w {
            fn from(v: $d) -> Self { match v { $(<$d>::$v => <$w>::$v,)* } }
        }
    };
}

same_enum!(
    w::AttachmentKind,
    d::AttachmentKind,
    [Image, Audio, Voice, Video, Document, Sticker, Other]
);
same_enum!(w::ConsentSignal, d::ConsentSignal, [OptOut, OptIn, Help]);
same_enum!(
    w::DeliveryStatus,
    d::DeliveryStatus,
    [Queued, Sent, Delivered, Read, Played, Failed]
);
same_enum!(w::Direction, d::Direction, [Inbound, Outbound]);

fn headers_in(h: Vec<d::Header>) -> Vec<w::Header> {
    h.into_iter()
        .map(|h| w::Header {
            name: h.name,
            value: h.value,
        })
        .collect()
}
fn headers_out(h: Vec<w::Header>) -> Vec<d::Header> {
    h.into_iter()
        .map(|h| d::Header {
            name: h.name,
            value: h.value,
        })
        .collect()
}

impl From<d::HttpRequest> for w::HttpRequest {
    fn from(r: d::HttpRequest) -> Self {
        w::HttpRequest {
            method: r.method,
            url: r.url,
            headers: headers_in(r.headers),
            body: r.body,
        }
    }
}
impl From<w::HttpRequest> for d::HttpRequest {
    fn from(r: w::HttpRequest) -> Self {
        d::HttpRequest {
            method: r.method,
            url: r.url,
            headers: headers_out(r.headers),
            body: r.body,
        }
    }
}
impl From<d::HttpResponse> for w::HttpResponse {
    fn from(r: d::HttpResponse) -> Self {
        w::HttpResponse {
            status: r.status,
            headers: headers_in(r.headers),
            body: r.body,
        }
    }
}
impl From<w::HttpResponse> for d::HttpResponse {
    fn from(r: w::HttpResponse) -> Self {
        d::HttpResponse {
            status: r.status,
            headers: headers_out(r.headers),
            body: r.body,
        }
    }
}

impl From<w::ProviderError> for d::ProviderError {
    fn from(e: w::ProviderError) -> Self {
        d::ProviderError {
            retryable: e.retryable,
            retry_after_secs: e.retry_after_secs,
            code: e.code,
            message: e.message,
            consent_revoked: e.consent_revoked,
        }
    }
}

impl From<w::PluginError> for d::GuestError {
    fn from(e: w::PluginError) -> Self {
        match e {
            w::PluginError::InvalidSignature(m) => d::GuestError::InvalidSignature(m),
            w::PluginError::BadRequest(m) => d::GuestError::BadRequest(m),
            w::PluginError::Unsupported(m) => d::GuestError::Unsupported(m),
            w::PluginError::Config(m) => d::GuestError::Config(m),
            w::PluginError::Provider(p) => d::GuestError::Provider(p.into()),
            w::PluginError::Internal(m) => d::GuestError::Internal(m),
        }
    }
}

impl From<w::Attachment> for d::Attachment {
    fn from(a: w::Attachment) -> Self {
        d::Attachment {
            kind: a.kind.into(),
            id: a.id,
            url: a.url,
            mime_type: a.mime_type,
            caption: a.caption,
            filename: a.filename,
            sha256: a.sha256,
        }
    }
}
impl From<d::Attachment> for w::Attachment {
    fn from(a: d::Attachment) -> Self {
        w::Attachment {
            kind: a.kind.into(),
            id: a.id,
            url: a.url,
            mime_type: a.mime_type,
            caption: a.caption,
            filename: a.filename,
            sha256: a.sha256,
        }
    }
}

impl From<w::InboundMessage> for d::InboundMessage {
    fn from(m: w::InboundMessage) -> Self {
        d::InboundMessage {
            external_id: m.external_id,
            sender: d::ContactAddress {
                address: m.sender.address,
                phone: m.sender.phone,
                user_id: m.sender.user_id,
                display_name: m.sender.display_name,
            },
            recipient: m.recipient,
            group_id: m.group_id,
            timestamp: m.timestamp,
            text: m.text,
            attachments: m.attachments.into_iter().map(Into::into).collect(),
            location: m.location.map(|l| d::Location {
                latitude: l.latitude,
                longitude: l.longitude,
                name: l.name,
                address: l.address,
            }),
            reply_to: m.reply_to,
            reaction: m.reaction.map(|r| d::Reaction {
                message_id: r.message_id,
                emoji: r.emoji,
            }),
            interactive: m.interactive.map(|i| d::InteractiveReply {
                id: i.id,
                title: i.title,
                kind: i.kind,
            }),
            consent: m.consent.map(Into::into),
            kind: m.kind,
            route_key: m.route_key,
        }
    }
}

impl From<w::Event> for d::Event {
    fn from(e: w::Event) -> Self {
        match e {
            w::Event::Message(m) => d::Event::Message(m.into()),
            w::Event::Status(s) => d::Event::Status(d::StatusUpdate {
                external_id: s.external_id,
                status: s.status.into(),
                recipient: s.recipient,
                timestamp: s.timestamp,
                error: s.error.map(Into::into),
                route_key: s.route_key,
            }),
        }
    }
}

impl From<d::OutboundMessage> for w::OutboundMessage {
    fn from(m: d::OutboundMessage) -> Self {
        w::OutboundMessage {
            message_id: m.message_id,
            to: m.to,
            text: m.text,
            attachments: m.attachments.into_iter().map(Into::into).collect(),
            reply_to: m.reply_to,
        }
    }
}

impl From<d::TemplateMessage> for w::TemplateMessage {
    fn from(m: d::TemplateMessage) -> Self {
        w::TemplateMessage {
            message_id: m.message_id,
            to: m.to,
            name: m.name,
            language: m.language,
            parameters: m.parameters,
        }
    }
}

impl From<w::Receipt> for d::Receipt {
    fn from(r: w::Receipt) -> Self {
        d::Receipt {
            external_id: r.external_id,
            status: r.status.into(),
        }
    }
}

impl From<w::AdapterInfo> for d::AdapterInfo {
    fn from(i: w::AdapterInfo) -> Self {
        d::AdapterInfo {
            name: i.name,
            max_text_length: i.max_text_length,
            supports_media: i.supports_media,
            outbound_hosts: i.outbound_hosts,
            config_keys: i.config_keys,
            route_config_key: i.route_config_key,
            statuses: i.statuses.into_iter().map(Into::into).collect(),
            // Not part of `info`: filled in from `configuration.secret-keys`
            // and `media.accepted-media`.
            secret_keys: None,
            accepted_media: Vec::new(),
        }
    }
}

impl From<d::GuardrailContext> for w::GuardrailContext {
    fn from(c: d::GuardrailContext) -> Self {
        w::GuardrailContext {
            direction: c.direction.into(),
            text: c.text,
            channel_adapter: c.channel_adapter,
            contact_address: c.contact_address,
            first_reply: c.first_reply,
            prohibited_topics: c.prohibited_topics,
            required_disclaimers: c.required_disclaimers,
        }
    }
}

impl From<w::Verdict> for d::Verdict {
    fn from(v: w::Verdict) -> Self {
        match v {
            w::Verdict::Allow => d::Verdict::Allow,
            w::Verdict::Rewrite(text) => d::Verdict::Rewrite { text },
            w::Verdict::Block(b) => d::Verdict::Block {
                reason: b.reason,
                reply: b.reply,
            },
            w::Verdict::OptOut(reply) => d::Verdict::OptOut { reply },
            w::Verdict::OptIn(reply) => d::Verdict::OptIn { reply },
        }
    }
}

impl From<d::PersonaContext> for w::PersonaContext {
    fn from(c: d::PersonaContext) -> Self {
        w::PersonaContext {
            name: c.name,
            display_name: c.display_name,
            contact_name: c.contact_name,
            channel_adapter: c.channel_adapter,
            history: c
                .history
                .into_iter()
                .map(|t| w::Turn {
                    direction: t.direction.into(),
                    text: t.text,
                })
                .collect(),
            message: c.message,
        }
    }
}

impl From<w::Prompt> for d::Prompt {
    fn from(p: w::Prompt) -> Self {
        d::Prompt {
            system: p.system,
            context: p.context,
        }
    }
}

impl From<super::bindings::media::MediaStep> for d::MediaStep {
    fn from(step: super::bindings::media::MediaStep) -> Self {
        use super::bindings::media::MediaStep as W;
        match step {
            W::Fetch(r) => d::MediaStep::Fetch(r.into()),
            W::Download(r) => d::MediaStep::Download(r.into()),
        }
    }
}
