//! The fleet on PostgreSQL, which has broadcast alone: every instance holds a connection that
//! `LISTEN`s on the table's channel, and every write transaction calls `pg_notify` in the
//! statement that writes, so that the commit-time lock on the notification queue is paid as
//! kv-sessions' store pays it.

use std::io;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use futures_util::{StreamExt, stream};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, Client, Config, NoTls};

use super::notice::{self, Tally};
use super::wire::CountedStream;
use super::{Measured, ServerCpu, Trial, measure, paced};
use crate::space::{POSTGRES_URL, Space};

/// Where PostgreSQL listens, for the counted connections.
const ADDR: &str = "127.0.0.1:5432";
/// Rows the writers update, one per session.
const SESSIONS: u64 = 1_000;
/// Connections the publisher writes on at once: one connection's commits would cap the rate.
const LANES: usize = 4;

/// The error, with the server's message where the server refused: a database error's own
/// text is only "db error".
fn io_error(error: tokio_postgres::Error) -> io::Error {
    match error.as_db_error() {
        Some(refusal) => io::Error::other(format!("PostgreSQL: {}", refusal.message())),
        None => io::Error::other(error),
    }
}

fn config() -> io::Result<Config> {
    Config::from_str(POSTGRES_URL).map_err(io_error)
}

/// A connection on the current runtime, driven by a task of its own.
async fn connect() -> io::Result<Client> {
    let (client, connection) = config()?.connect(NoTls).await.map_err(io_error)?;
    tokio::spawn(connection);
    Ok(client)
}

async fn backend_pid(client: &Client) -> io::Result<u32> {
    let row = client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .map_err(io_error)?;
    Ok(row.get::<_, i32>(0).unsigned_abs())
}

/// One instance's listening connection: the client that keeps it open, its backend's pid, and
/// the task that reads its notifications.
struct Listener {
    _client: Client,
    pid: u32,
    reader: JoinHandle<()>,
}

/// Broadcast: `instances` listeners on the table's channel, and writers that update a session's
/// row and notify in one statement at `trial.rate`.
pub(super) async fn broadcast(trial: &Trial, sub: &Handle, epoch: Instant) -> io::Result<Measured> {
    let space = Space::generate();
    let table = space.table().to_owned();
    let admin = connect().await?;
    admin
        .batch_execute(&format!(
            "CREATE TABLE {table} (id bigint PRIMARY KEY, version bigint NOT NULL); \
             INSERT INTO {table} SELECT n, 0 FROM generate_series(0, {}) AS n",
            SESSIONS - 1
        ))
        .await
        .map_err(io_error)?;
    let measured = notify_into(trial, sub, epoch, &table).await;
    admin
        .batch_execute(&format!("DROP TABLE {table}"))
        .await
        .map_err(io_error)?;
    measured
}

async fn notify_into(
    trial: &Trial,
    sub: &Handle,
    epoch: Instant,
    table: &str,
) -> io::Result<Measured> {
    let mut tallies = Vec::new();
    let mut listeners = Vec::new();
    for _ in 0..trial.instances {
        let tally = Arc::new(Tally::default());
        let (channel, heard) = (table.to_owned(), Arc::clone(&tally));
        let setup = sub.spawn(async move { listen(&channel, heard, epoch).await });
        listeners.push(setup.await.map_err(io::Error::other)??);
        tallies.push(tally);
    }
    let mut writers = Vec::new();
    let mut pids: Vec<u32> = listeners.iter().map(|listener| listener.pid).collect();
    for _ in 0..LANES {
        let writer = connect().await?;
        // The notify path is measured, not the disk: a commit does not wait for its WAL flush.
        writer
            .batch_execute("SET synchronous_commit = off")
            .await
            .map_err(io_error)?;
        let statement = writer
            .prepare(&format!(
                "WITH written AS (UPDATE {table} SET version = version + 1 WHERE id = $1 \
                 RETURNING version) SELECT pg_notify($2, $3) FROM written"
            ))
            .await
            .map_err(io_error)?;
        pids.push(backend_pid(&writer).await?);
        writers.push((writer, statement));
    }
    let publish = paced(trial.rate, trial.duration, LANES, |sequence| {
        let (writer, statement) = &writers[sequence as usize % LANES];
        let session = (sequence % SESSIONS) as i64;
        let text = notice::text(epoch, sequence);
        async move {
            writer
                .execute(statement, &[&session, &table, &text])
                .await
                .map_err(io_error)?;
            Ok(())
        }
    });
    let mut server = ServerCpu::Postgres(pids);
    let measured = measure(&tallies, &mut server, sub, publish).await;
    for listener in listeners {
        listener.reader.abort();
    }
    measured
}

/// Opens a counted connection, starts reading its notifications into `tally`, and `LISTEN`s on
/// `channel`. Runs on the subscribers' runtime, where the reading task stays.
async fn listen(channel: &str, tally: Arc<Tally>, epoch: Instant) -> io::Result<Listener> {
    let stream = CountedStream::connect(ADDR, Arc::clone(&tally.bytes)).await?;
    let (client, mut connection) = config()?
        .connect_raw(stream, NoTls)
        .await
        .map_err(io_error)?;
    let reader = tokio::spawn(async move {
        let mut messages = stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let AsyncMessage::Notification(notification) = message {
                tally.hear(notice::age(epoch, notification.payload()));
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN {channel}"))
        .await
        .map_err(io_error)?;
    let pid = backend_pid(&client).await?;
    Ok(Listener {
        _client: client,
        pid,
        reader,
    })
}
