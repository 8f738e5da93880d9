//! Phone numbers as the platform compares them.

/// The E.164 form of a phone number: its digits with a leading `+`;
/// `None` when it has no digits. Adapters give the digits with or without
/// the `+` (WhatsApp's `wa_id` has none, Twilio's `From` may carry a
/// `whatsapp:` prefix), so this is the one form numbers are matched in.
pub fn e164(phone: &str) -> Option<String> {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    (!digits.is_empty()).then(|| format!("+{digits}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn phone_numbers_compare_as_e164() {
        assert_eq!(super::e164("16315551181").as_deref(), Some("+16315551181"));
        assert_eq!(
            super::e164("+1 (631) 555-1181").as_deref(),
            Some("+16315551181")
        );
        assert_eq!(
            super::e164("whatsapp:+16315551181").as_deref(),
            Some("+16315551181")
        );
        assert_eq!(super::e164("+"), None);
    }
}
