//! Connecting an account: a fresh authorization URL with PKCE and a stored state, and the
//! redirect that exchanges the code and stores the tokens.

use super::*;

/// What the redirect page says after a successful connection.
#[derive(Debug)]
pub struct Connected {
    pub credential_name: String,
    pub provider: String,
}

/// A redirect's result, and where the browser goes with it.
#[derive(Debug)]
pub struct Redirected {
    /// The credential, when the connection was started in the console by this same browser
    /// session: the result is shown on its page there.
    pub console_credential: Option<String>,
    pub outcome: Result<Connected, RedirectError>,
}

/// Why a redirect was refused; the page says so and nothing changes.
#[derive(Debug, thiserror::Error)]
pub enum RedirectError {
    #[error("the request has no state parameter: start the connection again from Keyway")]
    MissingState,
    #[error("this authorization request is unknown or was already used: start the connection again from Keyway")]
    UnknownState,
    #[error("this authorization request expired: start the connection again from Keyway")]
    Expired,
    #[error("this connection was started in another browser session, so it was refused (nobody can connect their account on your behalf, nor you yours on theirs): start the connection again from the console")]
    OtherSession,
    #[error("the provider refused the authorization ({error}){}", .description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Provider {
        error: String,
        description: Option<String>,
    },
    #[error(
        "the response came from an unexpected issuer; it was refused (possible mix-up attack)"
    )]
    IssuerMismatch,
    #[error("the provider sent no authorization code")]
    MissingCode,
    #[error("the credential this request belongs to no longer exists")]
    CredentialGone,
    #[error("exchanging the authorization code failed: {0}")]
    Exchange(String),
    /// The database failed while the redirect was handled. The provider's code is single
    /// use, so only a new connection can work.
    #[error("the connection could not be stored (the database is not available): start the connection again from Keyway in a moment")]
    Internal,
}

/// The redirect's query parameters.
#[derive(Debug, Default, serde::Deserialize)]
pub struct RedirectParams {
    pub state: Option<String>,
    pub code: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

impl OAuth {
    /// `POST /v1/credentials/{id}/authorize`: a fresh authorization URL (the owner connects
    /// again).
    /// `browser_binding`: started in the console, tied to that browser session.
    pub async fn reconnect_url(
        &self,
        caller: &Caller,
        id: &str,
        browser_binding: Option<String>,
    ) -> Result<String, OAuthError> {
        let row = self
            .credentials
            .require(caller, id, Need::ReplaceSecret)
            .await?;
        if row.kind != Kind::Oauth2 {
            return Err(OAuthError::NotAuthorizationCode);
        }
        self.start(caller, id, browser_binding).await
    }

    pub(super) async fn start(
        &self,
        caller: &Caller,
        id: &str,
        browser_binding: Option<String>,
    ) -> Result<String, OAuthError> {
        let resolved = self.credentials.resolve_unchecked(id).await?;
        let (settings, secret) = settings_of(&resolved.material)?;
        if settings.grant_type != GrantType::AuthorizationCode {
            return Err(OAuthError::NotAuthorizationCode);
        }
        let oauth =
            client::build(settings, secret, &self.redirect_uri()).map_err(OAuthError::Internal)?;
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let state = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
        let digest = digest(&state);
        let sealed = self.credentials.seal(
            &resolved.row.org_id,
            id,
            &format!("pkce:{digest}"),
            verifier.secret().as_bytes(),
        )?;
        let now = client::now_ms();
        self.credentials
            .store()
            .insert_oauth_state(&OAuthStateRow {
                state_digest: digest,
                credential_id: id.to_owned(),
                issuer: settings.issuer.clone(),
                verifier_key_id: sealed.key_id,
                verifier_wrapped: sealed.wrapped_key,
                verifier_ciphertext: sealed.ciphertext,
                created_at: now,
                expires_at: now + millis(self.config.state_ttl),
                browser_binding,
            })
            .await
            .map_err(|e| OAuthError::Credential(e.into()))?;
        let url = client::authorize_url(&oauth, settings, state, challenge)
            .map_err(OAuthError::Internal)?;
        tracing::info!(credential_id = %id, actor = %caller.user_id, "authorization started");
        Ok(url.to_string())
    }

    /// `GET /oauth-client-service/redirect`: checks the state (known, unused, unexpired,
    /// and, when started in the console, arriving in the same browser session), the issuer,
    /// then exchanges the code and stores the tokens. `browser_binding`: that of the console
    /// session the arriving browser is signed in with, if any.
    #[tracing::instrument(skip_all)]
    pub async fn complete(
        &self,
        params: RedirectParams,
        browser_binding: Option<&str>,
    ) -> Redirected {
        let row = match self.take_state(params.state.as_deref()).await {
            Ok(row) => row,
            Err(err) => {
                return Redirected {
                    console_credential: None,
                    outcome: Err(err),
                }
            }
        };
        let credential_id = row.credential_id.clone();
        let redirected = match (&row.browser_binding, browser_binding) {
            (None, _) => Redirected {
                console_credential: None,
                outcome: self.finish(row, params).await,
            },
            (Some(expected), Some(given))
                if keyway_credentials::console::same_secret(expected, given) =>
            {
                Redirected {
                    console_credential: Some(row.credential_id.clone()),
                    outcome: self.finish(row, params).await,
                }
            }
            // The state is spent either way, so a tricked victim's visit also ends the
            // attacker's attempt.
            (Some(_), _) => {
                tracing::warn!(credential_id = %row.credential_id, "OAuth redirect arrived in another browser session; refused");
                Redirected {
                    console_credential: None,
                    outcome: Err(RedirectError::OtherSession),
                }
            }
        };
        // Refusals that point at someone else's doing go into the credential's trail.
        let attempt = match &redirected.outcome {
            Err(RedirectError::OtherSession) => Some("other_browser_session"),
            Err(RedirectError::IssuerMismatch) => Some("issuer_mismatch"),
            _ => None,
        };
        if let Some(reason) = attempt {
            self.audit_refused(&credential_id, reason).await;
        }
        redirected
    }

    /// Records a redirect refused as a possible attack (it arrived in another browser session
    /// than the one that started it, or names another issuer) in the credential's trail, where
    /// its owner and the org's admins see it. The redirect is refused either way: nothing was
    /// stored, so a failed write is logged, not shown.
    async fn audit_refused(&self, credential_id: &str, reason: &str) {
        let store = self.credentials.store();
        let row = match store.credential(credential_id).await {
            Ok(Some(row)) => row,
            // Removed meanwhile: there is no trail left to add to.
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, "a refused OAuth redirect could not be audited");
                return;
            }
        };
        let event = NewAuditEvent::new(AuditAction::CredentialConnect, AuditOutcome::Denied)
            .by(None, "oauth-redirect")
            .on(&row.org_id, credential_id, &row.owner_id)
            .detail(serde_json::json!({ "reason": reason }).to_string());
        if let Err(e) = store.append_audit(&event).await {
            tracing::error!(error = %e, "a refused OAuth redirect could not be audited");
        }
    }

    /// The state row, taken so that it is used once.
    async fn take_state(&self, state: Option<&str>) -> Result<OAuthStateRow, RedirectError> {
        let state = state.ok_or(RedirectError::MissingState)?;
        self.credentials
            .store()
            .take_oauth_state(&digest(state))
            .await
            .map_err(|e| internal("taking the state", &e))?
            .ok_or(RedirectError::UnknownState)
    }

    async fn finish(
        &self,
        row: OAuthStateRow,
        params: RedirectParams,
    ) -> Result<Connected, RedirectError> {
        if row.expires_at < client::now_ms() {
            return Err(RedirectError::Expired);
        }
        if let Some(error) = params.error {
            return Err(RedirectError::Provider {
                error: clip(&error),
                description: params.error_description.as_deref().map(clip),
            });
        }
        if let Some(iss) = &params.iss {
            if iss.trim_end_matches('/') != row.issuer.trim_end_matches('/') {
                return Err(RedirectError::IssuerMismatch);
            }
        }
        let code = params.code.ok_or(RedirectError::MissingCode)?;
        let resolved = match self.credentials.resolve_unchecked(&row.credential_id).await {
            Ok(r) => r,
            Err(keyway_credentials::CredentialError::NotFound) => {
                return Err(RedirectError::CredentialGone)
            }
            Err(e) => return Err(internal("opening the credential", &e)),
        };
        let org = resolved.row.org_id.clone();
        let verifier = self
            .credentials
            .open(
                &org,
                &row.credential_id,
                SecretRow {
                    field: format!("pkce:{}", row.state_digest),
                    key_id: row.verifier_key_id,
                    wrapped_key: row.verifier_wrapped,
                    ciphertext: row.verifier_ciphertext,
                },
            )
            .map_err(|e| internal("opening the PKCE verifier", &e))?;
        let verifier = String::from_utf8(verifier.expose_secret().to_vec())
            .map_err(|_| RedirectError::Internal)?;
        let (settings, secret) =
            settings_of(&resolved.material).map_err(|_| RedirectError::Internal)?;
        let oauth = client::build(settings, secret, &self.redirect_uri())
            .map_err(|_| RedirectError::Internal)?;
        let response = client::exchange_code(&oauth, settings, &self.http, code, verifier)
            .await
            .map_err(|e| RedirectError::Exchange(e.to_string()))?;
        let granted = Granted::from_response(&response, None, &settings.keep);
        let mut settings = settings.clone();
        settings.extras.extend(granted.extras.clone());
        if let Some(url) = settings.resources_url.clone() {
            self.keep_resources(&mut settings, &url, &granted.tokens)
                .await;
        }
        let event = NewAuditEvent::new(AuditAction::CredentialConnect, AuditOutcome::Success)
            .by(None, "oauth-redirect")
            .on(&org, &row.credential_id, &resolved.row.owner_id)
            .detail(serde_json::json!({ "provider": settings.provider }).to_string());
        self.write_tokens(
            &org,
            &row.credential_id,
            None,
            &granted,
            &settings,
            Some(&event),
        )
        .await
        .map_err(|e| internal("storing the tokens", &e))?;
        // A custom provider is named by its authorization server's host.
        let host = settings
            .authorize_url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| u.host_str().map(str::to_owned));
        let provider = match (settings.provider.as_str(), host) {
            ("custom", Some(host)) => host,
            (name, _) => self
                .catalog
                .get(name)
                .map_or_else(|| name.to_owned(), |p| p.display_name.clone()),
        };
        Ok(Connected {
            credential_name: resolved.row.name.clone(),
            provider,
        })
    }

    /// Atlassian: the cloud ID API calls need, from `accessible-resources`. Best effort.
    async fn keep_resources(&self, settings: &mut OAuthSettings, url: &str, tokens: &StoredTokens) {
        let request = oauth2::HttpRequest::new(Vec::new());
        let mut request = request;
        *request.method_mut() = http_method_get();
        if let Ok(uri) = url.parse() {
            *request.uri_mut() = uri;
        }
        if let Ok(value) = format!("Bearer {}", tokens.access_token).parse() {
            request.headers_mut().insert("authorization", value);
        }
        if let Ok(value) = "application/json".parse() {
            request.headers_mut().insert("accept", value);
        }
        let Ok(response) = self.http.send(request).await else {
            tracing::warn!("accessible resources could not be fetched");
            return;
        };
        let first = serde_json::from_slice::<serde_json::Value>(response.body())
            .ok()
            .and_then(|v| v.as_array().and_then(|a| a.first().cloned()));
        if let Some(site) = first {
            if let Some(id) = site.get("id") {
                settings.extras.insert("cloud_id".into(), id.clone());
            }
            if let Some(url) = site.get("url") {
                settings.extras.insert("site_url".into(), url.clone());
            }
        }
    }
}

fn digest(state: &str) -> String {
    hex::encode(Sha256::digest(state.as_bytes()))
}

fn clip(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(200).collect()
}

fn internal(what: &str, err: &dyn std::fmt::Display) -> RedirectError {
    tracing::error!(error = %err, "{what} failed during the OAuth redirect");
    RedirectError::Internal
}
