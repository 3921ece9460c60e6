//! The one place that builds Keyway from its settings: storage (with a hint when it refuses),
//! the keyring, the credential, OAuth and dispatch services, and the HTTP server. The binary
//! and the test suite both go through [`Application::build`].

use anyhow::Context;
use keyway_credentials::cache::TtlCache;
use keyway_credentials::Credentials;
use keyway_dispatch::{AuditGate, AuditSink, AuditWriter, DispatchMetrics, Dispatcher};
use keyway_net::resolver::{Lookup, SystemLookup};
use keyway_net::Net;
use keyway_oauth::OAuth;
use keyway_server::metrics::Metrics;
use keyway_server::{run, AppState};
use keyway_store::Store;
use keyway_vault::Keyring;
use keyway_web_services::WebServices;
use secrecy::ExposeSecret;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use crate::configuration::Settings;
use crate::keys;

/// How many callers (token ID → user) a replica keeps between database reads.
const CALLER_CACHE_ENTRIES: usize = 100_000;

/// A Keyway bound to its listener and ready to serve.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    public_url: String,
    state: AppState,
    store: Store,
    keyring: Arc<Keyring>,
    audit_writer: AuditWriter,
    exporter: Option<crate::export::Exporter>,
    workers: Option<usize>,
    allow_networks: String,
}

impl Application {
    /// Builds the application with the system resolver.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        Self::build_with_lookup(settings, Arc::new(SystemLookup::default())).await
    }

    /// Builds the application with `lookup` answering every name an outgoing call uses (tests
    /// give names that resolve to loopback without asking a DNS server).
    pub async fn build_with_lookup(
        settings: &Settings,
        lookup: Arc<dyn Lookup>,
    ) -> anyhow::Result<Self> {
        // Settings first: a refused one must not leave a database or a key behind.
        let cache_ttl = settings.cache_ttl()?;
        // Every TLS client in the process uses ring (reqwest is built without a default provider).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store = connect(settings).await?;
        record_retention(&store, settings.audit.keep_ms()).await;
        let keyring = Arc::new(keys::load_keyring(settings, &store).await?);
        let listener = TcpListener::bind(&settings.listen)
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let address = listener.local_addr()?;
        let public_url = settings.public_url_for(&address);
        let credentials = Credentials::with_cache_ttl(store.clone(), keyring.clone(), cache_ttl)
            .with_org_limit(settings.limits.credentials_per_org);
        let metrics = Metrics::new()?;
        crate::telemetry::DroppedLines::register(metrics.registry())?;
        let gate = Arc::new(AuditGate::default());
        let exporter =
            crate::export::Exporter::open(&store, &settings.audit.export, gate.clone()).await?;
        let (audit, audit_writer) = AuditSink::start(store.clone());
        // Uses are refused while a configured export cannot be written.
        let audit = match exporter {
            Some(_) => audit.gated(gate),
            None => audit,
        };
        let net_config = settings.net_config()?;
        let allow_networks = net_config
            .allow_networks
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let net = Arc::new(Net::new(&net_config, lookup)?);
        let (catalog, oauth_config) = settings.oauth(&public_url)?;
        let oauth = Arc::new(OAuth::new(
            credentials.clone(),
            catalog,
            net.clone(),
            oauth_config,
        ));
        let dispatcher = Dispatcher::new(
            credentials.clone(),
            settings.dispatch_config()?,
            net,
            audit,
            DispatchMetrics::register(metrics.registry())?,
        )
        .with_token_source(oauth.clone());
        let state = AppState {
            web_services: WebServices::new(credentials.clone(), cache_ttl)
                .with_org_limit(settings.limits.web_services_per_org),
            callers: TtlCache::new(cache_ttl, CALLER_CACHE_ENTRIES),
            oauth,
            credentials,
            dispatcher,
            metrics,
            body_limit: settings.body_limit_bytes,
            public_url: public_url.clone(),
        };
        Ok(Self {
            listener,
            address,
            public_url,
            state,
            store,
            keyring,
            audit_writer,
            exporter,
            workers: (settings.workers > 0).then_some(settings.workers),
            allow_networks,
        })
    }

    /// The address it listens on (the real port when the settings asked for port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The storage it runs on, for the CLI's and the tests' own reads and writes.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The master keys it opens credentials with.
    pub fn keyring(&self) -> Arc<Keyring> {
        self.keyring.clone()
    }

    /// Serves until SIGINT or SIGTERM, then drains the audit queue and closes storage.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let address = self.address;
        tracing::info!(%address, public_url = %self.public_url, "keyway listening on http://{address}");
        if self.allow_networks.is_empty() {
            tracing::info!(
                "dispatch reaches public addresses only (dispatch.allow_networks is empty)"
            );
        } else {
            tracing::warn!(allow_networks = %self.allow_networks, "dispatch may also reach these private or loopback networks");
        }
        let pruner = tokio::spawn(crate::retention::prune_forever(self.store.clone()));
        let (stop_export, export_stopped) = tokio::sync::oneshot::channel();
        let export = self
            .exporter
            .map(|exporter| tokio::spawn(exporter.run(export_stopped)));
        let served = run(self.listener, self.state, self.workers)?.await;
        pruner.abort();
        served?;
        if !self.audit_writer.finish(Duration::from_secs(10)).await {
            tracing::error!(
                "the audit writer did not finish within 10 s; queued events may be lost"
            );
        }
        // The export copies what the writer stored last, then stops.
        let _ = stop_export.send(());
        if let Some(export) = export {
            let _ = tokio::time::timeout(Duration::from_secs(6), export).await;
        }
        self.store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Records the configured audit retention in the database, if it differs. A replica that
/// cannot write (a read-only disk) still starts, and warns: the database keeps enforcing
/// what it had.
async fn record_retention(store: &Store, keep_ms: Option<i64>) {
    match store.audit_retention().await {
        Ok(current) if current == keep_ms => return,
        Ok(_) => {}
        Err(err) => {
            tracing::warn!(error = %err, "audit retention: the current setting cannot be read");
        }
    }
    if let Err(err) = store.set_audit_retention(keep_ms).await {
        tracing::warn!(error = %err, "audit retention: the setting could not be recorded; the database keeps its previous one");
    }
}

/// Connects to the configured database (creating the embedded default's folder) and migrates.
pub async fn connect(settings: &Settings) -> anyhow::Result<Store> {
    let url = settings.database_url();
    if url.expose_secret().starts_with("sqlite:") {
        std::fs::create_dir_all(&settings.data_dir)
            .with_context(|| format!("cannot create {}", settings.data_dir.display()))?;
    }
    let store = Store::connect(url.expose_secret(), &settings.connect_options())
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
