//! The configured set of master keys: which one seals, which ones may still open,
//! key rotation, and check values that catch a key swapped under an old ID.

use std::fmt;

use secrecy::{ExposeSecret, SecretSlice};

use crate::context::{Context, CHECK_VALUES, SECRETS};
use crate::envelope::{self, Sealed};
use crate::error::VaultError;
use crate::key::{KeyId, MasterKey};

/// Plaintext of every check value. Not secret: what it proves is that the key
/// opens it, not what it says.
const CHECK_PLAINTEXT: &[u8] = b"keyway-vault check value v1";

// Check values are per key, not per record; the domain label keeps them apart from secrets.
const CHECK_CONTEXT: Context<'static> = Context {
    org: "",
    record: "",
    field: "",
};

/// Master keys in order of preference: the first seals, all of them open.
pub struct Keyring {
    // Held apart so "there is always an active key" is a fact of the type, not a check.
    active: MasterKey,
    older: Vec<MasterKey>,
}

impl Keyring {
    /// Builds a keyring whose first key is active. Refuses an empty list and repeated IDs.
    pub fn new(keys: Vec<MasterKey>) -> Result<Self, VaultError> {
        for (i, key) in keys.iter().enumerate() {
            if keys[..i].iter().any(|k| k.id() == key.id()) {
                return Err(VaultError::DuplicateKeyId(key.id().to_string()));
            }
        }
        let mut keys = keys.into_iter();
        let active = keys.next().ok_or(VaultError::NoKeys)?;
        Ok(Self {
            active,
            older: keys.collect(),
        })
    }

    /// ID of the key new secrets are sealed under.
    pub fn active_id(&self) -> &KeyId {
        self.active.id()
    }

    /// Whether a key with this ID is configured.
    pub fn contains(&self, id: &str) -> bool {
        self.find(id).is_some()
    }

    /// IDs of all configured keys, active first.
    pub fn ids(&self) -> impl Iterator<Item = &KeyId> {
        self.keys().map(MasterKey::id)
    }

    /// Seals `plaintext` for `ctx` under a fresh data key wrapped by the active key.
    pub fn seal(&self, ctx: Context<'_>, plaintext: &[u8]) -> Result<Sealed, VaultError> {
        envelope::seal_with(&self.active, ctx, SECRETS, plaintext)
    }

    /// Opens a secret sealed for the same `ctx` under any configured key.
    pub fn open(&self, ctx: Context<'_>, sealed: &Sealed) -> Result<SecretSlice<u8>, VaultError> {
        envelope::open_with(self.lookup(&sealed.key_id)?, ctx, SECRETS, sealed)
    }

    /// Re-wraps only the data key under the active master key (ciphertext unchanged).
    /// `Ok(None)` if already under the active key.
    pub fn rewrap(&self, ctx: Context<'_>, sealed: &Sealed) -> Result<Option<Sealed>, VaultError> {
        if sealed.key_id == self.active.id().as_str() {
            return Ok(None);
        }
        let from = self.lookup(&sealed.key_id)?;
        envelope::rewrap_with(from, &self.active, ctx, SECRETS, sealed).map(Some)
    }

    /// A check value proving later that a configured key with this id is the same key
    /// that was used before. Store it beside the data; it reveals nothing about the key.
    pub fn check_value(&self, id: &KeyId) -> Result<Sealed, VaultError> {
        envelope::seal_with(
            self.lookup(id.as_str())?,
            CHECK_CONTEXT,
            CHECK_VALUES,
            CHECK_PLAINTEXT,
        )
    }

    /// Confirms that the key configured as `id` made `check`; `WrongKey` if it did not.
    pub fn verify_check_value(&self, id: &KeyId, check: &Sealed) -> Result<(), VaultError> {
        let key = self.lookup(id.as_str())?;
        if check.key_id != id.as_str() {
            return Err(VaultError::Malformed(
                "the check value was made for a different key ID",
            ));
        }
        let wrong_key = || VaultError::WrongKey { id: id.to_string() };
        let opened = match envelope::open_with(key, CHECK_CONTEXT, CHECK_VALUES, check) {
            Ok(opened) => opened,
            Err(VaultError::Open) => return Err(wrong_key()),
            Err(other) => return Err(other),
        };
        if opened.expose_secret() == CHECK_PLAINTEXT {
            Ok(())
        } else {
            Err(wrong_key())
        }
    }

    fn keys(&self) -> impl Iterator<Item = &MasterKey> {
        std::iter::once(&self.active).chain(&self.older)
    }

    // A linear scan beats hashing for the handful of keys a deployment keeps.
    fn find(&self, id: &str) -> Option<&MasterKey> {
        self.keys().find(|k| k.id().as_str() == id)
    }

    fn lookup(&self, id: &str) -> Result<&MasterKey, VaultError> {
        self.find(id)
            .ok_or_else(|| VaultError::UnknownKey { id: id.to_owned() })
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.ids().map(KeyId::as_str).collect();
        f.debug_struct("Keyring")
            .field("active", &self.active_id().as_str())
            .field("ids", &ids)
            .finish()
    }
}
