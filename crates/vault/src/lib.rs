//! Envelope encryption for Keyway secrets: per-secret AES-256-GCM data keys wrapped by named master keys.
//!
//! Every secret gets its own random 256-bit data key. The secret is sealed with
//! AES-256-GCM under that key, with associated data binding it to its org,
//! record and field ([`Context`]), so a ciphertext moved to another row or field
//! does not open. The data key is wrapped with AES-256-GCM by a [`MasterKey`]
//! whose ID is stored beside it; the wrap binds the same context plus that ID.
//!
//! A [`Keyring`] holds the configured master keys: the first seals, all open,
//! and [`Keyring::rewrap`] moves old data onto the active key without touching
//! the secret's ciphertext. This crate knows nothing about storage.
//!
//! ```
//! use keyway_vault::{Context, Keyring, MasterKey};
//! use secrecy::ExposeSecret;
//!
//! let (key, _spec_line) = MasterKey::generate("k1".parse()?);
//! let keyring = Keyring::new(vec![key])?;
//! let ctx = Context { org: "acme", record: "cred-42", field: "client_secret" };
//! let sealed = keyring.seal(ctx, b"s3cret")?;
//! assert_eq!(keyring.open(ctx, &sealed)?.expose_secret(), b"s3cret");
//! # Ok::<(), keyway_vault::VaultError>(())
//! ```

mod context;
mod encoding;
mod envelope;
mod error;
mod kdf;
mod key;
mod keylist;
mod keyring;

pub use context::Context;
pub use envelope::Sealed;
pub use error::VaultError;
pub use kdf::KdfParams;
pub use key::{KeyId, MasterKey};
pub use keylist::parse_key_list;
pub use keyring::Keyring;
