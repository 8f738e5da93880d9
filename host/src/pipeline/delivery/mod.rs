//! The delivery stage: one part of an outbound message through the
//! channel's adapter: consent, `render` → HTTP (declared hosts only) →
//! `parse-send-response`. It decides ([`PartOutcome`]) and records
//! nothing: `pipeline::outbound` reads the part, calls this, and records
//! the outcome. Exactly one provider call per message that succeeds: the
//! caller skips a part already sent, extends the job's lease (fenced)
//! before each call, and an acceptance whose record failed is kept by the
//! [`Sender`] so the retry records it instead of sending again.

use std::time::Duration;

use crate::domain::MessageStatus;
use crate::storage::Attempt;

mod part;
pub(crate) mod sender;

pub use part::attempt;
pub use sender::{Accepted, Sender};

/// What one attempt at a part came to.
#[derive(Debug)]
pub enum PartOutcome {
    /// Already final (sent by an earlier attempt, failed, refused):
    /// nothing to do, go on with the next part.
    Final,
    /// The provider accepted it (or the host, for web chat): record its id
    /// and status.
    Accepted(Accepted),
    /// Not sent, and never will be: the part ends in `status` (`refused`
    /// or `failed`) with `attempt`'s code and this message.
    Ended {
        status: MessageStatus,
        attempt: Attempt,
        message: String,
        /// The provider said the contact revoked consent.
        consent_revoked: bool,
    },
    /// Not sent now: retry the job (after at least `retry_after`), having
    /// recorded `attempt` when a call was made.
    Retry {
        attempt: Option<Attempt>,
        error: String,
        retry_after: Option<Duration>,
    },
}
