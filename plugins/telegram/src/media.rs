//! Fetching an inbound file: `getFile?file_id=…` answers the file's
//! `file_path`, then `GET {api_base_url}/file/bot{token}/{file_path}` is the
//! file. Pure: the caller reads configuration and passes it in.

use serde::Deserialize;
use switchboard_sdk::{Attachment, HttpRequest, HttpResponse, MediaStep, PluginError};

use crate::send::method_url;

#[derive(Deserialize)]
struct GetFile {
    ok: bool,
    result: Option<File>,
    description: Option<String>,
}

#[derive(Deserialize)]
struct File {
    file_path: Option<String>,
}

/// The next step of fetching `attachment` (its `file_id`).
pub fn media_request(
    attachment: &Attachment,
    previous: Option<&HttpResponse>,
    api_base_url: &str,
    bot_token: &str,
) -> Result<MediaStep, PluginError> {
    if !switchboard_sdk::is_path_segment(bot_token, b":_-") {
        return Err(PluginError::config(
            "`bot_token` must be the token BotFather issued (digits, `:`, letters, `_`, `-`)",
        ));
    }
    let Some(previous) = previous else {
        let id = attachment
            .id
            .as_deref()
            .filter(|id| switchboard_sdk::is_path_segment(id, b"_-"))
            .ok_or_else(|| {
                PluginError::bad_request("this attachment has no Telegram file id to fetch")
            })?;
        let url = format!(
            "{}?file_id={id}",
            method_url(api_base_url, bot_token, "getFile")
        );
        return Ok(MediaStep::Fetch(HttpRequest::new("GET", url)));
    };
    let answer: GetFile = serde_json::from_slice(&previous.body).map_err(|e| {
        PluginError::bad_request(format!(
            "getFile answered {} without the Bot API's JSON: {e}",
            previous.status
        ))
    })?;
    let path = match answer {
        GetFile {
            ok: true,
            result: Some(File {
                file_path: Some(path),
            }),
            ..
        } => path,
        other => {
            return Err(PluginError::bad_request(format!(
                "getFile gave no file_path ({})",
                other
                    .description
                    .unwrap_or_else(|| format!("status {}", previous.status))
            )));
        }
    };
    // The path is appended to our URL: nothing that climbs out of the
    // bot's file directory or starts a query.
    let safe = path
        .split('/')
        .all(|seg| switchboard_sdk::is_path_segment(seg, b"._-") && seg != "." && seg != "..");
    if !safe {
        return Err(PluginError::bad_request(format!(
            "getFile answered an unusable file_path `{path}`"
        )));
    }
    Ok(MediaStep::Download(HttpRequest::new(
        "GET",
        format!(
            "{}/file/bot{bot_token}/{path}",
            api_base_url.trim_end_matches('/')
        ),
    )))
}
