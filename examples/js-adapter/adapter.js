// A complete adapter for "SimpleChat" in JavaScript: the same made-up JSON
// provider as examples/simple-json-adapter (webhooks signed with
// `X-Signature: <hex HMAC-SHA256 of the body>`, sends with
// `POST {api_base_url}/messages`). Built with componentize-js against wit/;
// the host-side tests are host/tests/all/polyglot.rs and
// host/tests/http/polyglot.rs.
import { config, hmac, constantTimeEq, log } from "switchboard:plugin/host@0.1.2";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

// A failed call: the thrown value's `payload` becomes the WIT
// `plugin-error` (jco's convention for `result` errors).
class PluginError extends Error {
  constructor(tag, val) {
    super(`${tag}: ${typeof val === "string" ? val : JSON.stringify(val)}`);
    this.payload = { tag, val };
  }
}

function requireConfig(key) {
  const value = config(key);
  if (value === undefined) throw new PluginError("config", `missing config key \`${key}\``);
  return value;
}

function header(request, name) {
  const wanted = name.toLowerCase();
  return request.headers.find((h) => h.name.toLowerCase() === wanted)?.value;
}

function hexToBytes(hex) {
  if (hex.length % 2 !== 0 || /[^0-9a-fA-F]/.test(hex)) return undefined;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function json(bytes) {
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch (e) {
    throw new PluginError("bad-request", `body is not valid JSON: ${e.message}`);
  }
}

export const adapter = {
  info() {
    return {
      name: "simple-json-js",
      maxTextLength: 4096,
      supportsMedia: false,
      outboundHosts: ["api.simplechat.example"],
      configKeys: ["secret", "api_key", "api_base_url"],
      routeConfigKey: undefined,
      statuses: ["queued"],
    };
  },

  verify(request) {
    const secret = requireConfig("secret");
    const signature = header(request, "x-signature");
    if (signature === undefined) throw new PluginError("invalid-signature", "missing X-Signature");
    const given = hexToBytes(signature);
    const expected = hmac("sha256", encoder.encode(secret), request.body);
    if (given === undefined || !constantTimeEq(given, expected)) {
      throw new PluginError("invalid-signature", "X-Signature does not match the body");
    }
    return undefined;
  },

  parse(request) {
    const hook = json(request.body);
    if (!Array.isArray(hook?.messages)) throw new PluginError("bad-request", "`messages` must be a list");
    log("debug", "parsed webhook", [["messages", String(hook.messages.length)]]);
    return hook.messages.map((m) => {
      if (typeof m.id !== "string" || typeof m.from !== "string" || typeof m.text !== "string") {
        throw new PluginError("bad-request", "each message needs string `id`, `from` and `text`");
      }
      return {
        tag: "message",
        val: {
          externalId: m.id,
          sender: { address: m.from, phone: undefined, userId: undefined, displayName: m.name ?? undefined },
          recipient: undefined,
          groupId: undefined,
          timestamp: undefined,
          text: m.text,
          attachments: [],
          location: undefined,
          replyTo: undefined,
          reaction: undefined,
          interactive: undefined,
          consent: undefined,
          kind: "text",
          routeKey: undefined,
        },
      };
    });
  },

  render(message) {
    const base = config("api_base_url") ?? "https://api.simplechat.example";
    return {
      method: "POST",
      url: `${base}/messages`,
      headers: [
        { name: "authorization", value: `Bearer ${requireConfig("api_key")}` },
        { name: "content-type", value: "application/json" },
      ],
      body: encoder.encode(JSON.stringify({ to: message.to, text: message.text ?? "" })),
    };
  },

  parseSendResponse(response) {
    if (response.status < 200 || response.status > 299) {
      throw new PluginError("provider", {
        retryable: response.status >= 500,
        retryAfterSecs: undefined,
        code: String(response.status),
        message: decoder.decode(response.body),
        consentRevoked: false,
      });
    }
    const sent = json(response.body);
    if (typeof sent?.id !== "string") throw new PluginError("bad-request", "the answer has no `id`");
    return { externalId: sent.id, status: "queued" };
  },

  routeKey(_request) {
    return [];
  },
};

// Since contract 0.1.2: which configuration values are secrets (the API
// shows them only as set/unset); the rest are shown as they were set.
export const configuration = {
  secretKeys() {
    return ["secret", "api_key"];
  },
};

export const templates = {
  renderTemplate(_message) {
    throw new PluginError("unsupported", "SimpleChat has no templates");
  },
};

// Since contract 0.1.2: the media SimpleChat sends (none) and fetches (none).
export const media = {
  acceptedMedia() {
    return [];
  },
  mediaRequest(_attachment, _previous) {
    throw new PluginError("unsupported", "SimpleChat has no media");
  },
};
