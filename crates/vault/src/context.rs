//! Associated data that binds sealed blobs to the place they are stored.

/// Where a secret lives. Sealed data only opens with the same org, record and field,
/// so a ciphertext copied to another row or column is useless.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// Organisation (tenant) that owns the secret.
    pub org: &'a str,
    /// Record the secret belongs to, e.g. a credential ID.
    pub record: &'a str,
    /// Field of the record, e.g. `"client_secret"`.
    pub field: &'a str,
}

/// Labels that keep the associated data of different uses disjoint, so a blob
/// made for one purpose never opens for another (a check value is not a secret).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Domain {
    secret: &'static str,
    data_key: &'static str,
}

pub(crate) const SECRETS: Domain = Domain {
    secret: "keyway-vault/v1/secret",
    data_key: "keyway-vault/v1/data-key",
};

pub(crate) const CHECK_VALUES: Domain = Domain {
    secret: "keyway-vault/v1/check-value",
    data_key: "keyway-vault/v1/check-value-key",
};

impl Context<'_> {
    /// AAD for the secret itself.
    pub(crate) fn secret_aad(&self, domain: Domain) -> Vec<u8> {
        encode(&[domain.secret, self.org, self.record, self.field])
    }

    /// AAD for the wrapped data key; also binds the master key ID so a wrap cannot
    /// be relabelled as belonging to another key.
    pub(crate) fn data_key_aad(&self, domain: Domain, key_id: &str) -> Vec<u8> {
        encode(&[domain.data_key, self.org, self.record, self.field, key_id])
    }
}

/// Length prefixes make the encoding injective: ("ab", "c") and ("a", "bc") differ.
fn encode(parts: &[&str]) -> Vec<u8> {
    let len = parts.iter().map(|p| 8 + p.len()).sum();
    let mut out = Vec::with_capacity(len);
    for part in parts {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ctx<'a>(org: &'a str, record: &'a str, field: &'a str) -> Context<'a> {
        Context { org, record, field }
    }

    #[test]
    fn shifting_characters_between_parts_changes_the_aad() {
        let a = ctx("ab", "c", "d").secret_aad(SECRETS);
        let b = ctx("a", "bc", "d").secret_aad(SECRETS);
        let c = ctx("a", "b", "cd").secret_aad(SECRETS);
        assert_ne!(a, b);
        assert_ne!(b, c);
        assert_ne!(a, c);
    }

    #[test]
    fn domains_and_key_ids_separate_the_aad() {
        let c = ctx("o", "r", "f");
        assert_ne!(c.secret_aad(SECRETS), c.secret_aad(CHECK_VALUES));
        assert_ne!(
            c.data_key_aad(SECRETS, "k"),
            c.data_key_aad(CHECK_VALUES, "k")
        );
        assert_ne!(c.data_key_aad(SECRETS, "k1"), c.data_key_aad(SECRETS, "k2"));
        assert_ne!(c.secret_aad(SECRETS), c.data_key_aad(SECRETS, ""));
    }
}
