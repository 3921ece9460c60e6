//! Measures `rewrap_all` moving 100,000 sealed fields from master key A to B on SQLite (one long run).
//!
//! Seeds `KEYWAY_BENCH_ROWS` (default 100,000) credentials, each with one sealed field, into a
//! fresh SQLite file under key A, then times `rewrap_all` with keyring [B, A] and batches of
//! 1000. Afterwards it checks that every stored secret needs only B, and that a sample of
//! credentials still resolves with keyring [B] alone. Target: under 30 s for 100,000 rows.
//!
//! ```text
//! cargo bench -p keyway-credentials --bench rewrap
//! KEYWAY_BENCH_ROWS=10000 cargo bench -p keyway-credentials --bench rewrap
//! ```

use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keyway_credentials::{
    check_keyring, rewrap_all, Credentials, Material, NewCredentialInput, SecretInput,
};
use keyway_model::{AllowedHosts, Caller, CredentialName, Role};
use keyway_store::{ConnectOptions, Store};
use keyway_vault::{Keyring, MasterKey};
use secrecy::{ExposeSecret, SecretString};

type BenchResult<T> = Result<T, Box<dyn Error>>;

const DEFAULT_ROWS: usize = 100_000;
const BATCH: i64 = 1000;
const TARGET: Duration = Duration::from_secs(30);
const KEY_A: &str = "bench-a";
const KEY_B: &str = "bench-b";
/// Credentials resolved with keyring [B] alone after the rewrap.
const SAMPLE: usize = 200;

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

fn input(i: usize) -> BenchResult<NewCredentialInput> {
    Ok(NewCredentialInput {
        name: CredentialName::parse(&format!("cred-{i:06}"))?,
        shared: false,
        allowed_hosts: AllowedHosts::parse(&["api.example.com"])?,
        secret: SecretInput {
            material: Material::Basic {
                username: SecretString::from(username(i)),
                password: SecretString::from("correct horse battery staple"),
            },
            mtls: None,
        },
    })
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

    // Seed under key A alone, through the public API (one transaction per credential).
    let seed_keyring = keyring(&[KEY_A])?;
    check_keyring(&store, &seed_keyring).await?;
    let org = store.create_org("bench").await?;
    let user = store
        .create_user(&org.id, "bench-user", Role::Member.as_str())
        .await?;
    let caller = Caller {
        user_id: user.id,
        user_name: user.name,
        org_id: org.id,
        org_slug: org.slug,
        role: Role::Member,
    };
    let seeder = Credentials::new(store.clone(), seed_keyring);
    let started = Instant::now();
    let mut ids = Vec::with_capacity(rows);
    for i in 0..rows {
        ids.push(seeder.create(&caller, input(i)?).await?.id);
    }
    let seed_time = started.elapsed();
    println!(
        "seed:   {rows} credentials under '{KEY_A}' in {:.2} s ({:.0} rows/s)",
        seed_time.as_secs_f64(),
        rows as f64 / seed_time.as_secs_f64()
    );
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
    let reader = Credentials::new(store.clone(), only_b);
    let step = (rows / SAMPLE).max(1);
    let mut checked = 0;
    for i in (0..rows).step_by(step).chain(rows.checked_sub(1)) {
        let resolved = reader.resolve(&caller, &ids[i]).await?;
        match &resolved.material {
            Material::Basic { username: got, .. } if got.expose_secret() == username(i) => {}
            _ => return Err(format!("credential {i} opened to the wrong material").into()),
        }
        checked += 1;
    }
    println!("verify: secret_key_ids = {key_ids:?}; {checked} sampled credentials resolve with [{KEY_B}] alone");
    store.close().await;
    Ok(())
}
