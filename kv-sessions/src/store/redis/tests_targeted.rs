//! Targeted invalidations against a real Redis: a load records the instance among the session's
//! watchers, and a write tells those watchers alone, each on its own channel. Each test works
//! under a key prefix of its own.
use futures_util::StreamExt as _;
use redis::AsyncCommands as _;
use redis::aio::PubSubStream;

use super::tests::{Scratch, created, setting, stored};
use super::tests_feed::{
    Instance, PATIENCE, cached_version, forgotten, hears_writes_within_milliseconds,
    keeps_its_own_newer_copy, load, revocations_drop_the_copies_of, within,
    writes_drop_the_copies_of,
};
use super::*;
use crate::store::{CachedStore, MokaStore};

impl Scratch {
    /// A store over the same Redis and key prefix in targeted mode: another app instance.
    async fn targeted(&self) -> RedisStore {
        self.another()
            .invalidation_mode(InvalidationMode::Targeted)
            .build()
            .await
            .expect("connect")
    }

    /// Another app instance in targeted mode, with a cache in front of its store.
    async fn targeted_instance(&self) -> Instance {
        CachedStore::new(MokaStore::new(100), self.targeted().await)
    }

    /// The instance ids in the watcher set of `id`, sorted.
    async fn watchers(&mut self, id: &SessionId) -> Vec<String> {
        let key = self.store.watchers(id);
        let mut members: Vec<String> = self.raw.smembers(key).await.expect("SMEMBERS");
        members.sort();
        members
    }

    /// The moment, in milliseconds since the Unix epoch, at which Redis deletes `key`.
    async fn deadline(&mut self, key: String) -> i64 {
        redis::cmd("PEXPIRETIME")
            .arg(key)
            .query_async(&mut self.raw)
            .await
            .expect("PEXPIRETIME")
    }

    /// The moments at which Redis deletes the hash of `id` and its watcher set.
    async fn deadlines(&mut self, id: &SessionId) -> (i64, i64) {
        let session = self.deadline(self.store.key(id)).await;
        let watchers = self.deadline(self.store.watchers(id)).await;
        (session, watchers)
    }
}

/// The instance id of `store`, as its watcher sets hold it.
fn instance_id(store: &RedisStore) -> String {
    store.inner.routing.instance().to_owned()
}

/// A plain connection subscribed to the channel on which `store` hears its notices, to watch
/// what is sent to it.
async fn eavesdrop(scratch: &Scratch, store: &RedisStore) -> PubSubStream {
    let client = redis::Client::open(scratch.url.as_str()).expect("URL");
    let mut subscribed = client.get_async_pubsub().await.expect("connect");
    subscribed
        .subscribe(store.inner.routing.listens_on())
        .await
        .expect("SUBSCRIBE");
    subscribed.into_on_message()
}

/// The notices `heard` receives, up to and including `last`.
async fn notices_until(heard: &mut PubSubStream, last: &Invalidation) -> Vec<Invalidation> {
    let mut notices = Vec::new();
    while notices.last() != Some(last) {
        let message = tokio::time::timeout(PATIENCE, heard.next())
            .await
            .unwrap_or_else(|_| panic!("{last} went unheard; heard {notices:?}"))
            .expect("a message");
        let text = std::str::from_utf8(message.get_payload_bytes()).expect("text");
        notices.push(text.parse::<Invalidation>().expect("a notice"));
    }
    notices
}

#[actix_rt::test]
async fn in_targeted_mode_writes_through_one_instance_drop_the_copies_another_instance_cached() {
    let Some(scratch) = Scratch::open("in_targeted_mode_writes_drop_the_copies").await else {
        return;
    };
    let other = scratch.targeted_instance().await;
    writes_drop_the_copies_of(&scratch.targeted().await, &other).await;
}

#[actix_rt::test]
async fn in_targeted_mode_revocations_through_one_instance_drop_the_copies_another_cached() {
    let Some(scratch) = Scratch::open("in_targeted_mode_revocations_drop_the_copies").await else {
        return;
    };
    let other = scratch.targeted_instance().await;
    revocations_drop_the_copies_of(&scratch.targeted().await, &other).await;
}

#[actix_rt::test]
async fn in_targeted_mode_an_instance_keeps_its_own_newer_copy_when_it_hears_its_own_write() {
    let Some(scratch) = Scratch::open("in_targeted_mode_an_instance_keeps_its_own_copy").await
    else {
        return;
    };
    let instance = scratch.targeted_instance().await;
    keeps_its_own_newer_copy(&scratch.targeted().await, &instance).await;
}

#[actix_rt::test]
async fn in_targeted_mode_a_script_that_writes_nothing_publishes_nothing() {
    let Some(mut scratch) = Scratch::open("in_targeted_mode_a_script_that_writes_nothing").await
    else {
        return;
    };
    let store = scratch.targeted().await;
    let watcher = scratch.targeted().await;
    let mut heard = eavesdrop(&scratch, &watcher).await;

    let (id, first) = created(&store, &[("a", "1")]).await;
    let (deleted, copy) = created(&store, &[("a", "1")]).await;
    watcher.load(&id).await.expect("load");
    watcher.load(&deleted).await.expect("load");
    let () = scratch.raw.del(scratch.key(&deleted)).await.expect("DEL");
    let gone = store.update_from(&copy, &setting(&[("a", "2")])).await;
    assert!(matches!(gone, Ok(Saved::Gone)), "{gone:?}");
    let (taken, _) = created(&store, &[("b", "1")]).await;
    let in_use = store.renew(&id, &taken, &setting(&[])).await;
    assert!(in_use.is_err(), "{in_use:?}");
    store.delete(&SessionId::generate()).await.expect("delete");
    let second = stored(
        store
            .update(&id, &setting(&[("a", "2")]))
            .await
            .expect("update"),
    );
    watcher.load(&id).await.expect("load");
    // Merged against the first copy, now stale: the first try writes nothing, the second writes.
    let third = stored(
        store
            .update_from(&first, &setting(&[("c", "3")]))
            .await
            .expect("update"),
    );
    let (end, _) = created(&store, &[("e", "1")]).await;
    watcher.load(&end).await.expect("load");
    store.delete(&end).await.expect("delete");

    let end_notice = Invalidation::removed(end.digest());
    assert_eq!(
        notices_until(&mut heard, &end_notice).await,
        [
            Invalidation::saved(id.digest(), second.version()),
            Invalidation::saved(id.digest(), third.version()),
            end_notice,
        ]
    );
}

#[actix_rt::test]
async fn in_targeted_mode_an_instance_that_never_loaded_a_session_hears_nothing_of_it() {
    let Some(scratch) = Scratch::open("in_targeted_mode_an_instance_that_never_loaded").await
    else {
        return;
    };
    let writer = scratch.targeted().await;
    let reader = scratch.targeted().await;
    let bystander = scratch.targeted().await;
    let mut heard = eavesdrop(&scratch, &bystander).await;
    let (id, _) = created(&writer, &[("a", "1")]).await;
    let (marker, _) = created(&writer, &[("m", "1")]).await;

    reader.load(&id).await.expect("load");
    stored(
        writer
            .update(&id, &setting(&[("a", "2")]))
            .await
            .expect("update"),
    );
    reader.load(&id).await.expect("load");
    writer.delete(&id).await.expect("delete");
    // The bystander loads the marker alone, so the marker's delete is the first thing it hears.
    bystander.load(&marker).await.expect("load");
    writer.delete(&marker).await.expect("delete");

    let last = Invalidation::removed(marker.digest());
    assert_eq!(notices_until(&mut heard, &last).await, [last]);
}

#[actix_rt::test]
async fn in_targeted_mode_every_instance_that_loaded_a_session_hears_its_write() {
    let Some(mut scratch) = Scratch::open("in_targeted_mode_every_instance_that_loaded").await
    else {
        return;
    };
    let writer = scratch.targeted().await;
    let one = scratch.targeted_instance().await;
    let other = scratch.targeted_instance().await;
    let (id, _) = created(&writer, &[("a", "1")]).await;
    assert_eq!(
        scratch.watchers(&id).await,
        [instance_id(&writer)],
        "a create records its instance, which caches what it created"
    );

    load(&one, &id).await;
    load(&other, &id).await;
    let mut all = vec![
        instance_id(&writer),
        instance_id(one.store()),
        instance_id(other.store()),
    ];
    all.sort();
    assert_eq!(scratch.watchers(&id).await, all);
    let (session, watchers) = scratch.deadlines(&id).await;
    assert_eq!(
        watchers, session,
        "the watcher set expires with the session"
    );

    stored(
        writer
            .update(&id, &setting(&[("a", "2")]))
            .await
            .expect("update"),
    );
    assert!(forgotten(&one, &id).await.is_some(), "one went unheard");
    assert!(
        forgotten(&other, &id).await.is_some(),
        "the other went unheard"
    );
    assert_eq!(
        scratch.watchers(&id).await,
        [instance_id(&writer)],
        "a write tells the watchers, then leaves only the writer, which caches what it wrote"
    );
    let (session, watchers) = scratch.deadlines(&id).await;
    assert_eq!(
        watchers, session,
        "the watcher set follows the session's new deadline"
    );

    writer.delete(&id).await.expect("delete");
    assert_eq!(scratch.watchers(&id).await, Vec::<String>::new());
}

#[actix_rt::test]
async fn in_targeted_mode_the_instance_that_created_a_session_hears_its_purge_elsewhere() {
    let Some(scratch) = Scratch::open("in_targeted_mode_the_instance_that_created").await else {
        return;
    };
    let creator = scratch.targeted_instance().await;
    let other = scratch.targeted().await;
    let id = SessionId::generate();
    let created = stored(
        creator
            .create(&id, &setting(&[("a", "1")]))
            .await
            .expect("create"),
    );
    assert_eq!(
        cached_version(&creator, &id).await,
        Some(created.version()),
        "the creator caches what it created"
    );

    other.delete(&id).await.expect("delete");
    assert!(
        forgotten(&creator, &id).await.is_some(),
        "the purge went unheard by the instance that created the session"
    );
    assert_eq!(creator.load(&id).await.expect("load"), None);
}

#[actix_rt::test]
async fn in_targeted_mode_a_killed_listener_subscribes_to_its_own_channel_again() {
    let Some(mut scratch) = Scratch::open("in_targeted_mode_a_killed_listener").await else {
        return;
    };
    let writer = scratch.targeted().await;
    let instance = scratch.targeted_instance().await;
    let feed = instance.invalidations().expect("the feed is on by default");
    let (id, _) = created(&writer, &[("a", "1")]).await;

    let channel = instance.store().inner.routing.listens_on();
    assert_eq!(scratch.kill_listeners_on(&channel).await, 1);
    assert!(
        within(|| async { !feed.is_listening() }).await.is_some(),
        "the feed did not notice the loss"
    );
    assert!(
        within(|| async { feed.is_listening() }).await.is_some(),
        "the feed was not back within {PATIENCE:?}"
    );
    load(&instance, &id).await;
    stored(
        writer
            .update(&id, &setting(&[("a", "2")]))
            .await
            .expect("update"),
    );
    assert!(
        forgotten(&instance, &id).await.is_some(),
        "the listener came back on another channel than the one its loads record"
    );
}

#[actix_rt::test]
async fn in_targeted_mode_another_instance_hears_a_write_within_milliseconds() {
    let Some(scratch) = Scratch::open("in_targeted_mode_another_instance_hears_a_write").await
    else {
        return;
    };
    let other = scratch.targeted_instance().await;
    hears_writes_within_milliseconds(&scratch.targeted().await, &other, "targeted").await;
}
