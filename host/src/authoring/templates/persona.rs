//! A persona: builds the responder's prompt. The host wraps whatever it
//! returns with the platform's safety rules.

use switchboard_sdk::{Persona, PersonaContext, PluginError, Prompt};

struct Greeter;

impl Persona for Greeter {
    fn build_prompt(context: &PersonaContext) -> Result<Prompt, PluginError> {
        Ok(Prompt {
            system: format!("You are {}. Answer briefly and kindly.", context.display_name),
            context: context
                .contact_name
                .as_ref()
                .map(|n| format!("The user is {n}.")),
        })
    }
}

switchboard_sdk::export_persona!(Greeter);
