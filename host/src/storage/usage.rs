//! Usage counters: messages in and out per tenant, channel and calendar
//! month, counted in the transaction that stores them.

use sqlx::{Any, Transaction};

use super::StorageError;

/// Count `inbound` stored messages for the month of `now`.
pub(crate) async fn count_usage(
    tx: &mut Transaction<'_, Any>,
    tenant_id: &str,
    channel_id: &str,
    inbound: i64,
    now: i64,
) -> Result<(), StorageError> {
    let period = period_of(now);
    sqlx::query(
        "INSERT INTO usage (tenant_id, period, channel_id, inbound, outbound) VALUES ($1, $2, $3, $4, 0) \
         ON CONFLICT (tenant_id, period, channel_id) DO UPDATE SET inbound = usage.inbound + excluded.inbound",
    )
    .bind(tenant_id)
    .bind(period)
    .bind(channel_id)
    .bind(inbound)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The calendar month (UTC) of a Unix-ms time, as `YYYY-MM`.
pub(crate) fn period_of(ms: i64) -> String {
    // Civil-from-days (Howard Hinnant), to avoid a date crate for one field.
    let days = ms.div_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn periods_are_calendar_months() {
        assert_eq!(super::period_of(0), "1970-01");
        assert_eq!(super::period_of(1_709_251_199_000), "2024-02"); // 2024-02-29T23:59:59Z
        assert_eq!(super::period_of(1_709_251_200_000), "2024-03");
    }
}
