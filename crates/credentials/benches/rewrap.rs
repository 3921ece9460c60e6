//! Measures `rewrap_all` moving 100,000 sealed fields from master key A to B on SQLite (one long run).
//!
//! Seeds `KEYWAY_BENCH_ROWS` (default 100,000) credentials, each with one sealed field, into a
//! fresh SQLite file under key A (sealed as the service seals them, bulk-inserted with sqlx
//! because `Credentials::create` one by one is ~50x slower), then times `rewrap_all` with keyring [B, A] and batches of
//! 1000. Afterwards it checks that every stored secret needs only B, and that a sample of
//! credentials still resolves with keyring [B] alone. Target: under 30 s for 100,000 rows.
//!
//! ```text
//! cargo bench -p keyway-credentials --bench rewrap
//! KEYWAY_BENCH_ROWS=10000 cargo bench -p keyway-credentials --bench rewrap
//! ```

mod common;

use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::str::FromStr;
use std::time::SystemTime;

use keyway_credentials::{check_keyring, rewrap_all, Credentials, Material, FIELD_MATERIAL};
use keyway_model::Caller;
use keyway_store::{ConnectOptions, Store};
use keyway_vault::{Context, Keyring, MasterKey, Sealed};
use secrecy::ExposeSecret;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{QueryBuilder, Sqlite};

type BenchResult<T> = Result<T, Box<dyn Error>>;

const DEFAULT_ROWS: usize = 100_000;
const BATCH: i64 = 1000;
const TARGET: Duration = Duration::from_secs(30);
const KEY_A: &str = "bench-a";
const KEY_B: &str = "bench-b";
/// Credentials resolved after seeding, and with keyring [B] alone after the rewrap.
const SAMPLE: usize = 200;
/// Credentials per seeding transaction (14 bound values each, under SQLite's 32766 limit).
const CHUNK: usize = 1000;

fn key(id: &str, byte: u8) -> BenchResult<MasterKey> {
    Ok(MasterKey::from_bytes(id.parse()?, &[byte; 32])?)
}

fn keyring(ids: &[&str]) -> BenchResult<Arc<Keyring>> {
    let keys = ids
        .iter()
        .map(|id| key(id, if *id == KEY_A { 0xA1 } else { 0xB2 }))
        .collect::<BenchResult<Vec<_>>>()?;
    Ok(Arc::new(Keyring::new(keys)?))
}

fn username(i: usize) -> String {
    format!("user-{i:06}")
}

fn rows_from_env() -> BenchResult<usize> {
    match std::env::var("KEYWAY_BENCH_ROWS") {
        Ok(raw) => Ok(raw
            .trim()
            .replace('_', "")
            .parse()
            .map_err(|_| format!("KEYWAY_BENCH_ROWS must be a number, got {raw:?}"))?),
        Err(_) => Ok(DEFAULT_ROWS),
    }
}

fn main() -> BenchResult<()> {
    let rows = rows_from_env()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(rows))
}

async fn run(rows: usize) -> BenchResult<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = Store::connect(&url, &ConnectOptions::default()).await?;
    store.migrate().await?;

    // Seed under key A alone. `Credentials::create` manages ~1500 rows/s here (one transaction
    // and six statements each), so rows are sealed exactly as it seals them and bulk-inserted;
    // the resolve checks below prove the seeded rows are what the service itself would write.
    let seed_keyring = keyring(&[KEY_A])?;
    check_keyring(&store, &seed_keyring).await?;
    let caller = common::bench_caller(&store).await?;
    let started = Instant::now();
    let ids = bulk_seed(&url, &seed_keyring, &caller, rows).await?;
    let seed_time = started.elapsed();
    println!(
        "seed:   {rows} credentials under '{KEY_A}' in {:.2} s ({:.0} rows/s)",
        seed_time.as_secs_f64(),
        rows as f64 / seed_time.as_secs_f64()
    );
    verify_sample(
        &Credentials::new(store.clone(), seed_keyring),
        &caller,
        &ids,
    )
    .await?;
    if store.secret_key_ids().await? != [KEY_A] {
        return Err("seeding did not leave every secret under key A".into());
    }

    // Rewrap onto B with both keys loaded, as a server would during a rotation.
    let rotating = keyring(&[KEY_B, KEY_A])?;
    check_keyring(&store, &rotating).await?;
    let started = Instant::now();
    let report = rewrap_all(&store, &rotating, BATCH).await?;
    let rewrap_time = started.elapsed();
    println!(
        "rewrap: {} rewrapped, {} skipped in {:.2} s ({:.0} rows/s, batch {BATCH})",
        report.rewrapped,
        report.skipped,
        rewrap_time.as_secs_f64(),
        report.rewrapped as f64 / rewrap_time.as_secs_f64()
    );
    if rows == DEFAULT_ROWS {
        let verdict = if rewrap_time < TARGET {
            "met"
        } else {
            "MISSED"
        };
        println!(
            "target: < {} s for {rows} rows: {verdict}",
            TARGET.as_secs()
        );
    }

    // Verify: nothing needs A any more, and B alone opens the data.
    if report.rewrapped != rows as u64 || report.skipped != 0 {
        return Err(format!("expected {rows} rewrapped and 0 skipped, got {report:?}").into());
    }
    let key_ids = store.secret_key_ids().await?;
    if key_ids != [KEY_B] {
        return Err(
            format!("stored secrets still need {key_ids:?}, expected [\"{KEY_B}\"]").into(),
        );
    }
    let only_b = keyring(&[KEY_B])?;
    check_keyring(&store, &only_b).await?;
    let checked = verify_sample(&Credentials::new(store.clone(), only_b), &caller, &ids).await?;
    println!("verify: secret_key_ids = {key_ids:?}; {checked} sampled credentials resolve with [{KEY_B}] alone");
    store.close().await;
    Ok(())
}

/// Resolves an even sample of the seeded credentials (and the last one) and checks their
/// material; returns how many were checked.
async fn verify_sample(creds: &Credentials, caller: &Caller, ids: &[String]) -> BenchResult<usize> {
    let step = (ids.len() / SAMPLE).max(1);
    let mut checked = 0;
    for i in (0..ids.len()).step_by(step).chain(ids.len().checked_sub(1)) {
        let resolved = creds.resolve(caller, &ids[i]).await?;
        match &resolved.material {
            Material::Basic { username: got, .. } if got.expose_secret() == username(i) => {}
            _ => return Err(format!("credential {i} opened to the wrong material").into()),
        }
        checked += 1;
    }
    Ok(checked)
}

/// Inserts `rows` basic credentials owned by `caller`, each with its `material` field sealed
/// by `keyring`, in transactions of `CHUNK` multi-row inserts. Returns their IDs in order.
async fn bulk_seed(
    url: &str,
    keyring: &Keyring,
    caller: &Caller,
    rows: usize,
) -> BenchResult<Vec<String>> {
    let options = SqliteConnectOptions::from_str(url)?.foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    let now = i64::try_from(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)?
            .as_millis(),
    )?;
    let mut ids = Vec::with_capacity(rows);
    for start in (0..rows).step_by(CHUNK) {
        let chunk: Vec<(String, String, Sealed)> = (start..rows.min(start + CHUNK))
            .map(|i| {
                let id = uuid::Uuid::now_v7().to_string();
                let plaintext = serde_json::to_vec(&serde_json::json!({
                    "username": username(i),
                    "password": "correct horse battery staple",
                }))?;
                let ctx = Context {
                    org: &caller.org_id,
                    record: &id,
                    field: FIELD_MATERIAL,
                };
                let sealed = keyring.seal(ctx, &plaintext)?;
                Ok((id, format!("cred-{i:06}"), sealed))
            })
            .collect::<BenchResult<_>>()?;
        let mut tx = pool.begin().await?;
        QueryBuilder::<Sqlite>::new(
            "INSERT INTO credentials (id, org_id, owner_id, name, kind, shared, status, \
             allowed_hosts, settings, mtls, token_expires_at, secret_version, created_at, updated_at) ",
        )
        .push_values(&chunk, |mut b, (id, name, _)| {
            b.push_bind(id)
                .push_bind(&caller.org_id)
                .push_bind(&caller.user_id)
                .push_bind(name)
                .push_bind("basic")
                .push_bind(false)
                .push_bind("active")
                .push_bind(r#"["api.example.com"]"#)
                .push_bind("{}")
                .push_bind(None::<String>)
                .push_bind(None::<i64>)
                .push_bind(1_i64)
                .push_bind(now)
                .push_bind(now);
        })
        .build()
        .execute(&mut *tx)
        .await?;
        QueryBuilder::<Sqlite>::new(
            "INSERT INTO credential_secrets (credential_id, field, key_id, wrapped_key, ciphertext) ",
        )
        .push_values(&chunk, |mut b, (id, _, sealed)| {
            b.push_bind(id)
                .push_bind(FIELD_MATERIAL)
                .push_bind(&sealed.key_id)
                .push_bind(&sealed.wrapped_key)
                .push_bind(&sealed.ciphertext);
        })
        .build()
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        ids.extend(chunk.into_iter().map(|(id, _, _)| id));
    }
    pool.close().await;
    Ok(ids)
}
