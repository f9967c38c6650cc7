//! The connection that listens on a table's channel and feeds what it hears to the table's
//! [`InvalidationFeed`]: outside the pool, so that it never waits for a pooled connection and
//! no operation ever borrows it.

use std::future::poll_fn;
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::AbortHandle;
use tokio_postgres::tls::TlsStream;
use tokio_postgres::{AsyncMessage, Client, Config, Connection, Socket};

use super::error::PostgresError;
use super::tls::Connector;
use crate::error::{BoxError, StoreError};
use crate::store::{Invalidation, InvalidationFeed};

/// The first pause before connecting again after the listening connection failed.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// The longest pause between attempts to connect again.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// The shortest pause between heartbeats, so that a bound on staleness of zero, under which no
/// cached copy is ever served, does not make the listener flood the server.
const MIN_HEARTBEAT: Duration = Duration::from_millis(10);

/// A running listener. Dropping it stops the task and closes its connection.
#[derive(Debug)]
pub(super) struct Listener {
    feed: InvalidationFeed,
    task: AbortHandle,
}

/// Where to listen, and what to do with what is heard.
pub(super) struct Subscription {
    /// The connection settings, with the listener's own `application_name`.
    pub(super) config: Config,
    /// The connector that brings the connection's TLS, as the pool's does.
    pub(super) connector: Connector,
    /// The channel, as the table names it.
    pub(super) channel: String,
    /// The feed that hears every notice, and learns when the connection is lost and back.
    pub(super) feed: InvalidationFeed,
    /// How long connecting and listening, and each heartbeat, may take.
    pub(super) timeout: Duration,
}

/// What the tasks serving one listening connection report, in the order they happened on it.
enum Event {
    /// A notification's payload.
    Notice(String),
    /// A heartbeat sent at this moment came back.
    Confirmed(Instant),
    /// The connection failed, or a heartbeat did not come back in time.
    Lost(BoxError),
}

/// The tasks serving one listening connection; dropping it stops them and closes the connection.
struct Listening {
    events: UnboundedReceiver<Event>,
    tasks: [AbortHandle; 2],
}

impl Drop for Listening {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Listener {
    /// Listens on `subscription`'s channel once, within its timeout, then keeps listening on a
    /// task on `runtime`; a [`StoreError::Open`] where the first attempt fails.
    pub(super) async fn start(
        runtime: &Handle,
        subscription: Subscription,
    ) -> Result<Self, StoreError> {
        let listening = listen(&subscription).await.map_err(|cause| {
            StoreError::open(PostgresError::NotListening {
                channel: subscription.channel.clone(),
                cause,
            })
        })?;
        let feed = subscription.feed.clone();
        feed.connected();
        let task = runtime.spawn(keep_listening(subscription, listening));
        Ok(Self {
            feed,
            task: task.abort_handle(),
        })
    }

    /// The feed it feeds.
    pub(super) fn feed(&self) -> &InvalidationFeed {
        &self.feed
    }

    /// The task, for tests to see whether it has stopped.
    #[cfg(test)]
    pub(super) fn task(&self) -> AbortHandle {
        self.task.clone()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Feeds what `listening` hears to the feed, and when the connection fails, connects again
/// with backoff, forever.
async fn keep_listening(subscription: Subscription, mut listening: Listening) {
    let feed = &subscription.feed;
    loop {
        let lost = hear(feed, &mut listening).await;
        drop(listening);
        feed.lost(&*lost);
        listening = reconnect(&subscription).await;
        feed.connected();
    }
}

/// Hands every notice `listening` reports to `feed`, in order, until the connection is lost.
async fn hear(feed: &InvalidationFeed, listening: &mut Listening) -> BoxError {
    while let Some(event) = listening.events.recv().await {
        match event {
            Event::Notice(payload) => match payload.parse::<Invalidation>() {
                Ok(invalidation) => feed.publish(&invalidation).await,
                Err(error) => tracing::debug!(%error, payload, "ignored a notification"),
            },
            Event::Confirmed(sent_at) => feed.confirmed(sent_at),
            Event::Lost(cause) => return cause,
        }
    }
    Box::new(PostgresError::ListenerClosed)
}

/// Connects and listens again, pausing longer after each failure.
async fn reconnect(subscription: &Subscription) -> Listening {
    let mut backoff = FIRST_BACKOFF;
    loop {
        tokio::time::sleep(backoff).await;
        match listen(subscription).await {
            Ok(listening) => return listening,
            Err(cause) => {
                tracing::debug!(error = %crate::error::Chain(&*cause), "listening again failed");
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Opens a connection, listens on the channel, and starts the tasks that serve it, within the
/// subscription's timeout. Once it returns, every change committed from then on is heard.
async fn listen(subscription: &Subscription) -> Result<Listening, BoxError> {
    let timeout = subscription.timeout;
    let connecting = async {
        let (client, connection) = subscription
            .config
            .connect(Connector::clone(&subscription.connector))
            .await?;
        let (sender, events) = unbounded_channel();
        let reader = tokio::spawn(read(connection, sender.clone())).abort_handle();
        // Dropping the client on a failure closes the connection, which ends `reader`.
        let listen = format!("LISTEN \"{}\"", subscription.channel);
        client.batch_execute(&listen).await?;
        let interval = subscription.feed.heartbeat_interval().max(MIN_HEARTBEAT);
        let heartbeat = tokio::spawn(beat(client, interval, timeout, sender)).abort_handle();
        Ok::<_, tokio_postgres::Error>(Listening {
            events,
            tasks: [reader, heartbeat],
        })
    };
    match tokio::time::timeout(timeout, connecting).await {
        Ok(listening) => Ok(listening?),
        Err(_) => Err(Box::new(PostgresError::Timeout(timeout))),
    }
}

/// Drives `connection`, reporting each notification, and how the connection ended.
async fn read<Tls: TlsStream + Unpin>(
    mut connection: Connection<Socket, Tls>,
    events: UnboundedSender<Event>,
) {
    let lost: BoxError = loop {
        match poll_fn(|cx| connection.poll_message(cx)).await {
            Some(Ok(AsyncMessage::Notification(notification))) => {
                let _ = events.send(Event::Notice(notification.payload().to_owned()));
            }
            Some(Ok(_)) => {}
            Some(Err(error)) => break Box::new(error),
            None => break Box::new(PostgresError::ListenerClosed),
        }
    };
    let _ = events.send(Event::Lost(lost));
}

/// Sends `SELECT 1` on the listening connection every `interval` and reports each answer; one
/// that fails, or does not come within `timeout`, is reported as the connection lost.
///
/// An answer comes after every notification the server sent before it, and the connection
/// reports those first, so a confirmation reaches the feed after the notices it vouches for.
async fn beat(
    client: Client,
    interval: Duration,
    timeout: Duration,
    events: UnboundedSender<Event>,
) {
    loop {
        tokio::time::sleep(interval).await;
        let sent_at = Instant::now();
        let event = match tokio::time::timeout(timeout, client.simple_query("SELECT 1")).await {
            Ok(Ok(_)) => Event::Confirmed(sent_at),
            Ok(Err(error)) => Event::Lost(Box::new(error)),
            Err(_) => Event::Lost(Box::new(PostgresError::Timeout(timeout))),
        };
        let lost = matches!(event, Event::Lost(_));
        if events.send(event).is_err() || lost {
            return;
        }
    }
}
