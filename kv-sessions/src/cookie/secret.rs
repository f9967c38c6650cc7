//! The secrets that seal session cookies: one derived from each key the app gives, and the ring
//! of them that opens incoming cookies.
//!
//! The app's key also signs and encrypts the app's own cookies through actix-web's cookie jars.
//! A signed jar tags only a cookie's value, so under the app's key an app cookie whose value a
//! client chose, such as `session=<someone's id>`, would carry a valid session cookie tag. Under
//! a secret of their own, session cookies share nothing with the app's cookies.

use actix_web::cookie::Key;
use aes_gcm::Aes256Gcm;
use aes_gcm::aead::generic_array::GenericArray;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The length of a SHA-256 block, the size HMAC pads its key to.
const HMAC_BLOCK: usize = 64;

/// The length of a cookie secret, as of actix-web's [`Key`]: a 32-byte signing half, then a
/// 32-byte encryption half.
pub(super) const SECRET_LEN: usize = 64;

/// What the session cookie secret is derived for. A new label gives new secrets, so it names a
/// version.
const SESSION_SECRET_LABEL: &[u8] = b"kv-sessions session cookie v1";

/// A key as the app gave it, and the secret derived from it that seals session cookies.
#[derive(Clone)]
pub(crate) struct CookieSecret {
    /// Derived from the app's key with [`derive_session_secret`]; it seals every session cookie.
    pub(super) derived: PreparedSecret,
    /// The app's key as given, which sealed the cookies of earlier builds. It opens them when
    /// [`CookieConfig::accept_legacy`](super::CookieConfig::accept_legacy) says so, and seals
    /// nothing.
    pub(super) given: PreparedSecret,
}

impl From<Key> for CookieSecret {
    fn from(key: Key) -> Self {
        Self {
            derived: derive_session_secret(&key).into(),
            given: key.into(),
        }
    }
}

/// A secret with the HMAC state for its signing half and the AES-256-GCM cipher for its
/// encryption half prepared once: a tag then costs two SHA-256 blocks rather than four, and
/// opening a private cookie expands no AES key.
#[derive(Clone)]
pub(super) struct PreparedSecret {
    /// The secret in the type actix-web's private jar takes, which seals private cookies with
    /// its encryption half.
    pub(super) jar_key: Key,
    mac: Hmac<Sha256>,
    /// The cipher that opens what the private jar sealed under [`jar_key`](Self::jar_key).
    pub(super) cipher: Aes256Gcm,
}

impl From<Key> for PreparedSecret {
    fn from(jar_key: Key) -> Self {
        let mac = keyed_mac(jar_key.signing());
        // An encryption half is always 32 bytes, an AES-256 key.
        let cipher = Aes256Gcm::new(GenericArray::from_slice(jar_key.encryption()));
        Self {
            jar_key,
            mac,
            cipher,
        }
    }
}

impl PreparedSecret {
    /// The HMAC of `<name>=<text>`, ready to finalize or verify.
    pub(super) fn tag(&self, name: &str, text: &str) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        mac.update(name.as_bytes());
        mac.update(b"=");
        mac.update(text.as_bytes());
        mac
    }
}

/// The secret that seals session cookies, derived from the app's `key` with HKDF-Expand
/// (RFC 5869) over [`SESSION_SECRET_LABEL`], taking the master key as the pseudorandom key.
fn derive_session_secret(key: &Key) -> Key {
    Key::from(&hkdf_expand(key.master(), SESSION_SECRET_LABEL)[..])
}

/// The first 64 bytes HKDF-Expand (RFC 5869) with SHA-256 makes from `prk` and `info`: a full
/// cookie secret, signing half first.
fn hkdf_expand(prk: &[u8], info: &[u8]) -> [u8; SECRET_LEN] {
    let prk = keyed_mac(prk);
    let first = prk
        .clone()
        .chain_update(info)
        .chain_update([1_u8])
        .finalize()
        .into_bytes();
    let second = prk
        .chain_update(first)
        .chain_update(info)
        .chain_update([2_u8])
        .finalize()
        .into_bytes();
    let mut okm = [0; SECRET_LEN];
    let (start, end) = okm.split_at_mut(first.len());
    start.copy_from_slice(&first);
    end.copy_from_slice(&second);
    okm
}

/// An HMAC-SHA256 keyed with `secret`, which is at most a block long (a signing half is 32 bytes,
/// a master key 64). HMAC pads a short key with zeros to a block, so padding it here changes
/// nothing, and a block-sized key cannot be refused.
fn keyed_mac(secret: &[u8]) -> Hmac<Sha256> {
    debug_assert!(secret.len() <= HMAC_BLOCK, "HMAC hashes longer keys first");
    let mut block = [0; HMAC_BLOCK];
    block.iter_mut().zip(secret).for_each(|(b, s)| *b = *s);
    <Hmac<Sha256> as KeyInit>::new(&block.into())
}

/// The secret that seals new cookies, and older ones that still open incoming cookies.
#[derive(Clone)]
pub(crate) struct SecretRing {
    pub(crate) current: CookieSecret,
    pub(crate) previous: Vec<CookieSecret>,
}

impl SecretRing {
    /// Every secret, the current one first.
    pub(super) fn all(&self) -> impl Iterator<Item = &CookieSecret> {
        std::iter::once(&self.current).chain(&self.previous)
    }
}

/// A ring of the one secret derived from `key`, with no previous ones.
impl From<Key> for SecretRing {
    fn from(key: Key) -> Self {
        Self {
            current: key.into(),
            previous: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(digits: &str) -> Vec<u8> {
        (0..digits.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(&digits[at..at + 2], 16).expect("hex"))
            .collect()
    }

    #[test]
    fn session_secrets_are_derived_with_hkdf_expand() {
        // RFC 5869, test case 1: the PRK and info it gives, and the first 42 bytes of its OKM.
        let prk = hex("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
        let info = hex("f0f1f2f3f4f5f6f7f8f9");
        let okm = hex(concat!(
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf",
            "34007208d5b887185865"
        ));
        assert_eq!(hkdf_expand(&prk, &info)[..okm.len()], okm[..]);
    }

    #[test]
    fn the_session_secret_is_fixed_by_the_app_key_and_shares_nothing_with_it() {
        let key = Key::generate();
        let derived = derive_session_secret(&key);
        assert_eq!(derived.master(), derive_session_secret(&key).master());
        assert_ne!(derived.signing(), key.signing());
        assert_ne!(derived.encryption(), key.encryption());
        let other = derive_session_secret(&Key::generate());
        assert_ne!(derived.master(), other.master());
    }
}
