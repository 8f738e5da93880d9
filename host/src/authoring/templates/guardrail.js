// A guardrail in JavaScript: blocks inbound messages that contain a blocked
// word, and masks listed words in both directions. Configuration:
// `block_words` (comma-separated, default "forbidden"), `mask_words`.
import { config, log } from "switchboard:plugin/host@{{wit_version}}";

function words(key, fallback) {
  return (config(key) ?? fallback)
    .split(",")
    .map((w) => w.trim().toLowerCase())
    .filter((w) => w.length > 0);
}

function pattern(word) {
  return new RegExp(`\\b${word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\b`, "gi");
}

function decide(context) {
  if (context.direction === "inbound") {
    const found = words("block_words", "forbidden").find((w) => pattern(w).test(context.text));
    if (found !== undefined) {
      log("info", "blocked", [["word", found]]);
      return { tag: "block", val: { reason: `contains blocked word \`${found}\``, reply: undefined } };
    }
  }
  let text = context.text;
  for (const w of words("mask_words", "")) text = text.replace(pattern(w), (m) => "*".repeat(m.length));
  return text === context.text ? { tag: "allow" } : { tag: "rewrite", val: text };
}

export const guard = {
  checkInbound: decide,
  checkOutbound: decide,
};
