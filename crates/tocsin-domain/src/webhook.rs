//! Signing webhook deliveries the Standard Webhooks way (the scheme Svix uses), so a receiver can check them with
//! any of that scheme's libraries instead of code written for Tocsin.
//!
//! A delivery carries three headers: `webhook-id` (the same on every attempt, so receivers can drop duplicates),
//! `webhook-timestamp` (Unix seconds of this attempt) and `webhook-signature`: `v1,` and the base64 HMAC-SHA256 of
//! `{id}.{timestamp}.{body}`, keyed with the secret's bytes. The timestamp is signed so that a captured request cannot
//! be replayed outside the receiver's tolerance. Several space-separated signatures may be sent at once, which is how
//! a secret is rotated without a window in which receivers reject deliveries.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

pub const SECRET_PREFIX: &str = "whsec_";

/// How far a delivery's timestamp may be from the receiver's clock, as in the reference implementations.
pub const DEFAULT_TOLERANCE_SECS: i64 = 5 * 60;

/// The scheme asks for keys of 24 to 64 bytes: shorter ones are guessable, longer ones are hashed down by HMAC
/// anyway.
const KEY_BYTES: std::ops::RangeInclusive<usize> = 24..=64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("a signing secret is whsec_ followed by base64")]
    NotBase64,
    #[error("a signing secret must hold 24 to 64 bytes, this one holds {0}")]
    Length(usize),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("webhook-timestamp is not a number of seconds")]
    BadTimestamp,
    #[error("webhook-timestamp is too old")]
    TooOld,
    #[error("webhook-timestamp is in the future")]
    TooNew,
    #[error("webhook-signature holds no v1 signature")]
    NoSignature,
    #[error("no signature in webhook-signature matches")]
    Mismatch,
}

/// A new secret: `whsec_` and the base64 of 32 random bytes.
pub fn generate_secret() -> String {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

/// Checks that `secret` can sign, without signing anything; for validating a secret someone supplies.
pub fn check_secret(secret: &str) -> Result<(), SecretError> {
    key(secret).map(drop)
}

/// The `webhook-signature` header for one attempt: `v1,<base64 signature>`.
pub fn sign(
    secret: &str,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, SecretError> {
    let tag = mac(&key(secret)?, msg_id, timestamp, body)
        .finalize()
        .into_bytes();
    Ok(format!("v1,{}", STANDARD.encode(tag)))
}

/// Checks a received delivery: its timestamp is within `tolerance_secs` of `now` and one of the `v1` signatures
/// in the header matches. Signatures of other versions are skipped, as the scheme requires, so that a receiver keeps
/// working when a sender adds one.
pub fn verify(
    secret: &str,
    headers_id: &str,
    headers_timestamp: &str,
    headers_signature: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    let key = key(secret)?;
    let timestamp: i64 = headers_timestamp
        .trim()
        .parse()
        .map_err(|_| VerifyError::BadTimestamp)?;
    if now.saturating_sub(timestamp) > tolerance_secs {
        return Err(VerifyError::TooOld);
    }
    if timestamp.saturating_sub(now) > tolerance_secs {
        return Err(VerifyError::TooNew);
    }
    let expected = mac(&key, headers_id, timestamp, body);
    let mut saw_v1 = false;
    for entry in headers_signature.split_whitespace() {
        let Some(("v1", encoded)) = entry.split_once(',') else {
            continue;
        };
        saw_v1 = true;
        let Ok(candidate) = STANDARD.decode(encoded) else {
            continue;
        };
        // `verify_slice` compares in constant time, so response timing tells an attacker nothing about how
        // close a forged signature came.
        if expected.clone().verify_slice(&candidate).is_ok() {
            return Ok(());
        }
    }
    Err(if saw_v1 {
        VerifyError::Mismatch
    } else {
        VerifyError::NoSignature
    })
}

/// The key bytes. The prefix is optional, as in the reference implementations, so a secret pasted without it
/// still works.
fn key(secret: &str) -> Result<Vec<u8>, SecretError> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    let key = STANDARD
        .decode(encoded)
        .map_err(|_| SecretError::NotBase64)?;
    if !KEY_BYTES.contains(&key.len()) {
        return Err(SecretError::Length(key.len()));
    }
    Ok(key)
}

fn mac(key: &[u8], msg_id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    // The test vector the Standard Webhooks and Svix libraries all check against: a receiver's library accepts
    // what Tocsin sends only if this comes out byte for byte.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn signs_the_standard_webhooks_test_vector() {
        assert_eq!(sign(SECRET, ID, TS, BODY).unwrap(), SIGNATURE);
        let without_prefix = SECRET.strip_prefix(SECRET_PREFIX).unwrap();
        assert_eq!(sign(without_prefix, ID, TS, BODY).unwrap(), SIGNATURE);
    }

    #[test]
    fn verifies_the_test_vector_among_other_signatures() {
        let ts = TS.to_string();
        verify(SECRET, ID, &ts, SIGNATURE, BODY, TS, 300).unwrap();
        let several = format!("v2,c29tZXRoaW5n v1,bm9wZQ== {SIGNATURE}");
        verify(SECRET, ID, &ts, &several, BODY, TS + 299, 300).unwrap();
    }

    #[test]
    fn rejects_tampering_wrong_secrets_and_stale_timestamps() {
        let ts = TS.to_string();
        let check =
            |secret, id, ts: &str, sig, body, now| verify(secret, id, ts, sig, body, now, 300);
        assert_eq!(
            check(SECRET, ID, &ts, SIGNATURE, br#"{"test": 2432232315}"#, TS),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(SECRET, "msg_other", &ts, SIGNATURE, BODY, TS),
            Err(VerifyError::Mismatch)
        );
        let other = generate_secret();
        assert_eq!(
            check(&other, ID, &ts, SIGNATURE, BODY, TS),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(SECRET, ID, &ts, SIGNATURE, BODY, TS + 301),
            Err(VerifyError::TooOld)
        );
        assert_eq!(
            check(SECRET, ID, &ts, SIGNATURE, BODY, TS - 301),
            Err(VerifyError::TooNew)
        );
        assert_eq!(
            check(SECRET, ID, "soon", SIGNATURE, BODY, TS),
            Err(VerifyError::BadTimestamp)
        );
        assert_eq!(
            check(SECRET, ID, &ts, "", BODY, TS),
            Err(VerifyError::NoSignature)
        );
        let unsigned_version = SIGNATURE.replacen("v1,", "v1a,", 1);
        assert_eq!(
            check(SECRET, ID, &ts, &unsigned_version, BODY, TS),
            Err(VerifyError::NoSignature)
        );
        assert_eq!(
            check(SECRET, ID, &ts, "v1,***", BODY, TS),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn generated_secrets_are_random_32_byte_keys_that_sign() {
        let (a, b) = (generate_secret(), generate_secret());
        assert_ne!(a, b);
        let key = STANDARD
            .decode(a.strip_prefix(SECRET_PREFIX).unwrap())
            .unwrap();
        assert_eq!(key.len(), 32);
        let sig = sign(&a, "msg_1", 1_700_000_000, b"{}").unwrap();
        verify(&a, "msg_1", "1700000000", &sig, b"{}", 1_700_000_000, 300).unwrap();
    }

    #[test]
    fn secrets_must_be_base64_of_24_to_64_bytes() {
        assert_eq!(
            check_secret("whsec_not base64!"),
            Err(SecretError::NotBase64)
        );
        let short = format!("{SECRET_PREFIX}{}", STANDARD.encode([7u8; 16]));
        assert_eq!(check_secret(&short), Err(SecretError::Length(16)));
        let long = format!("{SECRET_PREFIX}{}", STANDARD.encode([7u8; 65]));
        assert_eq!(sign(&long, ID, TS, BODY), Err(SecretError::Length(65)));
        assert_eq!(
            verify(&long, ID, "0", SIGNATURE, BODY, 0, 300),
            Err(VerifyError::Secret(SecretError::Length(65)))
        );
        check_secret(SECRET).unwrap();
    }
}
