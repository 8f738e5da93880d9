//! The REST API's routes and its OpenAPI 3.1 document, from one list: each
//! handler's `#[utoipa::path]` names its method and path, and
//! `OpenApiRouter` registers the handler under exactly that method and path
//! while adding it to the document — so the document cannot drift from the
//! router. Served at `/openapi.json`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use axum::extract::DefaultBodyLimit;

use super::{
    AppState, bindings, channel_changes, channel_routes, channels, contacts, conversations, events,
    health, media, members, messages, personas, platform, plugins, scrape, send, tenant_settings,
    tenants, webhook_endpoints, webhooks,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchboard",
        description = "Multi-tenant messaging: channels, personas, conversations, proactive sends, plugins. Tenant endpoints take a tenant API key, `/v1/admin/*` the platform-admin token, both as `Authorization: Bearer …`. Errors are `{\"error\": {\"code\", \"message\"}}`; lists are `{\"data\": [...], \"next_cursor\"}`."
    ),
    modifiers(&BearerSchemes),
    tags(
        (name = "webhooks", description = "Provider webhooks (authenticated by the provider's signature)"),
        (name = "channels"), (name = "personas"), (name = "conversations"), (name = "contacts"), (name = "events", description = "The tenant's ordered stream of changes: sync after a cursor, or a WebSocket"), (name = "webhook-endpoints", description = "Event webhooks: the tenant's events POSTed to its endpoints, signed as Standard Webhooks"), (name = "tenant", description = "The calling tenant's own settings"),
        (name = "messages"), (name = "plugins"), (name = "api-keys"), (name = "audit"), (name = "usage"),
        (name = "admin", description = "Platform-admin endpoints"), (name = "health"),
    )
)]
struct ApiDoc;

/// The two bearer schemes.
struct BearerSchemes;

impl Modify for BearerSchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, what) in [
            ("api_key", "A tenant API key (`sk_…`)"),
            ("admin_token", "The platform-admin token"),
        ] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(what))
                        .build(),
                ),
            );
        }
    }
}

/// Every documented route. Plugin uploads may be up to `max_plugin_bytes`
/// plus room for multipart framing: the handler enforces the cap itself (a
/// 422 naming the limit), so the body limit must not answer first with a
/// bare 413. Everything else keeps the default limit.
pub(super) fn documented(max_plugin_bytes: usize) -> OpenApiRouter<AppState> {
    let (schemas, paths, uploads) = routes!(plugins::upload_plugin, plugins::list_plugins);
    let uploads = uploads.layer(DefaultBodyLimit::max(
        max_plugin_bytes.saturating_add(64 << 10),
    ));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(scrape::metrics))
        .routes(routes!(webhooks::webhook))
        .routes(routes!(webhooks::shared_webhook))
        .routes(routes!(tenants::create_tenant, tenants::list_tenants))
        .routes(routes!(
            platform::get_tenant,
            tenants::delete_tenant,
            tenants::patch_tenant
        ))
        .routes(routes!(channel_routes::put_route))
        .routes(routes!(platform::set_limits))
        .routes(routes!(channels::create_channel, channels::list_channels))
        .routes(routes!(
            channels::get_channel,
            channel_changes::patch_channel,
            channel_changes::delete_channel
        ))
        .routes(routes!(personas::create_persona, personas::list_personas))
        .routes(routes!(
            personas::get_persona,
            personas::update_persona,
            personas::delete_persona
        ))
        .routes(routes!(personas::try_persona))
        .routes(routes!(send::send_message))
        .routes(routes!(messages::get_message))
        .routes(routes!(media::get_media))
        .routes(routes!(messages::dead_letters))
        .routes(routes!(platform::create_api_key, platform::list_api_keys))
        .routes(routes!(platform::revoke_api_key))
        .routes(routes!(platform::list_audit))
        .routes(routes!(platform::usage))
        .routes(routes!(conversations::list_conversations))
        .routes(routes!(conversations::list_messages, conversations::reply))
        .routes(routes!(
            conversations::get_conversation,
            conversations::patch_conversation
        ))
        .routes(routes!(conversations::handoff))
        .routes(routes!(members::invite, members::list))
        .routes(routes!(members::patch, members::remove))
        .routes(routes!(
            tenant_settings::get_tenant_settings,
            tenant_settings::patch_tenant_settings
        ))
        .routes(routes!(contacts::list_contacts))
        .routes(routes!(contacts::get_contact, platform::erase_contact))
        .routes(routes!(contacts::contact_messages))
        .routes(routes!(contacts::merge_contact))
        .routes(routes!(events::events))
        .routes(routes!(events::create_token))
        .routes(routes!(
            webhook_endpoints::create_endpoint,
            webhook_endpoints::list_endpoints
        ))
        .routes(routes!(
            webhook_endpoints::get_endpoint,
            webhook_endpoints::delete_endpoint
        ))
        .routes(routes!(webhook_endpoints::rotate_secret))
        .routes(routes!(webhook_endpoints::list_deliveries))
        .routes(routes!(webhook_endpoints::retry_delivery))
        .routes((schemas, paths, uploads))
        .routes(routes!(plugins::get_plugin))
        .routes(routes!(bindings::activate))
        .routes(routes!(bindings::rollback))
}

/// The document alone (for tests and tooling).
pub fn document() -> utoipa::openapi::OpenApi {
    documented(0).split_for_parts().1
}
