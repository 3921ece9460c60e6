//! Credentials and their sealed secrets, written together so a secret never outlives its metadata.

use crate::audit::{insert_audit, NewAuditEvent};
use crate::error::{conflict, is_foreign_key_violation};
use crate::{now_ms, on_pool, Store, StoreError};
use keyway_model::{Kind, Status};

const INSERT_COLUMNS: &str = "id, org_id, owner_id, name, kind, shared, status, allowed_hosts, \
     settings, mtls, token_expires_at, proxy, secret_version, created_at, updated_at";
/// Credential columns plus the owner's name, for `FROM credentials c JOIN users u`.
const SELECT_COLUMNS: &str = "c.id, c.org_id, c.owner_id, u.name AS owner_name, c.name, c.kind, \
     c.shared, c.status, c.allowed_hosts, c.settings, c.mtls, c.token_expires_at, c.proxy, c.secret_version, \
     c.created_at, c.updated_at FROM credentials c JOIN users u ON u.id = c.owner_id";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CredentialRow {
    pub id: String,
    pub org_id: String,
    pub owner_id: String,
    pub owner_name: String,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub kind: Kind,
    pub shared: bool,
    #[sqlx(try_from = "String")]
    pub status: Status,
    /// JSON array.
    pub allowed_hosts: String,
    /// JSON object, never secret.
    pub settings: String,
    /// JSON object, never the private key.
    pub mtls: Option<String>,
    pub token_expires_at: Option<i64>,
    /// JSON object: proxy mode's base URL and response cap, never secret.
    pub proxy: String,
    pub secret_version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One sealed field. Only ciphertext: the vault turns it back into plaintext.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SecretRow {
    pub field: String,
    pub key_id: String,
    pub wrapped_key: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// A rename and a change of access, either or both, applied together
/// ([`Store::change_credential`]), each with its audit event.
#[derive(Debug, Default)]
pub struct CredentialChange {
    /// The new name.
    pub name: Option<(String, NewAuditEvent)>,
    pub access: Option<AccessWrite>,
}

/// Who may use a credential (`shared`), where it may go (`allowed_hosts`, a JSON array) and
/// its proxy settings (JSON), all written.
#[derive(Debug)]
pub struct AccessWrite {
    pub shared: bool,
    pub allowed_hosts: String,
    pub proxy: String,
    pub audit: NewAuditEvent,
}

#[derive(Debug, Clone)]
pub struct NewCredential {
    pub id: String,
    pub org_id: String,
    pub owner_id: String,
    pub name: String,
    pub kind: Kind,
    pub shared: bool,
    pub status: Status,
    pub allowed_hosts: String,
    pub settings: String,
    pub mtls: Option<String>,
    pub token_expires_at: Option<i64>,
    pub proxy: String,
}

/// A full replacement of a credential's secret material and what describes it.
#[derive(Debug, Clone)]
pub struct SecretUpdate {
    pub settings: String,
    pub mtls: Option<String>,
    pub secrets: Vec<SecretRow>,
}

/// A credential row with one of its sealed fields (or none).
#[derive(sqlx::FromRow)]
struct JoinedRow {
    #[sqlx(flatten)]
    credential: CredentialRow,
    secret_field: Option<String>,
    key_id: Option<String>,
    wrapped_key: Option<Vec<u8>>,
    ciphertext: Option<Vec<u8>>,
}

impl JoinedRow {
    fn into_secret(self) -> Option<SecretRow> {
        Some(SecretRow {
            field: self.secret_field?,
            key_id: self.key_id?,
            wrapped_key: self.wrapped_key?,
            ciphertext: self.ciphertext?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WebServiceRef {
    pub id: String,
    pub name: String,
}

const COUNT_IN_ORG: &str = "SELECT COUNT(*) FROM credentials WHERE org_id = $1";

impl Store {
    /// Inserts the credential, its secrets and its audit event in one transaction.
    /// `Conflict` when the owner already has a credential of that name; `LimitReached` (and
    /// nothing written) when its org would have more than `org_limit` credentials.
    pub async fn insert_credential(
        &self,
        new: &NewCredential,
        secrets: &[SecretRow],
        audit: &NewAuditEvent,
        org_limit: i64,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let sql = format!(
            "INSERT INTO credentials ({INSERT_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 1, $13, $13)"
        );
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            crate::lock_org!(self, &mut *tx, &new.org_id);
            sqlx::query(&sql)
                .bind(&new.id)
                .bind(&new.org_id)
                .bind(&new.owner_id)
                .bind(&new.name)
                .bind(new.kind.as_str())
                .bind(new.shared)
                .bind(new.status.as_str())
                .bind(&new.allowed_hosts)
                .bind(&new.settings)
                .bind(&new.mtls)
                .bind(new.token_expires_at)
                .bind(&new.proxy)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(conflict("a credential with this name (of yours)"))?;
            // Counted after the insert, so that a SQLite transaction starts with its write.
            let count: i64 = sqlx::query_scalar(COUNT_IN_ORG)
                .bind(&new.org_id)
                .fetch_one(&mut *tx)
                .await?;
            if count > org_limit {
                return Err(StoreError::LimitReached("credentials"));
            }
            for secret in secrets {
                insert_secret!(&mut *tx, &new.id, secret)?;
            }
            insert_audit!(&mut *tx, audit)?;
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn credential(&self, id: &str) -> Result<Option<CredentialRow>, StoreError> {
        let sql = format!("SELECT {SELECT_COLUMNS} WHERE c.id = $1");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?))
    }

    /// The credential and its sealed fields: what the dispatcher resolves per call. One
    /// statement, so a concurrent secret replacement is seen whole or not at all.
    pub async fn credential_with_secrets(
        &self,
        id: &str,
    ) -> Result<Option<(CredentialRow, Vec<SecretRow>)>, StoreError> {
        let sql = format!(
            "SELECT {SELECT_COLUMNS} LEFT JOIN credential_secrets s ON s.credential_id = c.id \
             WHERE c.id = $1 ORDER BY s.field"
        )
        .replacen(
            " FROM credentials c",
            ", s.field AS secret_field, s.key_id, s.wrapped_key, s.ciphertext FROM credentials c",
            1,
        );
        let rows: Vec<JoinedRow> =
            on_pool!(self, pool => sqlx::query_as(&sql).bind(id).fetch_all(pool).await?);
        let mut rows = rows.into_iter();
        let Some(first) = rows.next() else {
            return Ok(None);
        };
        let credential = first.credential.clone();
        let secrets = std::iter::once(first)
            .chain(rows)
            .filter_map(JoinedRow::into_secret)
            .collect();
        Ok(Some((credential, secrets)))
    }

    /// What a caller can see: own and shared credentials of the org, or all of them for admins.
    pub async fn list_credentials(
        &self,
        org_id: &str,
        user_id: &str,
        is_admin: bool,
    ) -> Result<Vec<CredentialRow>, StoreError> {
        let sql = format!(
            "SELECT {SELECT_COLUMNS} \
             WHERE c.org_id = $1 AND ($2 OR c.owner_id = $3 OR c.shared) ORDER BY c.created_at, c.id"
        );
        Ok(on_pool!(self, pool => sqlx::query_as(&sql)
            .bind(org_id)
            .bind(is_admin)
            .bind(user_id)
            .fetch_all(pool)
            .await?))
    }

    /// Renames and changes access as `change` says, with their audit events, in one
    /// transaction: a request that asks for both gets both or neither. `false` if the
    /// credential no longer exists.
    pub async fn change_credential(
        &self,
        id: &str,
        change: &CredentialChange,
    ) -> Result<bool, StoreError> {
        let rename = "UPDATE credentials SET name = $1, updated_at = $2 WHERE id = $3";
        let access = "UPDATE credentials SET shared = $1, allowed_hosts = $2, proxy = $3, \
                      updated_at = $4 WHERE id = $5";
        let now = now_ms();
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            if let Some((name, audit)) = &change.name {
                let done = sqlx::query(rename)
                    .bind(name)
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(conflict("a credential with this name (of its owner)"))?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                insert_audit!(&mut *tx, audit)?;
            }
            if let Some(to) = &change.access {
                let done = sqlx::query(access)
                    .bind(to.shared)
                    .bind(&to.allowed_hosts)
                    .bind(&to.proxy)
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                insert_audit!(&mut *tx, &to.audit)?;
            }
            tx.commit().await?;
        });
        Ok(true)
    }

    /// Moves a credential whose owner was disabled to another active user of its org, named
    /// `new_owner`, in one statement (a SQLite write transaction must start with its write).
    /// The sealed material is bound to the org and the credential, not the owner, so nothing
    /// is re-sealed. `None` when nothing moved: the credential is gone, its owner is still
    /// active, or no active user of that name is in the org ([`Store::user_active`] tells).
    pub async fn transfer_credential(
        &self,
        id: &str,
        org_id: &str,
        new_owner: &str,
        audit: &NewAuditEvent,
    ) -> Result<Option<String>, StoreError> {
        let sql = "UPDATE credentials SET updated_at = $4, owner_id = \
                   (SELECT id FROM users WHERE org_id = $2 AND name = $3 AND disabled_at IS NULL) \
                   WHERE id = $1 AND org_id = $2 \
                   AND EXISTS (SELECT 1 FROM users WHERE org_id = $2 AND name = $3 AND disabled_at IS NULL) \
                   AND owner_id IN (SELECT id FROM users WHERE disabled_at IS NOT NULL) \
                   RETURNING owner_id";
        let owner_id = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let moved: Option<String> = sqlx::query_scalar(sql)
                .bind(id)
                .bind(org_id)
                .bind(new_owner)
                .bind(now_ms())
                .fetch_optional(&mut *tx)
                .await
                .map_err(conflict("a credential with this name (of the new owner)"))?;
            let Some(owner_id) = moved else {
                return Ok(None);
            };
            let mut event = audit.clone();
            // IDs are generated (UUIDs), so they need no JSON escaping.
            event.detail = Some(format!(
                r#"{{"from":"{}","to":"{owner_id}"}}"#,
                audit.credential_owner_id.as_deref().unwrap_or_default()
            ));
            event.credential_owner_id = Some(owner_id.clone());
            insert_audit!(&mut *tx, &event)?;
            tx.commit().await?;
            owner_id
        });
        Ok(Some(owner_id))
    }

    /// Replaces every sealed field and bumps `secret_version`, so clients built for the old
    /// material are rebuilt. `false` if the credential no longer exists.
    pub async fn replace_secret(
        &self,
        id: &str,
        update: &SecretUpdate,
        audit: &NewAuditEvent,
    ) -> Result<bool, StoreError> {
        // Status and token expiry are not touched: the OAuth client owns them.
        let sql = "UPDATE credentials SET settings = $1, mtls = $2, \
                   secret_version = secret_version + 1, updated_at = $3 WHERE id = $4";
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(sql)
                .bind(&update.settings)
                .bind(&update.mtls)
                .bind(now_ms())
                .bind(id)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            // OAuth tokens belong to the connection, not to the material being replaced.
            sqlx::query("DELETE FROM credential_secrets WHERE credential_id = $1 AND field <> 'tokens'")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            for secret in &update.secrets {
                insert_secret!(&mut *tx, id, secret)?;
            }
            insert_audit!(&mut *tx, audit)?;
            tx.commit().await?;
        });
        Ok(true)
    }

    /// Web services that name this credential.
    pub async fn credential_users(&self, id: &str) -> Result<Vec<WebServiceRef>, StoreError> {
        let sql = "SELECT id, name FROM web_services WHERE credential_id = $1 ORDER BY name, id";
        Ok(on_pool!(self, pool => sqlx::query_as(sql).bind(id).fetch_all(pool).await?))
    }

    /// How many web services of `org_id` use each of its credentials (those used by none are
    /// left out).
    pub async fn credential_use_counts(
        &self,
        org_id: &str,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let sql = "SELECT credential_id, COUNT(*) FROM web_services WHERE org_id = $1 \
                   AND credential_id IS NOT NULL GROUP BY credential_id";
        Ok(on_pool!(self, pool => sqlx::query_as(sql).bind(org_id).fetch_all(pool).await?))
    }

    /// Deletes the credential (secrets cascade) unless a web service uses it and `force` is
    /// false; with `force`, the web services are unlinked in the same transaction. The foreign
    /// key (ON DELETE RESTRICT) decides, so a reference added concurrently by another replica
    /// is never silently dropped.
    pub async fn delete_credential(
        &self,
        id: &str,
        force: bool,
        audit: &NewAuditEvent,
    ) -> Result<DeleteOutcome, StoreError> {
        let result: Result<bool, sqlx::Error> = on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            if force {
                sqlx::query("UPDATE web_services SET credential_id = NULL, credential_removed = TRUE WHERE credential_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            let done = sqlx::query("DELETE FROM credentials WHERE id = $1").bind(id).execute(&mut *tx).await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            insert_audit!(&mut *tx, audit)?;
            tx.commit().await?;
            Ok(true)
        }.await);
        match result {
            Ok(true) => Ok(DeleteOutcome::Deleted),
            Ok(false) => Ok(DeleteOutcome::Missing),
            Err(err) if is_foreign_key_violation(&err) => {
                Ok(DeleteOutcome::InUse(self.credential_users(id).await?))
            }
            Err(err) => Err(err.into()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteOutcome {
    Deleted,
    InUse(Vec<WebServiceRef>),
    Missing,
}

/// Inserts one sealed field; a macro because the executor's type differs per driver.
macro_rules! insert_secret {
    ($exec:expr, $credential_id:expr, $secret:expr) => {
        sqlx::query(
            "INSERT INTO credential_secrets (credential_id, field, key_id, wrapped_key, ciphertext) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind($credential_id)
        .bind(&$secret.field)
        .bind(&$secret.key_id)
        .bind(&$secret.wrapped_key)
        .bind(&$secret.ciphertext)
        .execute($exec)
        .await
    };
}
pub(crate) use insert_secret;
