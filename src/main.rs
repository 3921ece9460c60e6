//! The `keyway` binary: serve the API, run migrations, bootstrap orgs, users and tokens, and
//! manage master keys.

mod configuration;
mod keys;
mod telemetry;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use keyway_credentials::cache::TtlCache;
use keyway_credentials::{rewrap_all, Credentials};
use keyway_dispatch::resolver::SystemLookup;
use keyway_dispatch::{AuditSink, DispatchMetrics, Dispatcher, Net, WebServices};
use keyway_model::Role;
use keyway_oauth::OAuth;
use keyway_server::metrics::Metrics;
use keyway_server::{run, AppState};
use keyway_store::{ConnectOptions, Store};
use keyway_vault::MasterKey;
use secrecy::ExposeSecret;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;

use configuration::Settings;

#[derive(Parser)]
#[command(
    name = "keyway",
    version,
    about = "Credential vault and OAuth 2.0 broker for outgoing web-service calls"
)]
struct Cli {
    /// A TOML file overriding config/default.toml (KEYWAY_* variables override both).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// The `KEYWAY_*` variables `serve` reads, listed under `keyway serve --help`.
fn env_help() -> String {
    let mut help =
        String::from("Environment (overrides the --config file and config/default.toml):\n");
    for (var, setting) in configuration::ENV_VARS {
        help.push_str(&format!("  {var:<40} {setting}\n"));
    }
    help
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API (migrates first).
    #[command(after_help = env_help())]
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage orgs.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage master keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Work with curl commands (offline: no server, database or key needed).
    #[command(subcommand)]
    Curl(CurlCommand),
}

#[derive(Subcommand)]
enum CurlCommand {
    /// Turn a curl command into a request definition, printed as JSON. Reads the command from
    /// standard input when it is not given as an argument.
    Import {
        /// The whole curl command, quoted as one argument.
        command: Option<String>,
        /// Drop unsupported options (listed in `dropped`) instead of failing.
        #[arg(long)]
        drop_unsupported: bool,
    },
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Create an org (a "brand") identified by SLUG.
    Create {
        /// Lower-case letters, digits and hyphens.
        slug: String,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user in an org.
    Create {
        /// The org's slug.
        #[arg(long)]
        org: String,
        /// The new user's name, unique in the org.
        #[arg(long)]
        name: String,
        /// Make the user an admin of the org.
        #[arg(long)]
        admin: bool,
    },
    /// Disable a user who left: their tokens stop working at once. Their credentials keep
    /// working for the workflows that use them until an admin transfers them.
    Disable {
        /// The org's slug.
        #[arg(long)]
        org: String,
        /// The user's name in the org.
        #[arg(long)]
        user: String,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create an API token for a user; prints the token alone on stdout, once.
    Create {
        /// The org's slug.
        #[arg(long)]
        org: String,
        /// The user's name in the org.
        #[arg(long)]
        user: String,
        /// How long the token works: a number with d, h, m or s (90d), or `never`.
        #[arg(long, default_value = "90d")]
        ttl: String,
    },
    /// List a user's tokens: ID, created, last used, expires, revoked; never the token.
    List {
        /// The org's slug.
        #[arg(long)]
        org: String,
        /// The user's name in the org.
        #[arg(long)]
        user: String,
    },
    /// Revoke a user's tokens: all of them, or the one given with --id.
    Revoke {
        /// The org's slug.
        #[arg(long)]
        org: String,
        /// The user's name in the org.
        #[arg(long)]
        user: String,
        /// Only this token (an ID from `keyway token list`).
        #[arg(long)]
        id: Option<String>,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Print a new random master key as `id:base64key`, for KEYWAY_MASTER_KEYS.
    Generate {
        #[arg(long, default_value = "k1")]
        id: String,
    },
    /// Re-wrap every stored data key under the active (first) master key, online.
    Rewrap {
        /// Rows per transaction.
        #[arg(long, default_value_t = 1000)]
        batch: i64,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref())?;
    telemetry::init(&settings.log);
    match cli.command {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            connect(&settings).await?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Org(OrgCommand::Create { slug }) => {
            let slug =
                keyway_model::OrgSlug::parse(&slug).map_err(|e| anyhow::anyhow!(e.message))?;
            let store = connect(&settings).await?;
            let org = store
                .create_org(slug.as_str())
                .await
                .context("the org could not be created")?;
            println!("{}", org.slug);
            Ok(())
        }
        Command::User(UserCommand::Create { org, name, admin }) => {
            let name =
                keyway_model::UserName::parse(&name).map_err(|e| anyhow::anyhow!(e.message))?;
            let store = connect(&settings).await?;
            let org = find_org(&store, &org).await?;
            let role = if admin { Role::Admin } else { Role::Member };
            let user = store
                .create_user(&org.id, name.as_str(), role.as_str())
                .await
                .context("the user could not be created")?;
            eprintln!(
                "created {} {} in org {}",
                role.as_str(),
                user.name,
                org.slug
            );
            println!("{}", user.id);
            Ok(())
        }
        Command::Token(TokenCommand::Create { org, user, ttl }) => {
            let ttl = parse_ttl(&ttl)?;
            let store = connect(&settings).await?;
            let user = find_user(&store, &org, &user).await?;
            let token =
                keyway_credentials::tokens::issue_token_with_ttl(&store, &user.id, ttl).await?;
            println!("{}", token.expose_secret());
            Ok(())
        }
        Command::Token(TokenCommand::List { org, user }) => {
            let store = connect(&settings).await?;
            let user = find_user(&store, &org, &user).await?;
            let time =
                |t: Option<i64>| t.map_or_else(|| "-".to_owned(), keyway_credentials::rfc3339);
            println!(
                "{:<16}  {:<24}  {:<24}  {:<24}  revoked",
                "id", "created", "last used", "expires"
            );
            for t in store.list_tokens(&user.id).await? {
                println!(
                    "{:<16}  {:<24}  {:<24}  {:<24}  {}",
                    t.id,
                    time(Some(t.created_at)),
                    time(t.last_used_at),
                    t.expires_at
                        .map_or_else(|| "never".to_owned(), keyway_credentials::rfc3339),
                    time(t.revoked_at)
                );
            }
            Ok(())
        }
        Command::Token(TokenCommand::Revoke { org, user, id }) => {
            let store = connect(&settings).await?;
            let user = find_user(&store, &org, &user).await?;
            let n = store.revoke_tokens(&user.id, id.as_deref()).await?;
            if id.is_some() && n == 0 {
                bail!(
                    "{} has no unrevoked token with that ID (see `keyway token list`)",
                    user.name
                );
            }
            eprintln!("revoked {n} token(s) of {}", user.name);
            Ok(())
        }
        Command::User(UserCommand::Disable { org, user }) => {
            let store = connect(&settings).await?;
            let user = find_user(&store, &org, &user).await?;
            store.disable_user(&user.id).await?;
            eprintln!(
                "disabled {}: their tokens no longer work; transfer their credentials with POST /v1/credentials/{{id}}/transfer",
                user.name
            );
            Ok(())
        }
        Command::Key(KeyCommand::Generate { id }) => {
            let (_, spec) = MasterKey::generate(id.parse()?);
            println!("{}", spec.expose_secret());
            Ok(())
        }
        Command::Key(KeyCommand::Rewrap { batch }) => {
            if batch < 1 {
                bail!("--batch must be at least 1");
            }
            let store = connect(&settings).await?;
            let keyring = keys::load_keyring(&settings, &store).await?;
            let report = rewrap_all(&store, &keyring, batch).await?;
            eprintln!(
                "re-wrapped {} data keys under '{}' ({} replaced meanwhile, already under it)",
                report.rewrapped,
                keyring.active_id(),
                report.skipped
            );
            Ok(())
        }
        Command::Curl(CurlCommand::Import {
            command,
            drop_unsupported,
        }) => curl_import(command, drop_unsupported),
    }
}

/// Prints the import as JSON on stdout; a refusal goes to stderr in the API's error shape.
fn curl_import(command: Option<String>, drop_unsupported: bool) -> anyhow::Result<()> {
    let command = match command {
        Some(c) => c,
        None => std::io::read_to_string(std::io::stdin()).context("cannot read standard input")?,
    };
    let options = keyway_curl::ImportOptions { drop_unsupported };
    match keyway_curl::import(&command, &options) {
        Ok(import) => {
            println!("{}", serde_json::to_string_pretty(&import)?);
            Ok(())
        }
        Err(err) => {
            let mut error = serde_json::json!({"code": err.code(), "message": err.to_string()});
            match &err {
                keyway_curl::CurlError::Invalid { position, .. } => {
                    error["position"] = (*position).into();
                }
                keyway_curl::CurlError::Unsupported { options } => {
                    error["options"] = serde_json::json!(options);
                }
                keyway_curl::CurlError::Request(_) => {}
            }
            eprintln!("{}", serde_json::json!({ "error": error }));
            std::process::exit(2);
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    // Every TLS client in the process uses ring (reqwest is built without a default provider).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let store = connect(&settings).await?;
    let keyring = keys::load_keyring(&settings, &store).await?;
    let listener = TcpListener::bind(&settings.listen)
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let address = listener.local_addr()?;
    let cache_ttl = std::time::Duration::from_millis(settings.cache_ttl_ms);
    let credentials = Credentials::with_cache_ttl(store.clone(), Arc::new(keyring), cache_ttl);
    let metrics = Metrics::new()?;
    let (audit, audit_writer) = AuditSink::start(store.clone());
    let dispatch_config = settings.dispatch_config()?;
    let dispatch_networks = dispatch_config
        .allow_networks
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let net = Arc::new(
        Net::from_config(&dispatch_config, Arc::new(SystemLookup::default()))
            .map_err(|e| anyhow::anyhow!(e))?,
    );
    let (catalog, oauth_config) = settings.oauth()?;
    let oauth = Arc::new(OAuth::new(
        credentials.clone(),
        catalog,
        net.clone(),
        oauth_config,
    ));
    let dispatcher = Dispatcher::new(
        credentials.clone(),
        dispatch_config,
        net,
        audit,
        DispatchMetrics::register(metrics.registry())?,
    )
    .map_err(|e| anyhow::anyhow!(e))?
    .with_token_source(oauth.clone());
    let state = AppState {
        web_services: WebServices::new(credentials.clone(), cache_ttl),
        callers: TtlCache::new(cache_ttl, 100_000),
        oauth,
        credentials,
        dispatcher,
        metrics,
        body_limit: settings.body_limit_bytes,
    };
    let workers = (settings.workers > 0).then_some(settings.workers);
    tracing::info!(%address, public_url = %settings.public_url, "keyway listening on http://{address}");
    if dispatch_networks.is_empty() {
        tracing::info!("dispatch reaches public addresses only (dispatch.allow_networks is empty)");
    } else {
        tracing::warn!(allow_networks = %dispatch_networks, "dispatch may also reach these private or loopback networks");
    }
    run(listener, state, workers)?.await?;
    if !audit_writer
        .finish(std::time::Duration::from_secs(10))
        .await
    {
        tracing::error!("the audit writer did not finish within 10 s; queued events may be lost");
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Connects to the configured database (creating the embedded default's folder) and migrates.
async fn connect(settings: &Settings) -> anyhow::Result<Store> {
    let url = settings.database_url();
    if url.expose_secret().starts_with("sqlite:") {
        std::fs::create_dir_all(&settings.data_dir)
            .with_context(|| format!("cannot create {}", settings.data_dir.display()))?;
    }
    let store = Store::connect(url.expose_secret(), &ConnectOptions::default())
        .await
        .map_err(|err| with_hint(err, "cannot connect to the database"))?;
    store
        .migrate()
        .await
        .map_err(|err| with_hint(err, "cannot migrate the database"))?;
    Ok(store)
}

/// Says what an operator should look at when storage refuses the start.
fn with_hint(err: keyway_store::StoreError, what: &str) -> anyhow::Error {
    use keyway_store::Unavailable;
    let hint = match err.unavailable() {
        Some(Unavailable::Unreachable) => ": it cannot be reached (is it running, is the URL right?)",
        Some(Unavailable::Full) => ": its disk is full",
        Some(Unavailable::ReadOnly) => {
            ": it cannot be opened for writing (a read-only disk, or a file or folder this user may not write)"
        }
        Some(Unavailable::DiskError) => ": its disk failed a read or a write",
        None => "",
    };
    anyhow::Error::new(err).context(format!("{what}{hint}"))
}

async fn find_org(store: &Store, slug: &str) -> anyhow::Result<keyway_store::OrgRow> {
    store
        .org_by_slug(slug)
        .await?
        .with_context(|| format!("no org '{slug}': create it with `keyway org create {slug}`"))
}

async fn find_user(store: &Store, org: &str, name: &str) -> anyhow::Result<keyway_store::UserRow> {
    let org = find_org(store, org).await?;
    store.user_by_name(&org.id, name).await?.with_context(|| {
        format!(
            "no user named '{name}' in org '{}': create it with `keyway user create`",
            org.slug
        )
    })
}

/// `90d`, `12h`, `30m`, `45s`, or `never` (`None`).
fn parse_ttl(raw: &str) -> anyhow::Result<Option<std::time::Duration>> {
    if raw == "never" {
        return Ok(None);
    }
    // The unit is the last character (split there, not at a byte, so any input is safe).
    let mut chars = raw.chars();
    let unit = chars.next_back();
    let number = chars.as_str();
    let seconds = match unit {
        Some('d') => 86_400,
        Some('h') => 3_600,
        Some('m') => 60,
        Some('s') => 1,
        _ => bail!("--ttl must be a number with d, h, m or s (such as 90d), or `never`"),
    };
    let total = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(seconds))
        .filter(|s| (1..=3650 * 86_400).contains(s))
        .context("--ttl must be a positive number with d, h, m or s (such as 90d) of at most 10 years, or `never`")?;
    Ok(Some(std::time::Duration::from_secs(total)))
}

#[cfg(test)]
mod tests {
    use super::parse_ttl;
    use std::time::Duration;

    #[test]
    fn ttls_parse_and_odd_input_is_refused() {
        assert_eq!(
            parse_ttl("90d").unwrap(),
            Some(Duration::from_secs(90 * 86_400))
        );
        assert_eq!(parse_ttl("2s").unwrap(), Some(Duration::from_secs(2)));
        assert_eq!(parse_ttl("never").unwrap(), None);
        for bad in [
            "",
            "d",
            "0d",
            "9é",
            "é",
            "-1h",
            "1w",
            "99999999999d",
            "3651d",
            "1.5h",
        ] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
    }
}
