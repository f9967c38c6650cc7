//! Sessions in Redis, shared by every instance of an app.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use redis::{Cmd, ErrorKind, FromRedisValue, RedisResult, ServerErrorKind};

use self::cas::{Attempt, Snapshot};
use self::connections::{Connection, Connections};
use self::index::{Directory, Reindex, UserField};
use self::layout::{KeyLayout, SlotTag};
use self::listener::Listener;
use self::mode::Routing;
use self::scripts::{LuaScript, Reply, SCRIPTS};
use super::{Invalidation, InvalidationFeed, SessionStore};
use crate::changes::{Changes, Saved};
use crate::error::StoreError;
use crate::id::{SessionDigest, SessionId};
use crate::owner::UserSession;
use crate::record::Record;

mod args;
mod builder;
mod cas;
mod connections;
mod hash;
mod index;
mod layout;
mod listener;
mod mode;
mod scripts;
#[cfg(feature = "redis-tls")]
mod tls;

pub use self::builder::RedisStoreBuilder;
pub use self::mode::InvalidationMode;

/// Sessions in [Redis](https://redis.io), where every instance of an app can reach them, and
/// where Redis itself deletes each session at its deadline.
///
/// Connect once, at start-up, and clone the store into the app (clones share the connections):
///
/// ```no_run
/// # async fn run() -> Result<(), kv_sessions::StoreError> {
/// use std::time::Duration;
///
/// use actix_web::cookie::Key;
/// use kv_sessions::{RedisStore, SessionMiddleware};
///
/// let store = RedisStore::builder("redis://127.0.0.1:6379")
///     .key_prefix("shop:sessions:")
///     .operation_timeout(Duration::from_millis(500))
///     .build()
///     .await?;
/// let sessions = SessionMiddleware::builder(store, Key::generate()).build();
/// # Ok(()) }
/// ```
///
/// # Key layout
/// Each session is one hash, under the key prefix followed by the 32 hex digits of the
/// [`SessionDigest`](crate::SessionDigest) of its id (`kv-sessions:3747…37bb` by default): Redis
/// never holds the id itself, so whoever reads it, a backup or a replica learns no id that a
/// cookie could carry. On Redis Cluster a hash tag comes between the two
/// (`kv-sessions:{37}3747…37bb`; see [Redis Cluster](#redis-cluster)). The hash's fields:
///
/// | field | value |
/// |---|---|
/// | `meta` | `<version>:<created_at>:<expires_at>`: the number of saves, the creation time and the deadline, in decimal, the times in milliseconds since the Unix epoch |
/// | `rule` | the session's own [`Expiry`](crate::Expiry) as `<kind>:<millis>`: 1 and the idle window for `OnInactivity`, 2 and the moment since the Unix epoch for `AtDateTime`, 3 and the idle window for `OnSessionEnd`; absent where the session follows the default |
/// | `user` | for a session bound to a user ([`Session::bind`](crate::Session::bind)), the user's tag (see [below](#sessions-by-user)), `:`, then the user id; absent where the session is bound to no one |
/// | `label` | the label of the binding; absent where it has none |
/// | `saved` | for a bound session, when it was last saved, in milliseconds since the Unix epoch |
/// | `k:<key>` | the JSON text of the entry `<key>`, byte for byte |
///
/// A session bound to no one has no `user`, `label` or `saved` field, so it costs what it cost
/// before sessions could be bound, and a hash written before then loads as an unbound session.
/// Only entry fields start with `k:`, so no session key can collide with the metadata. The hash
/// carries a Redis expiry (`PEXPIREAT`) at its deadline, so expired sessions leave Redis on their
/// own; nothing needs sweeping.
///
/// Builds before this layout keyed sessions by their id and kept the rule twice; this one cannot
/// read theirs, and they cannot read this. No release used the old one, so there is no
/// migration: sessions an earlier build wrote are not found (their users start new sessions),
/// and Redis deletes them at their deadlines.
///
/// # Merged in Rust, written with a version check
/// Every write merges its [`Changes`] in Rust, with [`Changes::apply_to`], the one definition of
/// the merge, and hands the result to a short Lua script, sent by its SHA-1 (`EVALSHA`, with the
/// source again where Redis has lost it). Redis runs a script with nothing else in between, and
/// each script checks one condition before it writes:
///
/// - `create` writes the new session unless its key exists;
/// - `update` writes the fields that changed, setting and deleting them, only where the stored
///   `meta` is still that of the copy the merge started from. Every save changes `meta`, so the
///   stored hash is then exactly that copy, and the changed fields turn it into the merged record;
/// - `renew` writes the merged session under the new key and deletes the old one, only where the
///   old key's `meta` is still the copy's (or the old session is still absent, where it was) and
///   the new key does not exist. Where the old session is gone, the new one holds only the
///   changes' writes, and is not created where they write no value;
/// - `delete` reads the hash and deletes it, and hands back the session if it was live.
///
/// Where another request saved the session in between, the script writes nothing and answers
/// with the latest hash, and the store merges again against it and tries again. Each retry means
/// that another write succeeded; after 64 tries in a row the operation fails with a
/// [`StoreError::Backend`] saying that the session was under too much contention.
///
/// Round trips: a load, a create, a delete, a listing of a user's sessions, a revoke and a
/// revoke-all take one. An [`update_from`](SessionStore::update_from), which the middleware
/// makes, merges against the copy its request loaded and takes one, plus one for each request
/// that saved in between; an [`update`](SessionStore::update) and a
/// [`renew`](SessionStore::renew) read the session first, and take two.
///
/// # Sessions by user
/// Each user with bound sessions has a Redis set, `<key prefix>u:<tag>`, of the digests of their
/// sessions, where the tag is the hex of the first 16 bytes of the SHA-256 of the user id: a user
/// id may be an e-mail address, and it stays out of key names. It is what
/// [`sessions_of`](SessionStore::sessions_of), [`revoke`](SessionStore::revoke) and
/// [`revoke_all`](SessionStore::revoke_all) read, so that they cost one round trip and work in
/// proportion to the user's sessions, never a scan of every session.
///
/// - **Changed with the session.** The script that writes a session changes the sets in the same
///   step, where the write changes the binding: a create or a bind adds the digest to the user's
///   set, an unbind removes it, a rebind moves it to the other user's set, a renewal of a bound
///   session replaces the old digest with the new one, and a delete removes it. A save that
///   leaves the binding alone, the common case, runs no command on the index for an unbound
///   session; for a bound one it reads the set's expiry (and pushes it out, below, or puts the
///   session back in a set that is gone), and writes the session's `saved` field, which changes
///   with every save.
/// - **Expiry.** A set expires at the latest deadline of its members: every write of a bound
///   session pushes the set's expiry out to the session's deadline where that lies later, in the
///   same script. So a set never expires while one of its sessions is live, and goes at the
///   latest with the last of them.
/// - **Stale members, and how they are trimmed.** A member outlives its session where Redis
///   deletes the hash at its deadline (or eviction, or a client outside kv-sessions, deletes it),
///   since nothing runs then. The scripts of `sessions_of`, `revoke` and `revoke_all` read each
///   member's `user` field, and remove from the set every member whose hash is gone or is not
///   the user's: the first listing or revocation after a session's hash is gone trims it, and
///   the set's own expiry bounds how long any member can linger. A member whose hash has passed
///   its deadline by the app's clock, but which Redis has not deleted yet, is left out of the
///   listing and trimmed once Redis deletes it.
/// - **Who owns a session.** A member is one of the user's sessions only where the session's
///   `user` field holds the whole user id: two users whose tags collided would still never see
///   or revoke each other's sessions. `revoke` deletes a session only where it is the user's
///   and live, and announces the deletion on the feed as `delete` does; `revoke_all` deletes
///   every session of the user but the one spared in one script, so that no renewal can move a
///   session out of its reach meanwhile, and announces each deletion.
/// - **Keys the scripts compute.** A delete finds the user's set from the tag in the session's
///   `user` field, and `sessions_of` and `revoke_all` find each session (and, in targeted mode,
///   its watcher set) from the members of the user's set: those keys are built inside the
///   scripts, not passed in `KEYS`, since Rust cannot know them without reading first. On a
///   cluster they share the slot of the keys passed (see [below](#redis-cluster)).
///
/// The sets use `PEXPIRETIME`, so binding sessions needs Redis 7.0 or later.
///
/// On Redis Cluster a user's sessions are spread over one set per hash slot, found through a
/// directory: see [Redis Cluster](#redis-cluster). It is tested against Redis 7, on one server
/// and on a cluster of three masters.
///
/// Redis keeps sessions as durably as it is configured to (RDB snapshots, the append-only file,
/// or neither). Under `maxmemory`, its eviction policy may drop sessions before their deadline;
/// an evicted session is simply gone, as if it had expired. It may drop a user's set too: that
/// user's sessions are then missing from listings and revocations until each is saved again,
/// which puts it back in the set. Where "sign out everywhere" must not miss one, give sessions a
/// Redis that does not evict (`maxmemory-policy noeviction`).
///
/// # Redis Cluster
/// The same store serves a single server and a cluster; the builder chooses.
/// [`RedisStore::builder`] takes the URL of one server (with replicas, if you like, behind it),
/// and [`RedisStore::cluster_builder`] the URLs of some of a cluster's masters, its *seed
/// nodes*, from which redis-rs' cluster client learns every node and which hash slots each
/// serves. Every other setting is the same. Give it several seed nodes: the store needs one that
/// answers at start-up, and the invalidation listener (below) moves between them.
///
/// - **Redirections.** The cluster client follows `MOVED` (a slot that moved for good: it reads
///   the slot map again) and `ASK` (a slot in the middle of a migration), and sends a command
///   again after `TRYAGAIN`, which Redis answers a script whose keys are split between the two
///   nodes of a migrating slot; it pauses 2 ms before the first retry, doubling up to 100 ms, and
///   the [operation timeout](RedisStoreBuilder::operation_timeout) bounds the whole. A test moves
///   a slot holding sessions between masters while they are read and written, and no request
///   fails.
/// - **Keys, with hash tags.** A script may only touch keys of one hash slot, and a renewal moves
///   a session from one key to another in one script. So on a cluster every key of a session
///   carries a hash tag, `{xx}`, the first byte of its digest in hex, and keeps the whole digest
///   after it: the session is `<key prefix>{3a}3a74…`, its watcher set `<key prefix>w:{3a}3a74…`.
///   The middleware mints a renewal's new id with [`SessionId::generate_successor`], whose digest
///   starts with the same byte, so the old key and the new one share a slot and a renewal stays
///   one atomic script, exactly as on one server. The store refuses a renewal to an id whose
///   digest starts otherwise (a custom caller of [`SessionStore::renew`] must mint its ids the
///   same way). Keys on a single server have no tag, and are named as they always were. The key
///   prefix may not hold `{` or `}`.
/// - **What the tag reveals.** Nothing an attacker can use. The tag is a byte of the digest, which
///   Redis stores anyway, not of the id, and the digest cannot be turned back into an id. A
///   successor is drawn uniformly among the ids whose digest starts with that byte: it keeps
///   about 114 of the id's 122 random bits, far beyond guessing, and knowing the old id (a
///   fixation attempt) or the tag narrows nothing else. Drawing it takes 256 tries on average;
///   see [`SessionId::generate_successor`] for the cost.
/// - **Sessions by user.** A user's set is split by slot, `<key prefix>u:<user tag>:{xx}`, one
///   set for the user's sessions of each tag, changed by the write scripts with the same rules as
///   on one server, since it shares its sessions' slot. A directory per user,
///   `<key prefix>d:<user tag>`, a sorted set in a slot of its own, lists the tags of those sets.
///   Before a write binds a session to a user (a create of a bound session, a bind, a rebind),
///   the store records the session's tag in the user's directory, with a call of its own, and
///   pushes the directory's expiry out to the session's deadline rounded up to the hour, plus an
///   hour; a save of a bound session whose deadline moves into a later hour does it again. So the
///   directory never expires before a session it leads to, and it lists a session's tag before
///   the session is bound. A listing reads the directory, then lists each tag's set with the
///   same script as on one server; a tag whose set is gone leaves the directory once it was last
///   recorded more than 10 minutes before, so that a bind in flight is never orphaned.
///   [`revoke`](SessionStore::revoke) finds the slot from the session's digest and stays one
///   script; [`revoke_all`](SessionStore::revoke_all) runs today's script once per tag. A
///   renewal keeps a session in its slot, so none can escape a revoke-all by moving meanwhile.
/// - **Round trips on a cluster.** A load, an update, a renewal, a delete and a revoke cost what
///   they cost on one server. A write that binds a session costs one more, as does a save of a
///   bound session whose deadline moves into a later hour (for a session saved on every request,
///   once an hour). A listing and a revoke-all cost one, plus one per slot holding one of the
///   user's sessions (at most one per session), plus one where a listing forgets tags.
/// - **Scripts that compute keys.** The listing, the revocations and the delete of a bound
///   session reach keys the scripts read from a set or a field, not declared to Redis: all in
///   the slot of the keys they were given, so a cluster accepts them. While that slot is in the
///   middle of a migration, though, Redis may refuse such a script with an error rather than
///   redirect it, and the operation then fails; the next one, once the slot has moved, works.
/// - **The invalidation feed.** On a cluster, a `PUBLISH` on any node reaches the subscribers of
///   every node, in both [modes](InvalidationMode). The listener subscribes through the first
///   seed node that accepts, and when its connection fails, subscribes again through the next
///   seed node in turn, so that it moves to another node when its node goes. Tests check both
///   modes with the session's keys on another node than the listeners', and a listener moving
///   when its node shuts down.
/// - **Connections.** As on one server, each thread that uses the store opens connections of its
///   own ([`RedisStoreBuilder::pool_size`]), here each a cluster connection, which itself holds
///   one connection per node.
/// - **TLS.** Give `rediss://` seed nodes (all of them, or none) and every node is reached over
///   TLS, with the builder's [CA certificates](RedisStoreBuilder::tls_ca_certificates) and
///   [client certificate](RedisStoreBuilder::tls_client_certificate) where set; the listener's
///   connection to a seed node too. See [TLS](#tls) for the names certificates must hold.
///
/// # Clocks
/// "Now" is the app server's clock: every store computes deadlines from the same clock, and a
/// session is live while its `expires_at` lies after the app's now. Redis deletes the hash by its
/// own clock, so where the two clocks differ it deletes sessions that much early or late; a late
/// one is never returned.
///
/// # Timeouts and outages
/// Every operation, connecting included, fails with [`StoreError::Timeout`] once it has taken
/// longer than the operation timeout (2 s by default; [`RedisStoreBuilder::operation_timeout`]),
/// and [`build`](RedisStoreBuilder::build) fails the same way, so an unreachable server never
/// hangs start-up or a request. A refused connection fails sooner, after two quick retries, with
/// its cause. A lost connection is opened again, so the store recovers without a restart when
/// Redis comes back.
///
/// Build the store once, in `main` before `HttpServer::new`, and clone it into the workers.
/// [`build`](RedisStoreBuilder::build) connects once, to report an unreachable server at start-up;
/// after that every thread that uses the store (each actix-web worker) opens connections of its
/// own on its first operation and runs their I/O on its own runtime, so that no operation is
/// handed from one thread to another. See [`RedisStoreBuilder::pool_size`].
///
/// # TLS
/// With the `redis-tls` feature, a `rediss://` URL connects over TLS, through rustls (OpenSSL is
/// never built, so a static build keeps working): every connection does, the invalidation
/// feed's listener included. Without the feature, [`build`](RedisStoreBuilder::build) refuses a
/// `rediss://` URL and says which feature to enable.
///
/// ```toml
/// kv-sessions = { version = "0.1", default-features = false, features = ["redis-tls"] }
/// ```
///
/// The server's certificate must be signed by a CA the store trusts, and name the URL's host:
///
/// - **The system's roots**, by default, read by `rustls-native-certs` when a connection opens:
///   the PEM file in `SSL_CERT_FILE` and the directories in `SSL_CERT_DIR` where either
///   variable is set (and then nothing else), otherwise the system's store (on Linux, the
///   bundle and directory OpenSSL would read, such as `/etc/ssl/certs`). Managed services'
///   certificates chain to public roots that the system holds.
/// - **CA certificates of the app's own**, for a private CA or a service that hands out its own:
///   [`RedisStoreBuilder::tls_ca_certificates`], which replaces the system's roots.
/// - **A client certificate**, for a server that asks for one (`tls-auth-clients yes`):
///   [`RedisStoreBuilder::tls_client_certificate`]. Managed services rarely do.
/// - **A client set up in code**: [`RedisStore::builder_from_client`] takes a `redis::Client`
///   made with `redis::Client::build_with_tls`, or with any other set-up redis-rs allows.
///
/// A certificate that does not verify (an unknown CA, another host name, expired) fails
/// [`build`](RedisStoreBuilder::build) with a [`StoreError::Open`] that names the server
/// (`host:port/db`, never the password) and says that its certificate was refused, and why. A
/// plaintext `redis://` URL to a port that speaks TLS fails as an unreachable server. redis-rs'
/// `#insecure` fragment, which skips verification, is not built in: the build fails with it.
/// Over TLS the listener's connection keeps the name redis-rs gives it, not
/// `kv-sessions-listener:<channel>` (see below).
///
/// On a [Redis Cluster](#redis-cluster), [`build`](RedisStoreBuilder::build) connects to the
/// seed nodes under the names their URLs give, then to every node at the address the node
/// announces (in `CLUSTER SLOTS`, and in the `MOVED` and `ASK` redirections): by default its IP
/// address, which redis-rs then checks the node's certificate against, not the seed's host name.
/// So each node's certificate must name what the node announces as well as what the seed URLs
/// say: its IP address (as an `IP Address` subject alternative name), or, on Redis 7 and later,
/// a host name of its own announced with `cluster-announce-hostname <name>` and
/// `cluster-preferred-endpoint-type hostname`. `CLUSTER SLOTS` on any node shows what the
/// nodes announce; the tests run a cluster whose certificates name `localhost` and
/// `127.0.0.1`, reached through `rediss://localhost` seeds. The cluster client reports a refused
/// certificate as text only, so where the cluster cannot be reached the store connects once more
/// to the first seed node on its own, to say whether its certificate was refused. A node other
/// than the seeds whose certificate does not verify fails the operations on its slots with
/// [`StoreError::Backend`].
///
/// rustls needs one crypto provider; this feature builds *ring*. Where something else in the
/// app builds rustls with `aws-lc-rs` too, rustls cannot choose on its own: install one with
/// `rustls::crypto::CryptoProvider::install_default` at the start of `main`.
///
/// The URLs of common managed services (their certificates chain to public roots, except where
/// said):
///
/// | service | URL |
/// |---|---|
/// | Amazon ElastiCache, in-transit encryption on (cluster mode off: the primary endpoint) | `rediss://:<auth token>@master.<name>.<id>.<region>.cache.amazonaws.com:6379` |
/// | Azure Cache for Redis (TLS on port 6380; 6379 is plaintext, off by default) | `rediss://:<access key>@<name>.redis.cache.windows.net:6380` |
/// | Amazon ElastiCache, cluster mode and in-transit encryption on (the configuration endpoint, as the seed node of [`cluster_builder`](RedisStore::cluster_builder)) | `rediss://:<auth token>@clustercfg.<name>.<id>.<region>.cache.amazonaws.com:6379` |
/// | Azure Cache for Redis, clustered (its host name, as the seed node of [`cluster_builder`](RedisStore::cluster_builder)) | `rediss://:<access key>@<name>.redis.cache.windows.net:6380` |
/// | Upstash | `rediss://default:<password>@<name>.upstash.io:6379` |
/// | Redis Cloud, TLS on (its own CA: download it from the console and give it to [`tls_ca_certificates`](RedisStoreBuilder::tls_ca_certificates)) | `rediss://default:<password>@redis-<port>.<host>.redns.redis-cloud.com:<port>` |
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use kv_sessions::RedisStore;
///
/// let url = std::env::var("REDIS_URL")?; // rediss://:<access key>@shop.redis.cache.windows.net:6380
/// let store = RedisStore::builder(url).key_prefix("shop:sessions:").build().await?;
/// # Ok(()) }
/// ```
///
/// # Caching, and the invalidation feed
/// A [`CachedStore`](crate::CachedStore) in front
/// ([`SessionMiddlewareBuilder::cache`](crate::SessionMiddlewareBuilder::cache) puts one there)
/// serves loads from memory, and stays coherent across app instances through the store's
/// [`InvalidationFeed`](crate::InvalidationFeed), on by default
/// ([`RedisStoreBuilder::invalidation_feed`]):
///
/// - **The channel.** In the default mode, [`InvalidationMode::Broadcast`], every store publishes
///   on, and listens to, the Redis channel `<key prefix>invalidations`
///   (`kv-sessions:invalidations` by default), so that apps with different prefixes do not hear
///   each other. In [`InvalidationMode::Targeted`], each store listens on a channel of its own
///   instead (see [below](#two-modes-broadcast-and-targeted)).
/// - **The messages.** One per write, in the text form of an [`Invalidation`](crate::Invalidation):
///   the 32 hex digits of the session's digest, a space, then the version Redis now holds (after
///   an update) or `-` (after a delete, and for the old id of a renewal). Like the keys, they
///   carry digests, never ids, and never session data. A delete is announced even where it found
///   nothing, since another instance may still cache a session that Redis evicted. A create is
///   not announced: no cache can hold a session under an id that was just generated.
/// - **Atomic with the write.** The write script runs `PUBLISH` itself, so a notice goes out
///   exactly when a write is made: a script that writes nothing (the copy was stale, the fresh id
///   was in use, the session was gone) announces nothing, and no write can be left unannounced by
///   an app that stopped between writing and publishing.
/// - **The listener.** Each store keeps one connection of its own subscribed to the channel,
///   named `kv-sessions-listener:<channel>` (over plain TCP, not TLS) so that it can be found
///   in `CLIENT LIST`,
///   as a task on the runtime that awaited [`build`](RedisStoreBuilder::build); the task stops
///   when the last clone of the store is dropped. `build` fails unless Redis confirms the
///   subscription within the operation timeout. A notice of version `v` makes a cache drop its
///   copy if it is older than `v`, and spares a copy at least as new, so the notice of an
///   instance's own save does not evict the copy that instance has just cached.
/// - **A lost channel.** The listener sends a `PING` on its connection every quarter of
///   [`max_staleness`](RedisStoreBuilder::max_staleness) (1 second by default); its answer proves
///   that every notice sent before it has arrived. Where the connection fails (Redis restarts,
///   `CLIENT KILL`, the network drops) or an answer is later than the operation timeout (or two
///   heartbeat intervals, where that is longer), the feed logs a warning once, and the listener
///   connects again after a pause of 50 ms, doubled after each failed attempt up to 1 s, then
///   logs the recovery once. Notices sent in between are lost, so until it listens again, and for
///   every copy read before it did, a cache serves a copy only for `max_staleness` after reading
///   it from Redis, then reads it again: a lost channel makes staleness bounded, not impossible.
/// - **Why `PUBLISH` rather than Redis' client-side caching (`CLIENT TRACKING`).** Tracking
///   tells a client that a key changed, not what it now holds, so an instance would evict the
///   copy its own save had just cached; these notices carry the version. Tracking pushes its
///   invalidations over RESP3, or under RESP2 redirects them to a second connection of each
///   tracking connection, and in its default mode Redis remembers every key each connection has
///   read; this needs RESP2 only, and one subscriber connection per instance. Targeted mode
///   (below) keeps what tracking does well, telling only the instances that read a session.
///
/// # Two modes: broadcast and targeted
/// [`RedisStoreBuilder::invalidation_mode`] chooses which instances hear a write. Give every
/// instance of an app the same mode: a broadcasting instance neither records what it loads nor
/// listens on a channel of its own, and a targeted one does not listen on the shared channel, so
/// in a mixed fleet some writes go unheard.
///
/// - **[`InvalidationMode::Broadcast`]**, the default. A write publishes one notice, and Redis
///   delivers it to every instance, whether or not it has that session cached: each write costs
///   as many deliveries as there are instances, and the channel carries the write rate times the
///   number of instances. It costs no memory in Redis, and a load stays a plain `HGETALL`.
/// - **[`InvalidationMode::Targeted`]**. Each store draws a random instance id at
///   [`build`](RedisStoreBuilder::build) and listens on `<key prefix>invalidations:<instance
///   id>`. A load is a short script that reads the hash and, where there is one, adds the
///   instance id to the session's *watcher set*, the Redis set `<key prefix>w:<digest>` (a
///   session key holds only hex digits after the prefix, so the two cannot collide), which
///   expires with the session; still one round trip. A create adds its instance too, since it
///   caches what it created. An update, a renewal (for the old id) and a
///   delete publish their notice on the channel of every instance in the set, then empty it;
///   an update and a renewal then add the writer to the set of the session they wrote, since the
///   writer caches what it wrote. Each write thus costs one message per instance in the set:
///   those that loaded the session since its last write, and the instance that made that write;
///   not one per instance of the app. A session that one instance serves costs one message per
///   write, however large the fleet. In exchange every load from Redis that finds a session
///   (with a cache in front, every miss) writes to Redis, which replicas and the append-only file see too, and Redis
///   holds one small set per session loaded since its last write, of 32-character ids. The ids
///   are random, so an instance that restarts starts with no copies, and its old id leaves each
///   set at the next write or with the session. It needs Redis 7.0 or later (`PEXPIRETIME`).
///
/// Targeted pays where the instances are many and each session is loaded by few of them between
/// two writes (by one, behind a sticky load balancer); broadcast costs less where the instances
/// are few, since its loads write nothing. For where the two cross, measured, see
/// `bench/RESULTS.md`. Whichever the mode, the section above holds: notices carry digests and
/// versions, go out from inside the write, and a lost channel makes staleness bounded. In
/// targeted mode, the notices sent to an instance's channel while its listener is down are lost
/// as in broadcast mode, and covered the same way: every copy read before it listens again is
/// served for `max_staleness` at most.
///
/// [`RedisStoreBuilder::invalidation_feed`]`(false)` turns the feed off: the store then neither
/// publishes nor listens, and a cache in front of it is safe for one instance only. Turn it off
/// on every instance of an app or on none, since the caches of the others would not hear the
/// writes of an instance without it.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

/// What the clones of one store share.
struct Inner {
    connections: Connections,
    keys: KeyLayout,
    timeout: Duration,
    /// Where the write scripts publish their notices, and whether loads record watchers.
    routing: Routing,
    feed: Option<InvalidationFeed>,
    /// Hears the channel while the store lives; dropped with the last clone, which stops it.
    _listener: Option<Listener>,
}

/// Shows where the store points, never the URL's user name or password.
impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = f.debug_struct("RedisStore");
        shown
            .field("server", &self.inner.connections.server())
            .field("key_prefix", &self.inner.keys.prefix());
        match self.inner.connections.per_thread() {
            Some(count) => shown.field("pool_size", &count),
            None => shown.field("connections", &"the app's ConnectionManager"),
        };
        shown
            .field("operation_timeout", &self.inner.timeout)
            .field("invalidation_feed", &self.inner.feed)
            .field("invalidation_channel", &self.inner.routing.listens_on())
            .finish()
    }
}

/// Why a Redis operation failed, beside the errors of the Redis client.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("Redis did not answer within the operation timeout of {0:?}")]
    TimedOut(Duration),
    /// A renewal on Redis Cluster to an id whose digest does not start with the old one's byte,
    /// so that the two keys would lie in different slots.
    #[error(
        "on Redis Cluster, a renewal's new id must share its digest's first byte with the old \
         id's; mint it with SessionId::generate_successor"
    )]
    RenewalAcrossSlots,
}

impl RedisStore {
    /// Connects to the Redis server at `url` (such as `redis://127.0.0.1:6379`, or
    /// `redis://user:password@host:6379/2`) with default settings.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::builder(url).build().await
    }

    /// Starts configuring a store for the Redis server at `url`.
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder::new(url.into())
    }

    /// Starts configuring a store whose connections the app's own `client` opens: the way to
    /// bring a client set up in code, with its own TLS certificates
    /// (`redis::Client::build_with_tls`) or credentials. `client` is a `redis` 1.x client,
    /// the release this crate builds against.
    ///
    /// The store's settings apply as with a URL: each thread that uses the store opens
    /// [`pool_size`](RedisStoreBuilder::pool_size) connections of its own from `client`, and the
    /// invalidation feed's listener one more; every connection sends each command at once
    /// (`TCP_NODELAY`), whatever `client` says.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use kv_sessions::RedisStore;
    ///
    /// let client = redis::Client::open("redis://redis.internal:6379/2")?;
    /// let store = RedisStore::builder_from_client(client)
    ///     .key_prefix("shop:sessions:")
    ///     .build()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn builder_from_client(client: redis::Client) -> RedisStoreBuilder {
        RedisStoreBuilder::from_client(client)
    }

    /// Starts configuring a store that sends every operation through the app's own `manager`,
    /// from every thread, with the invalidation feed off.
    ///
    /// The key prefix, the operation timeout and the invalidation mode apply;
    /// [`pool_size`](RedisStoreBuilder::pool_size) does not, and the manager's own timeouts and
    /// retries apply beside the store's timeout. The trade-off: the manager's I/O runs on the
    /// runtime that created it, so every operation of the other threads (each actix-web worker)
    /// is handed to that runtime and back, which costs CPU on every round trip where a store
    /// with connections of its own ([`builder`](Self::builder),
    /// [`builder_from_client`](Self::builder_from_client)) hands nothing between threads.
    /// Choose it to keep the app at one connection to Redis.
    ///
    /// The invalidation feed needs a connection of its own, which a manager cannot give, so
    /// [`build`](RedisStoreBuilder::build) fails where
    /// [`invalidation_feed`](RedisStoreBuilder::invalidation_feed)`(true)` asks for it: a
    /// [`CachedStore`](crate::CachedStore) in front of this store is then safe for one instance
    /// only. Where several instances share Redis behind caches, build every instance's store from
    /// a client. The manager connects as its client says, so TLS settings go on that client,
    /// and [`build`](RedisStoreBuilder::build) fails where they are given to the builder.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use kv_sessions::RedisStore;
    ///
    /// let client = redis::Client::open("redis://redis.internal:6379")?;
    /// let manager = redis::aio::ConnectionManager::new(client).await?;
    /// let store = RedisStore::builder_from_connection_manager(manager.clone())
    ///     .key_prefix("shop:sessions:")
    ///     .build()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn builder_from_connection_manager(
        manager: redis::aio::ConnectionManager,
    ) -> RedisStoreBuilder {
        RedisStoreBuilder::from_connection_manager(manager)
    }

    /// Starts configuring a store for the Redis Cluster that `nodes` lead to: the URLs of some
    /// of its masters (`redis://10.0.0.1:6379`), from which the store learns the others and which
    /// hash slots each serves. See [Redis Cluster](RedisStore#redis-cluster).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), kv_sessions::StoreError> {
    /// use kv_sessions::RedisStore;
    ///
    /// let store = RedisStore::cluster_builder([
    ///     "redis://10.0.0.1:6379",
    ///     "redis://10.0.0.2:6379",
    ///     "redis://10.0.0.3:6379",
    /// ])
    /// .key_prefix("shop:sessions:")
    /// .build()
    /// .await?;
    /// # Ok(()) }
    /// ```
    pub fn cluster_builder(
        nodes: impl IntoIterator<Item = impl Into<String>>,
    ) -> RedisStoreBuilder {
        RedisStoreBuilder::cluster(nodes.into_iter().map(Into::into).collect())
    }

    /// The key of session `id`.
    fn key(&self, id: &SessionId) -> String {
        self.inner.keys.session(id.digest())
    }

    /// The key of the watcher set of session `id` (targeted mode).
    fn watchers(&self, id: &SessionId) -> String {
        self.inner.keys.watchers(id.digest())
    }

    /// What a write of `after` under `new` does to the index, where the session was `before`
    /// under `old` (the same id, but for a renewal); `before` is `None` where there was none.
    fn reindex(
        &self,
        before: Option<&Record>,
        old: &SessionId,
        after: &Record,
        new: &SessionId,
    ) -> Reindex {
        let before = before
            .and_then(Record::owner)
            .map(|owner| (owner, old.digest()));
        let after = after.owner().map(|owner| (owner, new.digest()));
        Reindex::between(&self.inner.keys, before, after)
    }

    /// On Redis Cluster, records the tag of `after` in its user's directory, where a write from
    /// `before` (the copy the write merged against, if any) needs it first (see [`Directory`]).
    async fn record_in_directory(
        &self,
        before: Option<&Record>,
        after: &Record,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let Some(owner) = after.owner().filter(|_| self.inner.keys.is_cluster()) else {
            return Ok(());
        };
        let before = before.and_then(|copy| Some((copy.owner()?, copy.expires_at())));
        if !Directory::must_record(before, (owner, after.expires_at())) {
            return Ok(());
        }
        let directory = self.inner.keys.directory(owner.user());
        let mut call = SCRIPTS.directory.call(&[&directory]);
        call.arg(SlotTag::of(after.id().digest()).to_string())
            .arg(hash::millis(now))
            .arg(hash::millis(Directory::expiry_for(after.expires_at())));
        self.run::<i64>(&SCRIPTS.directory, &call).await.map(drop)
    }

    /// The hash tags of `user`'s sets, with when each was last recorded in the user's directory:
    /// on one server, where names ignore the tag, the one set under any tag, never recorded.
    async fn tags_of(&self, user: &str) -> Result<Vec<(SlotTag, Option<SystemTime>)>, StoreError> {
        if !self.inner.keys.is_cluster() {
            return Ok(vec![(SlotTag::default(), None)]);
        }
        let directory = self.inner.keys.directory(user);
        let flat: Vec<Vec<u8>> = self
            .timed(|mut connection| async move {
                redis::cmd("ZRANGE")
                    .arg(directory)
                    .arg(0)
                    .arg(-1)
                    .arg("WITHSCORES")
                    .query_async(&mut connection)
                    .await
            })
            .await?;
        let entries = Directory::entries(&flat).into_iter();
        Ok(entries.map(|(tag, at)| (tag, Some(at))).collect())
    }

    /// The sessions in `user`'s set of tag `tag` that are still the user's, four values each,
    /// as `sessions_of.lua` lists them; the script trims the others.
    async fn listed_in(
        &self,
        user: &str,
        tag: SlotTag,
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let keys = &self.inner.keys;
        let mut call = SCRIPTS.sessions_of.call(&[&keys.user_set_in(user, tag)]);
        call.arg(UserField(user).to_string())
            .arg(keys.sessions_in(tag));
        self.run(&SCRIPTS.sessions_of, &call).await
    }

    /// Takes out of `user`'s directory the tags in `gone`, whose sets a listing at `now` found
    /// gone, where each was last recorded more than [`Directory::GRACE`] before `now`.
    async fn forget(
        &self,
        user: &str,
        gone: &[SlotTag],
        now: SystemTime,
    ) -> Result<(), StoreError> {
        if gone.is_empty() {
            return Ok(());
        }
        let mut call = SCRIPTS.forget.call(&[&self.inner.keys.directory(user)]);
        call.arg(hash::millis(now - Directory::GRACE));
        for tag in gone {
            call.arg(tag.to_string());
        }
        self.run::<i64>(&SCRIPTS.forget, &call).await.map(drop)
    }

    /// Runs `work` on one of the connections, failing it once it passes the operation timeout.
    async fn timed<T, F>(&self, work: impl FnOnce(Connection) -> F) -> Result<T, StoreError>
    where
        F: Future<Output = RedisResult<T>>,
    {
        let timeout = self.inner.timeout;
        let pending = self.inner.connections.next().map_err(StoreError::backend)?;
        let connected = async move { work(pending.connect().await?).await };
        match tokio::time::timeout(timeout, connected).await {
            // The client's own response timeout is the same length, and may fire first.
            Ok(Err(error)) if error.is_timeout() => Err(StoreError::timeout(error)),
            Ok(answer) => answer.map_err(StoreError::backend),
            Err(_) => Err(StoreError::timeout(Failure::TimedOut(timeout))),
        }
    }

    /// The fields of the hash of session `id`, none where there is no hash.
    async fn fields(&self, id: &SessionId) -> Result<Vec<hash::RawField>, StoreError> {
        let key = self.key(id);
        self.timed(|mut connection| async move {
            redis::cmd("HGETALL")
                .arg(key)
                .query_async(&mut connection)
                .await
        })
        .await
    }

    /// The fields of the hash of session `id`, as [`fields`](Self::fields) reads them, recording
    /// this instance among the session's watchers where there is a hash.
    async fn watched_fields(&self, id: &SessionId) -> Result<Vec<hash::RawField>, StoreError> {
        let mut call = SCRIPTS.load.call(&[&self.key(id), &self.watchers(id)]);
        call.arg(self.inner.routing.instance());
        let flat = self.run(&SCRIPTS.load, &call).await?;
        hash::pairs(flat).map_err(StoreError::backend)
    }

    /// The latest copy of session `id`, for a write at `now` to merge against.
    async fn snapshot(&self, id: &SessionId, now: SystemTime) -> Result<Snapshot, StoreError> {
        Ok(Snapshot::read(*id, self.fields(id).await?, now))
    }

    /// Runs `call` of `script`, handing Redis the script's source first where it has lost it.
    async fn run<T: FromRedisValue>(
        &self,
        script: &LuaScript,
        call: &Cmd,
    ) -> Result<T, StoreError> {
        self.timed(|mut connection| async move {
            match call.query_async(&mut connection).await {
                Err(error) if error.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                    script.load().exec_async(&mut connection).await?;
                    call.query_async(&mut connection).await
                }
                answer => answer,
            }
        })
        .await
    }

    /// Runs `call` of the write script `script`, and reads its reply.
    async fn write(&self, script: &LuaScript, call: &Cmd) -> Result<Reply, StoreError> {
        let reply = self.run(script, call).await?;
        Reply::read(reply).map_err(StoreError::backend)
    }

    /// [`SessionStore::create`] with the clock at `now`: the store's tests set the clock through
    /// it.
    async fn create_at(
        &self,
        id: &SessionId,
        changes: &Changes,
        now: SystemTime,
    ) -> Result<Saved, StoreError> {
        let record = match changes.apply_to(*id, None, now) {
            Ok(record) => record,
            Err(refusal) => return Ok(Saved::TooLarge(refusal)),
        };
        let plan = self.reindex(None, id, &record, id);
        self.record_in_directory(None, &record, now).await?;
        let sessions = [self.key(id), self.watchers(id)];
        let mut call = SCRIPTS.create.call(&with_sets(&sessions, &plan));
        args::create(&mut call, &self.inner.routing, &plan, &record);
        match self.write(&SCRIPTS.create, &call).await? {
            Reply::Written => Ok(Saved::Stored(record)),
            Reply::InUse => Err(StoreError::id_in_use()),
            other => Err(StoreError::backend(other.unexpected())),
        }
    }

    /// [`SessionStore::update`] with the clock at `now`, merged first against `loaded`, the copy
    /// the request loaded, where it is given and live: the store's tests set the clock through
    /// it.
    async fn update_at(
        &self,
        id: &SessionId,
        loaded: Option<&Record>,
        changes: &Changes,
        now: SystemTime,
    ) -> Result<Saved, StoreError> {
        let first = match loaded.filter(|copy| !copy.is_expired_at(now)) {
            Some(copy) => Snapshot::loaded(copy),
            None => self.snapshot(id, now).await?,
        };
        cas::until_done(first, |copy| self.try_update(id, copy, changes, now)).await
    }

    /// One try of an update: merges `changes` against `copy`, and writes the fields that changed
    /// where Redis still holds `copy`.
    async fn try_update(
        &self,
        id: &SessionId,
        copy: Snapshot,
        changes: &Changes,
        now: SystemTime,
    ) -> Result<Attempt<Saved>, StoreError> {
        let Some(base) = copy.live() else {
            return Ok(Attempt::Done(Saved::Gone));
        };
        let merged = match changes.apply_to(*id, Some(base), now) {
            Ok(merged) => merged,
            Err(refusal) if copy.was_read() => return Ok(Attempt::Done(Saved::TooLarge(refusal))),
            // A loaded copy may be stale, and the latest copy may leave room for the changes.
            Err(_) => return Ok(Attempt::Stale(self.snapshot(id, now).await?)),
        };
        let plan = self.reindex(Some(base), id, &merged, id);
        self.record_in_directory(Some(base), &merged, now).await?;
        let sessions = [self.key(id), self.watchers(id)];
        let mut call = SCRIPTS.update.call(&with_sets(&sessions, &plan));
        let notice = Invalidation::saved(id.digest(), merged.version());
        args::announcement(&mut call, &self.inner.routing, &notice);
        args::reindex(&mut call, &plan);
        args::update(&mut call, copy.meta(), base, &merged);
        match self.write(&SCRIPTS.update, &call).await? {
            Reply::Written => Ok(Attempt::Done(Saved::Stored(merged))),
            Reply::Gone => Ok(Attempt::Done(Saved::Gone)),
            Reply::Stale(latest) => Ok(Attempt::Stale(latest_copy(id, latest, now)?)),
            other => Err(StoreError::backend(other.unexpected())),
        }
    }

    /// [`SessionStore::renew`] with the clock at `now`: the store's tests set the clock through
    /// it.
    async fn renew_at(
        &self,
        old: &SessionId,
        new: &SessionId,
        changes: &Changes,
        now: SystemTime,
    ) -> Result<Saved, StoreError> {
        if self.inner.keys.is_cluster() && SlotTag::of(old.digest()) != SlotTag::of(new.digest()) {
            return Err(StoreError::backend(Failure::RenewalAcrossSlots));
        }
        let first = self.snapshot(old, now).await?;
        cas::until_done(first, |copy| self.try_renew(old, new, copy, changes, now)).await
    }

    /// One try of a renewal: merges `changes` against `copy`, the old session as read, and
    /// moves the result to `new` where Redis still holds `copy` under `old`.
    async fn try_renew(
        &self,
        old: &SessionId,
        new: &SessionId,
        copy: Snapshot,
        changes: &Changes,
        now: SystemTime,
    ) -> Result<Attempt<Saved>, StoreError> {
        let record = match changes.apply_to_renewal(*new, copy.live(), now) {
            Ok(record) => record,
            Err(answer) => return Ok(Attempt::Done(answer)),
        };
        let plan = self.reindex(copy.live(), old, &record, new);
        self.record_in_directory(copy.live(), &record, now).await?;
        let sessions = [
            self.key(old),
            self.key(new),
            self.watchers(old),
            self.watchers(new),
        ];
        let mut call = SCRIPTS.renew.call(&with_sets(&sessions, &plan));
        let notice = Invalidation::removed(old.digest());
        args::announcement(&mut call, &self.inner.routing, &notice);
        args::reindex(&mut call, &plan);
        args::renew(&mut call, copy.meta(), &record);
        match self.write(&SCRIPTS.renew, &call).await? {
            Reply::Written => Ok(Attempt::Done(Saved::Stored(record))),
            Reply::Stale(latest) => Ok(Attempt::Stale(latest_copy(old, latest, now)?)),
            Reply::InUse => Err(StoreError::id_in_use()),
            other => Err(StoreError::backend(other.unexpected())),
        }
    }
}

impl SessionStore for RedisStore {
    /// Reads the hash, and in targeted mode records this instance among the session's watchers
    /// in the same step.
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let fields = if self.inner.routing.registers_loads() {
            self.watched_fields(id).await?
        } else {
            self.fields(id).await?
        };
        if fields.is_empty() {
            return Ok(None);
        }
        let record = hash::decode(*id, fields).map_err(StoreError::corrupt)?;
        Ok(Some(record).filter(|record| !record.is_expired_at(SystemTime::now())))
    }

    async fn create(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        self.create_at(id, changes, SystemTime::now()).await
    }

    async fn update(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        self.update_at(id, None, changes, SystemTime::now()).await
    }

    /// Merges against the loaded copy, and writes where Redis still holds that version.
    async fn update_from(&self, loaded: &Record, changes: &Changes) -> Result<Saved, StoreError> {
        self.update_at(&loaded.id(), Some(loaded), changes, SystemTime::now())
            .await
    }

    /// Reads the old session, and moves it in one script over both keys.
    async fn renew(
        &self,
        old: &SessionId,
        new: &SessionId,
        changes: &Changes,
    ) -> Result<Saved, StoreError> {
        self.renew_at(old, new, changes, SystemTime::now()).await
    }

    async fn delete(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let mut call = SCRIPTS.delete.call(&[&self.key(id), &self.watchers(id)]);
        let notice = Invalidation::removed(id.digest());
        args::announcement(&mut call, &self.inner.routing, &notice);
        let keys = &self.inner.keys;
        call.arg(keys.sets_prefix())
            .arg(id.digest().to_string())
            .arg(keys.set_suffix(SlotTag::of(id.digest())));
        let flat: Vec<Vec<u8>> = self.run(&SCRIPTS.delete, &call).await?;
        if flat.is_empty() {
            return Ok(None);
        }
        match hash::pairs(flat).and_then(|fields| hash::decode(*id, fields)) {
            Ok(record) => {
                Ok(Some(record).filter(|record| !record.is_expired_at(SystemTime::now())))
            }
            Err(error) => {
                // The session is gone either way; there is nothing to hand back.
                tracing::warn!(%error, "deleted a corrupt session record");
                Ok(None)
            }
        }
    }

    /// One script reads the sessions in the user's set, and trims those that are gone or no
    /// longer the user's; on Redis Cluster, one reads the user's directory first, then one such
    /// script runs for each of the user's per-slot sets.
    async fn sessions_of(&self, user: &str) -> Result<Vec<UserSession>, StoreError> {
        let now = SystemTime::now();
        let mut sessions = Vec::new();
        let mut gone = Vec::new();
        for (tag, recorded) in self.tags_of(user).await? {
            let flat = self.listed_in(user, tag).await?;
            // The script removed every member it did not list, so an empty answer means the set
            // is gone.
            if flat.is_empty() && recorded.is_some_and(|at| at + Directory::GRACE < now) {
                gone.push(tag);
            }
            sessions.extend(index::listed(&flat, now).map_err(StoreError::backend)?);
        }
        self.forget(user, &gone, now).await?;
        Ok(sessions)
    }

    /// One script deletes the session where it is the user's, takes it out of the user's set,
    /// and announces the deletion as [`delete`](SessionStore::delete) does. On Redis Cluster too:
    /// the session's digest names the slot of its set.
    async fn revoke(&self, user: &str, session: SessionDigest) -> Result<bool, StoreError> {
        let keys = &self.inner.keys;
        let key = keys.session(session);
        let watchers = keys.watchers(session);
        let set = keys.user_set(user, session);
        let mut call = SCRIPTS.revoke.call(&[&key, &watchers, &set]);
        let notice = Invalidation::removed(session);
        args::announcement(&mut call, &self.inner.routing, &notice);
        call.arg(UserField(user).to_string())
            .arg(session.to_string());
        let meta: Option<Vec<u8>> = self.run(&SCRIPTS.revoke, &call).await?;
        Ok(index::was_live(&meta, SystemTime::now()))
    }

    /// One script deletes every session in the user's set that is still the user's but
    /// `except`, with nothing in between (no renewal can move a session out of its reach), and
    /// announces each deletion. On Redis Cluster, one reads the user's directory first, then one
    /// such script runs for each per-slot set: a renewal keeps a session in its slot, so none
    /// escapes.
    async fn revoke_all(
        &self,
        user: &str,
        except: Option<SessionDigest>,
    ) -> Result<Vec<SessionDigest>, StoreError> {
        let keys = &self.inner.keys;
        let except = except.map(|digest| digest.to_string()).unwrap_or_default();
        let mut revoked = Vec::new();
        for (tag, _) in self.tags_of(user).await? {
            let mut call = SCRIPTS.revoke_all.call(&[&keys.user_set_in(user, tag)]);
            args::announcements(&mut call, &self.inner.routing);
            call.arg(UserField(user).to_string())
                .arg(&except)
                .arg(keys.sessions_in(tag))
                .arg(keys.watchers_in(tag));
            let flat: Vec<Option<Vec<u8>>> = self.run(&SCRIPTS.revoke_all, &call).await?;
            let now = SystemTime::now();
            revoked.extend(index::revoked(&flat, now).map_err(StoreError::backend)?);
        }
        Ok(revoked)
    }

    /// The feed of the notices every store over this Redis database and key prefix publishes,
    /// unless [`RedisStoreBuilder::invalidation_feed`] turned it off.
    fn invalidations(&self) -> Option<InvalidationFeed> {
        self.inner.feed.clone()
    }
}

/// The `KEYS` of a write script: the keys of its sessions and watcher sets, then the sets of the
/// index that `plan` touches.
fn with_sets<'k>(sessions: &'k [String], plan: &'k Reindex) -> Vec<&'k str> {
    let sessions = sessions.iter().map(String::as_str);
    sessions.chain(plan.keys()).collect()
}

/// The snapshot of session `id` from the hash a script found in place of the copy it was sent,
/// as a flat list of names and values.
fn latest_copy(
    id: &SessionId,
    flat: Vec<Vec<u8>>,
    now: SystemTime,
) -> Result<Snapshot, StoreError> {
    let fields = hash::pairs(flat).map_err(StoreError::backend)?;
    Ok(Snapshot::read(*id, fields, now))
}

#[cfg(test)]
mod tests;
#[cfg(all(test, feature = "moka"))]
mod tests_feed;
#[cfg(all(test, feature = "moka"))]
mod tests_targeted;
