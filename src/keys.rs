//! Builds the keyring from configuration: raw keys, a passphrase, or (SQLite only) a key file
//! generated on first start. Then checks it against what the database needs.

use anyhow::{bail, Context};
use keyway_credentials::{check_keyring, passphrase_key};
use keyway_store::{Backend, Store};
use keyway_vault::{parse_key_list, KeyId, Keyring, MasterKey};
use secrecy::{ExposeSecret, SecretString};
use std::io::Write;
use std::path::Path;

use crate::configuration::Settings;

pub async fn load_keyring(settings: &Settings, store: &Store) -> anyhow::Result<Keyring> {
    let mut keys = parse_key_list(settings.vault.master_keys.expose_secret())
        .context("KEYWAY_MASTER_KEYS (vault.master_keys) is invalid")?;
    let passphrase = settings.vault.master_passphrase.expose_secret();
    if !passphrase.is_empty() {
        let id: KeyId = settings
            .vault
            .passphrase_key_id
            .parse()
            .context("vault.passphrase_key_id is invalid")?;
        keys.push(passphrase_key(store, id, SecretString::from(passphrase)).await?);
    }
    if keys.is_empty() {
        if store.backend() == Backend::Postgres {
            bail!(
                "no master key is configured, and with PostgreSQL Keyway will not generate one: \
                 set KEYWAY_MASTER_KEYS (make one with `keyway key generate`) or KEYWAY_MASTER_PASSPHRASE"
            );
        }
        keys = key_file(&settings.key_file())?;
    }
    let keyring = Keyring::new(keys)?;
    check_keyring(store, &keyring).await?;
    tracing::info!(active_key = %keyring.active_id(), keys = keyring.ids().count(), "master keys loaded");
    Ok(keyring)
}

/// Reads the key file, or creates it (mode 0600) with a fresh key and says so.
fn key_file(path: &Path) -> anyhow::Result<Vec<MasterKey>> {
    if path.exists() {
        let spec = std::fs::read_to_string(path)
            .map(zeroize::Zeroizing::new)
            .with_context(|| format!("the master key file {} could not be read", path.display()))?;
        return parse_key_list(spec.trim())
            .with_context(|| format!("the master key file {} is invalid", path.display()));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let (key, spec) = MasterKey::generate("local-1".parse()?);
    let mut file = create_private(path)?;
    file.write_all(spec.expose_secret().as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    tracing::warn!(
        path = %path.display(),
        "generated a new master key for the embedded default; back this file up: without it the stored secrets cannot be opened. \
         For production set KEYWAY_MASTER_KEYS instead"
    );
    Ok(vec![key])
}

#[cfg(unix)]
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    // Whatever the umask, the key file is readable by its owner only.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}
