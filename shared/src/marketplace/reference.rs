//! The registration reference: what the fulfillment URL hands the registration page instead of
//! the Marketplace token. A short-lived, HMAC-signed pointer to the customer, so the page can
//! trust it without a lookup and the token itself never travels further.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::{Duration, OffsetDateTime};

/// How long a reference is good for.
pub const REFERENCE_TTL: Duration = Duration::hours(1);

/// The key references are signed with (`MARKETPLACE_REFERENCE_SECRET`). Never logged.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

impl SigningKey {
    /// A key from secret bytes.
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        SigningKey(secret.into())
    }

    /// A fresh random key: for a process whose references need not outlive it (the local
    /// stack).
    pub fn random() -> Result<Self, String> {
        let mut bytes = vec![0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| format!("no randomness: {e}"))?;
        Ok(SigningKey(bytes))
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(payload.as_bytes());
        mac
    }

    /// A reference to the customer with this key, valid until `now` + [`REFERENCE_TTL`].
    pub fn sign(&self, customer_key: &str, now: OffsetDateTime) -> String {
        let expires = (now + REFERENCE_TTL).unix_timestamp();
        let payload = format!("{expires}.{}", URL_SAFE_NO_PAD.encode(customer_key));
        let signature = URL_SAFE_NO_PAD.encode(self.mac(&payload).finalize().into_bytes());
        format!("{payload}.{signature}")
    }

    /// The customer key a reference names, if its signature holds and it has not expired.
    pub fn verify(&self, reference: &str, now: OffsetDateTime) -> Result<String, BadReference> {
        let mut parts = reference.trim().split('.');
        let (Some(expires), Some(customer), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(BadReference::Malformed);
        };
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| BadReference::Malformed)?;
        self.mac(&format!("{expires}.{customer}"))
            .verify_slice(&signature)
            .map_err(|_| BadReference::Forged)?;
        let expires: i64 = expires.parse().map_err(|_| BadReference::Malformed)?;
        if now.unix_timestamp() > expires {
            return Err(BadReference::Expired);
        }
        let customer = URL_SAFE_NO_PAD
            .decode(customer)
            .map_err(|_| BadReference::Malformed)?;
        String::from_utf8(customer).map_err(|_| BadReference::Malformed)
    }
}

/// Why a reference is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadReference {
    /// Not a reference at all.
    Malformed,
    /// Its signature does not hold.
    Forged,
    /// Too old.
    Expired,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_names_its_customer_until_it_expires() {
        let key = SigningKey::new("secret");
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        let reference = key.sign("MPCUST#abc#acct-1", now);
        assert_eq!(key.verify(&reference, now).unwrap(), "MPCUST#abc#acct-1");
        assert_eq!(
            key.verify(&reference, now + Duration::hours(2)),
            Err(BadReference::Expired)
        );
        assert_eq!(
            SigningKey::new("other").verify(&reference, now),
            Err(BadReference::Forged)
        );
        let tampered = reference.replacen(char::is_numeric, "9", 1);
        assert!(key.verify(&tampered, now).is_err());
        assert_eq!(key.verify("nope", now), Err(BadReference::Malformed));
    }
}
