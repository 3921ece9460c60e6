//! Reads a JSON request body with a size limit and turns every problem into a clear
//! `invalid_request` naming the field, without echoing submitted values (they may be secrets).

use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use actix_web::{dev, web, FromRequest, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use std::future::{ready, Ready};
use zeroize::Zeroizing;

use crate::error::ApiError;
use crate::AppState;

/// The first allocation for a body; it grows as the body arrives.
const INITIAL: usize = 16 * 1024;
/// The whole body must arrive within this time.
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A body must say it is JSON (`application/json`, or a `+json` type); a request with no
/// body at all may leave the header out. Anything else is 415, before the body is read.
fn check_json_media_type(req: &HttpRequest, declared: Option<usize>) -> Result<(), ApiError> {
    let media_type = req
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or_default())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
    match media_type {
        Some(t)
            if t == "application/json"
                || (t.starts_with("application/") && t.ends_with("+json")) =>
        {
            Ok(())
        }
        Some(_) => Err(ApiError::UnsupportedMediaType),
        None if declared == Some(0)
            || (declared.is_none() && !req.headers().contains_key(TRANSFER_ENCODING)) =>
        {
            Ok(())
        }
        None => Err(ApiError::UnsupportedMediaType),
    }
}

/// A request's JSON body, read and parsed only when the handler asks ([`JsonBody::read`]), so
/// rights are checked before a byte of it is read.
pub struct JsonBody {
    req: HttpRequest,
    payload: dev::Payload,
}

impl FromRequest for JsonBody {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut dev::Payload) -> Self::Future {
        ready(Ok(JsonBody {
            req: req.clone(),
            payload: payload.take(),
        }))
    }
}

impl JsonBody {
    /// Reads at most the configured body limit and parses it as `T`.
    pub async fn read<T: DeserializeOwned>(self) -> Result<T, ApiError> {
        let limit = self
            .req
            .app_data::<web::Data<AppState>>()
            .ok_or_else(|| ApiError::Internal("application state missing".into()))?
            .body_limit;
        read_json(&self.req, self.payload, limit).await
    }
}

/// Reads at most `limit` bytes and parses them as `T`.
async fn read_json<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: dev::Payload,
    limit: usize,
) -> Result<T, ApiError> {
    check_json_media_type(req, declared_length(req))?;
    parse_json(&read_limited(req, payload, limit).await?)
}

fn declared_length(req: &HttpRequest) -> Option<usize> {
    req.headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
}

/// Reads a whole request body of at most `limit` bytes, which must arrive within
/// [`READ_TIMEOUT`], into a buffer wiped when dropped (a body may carry secrets). Used for the
/// API's JSON bodies and the console's forms.
pub(crate) async fn read_limited(
    req: &HttpRequest,
    mut payload: dev::Payload,
    limit: usize,
) -> Result<Zeroizing<Vec<u8>>, ApiError> {
    let declared = declared_length(req);
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    // It starts small and grows by copying into a new wiped-on-drop buffer (a plain `Vec`
    // would leave the old copy in freed memory), so a client that announces a large body and
    // sends nothing holds little memory.
    let mut body = Zeroizing::new(Vec::with_capacity(declared.unwrap_or(1024).min(INITIAL)));
    let read = async {
        while let Some(chunk) = payload.next().await {
            let chunk =
                chunk.map_err(|_| ApiError::invalid(None, "the request body could not be read"))?;
            if body.len() + chunk.len() > limit {
                return Err(ApiError::PayloadTooLarge { limit });
            }
            if body.len() + chunk.len() > body.capacity() {
                let wanted = (body.len() + chunk.len())
                    .max(body.capacity() * 2)
                    .min(limit);
                let mut grown = Zeroizing::new(Vec::with_capacity(wanted));
                grown.extend_from_slice(&body);
                body = grown;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(())
    };
    // A body trickled in byte by byte would hold a worker's connection and this buffer open.
    actix_web::rt::time::timeout(READ_TIMEOUT, read)
        .await
        .map_err(|_| ApiError::RequestTimeout {
            seconds: READ_TIMEOUT.as_secs(),
        })??;
    Ok(body)
}

pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid(
            None,
            "the request body is empty: send a JSON object",
        ));
    }
    if std::str::from_utf8(body).is_err() {
        return Err(ApiError::invalid(
            None,
            "the request body is not valid UTF-8",
        ));
    }
    // serde would also build a struct from an array of its fields in order; the API's bodies
    // are objects, and `[null, null]` must not pass for an empty one.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::invalid(
            None,
            "the request body must be a JSON object",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(describe)?;
    de.end().map_err(|e| {
        ApiError::invalid(
            None,
            format!(
                "unexpected data after the JSON value (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })?;
    Ok(value)
}

fn describe(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = err.path().to_string();
    let inner = err.inner();
    if !inner.is_data() {
        return ApiError::invalid(
            None,
            format!(
                "the request body is not valid JSON (line {}, column {})",
                inner.line(),
                inner.column()
            ),
        );
    }
    let text = inner.to_string();
    let text = text.split(" at line ").next().unwrap_or_default();
    let parent = (path != ".").then_some(path);
    if let Some(name) = text
        .strip_prefix("missing field `")
        .and_then(|r| r.strip_suffix('`'))
    {
        let field = parent.map_or_else(|| name.to_owned(), |p| format!("{p}.{name}"));
        return ApiError::invalid(Some(&field), format!("missing field `{field}`"));
    }
    let field = parent.unwrap_or_else(|| "(body)".to_owned());
    // Keep what was expected, drop the submitted value: it may be a secret typed into the wrong field.
    let expected = text.rsplit_once(", expected ").map(|(_, e)| e);
    let message = if text.starts_with("invalid type") {
        format!(
            "`{field}` has the wrong type: expected {}",
            expected.unwrap_or("another type")
        )
    } else if text.starts_with("unknown variant") {
        format!(
            "`{field}` has an unknown value: expected {}",
            expected.unwrap_or("a known value")
        )
    } else if text.starts_with("unknown field") {
        text.to_owned()
    } else {
        format!(
            "`{field}` is invalid: expected {}",
            expected.unwrap_or("a valid value")
        )
    };
    ApiError::invalid(Some(&field), message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        shared: Option<bool>,
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        pem: String,
    }

    fn err(body: &str) -> (Option<String>, String) {
        match parse_json::<Body>(body.as_bytes()) {
            Err(ApiError::InvalidRequest { field, message }) => (field, message),
            other => panic!("expected invalid_request, got {other:?}"),
        }
    }

    #[test]
    fn names_the_field_and_never_echoes_values() {
        assert_eq!(err("{}").0.as_deref(), Some("name"));
        assert_eq!(
            err(r#"{"name":"a","inner":{}}"#).0.as_deref(),
            Some("inner.pem")
        );
        let (field, message) = err(r#"{"name":"a","shared":"hunter2-secret"}"#);
        assert_eq!(field.as_deref(), Some("shared"));
        assert!(!message.contains("hunter2"), "{message}");
        assert!(message.contains("boolean"), "{message}");
        assert!(err("{").1.contains("not valid JSON"));
        assert!(err("").1.contains("empty"));
        assert!(err(r#"{"name":"a"} x"#).1.contains("after the JSON"));
        assert!(matches!(
            parse_json::<Body>(b"{\"name\":\"\xff\"}"),
            Err(ApiError::InvalidRequest { .. })
        ));
    }
}
