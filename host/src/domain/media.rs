//! Media in the platform's own words: a well-formed MIME type, what an
//! adapter accepts, one outbound part (text, media or both), and a step of
//! fetching inbound media.

use serde::{Deserialize, Serialize};

use super::{Attachment, AttachmentKind, HttpRequest};

/// A MIME type as `type/subtype`, lower-cased, parameters dropped
/// (`audio/ogg; codecs=opus` → `audio/ogg`): what adapters match on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MimeType {
    essence: String,
}

impl MimeType {
    /// Parse `type/subtype[; params]`; `None` unless both halves are RFC 6838
    /// restricted names (letters, digits and `!#$&-^_.+`).
    pub fn parse(raw: &str) -> Option<MimeType> {
        let essence = raw.split(';').next()?.trim().to_ascii_lowercase();
        let (ty, sub) = essence.split_once('/')?;
        let name = |s: &str| {
            !s.is_empty()
                && s.len() <= 127
                && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
        };
        (name(ty) && name(sub)).then_some(MimeType { essence })
    }

    /// `type/subtype`.
    pub fn as_str(&self) -> &str {
        &self.essence
    }

    /// The top-level type (`image` of `image/png`).
    pub fn top(&self) -> &str {
        self.essence.split('/').next().unwrap_or_default()
    }

    /// The attachment kind a provider sends this type as: images, videos
    /// and audio by their top-level type, anything else as a document.
    pub fn kind(&self) -> AttachmentKind {
        match self.top() {
            "image" => AttachmentKind::Image,
            "video" => AttachmentKind::Video,
            "audio" => AttachmentKind::Audio,
            _ => AttachmentKind::Document,
        }
    }
}

impl std::fmt::Display for MimeType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.essence)
    }
}

/// Whether one of `patterns` (`image/jpeg`, `image/*`, `*/*`) matches `mime`.
pub fn accepts_mime(patterns: &[String], mime: &MimeType) -> bool {
    patterns.iter().any(|p| {
        let p = p.trim().to_ascii_lowercase();
        match p.split_once('/') {
            Some(("*", "*")) => true,
            Some((top, "*")) => top == mime.top(),
            _ => MimeType::parse(&p).is_some_and(|m| &m == mime),
        }
    })
}

/// One outbound message as stored and delivered: text, media, or both
/// (a caption is carried by its attachment).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OutboundPart {
    pub text: Option<String>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

impl From<String> for OutboundPart {
    fn from(text: String) -> Self {
        OutboundPart {
            text: Some(text),
            attachments: Vec::new(),
        }
    }
}

/// What the host does next to fetch an inbound attachment (the adapter's
/// `media-request` answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", content = "request", rename_all = "lowercase")]
pub enum MediaStep {
    /// A lookup: perform it and hand the answer back to the adapter.
    Fetch(HttpRequest),
    /// The media itself: perform it and stream the body to the caller.
    Download(HttpRequest),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mime_types_are_parsed_strictly_and_matched_by_pattern() {
        let ogg = MimeType::parse("Audio/OGG; codecs=opus").unwrap();
        assert_eq!(ogg.as_str(), "audio/ogg");
        assert_eq!(ogg.kind(), AttachmentKind::Audio);
        for bad in [
            "",
            "image",
            "image/",
            "/png",
            "image/p ng",
            "image/png/x",
            "*/*",
        ] {
            assert_eq!(MimeType::parse(bad), None, "{bad}");
        }
        let pats = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(accepts_mime(&pats(&["audio/*"]), &ogg));
        assert!(accepts_mime(&pats(&["*/*"]), &ogg));
        assert!(accepts_mime(&pats(&["image/png", "audio/ogg"]), &ogg));
        assert!(!accepts_mime(&pats(&["image/*", "audio/mpeg"]), &ogg));
        assert!(!accepts_mime(&[], &ogg));
    }
}
