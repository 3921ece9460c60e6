//! Sending a prepared call and reading the answer within the limits, and naming why a call
//! got no answer in the contract's terms.

use super::*;

impl Dispatcher {
    pub(super) async fn send(
        &self,
        client: CallClient,
        call: Prepared,
    ) -> Result<Answer, DispatchError> {
        let timeout = call.timeout;
        let limit = self.config.max_response_bytes;
        let uri: hyper::Uri = call
            .url
            .as_str()
            .parse()
            .map_err(|_| invalid("url", "is not a valid request target"))?;
        let body = whole(call.body.map(Bytes::from).unwrap_or_default());
        let mut request = hyper::Request::new(body);
        *request.method_mut() = call.method;
        *request.uri_mut() = uri;
        *request.headers_mut() = call.headers;
        let exchange = async move {
            let response = client
                .request(request)
                .await
                .map_err(|e| DispatchError::from(keyway_net::classify_call(e)))?;
            let declared = response
                .headers()
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|n| n > limit as u64) {
                return Err(DispatchError::TooLarge(limit));
            }
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .map(|(k, v)| Header::new(k.as_str(), String::from_utf8_lossy(v.as_bytes())))
                .collect();
            let is_json = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .and_then(ContentType::from_mime)
                == Some(ContentType::Json);
            let mut incoming = response.into_body();
            let mut body = Vec::new();
            while let Some(frame) = incoming.frame().await {
                let frame =
                    frame.map_err(|e| DispatchError::from(keyway_net::classify_body(&e)))?;
                if let Ok(chunk) = frame.into_data() {
                    if body.len() + chunk.len() > limit {
                        return Err(DispatchError::TooLarge(limit));
                    }
                    body.extend_from_slice(&chunk);
                }
            }
            Ok(Answer {
                status,
                headers,
                body,
                is_json,
                json: None,
                attempts: 1,
            })
        };
        // One deadline for connecting, sending and reading the whole answer.
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or(Err(DispatchError::Timeout(0)))
            .map_err(|e| match e {
                DispatchError::Timeout(_) => DispatchError::Timeout(millis(timeout)),
                other => other,
            })
    }
}

/// A body sent in one piece.
pub(crate) fn whole(bytes: Bytes) -> keyway_net::CallBody {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) headers: Vec<Header>,
    pub(super) body: Vec<u8>,
    pub(super) is_json: bool,
    /// The body parsed, once it has been (the scrub parses a JSON answer).
    pub(super) json: Option<serde_json::Value>,
    pub(super) attempts: u32,
}

impl Answer {
    /// Replaces the call's secret wherever the upstream repeated it (see [`crate::scrub`]).
    pub(super) fn scrub(&mut self, secrets: &crate::scrub::Secrets) {
        for header in &mut self.headers {
            if let Some(value) = secrets.scrub_text(&header.value) {
                header.value = value;
            }
        }
        if let Some(body) = secrets.scrub(&self.body) {
            self.body = body;
        }
        if self.is_json {
            if let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(&self.body) {
                // Found only in an escaped form: the body becomes the cleaned JSON, written
                // out again, so neither `body` nor `json` holds it.
                if secrets.scrub_json(&mut json) {
                    if let Ok(text) = serde_json::to_vec(&json) {
                        self.body = text;
                    }
                }
                self.json = Some(json);
            }
        }
    }

    pub(super) fn finish(self, started: Instant) -> CallResult {
        let (body, body_base64) = match String::from_utf8(self.body) {
            Ok(text) => (Some(text), None),
            Err(e) => (
                None,
                Some(base64::engine::general_purpose::STANDARD.encode(e.as_bytes())),
            ),
        };
        let json = match (self.json, &body, self.is_json) {
            (Some(json), Some(_), true) => Some(json),
            (None, Some(text), true) => serde_json::from_str(text).ok(),
            _ => None,
        };
        CallResult {
            status: self.status,
            headers: self.headers,
            body,
            body_base64,
            json,
            duration_ms: millis(started.elapsed()),
            attempts: self.attempts,
        }
    }
}

pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyway_credentials::Material;
    use keyway_model::ApiKeyPlacement;

    #[test]
    fn a_secret_the_upstream_escaped_in_json_is_redacted_in_body_and_json() {
        let material = Material::ApiKey {
            api_key: SecretString::from("s3cr3t/key=".to_owned()),
            placement: ApiKeyPlacement::Header {
                header_name: "X-Key".into(),
                prefix: String::new(),
            },
        };
        // As PHP (`\/`) and Gson (`\u003d`) write it: the raw bytes never hold the key.
        let body =
            br#"{"echo": "s3cr3t\/key\u003d", "s3cr3t\/key=": [1, {"deep": "x s3cr3t\/key= y"}]}"#;
        let mut answer = Answer {
            status: 400,
            headers: Vec::new(),
            body: body.to_vec(),
            is_json: true,
            json: None,
            attempts: 1,
        };
        answer.scrub(&crate::scrub::Secrets::of(&material, &[]));
        let result = answer.finish(Instant::now());
        let text = result.body.unwrap();
        let json = result.json.unwrap();
        assert_eq!(
            json,
            serde_json::json!({"echo": "[redacted]", "[redacted]": [1, {"deep": "x [redacted] y"}]})
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            json
        );
        assert!(!text.contains("s3cr3t"), "{text}");
    }
}
