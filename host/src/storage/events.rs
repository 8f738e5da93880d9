//! Events: each tenant's durable, ordered stream of changes (issue 13),
//! written in the same transaction as the change it describes, read by
//! `GET /v1/events` (after a cursor) and streamed over its WebSocket.
//!
//! Order without gaps: [`append`] takes the tenant's next numbers from
//! `event_sequences` as the last statement of the caller's transaction.
//! That row stays locked until commit, so a tenant's events commit in the
//! order of their numbers and a reader that saw number n has seen every
//! earlier one. Waking readers is [`EventHub`]'s job; the table is the truth.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use serde::Serialize;
use sqlx::{Any, Row, Transaction};
use tokio::sync::watch;

use super::{Db, Dialect, StorageError, json_rows, now_ms};
use crate::crypto::{Field, TenantCipher};
use crate::domain::EventType;

/// The PostgreSQL channel other replicas' commits are announced on
/// (payload: the tenant id and its last event number).
pub const NOTIFY_CHANNEL: &str = "switchboard_events";

/// An event as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EventRecord {
    /// The opaque cursor: pass it as `after` to read what follows.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created_at: i64,
    /// The resource as the REST API shows it.
    pub data: serde_json::Value,
}

/// An event to append.
pub(crate) struct NewEvent {
    pub kind: EventType,
    pub data: serde_json::Value,
}

/// The events a transaction will append, per tenant: collected as the
/// changes are made, appended by [`Pending::append`] just before commit.
#[derive(Default)]
pub(crate) struct Pending {
    tenants: Vec<(TenantCipher, Vec<NewEvent>)>,
}

impl Pending {
    pub(crate) fn push(&mut self, cipher: &TenantCipher, kind: EventType, data: impl Serialize) {
        let event = NewEvent {
            kind,
            data: serde_json::to_value(data).unwrap_or_default(),
        };
        match self
            .tenants
            .iter_mut()
            .find(|(c, _)| c.tenant_id() == cipher.tenant_id())
        {
            Some((_, events)) => events.push(event),
            None => self.tenants.push((cipher.clone(), vec![event])),
        }
    }

    /// Append them all inside `tx`, tenants in id order (two transactions
    /// then never wait for each other's sequence rows in opposite orders).
    /// Call it last, just before commit, and publish the result after.
    pub(crate) async fn append(
        mut self,
        tx: &mut Transaction<'_, Any>,
        now: i64,
    ) -> Result<Vec<Appended>, StorageError> {
        self.tenants
            .sort_by(|(a, _), (b, _)| a.tenant_id().cmp(b.tenant_id()));
        let mut done = Vec::with_capacity(self.tenants.len());
        for (cipher, events) in self.tenants {
            done.extend(append(tx, &cipher, events, now).await?);
        }
        Ok(done)
    }
}

/// A tenant's events up to `seq` were appended; publish it after commit.
#[must_use = "publish after the transaction commits, or readers wait for the next event"]
#[derive(Debug, Clone)]
pub(crate) struct Appended {
    pub tenant_id: String,
    pub seq: i64,
    /// The events themselves, in order, for this process's recent window.
    pub events: Vec<EventRecord>,
}

/// The cursor of event number `seq`: opaque to clients, ordered per tenant.
pub fn cursor(seq: i64) -> String {
    format!("evt_{seq:016x}")
}

/// The event number of a cursor; `None` if it is not one.
pub fn parse_cursor(cursor: &str) -> Option<i64> {
    let hex = cursor.strip_prefix("evt_")?;
    if hex.len() != 16 {
        return None;
    }
    i64::from_str_radix(hex, 16).ok().filter(|n| *n >= 0)
}

/// Append `events` to the cipher's tenant's stream inside the caller's
/// transaction: call it last, just before commit (it locks the tenant's
/// sequence row until then), and publish the result after commit.
async fn append(
    tx: &mut Transaction<'_, Any>,
    cipher: &TenantCipher,
    events: Vec<NewEvent>,
    now: i64,
) -> Result<Option<Appended>, StorageError> {
    if events.is_empty() {
        return Ok(None);
    }
    let tenant_id = cipher.tenant_id();
    let n = events.len() as i64;
    let last: i64 = sqlx::query(
        "INSERT INTO event_sequences (tenant_id, seq) VALUES ($1, $2) \
         ON CONFLICT (tenant_id) DO UPDATE SET seq = event_sequences.seq + $2 RETURNING seq",
    )
    .bind(tenant_id)
    .bind(n)
    .fetch_one(&mut **tx)
    .await?
    .get("seq");
    let first = last - n + 1;
    let rows: Vec<serde_json::Value> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let seq = first + i as i64;
            serde_json::json!({
                "s": seq, "k": e.kind.as_str(),
                "d": cipher.seal(Field::EventData, &cursor(seq), &e.data.to_string()),
            })
        })
        .collect();
    let sql = format!(
        "INSERT INTO events (tenant_id, seq, type, data, created_at) \
         SELECT $2, CAST(value ->> 's' AS BIGINT), value ->> 'k', value ->> 'd', $3 FROM {}",
        json_rows(tx)
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(serde_json::Value::Array(rows).to_string())
        .bind(tenant_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    if tx.backend_name() == "PostgreSQL" {
        // Delivered to every replica's listener at commit, not before.
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(NOTIFY_CHANNEL)
            .bind(format!("{tenant_id} {last}"))
            .execute(&mut **tx)
            .await?;
    }
    Ok(Some(Appended {
        tenant_id: tenant_id.to_string(),
        seq: last,
        // Moved, not copied: the records are what the hub's window keeps.
        events: events
            .into_iter()
            .enumerate()
            .map(|(i, e)| EventRecord {
                id: cursor(first + i as i64),
                kind: e.kind.as_str().to_string(),
                created_at: now,
                data: e.data,
            })
            .collect(),
    }))
}

impl Db {
    /// Tell this process's readers about events committed.
    pub(crate) fn published(&self, appended: Vec<Appended>) {
        for a in appended {
            self.hub.publish_events(&a.tenant_id, a.seq, a.events);
        }
    }

    /// The events hub of this process.
    pub fn event_hub(&self) -> &EventHub {
        &self.hub
    }

    /// The cipher's tenant's events after number `after`, oldest first,
    /// at most `limit`, only of `types` when given.
    pub async fn events_after(
        &self,
        cipher: &TenantCipher,
        after: i64,
        limit: u32,
        types: &[EventType],
    ) -> Result<Vec<EventRecord>, StorageError> {
        let limit = limit.clamp(1, 1000);
        // One placeholder per type asked for (there are six at most).
        let filter = if types.is_empty() {
            "true".to_string()
        } else {
            let slots: Vec<String> = (0..types.len()).map(|i| format!("${}", i + 4)).collect();
            format!("type IN ({})", slots.join(", "))
        };
        let sql = format!(
            "SELECT seq, type, data, created_at FROM events WHERE tenant_id = $1 AND seq > $2 AND {filter} ORDER BY seq LIMIT $3"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(cipher.tenant_id())
            .bind(after)
            .bind(i64::from(limit));
        for t in types {
            query = query.bind(t.as_str());
        }
        let rows = query.fetch_all(&self.read).await?;
        rows.iter()
            .map(|r| {
                let seq: i64 = r.get("seq");
                let id = cursor(seq);
                let data = cipher.open(Field::EventData, &id, r.get("data"))?;
                Ok(EventRecord {
                    id,
                    kind: r.get("type"),
                    created_at: r.get("created_at"),
                    data: serde_json::from_str(&data).unwrap_or_default(),
                })
            })
            .collect()
    }

    /// The tenant's last event number (0 before its first event).
    pub async fn last_event(&self, tenant_id: &str) -> Result<i64, StorageError> {
        Ok(
            sqlx::query("SELECT seq FROM event_sequences WHERE tenant_id = $1")
                .bind(tenant_id)
                .fetch_optional(&self.read)
                .await?
                .map_or(0, |r| r.get("seq")),
        )
    }

    /// A token that opens the tenant's event WebSocket for `ttl_ms` (for
    /// browsers, which cannot send an Authorization header there).
    pub async fn create_event_token(
        &self,
        tenant_id: &str,
        ttl_ms: i64,
    ) -> Result<(String, i64), StorageError> {
        let token = super::new_secret_id("evtok");
        let expires_at = now_ms() + ttl_ms;
        sqlx::query("DELETE FROM event_tokens WHERE expires_at < $1")
            .bind(now_ms())
            .execute(&self.write)
            .await?;
        sqlx::query(
            "INSERT INTO event_tokens (token_hash, tenant_id, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(token_hash(&token))
        .bind(tenant_id)
        .bind(expires_at)
        .execute(&self.write)
        .await?;
        Ok((token, expires_at))
    }

    /// The live tenant an unexpired event token was made for.
    pub async fn event_token_tenant(&self, token: &str) -> Result<Option<String>, StorageError> {
        Ok(sqlx::query(
            "SELECT k.tenant_id FROM event_tokens k JOIN tenants t ON t.id = k.tenant_id \
             WHERE k.token_hash = $1 AND k.expires_at > $2 AND t.status = 'active'",
        )
        .bind(token_hash(token))
        .bind(now_ms())
        .fetch_optional(&self.read)
        .await?
        .map(|r| r.get("tenant_id")))
    }
}

/// Tokens are looked up by hash, so the table holds nothing usable.
fn token_hash(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// Wakes this process's event readers: per tenant, the last event number
/// known to be committed (by this process, or by another replica through
/// PostgreSQL `LISTEN`), and a window of the latest events this process
/// committed, already serialised, so many sockets of one tenant are fed
/// from memory instead of each reading the table. The window is only ever
/// a contiguous run of numbers; a reader whose cursor it does not cover
/// (older, or events committed by another replica) reads the table.
/// Only tenants someone listens to have an entry.
#[derive(Default)]
pub struct EventHub {
    tenants: Mutex<HashMap<String, Feed>>,
}

/// How many recent events a followed tenant's window keeps.
const WINDOW: usize = 512;

struct Feed {
    committed: watch::Sender<i64>,
    window: VecDeque<Recent>,
}

/// An event in a tenant's window: its number, type and JSON frame.
#[derive(Clone)]
pub struct Recent {
    pub seq: i64,
    pub kind: EventType,
    pub frame: Arc<str>,
}

impl EventHub {
    /// Events up to `seq` of `tenant_id` are committed (another replica's).
    pub fn publish(&self, tenant_id: &str, seq: i64) {
        self.publish_events(tenant_id, seq, Vec::new());
    }

    /// Events up to `seq` of `tenant_id` are committed; `events` are the
    /// last of them, in order (this process's own commit).
    pub(crate) fn publish_events(&self, tenant_id: &str, seq: i64, events: Vec<EventRecord>) {
        let mut tenants = self.tenants.lock();
        let Some(feed) = tenants.get_mut(tenant_id) else {
            return;
        };
        if feed.committed.receiver_count() == 0 {
            tenants.remove(tenant_id);
            return;
        }
        for e in events {
            let (Some(n), Some(kind)) = (parse_cursor(&e.id), EventType::parse(&e.kind)) else {
                continue;
            };
            // Keep the window contiguous: a gap (another replica's events,
            // or commits published out of order) starts it afresh.
            if feed.window.back().is_some_and(|last| last.seq + 1 != n) {
                feed.window.clear();
            }
            feed.window.push_back(Recent {
                seq: n,
                kind,
                frame: serde_json::to_string(&e).unwrap_or_default().into(),
            });
            if feed.window.len() > WINDOW {
                feed.window.pop_front();
            }
        }
        feed.committed.send_if_modified(|known| {
            let newer = seq > *known;
            if newer {
                *known = seq;
            }
            newer
        });
    }

    /// Follow `tenant_id`'s last committed event number.
    pub fn subscribe(&self, tenant_id: &str) -> watch::Receiver<i64> {
        self.tenants
            .lock()
            .entry(tenant_id.to_string())
            .or_insert_with(|| Feed {
                committed: watch::channel(0).0,
                window: VecDeque::new(),
            })
            .committed
            .subscribe()
    }

    /// The tenant's events after `after` (of `types`, when given) from the
    /// window, when it holds every committed event after `after`; `None`
    /// when the table must be read instead.
    pub fn recent_after(
        &self,
        tenant_id: &str,
        after: i64,
        types: &[EventType],
    ) -> Option<Vec<Recent>> {
        let tenants = self.tenants.lock();
        let feed = tenants.get(tenant_id)?;
        let (first, last) = (feed.window.front()?.seq, feed.window.back()?.seq);
        let known = *feed.committed.borrow();
        if after + 1 < first || last < known {
            return None;
        }
        Some(
            feed.window
                .iter()
                .filter(|e| e.seq > after && (types.is_empty() || types.contains(&e.kind)))
                .cloned()
                .collect(),
        )
    }
}

/// Follow other replicas' commits (PostgreSQL `LISTEN`), reconnecting
/// after a lost connection; every reader also re-reads the table when it
/// resubscribes, so a notification lost in between delays, never loses.
pub fn listen(db: &Db, url: String) {
    if db.dialect != Dialect::Postgres {
        return;
    }
    let hub = db.hub.clone();
    tokio::spawn(async move {
        loop {
            match sqlx::postgres::PgListener::connect(&url).await {
                Ok(mut listener) => {
                    if let Err(e) = listener.listen(NOTIFY_CHANNEL).await {
                        tracing::warn!(error = %e, "LISTEN for events failed");
                    } else {
                        while let Ok(n) = listener.recv().await {
                            if let Some((tenant, seq)) = n.payload().split_once(' ')
                                && let Ok(seq) = seq.parse()
                            {
                                hub.publish(tenant, seq);
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "connecting the event listener failed"),
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    });
}

/// Hub handle shared by clones of a [`Db`].
pub(crate) type SharedHub = Arc<EventHub>;

#[cfg(test)]
mod tests {
    use super::{EventHub, EventRecord, cursor};
    use crate::domain::EventType;

    fn record(seq: i64, kind: EventType) -> EventRecord {
        EventRecord {
            id: cursor(seq),
            kind: kind.as_str().into(),
            created_at: 0,
            data: serde_json::json!({ "n": seq }),
        }
    }

    fn seqs(v: Option<Vec<super::Recent>>) -> Option<Vec<i64>> {
        v.map(|v| v.iter().map(|e| e.seq).collect())
    }

    #[test]
    fn the_window_answers_only_what_it_holds_without_gaps() {
        let hub = EventHub::default();
        let _rx = hub.subscribe("t");
        let m = EventType::MessageCreated;
        hub.publish_events(
            "t",
            3,
            vec![
                record(1, m),
                record(2, m),
                record(3, EventType::ContactUpdated),
            ],
        );
        assert_eq!(seqs(hub.recent_after("t", 0, &[])), Some(vec![1, 2, 3]));
        assert_eq!(seqs(hub.recent_after("t", 2, &[])), Some(vec![3]));
        assert_eq!(seqs(hub.recent_after("t", 0, &[m])), Some(vec![1, 2]));
        assert_eq!(seqs(hub.recent_after("t", 3, &[])), Some(vec![]));
        // Another replica committed 4: the window no longer holds all.
        hub.publish("t", 4);
        assert_eq!(seqs(hub.recent_after("t", 3, &[])), None);
        // Our own 5 after a gap starts the window afresh.
        hub.publish_events("t", 5, vec![record(5, m)]);
        assert_eq!(seqs(hub.recent_after("t", 4, &[])), Some(vec![5]));
        assert_eq!(
            seqs(hub.recent_after("t", 3, &[])),
            None,
            "4 is not in the window"
        );
        // Nobody follows another tenant: nothing kept for it.
        hub.publish_events("u", 1, vec![record(1, m)]);
        assert_eq!(seqs(hub.recent_after("u", 0, &[])), None);
    }

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        assert_eq!(super::parse_cursor(&super::cursor(0)), Some(0));
        assert_eq!(super::parse_cursor(&super::cursor(123_456)), Some(123_456));
        assert!(super::cursor(9) < super::cursor(10), "ordered as text too");
        for bad in [
            "",
            "evt_",
            "evt_zz",
            "123",
            "evt_00000000000000000001",
            "evt_ffffffffffffffff",
        ] {
            assert_eq!(super::parse_cursor(bad), None, "{bad}");
        }
    }
}
