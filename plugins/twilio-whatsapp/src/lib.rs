//! # twilio-whatsapp
//!
//! WhatsApp through Twilio Programmable Messaging. All logic lives in
//! [`twilio_core`]; this component only names itself and its channel.
//! Twilio writes WhatsApp addresses as `whatsapp:+15551234567`: the adapter
//! stores senders without the prefix and adds it back to `To`/`From` when
//! sending.

use twilio_core::{Channel, Flavor, TwilioAdapter};

/// The adapter's name, as channel bindings refer to it.
pub const ADAPTER_NAME: &str = "twilio-whatsapp";

/// The WhatsApp flavor of the Twilio adapter.
pub struct WhatsApp;

impl Flavor for WhatsApp {
    const NAME: &'static str = ADAPTER_NAME;
    const CHANNEL: Channel = Channel::WhatsApp;
}

/// The exported adapter.
pub type TwilioWhatsApp = TwilioAdapter<WhatsApp>;

switchboard_sdk::export_adapter!(TwilioWhatsApp);
