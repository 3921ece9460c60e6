//! Criterion benchmarks for the per-secret hot paths: seal, open and rewrap of a 1 KiB secret.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use keyway_vault::{Context, Keyring, MasterKey};

const CTX: Context<'static> = Context {
    org: "acme",
    record: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
    field: "client_secret",
};

fn key(name: &str, byte: u8) -> MasterKey {
    MasterKey::from_bytes(name.parse().unwrap(), &[byte; 32]).unwrap()
}

fn bench(c: &mut Criterion) {
    let secret = vec![0x42u8; 1024];
    let keyring = Keyring::new(vec![key("old", 1)]).unwrap();
    let sealed = keyring.seal(CTX, &secret).unwrap();
    // After rotation: "new" is active, "old" still opens what it sealed.
    let rotated = Keyring::new(vec![key("new", 2), key("old", 1)]).unwrap();

    let mut group = c.benchmark_group("vault_1KiB");
    group.throughput(Throughput::Bytes(secret.len() as u64));
    group.bench_function("seal", |b| {
        b.iter(|| keyring.seal(black_box(CTX), black_box(&secret)).unwrap())
    });
    group.bench_function("open", |b| {
        b.iter(|| keyring.open(black_box(CTX), black_box(&sealed)).unwrap())
    });
    group.bench_function("rewrap", |b| {
        b.iter(|| rotated.rewrap(black_box(CTX), black_box(&sealed)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
