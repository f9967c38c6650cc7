//! What minting a session id costs: a fresh one ([`SessionId::generate`], every new session) and
//! a renewal's successor ([`SessionId::generate_successor`], every login or other renewal), which
//! draws about 256 ids, each hashed, until one's digest starts with the old digest's first byte.

use criterion::{Criterion, criterion_group, criterion_main};
use kv_sessions::SessionId;

fn minting(c: &mut Criterion) {
    let mut group = c.benchmark_group("session_id");
    group.bench_function("generate", |b| b.iter(SessionId::generate));
    let old = SessionId::generate();
    group.bench_function("generate_successor", |b| {
        b.iter(|| SessionId::generate_successor(std::hint::black_box(&old)))
    });
    group.finish();
}

criterion_group!(benches, minting);
criterion_main!(benches);
