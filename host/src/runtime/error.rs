//! The runtime's public error type: every way a plugin call can fail.

use crate::domain::GuestError;

/// How a plugin trapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrapKind {
    /// The wasm call stack was exhausted (runaway recursion).
    StackOverflow,
    /// `unreachable` executed: a Rust panic or abort in the guest.
    Unreachable,
    /// Out-of-bounds memory or table access.
    OutOfBounds,
    /// Integer division by zero or overflow, bad conversion.
    Arithmetic,
    /// Any other trap (bad indirect call, a host function's trap, ...).
    Other,
}

impl std::fmt::Display for TrapKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TrapKind::StackOverflow => "stack overflow",
            TrapKind::Unreachable => "unreachable (panic or abort)",
            TrapKind::OutOfBounds => "out-of-bounds access",
            TrapKind::Arithmetic => "arithmetic fault",
            TrapKind::Other => "other trap",
        })
    }
}

/// Why a plugin call failed. Messages name the limit or reason but never the
/// host's internals, so they are safe to show a tenant.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The call used up its fuel budget.
    #[error("plugin ran out of fuel (budget {budget})")]
    OutOfFuel { budget: u64 },
    /// The call ran past its wall-clock deadline.
    #[error("plugin exceeded its {deadline_ms} ms deadline")]
    Deadline { deadline_ms: u64 },
    /// The plugin tried to grow memory past its limit.
    #[error("plugin exceeded its memory limit of {limit} bytes")]
    MemoryLimit { limit: u64 },
    /// The plugin returned more than the output cap allows.
    #[error("plugin output too large: {what} is {size}, the limit is {limit}")]
    OutputTooLarge {
        what: &'static str,
        size: u64,
        limit: u64,
    },
    /// The plugin trapped.
    #[error("plugin trapped: {kind}")]
    Trap { kind: TrapKind, detail: String },
    /// The plugin returned one of its own error variants.
    #[error("{0}")]
    Guest(GuestError),
    /// The component is not a plugin this host can run.
    #[error("incompatible component: {0}")]
    Incompatible(String),
    /// The component exports a different world than the call needs.
    #[error("this plugin is a {actual}, not a {expected}")]
    WrongWorld {
        expected: &'static str,
        actual: &'static str,
    },
    /// The tenant already runs as many plugin calls as its share allows,
    /// and its queue is full or the wait ran out; retry after a moment.
    #[error("too many plugin calls in progress for this tenant; retry in {retry_after_secs} s")]
    Busy { retry_after_secs: u64 },
    /// No pool slot was free, or the host failed; the call may be retried.
    #[error("plugin runtime unavailable: {0}")]
    Unavailable(String),
}

impl TrapKind {
    /// A short stable code for metrics.
    pub fn code(self) -> &'static str {
        match self {
            TrapKind::StackOverflow => "stack-overflow",
            TrapKind::Unreachable => "unreachable",
            TrapKind::OutOfBounds => "out-of-bounds",
            TrapKind::Arithmetic => "arithmetic",
            TrapKind::Other => "other",
        }
    }
}

impl PluginError {
    /// A short stable code for logs, metrics and API errors.
    pub fn code(&self) -> &'static str {
        match self {
            PluginError::OutOfFuel { .. } => "out-of-fuel",
            PluginError::Deadline { .. } => "deadline",
            PluginError::MemoryLimit { .. } => "memory-limit",
            PluginError::OutputTooLarge { .. } => "output-too-large",
            PluginError::Trap { .. } => "trap",
            PluginError::Guest(_) => "guest-error",
            PluginError::Incompatible(_) => "incompatible",
            PluginError::WrongWorld { .. } => "wrong-world",
            PluginError::Busy { .. } => "busy",
            PluginError::Unavailable(_) => "unavailable",
        }
    }
}
