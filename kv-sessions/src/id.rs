//! Session identifiers, and the digest that stores keep in their place.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The identifier of a stored session: a random UUID v4.
///
/// Its 122 random bits come from `rand`'s thread-local generator, a ChaCha stream cipher that
/// the operating system's random source seeds and reseeds: as unpredictable as asking the
/// operating system each time, without a system call per id.
///
/// An id is minted by [`SessionId::generate`], parsed from text with [`FromStr`], or rebuilt
/// with [`SessionId::from_bytes`] from the bytes a store kept, so a value of this type is always
/// a well-formed UUID. Its text form is 32 lowercase hex digits; that is what the session
/// cookie carries, under a signature.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(Uuid);

impl SessionId {
    /// Mints a fresh random id.
    pub fn generate() -> Self {
        Self(Uuid::new_v4())
    }

    /// Mints a fresh random id to replace `old` at a renewal: one whose [digest](Self::digest)
    /// starts with the same byte as `old`'s. The middleware mints every renewal's id this way, so
    /// that a store can keep a session and its successor side by side, as
    /// [`RedisStore`] does on Redis Cluster, where both keys of the renewal must
    /// share a hash slot for it to stay one atomic step.
    ///
    /// It draws ids until one fits, 256 draws on average, each hashed: the `ids` bench measured
    /// 0.45 ms per successor against 0.36 µs per fresh id, on a shared two-core machine under
    /// load. It runs once per renewal (a login, a change of privilege), not per request. The result gives nothing away: the byte it shares is part of the digest,
    /// which a store keeps anyway, not of the id, and among the ids whose digest starts with that
    /// byte the result is as uniformly random as any other draw, with about 114 of its 122 random
    /// bits left. Knowing `old` (a fixation attempt) or the shared byte tells an attacker nothing
    /// that narrows the search for the new id below that.
    ///
    /// ```
    /// use kv_sessions::SessionId;
    ///
    /// let old = SessionId::generate();
    /// let new = SessionId::generate_successor(&old);
    /// assert_ne!(new, old);
    /// assert_eq!(new.digest().as_bytes()[0], old.digest().as_bytes()[0]);
    /// ```
    #[cfg_attr(feature = "redis", doc = "[`RedisStore`]: crate::RedisStore")]
    #[cfg_attr(
        not(feature = "redis"),
        doc = "[`RedisStore`]: https://docs.rs/kv-sessions/latest/kv_sessions/struct.RedisStore.html"
    )]
    pub fn generate_successor(old: &SessionId) -> Self {
        let first = old.digest().first_byte();
        loop {
            let drawn = Self::generate();
            if drawn.digest().first_byte() == first && drawn != *old {
                return drawn;
            }
        }
    }

    /// The id as 16 raw bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }

    /// Rebuilds an id from the 16 bytes given by [`SessionId::as_bytes`].
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(Uuid::from_bytes(bytes))
    }

    /// The digest a store keeps in place of this id; see [`SessionDigest`].
    pub fn digest(&self) -> SessionDigest {
        let full = Sha256::digest(self.as_bytes());
        let mut digest = [0; SessionDigest::LEN];
        digest.copy_from_slice(&full[..SessionDigest::LEN]);
        SessionDigest(digest)
    }
}

/// The digest of a [`SessionId`], the first 128 bits of its SHA-256: what every store of this
/// crate keeps as a session's key, in place of the id itself.
///
/// Whoever can read a store, a backup of it or a replica learns the digests of live sessions,
/// not their ids, and a cookie needs the id. The id's 122 random bits make the digest impossible
/// to reverse, so no secret is needed: the digest stays the same when the cookie key rotates,
/// and every instance of an app computes the same one. Stores of your own should key sessions
/// by it too.
///
/// 128 bits keep it as hard to reverse as the id is to guess, and as short as the id: a store's
/// keys, and so its index nodes, stay the size they were with ids (with the whole 256 bits,
/// sled spent measurably longer copying its nodes on every create). Its text form is 32
/// lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionDigest([u8; SessionDigest::LEN]);

impl SessionDigest {
    /// Its length in bytes.
    pub const LEN: usize = 16;

    /// The digest as raw bytes.
    pub fn as_bytes(&self) -> &[u8; Self::LEN] {
        &self.0
    }

    /// The first byte, which a renewal keeps ([`SessionId::generate_successor`]).
    pub(crate) fn first_byte(&self) -> u8 {
        self.0[0]
    }

    /// Rebuilds a digest from the bytes given by [`SessionDigest::as_bytes`], as a store reads
    /// it back.
    pub fn from_bytes(bytes: [u8; Self::LEN]) -> Self {
        Self(bytes)
    }
}

impl fmt::Display for SessionDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl FromStr for SessionDigest {
    type Err = ParseSessionIdError;

    /// Parses the 32 lowercase hex digits written by [`Display`](fmt::Display), as an app reads
    /// back the handle of a [`UserSession`](crate::UserSession) from a form.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.as_bytes();
        if text.len() != 2 * Self::LEN {
            return Err(ParseSessionIdError(()));
        }
        let mut digest = [0; Self::LEN];
        for (byte, pair) in digest.iter_mut().zip(text.chunks_exact(2)) {
            *byte = hex_digit(pair[0])? << 4 | hex_digit(pair[1])?;
        }
        Ok(Self(digest))
    }
}

fn hex_digit(digit: u8) -> Result<u8, ParseSessionIdError> {
    match digit {
        b'0'..=b'9' => Ok(digit - b'0'),
        b'a'..=b'f' => Ok(digit - b'a' + 10),
        _ => Err(ParseSessionIdError(())),
    }
}

/// Digests print in full only through [`Display`](fmt::Display), as ids do.
impl fmt::Debug for SessionDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, ..] = self.0;
        write!(f, "SessionDigest({a:02x}{b:02x}{c:02x}{d:02x}…)")
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.simple(), f)
    }
}

/// Ids print in full only through [`Display`](fmt::Display): a debug dump of a request or a
/// session never spills a live session id into a log.
impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.simple().to_string();
        write!(f, "SessionId({}…)", &text[..8])
    }
}

/// The error returned when text is not a session id. `Debug` shows its message.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a session id: expected 32 hexadecimal digits")]
pub struct ParseSessionIdError(());

impl fmt::Debug for ParseSessionIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::error::report(self, f)
    }
}

impl FromStr for SessionId {
    type Err = ParseSessionIdError;

    /// Parses the 32-hex-digit form written by [`Display`](fmt::Display). Other UUID spellings
    /// (hyphenated, braced, URN) are refused so that one session has exactly one cookie value.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.len() != 32 {
            return Err(ParseSessionIdError(()));
        }
        Uuid::try_parse(text)
            .map(Self)
            .map_err(|_| ParseSessionIdError(()))
    }
}

impl TryFrom<&str> for SessionId {
    type Error = ParseSessionIdError;

    fn try_from(text: &str) -> Result<Self, Self::Error> {
        text.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_distinct_and_round_trip_through_text() {
        let a = SessionId::generate();
        let b = SessionId::generate();
        assert_ne!(a, b);
        assert_eq!(a.to_string().len(), 32);
        assert_eq!(a.to_string().parse::<SessionId>(), Ok(a));
    }

    #[test]
    fn a_successor_is_a_fresh_id_whose_digest_starts_with_the_same_byte() {
        for _ in 0..64 {
            let old = SessionId::generate();
            let new = SessionId::generate_successor(&old);
            assert_ne!(new, old);
            assert_eq!(new.digest().first_byte(), old.digest().first_byte());
        }
        let old = SessionId::generate();
        let successors: std::collections::HashSet<_> = (0..32)
            .map(|_| SessionId::generate_successor(&old))
            .collect();
        assert_eq!(successors.len(), 32, "successors are drawn at random");
    }

    #[test]
    fn ids_round_trip_through_bytes() {
        let id = SessionId::generate();
        assert_eq!(SessionId::from_bytes(*id.as_bytes()), id);
    }

    #[test]
    fn other_uuid_spellings_and_garbage_are_refused() {
        let id = SessionId::generate();
        let hyphenated = uuid::Uuid::from_bytes(*id.as_bytes())
            .hyphenated()
            .to_string();
        for text in [hyphenated.as_str(), "", "zz", &"g".repeat(32), "é"] {
            assert!(text.parse::<SessionId>().is_err(), "{text:?} parsed");
        }
    }

    #[test]
    fn the_digest_is_the_first_half_of_the_sha256_of_the_raw_id_and_prints_as_hex() {
        let id = SessionId::from_bytes([0; 16]);
        let digest = id.digest();
        assert_eq!(digest.to_string(), "374708fff7719dd5979ec875d56cd228");
        assert_eq!(SessionDigest::from_bytes(*digest.as_bytes()), digest);
        assert_ne!(SessionId::generate().digest(), digest);
        assert_eq!(format!("{digest:?}"), "SessionDigest(374708ff…)");
    }

    #[test]
    fn digests_round_trip_through_text_and_other_spellings_are_refused() {
        let digest = SessionId::generate().digest();
        assert_eq!(digest.to_string().parse::<SessionDigest>(), Ok(digest));
        let upper = digest.to_string().to_uppercase();
        let long = format!("{digest}0");
        for text in [upper.as_str(), "", &long, &"g".repeat(32), &"é".repeat(16)] {
            assert!(text.parse::<SessionDigest>().is_err(), "{text:?} parsed");
        }
    }

    #[test]
    fn debug_output_does_not_reveal_the_whole_id() {
        let id = SessionId::generate();
        assert!(!format!("{id:?}").contains(&id.to_string()));
    }
}
