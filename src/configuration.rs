//! Settings: `config/default.toml` (built in), then the `--config` file, then `KEYWAY_*`
//! environment variables.

use anyhow::{bail, Context};
use config::{Config, File, FileFormat};
use secrecy::SecretString;
use serde::Deserialize;
use std::path::{Path, PathBuf};

const DEFAULTS: &str = include_str!("../config/default.toml");

/// Environment variables and the setting each one overrides.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("KEYWAY_LISTEN", "listen"),
    ("KEYWAY_PUBLIC_URL", "public_url"),
    ("KEYWAY_DATA_DIR", "data_dir"),
    ("KEYWAY_DATABASE_URL", "database_url"),
    ("KEYWAY_DATABASE_SCHEMA", "database_schema"),
    (
        "KEYWAY_DATABASE_MAX_CONNECTIONS",
        "database_max_connections",
    ),
    ("KEYWAY_WORKERS", "workers"),
    ("KEYWAY_BODY_LIMIT_BYTES", "body_limit_bytes"),
    ("KEYWAY_CACHE_TTL_MS", "cache_ttl_ms"),
    ("KEYWAY_LOG", "log.filter"),
    ("KEYWAY_LOG_FORMAT", "log.format"),
    ("KEYWAY_MASTER_KEYS", "vault.master_keys"),
    ("KEYWAY_MASTER_PASSPHRASE", "vault.master_passphrase"),
    ("KEYWAY_PASSPHRASE_KEY_ID", "vault.passphrase_key_id"),
    ("KEYWAY_MASTER_KEY_FILE", "vault.key_file"),
    ("KEYWAY_DISPATCH_TIMEOUT_MS", "dispatch.timeout_ms"),
    ("KEYWAY_DISPATCH_ALLOW_NETWORKS", "dispatch.allow_networks"),
    (
        "KEYWAY_DISPATCH_MAX_REQUEST_BODY_BYTES",
        "dispatch.max_request_body_bytes",
    ),
    ("KEYWAY_DISPATCH_EXTRA_CA_FILE", "dispatch.extra_ca_file"),
    (
        "KEYWAY_DISPATCH_PROXY_MAX_REQUEST_BYTES",
        "dispatch.proxy_max_request_bytes",
    ),
    (
        "KEYWAY_DISPATCH_PROXY_MAX_RESPONSE_BYTES",
        "dispatch.proxy_max_response_bytes",
    ),
    ("KEYWAY_AUDIT_RETENTION_DAYS", "audit.retention_days"),
    ("KEYWAY_AUDIT_EXPORT", "audit.export"),
    ("KEYWAY_OAUTH_PROVIDERS_FILE", "oauth.providers_file"),
    ("KEYWAY_OAUTH_STATE_TTL_SECS", "oauth.state_ttl_secs"),
    ("KEYWAY_OAUTH_REFRESH_SKEW_SECS", "oauth.refresh_skew_secs"),
    ("KEYWAY_OAUTH_LEASE_TTL_SECS", "oauth.lease_ttl_secs"),
    (
        "KEYWAY_LIMITS_CREDENTIALS_PER_ORG",
        "limits.credentials_per_org",
    ),
    (
        "KEYWAY_LIMITS_WEB_SERVICES_PER_ORG",
        "limits.web_services_per_org",
    ),
];

#[derive(Debug, Deserialize)]
pub struct Settings {
    pub listen: String,
    pub public_url: String,
    pub data_dir: PathBuf,
    /// May carry a database password.
    pub database_url: SecretString,
    /// PostgreSQL only: the schema Keyway's tables live in (empty: the server's search path).
    pub database_schema: String,
    pub database_max_connections: u32,
    pub workers: usize,
    pub body_limit_bytes: usize,
    pub cache_ttl_ms: u64,
    pub log: LogSettings,
    pub vault: VaultSettings,
    pub dispatch: DispatchSettings,
    pub audit: AuditSettings,
    pub oauth: OAuthSettings,
    pub limits: LimitSettings,
}

/// How much one org may keep: bounds what anyone with a token can make the database (and the
/// org's lists) grow to.
#[derive(Debug, Deserialize)]
pub struct LimitSettings {
    pub credentials_per_org: u32,
    pub web_services_per_org: u32,
}

#[derive(Debug, Deserialize)]
pub struct AuditSettings {
    /// 0: keep every event.
    pub retention_days: u32,
    /// `""` (none), `"stdout"`, or a file the audit log is copied to as JSON lines.
    pub export: String,
}

impl AuditSettings {
    /// The retention the database enforces, in milliseconds (`None`: forever).
    pub fn keep_ms(&self) -> Option<i64> {
        (self.retention_days > 0).then(|| i64::from(self.retention_days) * 24 * 60 * 60 * 1000)
    }
}

#[derive(Debug, Deserialize)]
pub struct OAuthSettings {
    pub providers_file: String,
    pub state_ttl_secs: u64,
    pub refresh_skew_secs: u64,
    pub lease_ttl_secs: u64,
}

#[derive(Debug, Deserialize)]
pub struct DispatchSettings {
    pub timeout_ms: u64,
    pub max_request_body_bytes: usize,
    pub proxy_max_request_bytes: u64,
    pub proxy_max_response_bytes: u64,
    pub allow_networks: String,
    pub extra_ca_file: String,
}

#[derive(Debug, Deserialize)]
pub struct LogSettings {
    pub filter: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Deserialize)]
pub struct VaultSettings {
    pub master_keys: SecretString,
    pub master_passphrase: SecretString,
    pub passphrase_key_id: String,
    pub key_file: String,
}

impl Settings {
    /// The built-in defaults alone, with no file and no environment (tests start from these).
    pub fn defaults() -> anyhow::Result<Self> {
        Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .build()?
            .try_deserialize()
            .context("the built-in configuration is invalid")
    }

    /// The defaults, then `file`, then the `KEYWAY_*` environment variables.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        if let Some(file) = file {
            let source = File::from(file).format(FileFormat::Toml).required(true);
            // Parse the file alone first: the parser's message quotes the offending line, which
            // may hold a key, a passphrase or a database password, so it is not passed on.
            if Config::builder()
                .add_source(source.clone())
                .build()
                .is_err()
            {
                bail!(
                    "the configuration file {} could not be read as TOML: check that it exists and that every value is quoted \
                     (the parser's message is not shown, since the offending line may hold a secret)",
                    file.display()
                );
            }
            builder = builder.add_source(source);
        }
        for (var, key) in ENV_VARS {
            let Ok(value) = std::env::var(var) else {
                continue;
            };
            builder = builder
                .set_override(*key, value)
                .with_context(|| format!("{var} could not be applied"))?;
        }
        let config = builder
            .build()
            .context("the configuration could not be read")?;
        config
            .try_deserialize()
            .context("the configuration is invalid")
    }

    /// The database URL, or the embedded default under `data_dir`.
    pub fn database_url(&self) -> SecretString {
        use secrecy::ExposeSecret;
        if self.database_url.expose_secret().trim().is_empty() {
            SecretString::from(format!(
                "sqlite://{}",
                self.data_dir.join("keyway.db").display()
            ))
        } else {
            self.database_url.clone()
        }
    }

    /// The public URL, or `http://{address}` when none is set: the bound listener's address
    /// for the server (so a changed `listen`, or port 0, needs no second setting), the
    /// configured `listen` for the CLI's links.
    pub fn public_url_for(&self, address: &dyn std::fmt::Display) -> String {
        let url = self.public_url.trim().trim_end_matches('/');
        if url.is_empty() {
            format!("http://{address}")
        } else {
            url.to_owned()
        }
    }

    /// How the pool connects: its size and, on PostgreSQL, the schema.
    pub fn connect_options(&self) -> keyway_store::ConnectOptions {
        let schema = self.database_schema.trim();
        use secrecy::ExposeSecret;
        let max_connections = match self.database_max_connections {
            // SQLite writes one transaction at a time, and every connection keeps its own page
            // cache and thread: past a handful they add memory (measured: 16 connections held
            // about 100 MiB under load, 4 about 50 MiB), not throughput.
            0 if self.database_url().expose_secret().starts_with("sqlite:") => 4,
            0 => 16,
            n => n,
        };
        keyway_store::ConnectOptions {
            max_connections,
            pg_schema: (!schema.is_empty()).then(|| schema.to_owned()),
            ..keyway_store::ConnectOptions::default()
        }
    }

    /// How long a replica reuses what it read. At most a second: the contract promises that
    /// a revoked or expired token, a disabled user and a changed credential are seen by every
    /// replica within one, and a cached caller would outlive that.
    pub fn cache_ttl(&self) -> anyhow::Result<std::time::Duration> {
        if self.cache_ttl_ms > 1000 {
            bail!(
                "cache_ttl_ms must be at most 1000: a revoked token must stop working on every replica within a second"
            );
        }
        Ok(std::time::Duration::from_millis(self.cache_ttl_ms))
    }

    /// The dispatcher's limits.
    pub fn dispatch_config(&self) -> anyhow::Result<keyway_dispatch::DispatchConfig> {
        let d = &self.dispatch;
        if d.timeout_ms == 0 || d.timeout_ms > 16_000 {
            bail!("dispatch.timeout_ms must be between 1 and 16000 (the contract's limit is 16 s)");
        }
        let most = keyway_dispatch::MAX_REQUEST_BODY_BYTES;
        if d.max_request_body_bytes == 0 || d.max_request_body_bytes > most {
            bail!("dispatch.max_request_body_bytes must be between 1 and {most} (the contract's limit is 1 MiB)");
        }
        for (name, value) in [
            ("proxy_max_request_bytes", d.proxy_max_request_bytes),
            ("proxy_max_response_bytes", d.proxy_max_response_bytes),
        ] {
            if value < 1024 {
                bail!("dispatch.{name} must be at least 1024");
            }
        }
        Ok(keyway_dispatch::DispatchConfig {
            timeout: std::time::Duration::from_millis(d.timeout_ms),
            max_request_body_bytes: d.max_request_body_bytes,
            proxy_max_request_bytes: d.proxy_max_request_bytes,
            proxy_max_response_bytes: d.proxy_max_response_bytes,
            ..Default::default()
        })
    }

    /// The outgoing network's policy and trust; a malformed CIDR or CA file stops the start.
    pub fn net_config(&self) -> anyhow::Result<keyway_net::NetConfig> {
        let d = &self.dispatch;
        let allow_networks = keyway_net::policy::Policy::parse_allow_list(&d.allow_networks)
            .map_err(|e| anyhow::anyhow!("dispatch.allow_networks: {e}"))?;
        let extra_ca_pem = if d.extra_ca_file.trim().is_empty() {
            None
        } else {
            Some(std::fs::read_to_string(&d.extra_ca_file).with_context(|| {
                format!("dispatch.extra_ca_file: cannot read {}", d.extra_ca_file)
            })?)
        };
        Ok(keyway_net::NetConfig {
            allow_networks,
            extra_ca_pem,
        })
    }

    /// The OAuth client's catalog and timings; redirects are built on `public_url`.
    pub fn oauth(
        &self,
        public_url: &str,
    ) -> anyhow::Result<(keyway_oauth::Catalog, keyway_oauth::OAuthConfig)> {
        let o = &self.oauth;
        let file = if o.providers_file.trim().is_empty() {
            None
        } else {
            Some(std::fs::read_to_string(&o.providers_file).with_context(|| {
                format!("oauth.providers_file: cannot read {}", o.providers_file)
            })?)
        };
        let catalog = keyway_oauth::Catalog::load(file.as_deref())?;
        if o.lease_ttl_secs < 2 || o.state_ttl_secs == 0 {
            bail!("oauth.lease_ttl_secs must be at least 2 and oauth.state_ttl_secs at least 1");
        }
        let secs = std::time::Duration::from_secs;
        Ok((
            catalog,
            keyway_oauth::OAuthConfig {
                public_url: public_url.to_owned(),
                state_ttl: secs(o.state_ttl_secs),
                refresh_skew: secs(o.refresh_skew_secs),
                lease_ttl: secs(o.lease_ttl_secs),
                timeout: std::time::Duration::from_millis(self.dispatch.timeout_ms),
            },
        ))
    }

    pub fn key_file(&self) -> PathBuf {
        if self.vault.key_file.trim().is_empty() {
            self.data_dir.join("master.key")
        } else {
            PathBuf::from(&self.vault.key_file)
        }
    }
}
