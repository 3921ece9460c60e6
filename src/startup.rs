//! Starting the server: connecting storage (with a hint when it refuses), wiring the
//! credential, OAuth and dispatch services, and serving until a signal.

use anyhow::Context;
use keyway_credentials::cache::TtlCache;
use keyway_credentials::Credentials;
use keyway_dispatch::resolver::SystemLookup;
use keyway_dispatch::{AuditSink, DispatchMetrics, Dispatcher, Net, WebServices};
use keyway_oauth::OAuth;
use keyway_server::metrics::Metrics;
use keyway_server::{run, AppState};
use keyway_store::{ConnectOptions, Store};
use secrecy::ExposeSecret;
use std::net::TcpListener;
use std::sync::Arc;

use crate::configuration::Settings;
use crate::keys;

pub(crate) async fn serve(settings: Settings) -> anyhow::Result<()> {
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
pub(crate) async fn connect(settings: &Settings) -> anyhow::Result<Store> {
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
