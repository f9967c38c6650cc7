//! Emptying a sample's keys from the bench's Redis database once its server is gone, through the
//! same `redis` client the store under test uses.

use std::io;
use std::time::Duration;

use redis::Commands;

use crate::space::redis_url;

/// How long one answer may take.
const TIMEOUT: Duration = Duration::from_secs(30);
/// How many keys one `UNLINK` deletes.
const BATCH: usize = 1000;

/// Deletes every key that starts with `prefix`, which holds no glob characters, and returns how
/// many there were.
pub(crate) fn delete_prefixed(prefix: &str) -> io::Result<usize> {
    let mut connection = connect()?;
    let keys = connection
        .scan_match(format!("{prefix}*"))
        .map_err(io::Error::other)?
        .collect::<Result<Vec<String>, _>>()
        .map_err(io::Error::other)?;
    for batch in keys.chunks(BATCH) {
        redis::cmd("UNLINK")
            .arg(batch)
            .exec(&mut connection)
            .map_err(io::Error::other)?;
    }
    Ok(keys.len())
}

/// Deletes every key of the database, for tower-sessions' store, whose keys have no prefix.
#[cfg(feature = "peers")]
pub(crate) fn delete_all() -> io::Result<()> {
    redis::cmd("FLUSHDB")
        .exec(&mut connect()?)
        .map_err(io::Error::other)
}

fn connect() -> io::Result<redis::Connection> {
    let client = redis::Client::open(redis_url()).map_err(io::Error::other)?;
    let connection = client
        .get_connection_with_timeout(TIMEOUT)
        .map_err(io::Error::other)?;
    connection
        .set_read_timeout(Some(TIMEOUT))
        .map_err(io::Error::other)?;
    Ok(connection)
}
