//! Console page cost: `GET /console/credentials` with 200 accounts in the org, through the
//! application `keyway serve` builds (embedded SQLite), over loopback, signed in. Two
//! measurements: the server-side time (session check, listing, rendering: the `Server-Timing`
//! the server reports for each page, the budget being 2 ms median) and the whole round trip.
//! Also prints the page's weight (the budget is 60 KB before compression).
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed benchmark

use criterion::{criterion_group, criterion_main, Criterion};
use keyway::configuration::Settings;
use keyway::startup::Application;
use secrecy::ExposeSecret;

const ACCOUNTS: usize = 200;

struct Setup {
    page: String,
    cookie: String,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::defaults().unwrap();
    settings.listen = "127.0.0.1:0".into();
    settings.data_dir = dir.path().to_owned();
    settings.workers = 1;
    let app = Application::build(&settings).await.unwrap();
    let base = format!("http://{}", app.address());
    let store = app.store().clone();
    tokio::spawn(app.run_until_stopped());
    let org = store.create_org("bench").await.unwrap();
    let user = store
        .create_user(&org.id, "bench", keyway_model::Role::Member)
        .await
        .unwrap();
    let token = keyway_credentials::tokens::issue_token(&store, &user.id)
        .await
        .unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    for n in 0..ACCOUNTS {
        let res = client
            .post(format!("{base}/v1/credentials"))
            .bearer_auth(token.expose_secret())
            .json(&serde_json::json!({"name": format!("account {n}"), "kind": "api_key", "api_key": "k", "shared": n % 2 == 0}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    let session = keyway_credentials::console::start_session(&store, &user.id, None)
        .await
        .unwrap();
    Setup {
        page: format!("{base}/console/credentials"),
        cookie: format!("keyway_session={}", session.expose_secret()),
        _dir: dir,
    }
}

fn accounts_page(c: &mut Criterion) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let setup = runtime.block_on(setup());
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    // One page: its weight, and the server's own time for it as the server reports it in
    // `Server-Timing: app;dur=MS`.
    let fetch = || async {
        let res = client
            .get(&setup.page)
            .header("cookie", &setup.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let timing = res.headers()["server-timing"].to_str().unwrap().to_owned();
        let weight = res.bytes().await.unwrap().len();
        let ms: f64 = timing.strip_prefix("app;dur=").unwrap().parse().unwrap();
        (weight, std::time::Duration::from_secs_f64(ms / 1000.0))
    };
    let (weight, _) = runtime.block_on(fetch());
    println!("accounts page with {ACCOUNTS} accounts: {weight} bytes before compression");
    c.bench_function("console accounts page, 200 accounts, server side", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| runtime.block_on(fetch()).1).sum())
    });
    c.bench_function("console accounts page, 200 accounts, round trip", |b| {
        b.iter(|| runtime.block_on(fetch()))
    });
}

criterion_group!(benches, accounts_page);
criterion_main!(benches);
