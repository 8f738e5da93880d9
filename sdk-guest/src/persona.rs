//! The persona trait and its export glue.

use crate::types::*;

/// A persona component: builds the responder's prompt in code. The host
/// always wraps the result with the platform's mandatory safety rules.
pub trait Persona {
    /// Build the prompt for answering `context.message`.
    fn build_prompt(context: &PersonaContext) -> Result<Prompt, PluginError>;
}

#[doc(hidden)]
pub struct PersonaExport<T>(core::marker::PhantomData<T>);

impl<T: Persona> crate::__bindings::persona::exports::switchboard::plugin::prompt_builder::Guest
    for PersonaExport<T>
{
    fn build_prompt(context: PersonaContext) -> Result<Prompt, PluginError> {
        T::build_prompt(&context)
    }
}

/// Export a [`Persona`] implementation as this component's persona.
#[macro_export]
macro_rules! export_persona {
    ($ty:ty) => {
        // Component exports only exist on wasm; natively (unit tests of a
        // plugin's pure code) the export names are not valid symbols.
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type __SwitchboardPersona = $crate::__PersonaExport<$ty>;
            $crate::__export_persona_impl!(__SwitchboardPersona with_types_in $crate::__bindings::persona);
        };
        // Natively, keep the implementation reachable so a plugin's unit
        // tests build without dead-code warnings.
        #[cfg(not(target_arch = "wasm32"))]
        #[doc(hidden)]
        pub static __SWITCHBOARD_NATIVE_PERSONA: fn(&$crate::PersonaContext) -> ::core::result::Result<$crate::Prompt, $crate::PluginError> = <$ty as $crate::Persona>::build_prompt;
    };
}
