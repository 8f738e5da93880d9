//! The guardrail trait and its export glue.

use crate::types::*;

/// A guardrail: inspects one message and allows, rewrites or blocks it, or
/// reports a consent change. Both directions default to allow.
pub trait Guardrail {
    /// Check a message from an end user.
    fn check_inbound(context: &GuardrailContext) -> Result<Verdict, PluginError> {
        let _ = context;
        Ok(Verdict::Allow)
    }
    /// Check a reply before it is sent.
    fn check_outbound(context: &GuardrailContext) -> Result<Verdict, PluginError> {
        let _ = context;
        Ok(Verdict::Allow)
    }
}

#[doc(hidden)]
pub struct GuardrailExport<T>(core::marker::PhantomData<T>);

impl<T: Guardrail> crate::__bindings::guardrail::exports::switchboard::plugin::guard::Guest
    for GuardrailExport<T>
{
    fn check_inbound(context: GuardrailContext) -> Result<Verdict, PluginError> {
        T::check_inbound(&context)
    }
    fn check_outbound(context: GuardrailContext) -> Result<Verdict, PluginError> {
        T::check_outbound(&context)
    }
}

/// Export a [`Guardrail`] implementation as this component's guardrail.
#[macro_export]
macro_rules! export_guardrail {
    ($ty:ty) => {
        // Component exports only exist on wasm; natively (unit tests of a
        // plugin's pure code) the export names are not valid symbols.
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type __SwitchboardGuardrail = $crate::__GuardrailExport<$ty>;
            $crate::__export_guardrail_impl!(__SwitchboardGuardrail with_types_in $crate::__bindings::guardrail);
        };
        // Natively, keep the implementation reachable so a plugin's unit
        // tests build without dead-code warnings.
        #[cfg(not(target_arch = "wasm32"))]
        #[doc(hidden)]
        pub static __SWITCHBOARD_NATIVE_GUARDRAIL: fn(&$crate::GuardrailContext) -> ::core::result::Result<$crate::Verdict, $crate::PluginError> = <$ty as $crate::Guardrail>::check_inbound;
    };
}
