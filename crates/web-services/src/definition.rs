//! A web service's definition on its way in and out: the name, the request (from a
//! definition or a curl command) checked and stripped of stored secrets, and the view of a row.

use super::*;
use keyway_model::RequestInput;

/// A checked definition, and what the check dropped or warns about.
pub(crate) struct Parsed {
    pub(crate) name: String,
    pub(crate) request: RequestDefinition,
    pub(crate) dropped: Vec<String>,
    pub(crate) warnings: Vec<String>,
    pub(crate) from_openapi: Option<keyway_openapi::Built>,
}

impl WebServices {
    pub(crate) async fn parse(
        &self,
        caller: &Caller,
        input: WebServiceInput,
        current_name: Option<String>,
    ) -> Result<Parsed, WebServiceError> {
        let name = match (input.name, current_name) {
            (Some(n), _) => parse_name(&n)?,
            (None, Some(current)) => current,
            (None, None) => return Err(invalid("name", "is required")),
        };
        let mut from_openapi = None;
        let (mut request, dropped, warnings) = match (input.request, input.curl, input.openapi) {
            (Some(request), None, None) => {
                if input.drop_unsupported {
                    return Err(invalid("drop_unsupported", "only applies with `curl`"));
                }
                let request =
                    RequestDefinition::parse(request).map_err(WebServiceError::Request)?;
                (request, Vec::new(), Vec::new())
            }
            (None, None, Some(source)) => {
                if input.drop_unsupported {
                    return Err(invalid("drop_unsupported", "only applies with `curl`"));
                }
                let document = match (source.document, source.document_id) {
                    (Some(text), None) => self.parse_document(text.as_bytes())?.1,
                    (None, Some(id)) => self.kept_document(caller, &id).await?,
                    _ => {
                        return Err(invalid(
                            "openapi",
                            "give exactly one of `document` or `document_id`",
                        ))
                    }
                };
                let built = document
                    .build(&source.operation, source.server.as_deref())
                    .map_err(WebServiceError::OpenApi)?;
                let request = RequestDefinition::parse(RequestInput {
                    method: Some(built.method.clone()),
                    url: built.url.clone(),
                    headers: built
                        .headers
                        .iter()
                        .map(|(name, value)| keyway_model::Header::new(name, value))
                        .collect(),
                    body: built.body.clone(),
                    content_type: built.content_type.clone(),
                    credential_id: None,
                    timeout_ms: None,
                })
                .map_err(WebServiceError::Request)?;
                from_openapi = Some(built);
                (request, Vec::new(), Vec::new())
            }
            (None, Some(command), None) => {
                let options = ImportOptions {
                    drop_unsupported: input.drop_unsupported,
                };
                let import =
                    keyway_curl::import(&command, &options).map_err(WebServiceError::Curl)?;
                (import.request, import.dropped, import.warnings)
            }
            _ => {
                return Err(invalid(
                    "request",
                    "give exactly one of `request`, `curl` or `openapi`",
                ))
            }
        };
        match (input.credential_id, &request.credential_id) {
            (Some(top), Some(inner)) if &top != inner => {
                return Err(invalid(
                    "credential_id",
                    "differs from request.credential_id; give it once",
                ))
            }
            (Some(top), _) => request.credential_id = Some(top),
            (None, _) => {}
        }
        refuse_stored_secrets(&request)?;
        if let Some(credential_id) = &request.credential_id {
            self.require_use(caller, credential_id).await?;
        }
        Ok(Parsed {
            name,
            request,
            dropped,
            warnings,
            from_openapi,
        })
    }
}

pub(crate) fn parse_name(raw: &str) -> Result<String, WebServiceError> {
    Ok(keyway_model::CredentialName::parse(raw)
        .map_err(|e| WebServiceError::Invalid(ParseError::new("name", e.message)))?
        .as_str()
        .to_owned())
}

pub(crate) fn write(parsed: &Parsed) -> Result<WebServiceWrite, WebServiceError> {
    Ok(WebServiceWrite {
        name: parsed.name.clone(),
        credential_id: parsed.request.credential_id.clone(),
        request: serde_json::to_string(&parsed.request).map_err(WebServiceError::Corrupt)?,
    })
}

pub(crate) fn view(
    row: WebServiceRow,
    dropped: Vec<String>,
    warnings: Vec<String>,
) -> Result<WebServiceView, WebServiceError> {
    let mut request: RequestDefinition =
        serde_json::from_str(&row.request).map_err(WebServiceError::Corrupt)?;
    // A forced credential removal unlinks the row; the definition follows the row.
    request.credential_id = row.credential_id;
    Ok(WebServiceView {
        id: row.id,
        name: row.name,
        owner: Owner {
            id: row.owner_id,
            name: row.owner_name,
        },
        request,
        credential_removed: row.credential_removed,
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
        dropped,
        warnings,
        from_openapi: None,
    })
}

pub(crate) fn invalid(field: &'static str, message: &str) -> WebServiceError {
    WebServiceError::Invalid(ParseError::new(field, message))
}
