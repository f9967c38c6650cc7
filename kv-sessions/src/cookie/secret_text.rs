//! Reading the cookie [`Key`] from text: hex or base64, given as a string or in an environment
//! variable, with errors that say what is wrong and how to make a good key.

use std::env::{self, VarError};

use actix_web::cookie::Key;
use base64::Engine;
use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use super::secret::SECRET_LEN;

/// What every message ends with: how to make a key that works.
const MAKE_ONE: &str = "make one with `head -c 64 /dev/urandom | base64 -w0`";

/// What [`decode_key`] calls the text in its messages.
const GIVEN_TEXT: &str = "the key";

/// Base64 in either alphabet, once URL-safe `-` and `_` are read as `+` and `/`, with or without
/// padding. Stray bits after the last byte are ignored rather than refused: they change nothing
/// in the bytes decoded.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Why a key could not be read. No variant carries the key's text, and no message shows it.
///
/// Each message names the text (the environment variable, or "the key" for [`decode_key`]),
/// says what is wrong with it, and ends with a command that makes a good key. `Debug` shows the
/// same message, so that `expect`, a `main` that returns the error, and
/// `std::io::Error::other` all print it as words.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The environment variable is not set.
    #[error("{name} is not set; set it to at least 64 random bytes in hex or base64: {MAKE_ONE}")]
    NotSet {
        /// The variable's name.
        name: String,
    },
    /// The environment variable holds bytes that are not valid Unicode, so neither hex nor base64.
    #[error("{name} is not valid Unicode, so neither hex nor base64; {MAKE_ONE}")]
    NotUnicode {
        /// The variable's name.
        name: String,
    },
    /// The text is empty, or only whitespace.
    #[error(
        "{name} is empty; a session key is at least 64 random bytes in hex or base64: {MAKE_ONE}"
    )]
    Empty {
        /// The variable's name, or "the key".
        name: String,
    },
    /// The text holds a character that is in neither alphabet, or in the wrong place.
    #[error(
        "{name} is neither hex nor base64 (found {found:?} at position {position}); {MAKE_ONE}"
    )]
    NotEncoded {
        /// The variable's name, or "the key".
        name: String,
        /// The character that cannot be there.
        found: char,
        /// Where it is, counting characters from 1, whitespace included.
        position: usize,
    },
    /// The text is made of base64 characters, but base64 never has that many.
    #[error(
        "{name} is neither hex nor base64 (base64 is never {len} characters long: is a part of \
         it missing?); {MAKE_ONE}"
    )]
    NotBase64Length {
        /// The variable's name, or "the key".
        name: String,
        /// The number of characters, whitespace not counted.
        len: usize,
    },
    /// The text is made of hex digits, but an odd number of them.
    #[error("{name} looks like hex but has an odd number of digits ({digits}); {MAKE_ONE}")]
    OddHex {
        /// The variable's name, or "the key".
        name: String,
        /// The number of hex digits.
        digits: usize,
    },
    /// The text decodes to fewer bytes than a key needs.
    #[error("{name} decodes to {len} bytes; a session key needs at least 64: {MAKE_ONE}")]
    TooShort {
        /// The variable's name, or "the key".
        name: String,
        /// The number of bytes it decodes to.
        len: usize,
    },
    /// The key's first 64 bytes, the ones that are used, repeat one short pattern (one byte
    /// over and over, at the simplest): a placeholder anyone can guess, not a secret.
    #[error(
        "{name} repeats one {pattern_len}-byte pattern, so anyone can guess it; a session key \
         must be random: {MAKE_ONE}"
    )]
    Repetitive {
        /// The variable's name, or "the key".
        name: String,
        /// The length of the shortest pattern that the key's first 64 bytes repeat.
        pattern_len: usize,
    },
}

impl std::fmt::Debug for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        crate::error::report(self, f)
    }
}

/// Lets `?` hand a key error to a `main` that returns `std::io::Result`, as actix-web's `main`
/// usually does.
impl From<KeyError> for std::io::Error {
    fn from(error: KeyError) -> Self {
        Self::new(std::io::ErrorKind::InvalidInput, error)
    }
}

/// The longest pattern a key is refused for repeating. A key that repeats a pattern of 16 bytes
/// or fewer was typed or copied, not drawn at random: 64 random bytes repeat no pattern shorter
/// than themselves, but for odds too small to count.
const LONGEST_REPEATED_PATTERN: usize = 16;

/// Reads the cookie [`Key`] from the environment variable `name`; see [`decode_key`] for the
/// accepted text.
///
/// Load the key this way, once, before `HttpServer::new`, rather than making one with
/// `Key::generate()`: a generated key changes at every restart, and on every instance of the
/// app, and each change logs every user out.
///
/// ```no_run
/// use actix_web::{App, HttpServer};
/// use kv_sessions::{SessionMiddleware, SledStore, key_from_env};
///
/// #[actix_web::main]
/// async fn main() -> std::io::Result<()> {
///     // Unset or bad, the error says so and how to fix it, e.g. "SESSION_KEY decodes to 32
///     // bytes; a session key needs at least 64: make one with `head -c 64 /dev/urandom | ...`"
///     let key = key_from_env("SESSION_KEY").map_err(std::io::Error::other)?;
///     let store = SledStore::open("sessions.sled").map_err(std::io::Error::other)?;
///     let sessions = SessionMiddleware::new(store, key);
///     HttpServer::new(move || App::new().wrap(sessions.clone()))
///         .bind(("127.0.0.1", 8080))?
///         .run()
///         .await
/// }
/// ```
pub fn key_from_env(name: &str) -> Result<Key, KeyError> {
    from_var(name, env::var(name))
}

/// Reads a cookie [`Key`] from text: at least 64 bytes, in hex or in base64.
///
/// - Hex: 128 or more hex digits, either case.
/// - Base64: the standard or the URL-safe alphabet, padded or not.
///
/// Whitespace anywhere is ignored, so a key wrapped over several lines reads as one. Text made
/// only of hex digits is read as hex.
///
/// A key may be longer than 64 bytes, but only its first 64 are used, as actix-web's [`Key`]
/// uses them: those must be the random ones. A key whose first 64 bytes repeat a pattern of 16
/// bytes or fewer (the same byte throughout, at the simplest) is refused.
///
/// ```
/// use kv_sessions::decode_key;
///
/// let random = "0d8d7c2a5e1f4b9a3c6e0f7d2b8a4c1e9f3d5b7a0c2e4f6a8b1d3e5f7a9c0b2d\
///               4e6f8a1c3e5b7d9f0a2c4e6b8d1f3a5c7e9b0d2f4a6c8e1b3d5f7a9c2e4b6d8f";
/// assert!(decode_key(random).is_ok());
/// assert_eq!(
///     decode_key(&"ab".repeat(64)).err().map(|error| error.to_string()).as_deref(),
///     Some(
///         "the key repeats one 1-byte pattern, so anyone can guess it; a session key must be \
///          random: make one with `head -c 64 /dev/urandom | base64 -w0`"
///     )
/// );
/// assert_eq!(
///     decode_key("c2hvcnQ=").err().map(|error| error.to_string()).as_deref(),
///     Some(
///         "the key decodes to 5 bytes; a session key needs at least 64: \
///          make one with `head -c 64 /dev/urandom | base64 -w0`"
///     )
/// );
/// ```
pub fn decode_key(text: &str) -> Result<Key, KeyError> {
    decode(GIVEN_TEXT, text)
}

/// The key in the environment variable `name`, whose lookup gave `value`.
fn from_var(name: &str, value: Result<String, VarError>) -> Result<Key, KeyError> {
    let name_owned = || name.to_owned();
    match value {
        Ok(text) => decode(name, &text),
        Err(VarError::NotPresent) => Err(KeyError::NotSet { name: name_owned() }),
        Err(VarError::NotUnicode(_)) => Err(KeyError::NotUnicode { name: name_owned() }),
    }
}

/// The key in `text`, which messages call `name`.
fn decode(name: &str, text: &str) -> Result<Key, KeyError> {
    let bytes = decode_bytes(text).map_err(|mistake| mistake.named(name.to_owned()))?;
    if bytes.len() < SECRET_LEN {
        let (name, len) = (name.to_owned(), bytes.len());
        return Err(KeyError::TooShort { name, len });
    }
    let used = &bytes[..SECRET_LEN];
    if let Some(pattern_len) = repeated_pattern(used) {
        let name = name.to_owned();
        return Err(KeyError::Repetitive { name, pattern_len });
    }
    Ok(Key::from(used))
}

/// The length of the shortest pattern of at most [`LONGEST_REPEATED_PATTERN`] bytes that
/// `bytes` repeat from end to end, if there is one.
fn repeated_pattern(bytes: &[u8]) -> Option<usize> {
    (1..=LONGEST_REPEATED_PATTERN).find(|&len| {
        let pattern = &bytes[..len];
        bytes.chunks(len).all(|chunk| pattern.starts_with(chunk))
    })
}

/// The bytes `text` spells: as hex where it holds only hex digits, else as base64.
fn decode_bytes(text: &str) -> Result<Vec<u8>, Mistake> {
    let symbols = Symbols::of(text);
    if symbols.is_empty() {
        Err(Mistake::Empty)
    } else if symbols.all_hex() {
        symbols.hex().ok_or(Mistake::OddHex(symbols.len()))
    } else {
        symbols.base64()
    }
}

/// The characters of a key's text other than whitespace, each with its position in the text,
/// counting from 1.
struct Symbols(Vec<(usize, char)>);

/// What is wrong with a key's text, before the text is given a name.
enum Mistake {
    Empty,
    OddHex(usize),
    Found { found: char, position: usize },
    Base64Length(usize),
}

impl Mistake {
    fn named(self, name: String) -> KeyError {
        match self {
            Self::Empty => KeyError::Empty { name },
            Self::OddHex(digits) => KeyError::OddHex { name, digits },
            Self::Found { found, position } => KeyError::NotEncoded {
                name,
                found,
                position,
            },
            Self::Base64Length(len) => KeyError::NotBase64Length { name, len },
        }
    }
}

impl Symbols {
    fn of(text: &str) -> Self {
        let numbered = text.chars().enumerate().map(|(at, c)| (at + 1, c));
        Self(numbered.filter(|(_, c)| !c.is_whitespace()).collect())
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn all_hex(&self) -> bool {
        self.0.iter().all(|(_, c)| c.is_ascii_hexdigit())
    }

    /// The bytes of hex digits, or `None` for an odd number of them.
    fn hex(&self) -> Option<Vec<u8>> {
        let digits: Vec<u8> = self.0.iter().filter_map(|(_, c)| hex_value(*c)).collect();
        let pairs = digits.chunks_exact(2);
        if !pairs.remainder().is_empty() {
            return None;
        }
        Some(pairs.map(|pair| (pair[0] << 4) | pair[1]).collect())
    }

    /// The bytes of base64 text in either alphabet.
    fn base64(&self) -> Result<Vec<u8>, Mistake> {
        if let Some(&(position, found)) = self.0.iter().find(|(_, c)| !is_base64(*c)) {
            return Err(Mistake::Found { found, position });
        }
        let standard: String = self.0.iter().map(|(_, c)| to_standard(*c)).collect();
        BASE64
            .decode(standard)
            .map_err(|error| self.mistake(&error))
    }

    /// What base64's `error` means in terms of the text.
    fn mistake(&self, error: &base64::DecodeError) -> Mistake {
        let at = |offset: usize| {
            let (position, found) = self.0[offset.min(self.0.len() - 1)];
            Mistake::Found { found, position }
        };
        match error {
            base64::DecodeError::InvalidByte(offset, _)
            | base64::DecodeError::InvalidLastSymbol(offset, _) => at(*offset),
            base64::DecodeError::InvalidLength(_) => Mistake::Base64Length(self.len()),
            base64::DecodeError::InvalidPadding => {
                let first_pad = self.0.iter().position(|(_, c)| *c == '=');
                at(first_pad.unwrap_or(self.len() - 1))
            }
        }
    }
}

fn hex_value(c: char) -> Option<u8> {
    c.to_digit(16).and_then(|value| u8::try_from(value).ok())
}

fn is_base64(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '-' | '_' | '=')
}

/// The standard alphabet's spelling of a base64 character of either alphabet.
fn to_standard(c: char) -> char {
    match c {
        '-' => '+',
        '_' => '/',
        c => c,
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

    use super::*;

    /// 64 bytes whose base64 spellings differ between the alphabets.
    fn material() -> Vec<u8> {
        (0..64_u8).map(|at| at.wrapping_mul(67) ^ 0xfb).collect()
    }

    fn error(result: Result<Key, KeyError>) -> KeyError {
        result.err().expect("an error")
    }

    fn message(result: Result<Key, KeyError>) -> String {
        error(result).to_string()
    }

    #[test]
    fn a_missing_variable_reads_as_words_wherever_it_is_printed() {
        let unset = error(from_var("SESSION_KEY", Err(VarError::NotPresent)));
        let words = unset.to_string();
        assert!(words.starts_with("SESSION_KEY is not set"), "{words}");
        assert_eq!(format!("{unset:?}"), words);
        let io = format!("{:?}", std::io::Error::from(unset.clone()));
        assert!(io.contains(&format!("error: {words}")), "{io}");
        assert!(!io.contains("NotSet"), "{io}");
    }

    #[test]
    fn hex_in_either_case_reads_as_its_bytes() {
        let hex: String = material().iter().map(|b| format!("{b:02x}")).collect();
        for text in [hex.clone(), hex.to_uppercase()] {
            let key = decode_key(&text).expect("hex");
            assert_eq!(key.master(), material());
        }
    }

    #[test]
    fn base64_in_either_alphabet_padded_or_not_reads_as_its_bytes() {
        let standard = STANDARD.encode(material());
        let url_safe = URL_SAFE_NO_PAD.encode(material());
        assert!(standard.ends_with('=') && standard.contains(['+', '/']));
        assert!(url_safe.contains(['-', '_']));
        for text in [
            standard.clone(),
            standard.trim_end_matches('=').to_owned(),
            url_safe,
        ] {
            assert_eq!(decode_key(&text).expect(&text).master(), material());
        }
    }

    #[test]
    fn whitespace_anywhere_is_ignored() {
        let standard = STANDARD.encode(material());
        let (head, tail) = standard.split_at(40);
        let wrapped = format!("  {head}\n\t{tail} \r\n");
        assert_eq!(decode_key(&wrapped).expect("wrapped").master(), material());
    }

    #[test]
    fn bytes_past_the_64th_are_ignored() {
        let mut long = material();
        long.extend([1, 2, 3]);
        let key = decode_key(&STANDARD.encode(&long)).expect("long");
        assert_eq!(key.master(), material());
    }

    #[test]
    fn a_key_of_one_byte_over_and_over_is_refused() {
        assert_eq!(
            message(decode_key(&STANDARD.encode([0; 64]))),
            "the key repeats one 1-byte pattern, so anyone can guess it; a session key must be \
             random: make one with `head -c 64 /dev/urandom | base64 -w0`"
        );
    }

    #[test]
    fn a_key_that_repeats_a_pattern_of_up_to_16_bytes_is_refused() {
        for pattern_len in [2, 3, 8, 16] {
            let pattern = &material()[..pattern_len];
            let key: Vec<u8> = pattern.iter().copied().cycle().take(64).collect();
            assert_eq!(
                error(decode_key(&STANDARD.encode(&key))),
                KeyError::Repetitive {
                    name: "the key".to_owned(),
                    pattern_len,
                }
            );
        }
        let longer: Vec<u8> = material()[..17].iter().copied().cycle().take(64).collect();
        assert!(decode_key(&STANDARD.encode(longer)).is_ok());
    }

    #[test]
    fn only_the_first_64_bytes_are_checked_since_only_they_are_used() {
        let mut weak_then_random = vec![0; 64];
        weak_then_random.extend(material());
        assert!(matches!(
            decode_key(&STANDARD.encode(&weak_then_random)),
            Err(KeyError::Repetitive { pattern_len: 1, .. })
        ));
        let mut random_then_weak = material();
        random_then_weak.extend([0; 64]);
        let key = decode_key(&STANDARD.encode(&random_then_weak)).expect("random first");
        assert_eq!(key.master(), material());
    }

    #[test]
    fn a_short_key_says_how_many_bytes_it_has_and_how_many_it_needs() {
        assert_eq!(
            message(decode_key(&STANDARD.encode([7; 32]))),
            "the key decodes to 32 bytes; a session key needs at least 64: \
             make one with `head -c 64 /dev/urandom | base64 -w0`"
        );
        assert_eq!(
            message(decode_key(&"0f".repeat(63))),
            "the key decodes to 63 bytes; a session key needs at least 64: \
             make one with `head -c 64 /dev/urandom | base64 -w0`"
        );
    }

    #[test]
    fn a_stray_character_is_named_with_its_position_counting_whitespace() {
        let text = format!("abc def!{}", "A".repeat(100));
        assert_eq!(
            message(decode_key(&text)),
            "the key is neither hex nor base64 (found '!' at position 8); \
             make one with `head -c 64 /dev/urandom | base64 -w0`"
        );
    }

    #[test]
    fn padding_in_the_middle_is_a_stray_character() {
        let text = format!("QUJD=={}", "A".repeat(100));
        assert_eq!(
            error(decode_key(&text)),
            KeyError::NotEncoded {
                name: "the key".to_owned(),
                found: '=',
                position: 5,
            }
        );
    }

    #[test]
    fn base64_of_an_impossible_length_says_a_part_may_be_missing() {
        assert_eq!(
            message(decode_key(&"Q".repeat(85))),
            "the key is neither hex nor base64 (base64 is never 85 characters long: is a part of \
             it missing?); make one with `head -c 64 /dev/urandom | base64 -w0`"
        );
    }

    #[test]
    fn an_odd_number_of_hex_digits_is_its_own_mistake() {
        assert_eq!(
            message(decode_key(&"a".repeat(129))),
            "the key looks like hex but has an odd number of digits (129); \
             make one with `head -c 64 /dev/urandom | base64 -w0`"
        );
    }

    #[test]
    fn empty_or_blank_text_is_empty() {
        for text in ["", " \n\t"] {
            assert_eq!(
                message(decode_key(text)),
                "the key is empty; a session key is at least 64 random bytes in hex or base64: \
                 make one with `head -c 64 /dev/urandom | base64 -w0`"
            );
        }
    }

    #[test]
    fn an_unset_variable_is_named() {
        let name = "KV_SESSIONS_TEST_KEY_THAT_NOBODY_SETS";
        assert_eq!(
            message(key_from_env(name)),
            format!(
                "{name} is not set; set it to at least 64 random bytes in hex or base64: \
                 make one with `head -c 64 /dev/urandom | base64 -w0`"
            )
        );
    }

    #[test]
    fn a_variable_that_is_not_unicode_says_so() {
        let value = Err(VarError::NotUnicode(std::ffi::OsString::from("x")));
        assert_eq!(
            message(from_var("SESSION_KEY", value)),
            "SESSION_KEY is not valid Unicode, so neither hex nor base64; \
             make one with `head -c 64 /dev/urandom | base64 -w0`"
        );
    }

    #[test]
    fn messages_name_the_variable_they_read() {
        let short = Ok(STANDARD.encode([7; 32]));
        let short = message(from_var("SESSION_KEY", short));
        assert!(
            short.starts_with("SESSION_KEY decodes to 32 bytes; "),
            "{short}"
        );
        let stray = message(decode("SESSION_KEY", "abcdefg!"));
        let expected = "SESSION_KEY is neither hex nor base64 (found '!' at position 8)";
        assert!(stray.starts_with(expected), "{stray}");
    }

    #[test]
    fn no_message_shows_the_text_it_read() {
        let secret = "c2VjcmV0LXRleHQtdGhhdC1tdXN0LW5vdC1sZWFr";
        for text in [
            secret.to_owned(),
            format!("{secret}!"),
            format!("{secret}Q"),
        ] {
            let mistake = error(decode_key(&text));
            assert!(!mistake.to_string().contains(&secret[..8]), "{mistake}");
            assert!(
                !format!("{mistake:?}").contains(&secret[..8]),
                "{mistake:?}"
            );
        }
    }
}
