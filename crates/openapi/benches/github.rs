//! Reading GitHub's REST API description (about 13 MB of JSON, npm @octokit/openapi, fetched
//! by scripts/fixtures.sh) and listing its operations. The target: under 1 s and under
//! 200 MB peak memory. Peak memory is the process's high-water mark (VmHWM), printed after the
//! measurements.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed benchmark

use criterion::{criterion_group, criterion_main, Criterion};
use keyway_openapi::Document;

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn github(c: &mut Criterion) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../target/fixtures/api.github.com.json"
    );
    let bytes = std::fs::read(path).expect("run scripts/fixtures.sh first");
    let before = peak_rss_mb();
    let mut group = c.benchmark_group("openapi");
    group.sample_size(10);
    group.bench_function("github: parse and list operations", |b| {
        b.iter(|| {
            let document = Document::parse(&bytes).unwrap();
            document.operations().unwrap().len()
        })
    });
    group.finish();
    println!(
        "document {} bytes; peak RSS {:.0} MB (before the first parse: {before:.0} MB, the file itself included)",
        bytes.len(),
        peak_rss_mb()
    );
}

criterion_group!(benches, github);
criterion_main!(benches);
