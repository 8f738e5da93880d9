//! Output accounting: how many bytes a plugin's result occupies, so the
//! output cap can refuse floods. Strings and bytes count in full; each record
//! adds a fixed overhead so a million empty events is not "free".

use crate::domain::*;

const RECORD_OVERHEAD: u64 = 32;

/// The approximate size of a value returned by a plugin.
pub trait OutputSize {
    /// Bytes this value accounts for against the output cap.
    fn output_bytes(&self) -> u64;
}

fn s(v: &str) -> u64 {
    v.len() as u64
}
fn o(v: &Option<String>) -> u64 {
    v.as_deref().map_or(0, s)
}

impl OutputSize for Header {
    fn output_bytes(&self) -> u64 {
        RECORD_OVERHEAD + s(&self.name) + s(&self.value)
    }
}
impl OutputSize for HttpRequest {
    fn output_bytes(&self) -> u64 {
        RECORD_OVERHEAD
            + s(&self.method)
            + s(&self.url)
            + self.headers.output_bytes()
            + self.body.len() as u64
    }
}
impl OutputSize for HttpResponse {
    fn output_bytes(&self) -> u64 {
        RECORD_OVERHEAD + self.headers.output_bytes() + self.body.len() as u64
    }
}
impl OutputSize for Attachment {
    fn output_bytes(&self) -> u64 {
        RECORD_OVERHEAD
            + o(&self.id)
            + o(&self.url)
            + o(&self.mime_type)
            + o(&self.caption)
            + o(&self.filename)
            + o(&self.sha256)
    }
}
impl OutputSize for ProviderError {
    fn output_bytes(&self) -> u64 {
        RECORD_OVERHEAD + o(&self.code) + s(&self.message)
    }
}
impl OutputSize for InboundMessage {
    fn output_bytes(&self) -> u64 {
        let m = self;
        RECORD_OVERHEAD
            + s(&m.external_id)
            + s(&m.sender.address)
            + o(&m.sender.phone)
            + o(&m.sender.user_id)
            + o(&m.sender.display_name)
            + o(&m.recipient)
            + o(&m.group_id)
            + o(&m.text)
            + m.attachments.output_bytes()
            + m.location
                .as_ref()
                .map_or(0, |l| RECORD_OVERHEAD + o(&l.name) + o(&l.address))
            + o(&m.reply_to)
            + m.reaction
                .as_ref()
                .map_or(0, |r| s(&r.message_id) + o(&r.emoji))
            + m.interactive
                .as_ref()
                .map_or(0, |i| s(&i.id) + o(&i.title) + s(&i.kind))
            + s(&m.kind)
            + o(&m.route_key)
    }
}
impl OutputSize for Event {
    fn output_bytes(&self) -> u64 {
        match self {
            Event::Message(m) => m.output_bytes(),
            Event::Status(st) => {
                RECORD_OVERHEAD
                    + s(&st.external_id)
                    + o(&st.recipient)
                    + o(&st.route_key)
                    + st.error.as_ref().map_or(0, |e| e.output_bytes())
            }
        }
    }
}
impl OutputSize for Receipt {
    fn output_bytes(&self) -> u64 {
        RECORD_OVERHEAD + o(&self.external_id)
    }
}
impl OutputSize for AdapterInfo {
    fn output_bytes(&self) -> u64 {
        RECORD_OVERHEAD
            + s(&self.name)
            + self.outbound_hosts.output_bytes()
            + self.config_keys.output_bytes()
            + o(&self.route_config_key)
            + self.statuses.len() as u64
            + self.secret_keys.as_ref().map_or(0, |k| k.output_bytes())
            + self.accepted_media.output_bytes()
    }
}
impl OutputSize for MediaStep {
    fn output_bytes(&self) -> u64 {
        match self {
            MediaStep::Fetch(r) | MediaStep::Download(r) => RECORD_OVERHEAD + r.output_bytes(),
        }
    }
}
impl OutputSize for Verdict {
    fn output_bytes(&self) -> u64 {
        RECORD_OVERHEAD
            + match self {
                Verdict::Allow => 0,
                Verdict::Rewrite { text } => s(text),
                Verdict::Block { reason, reply } => s(reason) + o(reply),
                Verdict::OptOut { reply } | Verdict::OptIn { reply } => o(reply),
            }
    }
}
impl OutputSize for Prompt {
    fn output_bytes(&self) -> u64 {
        RECORD_OVERHEAD + s(&self.system) + o(&self.context)
    }
}
impl OutputSize for String {
    fn output_bytes(&self) -> u64 {
        RECORD_OVERHEAD + s(self)
    }
}
impl<T: OutputSize> OutputSize for Vec<T> {
    fn output_bytes(&self) -> u64 {
        self.iter().map(OutputSize::output_bytes).sum()
    }
}
impl<T: OutputSize> OutputSize for Option<T> {
    fn output_bytes(&self) -> u64 {
        self.as_ref().map_or(0, OutputSize::output_bytes)
    }
}
