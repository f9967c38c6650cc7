//! The fleet on Redis: broadcast, where every instance subscribes to one channel and the write
//! script publishes each notice there, and tracking, where each instance's data connection has
//! `CLIENT TRACKING on REDIRECT` to its own subscriber and Redis tells it only about the keys it
//! read.

use std::io;
use std::sync::Arc;
use std::time::Instant;

use futures_util::StreamExt;
use redis::aio::{MultiplexedConnection, PubSub};
use redis::{Client, Msg, Script};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use super::notice::{self, Tally};
use super::wire::CountedStream;
use super::{Measured, ServerCpu, Trial, measure, paced, spread};
use crate::redis_keys;
use crate::space::{Space, redis_url};

/// Where Redis listens, for the counted connections.
const ADDR: &str = "127.0.0.1:6379";
/// The channel Redis sends tracking invalidations on, to a RESP2 client's redirect target.
const INVALIDATE_CHANNEL: &str = "__redis__:invalidate";
/// Sessions each instance has cached in the tracking simulation, besides those it shares.
const CACHED_PER_INSTANCE: u64 = 1_000;
/// Connections the publisher writes on at once, so that one round trip does not cap the rate.
const LANES: usize = 4;
/// The write and its notice in one script, as kv-sessions' write script does: the notice goes
/// out only if the write happened, and before any later write on the same key.
const WRITE_AND_PUBLISH: &str = "redis.call('HSET', KEYS[1], 'version', ARGV[1]) \
                                 redis.call('PUBLISH', ARGV[2], ARGV[3]) return 1";

fn io_error(error: redis::RedisError) -> io::Error {
    io::Error::other(error)
}

fn client() -> io::Result<Client> {
    Client::open(redis_url()).map_err(io_error)
}

async fn connection() -> io::Result<MultiplexedConnection> {
    client()?
        .get_multiplexed_async_connection()
        .await
        .map_err(io_error)
}

/// A RESP2 subscriber connection whose received bytes count into `tally`, and the local port by
/// which `CLIENT LIST` names it.
async fn subscriber(tally: &Tally) -> io::Result<(PubSub, u16)> {
    let stream = CountedStream::connect(ADDR, Arc::clone(&tally.bytes)).await?;
    let port = stream.local_addr()?.port();
    let settings = client()?.get_connection_info().redis_settings().clone();
    let pubsub = PubSub::new(&settings, stream).await.map_err(io_error)?;
    Ok((pubsub, port))
}

/// Redis' CPU seconds so far, user plus system, from `INFO cpu`.
pub(super) async fn server_cpu(admin: &mut MultiplexedConnection) -> io::Result<f64> {
    let info: String = redis::cmd("INFO")
        .arg("cpu")
        .query_async(admin)
        .await
        .map_err(io_error)?;
    Ok(info
        .lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| matches!(*name, "used_cpu_user" | "used_cpu_sys"))
        .filter_map(|(_, value)| value.trim().parse::<f64>().ok())
        .sum())
}

/// Broadcast: `instances` subscribers to the space's channel, and a publisher running the write
/// script at `trial.rate`.
pub(super) async fn broadcast(trial: &Trial, sub: &Handle, epoch: Instant) -> io::Result<Measured> {
    let space = Space::generate();
    let channel = format!("{}invalidations", space.key_prefix());
    let mut tallies = Vec::new();
    let mut tasks = Vec::new();
    for _ in 0..trial.instances {
        let tally = Arc::new(Tally::default());
        let (channel, heard) = (channel.clone(), Arc::clone(&tally));
        let setup = sub.spawn(async move {
            let (mut pubsub, _) = subscriber(&heard).await?;
            pubsub.subscribe(&channel).await.map_err(io_error)?;
            io::Result::Ok(tokio::spawn(hear_broadcast(pubsub, heard, epoch)))
        });
        tasks.push(setup.await.map_err(io::Error::other)??);
        tallies.push(tally);
    }
    let publisher = connection().await?;
    let script = Script::new(WRITE_AND_PUBLISH);
    let publish = paced(trial.rate, trial.duration, LANES, |sequence| {
        let mut publisher = publisher.clone();
        let mut invocation = script.key(format!("{}{}", space.key_prefix(), sequence % 1_000));
        invocation
            .arg(sequence)
            .arg(&channel)
            .arg(notice::text(epoch, sequence));
        async move {
            let _: i64 = invocation
                .invoke_async(&mut publisher)
                .await
                .map_err(io_error)?;
            Ok(())
        }
    });
    let mut server = ServerCpu::Redis(connection().await?);
    let measured = measure(&tallies, &mut server, sub, publish).await;
    stop(tasks);
    redis_keys::delete_prefixed(&space.key_prefix())?;
    measured
}

async fn hear_broadcast(pubsub: PubSub, tally: Arc<Tally>, epoch: Instant) {
    let mut messages = pubsub.into_on_message();
    while let Some(message) = messages.next().await {
        let text: String = message.get_payload().unwrap_or_default();
        tally.hear(notice::age(epoch, &text));
    }
}

/// Tracking: `instances` data connections, each reading its share of the sessions with
/// tracking redirected to its own subscriber, and a writer setting random sessions at
/// `trial.rate` with no `PUBLISH`.
pub(super) async fn tracking(trial: &Trial, sub: &Handle) -> io::Result<Measured> {
    let space = Space::generate();
    let sessions = CACHED_PER_INSTANCE * trial.instances.max(1) as u64;
    let mut tallies = Vec::new();
    let mut tasks = Vec::new();
    for instance in 0..trial.instances {
        let tally = Arc::new(Tally::default());
        let heard = Arc::clone(&tally);
        let keys = cached_by(instance as u64, trial.instances as u64, sessions)
            .map(|session| format!("{}{session}", space.key_prefix()))
            .collect();
        let setup = sub.spawn(async move {
            let (pubsub, data) = tracked(keys, &heard).await?;
            io::Result::Ok(tokio::spawn(hear_tracking(pubsub, data, heard)))
        });
        tasks.push(setup.await.map_err(io::Error::other)??);
        tallies.push(tally);
    }
    let writer = connection().await?;
    let prefix = space.key_prefix();
    let publish = paced(trial.rate, trial.duration, LANES, |sequence| {
        let mut writer = writer.clone();
        let key = format!("{prefix}{}", spread(sequence) % sessions);
        async move {
            redis::cmd("HSET")
                .arg(key)
                .arg("version")
                .arg(sequence)
                .exec_async(&mut writer)
                .await
                .map_err(io_error)
        }
    });
    let mut server = ServerCpu::Redis(connection().await?);
    let measured = measure(&tallies, &mut server, sub, publish).await;
    stop(tasks);
    redis_keys::delete_prefixed(&prefix)?;
    measured
}

/// The sessions instance `instance` of `instances` has cached, out of `sessions`: every one
/// whose number it is modulo `instances`, and every even one of its left neighbour's, so that
/// half the sessions are cached by one instance and half by two, as after a client hopped.
fn cached_by(instance: u64, instances: u64, sessions: u64) -> impl Iterator<Item = u64> {
    (0..sessions).filter(move |session| {
        session % instances == instance
            || (session % 2 == 0 && (session + 1) % instances == instance)
    })
}

/// A subscriber to tracking invalidations, and a data connection that redirects its tracking
/// there and has read every key in `keys`.
async fn tracked(keys: Vec<String>, tally: &Tally) -> io::Result<(PubSub, MultiplexedConnection)> {
    let (mut pubsub, port) = subscriber(tally).await?;
    pubsub
        .subscribe(INVALIDATE_CHANNEL)
        .await
        .map_err(io_error)?;
    let id = client_id(port).await?;
    let mut data = connection().await?;
    redis::cmd("CLIENT")
        .arg("TRACKING")
        .arg("on")
        .arg("REDIRECT")
        .arg(id)
        .exec_async(&mut data)
        .await
        .map_err(io_error)?;
    for chunk in keys.chunks(500) {
        let mut reads = redis::pipe();
        for key in chunk {
            reads.cmd("HGET").arg(key).arg("version");
        }
        let _: Vec<Option<u64>> = reads.query_async(&mut data).await.map_err(io_error)?;
    }
    Ok((pubsub, data))
}

/// The id Redis gave the connection whose local port is `port`.
async fn client_id(port: u16) -> io::Result<u64> {
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut connection().await?)
        .await
        .map_err(io_error)?;
    let addr = format!("addr=127.0.0.1:{port}");
    list.lines()
        .find(|line| line.split(' ').any(|field| field == addr))
        .and_then(|line| line.strip_prefix("id="))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| io::Error::other(format!("no client at {addr}")))
}

/// Counts each invalidation and reads its keys again, as the instance would on the session's
/// next request, which also renews the tracking Redis dropped when it sent the invalidation.
async fn hear_tracking(pubsub: PubSub, mut data: MultiplexedConnection, tally: Arc<Tally>) {
    let mut messages = pubsub.into_on_message();
    while let Some(message) = messages.next().await {
        tally.hear(None);
        for key in invalidated_keys(&message) {
            let read: redis::RedisResult<Option<u64>> = redis::cmd("HGET")
                .arg(key)
                .arg("version")
                .query_async(&mut data)
                .await;
            if read.is_err() {
                return;
            }
        }
    }
}

/// The keys an invalidation names; none for a flush, which names none.
fn invalidated_keys(message: &Msg) -> Vec<String> {
    message.get_payload().unwrap_or_default()
}

fn stop(tasks: Vec<JoinHandle<()>>) {
    for task in tasks {
        task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_session_is_cached_by_one_or_two_instances() {
        let (instances, sessions) = (20, 20_000);
        let mut holders = vec![0_u32; sessions as usize];
        for instance in 0..instances {
            for session in cached_by(instance, instances, sessions) {
                holders[session as usize] += 1;
            }
        }
        assert!(holders.iter().all(|&count| count == 1 || count == 2));
        let shared = holders.iter().filter(|&&count| count == 2).count();
        assert_eq!(shared, sessions as usize / 2);
    }
}
