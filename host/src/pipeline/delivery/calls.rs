//! The channel adapter's calls a delivery makes: `render`,
//! `render-template`, `parse-send-response`.

use super::super::Pipeline;
use super::super::tenancy::Binding;
use crate::domain::{HttpRequest, HttpResponse, OutboundMessage};
use crate::runtime::{CallContext, PluginError};

pub(super) fn call_context(p: &Pipeline, binding: &Binding) -> CallContext {
    binding.adapter_call(p.kv.clone())
}

pub(super) async fn render(
    p: &Pipeline,
    binding: &Binding,
    msg: OutboundMessage,
) -> Result<HttpRequest, PluginError> {
    p.runtime
        .run(&binding.adapter, call_context(p, binding), move |inst| {
            inst.render(&msg)
        })
        .await
        .and_then(|r| r)
}

pub(super) async fn render_template(
    p: &Pipeline,
    binding: &Binding,
    msg: crate::domain::TemplateMessage,
) -> Result<HttpRequest, PluginError> {
    p.runtime
        .run(&binding.adapter, call_context(p, binding), move |inst| {
            inst.render_template(&msg)
        })
        .await
        .and_then(|r| r)
}

pub(super) async fn parse_send_response(
    p: &Pipeline,
    binding: &Binding,
    response: HttpResponse,
) -> Result<crate::domain::Receipt, PluginError> {
    p.runtime
        .run(&binding.adapter, call_context(p, binding), move |inst| {
            inst.parse_send_response(&response)
        })
        .await
        .and_then(|r| r)
}
