//! Compare-and-set: a write carries the `meta` field of the copy it was merged against, Redis
//! applies it only where the session still holds that field, and where it does not the write is
//! merged again against the latest copy and tried again.
//!
//! Every save sets a new version in `meta`, so an unchanged `meta` means the session is the very
//! copy the merge started from, and the fields a write sets and deletes (the difference between
//! that copy and the merged record) turn it into exactly the merged record.

use std::future::Future;
use std::time::SystemTime;

use super::hash::{self, META, Meta, RawField};
use crate::error::StoreError;
use crate::id::SessionId;
use crate::record::Record;
use crate::store::WRITE_ATTEMPTS;

/// A session's hash as a write found it, the copy the write merges against.
#[derive(Debug, Clone)]
pub(super) struct Snapshot {
    /// The hash's `meta` field, which the write compares; empty where there is no such field.
    meta: Vec<u8>,
    /// The session it holds, where it decodes and is live.
    live: Option<Record>,
    /// Whether the snapshot was read from Redis by this operation, rather than handed in by the
    /// request that loaded it: only then does a merge refused for its size settle the answer,
    /// since only then is the copy known to have been the latest.
    read: bool,
}

impl Snapshot {
    /// The snapshot of the copy `loaded` by the request, which may be stale.
    pub(super) fn loaded(loaded: &Record) -> Self {
        Self {
            meta: Meta(loaded).to_string().into_bytes(),
            live: Some(loaded.clone()),
            read: false,
        }
    }

    /// The snapshot of the hash of session `id` that Redis returned as `fields`, live or not at
    /// `now`. A hash that does not decode counts as no session, as it does in the other stores;
    /// the damage is logged, and a load reports it.
    pub(super) fn read(id: SessionId, fields: Vec<RawField>, now: SystemTime) -> Self {
        let meta = fields
            .iter()
            .find(|(name, _)| name == META.as_bytes())
            .map(|(_, value)| value.clone())
            .unwrap_or_default();
        let live = (!fields.is_empty())
            .then(|| hash::decode(id, fields))
            .transpose()
            .inspect_err(|error| tracing::warn!(%error, "ignoring a corrupt session hash"))
            .ok()
            .flatten()
            .filter(|record| !record.is_expired_at(now));
        Self {
            meta,
            live,
            read: true,
        }
    }

    /// The `meta` field a write expects to find.
    pub(super) fn meta(&self) -> &[u8] {
        &self.meta
    }

    /// The live session, if the hash holds one.
    pub(super) fn live(&self) -> Option<&Record> {
        self.live.as_ref()
    }

    /// Whether this copy was read by the operation itself, so that it was the latest when read.
    pub(super) fn was_read(&self) -> bool {
        self.read
    }
}

/// What one try of a write came to.
#[derive(Debug)]
pub(super) enum Attempt<T> {
    /// The operation's answer.
    Done(T),
    /// The session is no longer the copy the write was merged against; this is the latest.
    Stale(Snapshot),
}

/// Runs `attempt` from the snapshot `first`, and again from each newer snapshot it finds, until
/// it is done, or [`WRITE_ATTEMPTS`] times, after which it fails with
/// [`StoreError::contended`].
pub(super) async fn until_done<T, F, Fut>(first: Snapshot, mut attempt: F) -> Result<T, StoreError>
where
    F: FnMut(Snapshot) -> Fut,
    Fut: Future<Output = Result<Attempt<T>, StoreError>>,
{
    let mut copy = first;
    for _ in 0..WRITE_ATTEMPTS {
        match attempt(copy).await? {
            Attempt::Done(answer) => return Ok(answer),
            Attempt::Stale(latest) => copy = latest,
        }
    }
    Err(StoreError::contended(WRITE_ATTEMPTS))
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    fn raw(fields: &[(&str, &str)]) -> Vec<RawField> {
        let raw =
            |(name, value): &(&str, &str)| (name.as_bytes().to_vec(), value.as_bytes().to_vec());
        fields.iter().map(raw).collect()
    }

    #[test]
    fn a_read_snapshot_compares_the_meta_field_as_stored() {
        let id = SessionId::generate();
        let now = hash::from_millis(5_000);
        let live = Snapshot::read(id, raw(&[("meta", "2:1000:9000"), ("k:a", "1")]), now);
        assert_eq!(live.meta(), b"2:1000:9000");
        assert_eq!(live.live().map(Record::version), Some(2));
        assert!(live.was_read());

        let expired = Snapshot::read(id, raw(&[("meta", "2:1000:5000")]), now);
        assert_eq!(
            (expired.meta(), expired.live()),
            (&b"2:1000:5000"[..], None)
        );
        let corrupt = Snapshot::read(id, raw(&[("meta", "x:1:9000")]), now);
        assert_eq!((corrupt.meta(), corrupt.live()), (&b"x:1:9000"[..], None));
        let bare = Snapshot::read(id, raw(&[("k:a", "1")]), now);
        assert_eq!((bare.meta(), bare.live()), (&b""[..], None));
        let absent = Snapshot::read(id, Vec::new(), now);
        assert_eq!((absent.meta(), absent.live()), (&b""[..], None));
    }

    #[test]
    fn a_loaded_copy_is_compared_by_its_meta_and_is_not_known_to_be_the_latest() {
        let loaded = Record::new(
            SessionId::generate(),
            3,
            hash::from_millis(10),
            hash::from_millis(70),
            [("a".to_owned(), "1".to_owned())],
        );
        let snapshot = Snapshot::loaded(&loaded);
        assert_eq!(snapshot.meta(), b"3:10:70");
        assert_eq!(snapshot.live(), Some(&loaded));
        assert!(!snapshot.was_read());
    }

    #[actix_rt::test]
    async fn a_write_is_tried_again_against_each_newer_copy_until_done() {
        let tries = Cell::new(0);
        let answer = until_done(
            Snapshot::read(SessionId::generate(), Vec::new(), SystemTime::now()),
            |copy| {
                tries.set(tries.get() + 1);
                let done = tries.get() == 3;
                async move {
                    Ok(match done {
                        true => Attempt::Done("written"),
                        false => Attempt::Stale(copy),
                    })
                }
            },
        )
        .await;
        assert_eq!(answer.expect("done"), "written");
        assert_eq!(tries.get(), 3);
    }

    #[actix_rt::test]
    async fn a_session_that_changes_under_every_try_fails_as_contended() {
        let tries = Cell::new(0);
        let first = Snapshot::read(SessionId::generate(), Vec::new(), SystemTime::now());
        let answer: Result<(), _> = until_done(first, |copy| {
            tries.set(tries.get() + 1);
            async move { Ok(Attempt::Stale(copy)) }
        })
        .await;
        assert_eq!(tries.get(), WRITE_ATTEMPTS);
        let StoreError::Backend(cause) = answer.expect_err("never done") else {
            panic!("a contended write fails as a backend error");
        };
        assert!(cause.to_string().contains("too much contention"), "{cause}");
    }
}
