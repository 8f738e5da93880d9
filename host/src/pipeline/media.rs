//! Outbound media: what a media item must be, whether the channel's
//! adapter takes it, and which messages a text with media becomes.
//!
//! Providers send one attachment per message (WhatsApp, Telegram), and a
//! caption is short (1,024 characters on both) and not shown at all on
//! WhatsApp audio. So each media item is its own part carrying its own
//! caption, sent first, and the text follows as its own part(s), split to
//! the adapter's limit — except that a text that fits a caption becomes
//! the caption of a single captionless, non-audio item (one message, the
//! way a person sends a photo with a line under it). An audio item's
//! caption is sent as a text part right after it.

use crate::domain::{AdapterInfo, Attachment, AttachmentKind, MimeType, OutboundPart};
use crate::outbound::OutboundPolicy;

use super::split::split_text_blocking;

/// Longest caption (WhatsApp's and Telegram's limit).
pub const MAX_CAPTION_CHARS: usize = 1024;
/// Most media items in one send.
pub const MAX_MEDIA_ITEMS: usize = 10;
/// Longest media URL.
const MAX_URL_BYTES: usize = 2048;

/// One outbound media item, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaItem {
    pub url: String,
    pub mime: MimeType,
    pub caption: Option<String>,
}

/// Why a media item is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidMedia {
    #[error("`media[{0}].url` must be an https URL of a public host (at most 2048 bytes)")]
    Url(usize),
    #[error("`media[{0}].mime_type` must be a MIME type such as `image/jpeg`")]
    MimeType(usize),
    #[error("`media[{0}].caption` must be 1-1024 characters")]
    Caption(usize),
    #[error("at most 10 media items per message")]
    TooMany,
}

/// The channel's adapter does not send this type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the `{adapter}` adapter does not send `{mime}` media (it accepts: {accepted})")]
pub struct UnsupportedMedia {
    pub mime: String,
    pub adapter: String,
    pub accepted: String,
}

impl MediaItem {
    /// Check item `index`: the provider fetches `url`, so it must be https
    /// to a public host — or a target the operator allowed (which may be
    /// plain http, as local test providers are).
    pub fn new(
        index: usize,
        url: &str,
        mime_type: &str,
        caption: Option<String>,
        policy: &OutboundPolicy,
    ) -> Result<MediaItem, InvalidMedia> {
        let url = url.trim();
        let (host, port) = (url.len() <= MAX_URL_BYTES)
            .then(|| policy.check_public_url(url).ok())
            .flatten()
            .ok_or(InvalidMedia::Url(index))?;
        if !url.starts_with("https://") && !policy.allows(&host, port) {
            return Err(InvalidMedia::Url(index));
        }
        let mime = MimeType::parse(mime_type).ok_or(InvalidMedia::MimeType(index))?;
        let caption = match caption {
            None => None,
            Some(c) if c.trim().is_empty() || c.chars().count() > MAX_CAPTION_CHARS => {
                return Err(InvalidMedia::Caption(index));
            }
            Some(c) => Some(c),
        };
        Ok(MediaItem {
            url: url.to_string(),
            mime,
            caption,
        })
    }

    fn attachment(&self, caption: Option<String>) -> Attachment {
        Attachment {
            kind: self.mime.kind(),
            id: None,
            url: Some(self.url.clone()),
            mime_type: Some(self.mime.to_string()),
            caption,
            filename: None,
            sha256: None,
        }
    }
}

/// Refuse the first item the adapter does not declare (`info` `None`: an
/// adapter that cannot describe itself takes none).
pub fn check_accepted(
    info: Option<&AdapterInfo>,
    adapter: &str,
    media: &[MediaItem],
) -> Result<(), UnsupportedMedia> {
    let Some(refused) = media
        .iter()
        .find(|m| !info.is_some_and(|i| i.accepts(&m.mime)))
    else {
        return Ok(());
    };
    let accepted = info
        .map(|i| i.accepted_media.join(", "))
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "no media".into());
    Err(UnsupportedMedia {
        mime: refused.mime.to_string(),
        adapter: info.map_or(adapter, |i| i.name.as_str()).to_string(),
        accepted,
    })
}

/// The parts a message with `text` and `media` is sent as, in order (see
/// the module's rules).
pub async fn compose(
    text: Option<String>,
    media: Vec<MediaItem>,
    max_len: usize,
) -> Vec<OutboundPart> {
    let text = text.filter(|t| !t.trim().is_empty());
    let is_audio = |m: &MediaItem| m.mime.kind() == AttachmentKind::Audio;
    if let ([only], Some(t)) = (media.as_slice(), text.as_deref())
        && only.caption.is_none()
        && !is_audio(only)
        && t.chars().count() <= MAX_CAPTION_CHARS
    {
        return vec![media_part(only.attachment(text.clone()))];
    }
    let mut parts = Vec::with_capacity(media.len() + 1);
    for item in &media {
        if is_audio(item) {
            parts.push(media_part(item.attachment(None)));
            parts.extend(item.caption.clone().map(OutboundPart::from));
        } else {
            parts.push(media_part(item.attachment(item.caption.clone())));
        }
    }
    if let Some(text) = text {
        parts.extend(
            split_text_blocking(text, max_len)
                .await
                .into_iter()
                .map(OutboundPart::from),
        );
    }
    parts
}

fn media_part(attachment: Attachment) -> OutboundPart {
    OutboundPart {
        text: None,
        attachments: vec![attachment],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(url: &str, mime: &str, caption: Option<&str>) -> MediaItem {
        MediaItem::new(
            0,
            url,
            mime,
            caption.map(str::to_string),
            &OutboundPolicy::default(),
        )
        .unwrap()
    }

    #[test]
    fn urls_must_be_public_https_unless_the_operator_allows_the_target() {
        let strict = OutboundPolicy::default();
        let local = OutboundPolicy::parse("127.0.0.1:*");
        let check = |url: &str, p: &OutboundPolicy| MediaItem::new(2, url, "image/png", None, p);
        assert!(check("https://cdn.example.com/a.png", &strict).is_ok());
        for bad in [
            "http://cdn.example.com/a.png",
            "https://127.0.0.1/a.png",
            "https://10.1.2.3/a.png",
            "ftp://cdn.example.com/a.png",
            "https://user:pw@cdn.example.com/a.png",
            "http://127.0.0.1:9/a.png",
        ] {
            assert_eq!(check(bad, &strict), Err(InvalidMedia::Url(2)), "{bad}");
        }
        assert!(check("http://127.0.0.1:9/a.png", &local).is_ok());
        assert_eq!(
            MediaItem::new(1, "https://x.example/a", "png", None, &strict),
            Err(InvalidMedia::MimeType(1))
        );
        assert_eq!(
            MediaItem::new(
                0,
                "https://x.example/a",
                "image/png",
                Some("x".repeat(1025)),
                &strict
            ),
            Err(InvalidMedia::Caption(0))
        );
    }

    #[tokio::test]
    async fn short_text_captions_one_item_and_long_text_follows_the_media() {
        let photo = item("https://cdn.example.com/a.png", "image/png", None);
        let parts = compose(Some("Your invoice".into()), vec![photo.clone()], 4096).await;
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].text, None);
        assert_eq!(
            parts[0].attachments[0].caption.as_deref(),
            Some("Your invoice")
        );
        assert_eq!(parts[0].attachments[0].kind, AttachmentKind::Image);

        let long = "w ".repeat(700);
        let parts = compose(Some(long.clone()), vec![photo.clone()], 4096).await;
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].attachments[0].caption, None);
        assert_eq!(parts[1].text.as_deref(), Some(long.trim_end()));

        let voice = item("https://cdn.example.com/a.ogg", "audio/ogg", Some("listen"));
        let parts = compose(Some("hi".into()), vec![voice, photo], 4096).await;
        let shape: Vec<_> = parts
            .iter()
            .map(|p| {
                (
                    p.text.clone(),
                    p.attachments.first().map(|a| a.caption.clone()),
                )
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                (None, Some(None)),
                (Some("listen".into()), None),
                (None, Some(None)),
                (Some("hi".into()), None),
            ]
        );
    }
}
