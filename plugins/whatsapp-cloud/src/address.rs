//! Telling WhatsApp phone numbers from business-scoped user ids (BSUIDs).
//!
//! Meta identifies a user by phone number (`wa_id`, digits without `+`) and,
//! since the username rollout, by a BSUID such as `US.13491208655302741918`.
//! A user who adopted a username may arrive with *only* a BSUID, either in
//! `from_user_id` (no `from` at all) or in `from` itself, so every place that
//! reads or writes an address has to know which kind it holds.

/// Whether `value` is a phone number as WhatsApp writes one: ASCII digits,
/// optionally after a single `+`. BSUIDs always carry a country prefix and a
/// dot (`US.1234`), so they never pass.
pub fn is_phone_number(value: &str) -> bool {
    let digits = value.strip_prefix('+').unwrap_or(value);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// The E.164 digits of a phone number (a leading `+` removed), or `None` when
/// `value` is not a phone number.
pub fn phone_digits(value: &str) -> Option<String> {
    is_phone_number(value).then(|| value.trim_start_matches('+').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_and_bsuids_are_told_apart() {
        assert!(is_phone_number("972987654321"));
        assert!(is_phone_number("+250788123123"));
        assert!(is_phone_number("5678"));
        assert!(!is_phone_number("US.1234"));
        assert!(!is_phone_number("US.ENT.5678"));
        assert!(!is_phone_number(""));
        assert!(!is_phone_number("+"));
        assert_eq!(
            phone_digits("+250788123123").as_deref(),
            Some("250788123123")
        );
        assert_eq!(phone_digits("US.1234"), None);
    }
}
