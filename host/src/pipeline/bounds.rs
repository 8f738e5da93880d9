//! What one webhook may store. Every plugin call has its own output cap,
//! but a webhook multiplies them (an adapter's events, each rewritten by a
//! guardrail): these bounds cap the total before anything reaches the
//! database, so one tenant's huge webhook can neither exhaust the host's
//! memory nor hold the database writer for long.

use super::error::WebhookError;
use crate::runtime::OutputSize;
use crate::storage::{Disposition, InboundItem};

/// Largest message (text, attachments' fields, sender, …) one webhook may
/// store. Every provider's own limit is far below (WhatsApp and Telegram:
/// 4,096 characters).
pub const MAX_MESSAGE_BYTES: u64 = 64 << 10;

/// Largest total one webhook may store.
pub const MAX_WEBHOOK_BYTES: u64 = 4 << 20;

/// Refuse the whole webhook (nothing stored, the provider sees 413) when a
/// message or the total is over its bound.
pub fn check(items: &[InboundItem]) -> Result<(), WebhookError> {
    let mut total = 0u64;
    for item in items {
        let size = match item {
            InboundItem::Message(m, d) => m.output_bytes() + disposition_bytes(d),
            InboundItem::Status(s) => crate::domain::Event::Status(s.clone()).output_bytes(),
        };
        if size > MAX_MESSAGE_BYTES {
            return Err(WebhookError::TooLarge {
                what: "message",
                size,
                limit: MAX_MESSAGE_BYTES,
            });
        }
        total += size;
        if total > MAX_WEBHOOK_BYTES {
            return Err(WebhookError::TooLarge {
                what: "webhook",
                size: total,
                limit: MAX_WEBHOOK_BYTES,
            });
        }
    }
    Ok(())
}

fn disposition_bytes(d: &Disposition) -> u64 {
    let text = |t: &Option<String>| t.as_ref().map_or(0, |t| t.len() as u64);
    match d {
        Disposition::Accept | Disposition::Inbox => 0,
        Disposition::Blocked { reason, reply } => reason.len() as u64 + text(reply),
        Disposition::OptOut { reply, .. } | Disposition::OptIn { reply, .. } => text(reply),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ContactAddress, InboundMessage};

    fn msg(text_len: usize) -> InboundItem {
        let m = InboundMessage {
            external_id: "m1".into(),
            sender: ContactAddress {
                address: "+15550001".into(),
                phone: None,
                user_id: None,
                display_name: None,
            },
            recipient: None,
            group_id: None,
            timestamp: None,
            text: Some("x".repeat(text_len)),
            attachments: vec![],
            location: None,
            reply_to: None,
            reaction: None,
            interactive: None,
            consent: None,
            kind: "text".into(),
            route_key: None,
        };
        InboundItem::Message(m, Disposition::Accept)
    }

    #[test]
    fn a_message_over_its_bound_is_refused() {
        assert!(check(&[msg(1000)]).is_ok());
        let err = check(&[msg(MAX_MESSAGE_BYTES as usize)]).unwrap_err();
        assert!(
            matches!(
                err,
                WebhookError::TooLarge {
                    what: "message",
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.status(), 413);
    }

    #[test]
    fn many_messages_over_the_webhook_bound_are_refused() {
        let items: Vec<_> = (0..100).map(|_| msg(60 << 10)).collect();
        let err = check(&items).unwrap_err();
        assert!(
            matches!(
                err,
                WebhookError::TooLarge {
                    what: "webhook",
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
