//! The invalidation feed: how a shared store tells the cache of every app instance which sessions
//! changed, so that a cache in front of it stays coherent.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use super::boxed::BoxFuture;
use crate::id::SessionDigest;

/// A notice that one session changed in the store: what a store's feed carries.
///
/// It names the session by its [`SessionDigest`], never by its id, and carries no session data:
/// whoever can read the channel learns which sessions are being used, and nothing a cookie could
/// carry. Its text form, which the stores of this crate send, is the digest's 32 hex digits, a
/// space, and the version or `-`: `3747…37bb 12`, `3747…37bb -`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalidation {
    digest: SessionDigest,
    version: Option<u64>,
}

impl Invalidation {
    /// The session was saved, and the store now holds this version of it. A cache may keep a
    /// copy at least this new.
    pub fn saved(digest: SessionDigest, version: u64) -> Self {
        Self {
            digest,
            version: Some(version),
        }
    }

    /// The session was deleted, purged or renewed away. A cache must forget it.
    pub fn removed(digest: SessionDigest) -> Self {
        Self {
            digest,
            version: None,
        }
    }

    /// The session it is about.
    pub fn digest(&self) -> SessionDigest {
        self.digest
    }

    /// The version the store now holds, or `None` where the session is gone.
    pub fn version(&self) -> Option<u64> {
        self.version
    }

    /// Whether a cached copy at `version` is still good after this notice.
    pub fn spares(&self, version: u64) -> bool {
        self.version.is_some_and(|saved| version >= saved)
    }
}

impl fmt::Display for Invalidation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.version {
            Some(version) => write!(f, "{} {version}", self.digest),
            None => write!(f, "{} -", self.digest),
        }
    }
}

/// The error returned when text is not an [`Invalidation`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a session invalidation: expected 32 hex digits, a space, and a version or `-`")]
pub struct ParseInvalidationError(());

impl FromStr for Invalidation {
    type Err = ParseInvalidationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = ParseInvalidationError(());
        let (hex, version) = text.split_once(' ').ok_or(error.clone())?;
        let digest = parse_digest(hex).ok_or(error.clone())?;
        match version {
            "-" => Ok(Self::removed(digest)),
            version if version.bytes().all(|b| b.is_ascii_digit()) => version
                .parse()
                .map(|version| Self::saved(digest, version))
                .map_err(|_| error),
            _ => Err(error),
        }
    }
}

fn parse_digest(hex: &str) -> Option<SessionDigest> {
    if hex.len() != 2 * SessionDigest::LEN {
        return None;
    }
    let mut bytes = [0; SessionDigest::LEN];
    for (byte, pair) in bytes.iter_mut().zip(hex.as_bytes().chunks(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        if !pair.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(SessionDigest::from_bytes(bytes))
}

/// Something that hears a feed's notices: a cache.
pub(crate) trait Subscriber: Send + Sync + 'static {
    fn hear<'a>(&'a self, invalidation: &'a Invalidation) -> BoxFuture<'a, ()>;
}

/// A shared store's stream of [`Invalidation`]s, and whether it can be trusted right now.
///
/// A store offers one through [`SessionStore::invalidations`](super::SessionStore::invalidations),
/// and a [`CachedStore`](super::CachedStore) in front of it subscribes on its own: every notice
/// makes the cache of every instance forget its copy of that session.
///
/// The store's side of a feed is four calls. Implement them to give a store of your own a feed:
///
/// - [`connected`](Self::connected) once the store listens, so that every change made from then
///   on will be announced;
/// - [`publish`](Self::publish) for every notice that arrives, in order;
/// - [`confirmed`](Self::confirmed) whenever a heartbeat sent on the listening connection comes
///   back, which proves that every notice sent before it has arrived. Send one at least every
///   [`heartbeat_interval`](Self::heartbeat_interval);
/// - [`lost`](Self::lost) when the listening connection fails; then connect again, and call
///   `connected` once it listens.
///
/// # What a cache may serve
/// A cached copy is served while the feed proves it would have heard of any change: the feed has
/// listened since before the copy was read from the store, and a heartbeat has come back within
/// the last [`max_staleness`](Self::max_staleness). Otherwise (the connection is down, its
/// heartbeats are late, or the copy was read before the feed last reconnected, when notices may
/// have been lost) a copy is served only if it was read from the store less than `max_staleness`
/// ago, and is read again after that.
///
/// Clones share one feed.
#[derive(Clone)]
pub struct InvalidationFeed {
    shared: Arc<Shared>,
}

struct Shared {
    max_staleness: Duration,
    /// The moment the times below count from.
    origin: Instant,
    /// When the feed last started listening, in nanoseconds after `origin`, plus one; 0 while it
    /// is not listening.
    connected_at: AtomicU64,
    /// When the last heartbeat that came back was sent, in nanoseconds after `origin`.
    confirmed_at: AtomicU64,
    /// Whether the feed lost its connection since it last listened, so that the loss and the
    /// recovery are each logged once.
    down: AtomicBool,
    subscribers: RwLock<Vec<Weak<dyn Subscriber>>>,
}

impl fmt::Debug for InvalidationFeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvalidationFeed")
            .field("max_staleness", &self.shared.max_staleness)
            .field("listening", &self.is_listening())
            .finish_non_exhaustive()
    }
}

impl InvalidationFeed {
    /// How stale a cached copy may be, by default, while the feed cannot prove it is current.
    pub const DEFAULT_MAX_STALENESS: Duration = Duration::from_secs(1);

    /// A feed, not listening yet, under which a cache never serves a copy more than
    /// `max_staleness` older than the store while the feed cannot vouch for it.
    pub fn new(max_staleness: Duration) -> Self {
        let origin = Instant::now();
        Self {
            shared: Arc::new(Shared {
                max_staleness,
                origin,
                connected_at: AtomicU64::new(0),
                confirmed_at: AtomicU64::new(0),
                down: AtomicBool::new(false),
                subscribers: RwLock::new(Vec::new()),
            }),
        }
    }

    /// The bound on staleness this feed was made with.
    pub fn max_staleness(&self) -> Duration {
        self.shared.max_staleness
    }

    /// How often the store should send a heartbeat: a quarter of
    /// [`max_staleness`](Self::max_staleness), so that a late one or two do not yet cost the
    /// cache its hits.
    pub fn heartbeat_interval(&self) -> Duration {
        self.shared.max_staleness / 4
    }

    /// Whether the store is listening now.
    pub fn is_listening(&self) -> bool {
        self.shared.connected_at.load(Ordering::Acquire) != 0
    }

    /// Hands `invalidation` to every subscribed cache, and returns once they have all forgotten
    /// the session.
    pub async fn publish(&self, invalidation: &Invalidation) {
        crate::telemetry::invalidation_heard();
        for subscriber in self.subscribers() {
            subscriber.hear(invalidation).await;
        }
    }

    /// Notes that the store listens (again): every change from now on will be announced. Copies
    /// cached before this moment are served only within the staleness bound, since notices sent
    /// while the feed was not listening are lost.
    pub fn connected(&self) {
        let now = self.since_origin(Instant::now());
        self.shared.confirmed_at.store(now, Ordering::Release);
        self.shared.connected_at.store(now + 1, Ordering::Release);
        if self.shared.down.swap(false, Ordering::AcqRel) {
            tracing::info!(
                "the session invalidation feed is listening again; cached sessions read before \
                 are read again from the store"
            );
        }
    }

    /// Notes that a heartbeat sent at `sent_at` on the listening connection came back: every
    /// notice the store sent before it has arrived.
    pub fn confirmed(&self, sent_at: Instant) {
        let sent = self.since_origin(sent_at);
        self.shared.confirmed_at.fetch_max(sent, Ordering::AcqRel);
    }

    /// Notes that the listening connection failed with `cause`. Until it listens again, caches
    /// serve copies only within the staleness bound.
    pub fn lost(&self, cause: &(dyn std::error::Error + 'static)) {
        self.shared.connected_at.store(0, Ordering::Release);
        if !self.shared.down.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                error = %crate::error::Chain(cause),
                max_staleness = ?self.shared.max_staleness,
                "the session invalidation feed lost its connection; until it is back, cached \
                 sessions are read again from the store once they are older than max_staleness"
            );
        }
    }

    /// The earliest moment a cached copy may have been read from the store and still be served
    /// at `now`.
    pub fn read_since(&self, now: Instant) -> Instant {
        let bound = now
            .checked_sub(self.shared.max_staleness)
            .unwrap_or(self.shared.origin)
            .max(self.shared.origin);
        let connected_at = self.shared.connected_at.load(Ordering::Acquire);
        let confirmed_at = self.shared.confirmed_at.load(Ordering::Acquire);
        let current = connected_at != 0 && self.at(confirmed_at) >= bound;
        if current {
            self.at(connected_at - 1).min(bound)
        } else {
            bound
        }
    }

    /// Subscribes `subscriber` for as long as it lives.
    pub(crate) fn subscribe(&self, subscriber: Weak<dyn Subscriber>) {
        let mut subscribers = self
            .shared
            .subscribers
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        subscribers.retain(|s| s.strong_count() > 0);
        subscribers.push(subscriber);
    }

    fn subscribers(&self) -> Vec<Arc<dyn Subscriber>> {
        let subscribers = self
            .shared
            .subscribers
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        subscribers.iter().filter_map(Weak::upgrade).collect()
    }

    fn since_origin(&self, at: Instant) -> u64 {
        let nanos = at.saturating_duration_since(self.shared.origin).as_nanos();
        u64::try_from(nanos).unwrap_or(u64::MAX - 1)
    }

    fn at(&self, nanos: u64) -> Instant {
        self.shared.origin + Duration::from_nanos(nanos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> SessionDigest {
        crate::id::SessionId::generate().digest()
    }

    #[test]
    fn notices_round_trip_through_their_text_form() {
        let d = digest();
        for notice in [Invalidation::saved(d, 12), Invalidation::removed(d)] {
            assert_eq!(notice.to_string().parse(), Ok(notice));
        }
        assert_eq!(
            Invalidation::saved(d, 7).to_string(),
            format!("{d} 7"),
            "digest, space, version"
        );
        for garbage in [
            "",
            "-",
            "abc 1",
            &format!("{d}"),
            &format!("{d} x"),
            &format!("{d} -1"),
        ] {
            assert!(garbage.parse::<Invalidation>().is_err(), "{garbage:?}");
        }
    }

    #[test]
    fn a_notice_spares_copies_at_least_as_new_as_the_stored_version() {
        let d = digest();
        assert!(Invalidation::saved(d, 3).spares(3));
        assert!(Invalidation::saved(d, 3).spares(4));
        assert!(!Invalidation::saved(d, 3).spares(2));
        assert!(!Invalidation::removed(d).spares(u64::MAX));
    }

    #[test]
    fn a_listening_feed_vouches_for_copies_read_since_it_connected() {
        let bound = Duration::from_millis(200);
        let feed = InvalidationFeed::new(bound);
        let before = Instant::now();
        feed.connected();
        let connected = Instant::now();
        std::thread::sleep(Duration::from_millis(250));
        feed.confirmed(Instant::now());
        let read_since = feed.read_since(Instant::now());
        assert!(read_since >= before && read_since <= connected);
        std::thread::sleep(Duration::from_millis(250));
        let late = Instant::now();
        assert_eq!(
            feed.read_since(late),
            late - bound,
            "no heartbeat came back within the bound"
        );
        feed.confirmed(Instant::now());
        assert!(feed.read_since(Instant::now()) <= connected);
    }

    #[test]
    fn a_feed_that_lost_its_connection_vouches_only_within_the_bound() {
        let feed = InvalidationFeed::new(Duration::from_millis(100));
        feed.connected();
        feed.lost(&std::io::Error::other("killed"));
        assert!(!feed.is_listening());
        std::thread::sleep(Duration::from_millis(150));
        let now = Instant::now();
        assert_eq!(feed.read_since(now), now - Duration::from_millis(100));
    }
}
