//! The connections a [`RedisStore`](super::RedisStore) spreads its operations over.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Mutex, PoisonError};
use std::thread::{self, ThreadId};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, ConnectionInfo, IntoConnectionInfo, RedisResult};

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

/// Multiplexed connections to one server, each reconnecting on its own after a failure: a set of
/// its own for every thread that sends operations.
///
/// A connection's I/O runs as a task on the runtime that first used it. Were the connections
/// shared, every operation of an actix-web worker would be handed to the thread that built the
/// store and back, two thread switches per round trip, which cost more CPU than the round trip
/// itself. So each worker talks to Redis from its own runtime.
pub(super) struct Connections {
    client: Client,
    config: ConnectionManagerConfig,
    per_thread: usize,
    threads: Mutex<HashMap<ThreadId, ThreadConnections>>,
    server: String,
}

/// The connections of one thread, taken in turn.
struct ThreadConnections {
    managers: Box<[ConnectionManager]>,
    next: usize,
}

impl ThreadConnections {
    /// `count` connections that connect on their first operation, on the runtime running it.
    fn lazy(client: &Client, config: &ConnectionManagerConfig, count: usize) -> RedisResult<Self> {
        let managers = (0..count)
            .map(|_| ConnectionManager::new_lazy_with_config(client.clone(), config.clone()))
            .collect::<RedisResult<_>>()?;
        Ok(Self { managers, next: 0 })
    }

    fn next(&mut self) -> ConnectionManager {
        self.next = (self.next + 1) % self.managers.len();
        self.managers[self.next].clone()
    }
}

impl Connections {
    /// Connects to `client`'s server, described as `server`, once, to report at once where it
    /// cannot be reached, and
    /// keeps that connection for the calling thread; every other thread opens `per_thread`
    /// connections (at least one) on its first operation. Each connection attempt, and each
    /// answer, times out after `timeout`.
    pub(super) async fn open(
        client: Client,
        server: String,
        per_thread: usize,
        timeout: Duration,
    ) -> RedisResult<Self> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(CONNECT_RETRIES);
        let per_thread = per_thread.max(1);
        let here = ThreadConnections::lazy(&client, &config, per_thread)?;
        for manager in &here.managers {
            manager
                .clone()
                .send_packed_command(&redis::cmd("PING"))
                .await?;
        }
        Ok(Self {
            server,
            threads: Mutex::new(HashMap::from([(thread::current().id(), here)])),
            client,
            config,
            per_thread,
        })
    }

    /// The calling thread's next connection in turn, to send one operation on; its connections
    /// are created on its first call.
    pub(super) fn next(&self) -> RedisResult<ConnectionManager> {
        let mut threads = self.threads.lock().unwrap_or_else(PoisonError::into_inner);
        let thread = thread::current().id();
        if threads.len() >= MAX_THREADS && !threads.contains_key(&thread) {
            threads.clear();
        }
        let connections = match threads.entry(thread) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => entry.insert(ThreadConnections::lazy(
                &self.client,
                &self.config,
                self.per_thread,
            )?),
        };
        Ok(connections.next())
    }

    /// How many connections each thread opens.
    pub(super) fn per_thread(&self) -> usize {
        self.per_thread
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
    let info = url.into_connection_info()?;
    let tcp = info.tcp_settings().clone().set_nodelay(true);
    Client::open(info.set_tcp_settings(tcp))
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
    }
}
