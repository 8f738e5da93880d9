//! Media: the types each Twilio channel sends, and fetching an inbound
//! `MediaUrl` with the account's Basic auth. Twilio answers a media URL
//! with a redirect to a short-lived CDN URL, which is fetched without the
//! credentials (they are Twilio's, not the CDN's). Pure: the caller reads
//! configuration and passes it in.

use base64::Engine as _;
use switchboard_sdk::{Attachment, HttpRequest, HttpResponse, MediaStep, PluginError};

use crate::Channel;

/// Where Twilio redirects media downloads.
pub const MEDIA_HOSTS: &[&str] = &["media.twiliocdn.com", "mms.twiliocdn.com"];

/// The MIME types Twilio sends on `channel` (MMS's fully supported types
/// plus the common ones it passes on; WhatsApp's media types).
pub fn accepted_media(channel: Channel) -> &'static [&'static str] {
    match channel {
        Channel::Sms => &[
            "image/jpeg",
            "image/png",
            "image/gif",
            "video/mp4",
            "audio/mpeg",
            "text/vcard",
            "application/pdf",
        ],
        Channel::WhatsApp => &[
            "image/jpeg",
            "image/png",
            "video/mp4",
            "audio/ogg",
            "audio/mpeg",
            "audio/amr",
            "audio/mp4",
            "application/pdf",
        ],
    }
}

/// `Authorization: Basic base64(AccountSid:AuthToken)`.
pub fn basic_auth(account_sid: &str, auth_token: &str) -> String {
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("{account_sid}:{auth_token}"));
    format!("Basic {credentials}")
}

/// The next step of fetching `attachment` (its `url`, the webhook's
/// `MediaUrlN`): the URL with Basic auth, then, when Twilio redirects, the
/// redirect's target without it.
pub fn media_request(
    attachment: &Attachment,
    previous: Option<&HttpResponse>,
    account_sid: &str,
    auth_token: &str,
) -> Result<MediaStep, PluginError> {
    let Some(previous) = previous else {
        let url = attachment
            .url
            .as_deref()
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            .ok_or_else(|| PluginError::bad_request("this attachment has no Twilio media URL"))?;
        return Ok(MediaStep::Download(
            HttpRequest::new("GET", url)
                .with_header("authorization", basic_auth(account_sid, auth_token)),
        ));
    };
    let location = previous
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("location"))
        .map(|h| h.value.as_str())
        // Where it may point is the host's outbound policy's call (declared
        // hosts only); no credentials go with it either way.
        .filter(|l| {
            (300..400).contains(&previous.status)
                && (l.starts_with("https://") || l.starts_with("http://"))
        });
    match location {
        Some(location) => Ok(MediaStep::Download(HttpRequest::new("GET", location))),
        None => Err(PluginError::bad_request(format!(
            "Twilio answered the media URL with {} and no redirect to follow",
            previous.status
        ))),
    }
}
