//! The orchestrator: turns a tenant's persona into the system prompt —
//! the platform's mandatory safety rules, then the persona, then a
//! reminder that the rules win — and calls the persona's responder (fixed
//! text or an OpenAI-compatible model) for the reply.
//!
//! The pipeline's worker calls the orchestrator; the orchestrator calls no
//! other pipeline stage (guardrails and delivery stay the worker's job), so
//! it can be tested, and swapped, on its own.

mod prompt;
mod responder;

pub use prompt::{
    EmojiUsage, PersonaStyle, SAFETY_REMINDER, SAFETY_RULES, base_prompt, tenant_prompt,
    wrap_with_safety, wrap_with_safety_blocking,
};
pub use responder::{Reply, Responder, ResponderConfig, ResponderError, RetryPolicy, StaticMedia};
