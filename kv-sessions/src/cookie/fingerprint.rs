//! A short name for a key that can be shown: operators compare it across instances to find the
//! one whose key differs, without the key ever reaching a log.

use std::fmt;

use actix_web::cookie::Key;
use sha2::{Digest, Sha256};

/// What the fingerprint is a hash for. It keeps fingerprints apart from any other hash of the
/// key, and a new label gives new fingerprints, so it names a version.
const FINGERPRINT_LABEL: &[u8] = b"kv-sessions key fingerprint v1";

/// How many bytes of the hash a fingerprint keeps: enough to tell keys apart at a glance, far too
/// few to learn anything of the key.
const FINGERPRINT_LEN: usize = 8;

/// A fingerprint of a cookie key: the first 8 bytes of the SHA-256 of a fixed label and the key,
/// shown as 16 hex digits.
///
/// The middleware logs the fingerprints of its keys at `info` level when it is built, and
/// [`SessionMiddleware::key_fingerprint`](crate::SessionMiddleware::key_fingerprint) returns
/// them: instances that share sessions must show the same one, or each refuses the others'
/// cookies and signs their users out. A fingerprint cannot seal or open a cookie, and the key
/// cannot be worked back from it.
///
/// ```
/// use actix_web::cookie::Key;
/// use kv_sessions::KeyFingerprint;
///
/// let key = Key::from(&[7; 64]);
/// assert_eq!(KeyFingerprint::of(&key), KeyFingerprint::of(&key.clone()));
/// assert_ne!(KeyFingerprint::of(&key), KeyFingerprint::of(&Key::generate()));
/// assert_eq!(KeyFingerprint::of(&key).to_string().len(), 16);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyFingerprint([u8; FINGERPRINT_LEN]);

impl KeyFingerprint {
    /// The fingerprint of `key`, the same on every machine and at every start.
    pub fn of(key: &Key) -> Self {
        let hash = Sha256::new()
            .chain_update(FINGERPRINT_LABEL)
            .chain_update(key.master())
            .finalize();
        let mut kept = [0; FINGERPRINT_LEN];
        kept.copy_from_slice(&hash[..FINGERPRINT_LEN]);
        Self(kept)
    }
}

impl fmt::Display for KeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl fmt::Debug for KeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyFingerprint({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_is_sixteen_hex_digits_fixed_by_the_key() {
        let shown = KeyFingerprint::of(&Key::from(&[0x5a; 64])).to_string();
        assert_eq!(
            shown,
            KeyFingerprint::of(&Key::from(&[0x5a; 64])).to_string()
        );
        assert_eq!(shown.len(), 2 * FINGERPRINT_LEN);
        assert!(
            shown.bytes().all(|digit| digit.is_ascii_hexdigit()),
            "{shown}"
        );
        assert_ne!(
            KeyFingerprint::of(&Key::from(&[0x5b; 64])).to_string(),
            shown
        );
    }
}
