//! Measures `Credentials::resolve` (read a credential and its sealed fields, then open them) on SQLite and PostgreSQL.
//!
//! Each backend is seeded with one org, one member, ~1000 other credentials and the two measured
//! ones (`basic` and `api_key`, one sealed field each), each resolved `cold` (no cache: the
//! database round trip and decryption a replica pays after every write or expiry) and `hot`
//! (the server's default one-second cache, a hit). PostgreSQL runs in a fresh schema that is
//! dropped afterwards; its URL is `KEYWAY_BENCH_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`).
//!
//! ```text
//! cargo bench -p keyway-credentials --bench resolve -- --warm-up-time 1 --measurement-time 5
//! ```

mod common;

use std::error::Error;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use keyway_credentials::{Credentials, Material, NewCredentialInput, SecretInput};
use keyway_model::{AllowedHosts, ApiKeyPlacement, Caller, CredentialName};
use keyway_store::{ConnectOptions, Store};
use keyway_vault::{Keyring, MasterKey};
use secrecy::SecretString;
use tokio::runtime::Runtime;

type BenchResult<T> = Result<T, Box<dyn Error>>;

const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// Credentials besides the two measured ones, so the tables are not trivially small.
const OTHER_CREDENTIALS: usize = 1000;

/// A seeded store and the two credentials whose resolve is measured.
struct Fixture {
    /// The server's default: opened credentials are reused for a second (a hit).
    creds: Credentials,
    /// No cache: the database round trip and the decryption a replica pays after every
    /// write or expiry.
    cold: Credentials,
    caller: Caller,
    basic_id: String,
    api_key_id: String,
}

fn keyring() -> BenchResult<Arc<Keyring>> {
    let key = MasterKey::from_bytes("bench".parse()?, &[7u8; 32])?;
    Ok(Arc::new(Keyring::new(vec![key])?))
}

fn basic(name: &str) -> BenchResult<NewCredentialInput> {
    Ok(NewCredentialInput {
        name: CredentialName::parse(name)?,
        shared: false,
        allowed_hosts: AllowedHosts::parse(&["api.example.com", "*.example.net"])?,
        proxy: Default::default(),
        status: keyway_model::Status::Active,
        tokens: None,
        secret: SecretInput {
            material: Material::Basic {
                username: SecretString::from(format!("user-{name}")),
                password: SecretString::from("correct horse battery staple"),
            },
            mtls: None,
        },
    })
}

fn api_key(name: &str) -> BenchResult<NewCredentialInput> {
    Ok(NewCredentialInput {
        name: CredentialName::parse(name)?,
        shared: true,
        allowed_hosts: AllowedHosts::parse(&["api.example.com"])?,
        proxy: Default::default(),
        status: keyway_model::Status::Active,
        tokens: None,
        secret: SecretInput {
            material: Material::ApiKey {
                api_key: SecretString::from(format!("sk_live_{name}_0123456789abcdef")),
                placement: ApiKeyPlacement::parse(None, None, None)?,
            },
            mtls: None,
        },
    })
}

/// Migrates `store` and fills it through the public API.
async fn seed(store: Store) -> BenchResult<Fixture> {
    store.migrate().await?;
    let caller = common::bench_caller(&store).await?;
    let keyring = keyring()?;
    let creds = Credentials::new(store.clone(), keyring.clone());
    let cold = Credentials::with_cache_ttl(store, keyring, std::time::Duration::ZERO);
    for i in 0..OTHER_CREDENTIALS {
        let name = format!("other-{i:05}");
        let input = if i % 2 == 0 {
            basic(&name)?
        } else {
            api_key(&name)?
        };
        creds.create(&caller, input).await?;
    }
    let basic_id = creds.create(&caller, basic("measured-basic")?).await?.id;
    let api_key_id = creds
        .create(&caller, api_key("measured-api-key")?)
        .await?
        .id;

    // The measured path must really open the material, not fail fast.
    let resolved = creds.resolve(&caller, &basic_id).await?;
    assert!(matches!(resolved.material, Material::Basic { .. }));
    let resolved = creds.resolve(&caller, &api_key_id).await?;
    assert!(matches!(resolved.material, Material::ApiKey { .. }));

    Ok(Fixture {
        creds,
        cold,
        caller,
        basic_id,
        api_key_id,
    })
}

fn measure(c: &mut Criterion, rt: &Runtime, backend: &str, fx: &Fixture) {
    let mut group = c.benchmark_group(format!("resolve/{backend}"));
    for (path, creds) in [("cold", &fx.cold), ("hot", &fx.creds)] {
        for (kind, id) in [("basic", &fx.basic_id), ("api_key", &fx.api_key_id)] {
            group.bench_function(format!("{path}/{kind}"), |b| {
                b.iter(|| {
                    rt.block_on(creds.resolve(&fx.caller, black_box(id)))
                        .expect("resolve failed")
                })
            });
        }
    }
    group.finish();
}

/// Drops the PostgreSQL schema even if a benchmark panics.
struct SchemaGuard<'a> {
    rt: &'a Runtime,
    admin: sqlx::PgPool,
    schema: String,
}

impl Drop for SchemaGuard<'_> {
    fn drop(&mut self) {
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema);
        if let Err(err) = self.rt.block_on(sqlx::query(&sql).execute(&self.admin)) {
            eprintln!("could not drop schema {}: {err}", self.schema);
        }
        self.rt.block_on(self.admin.close());
    }
}

fn sqlite(c: &mut Criterion, rt: &Runtime) -> BenchResult<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let fx = rt.block_on(async {
        let store = Store::connect(&url, &ConnectOptions::default()).await?;
        seed(store).await
    })?;
    measure(c, rt, "sqlite", &fx);
    rt.block_on(fx.creds.store().close());
    Ok(())
}

fn postgres(c: &mut Criterion, rt: &Runtime) -> BenchResult<()> {
    let url = std::env::var("KEYWAY_BENCH_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned());
    let schema = format!("kwbench_{}", uuid::Uuid::new_v4().simple());
    let admin = rt.block_on(sqlx::PgPool::connect(&url))?;
    rt.block_on(sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&admin))?;
    let _guard = SchemaGuard {
        rt,
        admin,
        schema: schema.clone(),
    };
    let opts = ConnectOptions {
        pg_schema: Some(schema),
        ..ConnectOptions::default()
    };
    let fx = rt.block_on(async {
        let store = Store::connect(&url, &opts).await?;
        seed(store).await
    })?;
    measure(c, rt, "postgres", &fx);
    rt.block_on(fx.creds.store().close());
    Ok(())
}

fn resolve(c: &mut Criterion) {
    // actix-web runs each worker on a current-thread runtime; measure resolve the same way.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    sqlite(c, &rt).expect("SQLite benchmark setup failed");
    postgres(c, &rt)
        .expect("PostgreSQL benchmark setup failed (is it running? see KEYWAY_BENCH_PG_URL)");
}

criterion_group!(benches, resolve);
criterion_main!(benches);
