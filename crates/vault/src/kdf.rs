//! Passphrase-derived master keys: Argon2id parameters, their policy check, and derivation.

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::OsRng;
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::encoding;
use crate::error::VaultError;
use crate::key::KEY_LEN;

const ALGORITHM: &str = "argon2id";
const VERSION: u32 = 0x13;
const SALT_LEN: usize = 16;
// argon2 refuses longer salts; saying so here gives a clearer message.
const MAX_SALT_LEN: usize = 64;

/// OWASP's equivalent Argon2id minimums as (memory KiB, passes) pairs.
const OWASP_MINIMUMS: [(u32, u32); 5] = [
    (47_104, 1),
    (19_456, 2),
    (12_288, 3),
    (9_216, 4),
    (7_168, 5),
];

// Parameters come from files an attacker might edit; without a ceiling a huge
// m_cost would abort the process on allocation instead of returning an error.
const MAX_M_COST_KIB: u32 = 4 * 1024 * 1024;
const MAX_T_COST: u32 = 64;
const MAX_P_COST: u32 = 64;

/// Argon2id settings and salt, stored next to whatever a passphrase protects so
/// the same key can be derived again.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct KdfParams {
    /// Always `"argon2id"`.
    pub algorithm: String,
    /// Argon2 version number; 19 (0x13) is the only one accepted.
    pub version: u32,
    /// Memory cost in KiB.
    pub m_cost_kib: u32,
    /// Number of passes.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
    /// Salt, standard base64.
    pub salt_b64: String,
}

impl KdfParams {
    /// Fresh parameters: a random 16-byte salt, 64 MiB, 3 passes, 1 lane.
    pub fn generate() -> Self {
        let mut salt = [0u8; SALT_LEN];
        OsRng.fill_bytes(&mut salt);
        Self {
            algorithm: ALGORITHM.to_owned(),
            version: VERSION,
            m_cost_kib: 65_536,
            t_cost: 3,
            p_cost: 1,
            salt_b64: encoding::encode_plain(&salt),
        }
    }

    /// Refuses parameters below OWASP's Argon2id minimum, other algorithms or
    /// versions, salts shorter than 16 bytes, and costs too large to be sane.
    pub fn check(&self) -> Result<(), VaultError> {
        self.salt().map(drop)
    }

    /// Checks the parameters and returns the decoded salt.
    fn salt(&self) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let refuse = |why: String| Err(VaultError::WeakKdfParams(why));
        if self.algorithm != ALGORITHM {
            return refuse(format!(
                "algorithm \"{}\" is not supported; use \"{ALGORITHM}\"",
                self.algorithm
            ));
        }
        if self.version != VERSION {
            return refuse(format!(
                "Argon2 version {} is not supported; use {VERSION}",
                self.version
            ));
        }
        let (m, t, p) = (self.m_cost_kib, self.t_cost, self.p_cost);
        if !OWASP_MINIMUMS
            .iter()
            .any(|&(min_m, min_t)| m >= min_m && t >= min_t)
        {
            return refuse(format!(
                "m_cost_kib={m} with t_cost={t} is below OWASP's Argon2id minimum; use at least \
                 m_cost_kib=19456 with t_cost=2 (KdfParams::generate() picks safe values)"
            ));
        }
        if p == 0 {
            return refuse("p_cost must be at least 1".to_owned());
        }
        if m > MAX_M_COST_KIB || t > MAX_T_COST || p > MAX_P_COST {
            return refuse(format!(
                "m_cost_kib={m}, t_cost={t}, p_cost={p} exceed the limits of \
                 m_cost_kib={MAX_M_COST_KIB}, t_cost={MAX_T_COST}, p_cost={MAX_P_COST}"
            ));
        }
        let Some(salt) = encoding::decode(&self.salt_b64) else {
            return refuse("salt_b64 is not valid base64".to_owned());
        };
        if !(SALT_LEN..=MAX_SALT_LEN).contains(&salt.len()) {
            return refuse(format!(
                "the salt is {} bytes; it must be {SALT_LEN} to {MAX_SALT_LEN} random bytes",
                salt.len()
            ));
        }
        Ok(salt)
    }
}

/// Runs Argon2id over the passphrase; the result is wiped when dropped.
pub(crate) fn derive(
    passphrase: &SecretString,
    params: &KdfParams,
) -> Result<Zeroizing<[u8; KEY_LEN]>, VaultError> {
    let salt = params.salt()?;
    let passphrase = passphrase.expose_secret().as_bytes();
    if passphrase.is_empty() {
        return Err(VaultError::Kdf(
            "the passphrase is empty; supply a non-empty passphrase".to_owned(),
        ));
    }
    let argon_params = Params::new(
        params.m_cost_kib,
        params.t_cost,
        params.p_cost,
        Some(KEY_LEN),
    )
    .map_err(|e| VaultError::Kdf(format!("Argon2 refused the parameters: {e}")))?;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params)
        .hash_password_into(passphrase, &salt, &mut key[..])
        .map_err(|e| VaultError::Kdf(format!("Argon2id failed: {e}")))?;
    Ok(key)
}
