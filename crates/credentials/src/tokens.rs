//! API tokens: minted once as `kw_<id>_<secret>`, stored as a SHA-256 digest of the secret,
//! looked up by ID and compared in constant time. The CLI mints them; the server checks them.

use keyway_store::{Store, StoreError};
use rand::RngCore;
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

const PREFIX: &str = "kw_";
const ID_HEX: usize = 16;
const SECRET_HEX: usize = 64;

/// A new token: store `id` and `digest`, show `token` once.
#[derive(Debug)]
pub struct IssuedToken {
    pub id: String,
    pub digest: Vec<u8>,
    pub token: SecretString,
}

pub fn generate_token() -> IssuedToken {
    let mut id = [0u8; ID_HEX / 2];
    let mut secret = Zeroizing::new([0u8; SECRET_HEX / 2]);
    rand::rngs::OsRng.fill_bytes(&mut id);
    rand::rngs::OsRng.fill_bytes(secret.as_mut());
    let id = hex::encode(id);
    let secret_hex = Zeroizing::new(hex::encode(secret.as_ref()));
    IssuedToken {
        digest: digest(&secret_hex),
        token: SecretString::from(format!("{PREFIX}{id}_{}", secret_hex.as_str())),
        id,
    }
}

/// The life of a token when none is asked for.
pub const DEFAULT_TTL: std::time::Duration = std::time::Duration::from_secs(90 * 24 * 3600);

/// Issues a token that expires after `ttl` (`None`: never).
pub async fn issue_token_with_ttl(
    store: &Store,
    user_id: &str,
    ttl: Option<std::time::Duration>,
) -> Result<SecretString, StoreError> {
    let issued = generate_token();
    let expires_at = ttl.map(|ttl| {
        keyway_store::now_ms().saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX))
    });
    store
        .create_token(&issued.id, user_id, &issued.digest, expires_at)
        .await?;
    Ok(issued.token)
}

/// Issues a token with the default life.
pub async fn issue_token(store: &Store, user_id: &str) -> Result<SecretString, StoreError> {
    issue_token_with_ttl(store, user_id, Some(DEFAULT_TTL)).await
}

/// Whether `secret` (the part after the ID) is the one whose digest was stored; constant time.
pub fn matches(stored_digest: &[u8], secret: &str) -> bool {
    bool::from(stored_digest.ct_eq(&digest(secret)))
}

fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Splits `kw_<id>_<secret>`; `None` for anything else.
pub fn parse(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.strip_prefix(PREFIX)?.split_once('_')?;
    let hex = |s: &str, len| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(id, ID_HEX) && hex(secret, SECRET_HEX)).then_some((id, secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn generated_tokens_parse_and_match_their_digest() {
        let issued = generate_token();
        let (id, secret) = parse(issued.token.expose_secret()).unwrap();
        assert_eq!(id, issued.id);
        assert_eq!(digest(secret), issued.digest);
        assert!(matches(&issued.digest, secret));
        assert!(!matches(&issued.digest, &"0".repeat(64)));
        assert!(!format!("{issued:?}").contains(secret));
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        for bad in [
            "",
            "kw_",
            "kw_abc_def",
            "xx_0123456789abcdef_00",
            &format!("kw_{}_{}", "g".repeat(16), "0".repeat(64)),
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
