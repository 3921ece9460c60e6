//! The credential operations of the contract, with its tenancy rules and an audit event for each.

use std::sync::Arc;
use std::time::Duration;

use crate::cache::TtlCache;

use keyway_model::{AllowedHosts, Caller, CredentialName, ProxySettings, Status};
use keyway_store::{
    AccessWrite, AuditAction, AuditOutcome, AuditQuery, CredentialChange, CredentialRow,
    DeleteOutcome, NewAuditEvent, NewCredential, SecretRow, SecretUpdate, Store, StoreError,
};
use keyway_vault::Keyring;
use secrecy::{ExposeSecret, SecretString};

use crate::material::{open_field, seal_field, StoredMtls, StoredSettings, FIELD_TOKENS};
use crate::view::{AuditView, CredentialView};
use crate::{
    ClientIdentity, CredentialError, Material, SecretInput, FIELD_MATERIAL, FIELD_MTLS_KEY,
};
use zeroize::Zeroizing;

mod changes;
mod resolve;

pub use changes::AccessChange;

/// Credential management over one store and keyring; cheap to clone.
#[derive(Debug, Clone)]
pub struct Credentials {
    store: Store,
    keyring: Arc<Keyring>,
    /// Opened credentials for calls, briefly (see [`crate::cache`]).
    opened: Arc<TtlCache<String, Arc<Resolved>>>,
    /// The most credentials one org may have.
    org_limit: i64,
}

/// The most credentials, and web services, one org may have unless configured otherwise:
/// without a bound anyone with a token could grow the database, and every list of the org,
/// without end.
pub const DEFAULT_ORG_LIMIT: u32 = 10_000;

/// How long an opened credential is reused for calls unless configured otherwise.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct NewCredentialInput {
    pub name: CredentialName,
    pub shared: bool,
    pub allowed_hosts: AllowedHosts,
    /// Proxy mode's base URL and response cap.
    pub proxy: ProxySettings,
    pub secret: SecretInput,
    /// `active` for basic and API keys; OAuth credentials start `pending_authorization`, or
    /// `connected` with their first tokens.
    pub status: Status,
    pub tokens: Option<InitialTokens>,
}

/// The first OAuth tokens, stored with the credential (client credentials grant).
#[derive(Debug)]
pub struct InitialTokens {
    /// The `tokens` field's JSON.
    pub plaintext: Zeroizing<Vec<u8>>,
    pub expires_at: Option<i64>,
}

/// The right an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    See,
    /// Sign calls with it, or aim it: bind it to a web service or change one bound to it.
    Use,
    /// Rename, remove.
    Manage,
    /// Replace the secret material.
    ReplaceSecret,
    /// Change who may use it (sharing) and where it may go (allowed hosts): its owner only,
    /// since widening either lets others aim the owner's secret.
    ChangeAccess,
    /// Move to another owner: admins of its org only.
    Transfer,
}

/// A credential opened for a call.
#[derive(Debug)]
pub struct Resolved {
    pub row: CredentialRow,
    pub allowed_hosts: AllowedHosts,
    pub proxy: ProxySettings,
    pub material: Material,
    pub mtls: Option<ClientIdentity>,
    /// OAuth credentials: the `tokens` field's JSON, when there are tokens.
    pub tokens: Option<SecretString>,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub credential_id: Option<String>,
    pub before: Option<i64>,
    pub limit: i64,
}

impl Credentials {
    pub fn new(store: Store, keyring: Arc<Keyring>) -> Self {
        Self::with_cache_ttl(store, keyring, DEFAULT_CACHE_TTL)
    }

    /// `ttl` zero: every call reads the database.
    pub fn with_cache_ttl(store: Store, keyring: Arc<Keyring>, ttl: Duration) -> Self {
        Self {
            store,
            keyring,
            opened: Arc::new(TtlCache::new(ttl, 10_000)),
            org_limit: i64::from(DEFAULT_ORG_LIMIT),
        }
    }

    /// At most `limit` credentials per org.
    pub fn with_org_limit(mut self, limit: u32) -> Self {
        self.org_limit = i64::from(limit);
        self
    }

    /// Drops the cached copy of a credential this process changed.
    pub fn forget(&self, id: &str) {
        self.opened.remove(&id.to_owned());
    }

    /// Runs a write of credential `id` with its cached copy dropped on both sides: before, so
    /// no call of this process starts with the old copy while the write runs; after, because
    /// a call that was already resolving may have cached the old row again meanwhile.
    pub async fn write_through<T>(
        &self,
        id: &str,
        write: impl std::future::Future<Output = T>,
    ) -> T {
        self.forget(id);
        let result = write.await;
        self.forget(id);
        result
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// Seals `plaintext` as `field` of credential `id` (the OAuth client's tokens and PKCE
    /// verifiers).
    pub fn seal(
        &self,
        org: &str,
        id: &str,
        field: &str,
        plaintext: &[u8],
    ) -> Result<SecretRow, CredentialError> {
        Ok(seal_field(&self.keyring, org, id, field, plaintext)?)
    }

    /// Opens what [`Credentials::seal`] sealed.
    pub fn open(
        &self,
        org: &str,
        id: &str,
        row: SecretRow,
    ) -> Result<secrecy::SecretSlice<u8>, CredentialError> {
        Ok(open_field(&self.keyring, org, id, row)?)
    }

    #[tracing::instrument(skip_all, fields(kind = input.secret.material.kind().as_str()))]
    pub async fn create(
        &self,
        caller: &Caller,
        input: NewCredentialInput,
    ) -> Result<CredentialView, CredentialError> {
        input.proxy.check_against(&input.allowed_hosts)?;
        let id = uuid::Uuid::now_v7().to_string();
        let kind = input.secret.material.kind();
        let mut secrets = input.secret.seal(&self.keyring, &caller.org_id, &id)?;
        if let Some(tokens) = &input.tokens {
            secrets.push(seal_field(
                &self.keyring,
                &caller.org_id,
                &id,
                FIELD_TOKENS,
                &tokens.plaintext,
            )?);
        }
        let new = NewCredential {
            id: id.clone(),
            org_id: caller.org_id.clone(),
            owner_id: caller.user_id.clone(),
            name: input.name.as_str().to_owned(),
            kind,
            shared: input.shared,
            status: input.status,
            allowed_hosts: to_json(input.allowed_hosts.as_slice())?,
            settings: to_json(&input.secret.material.settings())?,
            mtls: input
                .secret
                .stored_mtls()
                .map(|m| to_json(&m))
                .transpose()?,
            token_expires_at: input.tokens.as_ref().and_then(|t| t.expires_at),
            proxy: to_json(&input.proxy)?,
        };
        let event = audit(
            caller,
            AuditAction::CredentialCreate,
            &id,
            &caller.user_id,
            AuditOutcome::Success,
        )
        .detail(
            serde_json::json!({ "kind": kind.as_str(), "name": input.name.as_str() }).to_string(),
        );
        self.store
            .insert_credential(&new, &secrets, &event, self.org_limit)
            .await
            .map_err(|err| match err {
                StoreError::LimitReached(_) => CredentialError::OrgLimit(self.org_limit),
                other => other.into(),
            })?;
        tracing::info!(credential_id = %id, "credential created");
        self.view(&id, false).await
    }

    pub async fn list(&self, caller: &Caller) -> Result<Vec<CredentialView>, CredentialError> {
        let rows = self
            .store
            .list_credentials(&caller.org_id, &caller.user_id, caller.is_admin())
            .await?;
        let counts: std::collections::HashMap<String, i64> = self
            .store
            .credential_use_counts(&caller.org_id)
            .await?
            .into_iter()
            .collect();
        rows.into_iter()
            .map(|row| {
                let count = counts.get(&row.id).copied().unwrap_or(0);
                CredentialView::from_row(row, None, usize::try_from(count).unwrap_or(0))
            })
            .collect()
    }

    /// One credential with the web services that use it.
    pub async fn get(&self, caller: &Caller, id: &str) -> Result<CredentialView, CredentialError> {
        self.require(caller, id, Need::See).await?;
        self.view(id, true).await
    }

    /// Loads a credential the caller has `need` on. Invisible ones are `NotFound`; visible ones
    /// the caller may not change are `Forbidden`, and the attempt is audited.
    pub async fn require(
        &self,
        caller: &Caller,
        id: &str,
        need: Need,
    ) -> Result<CredentialRow, CredentialError> {
        let row = self
            .store
            .credential(id)
            .await?
            .ok_or(CredentialError::NotFound)?;
        let access = caller.access(&row.org_id, &row.owner_id, row.shared);
        if !access.visible {
            return Err(CredentialError::NotFound);
        }
        let (allowed, action, why) = match need {
            // Seeing is decided by `visible` above; nothing more to check or record.
            Need::See => return Ok(row),
            Need::Use => (access.usable, AuditAction::CredentialUse, USE_DENIED),
            Need::Manage => (
                access.manage,
                AuditAction::CredentialManage,
                "only the credential's owner or an admin of its org may rename or remove it",
            ),
            Need::Transfer => (
                access.manage && caller.is_admin(),
                AuditAction::CredentialTransfer,
                "only an admin of the credential's org may move it to another owner",
            ),
            Need::ReplaceSecret => (
                access.replace_secret,
                AuditAction::CredentialReplaceSecret,
                "only the credential's owner may replace its secret material",
            ),
            Need::ChangeAccess => (
                access.replace_secret,
                AuditAction::CredentialAccess,
                "only the credential's owner may change its sharing or allowed hosts",
            ),
        };
        if !allowed {
            let event = audit(caller, action, id, &row.owner_id, AuditOutcome::Denied);
            self.store.append_audit(&event).await?;
            return Err(CredentialError::Forbidden(why));
        }
        Ok(row)
    }

    /// Admins see their org's events; members the events of credentials they own.
    pub async fn audit(
        &self,
        caller: &Caller,
        filter: AuditFilter,
    ) -> Result<Vec<AuditView>, CredentialError> {
        let query = AuditQuery {
            org_id: caller.org_id.clone(),
            owner_id: (!caller.is_admin()).then(|| caller.user_id.clone()),
            credential_id: filter.credential_id,
            before: filter.before,
            limit: filter.limit,
        };
        let rows = self.store.audit_events(&query).await?;
        Ok(rows.into_iter().map(AuditView::from).collect())
    }

    /// `with_users: false` only for a credential just created, which nothing uses yet.
    async fn view(&self, id: &str, with_users: bool) -> Result<CredentialView, CredentialError> {
        let row = self
            .store
            .credential(id)
            .await?
            .ok_or(CredentialError::NotFound)?;
        let users = if with_users {
            Some(self.store.credential_users(id).await?)
        } else {
            None
        };
        CredentialView::from_row(row, users, 0)
    }
}

const USE_DENIED: &str = "only the credential's owner may use it, unless it is shared; admins may see, rename and remove it but not sign calls with it or aim it at a URL";

fn audit(
    caller: &Caller,
    action: AuditAction,
    credential_id: &str,
    owner_id: &str,
    outcome: AuditOutcome,
) -> NewAuditEvent {
    NewAuditEvent::new(action, outcome)
        .by(Some(&caller.user_id), &caller.user_name)
        .on(&caller.org_id, credential_id, owner_id)
}

pub(crate) fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, CredentialError> {
    serde_json::to_string(value).map_err(|_| CredentialError::Corrupt("value could not be encoded"))
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(raw: &str) -> Result<T, CredentialError> {
    serde_json::from_str(raw).map_err(|_| CredentialError::Corrupt("stored JSON is malformed"))
}
