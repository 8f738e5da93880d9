"""A channel adapter in Python for "SimpleChat", a made-up JSON provider:
webhooks signed with `X-Signature: <hex HMAC-SHA256 of the body>`, sends
with `POST {api_base_url}/messages`."""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host
from wit_world.imports.types import (
    AdapterInfo,
    Attachment,
    ContactAddress,
    DeliveryStatus,
    Event,
    Event_Message,
    Header,
    HttpRequest,
    HttpResponse,
    InboundMessage,
    OutboundMessage,
    PluginError_BadRequest,
    PluginError_Config,
    PluginError_InvalidSignature,
    PluginError_Provider,
    PluginError_Unsupported,
    ProviderError,
    Receipt,
    TemplateMessage,
)


def require_config(key: str) -> str:
    value = host.config(key)
    if value is None:
        raise Err(PluginError_Config(f"missing config key `{key}`"))
    return value


def header(request: HttpRequest, name: str) -> str | None:
    return next((h.value for h in request.headers if h.name.lower() == name), None)


def body_json(body: bytes):
    try:
        return json.loads(body)
    except ValueError as e:
        raise Err(PluginError_BadRequest(f"body is not valid JSON: {e}"))


class Adapter(exports.Adapter):
    def info(self) -> AdapterInfo:
        return AdapterInfo(
            name="{{name}}",
            max_text_length=4096,
            supports_media=False,
            outbound_hosts=["api.simplechat.example"],
            config_keys=["secret", "api_key", "api_base_url"],
            route_config_key=None,
            statuses=[DeliveryStatus.QUEUED],
        )

    def verify(self, request: HttpRequest) -> HttpResponse | None:
        secret = require_config("secret")
        signature = header(request, "x-signature")
        if signature is None:
            raise Err(PluginError_InvalidSignature("missing X-Signature"))
        try:
            given = bytes.fromhex(signature)
        except ValueError:
            given = b""
        expected = host.hmac(host.HashAlgorithm.SHA256, secret.encode(), request.body)
        if not host.constant_time_eq(given, expected):
            raise Err(PluginError_InvalidSignature("X-Signature does not match the body"))
        return None

    def parse(self, request: HttpRequest) -> list[Event]:
        hook = body_json(request.body)
        messages = hook.get("messages") if isinstance(hook, dict) else None
        if not isinstance(messages, list):
            raise Err(PluginError_BadRequest("`messages` must be a list"))
        events: list[Event] = []
        for m in messages:
            if not all(isinstance(m.get(k), str) for k in ("id", "from", "text")):
                raise Err(PluginError_BadRequest("each message needs string `id`, `from` and `text`"))
            sender = ContactAddress(address=m["from"], phone=None, user_id=None, display_name=m.get("name"))
            events.append(Event_Message(InboundMessage(
                external_id=m["id"], sender=sender, recipient=None, group_id=None, timestamp=None,
                text=m["text"], attachments=[], location=None, reply_to=None, reaction=None,
                interactive=None, consent=None, kind="text", route_key=None,
            )))
        return events

    def render(self, message: OutboundMessage) -> HttpRequest:
        base = host.config("api_base_url") or "https://api.simplechat.example"
        body = json.dumps({"to": message.to, "text": message.text or ""}).encode()
        return HttpRequest(
            method="POST",
            url=f"{base}/messages",
            headers=[
                Header(name="authorization", value=f"Bearer {require_config('api_key')}"),
                Header(name="content-type", value="application/json"),
            ],
            body=body,
        )

    def parse_send_response(self, response: HttpResponse) -> Receipt:
        if not 200 <= response.status < 300:
            raise Err(PluginError_Provider(ProviderError(
                retryable=response.status >= 500, retry_after_secs=None, code=str(response.status),
                message=response.body.decode(errors="replace"), consent_revoked=False,
            )))
        sent = body_json(response.body)
        if not isinstance(sent, dict) or not isinstance(sent.get("id"), str):
            raise Err(PluginError_BadRequest("the answer has no `id`"))
        return Receipt(external_id=sent["id"], status=DeliveryStatus.QUEUED)

    def route_key(self, request: HttpRequest) -> list[str]:
        return []


class Configuration(exports.Configuration):
    def secret_keys(self) -> list[str] | None:
        # Since contract 0.1.2: these values are shown only as set/unset.
        return ["secret", "api_key"]


class Templates(exports.Templates):
    def render_template(self, message: TemplateMessage) -> HttpRequest:
        raise Err(PluginError_Unsupported("SimpleChat has no templates"))


class Media(exports.Media):
    # Since contract 0.1.2: the media SimpleChat sends (none) and fetches (none).
    def accepted_media(self) -> list[str]:
        return []

    def media_request(self, attachment: Attachment, previous: HttpResponse | None):
        raise Err(PluginError_Unsupported("SimpleChat has no media"))
