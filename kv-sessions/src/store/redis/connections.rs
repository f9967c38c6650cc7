//! The connections a [`RedisStore`](super::RedisStore) spreads its operations over, to one
//! server or to a Redis Cluster.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, ThreadId};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::io::tcp::TcpSettings;
use redis::{
    Client, Cmd, ConnectionInfo, IntoConnectionInfo, Pipeline, RedisFuture, RedisResult, Value,
};
use tokio::sync::OnceCell;

/// How many more times a connection is attempted, with a short backoff, before the operations
/// waiting for it fail; the next operation then starts another attempt. Few, so that while Redis
/// is down requests fail fast with the real cause ("connection refused") instead of waiting out
/// the operation timeout, and a store built against a closed port reports why.
const CONNECT_RETRIES: usize = 2;

/// How many threads may hold connections before the store forgets them all and lets each thread
/// open its connections again. Far above the worker threads of any app; reached only where
/// threads come and go (each thread's connections close when its runtime ends, so the entries of
/// threads that are gone hold no socket, only memory).
const MAX_THREADS: usize = 1024;

/// How many times the cluster client sends a command again after a redirection it cannot follow
/// at once or a `TRYAGAIN` (a multi-key script while its slot migrates), pausing a few
/// milliseconds more each time, up to [`MAX_RETRY_WAIT_MS`]. The operation timeout bounds the
/// whole, so this only has to outlast it.
const CLUSTER_RETRIES: u32 = 64;
/// The shortest pause before the cluster client sends a command again, in milliseconds.
/// redis-rs waits 1.28 s at least by default, most of the store's operation timeout.
const MIN_RETRY_WAIT_MS: u64 = 2;
/// The longest pause before the cluster client sends a command again, in milliseconds.
const MAX_RETRY_WAIT_MS: u64 = 100;

/// Where a store's connections go.
#[derive(Clone)]
pub(super) enum Target {
    /// One server (with its replicas, if it has any).
    Server(Box<Client>),
    /// A Redis Cluster, found through its seed nodes; the client follows `MOVED` and `ASK`
    /// redirections, reads the slot map again after one, and retries `TRYAGAIN`.
    Cluster(Box<ClusterClient>),
    /// The app's own connection manager, which every thread shares: it cannot open more.
    Shared(ConnectionManager),
}

/// One connection to send an operation on.
pub(super) enum Connection {
    Server(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Server(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Server(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Server(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
        }
    }
}

/// A connection taken in turn, which may still have to connect: a cluster connection is opened
/// on its thread's first operation, on that thread's runtime.
#[derive(Clone)]
pub(super) enum Pending {
    Server(ConnectionManager),
    Cluster(Arc<LazyCluster>),
}

/// A cluster connection, opened on first use.
pub(super) struct LazyCluster {
    client: ClusterClient,
    opened: OnceCell<ClusterConnection>,
}

impl Pending {
    /// The connection, opened where it was not yet.
    pub(super) async fn connect(self) -> RedisResult<Connection> {
        match self {
            Self::Server(manager) => Ok(Connection::Server(manager)),
            Self::Cluster(lazy) => {
                let opened = lazy
                    .opened
                    .get_or_try_init(|| lazy.client.get_async_connection());
                Ok(Connection::Cluster(opened.await?.clone()))
            }
        }
    }
}

/// Multiplexed connections to one server or to a cluster, each reconnecting on its own after a
/// failure: a set of its own for every thread that sends operations, or, where the app handed
/// over its own connection manager, that manager on every thread.
///
/// A connection's I/O runs as a task on the runtime that first used it. Were the connections
/// shared, every operation of an actix-web worker would be handed to the thread that built the
/// store and back, two thread switches per round trip, which cost more CPU than the round trip
/// itself. So each worker talks to Redis from its own runtime, except through an app's manager,
/// which can only be shared.
pub(super) struct Connections {
    target: Target,
    config: ConnectionManagerConfig,
    per_thread: usize,
    threads: Mutex<HashMap<ThreadId, ThreadConnections>>,
    server: String,
}

/// The connections of one thread, taken in turn.
struct ThreadConnections {
    slots: Box<[Pending]>,
    next: usize,
}

impl ThreadConnections {
    /// `count` connections to `target` that connect on their first operation, on the runtime
    /// running it.
    fn lazy(target: &Target, config: &ConnectionManagerConfig, count: usize) -> RedisResult<Self> {
        let slot = || match target {
            Target::Server(client) => {
                ConnectionManager::new_lazy_with_config(Client::clone(client), config.clone())
                    .map(Pending::Server)
            }
            Target::Cluster(client) => Ok(Pending::Cluster(Arc::new(LazyCluster {
                client: ClusterClient::clone(client),
                opened: OnceCell::new(),
            }))),
            Target::Shared(manager) => Ok(Pending::Server(manager.clone())),
        };
        let slots = (0..count).map(|_| slot()).collect::<RedisResult<_>>()?;
        Ok(Self { slots, next: 0 })
    }

    fn next(&mut self) -> Pending {
        self.next = (self.next + 1) % self.slots.len();
        self.slots[self.next].clone()
    }
}

impl Connections {
    /// Connects to `target`, described as `server`, once, to report at once where it cannot be
    /// reached, and keeps that connection for the calling thread; every other thread opens
    /// `per_thread` connections (at least one) on its first operation. Each connection attempt,
    /// and each answer, times out after `timeout`.
    pub(super) async fn open(
        target: Target,
        server: String,
        per_thread: usize,
        timeout: Duration,
    ) -> RedisResult<Self> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(CONNECT_RETRIES);
        let per_thread = match target {
            Target::Shared(_) => 1,
            _ => per_thread.max(1),
        };
        let here = ThreadConnections::lazy(&target, &config, per_thread)?;
        let connections = Self {
            server,
            threads: Mutex::new(HashMap::from([(thread::current().id(), here)])),
            target,
            config,
            per_thread,
        };
        for _ in 0..per_thread {
            let mut connection = connections.next()?.connect().await?;
            connection.req_packed_command(&redis::cmd("PING")).await?;
        }
        Ok(connections)
    }

    /// The calling thread's next connection in turn, to send one operation on; its connections
    /// are created on its first call.
    pub(super) fn next(&self) -> RedisResult<Pending> {
        let mut threads = self.threads.lock().unwrap_or_else(PoisonError::into_inner);
        let thread = thread::current().id();
        if threads.len() >= MAX_THREADS && !threads.contains_key(&thread) {
            threads.clear();
        }
        let connections = match threads.entry(thread) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => entry.insert(ThreadConnections::lazy(
                &self.target,
                &self.config,
                self.per_thread,
            )?),
        };
        Ok(connections.next())
    }

    /// How many connections each thread opens; `None` where every thread shares the app's.
    pub(super) fn per_thread(&self) -> Option<usize> {
        match self.target {
            Target::Shared(_) => None,
            _ => Some(self.per_thread),
        }
    }

    /// The server, as [`server`] describes it.
    pub(super) fn server(&self) -> &str {
        &self.server
    }
}

/// A client for the server at `url`, whose connections send each command as soon as it is
/// written (`TCP_NODELAY`), as hiredis' do.
///
/// redis-rs leaves Nagle's algorithm on. A connection carries the commands of many requests at
/// once, and with it on, a command written while an earlier one is unacknowledged waits for that
/// acknowledgement: Redis sends it with its reply, or, where the reply is slow, after the
/// delayed-ACK timeout (up to 40 ms on Linux). The load harness, whose replies come back at once
/// over loopback, shows no difference in throughput; the cost is in the tail.
pub(super) fn client(url: &str) -> RedisResult<Client> {
    with_nodelay(url.into_connection_info()?)
}

/// A client for the server `info` describes, TLS settings included, that sends each command at
/// once, as [`client`] explains.
pub(super) fn with_nodelay(info: ConnectionInfo) -> RedisResult<Client> {
    let tcp = info.tcp_settings().clone().set_nodelay(true);
    Client::open(info.set_tcp_settings(tcp))
}

/// The settings of a client for the cluster whose seed nodes are at `urls`, whose connections
/// send each command at once as [`client`]'s do, wait at most `timeout` to connect and for each
/// answer, and pause only milliseconds before sending a command again after `TRYAGAIN`.
pub(super) fn cluster_client(urls: &[String], timeout: Duration) -> ClusterClientBuilder {
    ClusterClientBuilder::new(urls.iter().map(String::as_str))
        .tcp_settings(TcpSettings::default().set_nodelay(true))
        .connection_timeout(timeout)
        .response_timeout(timeout)
        .retries(CLUSTER_RETRIES)
        .min_retry_wait(MIN_RETRY_WAIT_MS)
        .max_retry_wait(MAX_RETRY_WAIT_MS)
        .retry_wait_formula(MIN_RETRY_WAIT_MS, 2)
}

/// The seed nodes at `urls`, as [`server`] describes each, comma-separated.
pub(super) fn describe_cluster(urls: &[String]) -> String {
    let nodes: Vec<String> = urls.iter().map(|url| describe(url)).collect();
    format!("the Redis Cluster of {}", nodes.join(", "))
}

/// The server `info` points to, as `host:port/db`: never the user name or the password.
pub(super) fn server(info: &ConnectionInfo) -> String {
    format!("{}/{}", info.addr(), info.redis_settings().db())
}

/// The server of `url`, as [`server`] describes it, for a builder that has not connected yet.
pub(super) fn describe(url: &str) -> String {
    Client::open(url).map_or_else(
        |_| "(a URL that does not parse)".to_owned(),
        |client| server(client.get_connection_info()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_send_each_command_at_once() {
        let opened = client("redis://cache.internal:6380/3").expect("a valid URL");
        assert!(opened.get_connection_info().tcp_settings().nodelay());
        assert!(client("not a url").is_err());
    }

    #[test]
    fn a_description_of_the_server_leaves_the_credentials_out() {
        let described = describe("redis://alice:hunter2@cache.internal:6380/3");
        assert_eq!(described, "cache.internal:6380/3");
        assert_eq!(describe("not a url"), "(a URL that does not parse)");
        let seeds = [
            "redis://:hunter2@a:7001".to_owned(),
            "redis://b:7002".to_owned(),
        ];
        assert_eq!(
            describe_cluster(&seeds),
            "the Redis Cluster of a:7001/0, b:7002/0"
        );
    }
}
