//! # twilio-sms
//!
//! SMS/MMS through Twilio Programmable Messaging. All logic lives in
//! [`twilio_core`]; this component only names itself and its channel.
//! Addresses are plain E.164 (`+15551234567`).

use twilio_core::{Channel, Flavor, TwilioAdapter};

/// The adapter's name, as channel bindings refer to it.
pub const ADAPTER_NAME: &str = "twilio-sms";

/// The SMS flavor of the Twilio adapter.
pub struct Sms;

impl Flavor for Sms {
    const NAME: &'static str = ADAPTER_NAME;
    const CHANNEL: Channel = Channel::Sms;
}

/// The exported adapter.
pub type TwilioSms = TwilioAdapter<Sms>;

switchboard_sdk::export_adapter!(TwilioSms);
