//! Recovery of the outbound half: a send the provider accepted is never
//! repeated because recording it failed, and a provider id that is already
//! another message's neither fails the send nor loses that message.

use serde_json::{Value, json};

use crate::harness::{APP_SECRET, Backend, TestServer, unique, wa_text};
use crate::mock::MockProvider;
use crate::on_both;

/// A channel whose persona answers every message with "Thanks!".
async fn answering_channel(s: &TestServer, key: &str, graph: &MockProvider) -> String {
    let persona = s
        .persona(
            key,
            json!({ "name": "p", "responder": { "kind": "static", "text": "Thanks!" } }),
        )
        .await;
    s.whatsapp_channel_to(key, &graph.base, &[], Some(&persona))
        .await
}

/// Make the database refuse every delivery record of `tenant` (as a full
/// disk would) until the returned statement drops the trigger again. Only
/// this tenant's rows are refused: the PostgreSQL database is shared with
/// the tests running beside this one.
async fn refuse_delivery_records(pool: &sqlx::AnyPool, backend: &Backend, tenant: &str) -> String {
    let name = format!("refuse_{}", unique());
    let statements = match backend {
        Backend::Sqlite => vec![format!(
            "CREATE TRIGGER {name} BEFORE INSERT ON delivery_attempts WHEN NEW.tenant_id = '{tenant}' \
             BEGIN SELECT RAISE(ABORT, 'disk full (test)'); END"
        )],
        Backend::Postgres(_) => vec![
            format!(
                "CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk full (test)'; END $$"
            ),
            format!(
                "CREATE TRIGGER {name} BEFORE INSERT ON delivery_attempts FOR EACH ROW \
                 WHEN (NEW.tenant_id = '{tenant}') EXECUTE FUNCTION {name}()"
            ),
        ],
    };
    for sql in statements {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .unwrap();
    }
    match backend {
        Backend::Sqlite => format!("DROP TRIGGER {name}"),
        Backend::Postgres(_) => format!("DROP FUNCTION {name} CASCADE"),
    }
}

async fn an_accepted_send_is_not_repeated_when_recording_it_fails(backend: Backend) {
    // Enough attempts that the job outlives the failing records.
    let s = TestServer::start_with(backend.clone(), |c| {
        c.workers.delivery.max_attempts = 20;
    })
    .await;
    let graph = MockProvider::graph().await;
    let (tenant, key) = s.tenant("full-disk").await;
    let ch = answering_channel(&s, &key, &graph).await;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&s.database_url(&backend))
        .await
        .unwrap();
    let undo = refuse_delivery_records(&pool, &backend, &tenant).await;

    let r = s
        .post_signed(&ch, &wa_text("wamid.disk-1", "hello"), APP_SECRET)
        .await;
    assert_eq!(r.status(), 200);
    // The provider takes the reply; recording it fails, in place and then
    // on the job's retries. Once the delivery job has been retried, let
    // the records through again.
    graph.wait_for(1).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let retried: Option<i64> = sqlx::query_scalar(
            "SELECT CAST(MAX(attempts) AS BIGINT) FROM outbox WHERE tenant_id = $1 AND kind = 'message.deliver'",
        )
        .bind(&tenant)
        .fetch_one(&pool)
        .await
        .unwrap();
        if retried.unwrap_or(0) >= 3 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the delivery job was never retried"
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    sqlx::query(sqlx::AssertSqlSafe(undo))
        .execute(&pool)
        .await
        .unwrap();

    let out = s.settled_outbound(&key, &ch, 1).await;
    assert_eq!(out[0]["status"], "sent", "{out:#?}");
    assert_eq!(out[0]["external_id"], "wamid.mock-0", "{out:#?}");
    assert_eq!(
        graph.requests().len(),
        1,
        "the provider already had the reply; it must not get it twice"
    );
    s.stop().await;
}
on_both!(an_accepted_send_is_not_repeated_when_recording_it_fails);

async fn a_reused_provider_id_loses_no_message(backend: Backend) {
    let s = TestServer::start(backend).await;
    let graph = MockProvider::graph().await;
    let (_, key) = s.tenant("reused-id").await;
    let ch = answering_channel(&s, &key, &graph).await;
    // The provider answers both sends with the same message id.
    let same_id = format!("wamid.same-{}", unique());
    let same = json!({
        "messaging_product": "whatsapp",
        "contacts": [{ "input": "16315551181", "wa_id": "16315551181" }],
        "messages": [{ "id": same_id }]
    })
    .to_string();
    graph.push(200, same.clone());
    graph.push(200, same);
    s.post_signed(&ch, &wa_text("wamid.reuse-1", "one"), APP_SECRET)
        .await;
    s.settled_outbound(&key, &ch, 1).await;
    s.post_signed(&ch, &wa_text("wamid.reuse-2", "two"), APP_SECRET)
        .await;
    let out = s.settled_outbound(&key, &ch, 2).await;
    assert_eq!(out.len(), 2, "{out:#?}");
    assert!(out.iter().all(|m| m["status"] == "sent"), "{out:#?}");
    let with_id: Vec<&Value> = out
        .iter()
        .filter(|m| m["external_id"] == same_id.as_str())
        .collect();
    assert_eq!(with_id.len(), 1, "the id stays with one message: {out:#?}");
    assert_eq!(graph.requests().len(), 2, "each reply sent once");
    s.stop().await;
}
on_both!(a_reused_provider_id_loses_no_message);

/// A job that runs for longer than its lease (here a 4 s model answer
/// against a 1 s lease) keeps it through its worker's heartbeat: no other
/// worker takes it over, so the model is asked once and one reply is sent.
async fn a_job_longer_than_its_lease_is_not_taken_over(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.workers.workers = 3;
        // Every worker may run this tenant's jobs (by default a tenant
        // gets half of them, which alone would keep the job with one).
        c.workers.jobs_per_tenant = Some(3);
        c.workers.lease = std::time::Duration::from_secs(1);
        c.workers.delivery.lease = std::time::Duration::from_secs(1);
    })
    .await;
    let graph = MockProvider::graph().await;
    let llm = crate::conversation::openai_mock().await;
    llm.set_delay(std::time::Duration::from_secs(4));
    let (_, key) = s.tenant("slow-model").await;
    let persona = s
        .persona(
            &key,
            json!({
                "name": "llm",
                "responder": { "kind": "openai", "base_url": format!("{}/v1", llm.base), "model": "m", "api_key": "" }
            }),
        )
        .await;
    let ch = s
        .whatsapp_channel_to(&key, &graph.base, &[], Some(&persona))
        .await;
    let r = s
        .post_signed(
            &ch,
            &wa_text("wamid.slow-1", "tell me a long story"),
            APP_SECRET,
        )
        .await;
    assert_eq!(r.status(), 200);
    let out = s.settled_outbound(&key, &ch, 1).await;
    assert_eq!(out[0]["status"], "sent", "{out:#?}");
    // Three more leases' time for a second worker to have taken it over.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(llm.requests().len(), 1, "the model was asked again");
    assert_eq!(graph.requests().len(), 1, "the reply was sent again");
    s.stop().await;
}
on_both!(a_job_longer_than_its_lease_is_not_taken_over);
