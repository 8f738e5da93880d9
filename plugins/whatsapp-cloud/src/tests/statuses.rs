//! Status callbacks: every status fixture, failures with their errors, and
//! statuses that must be skipped without failing the batch.

use switchboard_sdk::{DeliveryStatus, Event, ProviderError, StatusUpdate};

use super::{edited, fixture, only_status, parse};

fn pywa(status: DeliveryStatus, timestamp: u64) -> StatusUpdate {
    StatusUpdate {
        external_id: "wamid.xyzxyz".into(),
        status,
        recipient: Some("972987654321".into()),
        timestamp: Some(timestamp),
        error: None,
        // The change's phone-number id (the number that sent it).
        route_key: Some("1122334455667".into()),
    }
}

#[test]
fn sent_delivered_read_played() {
    let courier = StatusUpdate {
        external_id: "external_id".into(),
        status: DeliveryStatus::Sent,
        recipient: Some("5678".into()),
        timestamp: Some(1454119029),
        error: None,
        route_key: Some("1234567890".into()),
    };
    assert_eq!(
        only_status(fixture!("courier_wac_valid_status.json")),
        courier
    );
    assert_eq!(
        only_status(fixture!("pywa_status_sent.json")),
        pywa(DeliveryStatus::Sent, 1698266945)
    );
    assert_eq!(
        only_status(fixture!("pywa_status_delivered.json")),
        pywa(DeliveryStatus::Delivered, 1698266945)
    );
    assert_eq!(
        only_status(fixture!("pywa_status_read.json")),
        pywa(DeliveryStatus::Read, 1689380458)
    );
    assert_eq!(
        only_status(fixture!("pywa_status_played.json")),
        pywa(DeliveryStatus::Played, 1689380458)
    );
}

#[test]
fn failed_statuses_carry_the_first_error() {
    let expected = StatusUpdate {
        status: DeliveryStatus::Failed,
        error: Some(ProviderError {
            retryable: false,
            retry_after_secs: None,
            code: Some("130472".into()),
            message: "User's number is part of an experiment: Failed to send message because this user's phone number is part of an experiment".into(),
            consent_revoked: false,
        }),
        ..pywa(DeliveryStatus::Failed, 1689380458)
    };
    assert_eq!(only_status(fixture!("pywa_status_failed.json")), expected);

    // No error_data: the title alone.
    let courier = only_status(fixture!("courier_wac_error_status.json"));
    assert_eq!(
        (courier.external_id.as_str(), courier.status),
        ("external_id", DeliveryStatus::Failed)
    );
    let error = courier.error.unwrap();
    assert_eq!(error.code.as_deref(), Some("131014"));
    assert_eq!(
        error.message,
        "Request for url https://URL.jpg failed with error: 404 (Not Found)"
    );
    assert!(!error.retryable && !error.consent_revoked);

    let real = only_status(fixture!("real_world_failed_131047_reengagement.json"));
    assert_eq!(
        real.external_id,
        "wamid.H====================================="
    );
    assert_eq!(
        (real.recipient.as_deref(), real.timestamp),
        (Some("86501452171734"), Some(1744609253))
    );
    let error = real.error.unwrap();
    assert_eq!(error.code.as_deref(), Some("131047"));
    assert_eq!(
        error.message,
        "Re-engagement message: Message failed to send because more than 24 hours have passed since the customer last replied to this number."
    );
}

#[test]
fn group_status_is_addressed_to_the_group() {
    let status = only_status(fixture!("pywa_status_group.json"));
    assert_eq!(status.external_id, "<WHATSAPP_MESSAGE_ID>");
    assert_eq!(status.status, DeliveryStatus::Read);
    assert_eq!(status.recipient.as_deref(), Some("fowefinoewcnw"));
}

#[test]
fn bsuid_recipient_without_a_phone_number() {
    let body = edited(
        fixture!("pywa_status_sent.json"),
        "\"recipient_id\": \"972987654321\"",
        "\"recipient_user_id\": \"US.13491208655302741918\"",
    );
    assert_eq!(
        only_status(&body).recipient.as_deref(),
        Some("US.13491208655302741918")
    );
}

#[test]
fn unknown_and_deleted_statuses_are_skipped_not_fatal() {
    let invalid = parse(fixture!("courier_wac_invalid_status.json"));
    assert!(invalid.events.is_empty());
    assert_eq!(invalid.skipped.len(), 1);
    assert!(
        invalid.skipped[0].contains("`in_orbit`"),
        "{:?}",
        invalid.skipped
    );

    let deleted = parse(&edited(
        fixture!("pywa_status_read.json"),
        "\"status\": \"read\"",
        "\"status\": \"deleted\"",
    ));
    assert!(deleted.events.is_empty());
    assert!(deleted.skipped[0].contains("`deleted`"));

    // A bad status next to a good one: the good one survives.
    let mut batch: serde_json::Value =
        serde_json::from_str(fixture!("courier_wac_valid_status.json")).unwrap();
    let bad: serde_json::Value =
        serde_json::from_str(fixture!("courier_wac_invalid_status.json")).unwrap();
    let statuses = batch["entry"][0]["changes"][0]["value"]["statuses"]
        .as_array_mut()
        .unwrap();
    statuses.insert(
        0,
        bad["entry"][0]["changes"][0]["value"]["statuses"][0].clone(),
    );
    statuses.push(serde_json::json!({"status": "sent"}));
    let parsed = parse(&batch.to_string());
    assert_eq!(parsed.skipped.len(), 2, "{:?}", parsed.skipped);
    match parsed.events.as_slice() {
        [Event::Status(s)] => assert_eq!(
            (s.external_id.as_str(), s.status),
            ("external_id", DeliveryStatus::Sent)
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn timestamps_in_milliseconds_or_numbers_are_normalised() {
    let millis = edited(
        fixture!("pywa_status_sent.json"),
        "\"timestamp\": \"1698266945\"",
        "\"timestamp\": \"1698266945123\"",
    );
    assert_eq!(only_status(&millis).timestamp, Some(1698266945));
    let number = edited(
        fixture!("pywa_status_sent.json"),
        "\"timestamp\": \"1698266945\"",
        "\"timestamp\": 1698266945",
    );
    assert_eq!(only_status(&number).timestamp, Some(1698266945));
    let junk = edited(
        fixture!("pywa_status_sent.json"),
        "\"timestamp\": \"1698266945\"",
        "\"timestamp\": \"soon\"",
    );
    assert_eq!(only_status(&junk).timestamp, None);
}
