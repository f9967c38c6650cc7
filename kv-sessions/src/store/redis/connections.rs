//! The connections a [`RedisStore`](super::RedisStore) spreads its operations over.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, ConnectionInfo, RedisResult};

/// How many more times a connection is attempted, with a short backoff, before the operations
/// waiting for it fail; the next operation then starts another attempt. Few, so that while Redis
/// is down requests fail fast with the real cause ("connection refused") instead of waiting out
/// the operation timeout, and a store built against a closed port reports why.
const CONNECT_RETRIES: usize = 2;

/// Multiplexed connections to one server, each reconnecting on its own after a failure, taken
/// in turn.
pub(super) struct Connections {
    managers: Box<[ConnectionManager]>,
    next: AtomicUsize,
    server: String,
}

impl Connections {
    /// Opens `count` connections (at least one) to the server at `url`. Each connection attempt,
    /// and each answer, times out after `timeout`.
    pub(super) async fn open(url: &str, count: usize, timeout: Duration) -> RedisResult<Self> {
        let client = Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(CONNECT_RETRIES);
        let mut managers = Vec::with_capacity(count.max(1));
        for _ in 0..count.max(1) {
            managers
                .push(ConnectionManager::new_with_config(client.clone(), config.clone()).await?);
        }
        Ok(Self {
            server: server(client.get_connection_info()),
            managers: managers.into(),
            next: AtomicUsize::new(0),
        })
    }

    /// The next connection in turn, to send one operation on.
    pub(super) fn next(&self) -> ConnectionManager {
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        self.managers[turn % self.managers.len()].clone()
    }

    /// How many connections there are.
    pub(super) fn len(&self) -> usize {
        self.managers.len()
    }

    /// The server, as [`server`] describes it.
    pub(super) fn server(&self) -> &str {
        &self.server
    }
}

/// The server `info` points to, as `host:port/db`: never the user name or the password.
fn server(info: &ConnectionInfo) -> String {
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
    fn a_description_of_the_server_leaves_the_credentials_out() {
        let described = describe("redis://alice:hunter2@cache.internal:6380/3");
        assert_eq!(described, "cache.internal:6380/3");
        assert_eq!(describe("not a url"), "(a URL that does not parse)");
    }
}
