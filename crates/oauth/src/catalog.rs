//! The provider catalog: presets as data (`config/providers.toml`, built in), extended or
//! overridden by the operator's file.

use keyway_model::oauth::ClientAuth;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const BUILTIN: &str = include_str!("../../../config/providers.toml");

fn space() -> String {
    " ".to_owned()
}

/// One provider's facts. See the comments in `config/providers.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    pub display_name: String,
    #[serde(default)]
    pub authorize_url: Option<String>,
    #[serde(default)]
    pub token_url: Option<String>,
    #[serde(default)]
    pub revoke_url: Option<String>,
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default = "space")]
    pub scope_separator: String,
    #[serde(default)]
    pub authorize_params: BTreeMap<String, String>,
    #[serde(default)]
    pub token_params: BTreeMap<String, String>,
    pub client_auth: ClientAuth,
    #[serde(default)]
    pub keep: Vec<String>,
    #[serde(default)]
    pub resources_url: Option<String>,
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Catalog(BTreeMap<String, Preset>);

/// A providers file that cannot be read as presets. The parser's message may quote the file;
/// the file holds no secrets (endpoints and scopes), so it is passed on to the operator.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("the built-in providers are invalid")]
    BuiltIn(#[source] toml::de::Error),
    #[error("oauth.providers_file is invalid")]
    OperatorFile(#[source] toml::de::Error),
}

impl Catalog {
    /// The built-in presets, then `operator_file`'s (a preset of the same name replaces one).
    pub fn load(operator_file: Option<&str>) -> Result<Self, CatalogError> {
        let mut presets: BTreeMap<String, Preset> =
            toml::from_str(BUILTIN).map_err(CatalogError::BuiltIn)?;
        if let Some(text) = operator_file {
            let operator: BTreeMap<String, Preset> =
                toml::from_str(text).map_err(CatalogError::OperatorFile)?;
            presets.extend(operator);
        }
        Ok(Self(presets))
    }

    /// Adds or replaces a preset.
    pub fn insert(&mut self, name: impl Into<String>, preset: Preset) {
        self.0.insert(name.into(), preset);
    }

    pub fn get(&self, name: &str) -> Option<&Preset> {
        self.0.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Preset)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_presets_carry_the_known_facts() {
        let catalog = Catalog::load(None).unwrap();
        let names: Vec<_> = catalog.names().collect();
        assert_eq!(names, ["custom", "google", "jira", "salesforce", "zoom"]);
        let google = catalog.get("google").unwrap();
        assert_eq!(google.authorize_params["access_type"], "offline");
        assert_eq!(google.authorize_params["prompt"], "consent");
        let jira = catalog.get("jira").unwrap();
        assert_eq!(jira.authorize_params["audience"], "api.atlassian.com");
        assert!(jira.scopes.iter().any(|s| s == "offline_access"));
        assert!(jira.resources_url.is_some());
        assert_eq!(catalog.get("zoom").unwrap().client_auth, ClientAuth::Basic);
        assert_eq!(catalog.get("salesforce").unwrap().keep, ["instance_url"]);
    }

    #[test]
    fn operator_presets_add_and_override() {
        let file = r#"
            [acme]
            display_name = "Acme"
            authorize_url = "https://id.acme.example/authorize?tenant=7"
            token_url = "https://id.acme.example/token?tenant=7"
            client_auth = "post"
            [zoom]
            display_name = "Zoom (EU)"
            authorize_url = "https://eu01.zoom.us/oauth/authorize"
            token_url = "https://eu01.zoom.us/oauth/token"
            client_auth = "basic"
        "#;
        let catalog = Catalog::load(Some(file)).unwrap();
        assert_eq!(catalog.get("zoom").unwrap().display_name, "Zoom (EU)");
        assert!(catalog
            .get("acme")
            .unwrap()
            .token_url
            .as_deref()
            .unwrap()
            .ends_with("?tenant=7"));
        assert!(Catalog::load(Some("[x]\ndisplay_name = 1")).is_err());
    }
}
