//! Example: a persona component. The host calls `build-prompt` for every
//! reply when a persona names this component; whatever it returns, the host
//! wraps it with the platform's safety rules, so a persona decides voice and
//! content, never the rules.
//!
//! This one greets returning users by name and adapts to the channel: short
//! plain-text answers on SMS, a little more room elsewhere. The hotel's name
//! is its configuration (`hotel_name`, set in the persona's
//! `persona_config`).

use switchboard_sdk::{Persona, PersonaContext, PluginError, Prompt, host};

pub struct Concierge;

impl Persona for Concierge {
    fn build_prompt(context: &PersonaContext) -> Result<Prompt, PluginError> {
        let hotel = host::config_or("hotel_name", "a small hotel");
        let mut system = format!(
            "You are {}, the concierge of {hotel}. Be warm and precise.",
            context.display_name
        );
        let sms = context.channel_adapter.starts_with("twilio-sms");
        system.push_str(if sms {
            " Answer in at most two short sentences, plain text only."
        } else {
            " Answer in at most one short paragraph."
        });
        let context_line = match (&context.contact_name, context.history.is_empty()) {
            (Some(name), false) => Some(format!(
                "You have spoken with {name} before; greet them by name."
            )),
            (Some(name), true) => Some(format!("This is {name}'s first message.")),
            (None, _) => None,
        };
        Ok(Prompt {
            system,
            context: context_line,
        })
    }
}

switchboard_sdk::export_persona!(Concierge);
