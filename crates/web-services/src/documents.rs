//! OpenAPI documents to build web services from: parsed once per distinct document (a small
//! cache by SHA-256, since a large one takes a while to read), off the async workers and at
//! most two at a time per replica (each may hold 16 MiB and several times that parsed), and
//! kept for the org when asked, so its members set up several web services from one upload
//! (within [`KEPT`]: an org's oldest kept documents are let go past it).

use keyway_openapi::{Document, Operation, Version};
use sha2::{Digest, Sha256};

use super::*;

/// How long, and how many, parsed documents a replica keeps (GitHub's takes ~70 MB parsed).
pub(crate) const DOCUMENT_CACHE_TTL: Duration = Duration::from_secs(600);
pub(crate) const DOCUMENT_CACHE_ENTRIES: usize = 4;
/// Large documents read at once (uploads, and kept documents missing from the cache).
pub(crate) const CONCURRENT_DOCUMENTS: usize = 2;
/// What an org keeps at most: its 64 most recently kept documents, within 256 MiB together
/// (16 GitHub-sized descriptions). Without a bound, anyone with a token could fill the
/// database's disk with distinct documents; letting the oldest go, rather than refusing the
/// newest, never leaves an org stuck (there is no call to remove a kept document), and a web
/// service made from a document does not need it afterwards.
/// Of those, the documents one member first kept count at most 16 and 64 MiB (a quarter):
/// past that, keeping another lets their own oldest go, so one member cannot push the rest
/// of the org's documents out.
pub const KEPT: keyway_store::KeepLimits = keyway_store::KeepLimits {
    documents: 64,
    bytes: 256 * 1024 * 1024,
    per_person_documents: 16,
    per_person_bytes: 64 * 1024 * 1024,
};
/// How long a read waits for its turn before the caller is told to try again.
const WAIT_FOR_TURN: Duration = Duration::from_secs(5);

/// A turn to read a large document; give it back by dropping it.
pub type DocumentTurn = tokio::sync::OwnedSemaphorePermit;

/// A document's operations, as `POST /v1/openapi/operations` answers them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Listing {
    #[schema(value_type = String)]
    pub version: Version,
    pub title: Option<String>,
    /// Set when the document was kept (`?keep=true`): give it as `openapi.document_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document_id: Option<String>,
    pub operations: Vec<Operation>,
}

impl WebServices {
    /// A turn to read a large document: take it before reading the body, so waiting uploads
    /// hold no memory. `Busy` after waiting 5 s.
    pub async fn document_turn(&self) -> Result<DocumentTurn, WebServiceError> {
        tokio::time::timeout(WAIT_FOR_TURN, self.turns.clone().acquire_owned())
            .await
            .map_err(|_| WebServiceError::Busy)?
            .map_err(|_| WebServiceError::Busy)
    }

    /// The document these bytes hold, parsed or from the cache. CPU-bound for a large
    /// document: call it on the blocking pool, holding a turn.
    pub fn parse_document(&self, bytes: &[u8]) -> Result<(String, Arc<Document>), WebServiceError> {
        let digest = hex::encode(Sha256::digest(bytes));
        if let Some(document) = self.documents.get(&digest) {
            return Ok((digest, document));
        }
        let document = Arc::new(Document::parse(bytes).map_err(WebServiceError::OpenApi)?);
        self.documents.insert(digest.clone(), document.clone());
        Ok((digest, document))
    }

    /// The listing of a parsed document; kept for the caller's org when `keep`.
    pub async fn listing(
        &self,
        caller: &Caller,
        digest: &str,
        document: &Document,
        bytes: Option<&[u8]>,
    ) -> Result<Listing, WebServiceError> {
        let title = document
            .root
            .pointer("/info/title")
            .and_then(|t| t.as_str())
            .map(str::to_owned);
        let document_id = match bytes {
            Some(bytes) => Some(
                self.credentials
                    .store()
                    .keep_openapi_document(
                        &caller.org_id,
                        &caller.user_id,
                        digest,
                        title.as_deref(),
                        bytes,
                        KEPT,
                    )
                    .await?,
            ),
            None => None,
        };
        Ok(Listing {
            version: document.version,
            title,
            document_id,
            operations: document.operations().map_err(WebServiceError::OpenApi)?,
        })
    }

    /// A document the caller's org keeps.
    pub(crate) async fn kept_document(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Arc<Document>, WebServiceError> {
        let row = self
            .credentials
            .store()
            .openapi_document(&caller.org_id, id)
            .await?
            .ok_or(WebServiceError::DocumentNotFound)?;
        if let Some(document) = self.documents.get(&row.digest) {
            return Ok(document);
        }
        // Up to 16 MiB to parse: a turn, and the blocking pool, as for an upload.
        let _turn = self.document_turn().await?;
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.parse_document(&row.body).map(|(_, d)| d))
            .await
            .map_err(|_| WebServiceError::Busy)?
    }
}
