//! Undoing the percent-encoding some clients put on cookie values.
//!
//! Browsers send a cookie back exactly as the server set it, but actix-web's
//! `test::TestRequest::cookie` and awc escape characters such as `/` and `=` as `%2F` and `%3D`.
//! Session cookies written today contain none of them, but those of earlier builds of kv-sessions
//! do, and a cookie a user's own test copies from a response should open however the client
//! spells it.

use std::borrow::Cow;

/// `value` with its `%XX` escapes decoded; borrowed, with nothing allocated, when it has none.
///
/// `None` when an escape is cut short or not hexadecimal, or when the bytes it spells are not
/// UTF-8: no session cookie decodes to such a value, so it is rejected like any other garbage.
pub(super) fn decode(value: &str) -> Option<Cow<'_, str>> {
    if !value.contains('%') {
        return Some(Cow::Borrowed(value));
    }
    let mut decoded = Vec::with_capacity(value.len());
    let mut rest = value.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        rest = if byte == b'%' {
            decoded.push(escaped_byte(tail)?);
            tail.get(2..)?
        } else {
            decoded.push(byte);
            tail
        };
    }
    String::from_utf8(decoded).ok().map(Cow::Owned)
}

/// The byte that the two hex digits at the start of `digits` spell.
fn escaped_byte(digits: &[u8]) -> Option<u8> {
    let high = hex_digit(*digits.first()?)?;
    let low = hex_digit(*digits.get(1)?)?;
    Some((high << 4) | low)
}

fn hex_digit(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_without_escapes_is_borrowed_as_it_is() {
        let decoded = decode("abc-_09").expect("valid");
        assert!(matches!(decoded, Cow::Borrowed("abc-_09")));
    }

    #[test]
    fn escapes_of_either_case_are_decoded() {
        assert_eq!(decode("a%2Fb%3d%3D%25").as_deref(), Some("a/b==%"));
    }

    #[test]
    fn escapes_that_spell_utf_8_decode_to_it() {
        assert_eq!(decode("%C3%A9").as_deref(), Some("é"));
    }

    #[test]
    fn malformed_escapes_and_invalid_utf_8_are_refused() {
        for value in ["%", "%2", "a%2", "%zz", "%2g", "%%41", "%ff", "%C3"] {
            assert_eq!(decode(value), None, "{value:?}");
        }
    }
}
