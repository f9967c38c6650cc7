//! The embedded default store, on sled.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use self::directory::{Claim, OpenError};
use self::group_commit::{GroupCommit, Tickets};
use self::io::IoThreads;
use self::sweeper::Sweeper;
use self::trees::SessionTrees;
use super::SessionStore;
use crate::changes::{Changes, Saved};
use crate::error::StoreError;
use crate::id::{SessionDigest, SessionId};
use crate::owner::UserSession;
use crate::record::Record;

mod codec;
mod directory;
mod group_commit;
mod io;
mod permissions;
mod sweeper;
mod trees;

/// sled's page cache by default: modest, because the session cache sits in front of it.
const DEFAULT_CACHE_CAPACITY: u64 = 64 * 1024 * 1024;
/// How often sled writes its log to disk by default.
const DEFAULT_FLUSH_EVERY: Duration = Duration::from_millis(500);
/// How often the sweeper deletes expired sessions by default.
const DEFAULT_SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Sessions in a local [sled](https://docs.rs/sled) database: nothing to install, and every
/// session survives a restart.
///
/// Every operation runs on the store's own I/O threads, so a read that misses sled's page cache
/// never stalls an actix worker. An update merges its [`Changes`] into the latest stored record
/// with a compare-and-swap loop, so concurrent requests that write different keys of one session
/// all keep their writes, and a renewal moves a session in one sled transaction.
///
/// # Durability
/// A delete or a renewal returns only once it is on disk, whatever the setting: a logout, or a
/// login that renews the id, survives a `kill -9` right after its response, so a crash never
/// brings back a session that was ended. Deletes and renewals that arrive together share one
/// flush.
///
/// Saves (creates and updates) follow [`Durability`]. With [`Durability::Periodic`], the
/// default, sled acknowledges a save once it is in its log **in the process's memory**, and
/// writes the log to disk in the background, every 500 ms by default
/// ([`SledStoreBuilder::flush_every`]). Whatever ends the process without a graceful stop,
/// `kill -9` as much as a crash or a power cut, loses the saves of the last interval, although
/// their responses were sent: a user whose first request came just before the process was killed
/// has no session when it comes back. With [`Durability::Immediate`], a save too returns only
/// once it is on disk, so nothing acknowledged is lost; saves that arrive together share one
/// flush.
///
/// A graceful shutdown loses nothing in either mode: call [`SledStore::flush`] once the server
/// has stopped. Dropping the last clone of the store flushes too.
///
/// # Expired sessions
/// An expired session is never returned. It is deleted when a load meets it, and a background
/// thread deletes the rest every minute by default ([`SledStoreBuilder::sweep_every`]). The
/// sweeper walks an index ordered by deadline, so a sweep reads only the sessions that are due,
/// however many live ones there are. [`SledStore::sweep_expired`] sweeps at once. The thread
/// starts with the store and stops when the last clone is dropped.
///
/// # A user's sessions
/// A session bound to a user ([`Session::bind`](crate::Session::bind)) has an entry in an index
/// tree keyed by user, written in the same sled transaction as the record by every write that
/// changes the binding (a bind, an unbind, a renewal, a delete, a revocation, the sweep of an
/// expired session), and by no other: a save that leaves the binding alone costs what it did
/// before, and an unbound record is stored in as many bytes as before binding existed.
/// [`sessions_of`](SessionStore::sessions_of) reads the user's entries and their records, so it
/// costs in proportion to that user's sessions.
///
/// # Disk and memory
/// sled reclaims the space of deleted records as it rewrites its log segments, so the directory
/// grows with the number of *live* sessions, not with the number ever created: under steady
/// churn it levels off at a few times the size of the live data. Measured here: about 600 bytes
/// of disk per live session with a small payload, at 100,000 live sessions.
///
/// # What the files hold
/// Records are kept under the [`SessionDigest`](crate::SessionDigest) of their id, never the id
/// itself, so the files, and any backup of them, give away no cookie. They still hold every
/// session's data, so the directory is private to the user the app runs as: on Unix it is
/// created with mode 0700 (an existing one is tightened to it) and its files get 0600; see
/// [`SledStoreBuilder::open`]. This layout is new: a
/// directory written by an earlier build of this crate cannot be read by this one (its sessions
/// are simply not found), nor the other way round, so start from an empty directory.
///
/// # Sharing
/// One directory can be open in one process at a time. Open the store once, before
/// `HttpServer::new`, and clone it (clones share the database). Opening a directory that is open
/// already fails with a [`StoreError::Open`] that says whether this process or another holds
/// it: inside the closure given to `HttpServer::new`, the second worker's open fails so.
///
/// ```no_run
/// # fn main() -> Result<(), kv_sessions::StoreError> {
/// use kv_sessions::{Durability, SledStore};
///
/// let store = SledStore::builder("sessions.sled")
///     .cache_capacity(32 * 1024 * 1024)
///     .durability(Durability::Immediate)
///     .open()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SledStore {
    inner: Arc<Inner>,
}

/// What the clones of one store share.
struct Inner {
    sweeper: Option<Sweeper>,
    io: Option<IoThreads>,
    commits: Option<GroupCommit>,
    tickets: Tickets,
    durability: Durability,
    trees: SessionTrees,
    db: sled::Db,
    /// Dropped last, once the database has let go of the directory.
    _claim: Claim,
}

impl Inner {
    fn io(&self) -> Result<&IoThreads, StoreError> {
        self.io
            .as_ref()
            .ok_or_else(|| StoreError::backend("the session store has closed"))
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The threads hold their own handles on the trees. Stop them in this order, so that queued
        // operations finish and their flushes run, before the final flush.
        drop(self.sweeper.take());
        drop(self.io.take());
        drop(self.commits.take());
        if let Err(error) = self.db.flush() {
            tracing::error!(%error, "flushing the session store on close failed");
        }
    }
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore").finish_non_exhaustive()
    }
}

impl SledStore {
    /// Opens (or creates) the store in directory `path`, with default settings.
    ///
    /// Where the directory cannot serve (open already, read-only, under a file, on a full disk),
    /// the error is a [`StoreError::Open`] whose message names the directory, the cause and the
    /// fix, under `Display` and `Debug` alike.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::builder(path).open()
    }

    /// Starts configuring a store in directory `path`.
    pub fn builder(path: impl AsRef<Path>) -> SledStoreBuilder {
        SledStoreBuilder {
            path: path.as_ref().to_path_buf(),
            cache_capacity: DEFAULT_CACHE_CAPACITY,
            flush_every: Some(DEFAULT_FLUSH_EVERY),
            sweep_every: Some(DEFAULT_SWEEP_EVERY),
            durability: Durability::Periodic,
            io_threads: std::thread::available_parallelism().map_or(1, |n| n.get().min(4)),
        }
    }

    /// Writes every acknowledged save to disk, and returns once it is there.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let inner = Arc::clone(&self.inner);
        run_blocking(move || inner.db.flush().map(drop).map_err(StoreError::backend)).await
    }

    /// Deletes every expired session now, and returns how many it deleted.
    ///
    /// The background sweeper does this on its own; call it from tests, or from an operator's
    /// task after changing the sweep interval to `None`. It is logged and counted as the
    /// sweeper's runs are.
    pub async fn sweep_expired(&self) -> Result<usize, StoreError> {
        let inner = Arc::clone(&self.inner);
        let removed = run_blocking(move || inner.trees.sweep(SystemTime::now())).await;
        crate::telemetry::swept("sled", removed.as_ref().map(|&removed| removed as u64));
        removed
    }

    /// The number of stored records, counting expired ones that have not been swept yet.
    ///
    /// This walks the whole store on the calling thread: it is meant for tests and operators,
    /// not for request handlers.
    pub fn len(&self) -> usize {
        self.inner.trees.len()
    }

    /// Whether the store holds no records at all.
    pub fn is_empty(&self) -> bool {
        self.inner.trees.is_empty()
    }

    /// Stores raw `bytes` as the record of `id` (under its digest, as every record is), bypassing
    /// the encoder and the expiry index, so
    /// that tests can check how the store copes with damaged data. Only with the `test-util`
    /// feature; never in production.
    #[cfg(feature = "test-util")]
    pub fn insert_raw(&self, id: &SessionId, bytes: &[u8]) -> Result<(), StoreError> {
        self.inner.trees.insert_raw(*id, bytes)
    }

    /// Runs a write of kind `write` on the I/O threads and, where it must be on disk before it
    /// is answered, waits for the flush that covers it.
    async fn write<T: Send + 'static>(
        &self,
        write: Write,
        work: impl FnOnce(&SessionTrees) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let trees = self.inner.trees.clone();
        let tickets = write
            .waits_for_disk(self.inner.durability)
            .then(|| self.inner.tickets.clone());
        let (value, ticket) = self
            .inner
            .io()?
            .run(move || {
                let value = work(&trees)?;
                Ok((value, tickets.as_ref().map(Tickets::take)))
            })
            .await?;
        if let Some(ticket) = ticket {
            ticket.flushed().await?;
        }
        Ok(value)
    }
}

impl SessionStore for SledStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let (trees, id) = (self.inner.trees.clone(), *id);
        self.inner.io()?.run(move || trees.load(id)).await
    }

    async fn create(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        let (id, changes) = (*id, changes.clone());
        self.write(Write::Save, move |trees| trees.create(id, &changes))
            .await
    }

    async fn update(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        let (id, changes) = (*id, changes.clone());
        self.write(Write::Save, move |trees| trees.update(id, &changes))
            .await
    }

    /// Moves the session in one sled transaction over the sessions tree and the deadline index.
    async fn renew(
        &self,
        old: &SessionId,
        new: &SessionId,
        changes: &Changes,
    ) -> Result<Saved, StoreError> {
        let (old, new, changes) = (*old, *new, changes.clone());
        self.write(Write::EndOfId, move |trees| trees.renew(old, new, &changes))
            .await
    }

    async fn delete(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let id = *id;
        self.write(Write::EndOfId, move |trees| trees.delete(id))
            .await
    }

    /// Scans the user's keys in the owners index and reads each of their records.
    async fn sessions_of(&self, user: &str) -> Result<Vec<UserSession>, StoreError> {
        let (trees, user) = (self.inner.trees.clone(), user.to_owned());
        self.inner.io()?.run(move || trees.sessions_of(&user)).await
    }

    /// Removes the record and its owners entry in one transaction, and answers once that is on
    /// disk, as a delete does.
    async fn revoke(&self, user: &str, session: SessionDigest) -> Result<bool, StoreError> {
        let user = user.to_owned();
        self.write(Write::EndOfId, move |trees| trees.revoke(&user, session))
            .await
    }
}

/// What a write does to a session, which decides when it is answered.
#[derive(Debug, Clone, Copy)]
enum Write {
    /// A create or an update: it saves a session's data.
    Save,
    /// A delete or a renewal: it ends a session id, as a logout or a login does.
    EndOfId,
}

impl Write {
    /// Whether the write must be on disk before it is answered. An id that a crash brought back
    /// to life would undo a logout, or revive the id that a login renewed to shake off anyone
    /// who had learnt it, so those are durable under every setting; a lost save only loses data.
    fn waits_for_disk(self, durability: Durability) -> bool {
        match (self, durability) {
            (Write::EndOfId, _) | (Write::Save, Durability::Immediate) => true,
            (Write::Save, Durability::Periodic) => false,
        }
    }
}

/// When a [`SledStore`] reports a save (a create or an update) as done.
///
/// Deletes and renewals are not covered: they are on disk before they are answered under every
/// setting, so that a crash never undoes a logout or a login's new id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// Once the save is in sled's log in the process's memory. sled writes the log to disk in
    /// the background, every 500 ms by default ([`SledStoreBuilder::flush_every`]), and
    /// anything that ends the process without a graceful stop, `kill -9` included, loses the
    /// saves of the last interval. This is the default, and the fastest.
    #[default]
    Periodic,
    /// Once the save is on disk: the response that follows it is sent only after a flush.
    /// Concurrent writes share flushes (group commit), so the cost per write falls as load
    /// rises.
    Immediate,
}

/// Settings for a [`SledStore`], from [`SledStore::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `open` is called"]
pub struct SledStoreBuilder {
    path: PathBuf,
    cache_capacity: u64,
    flush_every: Option<Duration>,
    sweep_every: Option<Duration>,
    durability: Durability,
    io_threads: usize,
}

impl SledStoreBuilder {
    /// The most memory, in bytes, that sled may use for its page cache. Defaults to 64 MiB:
    /// with a session cache in front, sled's own cache mostly holds the index.
    pub fn cache_capacity(mut self, bytes: u64) -> Self {
        self.cache_capacity = bytes;
        self
    }

    /// How often sled writes acknowledged saves to disk in the background; under
    /// [`Durability::Periodic`] this is how much a killed process or a crash can lose. Defaults
    /// to 500 ms. `None` turns the background flush off, leaving only [`SledStore::flush`], the
    /// flush on drop, the flush of every delete and renewal and, under
    /// [`Durability::Immediate`], the flush of every save.
    pub fn flush_every(mut self, interval: Option<Duration>) -> Self {
        self.flush_every = interval;
        self
    }

    /// When a write counts as done. Defaults to [`Durability::Periodic`].
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// How often the background sweeper deletes expired sessions. Defaults to a minute. `None`
    /// starts no sweeper: expired sessions are then deleted only when a load meets them or
    /// [`SledStore::sweep_expired`] runs.
    pub fn sweep_every(mut self, interval: Option<Duration>) -> Self {
        self.sweep_every = interval;
        self
    }

    /// How many threads run the store's reads and writes. Defaults to the number of cores the
    /// process may use, at most four. Each thread runs every operation queued for it before it
    /// sleeps, so one thread per busy core is plenty.
    pub fn io_threads(mut self, threads: usize) -> Self {
        self.io_threads = threads.max(1);
        self
    }

    /// Opens the store and starts its threads. This touches the disk: call it at start-up, not
    /// inside a handler.
    ///
    /// The directory is made private to the user the app runs as (mode 0700 on Unix, and 0600
    /// for the files in it), since its files hold every session's data: it is created so, and a
    /// directory that exists with a wider mode is tightened, which is logged at info level. Give
    /// the store a directory of its own: everything in it is made private.
    pub fn open(self) -> Result<SledStore, StoreError> {
        let unusable = |cause| StoreError::open(OpenError::unusable(&self.path, cause));
        permissions::make_private_directory(&self.path).map_err(unusable)?;
        let flush_every_ms = self
            .flush_every
            .map(|every| u64::try_from(every.as_millis()).unwrap_or(u64::MAX).max(1));
        let db = sled::Config::new()
            .path(&self.path)
            .cache_capacity(self.cache_capacity)
            .flush_every_ms(flush_every_ms)
            .open()
            .map_err(|cause| StoreError::open(OpenError::new(&self.path, cause)))?;
        let claim = Claim::new(&self.path);
        permissions::make_contents_private(&self.path).map_err(unusable)?;
        let trees = SessionTrees::open(&db)?;
        let commits = GroupCommit::start(db.clone())?;
        let tickets = commits.tickets();
        let io = IoThreads::start(self.io_threads)?;
        let sweeper = self
            .sweep_every
            .map(|every| Sweeper::start(trees.clone(), every.max(Duration::from_millis(1))))
            .transpose()?;
        Ok(SledStore {
            inner: Arc::new(Inner {
                sweeper,
                io: Some(io),
                commits: Some(commits),
                tickets,
                durability: self.durability,
                trees,
                db,
                _claim: claim,
            }),
        })
    }
}

/// Runs the rare slow operations (flushes, sweeps) on tokio's blocking pool, so that they never
/// hold up the I/O threads.
async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(StoreError::backend)?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::SessionPolicy;
    use crate::expiry::Expiry;

    fn changes(ttl: Duration) -> Changes {
        let mut changes = Changes::new(SessionPolicy::new(Expiry::OnInactivity(ttl)));
        changes.set("k", "\"v\"");
        changes
    }

    #[actix_rt::test]
    async fn the_sweeper_runs_on_its_own_and_stops_with_the_store() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("s");
        let store = SledStore::builder(&path)
            .sweep_every(Some(Duration::from_millis(20)))
            .open()
            .expect("open");
        let short = SessionId::generate();
        store
            .create(&short, &changes(Duration::from_millis(10)))
            .await
            .expect("save");
        store
            .create(&SessionId::generate(), &changes(Duration::from_secs(600)))
            .await
            .expect("save");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while store.len() > 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "the sweeper never ran"
            );
            actix_rt::time::sleep(Duration::from_millis(10)).await;
        }
        drop(store);
        // The store's threads are gone, and the directory is free again.
        reopen(&path);
    }

    fn stored(saved: Saved) -> Record {
        match saved {
            Saved::Stored(record) => record,
            other => panic!("expected a stored record, got {other:?}"),
        }
    }

    #[actix_rt::test]
    async fn an_update_from_a_stale_copy_keeps_both_writes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SledStore::open(dir.path()).expect("open");
        let id = SessionId::generate();
        let mut first = changes(Duration::from_secs(600));
        first.set("a", "1");
        let loaded = stored(store.create(&id, &first).await.expect("create"));
        let mut other = changes(Duration::from_secs(600));
        other.set("b", "2");
        stored(store.update(&id, &other).await.expect("update"));

        let mut late = changes(Duration::from_secs(600));
        late.set("c", "3");
        let merged = stored(store.update_from(&loaded, &late).await.expect("update"));
        assert_eq!(merged.version(), 3);
        let keys: Vec<_> = merged.entries().map(|(key, _)| key).collect();
        assert_eq!(keys, ["a", "b", "c", "k"]);
        assert_eq!(store.load(&id).await.expect("load"), Some(merged));
    }

    #[actix_rt::test]
    async fn a_clear_from_a_stale_copy_clears_the_latest_entries() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SledStore::open(dir.path()).expect("open");
        let id = SessionId::generate();
        let loaded = stored(
            store
                .create(&id, &changes(Duration::from_secs(600)))
                .await
                .expect("create"),
        );
        let mut other = changes(Duration::from_secs(600));
        other.set("b", "2");
        stored(store.update(&id, &other).await.expect("update"));

        let mut clearing = Changes::new(SessionPolicy::new(Expiry::OnInactivity(
            Duration::from_secs(600),
        )));
        clearing.clear().set("c", "3");
        let cleared = stored(store.update_from(&loaded, &clearing).await.expect("update"));
        assert_eq!(cleared.version(), 3);
        let keys: Vec<_> = cleared.entries().map(|(key, _)| key).collect();
        assert_eq!(keys, ["c"]);
    }

    /// Opens the store at `path` once the store dropped before it has let go of the directory:
    /// sled's own thread pool may hold its lock for a moment after the drop.
    fn reopen(path: &Path) -> SledStore {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            match SledStore::open(path) {
                Ok(store) => return store,
                Err(error) => assert!(std::time::Instant::now() < deadline, "{error}"),
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[actix_rt::test]
    async fn a_users_sessions_survive_a_reopen_and_can_be_revoked_after_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("s");
        let store = SledStore::open(&path).expect("open");
        let (laptop, phone, other) = (
            SessionId::generate(),
            SessionId::generate(),
            SessionId::generate(),
        );
        for (id, user) in [(laptop, "alice"), (phone, "alice"), (other, "bob")] {
            let mut binding = changes(Duration::from_secs(600));
            binding.bind(crate::SessionOwner::new(user));
            stored(store.create(&id, &binding).await.expect("create"));
        }
        drop(store);

        let store = reopen(&path);
        let mut listed: Vec<_> = store
            .sessions_of("alice")
            .await
            .expect("list")
            .iter()
            .map(UserSession::handle)
            .collect();
        listed.sort();
        let mut expected = vec![laptop.digest(), phone.digest()];
        expected.sort();
        assert_eq!(listed, expected);

        assert!(!store.revoke("bob", laptop.digest()).await.expect("revoke"));
        let revoked = store
            .revoke_all("alice", Some(laptop.digest()))
            .await
            .expect("revoke all");
        assert_eq!(revoked, [phone.digest()]);
        assert!(store.load(&phone).await.expect("load").is_none());
        assert!(store.load(&laptop).await.expect("load").is_some());
        assert_eq!(store.sessions_of("bob").await.expect("list").len(), 1);
    }

    #[actix_rt::test]
    async fn concurrent_immediate_saves_all_return() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SledStore::builder(dir.path())
            .durability(Durability::Immediate)
            .flush_every(None)
            .open()
            .expect("open");
        let saves: Vec<_> = (0..32)
            .map(|_| {
                let store = store.clone();
                actix_rt::spawn(async move {
                    let id = SessionId::generate();
                    store.create(&id, &changes(Duration::from_secs(60))).await
                })
            })
            .collect();
        for save in saves {
            let saved = actix_rt::time::timeout(Duration::from_secs(30), save).await;
            saved
                .expect("a save waited forever")
                .expect("join")
                .expect("save");
        }
        assert_eq!(store.len(), 32);
    }

    #[cfg(unix)]
    #[test]
    fn the_directory_and_every_file_in_it_are_private_to_the_owner() {
        use std::os::unix::fs::PermissionsExt;

        let mode = |path: &Path| {
            let mode = std::fs::metadata(path)
                .expect("metadata")
                .permissions()
                .mode();
            mode & 0o777
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let fresh = dir.path().join("fresh.sled");
        let _fresh = SledStore::open(&fresh).expect("open");
        // A directory left wider, as an earlier build or an operator's chmod would leave it.
        let wide = dir.path().join("wide.sled");
        std::fs::create_dir(&wide).expect("mkdir");
        std::fs::write(wide.join("left-over"), b"").expect("write");
        for path in [&wide, &wide.join("left-over")] {
            let permissions = std::fs::Permissions::from_mode(0o755);
            std::fs::set_permissions(path, permissions).expect("chmod");
        }
        let _wide = SledStore::open(&wide).expect("open");

        for path in [fresh, wide] {
            assert_eq!(mode(&path), 0o700, "{path:?}");
            let files: Vec<_> = std::fs::read_dir(&path)
                .expect("read dir")
                .map(|entry| entry.expect("entry").path())
                .filter(|path| path.is_file())
                .collect();
            assert!(files.iter().any(|file| file.ends_with("db")), "{files:?}");
            for file in files {
                assert_eq!(mode(&file), 0o600, "{file:?}");
            }
        }
    }

    fn open_error(path: &Path) -> StoreError {
        SledStore::open(path).expect_err("the open fails")
    }

    #[test]
    fn a_directory_open_in_this_process_says_to_open_the_store_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("sessions.sled");
        let _store = SledStore::open(&path).expect("open");
        let other_spelling = dir.path().join(".").join("sessions.sled");
        for path in [&path, &other_spelling] {
            let error = open_error(path);
            let expected = format!(
                "the sled directory {path:?} is already open in this process: open the \
                 SledStore once, before `HttpServer::new`, and move clones of it into the \
                 closure, which runs once per worker (clones share one database)"
            );
            assert_eq!(error.to_string(), expected);
            assert_eq!(
                format!("{error:?}"),
                expected,
                "Debug shows the message alone"
            );
        }
    }

    #[test]
    fn a_path_under_a_regular_file_names_the_path_and_the_cause() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"not a directory").expect("write");
        let path = file.join("sessions.sled");
        let message = open_error(&path).to_string();
        let expected = format!(
            "could not open the sled directory {path:?}: Not a directory (os error 20). The app \
             needs a directory it can create, read and write, on a disk with free space"
        );
        assert_eq!(message, expected);
    }

    #[test]
    fn a_dropped_store_no_longer_counts_as_holding_its_directory() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("sessions.sled");
        let store = SledStore::open(&path).expect("open");
        assert!(directory::is_open_here(&path));
        drop(store);
        assert!(!directory::is_open_here(&path));
    }
}
