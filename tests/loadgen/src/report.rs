//! The result: a table for people, one JSON line for scripts.

use std::collections::HashSet;
use std::time::Duration;

use serde::Serialize;

use crate::api::Census;
use crate::load::Outcome;

/// The final JSON line; field order is the documented output order.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub label: String,
    pub requests: usize,
    pub concurrency: usize,
    /// `null` for a closed-loop run.
    pub rate: Option<f64>,
    pub seconds: f64,
    /// Acknowledged (200) webhooks per second of the timed phase.
    pub throughput_rps: f64,
    /// Latencies are `null` when no request got a response at all.
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// Non-200 responses plus transport failures in the timed phase.
    pub errors: u64,
    /// Inbound messages the API lists for the channel after the timed phase.
    pub stored: u64,
    /// Sent message ids the API does not list.
    pub lost: u64,
    /// Stored inbound messages beyond one per distinct external id.
    pub duplicated: u64,
    /// Every re-sent webhook got 200 and the stored set did not change.
    pub retries_ok: bool,
    /// `--replies`: persona replies delivered to the Graph API stand-in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replies: Option<Replies>,
    #[serde(skip)]
    listing_repeats: u64,
}

/// Replies delivered in a `--replies` run.
#[derive(Debug, Clone, Serialize)]
pub struct Replies {
    /// Provider calls the stand-in received.
    pub delivered: u64,
    /// Delivered replies per second, from the first webhook to the last reply.
    pub per_sec: f64,
    /// Seconds from the last acknowledged webhook to the last reply.
    pub drain_s: f64,
    /// Replies beyond one per acknowledged message.
    pub duplicated: u64,
}

impl Summary {
    pub fn new(
        label: &str,
        requests: usize,
        concurrency: usize,
        rate: Option<f64>,
        outcome: &Outcome,
        census: &Census,
        expected_ids: &HashSet<String>,
    ) -> Self {
        let mut sorted = outcome.latencies.clone();
        sorted.sort_unstable();
        let seconds = outcome.elapsed.as_secs_f64();
        let found = census
            .external_ids
            .iter()
            .filter(|id| expected_ids.contains(*id))
            .count() as u64;
        Self {
            label: label.to_owned(),
            requests,
            concurrency,
            rate,
            seconds: round3(seconds),
            throughput_rps: round3(if seconds > 0.0 {
                outcome.ok as f64 / seconds
            } else {
                0.0
            }),
            p50_ms: percentile_ms(&sorted, 50.0),
            p90_ms: percentile_ms(&sorted, 90.0),
            p99_ms: percentile_ms(&sorted, 99.0),
            max_ms: sorted.last().map(|d| ms(*d)),
            errors: outcome.error_count(),
            stored: census.inbound,
            lost: expected_ids.len() as u64 - found,
            duplicated: census.inbound - census.external_ids.len() as u64,
            retries_ok: false,
            replies: None,
            listing_repeats: census.repeated_in_listing,
        }
    }

    pub fn with_retries(mut self, ok: bool) -> Self {
        self.retries_ok = ok;
        self
    }

    pub fn with_replies(mut self, replies: Option<Replies>) -> Self {
        self.replies = replies;
        self
    }

    /// Exactly `requests` stored, each once, nothing refused, retries harmless.
    /// (`stored == requests` also catches inbound messages we did not send.)
    pub fn passed(&self) -> bool {
        self.errors == 0
            && self.lost == 0
            && self.duplicated == 0
            && self.stored == self.requests as u64
            && self.retries_ok
            && self.listing_repeats == 0
            && self
                .replies
                .as_ref()
                .is_none_or(|r| r.delivered == self.requests as u64 && r.duplicated == 0)
    }
}

/// Everything the table shows beyond the summary.
pub struct Context<'a> {
    pub url: &'a str,
    pub tenant_slug: &'a str,
    pub channel_id: &'a str,
    pub contacts: usize,
    pub outcome: &'a Outcome,
    pub before: &'a Census,
    pub after: &'a Census,
    pub retries: &'a Outcome,
    pub retries_sent: usize,
    pub summary: &'a Summary,
}

pub fn print_table(cx: &Context<'_>) {
    let s = cx.summary;
    let row = |name: &str, value: String| println!("  {name:<20} {value}");
    let ms_or_dash = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.3} ms"));

    println!();
    println!(
        "Switchboard webhook load test{}",
        if s.label.is_empty() {
            String::new()
        } else {
            format!(" [{}]", s.label)
        }
    );
    row(
        "target",
        format!(
            "{} (tenant {}, channel {})",
            cx.url, cx.tenant_slug, cx.channel_id
        ),
    );
    row(
        "requests",
        format!("{} over {} contacts", s.requests, cx.contacts),
    );
    row("concurrency", s.concurrency.to_string());
    row(
        "rate",
        s.rate.map_or_else(
            || "closed loop".to_owned(),
            |r| format!("{r}/s open loop (latency from scheduled time)"),
        ),
    );
    row("total time", format!("{:.3} s", s.seconds));
    row(
        "throughput",
        format!("{:.1} acknowledged/s", s.throughput_rps),
    );
    row("latency p50", ms_or_dash(s.p50_ms));
    row("latency p90", ms_or_dash(s.p90_ms));
    row("latency p99", ms_or_dash(s.p99_ms));
    row("latency max", ms_or_dash(s.max_ms));
    row("acknowledged (200)", cx.outcome.ok.to_string());
    row("errors", format!("{}{}", s.errors, by_kind(cx.outcome)));
    if let Some(first) = &cx.outcome.first_error {
        row("first error", first.clone());
    }
    row(
        "stored inbound",
        format!(
            "{} in {} conversations ({} other-direction messages)",
            s.stored, cx.before.conversations, cx.before.other_direction
        ),
    );
    row("distinct ids", cx.before.external_ids.len().to_string());
    row("lost", s.lost.to_string());
    row("duplicated", s.duplicated.to_string());
    if s.listing_repeats > 0 {
        row(
            "listing repeats",
            format!(
                "{} items returned twice while paging (pagination bug)",
                s.listing_repeats
            ),
        );
    }
    row(
        "retries",
        format!(
            "{}/{} acknowledged{}, stored inbound after: {} ({} distinct)",
            cx.retries.ok,
            cx.retries_sent,
            by_kind(cx.retries),
            cx.after.inbound,
            cx.after.external_ids.len()
        ),
    );
    row(
        "result",
        if s.passed() {
            "PASS".to_owned()
        } else {
            "FAIL".to_owned()
        },
    );
    println!();
}

fn by_kind(outcome: &Outcome) -> String {
    if outcome.errors.is_empty() {
        return String::new();
    }
    let kinds: Vec<String> = outcome
        .errors
        .iter()
        .map(|(kind, n)| format!("{kind}: {n}"))
        .collect();
    format!(" ({})", kinds.join(", "))
}

/// Nearest-rank percentile of ascending `sorted`.
fn percentile_ms(sorted: &[Duration], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(ms(sorted[rank.clamp(1, sorted.len()) - 1]))
}

fn ms(d: Duration) -> f64 {
    round3(d.as_secs_f64() * 1000.0)
}

/// Three decimals keep the JSON line readable; microseconds are below the noise.
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile_ms(&sorted, 50.0), Some(50.0));
        assert_eq!(percentile_ms(&sorted, 99.0), Some(99.0));
        assert_eq!(percentile_ms(&sorted[..1], 90.0), Some(1.0));
        assert_eq!(percentile_ms(&[], 50.0), None);
    }
}
