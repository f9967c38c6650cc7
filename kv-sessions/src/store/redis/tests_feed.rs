//! The invalidation feed against a real Redis: what the write scripts publish, what the cache of
//! another instance hears, and how the listener survives being killed from outside. Each test
//! works under a key prefix of its own, so it hears only its own notices.

use std::future::Future;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;

use super::listener::connection_name;
use super::tests::{Scratch, bound, created, setting, stored};
use super::*;
use crate::store::{CachedStore, MokaStore, SessionCache};

/// How long a test waits for a notice, or for the listener to come back, before it fails.
pub(super) const PATIENCE: Duration = Duration::from_secs(2);

/// A cache in front of a store, as one app instance has it.
pub(super) type Instance = CachedStore<MokaStore, RedisStore>;

impl Scratch {
    /// Settings for another store over the same Redis and key prefix: another app instance.
    pub(super) fn another(&self) -> RedisStoreBuilder {
        RedisStore::builder(self.url.as_str()).key_prefix(self.prefix.as_str())
    }

    /// Another app instance, with a cache in front of its store.
    pub(super) async fn instance(&self) -> Instance {
        let store = self.another().build().await.expect("connect");
        CachedStore::new(MokaStore::new(100), store)
    }

    /// The channel the stores of this scratch prefix publish on.
    fn channel(&self) -> String {
        format!("{}invalidations", self.prefix)
    }

    /// Kills every connection that listens on this prefix's channel, as an operator would, and
    /// returns how many there were.
    async fn kill_listeners(&mut self) -> usize {
        self.kill_listeners_on(&self.channel()).await
    }

    /// Kills every connection that listens on `channel`, as an operator would, and returns how
    /// many there were.
    pub(super) async fn kill_listeners_on(&mut self, channel: &str) -> usize {
        let clients: String = redis::cmd("CLIENT")
            .arg("LIST")
            .arg("TYPE")
            .arg("pubsub")
            .query_async(&mut self.raw)
            .await
            .expect("CLIENT LIST");
        let name = format!("name={}", connection_name(channel));
        let ids: Vec<&str> = clients
            .lines()
            .filter(|client| client.split(' ').any(|field| field == name))
            .filter_map(|client| client.split(' ').find_map(|f| f.strip_prefix("id=")))
            .collect();
        for id in &ids {
            let () = redis::cmd("CLIENT")
                .arg("KILL")
                .arg("ID")
                .arg(*id)
                .query_async(&mut self.raw)
                .await
                .expect("CLIENT KILL");
        }
        ids.len()
    }
}

/// The version of the copy of `id` that `instance` has cached, if any.
pub(super) async fn cached_version(instance: &Instance, id: &SessionId) -> Option<u64> {
    instance.cache().get(id).await.map(|copy| copy.version())
}

/// Loads `id` through `instance`, which caches it, and returns it.
pub(super) async fn load(instance: &Instance, id: &SessionId) -> Record {
    let record = instance.load(id).await.expect("load").expect("a session");
    assert_eq!(cached_version(instance, id).await, Some(record.version()));
    record
}

/// How long `holds` took to come true, or `None` where it did not within [`PATIENCE`]. It
/// yields between looks, so that the listener's task runs.
pub(super) async fn within<F: Future<Output = bool>>(
    mut holds: impl FnMut() -> F,
) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < PATIENCE {
        if holds().await {
            return Some(started.elapsed());
        }
        tokio::task::yield_now().await;
    }
    None
}

/// How long `instance` took to forget its copy of `id`, or `None` where it kept it.
pub(super) async fn forgotten(instance: &Instance, id: &SessionId) -> Option<Duration> {
    within(|| async { cached_version(instance, id).await.is_none() }).await
}

#[actix_rt::test]
async fn writes_through_one_instance_drop_the_copies_another_instance_cached() {
    let Some(scratch) = Scratch::open("writes_through_one_instance_drop_the_copies").await else {
        return;
    };
    let other = scratch.instance().await;
    writes_drop_the_copies_of(&scratch.store, &other).await;
}

/// Checks that an update, a renewal and a delete made through `writer` each make `other` forget
/// the copy it cached.
pub(super) async fn writes_drop_the_copies_of(writer: &RedisStore, other: &Instance) {
    let (id, _) = created(writer, &[("a", "1")]).await;

    load(other, &id).await;
    let updated = stored(
        writer
            .update(&id, &setting(&[("a", "2")]))
            .await
            .expect("update"),
    );
    assert!(
        forgotten(other, &id).await.is_some(),
        "the update went unheard"
    );
    let reloaded = load(other, &id).await;
    assert_eq!(reloaded.version(), updated.version());
    assert_eq!(reloaded.get("a"), Some("2"));

    let renewed = SessionId::generate();
    stored(
        writer
            .renew(&id, &renewed, &setting(&[]))
            .await
            .expect("renew"),
    );
    assert!(
        forgotten(other, &id).await.is_some(),
        "the renewal went unheard"
    );
    assert_eq!(other.load(&id).await.expect("load"), None);

    load(other, &renewed).await;
    writer.delete(&renewed).await.expect("delete");
    assert!(
        forgotten(other, &renewed).await.is_some(),
        "the delete went unheard"
    );
    assert_eq!(other.load(&renewed).await.expect("load"), None);
}

#[actix_rt::test]
async fn revocations_through_one_instance_drop_the_copies_another_instance_cached() {
    let Some(scratch) = Scratch::open("revocations_through_one_instance_drop_the_copies").await
    else {
        return;
    };
    let other = scratch.instance().await;
    revocations_drop_the_copies_of(&scratch.store, &other).await;
}

/// Checks that a revoke and a revoke-all made through `writer` each make `other` forget the
/// copies it cached of the revoked sessions, and only those.
pub(super) async fn revocations_drop_the_copies_of(writer: &RedisStore, other: &Instance) {
    let [(one, _), (two, _), (three, _), (kept, _)] = [
        bound(writer, "ana").await,
        bound(writer, "ana").await,
        bound(writer, "ana").await,
        bound(writer, "ana").await,
    ];
    for id in [&one, &two, &three, &kept] {
        load(other, id).await;
    }
    assert!(writer.revoke("ana", one.digest()).await.expect("revoke"));
    assert!(
        forgotten(other, &one).await.is_some(),
        "the revocation went unheard"
    );
    let revoked = writer
        .revoke_all("ana", Some(kept.digest()))
        .await
        .expect("revoke_all");
    assert_eq!(revoked.len(), 2);
    for id in [&two, &three] {
        assert!(
            forgotten(other, id).await.is_some(),
            "a revocation of revoke_all went unheard"
        );
        assert_eq!(other.load(id).await.expect("load"), None);
    }
    assert!(
        cached_version(other, &kept).await.is_some(),
        "the spared session was forgotten"
    );
}

#[actix_rt::test]
async fn an_instance_keeps_its_own_newer_copy_when_it_hears_its_own_write() {
    let Some(scratch) = Scratch::open("an_instance_keeps_its_own_newer_copy").await else {
        return;
    };
    let instance = scratch.instance().await;
    keeps_its_own_newer_copy(&scratch.store, &instance).await;
}

/// Checks that `instance`, saving a session, keeps the copy it saved when it hears its own
/// write; `writer` writes a marker that shows the notice has come.
pub(super) async fn keeps_its_own_newer_copy(writer: &RedisStore, instance: &Instance) {
    let (id, _) = created(writer, &[("a", "1")]).await;
    let (marker, _) = created(writer, &[("m", "1")]).await;

    let loaded = load(instance, &id).await;
    let saved = stored(
        instance
            .update_from(&loaded, &setting(&[("a", "2")]))
            .await
            .expect("update"),
    );
    // The instance hears its own write (in targeted mode, as a watcher of the session). Redis
    // sends the notices of one channel in order, and the instance hears the marker on the same
    // channel, so once the notice of the later write to the marker has been heard, so has that
    // one.
    load(instance, &marker).await;
    stored(
        writer
            .update(&marker, &setting(&[("m", "2")]))
            .await
            .expect("update"),
    );
    assert!(
        forgotten(instance, &marker).await.is_some(),
        "the marker went unheard"
    );
    assert_eq!(
        cached_version(instance, &id).await,
        Some(saved.version()),
        "the notice of the instance's own write evicted the copy it had just saved"
    );
}

#[actix_rt::test]
async fn a_script_that_writes_nothing_publishes_nothing() {
    let Some(mut scratch) = Scratch::open("a_script_that_writes_nothing_publishes_nothing").await
    else {
        return;
    };
    let client = redis::Client::open(scratch.url.as_str()).expect("URL");
    let mut subscribed = client.get_async_pubsub().await.expect("connect");
    subscribed
        .subscribe(scratch.channel())
        .await
        .expect("SUBSCRIBE");
    let mut heard = subscribed.into_on_message();
    let store = scratch.store.clone();

    let (id, first) = created(&store, &[("a", "1")]).await;
    let (deleted, copy) = created(&store, &[("a", "1")]).await;
    let key = scratch.key(&deleted);
    let () = redis::AsyncCommands::del(&mut scratch.raw, key)
        .await
        .expect("DEL");
    let gone = store.update_from(&copy, &setting(&[("a", "2")])).await;
    assert!(matches!(gone, Ok(Saved::Gone)), "{gone:?}");
    let (taken, _) = created(&store, &[("b", "1")]).await;
    let in_use = store.renew(&id, &taken, &setting(&[])).await;
    assert!(in_use.is_err(), "{in_use:?}");
    let second = stored(
        store
            .update(&id, &setting(&[("a", "2")]))
            .await
            .expect("update"),
    );
    // Merged against the first copy, now stale: the first try writes nothing, the second writes.
    let third = stored(
        store
            .update_from(&first, &setting(&[("c", "3")]))
            .await
            .expect("update"),
    );
    let (bobs, _) = bound(&store, "bob").await;
    assert!(!store.revoke("ana", bobs.digest()).await.expect("revoke"));
    assert!(!store.revoke("ana", id.digest()).await.expect("revoke"));
    assert_eq!(store.revoke_all("ana", None).await.expect("revoke_all"), []);
    let end = SessionId::generate();
    store.delete(&end).await.expect("delete");

    let mut notices = Vec::new();
    while notices.last() != Some(&Invalidation::removed(end.digest())) {
        let message = tokio::time::timeout(PATIENCE, heard.next())
            .await
            .expect("the delete at the end went unheard")
            .expect("a message");
        let text = std::str::from_utf8(message.get_payload_bytes()).expect("text");
        notices.push(text.parse::<Invalidation>().expect("a notice"));
    }
    assert_eq!(
        notices,
        [
            Invalidation::saved(id.digest(), second.version()),
            Invalidation::saved(id.digest(), third.version()),
            Invalidation::removed(end.digest()),
        ]
    );
}

#[actix_rt::test]
async fn a_killed_listener_comes_back_and_copies_read_before_are_not_served_past_the_bound() {
    let Some(mut scratch) = Scratch::open("a_killed_listener_comes_back").await else {
        return;
    };
    let bound = Duration::from_millis(400);
    let store = scratch
        .another()
        .max_staleness(bound)
        .build()
        .await
        .expect("connect");
    let feed = store.invalidations().expect("the feed is on by default");
    let instance = CachedStore::new(MokaStore::new(100), store);
    // A writer that announces nothing stands for the notices lost while the listener is down.
    let silent = scratch
        .another()
        .invalidation_feed(false)
        .build()
        .await
        .expect("connect");
    let (id, _) = created(&scratch.store, &[("a", "1")]).await;
    let cached = load(&instance, &id).await;
    stored(
        silent
            .update(&id, &setting(&[("a", "2")]))
            .await
            .expect("update"),
    );
    tokio::time::sleep(bound + Duration::from_millis(100)).await;
    assert_eq!(
        load(&instance, &id).await.version(),
        cached.version(),
        "while the feed listens, no notice means the copy is current"
    );

    assert!(scratch.kill_listeners().await >= 1, "no listener to kill");
    let lost = within(|| async { !feed.is_listening() }).await;
    let back = within(|| async { feed.is_listening() }).await;
    eprintln!("listener killed: noticed after {lost:?}, listening again after a further {back:?}");
    assert!(lost.is_some(), "the feed did not notice the loss");
    assert!(back.is_some(), "the feed was not back within {PATIENCE:?}");
    let served = instance.load(&id).await.expect("load").expect("a session");
    assert_eq!(
        served.get("a"),
        Some("2"),
        "a copy read before the loss was served past the bound"
    );
}

#[actix_rt::test]
async fn another_instance_hears_a_write_within_milliseconds() {
    let Some(scratch) = Scratch::open("another_instance_hears_a_write_within_milliseconds").await
    else {
        return;
    };
    let other = scratch.instance().await;
    hears_writes_within_milliseconds(&scratch.store, &other, "broadcast").await;
}

/// Times, over 50 trials, how long `other` takes to forget its copy after `writer` writes, in
/// the invalidation mode named `mode`, and prints the median and the p99.
pub(super) async fn hears_writes_within_milliseconds(
    writer: &RedisStore,
    other: &Instance,
    mode: &str,
) {
    let (id, mut latest) = created(writer, &[("n", "0")]).await;
    let mut heard = Vec::new();
    for trial in 0..50 {
        load(other, &id).await;
        let started = Instant::now();
        let changes = setting(&[("n", &trial.to_string())]);
        latest = stored(writer.update_from(&latest, &changes).await.expect("update"));
        forgotten(other, &id).await.expect("a write went unheard");
        heard.push(started.elapsed());
    }
    heard.sort();
    let median = heard[heard.len() / 2];
    let p99 = heard[heard.len() * 99 / 100];
    eprintln!(
        "{mode}: write to heard over {} trials: median {median:?}, p99 {p99:?}",
        heard.len()
    );
    assert!(p99 < Duration::from_millis(500), "p99 {p99:?}");
}
