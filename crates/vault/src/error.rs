//! The crate's error type and the wording operators see.
//!
//! Messages may name key IDs and item positions; they never carry key bytes,
//! key text, passphrases or plaintext, because they end up in logs.

/// Everything that can go wrong while loading keys or sealing and opening secrets.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// A master key is not 256 bits long.
    #[error(
        "master key \"{id}\" is {len} bytes long but must be exactly 32 bytes (256 bits); \
         generate a new key rather than padding or truncating this one"
    )]
    KeyLength {
        /// ID of the offending key.
        id: String,
        /// Length that was supplied, in bytes.
        len: usize,
    },

    /// A key ID does not follow the naming rules; the text says why.
    #[error("invalid key ID: {0}")]
    InvalidKeyId(String),

    /// The master key list could not be parsed; the text names the item and the problem.
    #[error("invalid master key list: {0}; the expected form is \"id:base64key\" items separated by commas")]
    InvalidKeySpec(String),

    /// A keyring was built without any master key.
    #[error("no master keys are configured; provide at least one \"id:base64key\" item")]
    NoKeys,

    /// Two master keys share an ID, so sealed data could not say which one it needs.
    #[error(
        "master key ID \"{0}\" appears more than once; every key needs its own ID \
         (give a new key a new ID instead of reusing an old one)"
    )]
    DuplicateKeyId(String),

    /// Sealed data names a master key that is not configured.
    #[error(
        "sealed data needs master key \"{id}\", which is not configured; add that key back to the \
         key list (keep retired keys until all data has been re-wrapped under the active key)"
    )]
    UnknownKey {
        /// ID of the missing key.
        id: String,
    },

    /// The key configured under an ID is not the one that was used under that ID before.
    #[error(
        "the master key configured as \"{id}\" is not the key that was used under this ID before; \
         restore the original key for \"{id}\" (a different key must get a new ID)"
    )]
    WrongKey {
        /// ID whose key changed.
        id: String,
    },

    /// Authentication failed while opening sealed data.
    #[error(
        "sealed data does not open: wrong key, tampered data, or moved to another record or field"
    )]
    Open,

    /// Deriving a key from a passphrase failed.
    #[error("key derivation failed: {0}")]
    Kdf(String),

    /// Key derivation parameters were refused (too weak, unsupported or unreasonably large).
    #[error("key derivation parameters refused: {0}")]
    WeakKdfParams(String),

    /// A stored blob cannot be what this crate produced (too short, wrong size, ...).
    #[error("sealed data is malformed: {0}")]
    Malformed(&'static str),
}
