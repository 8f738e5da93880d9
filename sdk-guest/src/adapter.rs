//! The channel-adapter trait and its export glue.

use crate::types::*;

/// A channel adapter: turns a provider's webhooks into events and outbound
/// messages into provider API calls. Only [`info`](Self::info) and
/// [`parse`](Self::parse) are required.
pub trait ChannelAdapter {
    /// Name, limits and the hosts `render` calls.
    fn info() -> AdapterInfo;

    /// Authenticate a webhook. Return `Ok(Some(response))` to answer a
    /// handshake, `Ok(None)` to accept. The default accepts everything, so an
    /// adapter for a signed provider must override it.
    fn verify(request: &HttpRequest) -> Result<Option<HttpResponse>, PluginError> {
        let _ = request;
        Ok(None)
    }

    /// Turn a verified webhook into events.
    fn parse(request: &HttpRequest) -> Result<Vec<Event>, PluginError>;

    /// Build the provider call that sends `message`.
    fn render(message: &OutboundMessage) -> Result<HttpRequest, PluginError> {
        let _ = message;
        Err(PluginError::unsupported(
            "this adapter cannot send messages",
        ))
    }

    /// Read the provider's answer to a rendered request. The default accepts
    /// any 2xx as queued (with no provider id) and treats 429 and 5xx as
    /// retryable errors.
    fn parse_send_response(response: &HttpResponse) -> Result<Receipt, PluginError> {
        if response.is_success() {
            return Ok(Receipt {
                external_id: None,
                status: DeliveryStatus::Queued,
            });
        }
        let retryable = response.status == 429 || response.status >= 500;
        let message = String::from_utf8_lossy(&response.body)
            .chars()
            .take(512)
            .collect::<String>();
        Err(PluginError::Provider(ProviderError::new(
            retryable,
            Some(response.status.to_string()),
            message,
        )))
    }

    /// Build the provider call that sends a pre-approved template (since
    /// contract 0.1.1). The answer goes to
    /// [`parse_send_response`](Self::parse_send_response) like any send.
    fn render_template(message: &TemplateMessage) -> Result<HttpRequest, PluginError> {
        let _ = message;
        Err(PluginError::unsupported(
            "this adapter cannot send template messages",
        ))
    }

    /// The configuration keys whose values are secrets (since contract
    /// 0.1.2): the API shows them only as set or unset, and every other value
    /// as it was set. The default, `None`, makes every value a secret, so an
    /// adapter that does not say otherwise never has a value shown back.
    fn secret_keys() -> Option<Vec<String>> {
        None
    }

    /// The MIME types (`image/jpeg`) or patterns (`image/*`) of outbound
    /// media this adapter sends (since contract 0.1.2). The default, none,
    /// makes the API refuse media on its channels.
    fn accepted_media() -> Vec<String> {
        Vec::new()
    }

    /// One step of fetching an inbound attachment with the channel's
    /// credentials (since contract 0.1.2): return
    /// [`MediaStep::Fetch`] for a lookup whose answer comes back as
    /// `previous`, then [`MediaStep::Download`] for the media itself. The
    /// default cannot fetch media.
    fn media_request(
        attachment: &Attachment,
        previous: Option<&HttpResponse>,
    ) -> Result<MediaStep, PluginError> {
        let _ = (attachment, previous);
        Err(PluginError::unsupported("this adapter cannot fetch media"))
    }

    /// Keys identifying the channels a shared-endpoint webhook belongs to.
    /// The default (empty) means shared endpoints are not supported.
    fn route_key(request: &HttpRequest) -> Result<Vec<String>, PluginError> {
        let _ = request;
        Ok(Vec::new())
    }
}

#[doc(hidden)]
pub struct AdapterExport<T>(core::marker::PhantomData<T>);

impl<T: ChannelAdapter> crate::__bindings::adapter::exports::switchboard::plugin::adapter::Guest
    for AdapterExport<T>
{
    fn info() -> AdapterInfo {
        T::info()
    }
    fn verify(request: HttpRequest) -> Result<Option<HttpResponse>, PluginError> {
        T::verify(&request)
    }
    fn parse(request: HttpRequest) -> Result<Vec<Event>, PluginError> {
        T::parse(&request)
    }
    fn render(message: OutboundMessage) -> Result<HttpRequest, PluginError> {
        T::render(&message)
    }
    fn parse_send_response(response: HttpResponse) -> Result<Receipt, PluginError> {
        T::parse_send_response(&response)
    }
    fn route_key(request: HttpRequest) -> Result<Vec<String>, PluginError> {
        T::route_key(&request)
    }
}

impl<T: ChannelAdapter> crate::__bindings::adapter::exports::switchboard::plugin::templates::Guest
    for AdapterExport<T>
{
    fn render_template(message: TemplateMessage) -> Result<HttpRequest, PluginError> {
        T::render_template(&message)
    }
}

impl<T: ChannelAdapter>
    crate::__bindings::adapter::exports::switchboard::plugin::configuration::Guest
    for AdapterExport<T>
{
    fn secret_keys() -> Option<Vec<String>> {
        T::secret_keys()
    }
}

impl<T: ChannelAdapter> crate::__bindings::adapter::exports::switchboard::plugin::media::Guest
    for AdapterExport<T>
{
    fn accepted_media() -> Vec<String> {
        T::accepted_media()
    }
    fn media_request(
        attachment: Attachment,
        previous: Option<HttpResponse>,
    ) -> Result<MediaStep, PluginError> {
        T::media_request(&attachment, previous.as_ref())
    }
}

/// Export a [`ChannelAdapter`] implementation as this component's adapter.
#[macro_export]
macro_rules! export_adapter {
    ($ty:ty) => {
        // Component exports only exist on wasm; natively (unit tests of a
        // plugin's pure code) the export names are not valid symbols.
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type __SwitchboardAdapter = $crate::__AdapterExport<$ty>;
            $crate::__export_channel_adapter_impl!(__SwitchboardAdapter with_types_in $crate::__bindings::adapter);
        };
        // Natively, keep the implementation reachable so a plugin's unit
        // tests build without dead-code warnings.
        #[cfg(not(target_arch = "wasm32"))]
        #[doc(hidden)]
        pub static __SWITCHBOARD_NATIVE_ADAPTER: fn(&$crate::HttpRequest) -> ::core::result::Result<::std::vec::Vec<$crate::Event>, $crate::PluginError> = <$ty as $crate::ChannelAdapter>::parse;
    };
}
