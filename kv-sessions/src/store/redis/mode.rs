//! Which instances hear the notice of a write: every one ([`InvalidationMode::Broadcast`]) or
//! only those that loaded the session since its last write ([`InvalidationMode::Targeted`]), and
//! what a store tells its scripts so that they publish accordingly.

use uuid::Uuid;

/// What the invalidation channels are called, after the key prefix.
const CHANNEL: &str = "invalidations";

/// How the write scripts of a [`RedisStore`](super::RedisStore) reach the caches of the other
/// instances of an app, set by
/// [`RedisStoreBuilder::invalidation_mode`](super::RedisStoreBuilder::invalidation_mode). Give
/// every instance of an app the same mode: each one hears only the notices its own mode sends it.
///
/// See [`RedisStore`](super::RedisStore#caching-and-the-invalidation-feed) for what each costs.
///
/// ```no_run
/// # async fn run() -> Result<(), kv_sessions::StoreError> {
/// use kv_sessions::{InvalidationMode, RedisStore};
///
/// let store = RedisStore::builder("redis://127.0.0.1:6379")
///     .invalidation_mode(InvalidationMode::Targeted)
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InvalidationMode {
    /// Every write is published once, on the channel `<key prefix>invalidations` that every
    /// instance listens to: every instance hears every write. The default.
    #[default]
    Broadcast,
    /// A load records the loading instance in the session's watcher set, and a write publishes
    /// its notice on the channel of each instance in that set (`<key
    /// prefix>invalidations:<instance id>`), then empties the set: an instance hears only of the
    /// sessions it loaded since their last write.
    Targeted,
}

/// Where one store's scripts publish their notices, and what its listener subscribes to: fixed
/// when the store is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Routing {
    /// The channel every notice goes to (broadcast), or the start of every instance's channel
    /// (targeted); empty where the feed is off, which tells the scripts to publish nothing.
    channel: String,
    /// This store's instance id in targeted mode, empty otherwise, which tells the scripts to
    /// broadcast.
    instance: String,
}

impl Routing {
    /// The routing of a store whose feed is off: its scripts publish nothing.
    pub(super) fn off() -> Self {
        Self {
            channel: String::new(),
            instance: String::new(),
        }
    }

    /// The routing of a store under `key_prefix` in `mode`, with an instance id of its own,
    /// random, in targeted mode.
    pub(super) fn new(mode: InvalidationMode, key_prefix: &str) -> Self {
        match mode {
            InvalidationMode::Broadcast => Self {
                channel: format!("{key_prefix}{CHANNEL}"),
                instance: String::new(),
            },
            InvalidationMode::Targeted => Self {
                channel: format!("{key_prefix}{CHANNEL}:"),
                instance: Uuid::new_v4().simple().to_string(),
            },
        }
    }

    /// What the scripts take as the channel: the one channel (broadcast), the start of every
    /// instance's channel (targeted), or nothing (the feed is off).
    pub(super) fn channel(&self) -> &str {
        &self.channel
    }

    /// What the scripts take as this instance's id: empty unless in targeted mode.
    pub(super) fn instance(&self) -> &str {
        &self.instance
    }

    /// The channel this store's listener subscribes to: the shared one, or its own.
    pub(super) fn listens_on(&self) -> String {
        format!("{}{}", self.channel, self.instance)
    }

    /// Whether a load records this instance as a watcher of the session it reads.
    pub(super) fn registers_loads(&self) -> bool {
        !self.instance.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broadcasting_store_listens_on_the_shared_channel() {
        let routing = Routing::new(InvalidationMode::Broadcast, "shop:");
        assert_eq!(routing.channel(), "shop:invalidations");
        assert_eq!(routing.instance(), "");
        assert_eq!(routing.listens_on(), "shop:invalidations");
        assert!(!routing.registers_loads());
    }

    #[test]
    fn a_targeted_store_listens_on_a_channel_of_its_own() {
        let one = Routing::new(InvalidationMode::Targeted, "shop:");
        let other = Routing::new(InvalidationMode::Targeted, "shop:");
        assert_eq!(one.channel(), "shop:invalidations:");
        assert_eq!(one.instance().len(), 32);
        assert_eq!(
            one.listens_on(),
            format!("shop:invalidations:{}", one.instance())
        );
        assert_ne!(one.instance(), other.instance());
        assert!(one.registers_loads());
    }

    #[test]
    fn a_store_without_a_feed_routes_nowhere() {
        let off = Routing::off();
        assert_eq!((off.channel(), off.instance()), ("", ""));
        assert!(!off.registers_loads());
    }
}
