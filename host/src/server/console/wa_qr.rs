//! A WhatsApp number's `wa.me` link and its QR code, for the channel
//! page: a business prints it or shows it on its site, and a customer who
//! scans it lands in a chat with the number.

use base64::Engine as _;
use qrcode::QrCode;
use qrcode::render::svg;

/// The channel setting naming the number customers message (the number
/// Meta shows as `display_phone_number`; `phone_number_id` is Meta's id
/// of it, not the number).
pub const NUMBER_KEY: &str = "display_phone_number";

/// `https://wa.me/<digits>` for a phone number as people write it
/// (`+1 555 000 9999`, `(555) 000-9999` with its country code), or `None`
/// when it is not one: E.164 numbers have 8 to 15 digits.
pub fn wa_link(number: &str) -> Option<String> {
    let allowed = |c: char| c.is_ascii_digit() || " +-().".contains(c);
    if !number.chars().all(allowed) {
        return None;
    }
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    ((8..=15).contains(&digits.len()) && !digits.starts_with('0'))
        .then(|| format!("https://wa.me/{digits}"))
}

/// The QR code of `text` as an SVG image in a `data:` URI (the console's
/// Content-Security-Policy allows `data:` images and nothing inline).
pub fn qr_data_uri(text: &str) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(192, 192)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build();
    Some(format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(image)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_people_write_them_become_links() {
        for n in ["+1 555 000 9999", "15550009999", "+1 (555) 000-9999"] {
            assert_eq!(wa_link(n).as_deref(), Some("https://wa.me/15550009999"));
        }
        for n in [
            "",
            "555",
            "+1 555 000 9999 ext 2",
            "0044 20 7946 0000",
            "1234567890123456",
        ] {
            assert_eq!(wa_link(n), None, "{n}");
        }
    }

    #[test]
    fn the_qr_code_is_an_svg_of_that_link() {
        let link = "https://wa.me/15550009999";
        let uri = qr_data_uri(link).unwrap();
        let b64 = uri.strip_prefix("data:image/svg+xml;base64,").unwrap();
        let svg = String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap(),
        )
        .unwrap();
        assert!(svg.contains("<svg"), "{svg}");
        // The modules drawn are those of the link's code: a 25-byte link
        // is a version-2 code (25×25 modules) at the default error level.
        assert_eq!(QrCode::new(link.as_bytes()).unwrap().width(), 25);
        assert_ne!(qr_data_uri("https://wa.me/15550009998"), Some(uri));
    }
}
