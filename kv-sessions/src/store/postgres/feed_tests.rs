//! The invalidation feed on a real server: what the writes announce, what a cache in another
//! instance hears, and what happens when the listening connection is killed.
//!
//! Like the store's other tests, these read the server's URL from `KV_SESSIONS_POSTGRES_URL` and
//! skip, saying so on stderr, where it is unset. Each works in a table of its own, under an
//! application name of its own, so that killing one test's listener leaves the others alone.

use std::future::poll_fn;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio_postgres::{AsyncMessage, Client, NoTls};

use super::tests::{server, stored, writing};
use super::{PostgresStore, PostgresStoreBuilder};
use crate::changes::{Changes, Saved, SessionPolicy};
use crate::id::SessionId;
use crate::owner::SessionOwner;
use crate::store::boxed::BoxFuture;
use crate::store::{CachedStore, Invalidation, MokaStore, SessionCache, SessionStore, Subscriber};

/// How long a test waits for a notice before deciding none is coming.
const PATIENCE: Duration = Duration::from_secs(2);

/// A migrated table of its own, and the settings of stores on it.
struct Scratch {
    runtime: Runtime,
    url: String,
    table: String,
    /// The application name of this test's connections, unique to it.
    app: String,
}

impl Scratch {
    /// A migrated table, or `None` where no server is configured.
    fn new(test: &str) -> Option<Self> {
        let (url, runtime) = server(test)?;
        let unique = &SessionId::generate().to_string()[..16];
        let scratch = Self {
            runtime,
            url,
            table: format!("kv_feed_{unique}"),
            app: format!("kv_feed_{unique}"),
        };
        scratch
            .run(scratch.settings("migrate").migrate_up())
            .expect("migrate up");
        Some(scratch)
    }

    fn run<T>(&self, work: impl Future<Output = T>) -> T {
        self.runtime.block_on(work)
    }

    /// Settings for a store on the table, whose connections call themselves `<app>_<role>`
    /// (and the listener `<app>_<role> listener`).
    fn settings(&self, role: &str) -> PostgresStoreBuilder {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        let url = format!(
            "{}{separator}application_name={}_{role}",
            self.url, self.app
        );
        PostgresStore::builder(url)
            .table(&self.table)
            .sweep_every(None)
    }

    /// A store with the default settings, its connections named for `role`.
    fn store(&self, role: &str) -> PostgresStore {
        self.run(self.settings(role).build()).expect("build")
    }

    /// A plain connection, listening on the table's channel, and the payloads it hears.
    fn eavesdrop(&self) -> (Client, UnboundedReceiver<String>) {
        self.run(async {
            let (client, mut connection) = tokio_postgres::connect(&self.url, NoTls)
                .await
                .expect("connect");
            let (sender, heard) = unbounded_channel();
            tokio::spawn(async move {
                while let Some(Ok(message)) = poll_fn(|cx| connection.poll_message(cx)).await {
                    if let AsyncMessage::Notification(notification) = message {
                        let _ = sender.send(notification.payload().to_owned());
                    }
                }
            });
            let channel = format!("{}_invalidations", self.table);
            client
                .batch_execute(&format!("LISTEN \"{channel}\""))
                .await
                .expect("listen");
            (client, heard)
        })
    }

    /// Polls `condition` every few milliseconds for up to `within`, running the stores' tasks
    /// in between; how long it took to hold.
    fn until(&self, within: Duration, mut condition: impl FnMut() -> bool) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < within {
            if condition() {
                return Some(start.elapsed());
            }
            self.run(async { tokio::time::sleep(Duration::from_millis(2)).await });
        }
        None
    }

    /// Runs `sql` on a connection of its own.
    fn execute(&self, sql: &str) -> u64 {
        self.run(async {
            let (client, connection) = tokio_postgres::connect(&self.url, NoTls)
                .await
                .expect("connect");
            tokio::spawn(connection);
            client.execute(sql, &[]).await.expect("execute")
        })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let dropped = self.run(self.settings("migrate").migrate_down());
        dropped.expect("migrate down");
    }
}

/// A subscriber that reports each notice it hears, with the moment it heard it.
struct Recorder(UnboundedSender<(Instant, Invalidation)>);

impl Subscriber for Recorder {
    fn hear<'a>(&'a self, invalidation: &'a Invalidation) -> BoxFuture<'a, ()> {
        let _ = self.0.send((Instant::now(), *invalidation));
        Box::pin(async {})
    }
}

/// Subscribes a recorder to `store`'s feed, after any cache subscribed before it: once the
/// recorder hears a notice, those caches have heard it. Keep the first half alive.
fn record(store: &PostgresStore) -> (Arc<Recorder>, UnboundedReceiver<(Instant, Invalidation)>) {
    let (sender, heard) = unbounded_channel();
    let recorder = Arc::new(Recorder(sender));
    let subscriber: Weak<dyn Subscriber> = Arc::downgrade(&recorder) as Weak<dyn Subscriber>;
    store.invalidations().expect("a feed").subscribe(subscriber);
    (recorder, heard)
}

/// The next notice in `heard`, within [`PATIENCE`].
async fn next(heard: &mut UnboundedReceiver<(Instant, Invalidation)>) -> (Instant, Invalidation) {
    tokio::time::timeout(PATIENCE, heard.recv())
        .await
        .expect("a notice in time")
        .expect("the recorder lives")
}

/// Every payload `heard` receives up to and including `last`, within [`PATIENCE`].
async fn payloads_until(heard: &mut UnboundedReceiver<String>, last: &str) -> Vec<String> {
    let mut payloads = Vec::new();
    while payloads.last().map(String::as_str) != Some(last) {
        let payload = tokio::time::timeout(PATIENCE, heard.recv())
            .await
            .expect("the sentinel in time")
            .expect("the connection lives");
        payloads.push(payload);
    }
    payloads
}

#[test]
fn a_cache_over_another_store_hears_updates_renewals_and_deletes() {
    let Some(scratch) = Scratch::new("a_cache_over_another_store_hears_writes") else {
        return;
    };
    let (writer, reader) = (scratch.store("x"), scratch.store("y"));
    let cached = CachedStore::new(MokaStore::new(100), reader.clone());
    let (_recorder, mut heard) = record(&reader);
    scratch.run(async {
        let id = SessionId::generate();
        stored(
            writer
                .create(&id, &writing(&["a"], "1"))
                .await
                .expect("create"),
        );
        assert_eq!(
            cached
                .load(&id)
                .await
                .expect("load")
                .expect("live")
                .version(),
            1
        );

        stored(
            writer
                .update(&id, &writing(&["a"], "2"))
                .await
                .expect("update"),
        );
        assert_eq!(
            next(&mut heard).await.1,
            Invalidation::saved(id.digest(), 2)
        );
        assert_eq!(
            cached.cache().get(&id).await,
            None,
            "the older copy is dropped"
        );
        let reloaded = cached.load(&id).await.expect("load").expect("live");
        assert_eq!(reloaded.get("a"), Some("2"));

        let new = SessionId::generate();
        stored(
            writer
                .renew(&id, &new, &Changes::new(SessionPolicy::default()))
                .await
                .expect("renew"),
        );
        assert_eq!(next(&mut heard).await.1, Invalidation::removed(id.digest()));
        assert_eq!(
            cached.cache().get(&id).await,
            None,
            "the old id is forgotten"
        );

        cached.load(&new).await.expect("load").expect("live");
        writer
            .delete(&new)
            .await
            .expect("delete")
            .expect("was live");
        assert_eq!(
            next(&mut heard).await.1,
            Invalidation::removed(new.digest())
        );
        assert_eq!(
            cached.cache().get(&new).await,
            None,
            "the deleted session is forgotten"
        );
    });
}

#[test]
fn a_cache_keeps_its_own_newer_copy_when_it_hears_its_own_write() {
    let Some(scratch) = Scratch::new("a_cache_keeps_its_own_newer_copy") else {
        return;
    };
    let store = scratch.store("x");
    let cached = CachedStore::new(MokaStore::new(100), store.clone());
    let (_recorder, mut heard) = record(&store);
    scratch.run(async {
        let id = SessionId::generate();
        stored(
            cached
                .create(&id, &writing(&["a"], "1"))
                .await
                .expect("create"),
        );
        let saved = stored(
            cached
                .update(&id, &writing(&["a"], "2"))
                .await
                .expect("update"),
        );
        assert_eq!(
            next(&mut heard).await.1,
            Invalidation::saved(id.digest(), 2)
        );
        let kept = cached.cache().get(&id).await.expect("still cached");
        assert_eq!(kept, saved);
    });
}

#[test]
fn writes_that_write_nothing_notify_no_one() {
    let Some(scratch) = Scratch::new("writes_that_write_nothing_notify_no_one") else {
        return;
    };
    let (store, quiet) = (
        scratch.store("x"),
        scratch
            .run(scratch.settings("q").invalidation_feed(false).build())
            .expect("build"),
    );
    assert!(quiet.invalidations().is_none());
    assert!(
        format!("{quiet:?}").contains("invalidation_feed: false"),
        "{quiet:?}"
    );
    assert!(
        format!("{store:?}").contains("invalidation_feed: true"),
        "{store:?}"
    );
    let (_client, mut heard) = scratch.eavesdrop();
    let id = SessionId::generate();
    let payloads = scratch.run(async {
        let loaded = stored(
            store
                .create(&id, &writing(&["a"], "1"))
                .await
                .expect("create"),
        );
        stored(
            store
                .update(&id, &writing(&["b"], "2"))
                .await
                .expect("update"),
        );
        // Merged against version 1, refused by the table at version 2, merged again and written.
        let retried = stored(
            store
                .update_from(&loaded, &writing(&["c"], "3"))
                .await
                .expect("retry"),
        );
        assert_eq!(retried.version(), 3);
        let gone = SessionId::generate();
        assert_eq!(
            store
                .update(&gone, &writing(&["a"], "1"))
                .await
                .expect("gone"),
            Saved::Gone
        );
        assert_eq!(store.delete(&gone).await.expect("delete nothing"), None);
        let mut too_large = Changes::new(SessionPolicy::default().with_max_size(8));
        too_large.set("big", "\"0123456789\"");
        let refused = store.update(&id, &too_large).await.expect("too large");
        assert!(matches!(refused, Saved::TooLarge(_)), "{refused:?}");
        stored(
            quiet
                .update(&id, &writing(&["d"], "4"))
                .await
                .expect("update without a feed"),
        );
        store.delete(&id).await.expect("delete").expect("was live");
        payloads_until(&mut heard, &format!("{} -", id.digest())).await
    });
    let d = id.digest();
    assert_eq!(
        payloads,
        [format!("{d} 2"), format!("{d} 3"), format!("{d} -")]
    );
}

#[test]
fn a_rolled_back_write_notifies_no_one() {
    let Some(scratch) = Scratch::new("a_rolled_back_write_notifies_no_one") else {
        return;
    };
    let store = scratch.store("x");
    let (_client, mut heard) = scratch.eavesdrop();
    let payloads = scratch.run(async {
        let id = SessionId::generate();
        stored(
            store
                .create(&id, &writing(&["a"], "1"))
                .await
                .expect("create"),
        );
        let mut client = store.table.pool.get().await.expect("a connection");
        let transaction = client.transaction().await.expect("begin");
        let delete = &store.table.statements.delete;
        let key = super::columns::key(&id);
        let removed = transaction
            .query(delete.as_str(), &[&key, &0i64])
            .await
            .expect("delete");
        assert_eq!(removed.len(), 1, "the row was deleted in the transaction");
        transaction.rollback().await.expect("rollback");
        drop(client);
        store
            .delete(&id)
            .await
            .expect("delete")
            .expect("still live");
        payloads_until(&mut heard, &format!("{} -", id.digest())).await
    });
    assert_eq!(payloads.len(), 1, "only the committed delete: {payloads:?}");
}

#[test]
fn a_revoke_is_announced_like_a_delete_and_a_refused_one_not_at_all() {
    let Some(scratch) = Scratch::new("a_revoke_is_announced_like_a_delete") else {
        return;
    };
    let (writer, reader) = (scratch.store("x"), scratch.store("y"));
    let cached = CachedStore::new(MokaStore::new(100), reader.clone());
    let (_recorder, mut recorded) = record(&reader);
    let (_client, mut heard) = scratch.eavesdrop();
    let (id, sentinel) = (SessionId::generate(), SessionId::generate());
    let mut bind = writing(&["a"], "1");
    bind.bind(SessionOwner::new("u"));
    let refused = scratch.run(async {
        stored(writer.create(&id, &bind).await.expect("create"));
        stored(writer.create(&sentinel, &bind).await.expect("create"));
        cached.load(&id).await.expect("load").expect("live");
        let refused = writer.revoke("v", id.digest()).await.expect("revoke");
        assert!(!refused, "bound to another user");
        writer
            .delete(&sentinel)
            .await
            .expect("delete")
            .expect("was live");
        payloads_until(&mut heard, &format!("{} -", sentinel.digest())).await
    });
    assert_eq!(
        refused,
        [format!("{} -", sentinel.digest())],
        "nothing else"
    );
    scratch.run(async {
        next(&mut recorded).await;
        assert!(writer.revoke("u", id.digest()).await.expect("revoke"));
        let revoked = payloads_until(&mut heard, &format!("{} -", id.digest())).await;
        assert_eq!(revoked.len(), 1, "{revoked:?}");
        assert_eq!(
            next(&mut recorded).await.1,
            Invalidation::removed(id.digest())
        );
        assert_eq!(
            cached.cache().get(&id).await,
            None,
            "the other instance forgets it"
        );
    });
}

#[test]
fn a_killed_listener_comes_back_and_copies_read_before_are_served_only_within_the_bound() {
    let Some(scratch) = Scratch::new("a_killed_listener_comes_back") else {
        return;
    };
    let bound = Duration::from_millis(400);
    let reader = scratch
        .run(scratch.settings("y").max_staleness(bound).build())
        .expect("build");
    let feed = reader.invalidations().expect("a feed");
    let cached = CachedStore::new(MokaStore::new(100), reader.clone());
    let writer = scratch.store("x");
    let table = format!("\"{}\"", scratch.table);
    let id = SessionId::generate();
    let set_version = |version: u64| {
        // A write no store makes, so that no notice tells the cache of it.
        let sql = format!(
            "UPDATE {table} SET version = {version} WHERE id = '\\x{}'",
            id.digest()
        );
        assert_eq!(scratch.execute(&sql), 1);
    };
    let cached_version = || {
        scratch.run(async {
            cached
                .load(&id)
                .await
                .expect("load")
                .expect("live")
                .version()
        })
    };
    scratch
        .run(writer.create(&id, &writing(&["a"], "1")))
        .expect("create");
    assert_eq!(cached_version(), 1);
    set_version(2);
    assert_eq!(cached_version(), 1, "a listening feed vouches for the copy");

    let read_before_the_loss = Instant::now();
    let killed = scratch.execute(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{}_y listener'",
        scratch.app
    ));
    assert_eq!(killed, 1, "one listener to kill");
    let lost = scratch.until(PATIENCE, || !feed.is_listening());
    assert!(lost.is_some(), "the feed noticed the loss");
    let back = scratch.until(PATIENCE, || feed.is_listening());
    let back = back.expect("the feed listens again within 2 s");
    eprintln!("the listener was back {back:?} after the loss was noticed");

    let rest = bound.saturating_sub(read_before_the_loss.elapsed());
    scratch.run(async { tokio::time::sleep(rest).await });
    assert_eq!(
        cached_version(),
        2,
        "the copy read before the loss is read again"
    );
    set_version(3);
    assert_eq!(
        cached_version(),
        2,
        "a copy read after the recovery is vouched for"
    );
    stored(
        scratch
            .run(writer.update(&id, &writing(&["b"], "2")))
            .expect("update"),
    );
    let heard = scratch.until(PATIENCE, || cached_version() == 4);
    assert!(heard.is_some(), "the recovered feed carries notices");
}

#[test]
fn the_listener_stops_with_the_last_clone_of_the_store() {
    let Some(scratch) = Scratch::new("the_listener_stops_with_the_last_clone") else {
        return;
    };
    let store = scratch.store("x");
    let task = store.listener.as_ref().expect("a listener").task();
    let clone = store.clone();
    drop(store);
    assert!(!task.is_finished(), "a clone still holds it");
    drop(clone);
    let stopped = scratch.until(PATIENCE, || task.is_finished());
    assert!(stopped.is_some(), "the listener stopped");
    let listening = format!(
        "SELECT pid FROM pg_stat_activity WHERE application_name = '{}_x listener'",
        scratch.app
    );
    let closed = scratch.until(PATIENCE, || scratch.execute(&listening) == 0);
    assert!(closed.is_some(), "its connection closed");
}

#[test]
fn another_instance_hears_a_write_within_milliseconds() {
    let Some(scratch) = Scratch::new("another_instance_hears_a_write_within_milliseconds") else {
        return;
    };
    let (writer, reader) = (scratch.store("x"), scratch.store("y"));
    let (_recorder, mut heard) = record(&reader);
    const TRIALS: usize = 50;
    let mut latencies = scratch.run(async {
        let mut latencies = Vec::with_capacity(TRIALS);
        for trial in 0..TRIALS {
            let id = SessionId::generate();
            stored(
                writer
                    .create(&id, &writing(&["a"], "1"))
                    .await
                    .expect("create"),
            );
            let sent = Instant::now();
            if trial % 2 == 0 {
                stored(
                    writer
                        .update(&id, &writing(&["a"], "2"))
                        .await
                        .expect("update"),
                );
            } else {
                writer.delete(&id).await.expect("delete");
            }
            let (at, notice) = next(&mut heard).await;
            assert_eq!(notice.digest(), id.digest());
            latencies.push(at.saturating_duration_since(sent));
        }
        latencies
    });
    latencies.sort();
    let (median, p99) = (latencies[TRIALS / 2], latencies[TRIALS * 99 / 100]);
    eprintln!("write to heard over {TRIALS} trials: median {median:?}, p99 {p99:?}");
    assert!(p99 < Duration::from_millis(500), "p99 {p99:?}");
}

/// Updates `sessions` through `store`, `per_session` times each, all sessions at once; how long
/// it took.
async fn updates(store: &PostgresStore, sessions: &[SessionId], per_session: usize) -> Duration {
    let start = Instant::now();
    let tasks: Vec<_> = sessions
        .iter()
        .map(|id| {
            let (store, id) = (store.clone(), *id);
            tokio::spawn(async move {
                let mut latest = store.load(&id).await.expect("load").expect("live");
                for n in 0..per_session {
                    let changes = writing(&["n"], &n.to_string());
                    latest = stored(store.update_from(&latest, &changes).await.expect("update"));
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("join");
    }
    start.elapsed()
}

#[test]
fn writes_commit_asynchronously_unless_synchronous_commits_are_asked_for() {
    let Some(scratch) = Scratch::new("writes_commit_asynchronously_unless_asked") else {
        return;
    };
    let setting = |store: &PostgresStore| {
        scratch.run(async {
            let connection = store.table.pool.get().await.expect("a pooled connection");
            let row = connection
                .query_one("SHOW synchronous_commit", &[])
                .await
                .expect("show");
            row.get::<_, String>(0)
        })
    };
    assert_eq!(setting(&scratch.store("default")), "off");
    let durable = scratch
        .run(scratch.settings("durable").synchronous_commit(true).build())
        .expect("build");
    assert_ne!(setting(&durable), "off");
}

#[test]
#[ignore = "a measurement, not a check: run with --ignored --nocapture"]
fn update_throughput_with_the_feed_on_and_off() {
    let Some(scratch) = Scratch::new("update_throughput_with_the_feed_on_and_off") else {
        return;
    };
    let notifying = scratch.store("on");
    let quiet = scratch
        .run(scratch.settings("off").invalidation_feed(false).build())
        .expect("build");
    for concurrent in [1, 8] {
        let ratio = scratch.run(median_cost_ratio(&notifying, &quiet, concurrent));
        eprintln!(
            "{concurrent} session(s) updated at once: median time with the feed on / off = \
             {ratio:.3}"
        );
    }
}

/// The median, over interleaved rounds, of the time `concurrent` sessions take to be updated
/// through `notifying` over the time they take through `quiet`.
async fn median_cost_ratio(
    notifying: &PostgresStore,
    quiet: &PostgresStore,
    concurrent: usize,
) -> f64 {
    const ROUNDS: usize = 15;
    const PER_SESSION: usize = 50;
    let sessions: Vec<SessionId> = (0..concurrent).map(|_| SessionId::generate()).collect();
    for id in &sessions {
        stored(
            quiet
                .create(id, &writing(&["n"], "0"))
                .await
                .expect("create"),
        );
    }
    // One round of each first, so that every connection is open and has prepared its
    // statements before anything is timed.
    updates(notifying, &sessions, PER_SESSION).await;
    updates(quiet, &sessions, PER_SESSION).await;
    let writes = (concurrent * PER_SESSION) as f64;
    let mut ratios = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        // Each pair in alternating order, so that drift in the machine's load falls on both
        // sides alike.
        let (on, off) = if round % 2 == 0 {
            let on = updates(notifying, &sessions, PER_SESSION).await;
            (on, updates(quiet, &sessions, PER_SESSION).await)
        } else {
            let off = updates(quiet, &sessions, PER_SESSION).await;
            (updates(notifying, &sessions, PER_SESSION).await, off)
        };
        eprintln!(
            "{concurrent} at once, round {round}: feed on {:.0} updates/s, off {:.0} updates/s",
            writes / on.as_secs_f64(),
            writes / off.as_secs_f64()
        );
        ratios.push(on.as_secs_f64() / off.as_secs_f64());
    }
    ratios.sort_by(f64::total_cmp);
    ratios[ROUNDS / 2]
}
