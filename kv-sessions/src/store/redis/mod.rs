//! Sessions in Redis, shared by every instance of an app.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use redis::{Cmd, ErrorKind, FromRedisValue, RedisResult, ServerErrorKind};

use self::connections::Connections;
use self::scripts::{LuaScript, Reply, SCRIPTS, UnexpectedReply};
use super::SessionStore;
use crate::changes::{Changes, Saved, TooLarge};
use crate::error::{BoxError, StartError, StoreError};
use crate::id::SessionId;
use crate::record::Record;

mod args;
mod connections;
mod hash;
mod scripts;

/// The prefix of every key by default.
const DEFAULT_KEY_PREFIX: &str = "kv-sessions:";
/// How long an operation may take by default, connecting included.
const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(2);
/// How many connections a store opens by default.
const DEFAULT_POOL_SIZE: usize = 1;

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
/// Each session is one hash, under the key prefix followed by the session id's 32 hex digits
/// (`kv-sessions:5f0c…` by default). Its fields:
///
/// | field | value |
/// |---|---|
/// | `meta` | `<version>:<created_at>:<expires_at>`: the number of saves, the creation time and the deadline, in decimal, the times in milliseconds since the Unix epoch |
/// | `rule` | the session's own [`Expiry`](crate::Expiry) to the nanosecond, such as `on_inactivity:2592000.000000000`; absent where the session follows the default |
/// | `rule_ms` | the same rule in whole milliseconds, as the scripts compute with it: `idle:<ms>` or `at:<ms>` |
/// | `k:<key>` | the JSON text of the entry `<key>`, byte for byte |
///
/// Only entry fields start with `k:`, so no session key can collide with the metadata. The hash
/// carries a Redis expiry (`PEXPIREAT`) at its deadline, so expired sessions leave Redis on their
/// own; nothing needs sweeping.
///
/// # One round trip, atomically
/// Each operation is one request to Redis. A load is one `HGETALL`; every write is a Lua script,
/// sent by its SHA-1 (`EVALSHA`, with the source again where Redis has lost it), and Redis runs
/// a script with nothing else in between. So each write applies its [`Changes`] to the latest
/// stored copy, as the [`SessionStore`] contract asks:
///
/// - `update` merges into the live session and refreshes its deadline and expiry; where there
///   is no live session it writes nothing and answers [`Saved::Gone`]. Where the changes carry
///   the copy their request loaded ([`Changes::base`], as the middleware's do), the merge is done
///   in Rust against that copy, and the script only compares the stored `meta` with the copy's
///   and writes what changed; where another request saved in between, it merges itself;
/// - `create` writes a new session, and fails where the id holds a hash already;
/// - `renew` moves the live session, with the changes merged in, to the new id and deletes the
///   old one, in one script over both keys; where the old session is gone, the new id gets only
///   the changes' writes, and nothing at all where they write no value;
/// - `delete` reads the hash and deletes it in one script, and hands back the session if it was
///   live.
///
/// A merge in a script gives exactly the record that [`Changes::apply_to`] gives: the same
/// entries, rule, version and creation time, the same size cap, refused whole with
/// [`Saved::TooLarge`], and the same deadline to the millisecond. The arithmetic that does not
/// depend on the stored session is done in Rust before the script runs, with the deadline's
/// inputs passed as arguments; the script adds the stored rule's part and takes the minimums.
///
/// Because `renew` touches two keys, the store needs a single Redis server (with replicas, if
/// you like), not Redis Cluster. It is tested against Redis 7.
///
/// Redis keeps sessions as durably as it is configured to (RDB snapshots, the append-only file,
/// or neither). Under `maxmemory`, its eviction policy may drop sessions before their deadline;
/// an evicted session is simply gone, as if it had expired.
///
/// # Clocks
/// "Now" is the app server's clock, in whole milliseconds, sent with every operation: every
/// store computes deadlines from the same clock, and a session is live while its `expires_at`
/// lies after the app's now. Redis deletes the hash by its own clock, so where the two clocks
/// differ it deletes sessions that much early or late; a late one is never returned.
///
/// # Timeouts and outages
/// Every operation, connecting included, fails with [`StoreError::Backend`] once it has taken
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
/// # Caching
/// A [`CachedStore`](crate::CachedStore) in front serves loads from memory. With several app
/// instances over one Redis, each instance's cache can serve a copy that another instance has
/// since changed; see [`CachedStore`](crate::CachedStore).
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

/// What the clones of one store share.
struct Inner {
    connections: Connections,
    key_prefix: String,
    timeout: Duration,
}

/// Shows where the store points, never the URL's user name or password.
impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("server", &self.inner.connections.server())
            .field("key_prefix", &self.inner.key_prefix)
            .field("pool_size", &self.inner.connections.per_thread())
            .field("operation_timeout", &self.inner.timeout)
            .finish()
    }
}

/// Why a Redis operation failed, beside the errors of the Redis client.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("Redis did not answer within the operation timeout of {0:?}")]
    TimedOut(Duration),
    #[error("a new session id is already in use")]
    IdInUse,
}

impl RedisStore {
    /// Connects to the Redis server at `url` (such as `redis://127.0.0.1:6379`, or
    /// `redis://user:password@host:6379/2`) with default settings.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::builder(url).build().await
    }

    /// Starts configuring a store for the Redis server at `url`.
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder {
            url: url.into(),
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            pool_size: DEFAULT_POOL_SIZE,
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
        }
    }

    /// The key of session `id`.
    fn key(&self, id: &SessionId) -> String {
        format!("{}{id}", self.inner.key_prefix)
    }

    /// Runs `work` on one of the connections, failing it once it passes the operation timeout.
    async fn timed<T, F>(
        &self,
        work: impl FnOnce(redis::aio::ConnectionManager) -> F,
    ) -> Result<T, StoreError>
    where
        F: Future<Output = RedisResult<T>>,
    {
        let timeout = self.inner.timeout;
        let connection = self.inner.connections.next().map_err(StoreError::backend)?;
        match tokio::time::timeout(timeout, work(connection)).await {
            Ok(answer) => answer.map_err(StoreError::backend),
            Err(_) => Err(StoreError::backend(Failure::TimedOut(timeout))),
        }
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

    /// [`SessionStore::create`] with the clock at `now`, a whole millisecond: the store's tests
    /// set the clock through it.
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
        let mut call = SCRIPTS.create.call(&[&self.key(id)]);
        args::fresh(&mut call, &record);
        let reply = self.write(&SCRIPTS.create, &call).await?;
        outcome(*id, changes, reply, Some(Ok(record)))
    }

    /// [`SessionStore::update`] with the clock at `now`, a whole millisecond: the store's tests
    /// set the clock through it.
    ///
    /// Where the changes carry the copy their request loaded, the merge is done here against that
    /// copy, and the quick update script writes it where the stored version is still the copy's:
    /// the usual case, and the cheapest for Redis. Where another request saved in between, the
    /// update script merges against the latest copy, in a second round trip.
    async fn update_at(
        &self,
        id: &SessionId,
        loaded: Option<&Record>,
        changes: &Changes,
        now: SystemTime,
    ) -> Result<Saved, StoreError> {
        let key = self.key(id);
        if let Some((base, merged)) = merged_against_base(id, loaded, changes, now) {
            let mut call = SCRIPTS.quick_update.call(&[&key]);
            args::quick(&mut call, changes, base, &merged);
            match self.write(&SCRIPTS.quick_update, &call).await? {
                Reply::Written => return Ok(Saved::Stored(merged)),
                Reply::Stale => {}
                other => return outcome(*id, changes, other, None),
            }
        }
        let mut call = SCRIPTS.update.call(&[&key]);
        args::merge(&mut call, changes, now);
        let reply = self.write(&SCRIPTS.update, &call).await?;
        outcome(*id, changes, reply, None)
    }

    /// [`SessionStore::renew`] with the clock at `now`, a whole millisecond: the store's tests
    /// set the clock through it.
    async fn renew_at(
        &self,
        old: &SessionId,
        new: &SessionId,
        changes: &Changes,
        now: SystemTime,
    ) -> Result<Saved, StoreError> {
        let fresh = changes
            .writes_a_value()
            .then(|| changes.apply_to(*new, None, now));
        let mut call = SCRIPTS.renew.call(&[&self.key(old), &self.key(new)]);
        args::merge(&mut call, changes, now);
        if let Some(Ok(record)) = &fresh {
            args::fresh(&mut call, record);
        }
        let reply = self.write(&SCRIPTS.renew, &call).await?;
        outcome(*new, changes, reply, fresh)
    }
}

impl SessionStore for RedisStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let key = self.key(id);
        let fields: Vec<hash::RawField> = self
            .timed(|mut connection| async move {
                redis::cmd("HGETALL")
                    .arg(key)
                    .query_async(&mut connection)
                    .await
            })
            .await?;
        if fields.is_empty() {
            return Ok(None);
        }
        let record = hash::decode(*id, fields).map_err(StoreError::corrupt)?;
        Ok(Some(record).filter(|record| !record.is_expired_at(SystemTime::now())))
    }

    async fn create(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        self.create_at(id, changes, now()).await
    }

    async fn update(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        self.update_at(id, None, changes, now()).await
    }

    /// Merges against the loaded copy here, and writes where Redis still holds that version.
    async fn update_from(&self, loaded: &Record, changes: &Changes) -> Result<Saved, StoreError> {
        self.update_at(&loaded.id(), Some(loaded), changes, now())
            .await
    }

    /// Moves the session in one script over both keys.
    async fn renew(
        &self,
        old: &SessionId,
        new: &SessionId,
        changes: &Changes,
    ) -> Result<Saved, StoreError> {
        self.renew_at(old, new, changes, now()).await
    }

    async fn delete(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let call = SCRIPTS.delete.call(&[&self.key(id)]);
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
}

/// The copy the changes were made against, and the changes merged into it, where the update
/// script can write that merge as it is once it finds the stored version unchanged: the copy is
/// of this session and still live, the changes keep its other entries, and the merge fits the
/// cap. A merge past the cap is left to the script, which decides it against the latest copy.
fn merged_against_base<'c>(
    id: &SessionId,
    loaded: Option<&'c Record>,
    changes: &Changes,
    now: SystemTime,
) -> Option<(&'c Record, Record)> {
    let base = loaded.filter(|base| {
        base.id() == *id && !base.is_expired_at(now) && !changes.clears_existing()
    })?;
    let merged = changes.apply_to(*id, Some(base), now).ok()?;
    Some((base, merged))
}

/// The app's clock now, in whole milliseconds: the instant every deadline of one operation is
/// computed from, in Rust and in the script alike.
fn now() -> SystemTime {
    hash::from_millis(hash::millis(SystemTime::now()))
}

/// What a write script's reply means for session `id`, saved with `changes`. `fresh` is the record
/// merged in Rust from the changes alone, where the script was offered one to write.
fn outcome(
    id: SessionId,
    changes: &Changes,
    reply: Reply,
    fresh: Option<Result<Record, TooLarge>>,
) -> Result<Saved, StoreError> {
    match (reply, fresh) {
        (Reply::Stored(flat), _) => hash::pairs(flat)
            .and_then(|fields| hash::decode(id, fields))
            .map(Saved::Stored)
            .map_err(StoreError::corrupt),
        (Reply::Written, Some(Ok(record))) => Ok(Saved::Stored(record)),
        (Reply::Gone, Some(Err(refusal))) => Ok(Saved::TooLarge(refusal)),
        (Reply::Gone, _) => Ok(Saved::Gone),
        (Reply::TooLarge(size), _) => Ok(Saved::TooLarge(TooLarge::new(
            size,
            changes.policy().max_size(),
        ))),
        (Reply::InUse, _) => Err(StoreError::backend(Failure::IdInUse)),
        (Reply::Written, _) => Err(StoreError::backend(UnexpectedReply::new("written"))),
        (Reply::Stale, _) => Err(StoreError::backend(UnexpectedReply::new("stale"))),
    }
}

/// Settings for a [`RedisStore`], from [`RedisStore::builder`].
#[derive(Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct RedisStoreBuilder {
    url: String,
    key_prefix: String,
    pool_size: usize,
    operation_timeout: Duration,
}

/// Shows where the store will point, never the URL's user name or password.
impl std::fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStoreBuilder")
            .field("server", &connections::describe(&self.url))
            .field("key_prefix", &self.key_prefix)
            .field("pool_size", &self.pool_size)
            .field("operation_timeout", &self.operation_timeout)
            .finish()
    }
}

impl RedisStoreBuilder {
    /// What every key of the store starts with; the session id follows. Defaults to
    /// `kv-sessions:`. Give apps that share one Redis database prefixes of their own.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// How many connections each thread that uses the store opens, and takes in turn (at least
    /// one). Defaults to one.
    ///
    /// Every actix-web worker thread talks to Redis over connections of its own, opened on its
    /// first request, so that no operation is handed between threads. Each connection is
    /// multiplexed: every request in flight on the worker shares it, pipelined, and Redis runs one
    /// command at a time whatever the number of connections. One connection per worker therefore
    /// serves a busy app. More can help where large sessions make small replies queue behind
    /// large ones on one socket.
    pub fn pool_size(mut self, connections: usize) -> Self {
        self.pool_size = connections.max(1);
        self
    }

    /// How long one operation may take, connecting included, before it fails with
    /// [`StoreError::Backend`]. Defaults to 2 seconds. [`build`](Self::build) has the same
    /// time to connect.
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// Connects, and fails where Redis cannot be reached within the operation timeout, with a
    /// [`StoreError::Open`] whose message names the server and the cause.
    pub async fn build(self) -> Result<RedisStore, StoreError> {
        let client = connections::client(&self.url).map_err(|cause| {
            StoreError::open(StartError::BadUrl {
                engine: "Redis",
                example: "redis://host:6379/0 or redis://user:password@host:6379/0",
                cause: cause.into(),
            })
        })?;
        let server = connections::server(client.get_connection_info());
        let timeout = self.operation_timeout;
        let opening = Connections::open(client, server.clone(), self.pool_size, timeout);
        let opened: Result<_, BoxError> = match tokio::time::timeout(timeout, opening).await {
            Ok(opened) => opened.map_err(Into::into),
            Err(_) => Err(Failure::TimedOut(timeout).into()),
        };
        let connections = opened.map_err(|cause| {
            StoreError::open(StartError::Unreachable {
                engine: "Redis",
                server,
                cause,
            })
        })?;
        Ok(RedisStore {
            inner: Arc::new(Inner {
                connections,
                key_prefix: self.key_prefix,
                timeout,
            }),
        })
    }
}

#[cfg(test)]
mod tests;
