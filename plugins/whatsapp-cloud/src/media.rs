//! Media: the types the Cloud API sends, and fetching an inbound media id
//! in two steps — `GET {api_base_url}/{media-id}` (bearer token) answers
//! JSON with a short-lived `url`, then `GET url` with the same token.
//! Pure: the caller reads configuration and passes it in.

use serde::Deserialize;
use switchboard_sdk::{Attachment, HttpRequest, HttpResponse, MediaStep, PluginError};

use crate::response::parse_send_response;

/// The MIME types the Cloud API sends (its "Supported media types").
pub const ACCEPTED_MEDIA: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/webp",
    "video/mp4",
    "video/3gpp",
    "audio/aac",
    "audio/amr",
    "audio/mpeg",
    "audio/mp4",
    "audio/ogg",
    "text/plain",
    "application/pdf",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
];

/// Where Meta serves media files (the `url` the lookup answers).
pub const MEDIA_HOST: &str = "lookaside.fbsbx.com";

#[derive(Deserialize)]
struct MediaUrl {
    url: String,
}

/// The next step of fetching `attachment`: the id lookup first, then the
/// download of the URL it answered, both with the bearer token.
pub fn media_request(
    attachment: &Attachment,
    previous: Option<&HttpResponse>,
    api_base_url: &str,
    access_token: &str,
) -> Result<MediaStep, PluginError> {
    let auth = format!("Bearer {access_token}");
    let Some(previous) = previous else {
        let id = attachment
            .id
            .as_deref()
            .filter(|id| switchboard_sdk::is_path_segment(id, b"_-"))
            .ok_or_else(|| {
                PluginError::bad_request("this attachment has no WhatsApp media id to fetch")
            })?;
        let url = format!("{}/{id}", api_base_url.trim_end_matches('/'));
        return Ok(MediaStep::Fetch(
            HttpRequest::new("GET", url).with_header("authorization", auth),
        ));
    };
    if !(200..300).contains(&previous.status) {
        // The Graph API's error envelope, read like a send's.
        return Err(match parse_send_response(previous) {
            Err(e) => e,
            Ok(_) => {
                PluginError::bad_request(format!("the media lookup answered {}", previous.status))
            }
        });
    }
    let found: MediaUrl = serde_json::from_slice(&previous.body).map_err(|e| {
        PluginError::bad_request(format!("the media lookup's answer has no `url`: {e}"))
    })?;
    Ok(MediaStep::Download(
        HttpRequest::new("GET", found.url).with_header("authorization", auth),
    ))
}
