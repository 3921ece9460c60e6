//! Master keys against the database: refuse to start with a missing or wrong key, keep the
//! Argon2id parameters of passphrase keys, and move every data key under the active key.

use keyway_store::{
    AuditAction, AuditOutcome, NewAuditEvent, Rewrapped, Store, StoreError, VaultKeyRow,
};
use keyway_vault::{Context, KdfParams, KeyId, Keyring, MasterKey, Sealed, VaultError};
use secrecy::SecretString;

#[derive(Debug, thiserror::Error)]
pub enum KeySetupError {
    #[error("stored secrets need master key '{id}', which is not configured: add it to KEYWAY_MASTER_KEYS (or the config file) and start again")]
    MissingKey { id: String },
    #[error("master key '{id}' is not the key this database was sealed with: configure the original key under this ID")]
    WrongKey { id: String },
    #[error("master key '{id}' was created from raw key material, not a passphrase: configure it in KEYWAY_MASTER_KEYS")]
    NotPassphraseKey { id: String },
    #[error("the stored key-derivation parameters of '{id}' are unreadable")]
    BadKdfParams { id: String },
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("storage failed")]
    Store(#[from] StoreError),
    #[error("key derivation was interrupted")]
    Join(#[from] tokio::task::JoinError),
}

/// Checks the configured keys against what the database has seen, then records new keys.
pub async fn check_keyring(store: &Store, keyring: &Keyring) -> Result<(), KeySetupError> {
    let rows = store.vault_keys().await?;
    for row in &rows {
        if keyring.contains(&row.key_id) {
            let id: KeyId = row.key_id.parse()?;
            keyring
                .verify_check_value(&id, &check_of(row))
                .map_err(|_| KeySetupError::WrongKey {
                    id: row.key_id.clone(),
                })?;
        }
    }
    for id in store.secret_key_ids().await? {
        if !keyring.contains(&id) {
            return Err(KeySetupError::MissingKey { id });
        }
    }
    for id in keyring.ids() {
        if !rows.iter().any(|row| row.key_id == id.as_str())
            && !store.insert_vault_key(&key_row(keyring, id, None)?).await?
        {
            // Another replica recorded this ID first, perhaps with another key: check against it.
            if let Some(row) = stored_key(store, id).await? {
                keyring
                    .verify_check_value(id, &check_of(&row))
                    .map_err(|_| KeySetupError::WrongKey { id: id.to_string() })?;
            }
        }
    }
    Ok(())
}

/// Derives a passphrase key with the parameters stored for `id`, creating them on first use.
/// Argon2id runs on the blocking pool so it never stalls the async workers.
pub async fn passphrase_key(
    store: &Store,
    id: KeyId,
    passphrase: SecretString,
) -> Result<MasterKey, KeySetupError> {
    loop {
        if let Some(row) = stored_key(store, &id).await? {
            let raw = row
                .kdf_params
                .ok_or_else(|| KeySetupError::NotPassphraseKey { id: id.to_string() })?;
            let params: KdfParams = serde_json::from_str(&raw)
                .map_err(|_| KeySetupError::BadKdfParams { id: id.to_string() })?;
            return derive(id, passphrase, params).await;
        }
        let params = KdfParams::generate();
        let key = derive(id.clone(), passphrase.clone(), params.clone()).await?;
        let keyring = Keyring::new(vec![key.clone()])?;
        let json = serde_json::to_string(&params)
            .map_err(|_| KeySetupError::BadKdfParams { id: id.to_string() })?;
        // Another replica may have won the race with other salt: then loop and use its params.
        if store
            .insert_vault_key(&key_row(&keyring, &id, Some(json))?)
            .await?
        {
            return Ok(key);
        }
    }
}

async fn derive(
    id: KeyId,
    passphrase: SecretString,
    params: KdfParams,
) -> Result<MasterKey, KeySetupError> {
    params.check()?;
    Ok(
        tokio::task::spawn_blocking(move || MasterKey::from_passphrase(id, &passphrase, &params))
            .await??,
    )
}

async fn stored_key(store: &Store, id: &KeyId) -> Result<Option<VaultKeyRow>, StoreError> {
    Ok(store
        .vault_keys()
        .await?
        .into_iter()
        .find(|row| row.key_id == id.as_str()))
}

fn check_of(row: &VaultKeyRow) -> Sealed {
    Sealed {
        key_id: row.key_id.clone(),
        wrapped_key: row.check_wrapped.clone(),
        ciphertext: row.check_ciphertext.clone(),
    }
}

fn key_row(
    keyring: &Keyring,
    id: &KeyId,
    kdf_params: Option<String>,
) -> Result<VaultKeyRow, KeySetupError> {
    let check = keyring.check_value(id)?;
    Ok(VaultKeyRow {
        key_id: id.to_string(),
        check_wrapped: check.wrapped_key,
        check_ciphertext: check.ciphertext,
        kdf_params,
        created_at: 0,
    })
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RewrapReport {
    /// Data keys moved under the active master key.
    pub rewrapped: u64,
    /// Rows replaced while the rewrap ran; their new data keys are already under the active key.
    pub skipped: u64,
}

/// Applies a batch, retrying a few times when the database aborts it (a deadlock with a
/// concurrent secret replacement on PostgreSQL): every update is a compare-and-swap, so a retry
/// is safe.
async fn apply_with_retry(store: &Store, updates: &[Rewrapped]) -> Result<u64, StoreError> {
    let mut attempt = 0;
    loop {
        match store.apply_rewrapped(updates).await {
            Err(StoreError::Database(err)) if attempt < 3 => {
                attempt += 1;
                tracing::warn!(error = %err, attempt, "rewrap batch aborted; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(50 * attempt)).await;
            }
            other => return other,
        }
    }
}

/// Moves every data key under the active master key in batches, online: the ciphertexts stay,
/// each update is a compare-and-swap, and the server keeps serving with old and new keys loaded.
pub async fn rewrap_all(
    store: &Store,
    keyring: &Keyring,
    batch: i64,
) -> Result<RewrapReport, KeySetupError> {
    let active = keyring.active_id().as_str().to_owned();
    let mut report = RewrapReport::default();
    let result = rewrap_pages(store, keyring, batch, &mut report).await;
    // A failed run is audited too, with what it had moved before it stopped.
    let outcome = if result.is_ok() {
        AuditOutcome::Success
    } else {
        AuditOutcome::Failure
    };
    let event = NewAuditEvent::new(AuditAction::KeyRewrap, outcome)
        .by(None, "keyway key rewrap")
        .detail(
            serde_json::json!({ "active_key": active, "rewrapped": report.rewrapped, "skipped": report.skipped })
                .to_string(),
        );
    store.append_audit(&event).await?;
    result.map(|()| report)
}

async fn rewrap_pages(
    store: &Store,
    keyring: &Keyring,
    batch: i64,
    report: &mut RewrapReport,
) -> Result<(), KeySetupError> {
    let active = keyring.active_id().as_str();
    let mut after = (String::new(), String::new());
    loop {
        let page = store
            .rewrap_candidates(active, (&after.0, &after.1), batch)
            .await?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = (last.credential_id.clone(), last.field.clone());
        let mut updates = Vec::with_capacity(page.len());
        for candidate in page {
            let ctx = Context {
                org: &candidate.org_id,
                record: &candidate.credential_id,
                field: &candidate.field,
            };
            let sealed = Sealed {
                key_id: candidate.key_id.clone(),
                wrapped_key: candidate.wrapped_key.clone(),
                ciphertext: candidate.ciphertext,
            };
            if let Some(moved) = keyring.rewrap(ctx, &sealed)? {
                updates.push(Rewrapped {
                    credential_id: candidate.credential_id,
                    field: candidate.field,
                    old_wrapped_key: candidate.wrapped_key,
                    key_id: moved.key_id,
                    wrapped_key: moved.wrapped_key,
                });
            }
        }
        let landed = apply_with_retry(store, &updates).await?;
        report.rewrapped += landed;
        report.skipped += updates.len() as u64 - landed;
    }
}
