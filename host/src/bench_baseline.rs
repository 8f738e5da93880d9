//! Bench-only (`--features native-baseline`): the WhatsApp Cloud adapter's
//! own verify + parse code compiled into the host, so the load test can
//! compare the wasm pipeline with the same pipeline minus the sandbox.
//! Plugged in at the edge (the server's setup) when
//! `SWITCHBOARD_BENCH_NATIVE_ADAPTER=1`; production builds have none of it.

use switchboard_sdk as sdk;

use crate::domain as d;

/// The native adapter, when this process was asked for it.
pub fn from_env() -> Option<std::sync::Arc<dyn crate::pipeline::NativeAdapter>> {
    std::env::var("SWITCHBOARD_BENCH_NATIVE_ADAPTER")
        .is_ok_and(|v| v == "1")
        .then(|| std::sync::Arc::new(NativeWhatsApp) as _)
}

struct NativeWhatsApp;

impl crate::pipeline::NativeAdapter for NativeWhatsApp {
    fn verify_and_parse(
        &self,
        adapter: &str,
        request: &d::HttpRequest,
        config: &std::collections::BTreeMap<String, String>,
    ) -> Option<Result<Vec<d::Event>, d::GuestError>> {
        (adapter == "whatsapp-cloud").then(|| verify_and_parse(request, config))?
    }
}

struct NativeCrypto;

impl whatsapp_cloud::verify::Crypto for NativeCrypto {
    fn hmac_sha256(&self, key: &[u8], data: &[u8]) -> Vec<u8> {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }
    fn constant_time_eq(&self, a: &[u8], b: &[u8]) -> bool {
        subtle::ConstantTimeEq::ct_eq(a, b).into()
    }
}

/// Native verify + parse of a signed POST; `None` means "not handled here"
/// (the caller falls back to the component).
fn verify_and_parse(
    request: &d::HttpRequest,
    config: &std::collections::BTreeMap<String, String>,
) -> Option<Result<Vec<d::Event>, d::GuestError>> {
    if request.method != "POST" {
        return None;
    }
    let secret = config.get("app_secret")?;
    Some((|| {
        whatsapp_cloud::verify::check_signature(
            request.header("x-hub-signature-256"),
            &request.body,
            secret.as_bytes(),
            &NativeCrypto,
        )
        .map_err(guest_error)?;
        let parsed = whatsapp_cloud::webhook::parse_webhook(&request.body).map_err(guest_error)?;
        Ok(parsed.events.into_iter().map(event).collect())
    })())
}

fn guest_error(e: sdk::PluginError) -> d::GuestError {
    match e {
        sdk::PluginError::InvalidSignature(m) => d::GuestError::InvalidSignature(m),
        sdk::PluginError::BadRequest(m) => d::GuestError::BadRequest(m),
        sdk::PluginError::Unsupported(m) => d::GuestError::Unsupported(m),
        sdk::PluginError::Config(m) => d::GuestError::Config(m),
        sdk::PluginError::Provider(p) => d::GuestError::Provider(provider_error(p)),
        sdk::PluginError::Internal(m) => d::GuestError::Internal(m),
    }
}

fn provider_error(p: sdk::ProviderError) -> d::ProviderError {
    d::ProviderError {
        retryable: p.retryable,
        retry_after_secs: p.retry_after_secs,
        code: p.code,
        message: p.message,
        consent_revoked: p.consent_revoked,
    }
}

fn event(e: sdk::Event) -> d::Event {
    match e {
        sdk::Event::Message(m) => d::Event::Message(d::InboundMessage {
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
            attachments: m
                .attachments
                .into_iter()
                .map(|a| d::Attachment {
                    kind: match a.kind {
                        sdk::AttachmentKind::Image => d::AttachmentKind::Image,
                        sdk::AttachmentKind::Audio => d::AttachmentKind::Audio,
                        sdk::AttachmentKind::Voice => d::AttachmentKind::Voice,
                        sdk::AttachmentKind::Video => d::AttachmentKind::Video,
                        sdk::AttachmentKind::Document => d::AttachmentKind::Document,
                        sdk::AttachmentKind::Sticker => d::AttachmentKind::Sticker,
                        sdk::AttachmentKind::Other => d::AttachmentKind::Other,
                    },
                    id: a.id,
                    url: a.url,
                    mime_type: a.mime_type,
                    caption: a.caption,
                    filename: a.filename,
                    sha256: a.sha256,
                })
                .collect(),
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
            consent: m.consent.map(|c| match c {
                sdk::ConsentSignal::OptOut => d::ConsentSignal::OptOut,
                sdk::ConsentSignal::OptIn => d::ConsentSignal::OptIn,
                sdk::ConsentSignal::Help => d::ConsentSignal::Help,
            }),
            kind: m.kind,
            route_key: m.route_key,
        }),
        sdk::Event::Status(s) => d::Event::Status(d::StatusUpdate {
            external_id: s.external_id,
            status: match s.status {
                sdk::DeliveryStatus::Queued => d::DeliveryStatus::Queued,
                sdk::DeliveryStatus::Sent => d::DeliveryStatus::Sent,
                sdk::DeliveryStatus::Delivered => d::DeliveryStatus::Delivered,
                sdk::DeliveryStatus::Read => d::DeliveryStatus::Read,
                sdk::DeliveryStatus::Played => d::DeliveryStatus::Played,
                sdk::DeliveryStatus::Failed => d::DeliveryStatus::Failed,
            },
            recipient: s.recipient,
            timestamp: s.timestamp,
            error: s.error.map(provider_error),
            route_key: s.route_key,
        }),
    }
}
