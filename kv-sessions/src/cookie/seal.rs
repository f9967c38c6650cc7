//! Sealing a session id into a cookie value with one secret, and opening a value with one.
//!
//! A signed value is a 43-character HMAC-SHA256 tag over `<cookie name>=<text>`, then the text:
//! the id's 32 hex digits, followed, where the store offers an invalidation feed, by a dot and the
//! version of the session the response saved in 16 hex digits (`<id>.<version>`), so that an
//! instance whose cache holds an older copy reads the session again. The stamp has one width, so
//! a value has one of two lengths in each format, and the shape check stays as strict. The tag is computed here rather than through actix-web's signed jar: the keyed
//! HMAC state is prepared once per secret, and nothing is allocated to check a cookie. A private
//! value is the id sealed with AES-256-GCM by actix-web's private jar, which authenticates the
//! cookie name too; it is opened here with a cipher prepared once per secret, in the jar's
//! format (a 12-byte nonce, the encrypted id, a 16-byte tag, the name as associated data). Both
//! are spelled in URL-safe base64 without padding.
//!
//! Before any cryptography, a value's shape is checked: its length, its alphabet, and for a
//! signed value its id. Only a value that could have been sealed here costs a MAC, so a client
//! that sends garbage costs little more than one that sends nothing.

use actix_web::cookie::{Cookie, CookieJar, Key};
use aes_gcm::aead::AeadInPlace;
use aes_gcm::aead::generic_array::GenericArray;
use base64::Engine;
use base64::engine::GeneralPurpose;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::Mac;

use super::CookieConfig;
use super::secret::{CookieSecret, PreparedSecret};
use crate::id::SessionId;

/// How the session cookie protects the id it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CookieContent {
    /// Signed with HMAC-SHA256: the client can read the id but cannot forge or alter it. The
    /// default: the id is a random token that tells a reader nothing.
    #[default]
    Signed,
    /// Encrypted and authenticated with AES-256-GCM: the client can neither read nor alter the
    /// id. The cookie's value is 80 characters, 5 more than a signed one's.
    Private,
}

/// How a signed cookie's value spells the tag it starts with.
pub(super) struct TagSpelling {
    pub(super) engine: GeneralPurpose,
    pub(super) len: usize,
}

/// Today's spelling: URL-safe base64 without padding, 43 characters.
pub(super) const TAG: TagSpelling = TagSpelling {
    engine: URL_SAFE_NO_PAD,
    len: 43,
};

/// The spelling of earlier builds of kv-sessions, which is actix-web's signed jar's: standard
/// base64 with padding, 44 characters.
pub(super) const LEGACY_TAG: TagSpelling = TagSpelling {
    engine: STANDARD,
    len: 44,
};

/// Room for base64's estimate of a tag's decoded length, which counts whole groups of four
/// characters: 33 bytes for either spelling, of which a valid tag fills 32.
const TAG_ROOM: usize = 33;

/// The bytes of an HMAC-SHA256 tag.
const SIGNATURE_LEN: usize = 32;

/// The characters of a session id's text form, which a signed value ends with.
const ID_LEN: usize = 32;

/// The bytes of the nonce that starts a sealed private cookie.
const NONCE_LEN: usize = 12;

/// A version stamp: a dot and the version's 16 hex digits.
const STAMP_LEN: usize = 1 + 16;

/// The text a stamped cookie seals: an id and a version stamp.
const TEXT_LEN: usize = ID_LEN + STAMP_LEN;

/// The bytes an AES-GCM seal adds to the text: a 12-byte nonce and a 16-byte tag.
const PRIVATE_OVERHEAD: usize = NONCE_LEN + 16;

/// The bytes of a sealed private cookie without a version stamp.
const PRIVATE_SEALED_LEN: usize = PRIVATE_OVERHEAD + ID_LEN;

/// The characters of a private value without a version stamp: [`PRIVATE_SEALED_LEN`] bytes in
/// base64, which needs no padding for them in either spelling.
const PRIVATE_VALUE_LEN: usize = PRIVATE_SEALED_LEN / 3 * 4;

/// The bytes of a sealed private cookie with a version stamp.
const PRIVATE_SEALED_MAX: usize = PRIVATE_OVERHEAD + TEXT_LEN;

/// The characters of a private value with a version stamp, in unpadded base64.
const PRIVATE_STAMPED_LEN: usize = (PRIVATE_SEALED_MAX * 4).div_ceil(3);

/// The longest value sealed in any spelling this middleware accepts: a stamped private one.
pub(super) const LONGEST_VALUE: usize = PRIVATE_STAMPED_LEN;

const _: () =
    assert!(TAG.len + TEXT_LEN <= LONGEST_VALUE && LEGACY_TAG.len + ID_LEN <= LONGEST_VALUE);

/// The id and the version stamp in a cookie's sealed text: `<id>` (version 0: no stamp) or
/// `<id>.<version>`, the version in 16 lowercase hex digits.
pub(super) fn read_text(text: &str) -> Option<(SessionId, u64)> {
    let (id, stamp) = text.split_at_checked(ID_LEN)?;
    let id = id.parse().ok()?;
    if stamp.is_empty() {
        return Some((id, 0));
    }
    let digits = stamp.strip_prefix('.')?;
    let canonical = digits.len() == STAMP_LEN - 1
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let version = u64::from_str_radix(digits, 16).ok();
    canonical
        .then_some(version)
        .flatten()
        .map(|version| (id, version))
}

/// The text a cookie seals for `id` at `version`, or for `id` alone.
fn text(id: SessionId, version: Option<u64>) -> String {
    match version {
        Some(version) => format!("{id}.{version:016x}"),
        None => id.to_string(),
    }
}

impl CookieConfig {
    /// The value of the cookie that carries `id`, stamped with `version` where one is given,
    /// sealed with `secret`.
    pub(crate) fn seal(
        &self,
        id: SessionId,
        version: Option<u64>,
        secret: &CookieSecret,
    ) -> Option<String> {
        let text = text(id, version);
        match self.content {
            CookieContent::Signed => Some(self.sign(&text, &secret.derived)),
            CookieContent::Private => {
                let sealed = self.encrypt(text, &secret.derived.jar_key)?;
                transcode(&sealed, &STANDARD, &URL_SAFE_NO_PAD)
            }
        }
    }

    /// `text` signed with `secret` as a signed cookie's value, whatever `text` says: for tests
    /// that send hostile values.
    #[cfg(feature = "test-util")]
    pub(crate) fn sign_text(&self, text: &str, secret: &CookieSecret) -> String {
        self.sign(text, &secret.derived)
    }

    /// The id in `value`, and its version stamp (0 where it has none), sealed in the current
    /// format with the secret derived from `secret`.
    pub(super) fn open_current(
        &self,
        value: &str,
        secret: &CookieSecret,
    ) -> Option<(SessionId, u64)> {
        match self.content {
            CookieContent::Signed => self.verify(value, &secret.derived, &TAG),
            CookieContent::Private => self.decrypt(value, &URL_SAFE_NO_PAD, &secret.derived),
        }
    }

    /// Opens a cookie of earlier builds of kv-sessions, if they are accepted. They carried no
    /// version stamp.
    pub(super) fn open_legacy(&self, value: &str, secret: &CookieSecret) -> Option<SessionId> {
        if !self.accept_legacy {
            return None;
        }
        let opened = match self.content {
            CookieContent::Signed => self.verify(value, &secret.given, &LEGACY_TAG),
            CookieContent::Private => self.decrypt(value, &STANDARD, &secret.given),
        };
        opened
            .filter(|&(_, version)| version == 0)
            .map(|(id, _)| id)
    }

    /// Whether `value` has the shape of a value sealed in a spelling this middleware accepts.
    /// Only such a value can open, and checking costs no cryptography.
    pub(super) fn looks_sealed(&self, value: &str) -> bool {
        let legacy = self.accept_legacy;
        match self.content {
            CookieContent::Signed => {
                looks_signed(value, &TAG, true)
                    || (legacy && looks_signed(value, &LEGACY_TAG, false))
            }
            CookieContent::Private => {
                looks_encrypted(value, &URL_SAFE_NO_PAD, true)
                    || (legacy && looks_encrypted(value, &STANDARD, false))
            }
        }
    }

    /// Opens `value`, which `engine` spells, as actix-web's private jar sealed it.
    fn decrypt(
        &self,
        value: &str,
        engine: &impl Engine,
        secret: &PreparedSecret,
    ) -> Option<(SessionId, u64)> {
        let mut buffer = [0; PRIVATE_SEALED_MAX];
        let len = engine.decode_slice(value, &mut buffer).ok()?;
        if !sealed_len_fits(len) {
            return None;
        }
        let (nonce, rest) = buffer.get_mut(..len)?.split_at_mut(NONCE_LEN);
        let (text, tag) = rest.split_at_mut(len - PRIVATE_OVERHEAD);
        #[cfg(test)]
        mac_count::add();
        let (nonce, tag) = (
            GenericArray::from_slice(nonce),
            GenericArray::from_slice(tag),
        );
        let name = self.name.as_bytes();
        secret
            .cipher
            .decrypt_in_place_detached(nonce, name, text, tag)
            .ok()?;
        read_text(std::str::from_utf8(text).ok()?)
    }

    /// Seals `text` with actix-web's private jar, which spells it in standard base64.
    fn encrypt(&self, text: String, jar_key: &Key) -> Option<String> {
        let mut jar = CookieJar::new();
        jar.private_mut(jar_key)
            .add(Cookie::new(self.name.clone(), text));
        Some(jar.get(&self.name)?.value().to_owned())
    }

    fn verify(
        &self,
        value: &str,
        secret: &PreparedSecret,
        spelling: &TagSpelling,
    ) -> Option<(SessionId, u64)> {
        let (tag, text) = value.split_at_checked(spelling.len)?;
        let opened = read_text(text)?;
        let mut digest = [0; TAG_ROOM];
        let len = spelling.engine.decode_slice(tag, &mut digest).ok()?;
        #[cfg(test)]
        mac_count::add();
        secret
            .tag(&self.name, text)
            .verify_slice(digest.get(..len)?)
            .ok()?;
        Some(opened)
    }

    /// A signed value: the tag over `<name>=<text>`, then `text`.
    pub(super) fn sign(&self, text: &str, secret: &PreparedSecret) -> String {
        let tag = secret.tag(&self.name, text).finalize().into_bytes();
        let mut value = String::with_capacity(TAG.len + text.len());
        TAG.engine.encode_string(tag, &mut value);
        value.push_str(text);
        value
    }
}

/// Whether `value` is a tag of a signature's length in `spelling`, then an id and, where
/// `stamped` allows, a version stamp.
fn looks_signed(value: &str, spelling: &TagSpelling, stamped: bool) -> bool {
    let len = value.len().saturating_sub(spelling.len);
    if len != ID_LEN && !(stamped && len == TEXT_LEN) {
        return false;
    }
    let Some((tag, text)) = value.split_at_checked(spelling.len) else {
        return false;
    };
    let mut digest = [0; TAG_ROOM];
    let tag_len = spelling.engine.decode_slice(tag, &mut digest);
    tag_len == Ok(SIGNATURE_LEN) && read_text(text).is_some()
}

/// Whether `value` is base64 in `engine`'s spelling of as many bytes as a sealed id, or, where
/// `stamped` allows, a sealed id with a version stamp.
fn looks_encrypted(value: &str, engine: &impl Engine, stamped: bool) -> bool {
    if !stamped {
        let mut sealed = [0; PRIVATE_SEALED_LEN];
        return value.len() == PRIVATE_VALUE_LEN
            && engine.decode_slice(value, &mut sealed) == Ok(PRIVATE_SEALED_LEN);
    }
    let mut sealed = [0; PRIVATE_SEALED_MAX];
    match value.len() {
        PRIVATE_VALUE_LEN => engine.decode_slice(value, &mut sealed) == Ok(PRIVATE_SEALED_LEN),
        PRIVATE_STAMPED_LEN => engine.decode_slice(value, &mut sealed) == Ok(PRIVATE_SEALED_MAX),
        _ => false,
    }
}

/// Whether a sealed private cookie of `len` bytes holds an id, with or without a stamp.
fn sealed_len_fits(len: usize) -> bool {
    len == PRIVATE_SEALED_LEN || len == PRIVATE_SEALED_MAX
}

/// `value` decoded from one base64 alphabet and encoded in another. actix-web's private jar
/// speaks standard base64, whose `/` and `=` some clients escape; the cookie carries the same
/// bytes in URL-safe base64 without padding, which no client escapes.
fn transcode(value: &str, from: &impl Engine, to: &impl Engine) -> Option<String> {
    let bytes = from.decode(value).ok()?;
    Some(to.encode(bytes))
}

/// How many MACs this thread has checked, counting an AES-GCM decryption as one: the measure of
/// the work a request's cookies cost, which timing would give only noisily.
#[cfg(test)]
pub(super) mod mac_count {
    use std::cell::Cell;

    thread_local! {
        static CHECKED: Cell<usize> = const { Cell::new(0) };
    }

    pub(in crate::cookie) fn add() {
        CHECKED.with(|checked| checked.set(checked.get() + 1));
    }

    /// The count since the last call on this thread.
    pub(in crate::cookie) fn take() -> usize {
        CHECKED.with(|checked| checked.replace(0))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    fn config(content: CookieContent) -> CookieConfig {
        CookieConfig {
            content,
            ..CookieConfig::default()
        }
    }

    fn sealed(config: &CookieConfig, id: SessionId, key: &Key) -> String {
        config.seal(id, None, &key.clone().into()).expect("sealed")
    }

    /// The id that `value` opens in the current format under the secret derived from `key`.
    fn opened(config: &CookieConfig, value: &str, key: &Key) -> Option<SessionId> {
        let opened = config.open_current(value, &key.clone().into());
        opened.map(|(id, _)| id)
    }

    /// What an app's signed jar makes of a value a client chose, `<cookie name>=<id>`, cut into
    /// the shape of a session cookie: the jar's tag, then the id.
    fn app_cookie_as_session_cookie(name: &str, id: SessionId, key: &Key) -> String {
        let mut jar = CookieJar::new();
        jar.signed_mut(key)
            .add(Cookie::new("comment", format!("{name}={id}")));
        let signed = jar.get("comment").expect("signed").value();
        format!("{}{id}", &signed[..44])
    }

    /// A cookie of earlier builds of kv-sessions for `id`: sealed with `key` itself and spelled as
    /// actix-web's jars spell it. A signed one is what an app's signed jar makes of
    /// `<name>=<id>`, the hole that derived secrets close.
    pub(in crate::cookie) fn legacy_value(
        config: &CookieConfig,
        id: SessionId,
        key: &Key,
    ) -> String {
        if config.content == CookieContent::Signed {
            return app_cookie_as_session_cookie(&config.name, id, key);
        }
        let mut jar = CookieJar::new();
        jar.private_mut(key)
            .add(Cookie::new(config.name.clone(), id.to_string()));
        jar.get(&config.name).expect("sealed").value().to_owned()
    }

    #[test]
    fn the_value_is_a_tag_then_the_id() {
        let (key, id) = (Key::generate(), SessionId::generate());
        let value = sealed(&CookieConfig::default(), id, &key);
        assert_eq!(value.len(), 43 + 32);
        let (tag, rest) = value.split_at(43);
        assert_eq!(URL_SAFE_NO_PAD.decode(tag).map(|tag| tag.len()), Ok(32));
        assert_eq!(rest, id.to_string());
    }

    #[test]
    fn values_hold_only_characters_that_no_client_escapes() {
        let key = Key::generate();
        for content in [CookieContent::Signed, CookieContent::Private] {
            for _ in 0..64 {
                let value = sealed(&config(content), SessionId::generate(), &key);
                assert!(
                    value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                    "{content:?}: {value}"
                );
            }
        }
    }

    #[test]
    fn the_tag_differs_from_the_one_actix_webs_signed_jar_computes_under_the_same_key() {
        let (config, key, id) = (
            CookieConfig::default(),
            Key::generate(),
            SessionId::generate(),
        );
        let jar_value = app_cookie_as_session_cookie(&config.name, id, &key);
        let jar_tag = STANDARD.decode(&jar_value[..44]).expect("base64");
        let ours = sealed(&config, id, &key);
        let our_tag = URL_SAFE_NO_PAD.decode(&ours[..TAG.len]).expect("base64");
        assert_eq!(our_tag.len(), jar_tag.len());
        assert_ne!(our_tag, jar_tag);
    }

    #[test]
    fn an_app_cookie_signed_by_the_jar_over_name_and_id_opens_no_session() {
        let (config, key, id) = (
            CookieConfig::default(),
            Key::generate(),
            SessionId::generate(),
        );
        let value = app_cookie_as_session_cookie(&config.name, id, &key);
        assert_eq!(opened(&config, &value, &key), None);
    }

    #[test]
    fn a_cookie_sealed_with_another_key_is_rejected() {
        for content in [CookieContent::Signed, CookieContent::Private] {
            let config = config(content);
            let value = sealed(&config, SessionId::generate(), &Key::generate());
            assert_eq!(
                opened(&config, &value, &Key::generate()),
                None,
                "{content:?}"
            );
        }
    }

    #[test]
    fn a_signature_does_not_carry_over_to_another_cookie_name() {
        let key = Key::generate();
        for content in [CookieContent::Signed, CookieContent::Private] {
            let other = CookieConfig {
                name: "other".to_owned(),
                ..config(content)
            };
            let value = sealed(&other, SessionId::generate(), &key);
            assert_eq!(opened(&config(content), &value, &key), None, "{content:?}");
        }
    }

    #[test]
    fn private_cookies_hide_the_id_and_open_only_with_their_key() {
        let config = config(CookieContent::Private);
        let (key, id) = (Key::generate(), SessionId::generate());
        let value = sealed(&config, id, &key);
        assert!(!value.contains(&id.to_string()));
        assert_eq!(value.len(), 80, "a nonce, the id and a tag: 60 bytes");
        assert_eq!(opened(&config, &value, &key), Some(id));
        assert_eq!(opened(&config, &value, &Key::generate()), None);
        let signed_reader = CookieConfig::default();
        assert_eq!(opened(&signed_reader, &value, &key), None);
    }

    #[test]
    fn legacy_cookies_are_rejected_unless_accepted() {
        let (key, id) = (Key::generate(), SessionId::generate());
        for content in [CookieContent::Signed, CookieContent::Private] {
            let refusing = config(content);
            let accepting = CookieConfig {
                accept_legacy: true,
                ..config(content)
            };
            let value = legacy_value(&refusing, id, &key);
            let secret = key.clone().into();
            assert_eq!(refusing.open_legacy(&value, &secret), None, "{content:?}");
            assert_eq!(
                accepting.open_legacy(&value, &secret),
                Some(id),
                "{content:?}"
            );
            assert_eq!(accepting.open_current(&value, &secret), None, "{content:?}");
        }
    }

    #[test]
    fn a_stamped_value_carries_the_version_under_the_seal() {
        let (key, id) = (Key::generate(), SessionId::generate());
        for content in [CookieContent::Signed, CookieContent::Private] {
            let config = config(content);
            let secret = key.clone().into();
            for version in [1, 42, u64::MAX] {
                let value = config.seal(id, Some(version), &secret).expect("sealed");
                assert!(value.len() <= LONGEST_VALUE, "{content:?}");
                assert!(config.looks_sealed(&value), "{content:?}");
                assert_eq!(
                    config.open_current(&value, &secret),
                    Some((id, version)),
                    "{content:?}"
                );
            }
            let unstamped = config.seal(id, None, &secret).expect("sealed");
            assert_eq!(config.open_current(&unstamped, &secret), Some((id, 0)));
        }
    }

    #[test]
    fn a_version_stamp_cannot_be_altered_without_the_key() {
        let (config, key, id) = (
            CookieConfig::default(),
            Key::generate(),
            SessionId::generate(),
        );
        let secret = key.clone().into();
        let value = config.seal(id, Some(7), &secret).expect("sealed");
        assert!(value.ends_with(".0000000000000007"), "{value}");
        let raised = format!("{}8", &value[..value.len() - 1]);
        let dropped = &value[..value.len() - 2];
        for forged in [raised.as_str(), dropped] {
            assert_eq!(config.open_current(forged, &secret), None, "{forged}");
        }
    }

    #[test]
    fn only_canonical_version_stamps_are_read() {
        let id = SessionId::generate();
        assert_eq!(read_text(&format!("{id}")), Some((id, 0)));
        assert_eq!(read_text(&format!("{id}.000000000000002a")), Some((id, 42)));
        assert_eq!(
            read_text(&format!("{id}.ffffffffffffffff")),
            Some((id, u64::MAX))
        );
        for text in [
            format!("{id}."),
            format!("{id}.2a"),
            format!("{id}.000000000000002A"),
            format!("{id}.+00000000000002a"),
            format!("{id}.000000000000002g"),
            format!("{id}:000000000000002a"),
            format!("{id}.0000000000000002a"),
        ] {
            assert_eq!(read_text(&text), None, "{text}");
        }
    }
}
