//! A session store churns: sessions are created and expire all day. This creates and expires
//! 250,000 sessions in rounds, beside a set of live sessions that keep being updated, sweeping
//! between rounds, and checks that the sled directory stops growing.

use std::time::{Duration, SystemTime};

use kv_sessions::{Changes, Expiry, Saved, SessionId, SessionPolicy, SessionStore, SledStore};

const ROUNDS: usize = 10;
/// Sessions created per round that have expired by the sweep.
const EXPIRED_PER_ROUND: usize = 25_000;
/// Sessions that stay live and are updated every round.
const LIVE: usize = 10_000;
/// Saves in flight at once.
const CONCURRENCY: usize = 64;

fn changes(expires_at: SystemTime, round: usize) -> Changes {
    let mut changes = Changes::new(SessionPolicy::new(Expiry::AtDateTime(expires_at)));
    changes
        .set("user", format!("\"user-{round:08}\""))
        .set("cart.items", "[1,2,3,4,5,6,7,8]");
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

#[actix_rt::test]
async fn the_directory_stops_growing_under_churn() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SledStore::builder(dir.path())
        .sweep_every(None)
        .open()
        .expect("open");
    let live: Vec<_> = (0..LIVE).map(|_| SessionId::generate()).collect();
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

    let mib: Vec<String> = sizes
        .iter()
        .map(|bytes| format!("{:.1}", *bytes as f64 / 1_048_576.0))
        .collect();
    eprintln!(
        "sled directory after each round of {EXPIRED_PER_ROUND} expired and {LIVE} live sessions, MiB: {}",
        mib.join(", ")
    );
    // Without reclamation every round would add its 25,000 records (over 2 MiB each round);
    // with it, the late rounds stay near the early ones.
    let early = sizes[..ROUNDS / 2].iter().max().expect("rounds");
    let late = sizes[ROUNDS / 2..].iter().max().expect("rounds");
    assert!(
        *late <= early + early / 2,
        "the directory kept growing: {} MiB",
        mib.join(", ")
    );
}
