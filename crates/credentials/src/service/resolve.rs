//! Opening a credential for a call: rights, the per-replica cache, and the sealed fields.

use super::*;

impl Credentials {
    /// Opens a credential for a call made by `caller`. Its span is `debug`: it runs on every
    /// call, nothing in it logs, and the request's span names the credential.
    #[tracing::instrument(level = "debug", skip_all, fields(credential_id = %id))]
    pub async fn resolve(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Arc<Resolved>, CredentialError> {
        let resolved = match self.opened.get(id) {
            Some(hit) => hit,
            None => {
                let (row, secrets) = self
                    .store
                    .credential_with_secrets(id)
                    .await?
                    .ok_or(CredentialError::NotFound)?;
                let opened = Arc::new(self.open_resolved(row, secrets)?);
                self.opened.insert(id.to_owned(), opened.clone());
                opened
            }
        };
        let row = &resolved.row;
        let access = caller.access(&row.org_id, &row.owner_id, row.shared);
        if !access.visible {
            return Err(CredentialError::NotFound);
        }
        if !access.usable {
            // Refused uses are audited like answered ones.
            let event = audit(
                caller,
                AuditAction::CredentialUse,
                id,
                &row.owner_id,
                AuditOutcome::Denied,
            );
            self.store.append_audit(&event).await?;
            return Err(CredentialError::Forbidden(USE_DENIED));
        }
        Ok(resolved)
    }

    /// Opens a credential without a caller: for the OAuth client re-reading tokens during a
    /// refresh the caller's rights already allowed, and for revocation on removal.
    pub async fn resolve_unchecked(&self, id: &str) -> Result<Resolved, CredentialError> {
        let (row, secrets) = self
            .store
            .credential_with_secrets(id)
            .await?
            .ok_or(CredentialError::NotFound)?;
        self.open_resolved(row, secrets)
    }

    fn open_resolved(
        &self,
        row: CredentialRow,
        secrets: Vec<SecretRow>,
    ) -> Result<Resolved, CredentialError> {
        let kind = row.kind;
        let settings: StoredSettings = from_json(&row.settings)?;
        let mut material = None;
        let mut key_pem = None;
        let mut tokens = None;
        for secret in secrets {
            match secret.field.as_str() {
                FIELD_MATERIAL => {
                    let plain = open_field(&self.keyring, &row.org_id, &row.id, secret)?;
                    material = Some(Material::open(kind, plain.expose_secret(), &settings)?);
                }
                FIELD_MTLS_KEY => {
                    let plain = open_field(&self.keyring, &row.org_id, &row.id, secret)?;
                    let pem = std::str::from_utf8(plain.expose_secret())
                        .map_err(|_| CredentialError::Corrupt("mTLS key is not UTF-8"))?;
                    key_pem = Some(SecretString::from(pem));
                }
                FIELD_TOKENS => {
                    let plain = open_field(&self.keyring, &row.org_id, &row.id, secret)?;
                    let json = std::str::from_utf8(plain.expose_secret())
                        .map_err(|_| CredentialError::Corrupt("tokens are not UTF-8"))?;
                    tokens = Some(SecretString::from(json));
                }
                _ => {}
            }
        }
        let material = material.ok_or(CredentialError::Corrupt("material missing"))?;
        let mtls = match (row.mtls.as_deref(), key_pem) {
            (Some(json), Some(private_key_pem)) => {
                let stored: StoredMtls = from_json(json)?;
                Some(ClientIdentity {
                    certificate_pem: stored.certificate_pem,
                    private_key_pem,
                    ca_certificate_pem: stored.ca_certificate_pem,
                })
            }
            _ => None,
        };
        let hosts: Vec<String> = from_json(&row.allowed_hosts)?;
        Ok(Resolved {
            proxy: from_json(&row.proxy)?,
            allowed_hosts: AllowedHosts::parse(&hosts)
                .map_err(|_| CredentialError::Corrupt("allowed_hosts"))?,
            row,
            material,
            mtls,
            tokens,
        })
    }
}
