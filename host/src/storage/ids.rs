//! Identifiers. Most ids are time-ordered (so `ORDER BY id` is creation
//! order and makes a stable cursor) with 80 random bits; ids that act as
//! capabilities (channel ids in webhook URLs) are 128 random bits.

/// A time-ordered id: `<prefix>_<12 hex ms><20 hex random>`.
pub fn new_id(prefix: &str) -> String {
    let mut rnd = [0u8; 10];
    getrandom::fill(&mut rnd).expect("OS random source");
    format!(
        "{prefix}_{:012x}{}",
        super::now_ms() as u64 & 0xffff_ffff_ffff,
        hex::encode(rnd)
    )
}

/// An unguessable id: `<prefix>_<32 hex random>`.
pub fn new_secret_id(prefix: &str) -> String {
    let mut rnd = [0u8; 16];
    getrandom::fill(&mut rnd).expect("OS random source");
    format!("{prefix}_{}", hex::encode(rnd))
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_sort_by_creation_time_and_are_distinct() {
        let a = super::new_id("msg");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = super::new_id("msg");
        assert!(a < b, "{a} < {b}");
        assert_ne!(super::new_secret_id("ch"), super::new_secret_id("ch"));
        assert_eq!(super::new_secret_id("ch").len(), 3 + 32);
    }
}
