//! Secrets Tocsin must read back (contact methods' URLs and signing secrets, the action-link key) are sealed with
//! AES-256-GCM under a key kept outside the database, so that a copied database file or backup holds no usable
//! credential. Each value is bound to where it is stored (its associated data names the row), so a sealed value
//! moved to another row does not open.
//!
//! A sealed value is `enc:v1:` and the base64url of nonce, ciphertext and tag. Values written before sealing
//! existed read back as they are, and [`crate::SqlStore::seal_secrets_at_rest`] seals them at start-up.

use crate::{Result, StoreError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use std::sync::Arc;

/// What every sealed value starts with.
pub(crate) const PREFIX: &str = "enc:v1:";

/// The 32-byte key secrets are sealed with.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        Self(key)
    }

    /// A key written as base64 (standard or URL-safe, padded or not) of 32 bytes, surrounding blanks ignored.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let text = text.trim();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .map_err(|_| "is not base64 (make one with `openssl rand -base64 32`)".to_owned())?;
        let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            format!(
                "is {} bytes long; it must be 32 (make one with `openssl rand -base64 32`)",
                b.len()
            )
        })?;
        Ok(Self(key))
    }

    /// The key as base64, as [`SecretKey::parse`] reads it.
    pub fn encode(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0)
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(…)")
    }
}

/// Seals and opens stored secrets; without a key it stores them as they are (a store opened for a test of
/// something else). Cheap to clone.
#[derive(Clone, Default)]
pub struct Sealer(Option<Arc<LessSafeKey>>);

/// The sealer of a store given no key.
pub(crate) static UNSEALED: Sealer = Sealer(None);

impl Sealer {
    pub fn new(key: &SecretKey) -> Self {
        let key = UnboundKey::new(&AES_256_GCM, &key.0).expect("a 32-byte AES-256 key");
        Self(Some(Arc::new(LessSafeKey::new(key))))
    }

    /// Whether values are sealed, or stored as they are.
    pub fn seals(&self) -> bool {
        self.0.is_some()
    }

    /// `plaintext` sealed for the place `bound_to` names (a row), or as it is without a key.
    pub fn seal(&self, bound_to: &str, plaintext: &str) -> String {
        let Some(key) = &self.0 else {
            return plaintext.to_owned();
        };
        // Random 96-bit nonces: safe for far more values than a catalog of contact methods will ever seal.
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let mut sealed = plaintext.as_bytes().to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(bound_to.as_bytes()),
            &mut sealed,
        )
        .expect("AES-GCM seals any value this small");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out))
    }

    /// Whether `stored` is a sealed value (else it was written before sealing, or without a key).
    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(PREFIX)
    }

    /// The plaintext of a value stored for `bound_to`.
    pub fn open(&self, bound_to: &str, stored: &str) -> Result<String> {
        let Some(sealed) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_owned());
        };
        let Some(key) = &self.0 else {
            return Err(StoreError::Backend(
                "a stored secret is sealed, but no secret key was given to open it".into(),
            ));
        };
        let wrong = || {
            StoreError::Backend(format!(
                "the stored secret of {bound_to} does not open with this secret key: the key is not the one it was \
                 sealed with, or the value was altered"
            ))
        };
        let bytes = URL_SAFE_NO_PAD.decode(sealed).map_err(|_| wrong())?;
        if bytes.len() < NONCE_LEN {
            return Err(wrong());
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| wrong())?;
        let mut sealed = sealed.to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from(bound_to.as_bytes()), &mut sealed)
            .map_err(|_| wrong())?;
        String::from_utf8(plain.to_vec()).map_err(|_| wrong())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_in_its_place() {
        let key = SecretKey::generate();
        let sealer = Sealer::new(&key);
        let sealed = sealer.seal(
            "contact_method:cm_1",
            "https://hooks.slack.com/services/T/B/secret",
        );
        assert!(Sealer::is_sealed(&sealed));
        assert!(!sealed.contains("hooks.slack.com"), "{sealed}");
        assert_ne!(
            sealed,
            sealer.seal(
                "contact_method:cm_1",
                "https://hooks.slack.com/services/T/B/secret"
            ),
            "a fresh nonce each time"
        );
        assert_eq!(
            sealer.open("contact_method:cm_1", &sealed).unwrap(),
            "https://hooks.slack.com/services/T/B/secret"
        );
        assert!(
            sealer.open("contact_method:cm_2", &sealed).is_err(),
            "moved to another row"
        );
        let again = Sealer::new(&SecretKey::parse(&key.encode()).unwrap());
        assert!(
            again.open("contact_method:cm_1", &sealed).is_ok(),
            "the key survives its text form"
        );
        let other = Sealer::new(&SecretKey::generate());
        let err = other.open("contact_method:cm_1", &sealed).unwrap_err();
        assert!(
            err.to_string().contains("not the one it was sealed with"),
            "{err}"
        );
        let mut altered = sealed.clone();
        altered.pop();
        altered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(sealer.open("contact_method:cm_1", &altered).is_err());
        assert!(
            Sealer::default()
                .open("contact_method:cm_1", &sealed)
                .is_err()
        );
    }

    #[test]
    fn values_from_before_sealing_read_back_as_they_are() {
        let sealer = Sealer::new(&SecretKey::generate());
        assert_eq!(
            sealer.open("x", r#"{"type":"email"}"#).unwrap(),
            r#"{"type":"email"}"#
        );
        assert_eq!(Sealer::default().seal("x", "plain"), "plain");
    }

    #[test]
    fn keys_are_parsed_with_a_message_that_says_how_to_make_one() {
        assert!(SecretKey::parse("  c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=\n").is_ok());
        let short = SecretKey::parse("c2hvcnQ=").unwrap_err();
        assert!(
            short.contains("5 bytes") && short.contains("openssl rand -base64 32"),
            "{short}"
        );
        assert!(
            SecretKey::parse("not base64!")
                .unwrap_err()
                .contains("not base64")
        );
    }
}
