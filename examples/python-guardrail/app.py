"""A guardrail in Python: blocks inbound messages that contain a blocked
word, and masks listed words in both directions.

Configuration (this guardrail binding's own `config`):
  block_words  comma-separated words that block a message (default "forbidden")
  mask_words   comma-separated words replaced by asterisks (default none)

Built with componentize-py against wit/; the host-side tests are
host/tests/all/polyglot.rs and host/tests/http/polyglot.rs.
"""

import re

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host
from wit_world.imports.types import (
    BlockDetails,
    Direction,
    GuardrailContext,
    Verdict,
    Verdict_Allow,
    Verdict_Block,
    Verdict_Rewrite,
)


def words(key: str, default: str) -> list[str]:
    raw = host.config(key)
    return [w.strip().lower() for w in (default if raw is None else raw).split(",") if w.strip()]


def mask(text: str, masked: list[str]) -> str:
    for word in masked:
        text = re.sub(rf"\b{re.escape(word)}\b", lambda m: "*" * len(m.group(0)), text, flags=re.IGNORECASE)
    return text


def count_strike(contact: str) -> int:
    """Blocked messages from `contact` so far, kept in the plugin's kv store
    (scoped by the host to this tenant and plugin). A refused kv call (quota,
    store unavailable) must not change the verdict, so it only logs."""
    key = f"strikes:{contact}"[:256]
    try:
        strikes = int((host.kv_get(key) or b"0").decode()) + 1
        host.kv_set(key, str(strikes).encode())
        return strikes
    except Err as e:
        host.log(host.LogLevel.WARN, "kv refused", [("error", repr(e.value))])
        return 0


def decide(context: GuardrailContext) -> Verdict:
    if context.direction == Direction.INBOUND:
        found = [w for w in words("block_words", "forbidden") if re.search(rf"\b{re.escape(w)}\b", context.text, re.IGNORECASE)]
        if found:
            strikes = count_strike(context.contact_address)
            host.log(host.LogLevel.INFO, "blocked", [("word", found[0]), ("strikes", str(strikes))])
            return Verdict_Block(BlockDetails(reason=f"contains blocked word `{found[0]}`", reply=None))
    rewritten = mask(context.text, words("mask_words", ""))
    if rewritten != context.text:
        return Verdict_Rewrite(rewritten)
    return Verdict_Allow()


class Guard(exports.Guard):
    def check_inbound(self, context: GuardrailContext) -> Verdict:
        return decide(context)

    def check_outbound(self, context: GuardrailContext) -> Verdict:
        return decide(context)
