//! Removing a credential, and revoking a removed OAuth credential's grant at the provider
//! (RFC 7009), best effort, audited.

use super::*;

impl OAuth {
    /// Removes a credential of any kind (the caller's right to was checked for `row`); an
    /// OAuth grant is then revoked at its provider. Its tokens are read before the removal,
    /// which deletes them.
    pub async fn remove_credential(
        &self,
        caller: &Caller,
        row: &CredentialRow,
        force: bool,
    ) -> Result<(), OAuthError> {
        let grant = if row.kind == Kind::Oauth2 {
            self.credentials.resolve_unchecked(&row.id).await.ok()
        } else {
            None
        };
        self.credentials.delete(caller, row, force).await?;
        if let Some(resolved) = grant {
            self.revoke(&resolved, caller).await;
        }
        Ok(())
    }

    /// Revokes the credential's refresh token (or access token) at the provider, RFC 7009,
    /// best effort; call with what was resolved before the credential was removed.
    async fn revoke(&self, resolved: &keyway_credentials::Resolved, caller: &Caller) {
        let Ok((settings, secret)) = settings_of(&resolved.material) else {
            return;
        };
        let (Some(_), Some(tokens)) = (&settings.revoke_url, resolved.tokens.as_ref()) else {
            return;
        };
        let Some(tokens) = StoredTokens::from_json(tokens) else {
            return;
        };
        let outcome = self.revoke_at_provider(settings, secret, &tokens).await;
        let (result, detail) = match &outcome {
            Ok(()) => (
                AuditOutcome::Success,
                serde_json::json!({ "provider": settings.provider }),
            ),
            Err(why) => (
                AuditOutcome::Failure,
                serde_json::json!({ "provider": settings.provider, "error": why }),
            ),
        };
        if let Err(why) = &outcome {
            tracing::warn!(credential_id = %resolved.row.id, error = %why, "token revocation failed");
        }
        let event = NewAuditEvent::new(AuditAction::CredentialRevokeTokens, result)
            .by(Some(&caller.user_id), &caller.user_name)
            .on(
                &resolved.row.org_id,
                &resolved.row.id,
                &resolved.row.owner_id,
            )
            .detail(detail.to_string());
        if let Err(e) = self.credentials.store().append_audit(&event).await {
            tracing::error!(error = %e, "the revocation could not be audited");
        }
    }
}

impl OAuth {
    /// RFC 7009: the refresh token if there is one (revoking it ends the grant), else the
    /// access token. Written here rather than through the oauth2 crate, which only revokes
    /// at https endpoints (the test server is plain http on loopback).
    async fn revoke_at_provider(
        &self,
        settings: &OAuthSettings,
        secret: Option<&SecretString>,
        tokens: &StoredTokens,
    ) -> Result<(), String> {
        let Some(url) = &settings.revoke_url else {
            return Err("the provider has no revocation endpoint".into());
        };
        let (token, hint) = match &tokens.refresh_token {
            Some(r) => (r.as_str(), "refresh_token"),
            None => (tokens.access_token.as_str(), "access_token"),
        };
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("token", token)
            .append_pair("token_type_hint", hint);
        let mut request = oauth2::HttpRequest::new(Vec::new());
        *request.method_mut() = oauth2::http::Method::POST;
        *request.uri_mut() = url
            .parse()
            .map_err(|_| "the revocation URL is invalid".to_owned())?;
        let headers = request.headers_mut();
        headers.insert(
            oauth2::http::header::CONTENT_TYPE,
            oauth2::http::HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        match (settings.client_auth, secret) {
            (crate::ClientAuth::Basic, Some(secret)) => {
                // RFC 6749 2.3.1: both parts form-encoded before Basic.
                let enc = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                let pair = zeroize::Zeroizing::new(format!(
                    "{}:{}",
                    enc(&settings.client_id),
                    enc(secret.expose_secret())
                ));
                let value = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair.as_bytes())
                );
                let mut value = oauth2::http::HeaderValue::from_str(&value)
                    .map_err(|_| "the client secret cannot go into a header".to_owned())?;
                value.set_sensitive(true);
                headers.insert(oauth2::http::header::AUTHORIZATION, value);
            }
            (_, secret) => {
                form.append_pair("client_id", &settings.client_id);
                if let Some(secret) = secret {
                    form.append_pair("client_secret", secret.expose_secret());
                }
            }
        }
        *request.body_mut() = zeroize::Zeroizing::new(form.finish()).as_bytes().to_vec();
        let response = self.http.send(request).await.map_err(|e| e.to_string())?;
        // RFC 7009 2.2: 200 whether or not the token was valid.
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!(
                "the provider answered HTTP {}",
                response.status().as_u16()
            ))
        }
    }
}
