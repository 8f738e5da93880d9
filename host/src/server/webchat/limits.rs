//! What one channel's visitors may cost this process: open sockets per
//! channel, and messages per visitor per minute (shared by a visitor's
//! tabs). Over either, the visitor gets a clear error in the widget; the
//! tenant's other channels are not touched.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Open sockets one channel may have on this process.
pub const MAX_SOCKETS_PER_CHANNEL: usize = 1_000;
/// Messages one visitor may send per [`RATE_WINDOW`].
pub const MAX_MESSAGES_PER_MINUTE: usize = 20;
const RATE_WINDOW: Duration = Duration::from_secs(60);
/// Visitors tracked before the idle ones are swept.
const SWEEP_AT: usize = 10_000;

/// The process's visitor limits.
#[derive(Default)]
pub struct VisitorLimits {
    sockets: Mutex<HashMap<String, usize>>,
    /// (channel, visitor address) → the times of their recent messages.
    sent: Mutex<HashMap<(String, String), VecDeque<Instant>>>,
}

/// An open socket's place in its channel's count; dropping it frees it.
pub struct SocketSlot {
    limits: Arc<VisitorLimits>,
    channel: String,
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut sockets = self.limits.sockets.lock();
        if let Some(n) = sockets.get_mut(&self.channel) {
            *n -= 1;
            if *n == 0 {
                sockets.remove(&self.channel);
            }
        }
    }
}

impl VisitorLimits {
    /// A socket slot on `channel`, or `None` when it has too many open.
    pub fn open_socket(self: &Arc<Self>, channel: &str) -> Option<SocketSlot> {
        let mut sockets = self.sockets.lock();
        let n = sockets.entry(channel.to_string()).or_default();
        if *n >= MAX_SOCKETS_PER_CHANNEL {
            return None;
        }
        *n += 1;
        Some(SocketSlot {
            limits: self.clone(),
            channel: channel.to_string(),
        })
    }

    /// Count a message of `visitor` on `channel`; `false` when they are
    /// over the rate.
    pub fn allow_message(&self, channel: &str, visitor: &str) -> bool {
        self.allow_message_at(channel, visitor, Instant::now())
    }

    fn allow_message_at(&self, channel: &str, visitor: &str, now: Instant) -> bool {
        let mut sent = self.sent.lock();
        if sent.len() >= SWEEP_AT {
            sent.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < RATE_WINDOW)
            });
        }
        let times = sent
            .entry((channel.to_string(), visitor.to_string()))
            .or_default();
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= RATE_WINDOW)
        {
            times.pop_front();
        }
        if times.len() >= MAX_MESSAGES_PER_MINUTE {
            return false;
        }
        times.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_are_counted_per_channel_and_freed_on_drop() {
        let limits = Arc::new(VisitorLimits::default());
        let slots: Vec<_> = (0..MAX_SOCKETS_PER_CHANNEL)
            .map(|_| limits.open_socket("ch_a").expect("under the cap"))
            .collect();
        assert!(limits.open_socket("ch_a").is_none(), "over the cap");
        assert!(limits.open_socket("ch_b").is_some(), "another channel");
        drop(slots);
        assert!(limits.open_socket("ch_a").is_some());
    }

    #[test]
    fn messages_are_limited_per_visitor_per_minute() {
        let limits = VisitorLimits::default();
        let t0 = Instant::now();
        for _ in 0..MAX_MESSAGES_PER_MINUTE {
            assert!(limits.allow_message_at("ch", "visitor:a", t0));
        }
        assert!(!limits.allow_message_at("ch", "visitor:a", t0));
        assert!(
            limits.allow_message_at("ch", "visitor:b", t0),
            "another visitor"
        );
        assert!(
            limits.allow_message_at("ch", "visitor:a", t0 + RATE_WINDOW),
            "a minute later"
        );
    }
}
