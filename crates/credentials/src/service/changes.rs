//! Changing a credential: rename, transfer, replace the secret, remove; each audited in the
//! same transaction as the change.

use super::*;

impl Credentials {
    pub async fn rename(
        &self,
        caller: &Caller,
        row: &CredentialRow,
        name: CredentialName,
    ) -> Result<CredentialView, CredentialError> {
        self.change(caller, row, Some(name), None).await
    }

    /// Changes sharing, allowed hosts and proxy settings (each kept when `None`).
    pub async fn update_access(
        &self,
        caller: &Caller,
        row: &CredentialRow,
        access: AccessChange,
    ) -> Result<CredentialView, CredentialError> {
        self.change(caller, row, None, Some(access)).await
    }

    /// Renames and changes access, either or both, in one transaction, each audited with its
    /// old and new values: a request refused in part (a proxy base outside the new allowed
    /// hosts, a name another credential of the owner has) changes nothing. The proxy base
    /// must stay within the allowed hosts.
    pub async fn change(
        &self,
        caller: &Caller,
        row: &CredentialRow,
        name: Option<CredentialName>,
        access: Option<AccessChange>,
    ) -> Result<CredentialView, CredentialError> {
        let name = name.map(|name| {
            let event = audit(
                caller,
                AuditAction::CredentialRename,
                &row.id,
                &row.owner_id,
                AuditOutcome::Success,
            )
            .detail(serde_json::json!({ "from": row.name, "to": name.as_str() }).to_string());
            (name.as_str().to_owned(), event)
        });
        let access = access
            .map(|access| access.planned(caller, row))
            .transpose()?;
        let change = CredentialChange { name, access };
        let changed = self
            .write_through(&row.id, self.store.change_credential(&row.id, &change))
            .await?;
        if !changed {
            return Err(CredentialError::NotFound);
        }
        self.view(&row.id, true).await
    }

    /// Moves a credential to another active user of its org (when its owner leaves). Web
    /// services bound to it keep working; from now on the new owner's rights apply.
    pub async fn transfer(
        &self,
        caller: &Caller,
        row: &CredentialRow,
        new_owner: &str,
    ) -> Result<CredentialView, CredentialError> {
        let event = audit(
            caller,
            AuditAction::CredentialTransfer,
            &row.id,
            &row.owner_id,
            AuditOutcome::Success,
        );
        let moved = self
            .write_through(
                &row.id,
                self.store
                    .transfer_credential(&row.id, &row.org_id, new_owner, &event),
            )
            .await
            .map_err(|err| match err {
                StoreError::Conflict(_) => CredentialError::NewOwnerHasName,
                other => other.into(),
            })?;
        if moved.is_none() {
            // Nothing moved; say why (read after the write, so only on this path).
            if self.store.credential(&row.id).await?.is_none() {
                return Err(CredentialError::NotFound);
            }
            if self.store.user_active(&row.owner_id).await? {
                return Err(CredentialError::OwnerActive);
            }
            return Err(keyway_model::ParseError::new(
                "owner",
                "no active user of this name is in the credential's org",
            )
            .into());
        }
        self.view(&row.id, true).await
    }

    /// Replaces the secret material in place: same ID, so workflows keep working.
    pub async fn replace_secret(
        &self,
        caller: &Caller,
        row: &CredentialRow,
        input: SecretInput,
    ) -> Result<CredentialView, CredentialError> {
        let kind = input.material.kind();
        if kind != row.kind {
            return Err(keyway_model::ParseError::new(
                "kind",
                format!(
                    "this credential is of kind {}; give that kind's secret fields (create a new credential to change the kind)",
                    row.kind.as_str()
                ),
            )
            .into());
        }
        let update = SecretUpdate {
            settings: to_json(&input.material.settings())?,
            mtls: input.stored_mtls().map(|m| to_json(&m)).transpose()?,
            secrets: input.seal(&self.keyring, &row.org_id, &row.id)?,
        };
        let event = audit(
            caller,
            AuditAction::CredentialReplaceSecret,
            &row.id,
            &row.owner_id,
            AuditOutcome::Success,
        )
        .detail(serde_json::json!({ "mtls": input.mtls.is_some() }).to_string());
        let replaced = self
            .write_through(&row.id, self.store.replace_secret(&row.id, &update, &event))
            .await?;
        if !replaced {
            return Err(CredentialError::NotFound);
        }
        self.view(&row.id, true).await
    }

    /// [`Credentials::replace_secret`], keeping the current mTLS identity when `input` has
    /// none: someone replacing a password should not have to paste the private key again.
    /// An identity that no longer validates (its certificate expired) must be replaced.
    pub async fn replace_secret_keeping_identity(
        &self,
        caller: &Caller,
        row: &CredentialRow,
        mut input: SecretInput,
    ) -> Result<CredentialView, CredentialError> {
        if input.mtls.is_none() {
            if let Some(identity) = self.resolve_unchecked(&row.id).await?.mtls {
                let current = keyway_model::mtls::MtlsInput {
                    certificate_pem: identity.certificate_pem,
                    private_key_pem: identity.private_key_pem,
                    ca_certificate_pem: identity.ca_certificate_pem,
                };
                let kept = keyway_model::mtls::validate(&current, time::OffsetDateTime::now_utc())
                    .map_err(|e| {
                        keyway_model::ParseError::new(
                            "mtls",
                            format!(
                                "the current mTLS identity can no longer be used ({}); give a new one",
                                e.reason()
                            ),
                        )
                    })?;
                input.mtls = Some(kept);
            }
        }
        self.replace_secret(caller, row, input).await
    }

    pub async fn delete(
        &self,
        caller: &Caller,
        row: &CredentialRow,
        force: bool,
    ) -> Result<(), CredentialError> {
        let event = audit(
            caller,
            AuditAction::CredentialDelete,
            &row.id,
            &row.owner_id,
            AuditOutcome::Success,
        )
        .detail(serde_json::json!({ "name": row.name, "force": force }).to_string());
        let outcome = self.store.delete_credential(&row.id, force, &event).await?;
        self.forget(&row.id);
        match outcome {
            DeleteOutcome::Deleted => Ok(()),
            DeleteOutcome::InUse(users) => Err(CredentialError::InUse(users)),
            DeleteOutcome::Missing => Err(CredentialError::NotFound),
        }
    }
}

/// A change of who may use a credential and where it may go; each part is kept when `None`.
#[derive(Debug, Default)]
pub struct AccessChange {
    pub shared: Option<bool>,
    pub allowed_hosts: Option<AllowedHosts>,
    pub proxy: Option<ProxySettings>,
}

impl AccessChange {
    /// The values to write, with the old and new ones in the audit event; refused when the
    /// proxy base would fall outside the allowed hosts.
    fn planned(self, caller: &Caller, row: &CredentialRow) -> Result<AccessWrite, CredentialError> {
        let old_hosts: Vec<String> = serde_json::from_str(&row.allowed_hosts)
            .map_err(|_| CredentialError::Corrupt("allowed hosts"))?;
        let old_proxy: ProxySettings = from_json(&row.proxy)?;
        let shared = self.shared.unwrap_or(row.shared);
        let hosts = match &self.allowed_hosts {
            Some(hosts) => hosts.as_slice().to_vec(),
            None => old_hosts.clone(),
        };
        let proxy = self.proxy.unwrap_or_else(|| old_proxy.clone());
        proxy.check_against(
            &AllowedHosts::parse(&hosts).map_err(|_| CredentialError::Corrupt("allowed hosts"))?,
        )?;
        let event = audit(
            caller,
            AuditAction::CredentialAccess,
            &row.id,
            &row.owner_id,
            AuditOutcome::Success,
        )
        .detail(
            serde_json::json!({
                "shared": { "from": row.shared, "to": shared },
                "allowed_hosts": { "from": old_hosts, "to": hosts },
                "proxy": { "from": old_proxy, "to": proxy },
            })
            .to_string(),
        );
        Ok(AccessWrite {
            shared,
            allowed_hosts: to_json(&hosts)?,
            proxy: to_json(&proxy)?,
            audit: event,
        })
    }
}
