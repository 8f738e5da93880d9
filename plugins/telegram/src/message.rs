//! A Bot API `Message` (also `edited_message` and channel posts) and its
//! normalised form. Pure.

use serde::Deserialize;
use serde_json::{Map, Value};
use switchboard_sdk::{Attachment, AttachmentKind, ContactAddress, InboundMessage, Location};

/// A `Chat`.
#[derive(Debug, Deserialize)]
pub struct Chat {
    pub id: i64,
    /// `private`, `group`, `supergroup` or `channel`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub username: Option<String>,
}

/// A `User`.
#[derive(Debug, Deserialize)]
pub struct User {
    pub id: i64,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub username: Option<String>,
}

/// A `MessageEntity` (only what command detection needs).
#[derive(Debug, Deserialize)]
struct Entity {
    #[serde(rename = "type")]
    kind: String,
    offset: u64,
}

/// Any file Telegram hands out by id: `PhotoSize`, `Document`, `Sticker`,
/// `Voice`, `Audio`, `Video`, `VideoNote`, `Animation`.
#[derive(Debug, Deserialize)]
struct File {
    file_id: String,
    width: Option<u64>,
    height: Option<u64>,
    file_size: Option<u64>,
    mime_type: Option<String>,
    file_name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TgLocation {
    latitude: f64,
    longitude: f64,
}

#[derive(Debug, Deserialize)]
struct Venue {
    location: TgLocation,
    title: Option<String>,
    address: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ReplyTo {
    message_id: i64,
}

/// A `Message`; content kinds the adapter does not read end up in `other`
/// and only name the message's `kind`.
#[derive(Debug, Deserialize)]
pub struct Message {
    chat: Chat,
    from: Option<User>,
    date: Option<u64>,
    text: Option<String>,
    caption: Option<String>,
    #[serde(default)]
    entities: Vec<Entity>,
    #[serde(default)]
    photo: Vec<File>,
    document: Option<File>,
    sticker: Option<File>,
    voice: Option<File>,
    audio: Option<File>,
    video: Option<File>,
    video_note: Option<File>,
    animation: Option<File>,
    location: Option<TgLocation>,
    venue: Option<Venue>,
    reply_to_message: Option<ReplyTo>,
    #[serde(flatten)]
    other: Map<String, Value>,
}

/// Message content kinds without a typed field, in the order checked; the
/// first present names the message's `kind`.
const OTHER_KINDS: &[&str] = &[
    "dice",
    "story",
    "contact",
    "poll",
    "game",
    "invoice",
    "paid_media",
    "giveaway",
    "giveaway_winners",
    "pinned_message",
    "new_chat_members",
    "left_chat_member",
    "new_chat_title",
    "new_chat_photo",
    "delete_chat_photo",
    "group_chat_created",
    "supergroup_chat_created",
    "channel_chat_created",
    "migrate_to_chat_id",
    "migrate_from_chat_id",
    "successful_payment",
    "users_shared",
    "chat_shared",
    "web_app_data",
];

/// Whether a chat is a group, supergroup or channel (not a private chat).
pub fn is_group(chat: &Chat) -> bool {
    chat.kind != "private"
}

/// The chat id as `group_id` for group, supergroup and channel chats.
pub fn group_id(chat: &Chat) -> Option<String> {
    is_group(chat).then(|| chat.id.to_string())
}

/// `first last`, or whichever is present, or the username.
fn person_name(first: Option<&str>, last: Option<&str>, username: Option<&str>) -> Option<String> {
    let name = [first, last]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    match name.is_empty() {
        false => Some(name),
        true => username.filter(|u| !u.is_empty()).map(str::to_string),
    }
}

/// The sender. `address` is the chat id, because that is where replies go
/// (a group's id for group messages); `user_id` is the user who wrote it.
/// The display name is the user's, else the chat's title or name.
pub fn contact(chat: &Chat, from: Option<&User>) -> ContactAddress {
    let user_name = from.and_then(|u| {
        person_name(
            u.first_name.as_deref(),
            u.last_name.as_deref(),
            u.username.as_deref(),
        )
    });
    let chat_name = || {
        chat.title.clone().filter(|t| !t.is_empty()).or_else(|| {
            person_name(
                chat.first_name.as_deref(),
                chat.last_name.as_deref(),
                chat.username.as_deref(),
            )
        })
    };
    ContactAddress {
        address: chat.id.to_string(),
        phone: None,
        user_id: from.map(|u| u.id.to_string()),
        display_name: user_name.or_else(chat_name),
    }
}

fn attachment(kind: AttachmentKind, file: &File, caption: Option<&str>) -> Attachment {
    Attachment {
        kind,
        id: Some(file.file_id.clone()),
        url: None,
        mime_type: file.mime_type.clone(),
        caption: caption.map(str::to_string),
        filename: file.file_name.clone(),
        sha256: None,
    }
}

impl Message {
    /// Whether the text starts with a bot command (`/start`, `/report@bot`).
    fn is_command(&self) -> bool {
        self.text.is_some()
            && self
                .entities
                .iter()
                .any(|e| e.kind == "bot_command" && e.offset == 0)
    }

    /// The largest photo size: Telegram lists them smallest first, but the
    /// area decides, then the file size, then the later entry.
    fn largest_photo(&self) -> Option<&File> {
        self.photo.iter().max_by_key(|p| {
            (
                p.width.unwrap_or(0) * p.height.unwrap_or(0),
                p.file_size.unwrap_or(0),
            )
        })
    }

    /// The one media item a message carries, with its content-type name.
    /// An animation also comes with a `document` copy; the animation wins.
    fn media(&self) -> Option<(&'static str, AttachmentKind, &File)> {
        if let Some(photo) = self.largest_photo() {
            return Some(("photo", AttachmentKind::Image, photo));
        }
        let typed: [(&'static str, AttachmentKind, Option<&File>); 7] = [
            ("animation", AttachmentKind::Video, self.animation.as_ref()),
            ("video", AttachmentKind::Video, self.video.as_ref()),
            (
                "video_note",
                AttachmentKind::Video,
                self.video_note.as_ref(),
            ),
            ("voice", AttachmentKind::Voice, self.voice.as_ref()),
            ("audio", AttachmentKind::Audio, self.audio.as_ref()),
            ("sticker", AttachmentKind::Sticker, self.sticker.as_ref()),
            ("document", AttachmentKind::Document, self.document.as_ref()),
        ];
        typed
            .into_iter()
            .find_map(|(name, kind, file)| file.map(|f| (name, kind, f)))
    }

    /// The normalised message; `external_id` is the update id (see
    /// [`crate::update`]).
    pub fn into_inbound(self, external_id: String) -> InboundMessage {
        let text = self.text.clone().or_else(|| self.caption.clone());
        let media = self.media();
        let attachments: Vec<Attachment> = media
            .iter()
            .map(|(_, kind, file)| attachment(*kind, file, self.caption.as_deref()))
            .collect();
        let location = match (&self.venue, &self.location) {
            (Some(venue), _) => Some(Location {
                latitude: venue.location.latitude,
                longitude: venue.location.longitude,
                name: venue.title.clone(),
                address: venue.address.clone(),
            }),
            (None, Some(l)) => Some(Location {
                latitude: l.latitude,
                longitude: l.longitude,
                name: None,
                address: None,
            }),
            (None, None) => None,
        };
        let kind = if self.is_command() {
            "command".to_string()
        } else if let Some((name, _, _)) = media {
            name.to_string()
        } else if self.venue.is_some() {
            "venue".to_string()
        } else if self.location.is_some() {
            "location".to_string()
        } else if self.text.is_some() {
            "text".to_string()
        } else {
            OTHER_KINDS
                .iter()
                .find(|k| self.other.contains_key(**k))
                .map_or_else(|| "unknown".to_string(), |k| k.to_string())
        };
        InboundMessage {
            external_id,
            sender: contact(&self.chat, self.from.as_ref()),
            recipient: None,
            group_id: group_id(&self.chat),
            timestamp: self.date,
            text,
            attachments,
            location,
            reply_to: self
                .reply_to_message
                .as_ref()
                .map(|r| r.message_id.to_string()),
            reaction: None,
            interactive: None,
            consent: None,
            kind,
            route_key: None,
        }
    }
}
