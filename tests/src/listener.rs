//! The connections on which a store listens for invalidations, found on the shared server and
//! killed from outside, as a server restart, a failover or an operator would kill them.
//!
//! A store names its listening connection so that an operator can tell it apart: the Redis
//! client name and the PostgreSQL `application_name` contain `listener`. Several stores on one
//! server, in this process and in others, each have one, so a store's own are the ones that
//! appeared while it was opened; [`open_listening`] opens one store at a time to tell them apart.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use kv_sessions::{InvalidationFeed, SessionStore, StoreError};

/// What the name of a listening connection contains.
const LISTENER: &str = "listener";

/// How long a store's feed may take to listen once the store is built.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Keeps stores from opening at the same time in this process, so that the listening
/// connections that appear while one opens are its own.
static OPENING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A shared server, reached from outside any store, as an operator would.
#[derive(Debug, Clone)]
pub(crate) enum SharedServer {
    /// The Redis server at this URL.
    Redis(String),
    /// The PostgreSQL database at this URL.
    Postgres(String),
}

/// The connections one store listens on, as its server numbers them (a Redis client id, a
/// PostgreSQL backend pid).
#[derive(Debug, Clone)]
pub struct Listeners {
    server: SharedServer,
    connections: Vec<i64>,
}

impl Listeners {
    /// Kills every one of these connections that is still open, and returns how many it killed.
    /// The store notices on its own, and connects again on a new connection.
    pub async fn kill(&self) -> usize {
        let mut killed = 0;
        for &connection in &self.connections {
            if self.server.kill(connection).await {
                killed += 1;
            }
        }
        killed
    }
}

/// Opens a store with `open` and finds its listening connections. `space` is the test's key
/// prefix or table: where connection names carry it, it tells this test's connections from those
/// of other processes that opened a store at the same moment.
pub(crate) async fn open_listening<S: SessionStore>(
    server: &SharedServer,
    space: &str,
    open: impl Future<Output = Result<S, StoreError>>,
) -> (S, Listeners) {
    let _one_at_a_time = OPENING.lock().await;
    let before = server.listening().await;
    let store = open.await.expect("open the store");
    if let Some(feed) = store.invalidations() {
        until_listening(&feed).await;
    }
    let appeared: BTreeMap<i64, String> = server
        .listening()
        .await
        .into_iter()
        .filter(|(connection, _)| !before.contains_key(connection))
        .collect();
    let named: Vec<i64> = appeared
        .iter()
        .filter(|(_, name)| name.contains(space))
        .map(|(&connection, _)| connection)
        .collect();
    let connections = if named.is_empty() {
        appeared.into_keys().collect()
    } else {
        named
    };
    let listeners = Listeners {
        server: server.clone(),
        connections,
    };
    (store, listeners)
}

/// Waits until `feed` listens, and fails the test if it does not within [`LISTEN_TIMEOUT`].
pub(crate) async fn until_listening(feed: &InvalidationFeed) {
    let started = Instant::now();
    while !feed.is_listening() {
        assert!(
            started.elapsed() < LISTEN_TIMEOUT,
            "the store's invalidation feed did not listen within {LISTEN_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

impl SharedServer {
    /// The connections open now whose name says they listen, by id, with their names.
    async fn listening(&self) -> BTreeMap<i64, String> {
        match self {
            Self::Redis(url) => redis_listening(url).await,
            Self::Postgres(url) => postgres_listening(url).await,
        }
    }

    /// Kills the connection `id`; whether it was still open.
    async fn kill(&self, id: i64) -> bool {
        match self {
            Self::Redis(url) => redis_kill(url, id).await,
            Self::Postgres(url) => postgres_kill(url, id).await,
        }
    }
}

async fn redis_connection(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("a Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis")
}

async fn redis_listening(url: &str) -> BTreeMap<i64, String> {
    let mut connection = redis_connection(url).await;
    let clients: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut connection)
        .await
        .expect("CLIENT LIST");
    clients
        .lines()
        .filter_map(redis_client)
        .filter(|(_, name)| name.contains(LISTENER))
        .collect()
}

/// The id and name of one line of `CLIENT LIST`: `id=7 addr=… name=… age=…`.
fn redis_client(line: &str) -> Option<(i64, String)> {
    let field = |wanted: &str| {
        line.split(' ')
            .filter_map(|pair| pair.split_once('='))
            .find(|(name, _)| *name == wanted)
            .map(|(_, value)| value)
    };
    let id = field("id")?.parse().ok()?;
    Some((id, field("name").unwrap_or_default().to_owned()))
}

async fn redis_kill(url: &str, id: i64) -> bool {
    let mut connection = redis_connection(url).await;
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(id)
        .query_async(&mut connection)
        .await
        .expect("CLIENT KILL");
    killed > 0
}

async fn postgres_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to PostgreSQL");
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            eprintln!("the test's own PostgreSQL connection failed: {error}");
        }
    });
    client
}

async fn postgres_listening(url: &str) -> BTreeMap<i64, String> {
    let client = postgres_client(url).await;
    let rows = client
        .query(
            "SELECT pid, application_name FROM pg_stat_activity \
             WHERE strpos(application_name, $1) > 0",
            &[&LISTENER],
        )
        .await
        .expect("read pg_stat_activity");
    rows.iter()
        .map(|row| (i64::from(row.get::<_, i32>(0)), row.get(1)))
        .collect()
}

async fn postgres_kill(url: &str, pid: i64) -> bool {
    let client = postgres_client(url).await;
    let pid = i32::try_from(pid).expect("a PostgreSQL pid fits an int4");
    client
        .query_one("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .expect("pg_terminate_backend")
        .get(0)
}
