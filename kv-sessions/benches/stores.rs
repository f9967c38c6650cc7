//! The stores on their own, without the middleware: what a session load or save costs in each.
//!
//! - `sled load` and `sled merge-save`: the disk store, in a temporary directory, loading an
//!   existing session and merging a one-key change into it. Both include the hand-off to the
//!   store's I/O threads, as every request pays it.
//! - `moka hit`: the in-memory store loading a session it holds.
//! - `cached hit` and `cached miss`: a moka cache in front of sled, as
//!   `SessionMiddlewareBuilder::cache` builds it. A hit is answered by the cache; a miss is a
//!   session that sled holds and the cache does not, so it pays sled's load plus the insertion
//!   into the cache. Every measured miss is a real one: each id is loaded once into a cache that
//!   has never seen it.

mod runner;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use kv_sessions::{
    CachedStore, Changes, Expiry, MokaStore, SessionId, SessionPolicy, SessionStore, SledStore,
};

use crate::runner::ActixRunner;

/// How many sessions sled holds for the cache to miss on. A measurement that needs more misses
/// than this starts again with an empty cache.
const MISS_POOL: usize = 20_000;

/// How long the benchmarks' sessions live: far longer than the suite runs.
const LIFETIME: Duration = Duration::from_secs(3_600);

/// Changes that write the session every benchmark loads or saves: four keys of a small profile.
fn profile() -> Changes {
    let mut changes = Changes::new(SessionPolicy::new(Expiry::OnInactivity(LIFETIME)));
    changes
        .insert("profile.admin", false)
        .and_then(|changes| changes.insert("profile.cart", [7, 11, 13]))
        .and_then(|changes| changes.insert("profile.name", "Ada"))
        .and_then(|changes| changes.insert("profile.visits", 42))
        .expect("plain values serialize");
    changes
}

/// A request's typical write: one key of the profile.
fn one_visit() -> Changes {
    let mut changes = Changes::new(SessionPolicy::new(Expiry::OnInactivity(LIFETIME)));
    changes
        .insert("profile.visits", 43)
        .expect("a number serializes");
    changes
}

/// Saves a fresh profile into `store`, and returns its id.
async fn saved_profile(store: &impl SessionStore) -> SessionId {
    let id = SessionId::generate();
    store
        .create(&id, &profile())
        .await
        .expect("saving a profile");
    id
}

fn sled(c: &mut Criterion) {
    let runner = ActixRunner::new();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let sled = SledStore::open(dir.path()).expect("opening sled");
    let id = runner.block_on(saved_profile(&sled));
    let visit = one_visit();

    let mut group = c.benchmark_group("stores");
    group.bench_function("sled load", |b| {
        b.to_async(&runner).iter(|| sled.load(&id));
    });
    group.bench_function("sled merge-save", |b| {
        b.to_async(&runner).iter(|| sled.update(&id, &visit));
    });
    group.finish();
}

fn moka(c: &mut Criterion) {
    let runner = ActixRunner::new();
    let moka = MokaStore::new(10_000);
    let id = runner.block_on(saved_profile(&moka));

    let mut group = c.benchmark_group("stores");
    group.bench_function("moka hit", |b| {
        b.to_async(&runner).iter(|| moka.load(&id));
    });
    group.finish();
}

fn cached(c: &mut Criterion) {
    let runner = ActixRunner::new();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let sled = SledStore::open(dir.path()).expect("opening sled");
    let cached = CachedStore::new(MokaStore::new(10_000), sled.clone());
    let id = runner.block_on(saved_profile(&cached));
    let pool: Vec<SessionId> = runner.block_on(async {
        let mut pool = Vec::with_capacity(MISS_POOL);
        for _ in 0..MISS_POOL {
            pool.push(saved_profile(&sled).await);
        }
        pool
    });

    let mut group = c.benchmark_group("stores");
    group.bench_function("cached hit", |b| {
        b.to_async(&runner).iter(|| cached.load(&id));
    });
    group.bench_function("cached miss", |b| {
        b.to_async(&runner)
            .iter_custom(|iters| cached_misses(&sled, &pool, iters));
    });
    group.finish();
}

/// Times `iters` loads through a moka cache in front of `sled`, each of a session that sled holds
/// and the cache has never seen. Making and dropping the caches is not timed.
async fn cached_misses(sled: &SledStore, pool: &[SessionId], iters: u64) -> Duration {
    let mut elapsed = Duration::ZERO;
    let mut left = usize::try_from(iters).unwrap_or(usize::MAX);
    while left > 0 {
        let ids = &pool[..left.min(pool.len())];
        let cached = CachedStore::new(MokaStore::new(MISS_POOL as u64), sled.clone());
        let start = Instant::now();
        for id in ids {
            let loaded = cached.load(id).await.expect("loading through the cache");
            black_box(loaded.expect("sled holds every session of the pool"));
        }
        elapsed += start.elapsed();
        left -= ids.len();
    }
    elapsed
}

criterion_group! {
    name = benches;
    config = runner::criterion();
    targets = sled, moka, cached
}
criterion_main!(benches);
