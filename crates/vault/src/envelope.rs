//! The envelope itself: blob layout, per-secret data keys, and sealing, opening and re-wrapping
//! under one given master key.
//!
//! Both blobs are `nonce (12) || ciphertext || tag (16)`. The wrapped data key is
//! therefore always 60 bytes. Every data key is used for exactly one encryption,
//! so its random nonce cannot repeat; master keys see one random nonce per wrap.

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::{AeadCore, AeadInPlace, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use secrecy::{ExposeSecretMut, SecretSlice};
use zeroize::Zeroizing;

use crate::context::{Context, Domain};
use crate::error::VaultError;
use crate::key::MasterKey;

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const DEK_LEN: usize = 32;
const WRAPPED_LEN: usize = NONCE_LEN + DEK_LEN + TAG_LEN;

/// A sealed secret as it is stored: which master key wrapped its data key,
/// the wrapped data key, and the encrypted secret. Holds no plaintext.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    /// ID of the master key that wrapped `wrapped_key`.
    pub key_id: String,
    /// The data key sealed under the master key: nonce || ciphertext || tag.
    pub wrapped_key: Vec<u8>,
    /// The secret sealed under the data key: nonce || ciphertext || tag.
    pub ciphertext: Vec<u8>,
}

type DataKey = Zeroizing<[u8; DEK_LEN]>;

pub(crate) fn seal_with(
    master: &MasterKey,
    ctx: Context<'_>,
    domain: Domain,
    plaintext: &[u8],
) -> Result<Sealed, VaultError> {
    let mut dek = DataKey::default();
    OsRng.fill_bytes(&mut dek[..]);
    let wrapped_key = wrap(master, ctx, domain, &dek)?;
    let ciphertext = encrypt(&data_cipher(&dek), &ctx.secret_aad(domain), plaintext)?;
    Ok(Sealed {
        key_id: master.id().as_str().to_owned(),
        wrapped_key,
        ciphertext,
    })
}

/// `master` must be the key named by `sealed.key_id`; the caller looks it up.
pub(crate) fn open_with(
    master: &MasterKey,
    ctx: Context<'_>,
    domain: Domain,
    sealed: &Sealed,
) -> Result<SecretSlice<u8>, VaultError> {
    check_ciphertext_len(&sealed.ciphertext)?;
    let dek = unwrap(master, ctx, domain, &sealed.wrapped_key)?;
    decrypt(
        &data_cipher(&dek),
        &ctx.secret_aad(domain),
        &sealed.ciphertext,
    )
}

/// Moves the data key from `from` to `to`; the ciphertext is copied unchanged.
pub(crate) fn rewrap_with(
    from: &MasterKey,
    to: &MasterKey,
    ctx: Context<'_>,
    domain: Domain,
    sealed: &Sealed,
) -> Result<Sealed, VaultError> {
    check_ciphertext_len(&sealed.ciphertext)?;
    let dek = unwrap(from, ctx, domain, &sealed.wrapped_key)?;
    Ok(Sealed {
        key_id: to.id().as_str().to_owned(),
        wrapped_key: wrap(to, ctx, domain, &dek)?,
        ciphertext: sealed.ciphertext.clone(),
    })
}

fn wrap(
    master: &MasterKey,
    ctx: Context<'_>,
    domain: Domain,
    dek: &DataKey,
) -> Result<Vec<u8>, VaultError> {
    let aad = ctx.data_key_aad(domain, master.id().as_str());
    encrypt(master.cipher(), &aad, &dek[..])
}

fn unwrap(
    master: &MasterKey,
    ctx: Context<'_>,
    domain: Domain,
    wrapped: &[u8],
) -> Result<DataKey, VaultError> {
    if wrapped.len() != WRAPPED_LEN {
        return Err(VaultError::Malformed(
            "the wrapped data key is not 60 bytes long",
        ));
    }
    let (nonce, rest) = wrapped.split_at(NONCE_LEN);
    let (body, tag) = rest.split_at(DEK_LEN);
    // Decrypt straight into wiped memory so the data key never sits anywhere else.
    let mut dek = DataKey::default();
    dek.copy_from_slice(body);
    let aad = ctx.data_key_aad(domain, master.id().as_str());
    master
        .cipher()
        .decrypt_in_place_detached(
            Nonce::from_slice(nonce),
            &aad,
            &mut dek[..],
            Tag::from_slice(tag),
        )
        .map_err(|_| VaultError::Open)?;
    Ok(dek)
}

fn data_cipher(dek: &DataKey) -> Aes256Gcm {
    // By reference: a by-value conversion would leave an unwiped copy of the key.
    Aes256Gcm::new((&**dek).into())
}

fn check_ciphertext_len(blob: &[u8]) -> Result<(), VaultError> {
    if blob.len() < NONCE_LEN + TAG_LEN {
        return Err(VaultError::Malformed(
            "the ciphertext is shorter than a nonce and tag (28 bytes)",
        ));
    }
    Ok(())
}

fn encrypt(cipher: &Aes256Gcm, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, VaultError> {
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    // Sized exactly so the buffer never reallocates while it still holds plaintext,
    // and wiped if encryption fails before the plaintext is overwritten.
    let mut out = Zeroizing::new(Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN));
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let tag = cipher
        .encrypt_in_place_detached(&nonce, aad, &mut out[NONCE_LEN..])
        .map_err(|_| VaultError::Malformed("the secret is too large for AES-GCM"))?;
    out.extend_from_slice(&tag);
    Ok(std::mem::take(&mut *out))
}

fn decrypt(cipher: &Aes256Gcm, aad: &[u8], blob: &[u8]) -> Result<SecretSlice<u8>, VaultError> {
    check_ciphertext_len(blob)?;
    let (nonce, rest) = blob.split_at(NONCE_LEN);
    let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
    // Decrypt inside the secret's own allocation: no plaintext copy to forget to wipe.
    let mut plaintext = SecretSlice::from(Box::<[u8]>::from(body));
    cipher
        .decrypt_in_place_detached(
            Nonce::from_slice(nonce),
            aad,
            plaintext.expose_secret_mut(),
            Tag::from_slice(tag),
        )
        .map_err(|_| VaultError::Open)?;
    Ok(plaintext)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::context::SECRETS;

    #[test]
    fn every_seal_gets_its_own_data_key() {
        let (master, _) = MasterKey::generate("k".parse().unwrap());
        let ctx = Context {
            org: "o",
            record: "r",
            field: "f",
        };
        let mut seen = HashSet::new();
        for _ in 0..1000 {
            let sealed = seal_with(&master, ctx, SECRETS, b"same").unwrap();
            let dek = unwrap(&master, ctx, SECRETS, &sealed.wrapped_key).unwrap();
            assert!(seen.insert(*dek));
        }
    }
}
