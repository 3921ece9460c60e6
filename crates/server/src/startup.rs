//! Builds the actix-web server from ready state and a bound listener (port 0 in tests).

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use keyway_credentials::cache::TtlCache;
use keyway_credentials::Credentials;
use keyway_dispatch::Dispatcher;
use keyway_oauth::OAuth;
use keyway_web_services::WebServices;
use std::net::TcpListener;
use std::sync::Arc;

use crate::metrics::Metrics;
use crate::{request_log, routes};

/// Everything a handler needs; shared by all workers.
#[derive(Debug)]
pub struct AppState {
    pub credentials: Credentials,
    pub dispatcher: Dispatcher,
    pub web_services: WebServices,
    pub oauth: Arc<OAuth>,
    /// Callers by token ID, briefly, so most requests skip the token lookup.
    pub callers: TtlCache<String, crate::auth::CachedCaller>,
    pub metrics: Metrics,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Where people reach Keyway (console cookies are `Secure` when it is https).
    pub public_url: String,
}

impl AppState {
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

/// Starts serving on `listener`; the returned future runs until a graceful shutdown
/// (SIGINT/SIGTERM: in-flight requests get 30 s to finish).
pub fn run(
    listener: TcpListener,
    state: AppState,
    workers: Option<usize>,
) -> std::io::Result<Server> {
    let state = web::Data::new(state);
    let mut server = HttpServer::new(move || {
        App::new()
            .wrap(from_fn(request_log::observe))
            .app_data(state.clone())
            .configure(routes::configure)
            .configure(crate::console::configure)
            .default_service(web::to(routes::not_found))
    })
    .shutdown_timeout(30);
    if let Some(workers) = workers {
        server = server.workers(workers);
    }
    Ok(server.listen(listener)?.run())
}
