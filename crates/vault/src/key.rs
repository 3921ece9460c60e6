//! Master keys and their IDs: validation, construction from bytes or a passphrase, and generation.

use std::fmt;
use std::str::FromStr;

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::{KeyInit, OsRng};
use aes_gcm::Aes256Gcm;
use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::encoding;
use crate::error::VaultError;
use crate::kdf::{self, KdfParams};

/// Length of a master key in bytes (AES-256).
pub(crate) const KEY_LEN: usize = 32;

const MAX_KEY_ID_LEN: usize = 64;
const KEY_ID_RULE: &str = "use 1 to 64 characters from A-Z, a-z, 0-9, '_', '.' and '-'";

/// Name of a master key, stored beside everything sealed under it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyId(String);

impl KeyId {
    /// The ID as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for KeyId {
    type Err = VaultError;

    // The rejected text is not echoed: a mangled "id:key" item could put key text here.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(VaultError::InvalidKeyId(format!(
                "the key ID is empty; {KEY_ID_RULE}"
            )));
        }
        let chars = s.chars().count();
        if chars > MAX_KEY_ID_LEN {
            return Err(VaultError::InvalidKeyId(format!(
                "the key ID is {chars} characters long; {KEY_ID_RULE}"
            )));
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
        if let Some(pos) = s.chars().position(|c| !allowed(c)) {
            return Err(VaultError::InvalidKeyId(format!(
                "character {} of the key ID is not allowed; {KEY_ID_RULE}",
                pos + 1
            )));
        }
        Ok(Self(s.to_owned()))
    }
}

impl TryFrom<&str> for KeyId {
    type Error = VaultError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for KeyId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A named 256-bit key that wraps data keys. The AES key schedule is built once
/// here, so wrapping and unwrapping pay no setup per call. Cloning copies the schedule
/// (wiped on drop, like the original).
#[derive(Clone)]
pub struct MasterKey {
    id: KeyId,
    cipher: Aes256Gcm,
}

impl MasterKey {
    /// Uses `key` as the raw master key; it must be exactly 32 bytes.
    pub fn from_bytes(id: KeyId, key: &[u8]) -> Result<Self, VaultError> {
        match Aes256Gcm::new_from_slice(key) {
            Ok(cipher) if key.len() == KEY_LEN => Ok(Self { id, cipher }),
            _ => Err(VaultError::KeyLength {
                id: id.0,
                len: key.len(),
            }),
        }
    }

    /// Derives the master key from a passphrase with Argon2id. `params` are checked
    /// first (see [`KdfParams::check`]) and must be stored to derive the same key again.
    pub fn from_passphrase(
        id: KeyId,
        passphrase: &SecretString,
        params: &KdfParams,
    ) -> Result<Self, VaultError> {
        let key = kdf::derive(passphrase, params)?;
        Self::from_bytes(id, &key[..])
    }

    /// Makes a fresh random key. The second value is its `id:base64key` line for a
    /// key file or environment variable, as read by [`crate::parse_key_list`].
    pub fn generate(id: KeyId) -> (Self, SecretString) {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        OsRng.fill_bytes(&mut key[..]);
        // Exact capacity: a growing String would leave copies of the key text behind.
        let mut line = String::with_capacity(id.0.len() + 1 + 44);
        line.push_str(&id.0);
        line.push(':');
        encoding::encode_into(&key, &mut line);
        let master = Self {
            // By reference: a by-value conversion would leave an unwiped copy of the key.
            cipher: Aes256Gcm::new((&*key).into()),
            id,
        };
        (master, SecretString::from(line))
    }

    /// The key's ID.
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    pub(crate) fn cipher(&self) -> &Aes256Gcm {
        &self.cipher
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id.as_str())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn key_id_accepts_the_allowed_alphabet() {
        for ok in ["a", "k1", "2024-06.master_key", &"x".repeat(64)] {
            let id: KeyId = ok.parse().unwrap();
            assert_eq!(id.as_str(), ok);
            assert_eq!(id.to_string(), ok);
        }
    }

    #[test]
    fn key_id_refuses_bad_ids_without_echoing_them() {
        for bad in ["", &"y".repeat(65), "with space", "a:b", "ключ", "k/1"] {
            let err = KeyId::try_from(bad).unwrap_err();
            assert!(matches!(err, VaultError::InvalidKeyId(_)), "{bad}");
            if !bad.is_empty() {
                assert!(!err.to_string().contains(bad), "{err}");
            }
        }
    }
}
