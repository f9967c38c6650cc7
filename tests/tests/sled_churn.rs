//! A session store churns: sessions are created and expire all day. This creates and expires
//! 200,000 sessions in 40 rounds, beside a set of live sessions that keep being updated,
//! sweeping between rounds, and checks that the sled directory stays within a fixed multiple of
//! the live data however much has churned through it.
//!
//! sled reclaims the space of deleted records as it rewrites its log segments, so the directory
//! levels off; how soon depends on how much is live. With 10,000 live sessions it was still
//! growing after 10 rounds of 25,000 (a bound relative to the early rounds failed one run in
//! five), and reached 40–48 MiB, about 9× the live data, only after 40 rounds: over two minutes
//! of a debug build. With 2,000 live sessions and 5,000 churned per round it levels off in the
//! first round and stays there: 4.5–8.8 MiB, at most 6.2–8.4× the live data, in seven runs of
//! this test, and no higher over 120 rounds. The whole test takes 20–40 seconds.

use std::time::{Duration, SystemTime};

use kv_sessions::{Changes, Expiry, Saved, SessionId, SessionPolicy, SessionStore, SledStore};

const ROUNDS: usize = 40;
/// Sessions created per round that have expired by the sweep.
const EXPIRED_PER_ROUND: usize = 5_000;
/// Sessions that stay live and are updated every round.
const LIVE: usize = 2_000;
/// Saves in flight at once.
const CONCURRENCY: usize = 64;
/// The most the directory may hold, as a multiple of the live data on disk: the live sessions
/// alone, flushed, before anything churns. The highest figure measured is 8.4: sled keeps a
/// segment or two more for a round now and then.
const MOST_PER_LIVE: u64 = 14;

// Without reclamation every churned session would stay on disk, and the directory would pass the
// bound many times over: the test could not pass by accident.
const _: () = assert!(ROUNDS * EXPIRED_PER_ROUND >= 5 * MOST_PER_LIVE as usize * LIVE);

fn changes(expires_at: SystemTime, round: usize) -> Changes {
    let mut changes = Changes::new(SessionPolicy::new(Expiry::AtDateTime(expires_at)));
    changes
        .insert("user", format!("user-{round:08}"))
        .and_then(|changes| changes.insert("cart.items", [1, 2, 3, 4, 5, 6, 7, 8]))
        .expect("a string and numbers serialize");
    changes
}

/// Saves `changes` to every id, `CONCURRENCY` at a time.
async fn save_all(store: &SledStore, ids: &[SessionId], changes: &Changes) {
    for chunk in ids.chunks(CONCURRENCY) {
        let saves: Vec<_> = chunk
            .iter()
            .map(|id| {
                let (store, id, changes) = (store.clone(), *id, changes.clone());
                actix_rt::spawn(async move {
                    match store.update(&id, &changes).await? {
                        Saved::Gone => store.create(&id, &changes).await,
                        saved => Ok(saved),
                    }
                })
            })
            .collect();
        for save in saves {
            save.await.expect("join").expect("save");
        }
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / 1_048_576.0)
}

#[actix_rt::test]
async fn the_directory_stays_within_a_multiple_of_the_live_data_under_churn() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SledStore::builder(dir.path())
        .sweep_every(None)
        .open()
        .expect("open");
    let live: Vec<_> = (0..LIVE).map(|_| SessionId::generate()).collect();
    let later = SystemTime::now() + Duration::from_secs(3600);
    save_all(&store, &live, &changes(later, 0)).await;
    store.flush().await.expect("flush");
    let live_data = kv_sessions_tests::size_on_disk(dir.path()).expect("size");

    let mut sizes = Vec::new();
    for round in 0..ROUNDS {
        let soon = SystemTime::now() + Duration::from_millis(100);
        let churned: Vec<_> = (0..EXPIRED_PER_ROUND)
            .map(|_| SessionId::generate())
            .collect();
        save_all(&store, &churned, &changes(soon, round)).await;
        let later = SystemTime::now() + Duration::from_secs(3600);
        save_all(&store, &live, &changes(later, round)).await;

        actix_rt::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(
            store.sweep_expired().await.expect("sweep"),
            EXPIRED_PER_ROUND
        );
        store.flush().await.expect("flush");
        assert_eq!(store.len(), LIVE);
        sizes.push(kv_sessions_tests::size_on_disk(dir.path()).expect("size"));
    }

    let largest = *sizes.iter().max().expect("rounds");
    let sizes: Vec<_> = sizes.into_iter().map(mib).collect();
    eprintln!(
        "sled directory with {LIVE} live sessions ({} MiB alone) after each round of \
         {EXPIRED_PER_ROUND} expired ones, MiB: {}; at most {:.1}× the live data",
        mib(live_data),
        sizes.join(", "),
        largest as f64 / live_data as f64,
    );
    assert!(
        largest <= MOST_PER_LIVE * live_data,
        "the directory passed {MOST_PER_LIVE}× the live data ({} MiB): {} MiB",
        mib(live_data),
        sizes.join(", ")
    );
}
