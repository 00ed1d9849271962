//! `cargo bench --bench state_io` (criterion): the state of 10,000 certificates read,
//! decrypted and parsed (what apply does first), and serialised, encrypted and written
//! atomically (what apply does after every action).

#[path = "support/fixtures.rs"]
mod fixtures;

use certform::state::{decode, load_identity, LocalStore};
use criterion::{criterion_group, criterion_main, Criterion};
use std::time::Duration;

fn state_io(c: &mut Criterion) {
    // `cargo test` runs this once per function as a smoke test: keep that fixture small.
    let size = if fixtures::full_run() { 10_000 } else { 200 };
    let fixture = fixtures::fixture(size, 0);
    let identity = load_identity(Some(&fixture.identity)).unwrap();
    let recipients = vec![identity.recipient().unwrap()];
    let mut group = c.benchmark_group(format!("state of {size} certificates"));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));

    group.bench_function("read + decrypt + parse", |b| {
        b.iter(|| {
            let bytes = std::fs::read(fixture.state_path()).unwrap();
            let stored = decode(&bytes).unwrap();
            stored.open_secrets(&identity).unwrap()
        })
    });

    let bytes = std::fs::read(fixture.state_path()).unwrap();
    let stored = decode(&bytes).unwrap();
    let secrets = stored.open_secrets(&identity).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let store = LocalStore::new(scratch.path().join("bench.certstate"));
    let lock = store.lock("bench", Duration::from_secs(1)).unwrap();
    group.bench_function("serialise + encrypt + atomic write", |b| {
        b.iter(|| {
            let bytes = certform::state::encode(&stored.state, &secrets, &recipients).unwrap();
            store.write(&lock, &bytes).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, state_io);
criterion_main!(benches);
