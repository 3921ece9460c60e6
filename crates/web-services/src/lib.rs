//! Web services: saved request definitions, visible to their org, changed by their owner or
//! an admin, created from a definition or from a curl command. Running one is the
//! dispatcher's job; this crate decides what is saved and who may see, aim and change it.

use keyway_credentials::cache::TtlCache;
use keyway_credentials::{rfc3339, CredentialError, Credentials, Need, Owner};
use keyway_curl::{CurlError, ImportOptions};
use keyway_model::template::{Context, Escape, Renderer};
use keyway_model::{Caller, ParseError, RequestDefinition, RequestError, RequestInput};
use keyway_store::{StoreError, WebServiceRow, WebServiceWrite};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

mod definition;
mod documents;
mod secrets;

use definition::{invalid, parse_name, view, write, Parsed};
pub use documents::{DocumentTurn, Listing, KEPT};
use secrets::refuse_stored_secrets;
pub use secrets::{is_literal_secret_header, url_without_literal_secrets};

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Items", "curl": "curl -H 'Accept: application/json' 'http://127.0.0.1:9/items?q=${query}'"}))]
pub struct WebServiceInput {
    /// Required on create; a replace without it keeps the name.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub request: Option<RequestInput>,
    #[serde(default)]
    pub curl: Option<String>,
    #[serde(default)]
    pub drop_unsupported: bool,
    /// With `curl` or `openapi`: the credential that signs the request.
    #[serde(default)]
    pub credential_id: Option<String>,
    /// An operation of an OpenAPI document to build the request from.
    #[serde(default)]
    pub openapi: Option<OpenApiSource>,
}

/// Where a request definition built from an OpenAPI document comes from.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenApiSource {
    /// The document itself (JSON or YAML text), within the API's body limit.
    #[serde(default)]
    pub document: Option<String>,
    /// Or a document the org keeps (`POST /v1/openapi/operations?keep=true`).
    #[serde(default)]
    pub document_id: Option<String>,
    /// The operation: its `operationId`, or `{"method", "path"}`.
    pub operation: keyway_openapi::Selector,
    /// The base URL to call; the operation's first server when left out.
    #[serde(default)]
    pub server: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebServiceView {
    pub id: String,
    pub name: String,
    /// The same shape as a credential's owner.
    pub owner: Owner,
    pub request: RequestDefinition,
    /// Its credential was removed by force; runs answer `credential_removed` until one is
    /// bound again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub credential_removed: bool,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Built from an OpenAPI operation: what was filled in and from where, what was left out
    /// or could not be mapped, and the credential its security scheme suggests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_openapi: Option<keyway_openapi::Built>,
}

#[derive(Debug, thiserror::Error)]
pub enum WebServiceError {
    #[error("no web service with this ID is visible to you")]
    NotFound,
    #[error("only the web service's owner or an admin of its org may change or remove it")]
    Forbidden,
    #[error("credential_id: no credential with this ID is visible to you")]
    CredentialNotFound,
    #[error("openapi.document_id: your org keeps no OpenAPI document with this ID")]
    DocumentNotFound,
    #[error("other OpenAPI documents are being read; try again in a moment")]
    Busy,
    #[error(
        "your org has {0} web services, the most it may have: remove one before adding another"
    )]
    OrgLimit(i64),
    #[error("the credential of this web service was removed; bind a credential (PUT /v1/web-services/{0} with credential_id) before running it")]
    CredentialRemoved(String),
    #[error(transparent)]
    Invalid(ParseError),
    #[error(transparent)]
    Request(RequestError),
    #[error(transparent)]
    Curl(CurlError),
    #[error(transparent)]
    OpenApi(keyway_openapi::OpenApiError),
    #[error(transparent)]
    Credential(CredentialError),
    #[error("storage failed")]
    Store(#[source] StoreError),
    #[error("a stored web service is malformed")]
    Corrupt(#[source] serde_json::Error),
}

impl From<StoreError> for WebServiceError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Missing(_) => WebServiceError::CredentialNotFound,
            other => WebServiceError::Store(other),
        }
    }
}

#[derive(Debug, Clone)]
pub struct WebServices {
    credentials: Credentials,
    /// Rows read for runs, briefly (see `keyway_credentials::cache`).
    rows: Arc<TtlCache<String, Arc<(WebServiceRow, RequestDefinition)>>>,
    /// Parsed OpenAPI documents by SHA-256 (see `documents`).
    documents: Arc<TtlCache<String, Arc<keyway_openapi::Document>>>,
    /// Turns for reading large documents (see `documents`).
    turns: Arc<tokio::sync::Semaphore>,
    /// The most web services one org may have.
    org_limit: i64,
}

impl WebServices {
    pub fn new(credentials: Credentials, cache_ttl: Duration) -> Self {
        Self {
            credentials,
            rows: Arc::new(TtlCache::new(cache_ttl, 10_000)),
            documents: Arc::new(TtlCache::new(
                documents::DOCUMENT_CACHE_TTL,
                documents::DOCUMENT_CACHE_ENTRIES,
            )),
            turns: Arc::new(tokio::sync::Semaphore::new(documents::CONCURRENT_DOCUMENTS)),
            org_limit: i64::from(keyway_credentials::DEFAULT_ORG_LIMIT),
        }
    }

    /// At most `limit` web services per org.
    pub fn with_org_limit(mut self, limit: u32) -> Self {
        self.org_limit = i64::from(limit);
        self
    }

    #[tracing::instrument(skip_all)]
    pub async fn create(
        &self,
        caller: &Caller,
        input: WebServiceInput,
    ) -> Result<WebServiceView, WebServiceError> {
        let parsed = self.parse(caller, input, None).await?;
        let write = write(&parsed)?;
        let id = self
            .credentials
            .store()
            .insert_web_service(&caller.org_id, &caller.user_id, &write, self.org_limit)
            .await
            .map_err(|err| match err {
                StoreError::LimitReached(_) => WebServiceError::OrgLimit(self.org_limit),
                other => other.into(),
            })?;
        self.view_after_write(&id, parsed).await
    }

    pub async fn list(&self, caller: &Caller) -> Result<Vec<WebServiceView>, WebServiceError> {
        self.credentials
            .store()
            .list_web_services(&caller.org_id)
            .await?
            .into_iter()
            .map(|row| view(row, Vec::new(), Vec::new()))
            .collect()
    }

    pub async fn get(&self, caller: &Caller, id: &str) -> Result<WebServiceView, WebServiceError> {
        view(
            self.visible(caller, id).await?.0.clone(),
            Vec::new(),
            Vec::new(),
        )
    }

    /// The definition to run, for anyone in the web service's org.
    pub async fn definition(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<RequestDefinition, WebServiceError> {
        let entry = self.visible(caller, id).await?;
        if entry.0.credential_removed {
            return Err(WebServiceError::CredentialRemoved(id.to_owned()));
        }
        Ok(entry.1.clone())
    }

    #[tracing::instrument(skip_all, fields(web_service_id = %id))]
    pub async fn replace(
        &self,
        caller: &Caller,
        id: &str,
        input: WebServiceInput,
    ) -> Result<WebServiceView, WebServiceError> {
        let entry = self.manageable(caller, id).await?;
        let (row, current) = (&entry.0, &entry.1);
        let rename_only =
            input.request.is_none() && input.curl.is_none() && input.openapi.is_none();
        let parsed = if rename_only {
            if input.drop_unsupported || input.credential_id.is_some() {
                return Err(invalid(
                    "request",
                    "give `request` or `curl` to change the definition",
                ));
            }
            Parsed {
                name: parse_name(input.name.as_deref().unwrap_or(&row.name))?,
                request: current.clone(),
                dropped: Vec::new(),
                warnings: Vec::new(),
                from_openapi: None,
            }
        } else {
            self.parse(caller, input, Some(row.name.clone())).await?
        };
        // Changing what a bound credential signs is using it: the right to use the credential
        // bound now is needed too (the new one was checked by `parse`). A rename is not.
        if parsed.request != *current {
            if let Some(bound) = &row.credential_id {
                self.require_use(caller, bound).await?;
            }
        }
        self.rows.remove(&id.to_owned());
        if !self
            .credentials
            .store()
            .update_web_service(id, &write(&parsed)?)
            .await?
        {
            return Err(WebServiceError::NotFound);
        }
        self.rows.remove(&id.to_owned());
        self.view_after_write(id, parsed).await
    }

    #[tracing::instrument(skip_all, fields(web_service_id = %id))]
    pub async fn delete(&self, caller: &Caller, id: &str) -> Result<(), WebServiceError> {
        self.manageable(caller, id).await?;
        let deleted = self.credentials.store().delete_web_service(id).await?;
        self.rows.remove(&id.to_owned());
        if deleted {
            Ok(())
        } else {
            Err(WebServiceError::NotFound)
        }
    }

    /// The row and its parsed definition, if the caller's org owns it.
    async fn visible(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Arc<(WebServiceRow, RequestDefinition)>, WebServiceError> {
        let entry = match self.rows.get(id) {
            Some(entry) => entry,
            None => {
                let row = self.row(id).await?;
                let request = view(row.clone(), Vec::new(), Vec::new())?.request;
                let entry = Arc::new((row, request));
                self.rows.insert(id.to_owned(), entry.clone());
                entry
            }
        };
        if entry.0.org_id != caller.org_id {
            return Err(WebServiceError::NotFound);
        }
        Ok(entry)
    }

    /// Whether `caller` may change web service `id` (an error saying why not): checked before
    /// a request body is read, so a caller without the right learns nothing from validation.
    pub async fn may_manage(&self, caller: &Caller, id: &str) -> Result<(), WebServiceError> {
        self.manageable(caller, id).await.map(drop)
    }

    async fn manageable(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Arc<(WebServiceRow, RequestDefinition)>, WebServiceError> {
        let entry = self.visible(caller, id).await?;
        if !caller
            .access(&entry.0.org_id, &entry.0.owner_id, true)
            .manage
        {
            return Err(WebServiceError::Forbidden);
        }
        Ok(entry)
    }

    /// The right to sign calls with `credential_id`, which aiming it needs.
    async fn require_use(
        &self,
        caller: &Caller,
        credential_id: &str,
    ) -> Result<(), WebServiceError> {
        match self
            .credentials
            .require(caller, credential_id, Need::Use)
            .await
        {
            Ok(_) => Ok(()),
            Err(CredentialError::NotFound) => Err(WebServiceError::CredentialNotFound),
            Err(other) => Err(WebServiceError::Credential(other)),
        }
    }

    async fn view_after_write(
        &self,
        id: &str,
        parsed: Parsed,
    ) -> Result<WebServiceView, WebServiceError> {
        let mut view = view(self.row(id).await?, parsed.dropped, parsed.warnings)?;
        view.from_openapi = parsed.from_openapi;
        Ok(view)
    }

    /// The stored row, whoever may see it.
    async fn row(&self, id: &str) -> Result<WebServiceRow, WebServiceError> {
        let row = self.credentials.store().web_service(id).await?;
        row.ok_or(WebServiceError::NotFound)
    }
}
