//! The rules of the [`SessionStore`] contract, one check each. Every check takes the store by
//! value, so that any of them can be a test of its own; the concurrent ones share the store with
//! threads of their own.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use kv_sessions::{
    Changes, Expiry, Record, Saved, SessionDigest, SessionId, SessionOwner, SessionPolicy,
    SessionStore, UserSession,
};

use super::threads::on_threads;

const MINUTE: Duration = Duration::from_secs(60);

/// The policy of most checks: a one-minute idle window.
fn policy() -> SessionPolicy {
    SessionPolicy::new(Expiry::OnInactivity(MINUTE))
}

fn setting<T: Serialize>(pairs: &[(&str, T)]) -> Changes {
    let mut changes = Changes::new(policy());
    for (key, value) in pairs {
        changes
            .insert(*key, value)
            .expect("a plain value serializes");
    }
    changes
}

fn stored(saved: Saved) -> Record {
    match saved {
        Saved::Stored(record) => record,
        other => panic!("expected a stored record, got {other:?}"),
    }
}

fn keys(record: &Record) -> Vec<&str> {
    record.entries().map(|(key, _)| key).collect()
}

/// Creates a session holding `pairs`.
async fn created<S: SessionStore, T: Serialize>(
    store: &S,
    pairs: &[(&str, T)],
) -> (SessionId, Record) {
    let id = SessionId::generate();
    let record = stored(store.create(&id, &setting(pairs)).await.expect("create"));
    (id, record)
}

/// An id nobody created loads as nothing.
pub async fn an_unknown_id_loads_as_none<S: SessionStore>(store: S) {
    let loaded = store.load(&SessionId::generate()).await.expect("load");
    assert_eq!(loaded, None);
}

/// An update merges into the created session, one version up, and a load returns exactly what
/// the update returned.
pub async fn create_then_update_merges_and_counts_versions<S: SessionStore>(store: S) {
    let (id, created) = created(&store, &[("a", 1)]).await;
    assert_eq!(created.id(), id);
    assert_eq!(created.version(), 1);
    let merged = stored(
        store
            .update(&id, &setting(&[("b", 2)]))
            .await
            .expect("update"),
    );
    assert_eq!(merged.version(), 2);
    assert_eq!(merged.created_at(), created.created_at());
    let loaded = store.load(&id).await.expect("load").expect("stored");
    assert_eq!(
        loaded.entries().collect::<Vec<_>>(),
        [("a", "1"), ("b", "2")]
    );
    assert_eq!(loaded, merged, "a load returns what the update returned");
}

/// Removing a key, or clearing, acts on what the store holds.
pub async fn removes_and_clears_apply_to_the_stored_copy<S: SessionStore>(store: S) {
    let (id, _) = created(&store, &[("a", 1), ("b", 2), ("c", 3)]).await;
    let mut remove = Changes::new(policy());
    remove.remove("a");
    let after_remove = stored(store.update(&id, &remove).await.expect("update"));
    assert_eq!(keys(&after_remove), ["b", "c"]);
    let mut clear = Changes::new(policy());
    clear.clear().insert("d", 4).expect("a number serializes");
    store.update(&id, &clear).await.expect("update");
    let loaded = store.load(&id).await.expect("load").expect("stored");
    assert_eq!(loaded.entries().collect::<Vec<_>>(), [("d", "4")]);
}

/// An update of an unknown or deleted session writes nothing and says the session is gone.
pub async fn an_update_never_creates<S: SessionStore>(store: S) {
    let unknown = SessionId::generate();
    let update = store.update(&unknown, &setting(&[("a", 1)])).await;
    assert_eq!(update.expect("update"), Saved::Gone);
    assert_eq!(store.load(&unknown).await.expect("load"), None);

    let (id, _) = created(&store, &[("user", "alice")]).await;
    store.delete(&id).await.expect("delete");
    let late = store.update(&id, &setting(&[("cart", [1])])).await;
    assert_eq!(
        late.expect("update"),
        Saved::Gone,
        "a purged session stays purged"
    );
    assert_eq!(store.load(&id).await.expect("load"), None);
}

/// A delete hands back the live record it removed, and deleting nothing is no error.
pub async fn delete_returns_the_live_record_and_tolerates_repeats<S: SessionStore>(store: S) {
    let (id, record) = created(&store, &[("a", 1)]).await;
    assert_eq!(store.delete(&id).await.expect("delete"), Some(record));
    assert_eq!(store.load(&id).await.expect("load"), None);
    assert_eq!(
        store.delete(&id).await.expect("deleting twice is fine"),
        None
    );
    let unknown = store.delete(&SessionId::generate()).await;
    assert_eq!(unknown.expect("deleting an unknown id is fine"), None);
}

/// Past its deadline, a session is neither loaded, nor updated, nor moved by a renewal.
pub async fn an_expired_session_is_never_loaded_updated_or_moved<S: SessionStore>(store: S) {
    let id = SessionId::generate();
    let mut short = Changes::new(SessionPolicy::new(Expiry::OnInactivity(
        Duration::from_millis(200),
    )));
    short.insert("secret", 1).expect("a number serializes");
    stored(store.create(&id, &short).await.expect("create"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(store.load(&id).await.expect("load"), None);
    let update = store.update(&id, &setting(&[("b", 2)])).await;
    assert_eq!(update.expect("update"), Saved::Gone);
    let new = SessionId::generate_successor(&id);
    let renewed = stored(
        store
            .renew(&id, &new, &setting(&[("own", 1)]))
            .await
            .expect("renew"),
    );
    assert_eq!(keys(&renewed), ["own"], "expired entries never come back");
}

/// A session's own expiry rule stays until a write sets another, and the deadline follows it.
pub async fn the_stored_rule_survives_updates_that_set_none<S: SessionStore>(store: S) {
    let (id, _) = created(&store, &[("a", 1)]).await;
    let month = Expiry::OnInactivity(MINUTE * 60 * 24 * 30);
    let mut remember = Changes::new(policy());
    remember.set_expiry(Some(month));
    let remembered = stored(store.update(&id, &remember).await.expect("update"));
    assert_eq!(remembered.expiry(), Some(month));
    let later = stored(
        store
            .update(&id, &setting(&[("b", 2)]))
            .await
            .expect("update"),
    );
    assert_eq!(
        later.expiry(),
        Some(month),
        "a write that sets no rule keeps it"
    );
    let far = SystemTime::now() + MINUTE * 60 * 24 * 29;
    assert!(
        later.expires_at() > far,
        "the deadline follows the merged rule"
    );
    let mut back = Changes::new(policy());
    back.set_expiry(None);
    let shortened = stored(store.update(&id, &back).await.expect("update"));
    assert_eq!(shortened.expiry(), None);
    assert!(shortened.expires_at() <= SystemTime::now() + MINUTE);
}

/// The size cap weighs the merged session, and a refused write changes nothing.
pub async fn the_size_cap_applies_to_the_merged_session<S: SessionStore>(store: S) {
    let capped = SessionPolicy::new(Expiry::OnInactivity(MINUTE)).with_max_size(20);
    let id = SessionId::generate();
    let mut first = Changes::new(capped);
    first.insert("a", 123_456_789).expect("a number serializes");
    let before = stored(store.create(&id, &first).await.expect("create"));
    let mut second = Changes::new(capped);
    second
        .insert("b", 123_456_789_012_u64)
        .expect("a number serializes");
    let refused = store.update(&id, &second).await.expect("update");
    assert!(matches!(refused, Saved::TooLarge(_)), "{refused:?}");
    let after = store.load(&id).await.expect("load").expect("stored");
    assert_eq!(after, before, "a refused write changes nothing");
}

/// A session holding `seed`, and a copy of it loaded before another request wrote `x`.
async fn stale_copy<S: SessionStore>(store: &S) -> (SessionId, Record) {
    let (id, _) = created(store, &[("seed", 0)]).await;
    let stale = store.load(&id).await.expect("load").expect("stored");
    let update = store.update(&id, &setting(&[("x", 1)])).await;
    stored(update.expect("update"));
    (id, stale)
}

/// Changes made against a copy loaded before another request's update keep both requests'
/// writes: the store merges into the latest copy, never into the stale one it was handed.
pub async fn a_stale_loaded_copy_never_loses_a_write<S: SessionStore>(store: S) {
    let (id, stale) = stale_copy(&store).await;
    let merged = stored(
        store
            .update_from(&stale, &setting(&[("y", 2)]))
            .await
            .expect("update from a stale copy"),
    );
    assert_eq!(
        merged.entries().collect::<Vec<_>>(),
        [("seed", "0"), ("x", "1"), ("y", "2")],
        "the write made since the copy was loaded survives"
    );
    assert_eq!(merged.version(), 3, "one version above the latest copy");
    let loaded = store.load(&id).await.expect("load").expect("stored");
    assert_eq!(loaded, merged, "a load returns what the update returned");
}

/// A clear made against a stale copy clears the latest copy, entries written since included.
pub async fn a_clear_from_a_stale_copy_clears_the_latest_entries<S: SessionStore>(store: S) {
    let (id, stale) = stale_copy(&store).await;
    let mut clear = Changes::new(policy());
    clear.clear().insert("y", 2).expect("a number serializes");
    let cleared = stored(
        store
            .update_from(&stale, &clear)
            .await
            .expect("update from a stale copy"),
    );
    assert_eq!(
        cleared.entries().collect::<Vec<_>>(),
        [("y", "2")],
        "the entry written since the copy was loaded is cleared too"
    );
    assert_eq!(cleared.version(), 3, "one version above the latest copy");
    let loaded = store.load(&id).await.expect("load").expect("stored");
    assert_eq!(loaded, cleared, "a load returns what the update returned");
}

/// A renewal moves the latest copy, with the renewing request's writes, and kills the old id.
pub async fn renew_moves_the_latest_copy_and_keeps_the_creation_time<S: SessionStore>(store: S) {
    let (old, created) = created(&store, &[("user", "alice")]).await;
    store
        .update(&old, &setting(&[("theme", "dark")]))
        .await
        .expect("update");
    let new = SessionId::generate_successor(&old);
    let moved = stored(
        store
            .renew(&old, &new, &setting(&[("role", "admin")]))
            .await
            .expect("renew"),
    );
    assert_eq!(moved.id(), new);
    assert_eq!(keys(&moved), ["role", "theme", "user"]);
    assert_eq!(moved.created_at(), created.created_at());
    assert_eq!(store.load(&old).await.expect("load"), None);
    assert_eq!(store.load(&new).await.expect("load"), Some(moved));
    let stale = store.update(&old, &setting(&[("x", 1)])).await;
    assert_eq!(stale.expect("update"), Saved::Gone, "the old id is dead");
}

/// A renewal of a deleted session carries only its own writes, and creates nothing without any.
pub async fn renew_of_a_gone_session_moves_none_of_its_data<S: SessionStore>(store: S) {
    let (old, _) = created(&store, &[("user", "alice")]).await;
    store.delete(&old).await.expect("delete");
    let new = SessionId::generate_successor(&old);
    let fresh = stored(
        store
            .renew(&old, &new, &setting(&[("own", 1)]))
            .await
            .expect("renew"),
    );
    assert_eq!(keys(&fresh), ["own"]);
    assert_eq!(fresh.version(), 1);
    let empty = SessionId::generate_successor(&old);
    let nothing = store.renew(&old, &empty, &Changes::new(policy())).await;
    assert_eq!(nothing.expect("renew"), Saved::Gone);
    assert_eq!(store.load(&empty).await.expect("load"), None);
}

/// Updates of different keys from 32 threads at once all survive, each counted once.
pub async fn concurrent_updates_of_different_keys_all_survive<S: SessionStore + Clone>(store: S) {
    const WRITERS: usize = 32;
    let (id, _) = created(&store, &[("seed", 0)]).await;
    let writer = store.clone();
    let saved = on_threads(WRITERS, move |i| {
        let store = writer.clone();
        async move {
            store
                .update(&id, &setting(&[(&format!("k{i}"), true)]))
                .await
        }
    })
    .await;
    for update in saved {
        stored(update.expect("update"));
    }
    let loaded = store.load(&id).await.expect("load").expect("stored");
    let lost: Vec<_> = (0..WRITERS)
        .map(|i| format!("k{i}"))
        .filter(|key| loaded.get(key).is_none())
        .collect();
    assert!(
        lost.is_empty(),
        "updates from other threads were lost: {lost:?} missing"
    );
    assert_eq!(loaded.len(), WRITERS + 1);
    assert_eq!(loaded.version(), WRITERS as u64 + 1);
}

/// Growth from 10 threads at once stops at the size cap: exactly the writes that fit land.
pub async fn concurrent_growth_never_passes_the_cap<S: SessionStore + Clone>(store: S) {
    let cap = 32 * 1024;
    let capped = SessionPolicy::new(Expiry::OnInactivity(MINUTE)).with_max_size(cap);
    let (id, _) = created(&store, &[("seed", 0)]).await;
    let writer = store.clone();
    let saved = on_threads(10, move |i| {
        let store = writer.clone();
        async move {
            let mut changes = Changes::new(capped);
            changes
                .insert(format!("k{i}"), "x".repeat(10 * 1024))
                .expect("a string serializes");
            store.update(&id, &changes).await
        }
    })
    .await;
    let mut accepted = 0;
    for update in saved {
        match update.expect("update") {
            Saved::Stored(_) => accepted += 1,
            Saved::TooLarge(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    let loaded = store.load(&id).await.expect("load").expect("stored");
    let size: usize = loaded.entries().map(|(k, v)| k.len() + v.len()).sum();
    assert!(size <= cap, "{size} bytes stored under a cap of {cap}");
    assert_eq!(accepted, 3, "exactly the writes that fit");
    assert_eq!(loaded.len(), 4);
}

/// What each thread of a delete race did.
enum Raced {
    Renewed(Saved),
    Updated,
    Deleted(Option<Record>),
}

/// A delete racing a renewal and an update, each on a thread of its own, either removes the
/// session before it moves, and nothing moves, or finds the old id already moved away.
pub async fn a_delete_racing_updates_and_renewals_always_wins_or_is_moved_past<
    S: SessionStore + Clone,
>(
    store: S,
) {
    for round in 0..20 {
        let (old, _) = created(&store, &[("user", "alice")]).await;
        let new = SessionId::generate_successor(&old);
        let racer = store.clone();
        let raced = on_threads(3, move |i| {
            let store = racer.clone();
            async move {
                match i {
                    0 => Raced::Renewed(
                        store
                            .renew(&old, &new, &Changes::new(policy()))
                            .await
                            .expect("renew"),
                    ),
                    1 => {
                        store
                            .update(&old, &setting(&[("late", 1)]))
                            .await
                            .expect("update");
                        Raced::Updated
                    }
                    _ => Raced::Deleted(store.delete(&old).await.expect("delete")),
                }
            }
        })
        .await;
        let Ok(
            [
                Raced::Renewed(renewed),
                Raced::Updated,
                Raced::Deleted(deleted),
            ],
        ) = <[Raced; 3]>::try_from(raced)
        else {
            unreachable!("each thread answers in its own place");
        };
        assert_eq!(store.load(&old).await.expect("load"), None, "round {round}");
        let moved = store.load(&new).await.expect("load");
        match renewed {
            Saved::Stored(_) => assert!(
                deleted.is_none() && moved.is_some(),
                "round {round}: the renewal went first, so the delete found nothing"
            ),
            Saved::Gone => assert!(
                deleted.is_some() && moved.is_none(),
                "round {round}: the delete went first, so nothing moved"
            ),
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// Changes that bind the session to `user`, with `label`.
fn binding(user: &str, label: &str) -> Changes {
    let mut changes = Changes::new(policy());
    changes.bind(SessionOwner::new(user).with_label(label));
    changes
}

/// Creates a session bound to `user`, holding one value.
async fn created_for<S: SessionStore>(store: &S, user: &str, label: &str) -> Record {
    let id = SessionId::generate();
    let mut changes = binding(user, label);
    changes.insert("user", user).expect("a string serializes");
    stored(store.create(&id, &changes).await.expect("create"))
}

/// The handles `store` lists for `user`, sorted.
async fn listed<S: SessionStore>(store: &S, user: &str) -> Vec<SessionDigest> {
    let sessions = store.sessions_of(user).await.expect("sessions_of");
    let mut handles: Vec<_> = sessions.iter().map(UserSession::handle).collect();
    handles.sort();
    handles
}

fn sorted(mut handles: Vec<SessionDigest>) -> Vec<SessionDigest> {
    handles.sort();
    handles
}

/// A binding is stored with the session, listed under its user with the record's times and
/// label, kept by saves that leave it alone, and moved by a renewal.
pub async fn a_binding_is_stored_listed_and_moved_by_renewal<S: SessionStore>(store: S) {
    let user = SessionId::generate().to_string();
    let created = created_for(&store, &user, "laptop").await;
    let owner = created.owner().expect("bound");
    assert_eq!(
        (owner.user(), owner.label()),
        (user.as_str(), Some("laptop"))
    );
    let loaded = store
        .load(&created.id())
        .await
        .expect("load")
        .expect("stored");
    assert_eq!(
        loaded, created,
        "a load returns the binding and the time of the save"
    );

    let listed_now = store.sessions_of(&user).await.expect("sessions_of");
    let [session] = listed_now.as_slice() else {
        panic!("one session listed, got {listed_now:?}");
    };
    assert_eq!(session.handle(), created.id().digest());
    assert_eq!(session.label(), Some("laptop"));
    assert_eq!(session.created_at(), created.created_at());
    assert_eq!(Some(session.saved_at()), created.saved_at());
    assert_eq!(session.expires_at(), created.expires_at());
    assert!(listed(&store, "someone else").await.is_empty());

    tokio::time::sleep(Duration::from_millis(5)).await;
    let updated = stored(
        store
            .update(&created.id(), &setting(&[("b", 2)]))
            .await
            .expect("update"),
    );
    assert_eq!(
        updated.owner(),
        created.owner(),
        "a save that leaves the binding keeps it"
    );
    assert!(
        updated.saved_at() > created.saved_at(),
        "and moves the time of the last save"
    );

    let new = SessionId::generate_successor(&created.id());
    let renewed = stored(
        store
            .renew(&created.id(), &new, &Changes::new(policy()))
            .await
            .expect("renew"),
    );
    assert_eq!(
        renewed.owner(),
        created.owner(),
        "the binding moves with the session"
    );
    assert_eq!(
        listed(&store, &user).await,
        [new.digest()],
        "listed under its new id only"
    );
}

/// Unbinding, clearing, binding to another user, deleting and expiring each take a session
/// off its user's list.
pub async fn unbound_deleted_and_expired_sessions_are_not_listed<S: SessionStore>(store: S) {
    let user = SessionId::generate().to_string();
    let other = SessionId::generate().to_string();
    let unbound = created_for(&store, &user, "a").await;
    let cleared = created_for(&store, &user, "b").await;
    let rebound = created_for(&store, &user, "c").await;
    let deleted = created_for(&store, &user, "d").await;
    let mut unbind = Changes::new(policy());
    unbind.unbind();
    let mut clear = Changes::new(policy());
    clear.clear();
    stored(store.update(&unbound.id(), &unbind).await.expect("update"));
    stored(store.update(&cleared.id(), &clear).await.expect("update"));
    stored(
        store
            .update(&rebound.id(), &binding(&other, "c"))
            .await
            .expect("update"),
    );
    store.delete(&deleted.id()).await.expect("delete");
    assert!(listed(&store, &user).await.is_empty());
    assert_eq!(listed(&store, &other).await, [rebound.id().digest()]);

    let mut short = Changes::new(SessionPolicy::new(Expiry::OnInactivity(
        Duration::from_millis(200),
    )));
    short.bind(SessionOwner::new(&user));
    let expiring = SessionId::generate();
    stored(store.create(&expiring, &short).await.expect("create"));
    assert_eq!(listed(&store, &user).await, [expiring.digest()]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        listed(&store, &user).await.is_empty(),
        "an expired session is never listed"
    );
}

/// A revocation deletes a live session of the user it names, and nothing else: not another
/// user's session, and not twice. The revoked session is gone for every later save.
pub async fn revoke_deletes_only_a_live_session_of_that_user<S: SessionStore>(store: S) {
    let user = SessionId::generate().to_string();
    let session = created_for(&store, &user, "phone").await;
    let handle = session.id().digest();
    assert!(!store.revoke("someone else", handle).await.expect("revoke"));
    assert!(store.load(&session.id()).await.expect("load").is_some());
    assert!(
        !store
            .revoke(&user, SessionId::generate().digest())
            .await
            .expect("revoke")
    );

    assert!(store.revoke(&user, handle).await.expect("revoke"));
    assert_eq!(store.load(&session.id()).await.expect("load"), None);
    assert!(
        !store.revoke(&user, handle).await.expect("revoke"),
        "once only"
    );
    let late = store.update(&session.id(), &setting(&[("late", 1)])).await;
    assert_eq!(
        late.expect("update"),
        Saved::Gone,
        "a revoked session never comes back"
    );
    assert!(listed(&store, &user).await.is_empty());
}

/// A revoke-all deletes every session of the user but the one it spares, and leaves other
/// users' sessions alone.
pub async fn revoke_all_spares_the_exception_and_other_users<S: SessionStore>(store: S) {
    let user = SessionId::generate().to_string();
    let other = SessionId::generate().to_string();
    let kept = created_for(&store, &user, "this one").await;
    let mut revocable = Vec::new();
    for label in ["a", "b", "c"] {
        revocable.push(created_for(&store, &user, label).await.id().digest());
    }
    let others = created_for(&store, &other, "theirs").await;
    let revoked = store
        .revoke_all(&user, Some(kept.id().digest()))
        .await
        .expect("revoke_all");
    assert_eq!(sorted(revoked), sorted(revocable));
    assert_eq!(listed(&store, &user).await, [kept.id().digest()]);
    assert_eq!(listed(&store, &other).await, [others.id().digest()]);
    assert!(store.load(&kept.id()).await.expect("load").is_some());

    let revoked = store.revoke_all(&user, None).await.expect("revoke_all");
    assert_eq!(revoked, [kept.id().digest()]);
    assert!(listed(&store, &user).await.is_empty());
}

/// Sessions of a user renewed again and again, each on a thread of its own, while a revoke-all
/// runs: once it returns, none of them lives on under any id.
///
/// Each renewer stops after a few renewals: a session renewed without pause, faster than a
/// listing and a revocation, can outrun the revoke-all's passes, which then fails rather than
/// claim a success; real sessions renew at a login or a privilege change.
pub async fn revoke_all_catches_sessions_renewed_meanwhile<S: SessionStore + Clone>(store: S) {
    const RENEWERS: usize = 3;
    const RENEWALS: usize = 4;
    let user = SessionId::generate().to_string();
    let mut first_ids = Vec::new();
    for _ in 0..RENEWERS {
        first_ids.push(created_for(&store, &user, "renewing").await.id());
    }
    let (racer, racing_user) = (store.clone(), user.clone());
    let outcomes = on_threads(RENEWERS + 1, move |i| {
        let (store, user) = (racer.clone(), racing_user.clone());
        let first = first_ids.get(i).copied();
        async move {
            let Some(mut id) = first else {
                return store
                    .revoke_all(&user, None)
                    .await
                    .expect("revoke_all")
                    .len();
            };
            for _ in 0..RENEWALS {
                let new = SessionId::generate_successor(&id);
                match store
                    .renew(&id, &new, &Changes::new(policy()))
                    .await
                    .expect("renew")
                {
                    Saved::Stored(_) => id = new,
                    Saved::Gone => break,
                    other => panic!("unexpected {other:?}"),
                }
            }
            0
        }
    })
    .await;
    assert_eq!(
        outcomes[RENEWERS], RENEWERS,
        "each session revoked once, under some id"
    );
    assert!(
        listed(&store, &user).await.is_empty(),
        "no renewed session escaped"
    );
}

/// Two revoke-alls of one user, each on a thread of its own, at once: both succeed, and between
/// them they revoke each of the user's sessions exactly once.
pub async fn two_revoke_alls_at_once_revoke_each_session_once<S: SessionStore + Clone>(store: S) {
    const SESSIONS: usize = 8;
    for round in 0..5 {
        let user = SessionId::generate().to_string();
        let mut handles = Vec::new();
        for _ in 0..SESSIONS {
            handles.push(created_for(&store, &user, "device").await.id().digest());
        }
        let (racer, racing_user) = (store.clone(), user.clone());
        let revoked = on_threads(2, move |_| {
            let (store, user) = (racer.clone(), racing_user.clone());
            async move { store.revoke_all(&user, None).await.expect("revoke_all") }
        })
        .await;
        let each_once = sorted(revoked.into_iter().flatten().collect());
        assert_eq!(
            each_once,
            sorted(handles),
            "round {round}: each revoked once"
        );
        assert!(listed(&store, &user).await.is_empty(), "round {round}");
    }
}
