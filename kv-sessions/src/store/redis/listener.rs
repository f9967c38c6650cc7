//! The connection on which a [`RedisStore`](super::RedisStore) hears the notices that the write
//! scripts of every instance publish, and hands them to its [`InvalidationFeed`].

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use redis::aio::{PubSub, PubSubSink, PubSubStream};
use redis::{Client, ConnectionAddr, Msg, RedisConnectionInfo, RedisError, Value};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::task::AbortHandle;

use crate::error::Chain;
use crate::store::{Invalidation, InvalidationFeed};

/// How the name the listening connection gives itself (`CLIENT SETNAME`) starts; its channel
/// follows, so that operators and tests find it in `CLIENT LIST`, and tell apart the listeners of
/// apps with different key prefixes.
const NAME: &str = "kv-sessions-listener:";

/// The pause before the first attempt to subscribe again after the connection was lost. It
/// doubles after every failed attempt, up to [`MAX_BACKOFF`], so that a Redis that is down is
/// not flooded with connections by every instance at once.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// The longest pause between two attempts to subscribe again.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// The shortest pause between two heartbeats, whatever the staleness bound: a bound of zero would
/// otherwise send `PING`s without pause.
const MIN_HEARTBEAT_INTERVAL: Duration = Duration::from_millis(10);
/// The longest line a server may answer the handshake with: every answer is `+OK` or a short
/// error.
const MAX_ANSWER: usize = 512;

/// Why the listening connection stopped hearing the channel, or could not start.
#[derive(Debug, thiserror::Error)]
pub(super) enum ListenError {
    /// The Redis client failed.
    #[error("the invalidation connection failed")]
    Redis(#[from] RedisError),
    /// The socket failed while the connection was being named.
    #[error("the invalidation connection failed")]
    Io(#[from] std::io::Error),
    /// The server refused the handshake: a wrong password, a database that does not exist.
    #[error("Redis refused the invalidation connection: {0}")]
    Refused(String),
    /// The server closed the connection (`CLIENT KILL`, a restart).
    #[error("Redis closed the invalidation connection")]
    Closed,
    /// A heartbeat went unanswered for too long: the connection may be dead without knowing it.
    #[error("a heartbeat on the invalidation connection had no answer within {0:?}")]
    Silent(Duration),
}

/// The task that hears the channel. Dropping it stops the task and closes its connection.
#[derive(Debug)]
pub(super) struct Listener(AbortHandle);

impl Listener {
    /// Subscribes to `channel` on the server of one of `servers`, the first that accepts, notes
    /// that `feed` is listening, and goes on hearing the channel in a task on the caller's
    /// runtime, subscribing again whenever the connection fails, on the next of `servers` in
    /// turn. Fails where no server accepts the first subscription; the caller bounds how long
    /// that may take. `timeout` bounds each later attempt to subscribe, and how long a heartbeat
    /// may go unanswered (at least two heartbeat intervals).
    ///
    /// One server, or the seed nodes of a Redis Cluster: a `PUBLISH` on any node of a cluster
    /// reaches the subscribers of every node, so one subscription, on any node, hears every
    /// write, and when that node goes, the listener moves to another.
    pub(super) async fn start(
        servers: Vec<Client>,
        channel: String,
        feed: InvalidationFeed,
        timeout: Duration,
    ) -> Result<Self, ListenError> {
        let channel = Channel {
            servers,
            next: AtomicUsize::new(0),
            name: channel,
            timeout,
        };
        let subscribed = channel.subscribe().await?;
        feed.connected();
        let task = tokio::spawn(listen(channel, subscribed, feed));
        Ok(Self(task.abort_handle()))
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The name of the connection that listens on `channel`: [`NAME`], then the channel, each
/// character a connection name may not hold (a space, a control character, anything outside
/// ASCII) as `_`.
pub(super) fn connection_name(channel: &str) -> String {
    let shown = channel
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' });
    NAME.chars().chain(shown).collect()
}

/// Where the listener subscribes.
struct Channel {
    /// The servers it may subscribe on, tried in turn.
    servers: Vec<Client>,
    /// Which of `servers` the next attempt tries (modulo their number).
    next: AtomicUsize,
    name: String,
    /// How long an attempt to subscribe, or a heartbeat, may take.
    timeout: Duration,
}

impl Channel {
    /// A named connection, subscribed to the channel on the first of the servers, in turn from
    /// the next one, that accepts; the last one's error where none does.
    async fn subscribe(&self) -> Result<PubSub, ListenError> {
        let mut failure = ListenError::Closed;
        for _ in 0..self.servers.len() {
            let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.servers.len();
            match self.subscribe_on(&self.servers[turn]).await {
                Ok(subscribed) => {
                    // The next attempt, after this connection fails, starts with another server.
                    return Ok(subscribed);
                }
                Err(error) => failure = error,
            }
        }
        Err(failure)
    }

    /// A named connection to the server of `client`, subscribed to the channel.
    async fn subscribe_on(&self, client: &Client) -> Result<PubSub, ListenError> {
        let name = connection_name(&self.name);
        let mut subscribed = connect_named(client, &name).await?;
        subscribed.subscribe(&self.name).await?;
        Ok(subscribed)
    }

    /// A connection subscribed again after the last one was lost, with a growing pause before
    /// each attempt; `feed` is told once it listens.
    async fn subscribe_again(&self, feed: &InvalidationFeed) -> PubSub {
        let mut pause = FIRST_BACKOFF;
        loop {
            tokio::time::sleep(pause).await;
            match tokio::time::timeout(self.timeout, self.subscribe()).await {
                Ok(Ok(subscribed)) => {
                    feed.connected();
                    return subscribed;
                }
                Ok(Err(error)) => tracing::debug!(
                    error = %Chain(&error),
                    "could not subscribe to the session invalidation channel again"
                ),
                Err(_) => tracing::debug!(
                    timeout = ?self.timeout,
                    "subscribing to the session invalidation channel again timed out"
                ),
            }
            pause = (pause * 2).min(MAX_BACKOFF);
        }
    }

    /// How long a heartbeat may go unanswered before the connection counts as lost: the
    /// operation timeout, or two heartbeat intervals where that is longer, so that one slow
    /// answer under load does not cost a reconnection.
    fn patience(&self, feed: &InvalidationFeed) -> Duration {
        self.timeout.max(feed.heartbeat_interval() * 2)
    }
}

/// Hears `channel` on `subscribed`, and on every other connection it subscribes after one fails,
/// for as long as the task runs.
async fn listen(channel: Channel, mut subscribed: PubSub, feed: InvalidationFeed) {
    loop {
        let Err(lost) = hear(subscribed, &feed, channel.patience(&feed)).await;
        feed.lost(&lost);
        subscribed = channel.subscribe_again(&feed).await;
    }
}

/// Hands every notice that arrives on `subscribed` to `feed`, and sends a heartbeat every
/// heartbeat interval, until the connection fails or a heartbeat goes unanswered for longer than
/// `patience`.
async fn hear(
    subscribed: PubSub,
    feed: &InvalidationFeed,
    patience: Duration,
) -> Result<Infallible, ListenError> {
    let (mut sink, mut notices) = subscribed.split();
    loop {
        let sent_at = Instant::now();
        hear_until(&mut notices, feed, heartbeat(&mut sink, patience)).await??;
        feed.confirmed(sent_at);
        let pause = tokio::time::sleep(feed.heartbeat_interval().max(MIN_HEARTBEAT_INTERVAL));
        hear_until(&mut notices, feed, pause).await?;
    }
}

/// Sends a heartbeat (`PING`, which a subscribed connection answers in turn with the messages),
/// and waits at most `patience` for its answer.
async fn heartbeat(sink: &mut PubSubSink, patience: Duration) -> Result<(), ListenError> {
    match tokio::time::timeout(patience, sink.ping::<Value>()).await {
        Ok(answer) => answer.map(drop).map_err(ListenError::from),
        Err(_) => Err(ListenError::Silent(patience)),
    }
}

/// Hands `feed` every notice that arrives until `until` completes, and returns its output.
///
/// Notices are looked at first: the client queues every message that came before an answer
/// before it hands over the answer, so by the time a heartbeat's answer is returned, every
/// notice sent before the heartbeat has been passed on, as [`InvalidationFeed::confirmed`]
/// requires.
async fn hear_until<F: Future>(
    notices: &mut PubSubStream,
    feed: &InvalidationFeed,
    until: F,
) -> Result<F::Output, ListenError> {
    let mut until = std::pin::pin!(until);
    loop {
        tokio::select! {
            biased;
            message = notices.next() => match message {
                Some(message) => pass_on(feed, &message).await,
                None => return Err(ListenError::Closed),
            },
            output = &mut until => return Ok(output),
        }
    }
}

/// Hands the notice `message` carries to `feed`; a message that is none is skipped.
async fn pass_on(feed: &InvalidationFeed, message: &Msg) {
    let notice = std::str::from_utf8(message.get_payload_bytes())
        .ok()
        .map(str::parse::<Invalidation>);
    match notice {
        Some(Ok(notice)) => feed.publish(&notice).await,
        _ => tracing::debug!(
            channel = message.get_channel_name(),
            "skipped a message on the session invalidation channel that is not an invalidation"
        ),
    }
}

/// A pub/sub connection to the server of `client`, named `name`.
///
/// redis-rs cannot name a pub/sub connection, and a subscribed RESP2 connection takes no command
/// but (un)subscribing and `PING`. So over plain TCP the listener opens the socket itself, logs
/// in, selects the database and names the connection, then hands redis-rs a connection with
/// nothing left to set up. Over any other transport (TLS, a Unix socket) redis-rs connects, and
/// the connection is left unnamed: doing the TLS handshake here would mean building a second
/// rustls set-up beside redis-rs' own, which could differ from it in what it trusts.
async fn connect_named(client: &Client, name: &str) -> Result<PubSub, ListenError> {
    let info = client.get_connection_info();
    let ConnectionAddr::Tcp(host, port) = info.addr() else {
        return Ok(client.get_async_pubsub().await?);
    };
    let socket = TcpStream::connect((host.as_str(), *port)).await?;
    // As the store's other connections do: a heartbeat must not wait on Nagle's algorithm.
    socket.set_nodelay(true)?;
    let socket = introduce(socket, info.redis_settings(), name).await?;
    let set_up = RedisConnectionInfo::default().set_skip_set_lib_name();
    Ok(PubSub::new(&set_up, socket).await?)
}

/// Logs in on `socket` with `settings`, selects their database, and names the connection `name`.
async fn introduce<S>(
    mut socket: S,
    settings: &RedisConnectionInfo,
    name: &str,
) -> Result<S, ListenError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut handshake = redis::pipe();
    if let Some(password) = settings.password() {
        let auth = handshake.cmd("AUTH");
        if let Some(user) = settings.username() {
            auth.arg(user);
        }
        auth.arg(password);
    }
    if settings.db() != 0 {
        handshake.cmd("SELECT").arg(settings.db());
    }
    handshake.cmd("CLIENT").arg("SETNAME").arg(name);
    socket.write_all(&handshake.get_packed_pipeline()).await?;
    for _ in 0..handshake.len() {
        expect_ok(&mut socket).await?;
    }
    Ok(socket)
}

/// Reads the answer to one command of the handshake: `+OK`, or an error, each one line.
async fn expect_ok<S: AsyncRead + Unpin>(socket: &mut S) -> Result<(), ListenError> {
    let mut line = Vec::new();
    while !line.ends_with(b"\r\n") && line.len() < MAX_ANSWER {
        line.push(socket.read_u8().await?);
    }
    match line.first() {
        Some(b'+') => Ok(()),
        _ => Err(ListenError::Refused(
            String::from_utf8_lossy(&line).trim_end().to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_is_named_for_its_channel_in_characters_a_connection_name_may_hold() {
        assert_eq!(
            connection_name("shop:sessions:invalidations"),
            "kv-sessions-listener:shop:sessions:invalidations"
        );
        assert_eq!(
            connection_name("my app\u{e9}:invalidations"),
            "kv-sessions-listener:my_app_:invalidations"
        );
    }
}
