//! Parsing the `id:base64key,id2:base64key` master key list from configuration.

use crate::encoding;
use crate::error::VaultError;
use crate::key::{KeyId, MasterKey};

/// Parses `"id:base64key,id2:base64key"` into master keys, in order (the first
/// becomes the active key of a [`crate::Keyring`]). Whitespace around items and
/// around their two halves is ignored; keys may be standard or URL-safe base64,
/// padded or not. A blank list gives an empty `Vec`.
///
/// Errors name the item by position (1-based) and by key ID once it is known,
/// never by its key text.
pub fn parse_key_list(spec: &str) -> Result<Vec<MasterKey>, VaultError> {
    if spec.trim().is_empty() {
        return Ok(Vec::new());
    }
    spec.split(',')
        .enumerate()
        .map(|(i, item)| parse_item(i + 1, item.trim()))
        .collect()
}

fn parse_item(n: usize, item: &str) -> Result<MasterKey, VaultError> {
    let bad = |why: String| VaultError::InvalidKeySpec(format!("item {n} {why}"));
    if item.is_empty() {
        return Err(bad("is empty; remove the extra ','".to_owned()));
    }
    let Some((id, key_text)) = item.split_once(':') else {
        return Err(bad("has no ':' between the key ID and the key".to_owned()));
    };
    let id: KeyId = id.trim().parse().map_err(|e| match e {
        VaultError::InvalidKeyId(why) => bad(format!("has an invalid key ID: {why}")),
        other => other,
    })?;
    let key_text = key_text.trim();
    if key_text.is_empty() {
        return Err(bad(format!("(key ID \"{id}\") has no key after the ':'")));
    }
    let Some(key) = encoding::decode(key_text) else {
        return Err(bad(format!(
            "(key ID \"{id}\") is not valid base64; expected 32 bytes in standard or URL-safe base64"
        )));
    };
    MasterKey::from_bytes(id, &key)
}
