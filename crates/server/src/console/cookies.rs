//! The console's two cookies: the session (HttpOnly, SameSite=Lax, Secure behind https) and
//! the short-lived CSRF value of the sign-in forms.

use actix_web::http::header::COOKIE;
use actix_web::HttpRequest;
use secrecy::SecretString;

pub(super) const SESSION_COOKIE: &str = "keyway_session";
pub(super) const LOGIN_COOKIE: &str = "keyway_login";

/// The value of cookie `name` in the request, if any.
pub(super) fn cookie(req: &HttpRequest, name: &str) -> Option<SecretString> {
    req.headers()
        .get_all(COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, value)| *key == name && !value.is_empty())
        .map(|(_, value)| SecretString::from(value.to_owned()))
}

/// A `Set-Cookie` value being built.
pub(super) struct Cookie<'a> {
    name: &'static str,
    value: &'a str,
    path: &'static str,
    max_age_secs: u64,
    secure: bool,
}

impl<'a> Cookie<'a> {
    /// The session cookie; the server ends the session earlier when it is idle.
    pub(super) fn session(value: &'a str, secure: bool) -> Self {
        Self {
            name: SESSION_COOKIE,
            value,
            path: "/",
            max_age_secs: keyway_credentials::console::ABSOLUTE_TIMEOUT.as_secs(),
            secure,
        }
    }

    /// The sign-in forms' CSRF cookie, for as long as a sign-in link works.
    pub(super) fn login(value: &'a str, secure: bool) -> Self {
        Self {
            name: LOGIN_COOKIE,
            value,
            path: "/console",
            max_age_secs: keyway_credentials::console::LINK_TTL.as_secs(),
            secure,
        }
    }

    /// The same cookie, removed.
    pub(super) fn expired(self) -> Self {
        Self {
            value: "",
            max_age_secs: 0,
            ..self
        }
    }

    pub(super) fn header(&self) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{}={}; Path={}; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
            self.name, self.value, self.path, self.max_age_secs
        )
    }
}
