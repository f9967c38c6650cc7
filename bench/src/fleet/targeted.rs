//! The fleet on Redis, targeted: tracking done in the store's own scripts, so that a notice
//! keeps its version and goes only to the instances that cached the session.
//!
//! Each instance has an id and subscribes to its own channel, `<prefix>invalidations:<id>`. A
//! load is a script that reads the session and, where it exists, adds the instance to the
//! session's watcher set `<prefix>w:<digest hex>`, which expires with the session. A write is a
//! script that writes, empties the watcher set, publishes the notice on each watcher's channel
//! and adds the writer back, since the writer caches what it wrote. An instance that hears of
//! another's write loads the session again, as its next request would, which puts it back in
//! the set.

use std::io;
use std::sync::Arc;
use std::time::Instant;

use futures_util::StreamExt;
use redis::Script;
use redis::aio::{MultiplexedConnection, PubSub};
use tokio::runtime::Handle;

use super::notice::{self, Tally};
use super::redis::{CACHED_PER_INSTANCE, LANES, cached_by, connection, io_error, stop, subscriber};
use super::{Measured, ServerCpu, Trial, measure, paced, spread};
use crate::redis_keys;
use crate::space::Space;

/// Reads the session `KEYS[1]` and, where it exists, adds instance `ARGV[1]` to its watcher set
/// `KEYS[2]`, which lives as long as the session.
const LOAD: &str = "local session = redis.call('HGETALL', KEYS[1]) \
                    if #session > 0 then \
                      redis.call('SADD', KEYS[2], ARGV[1]) \
                      redis.call('PEXPIREAT', KEYS[2], redis.call('PEXPIRETIME', KEYS[1])) \
                    end \
                    return session";
/// Writes version `ARGV[1]` to the session `KEYS[1]` for `ARGV[2]` ms, publishes notice
/// `ARGV[4]` on the channel `ARGV[3]<id>` of every instance in the watcher set `KEYS[2]`, and
/// leaves writer `ARGV[5]` alone in the set. Returns the number of notices.
const WRITE: &str = "redis.call('HSET', KEYS[1], 'version', ARGV[1]) \
                     redis.call('PEXPIRE', KEYS[1], ARGV[2]) \
                     local watchers = redis.call('SMEMBERS', KEYS[2]) \
                     redis.call('DEL', KEYS[2]) \
                     for _, watcher in ipairs(watchers) do \
                       redis.call('PUBLISH', ARGV[3] .. watcher, ARGV[4]) \
                     end \
                     redis.call('SADD', KEYS[2], ARGV[5]) \
                     redis.call('PEXPIRE', KEYS[2], ARGV[2]) \
                     return #watchers";
/// How long a session lives, in ms: longer than any trial.
const SESSION_TTL_MS: u64 = 3_600_000;
/// Sessions created per round trip before the trial.
const SEED_BATCH: usize = 1_000;

/// A space's session keys, watcher sets and instance channels.
#[derive(Clone)]
struct Keys {
    prefix: String,
}

impl Keys {
    /// Session `session`'s key; the number stands in for its 32 hex digest.
    fn session(&self, session: u64) -> String {
        format!("{}{session:032x}", self.prefix)
    }

    fn watchers(&self, session: u64) -> String {
        format!("{}w:{session:032x}", self.prefix)
    }

    /// What every instance's channel starts with.
    fn channels(&self) -> String {
        format!("{}invalidations:", self.prefix)
    }
}

/// Targeted: `trial.instances` instances, each loading its share of the sessions through the
/// load script and listening on its own channel, while each session's first cacher updates it
/// through the write script at `trial.rate`.
pub(super) async fn targeted(trial: &Trial, sub: &Handle, epoch: Instant) -> io::Result<Measured> {
    let space = Space::generate();
    let keys = Keys {
        prefix: space.key_prefix(),
    };
    let instances = trial.instances.max(1) as u64;
    let sessions = CACHED_PER_INSTANCE * instances;
    let mut writer = connection().await?;
    seed(&mut writer, &keys, sessions).await?;
    let mut tallies = Vec::new();
    let mut tasks = Vec::new();
    for instance in 0..trial.instances as u64 {
        let tally = Arc::new(Tally::default());
        let (heard, keys) = (Arc::clone(&tally), keys.clone());
        let setup = sub.spawn(async move {
            let cacher = Cacher::join(instance, instances, keys, &heard, sessions).await?;
            io::Result::Ok(tokio::spawn(cacher.hear(heard, epoch)))
        });
        tasks.push(setup.await.map_err(io::Error::other)??);
        tallies.push(tally);
    }
    let script = Script::new(WRITE);
    let publish = paced(trial.rate, trial.duration, LANES, |sequence| {
        let mut writer = writer.clone();
        let session = spread(sequence) % sessions;
        let mut invocation = script.key(keys.session(session));
        invocation
            .key(keys.watchers(session))
            .arg(sequence)
            .arg(SESSION_TTL_MS)
            .arg(keys.channels())
            .arg(notice::text(epoch, session))
            .arg(session % instances);
        async move {
            let _: i64 = invocation
                .invoke_async(&mut writer)
                .await
                .map_err(io_error)?;
            Ok(())
        }
    });
    let mut server = ServerCpu::Redis(connection().await?);
    let measured = measure(&tallies, &mut server, sub, publish).await;
    stop(tasks);
    redis_keys::delete_prefixed(&keys.prefix)?;
    measured
}

/// Creates sessions 0 to `sessions`, watched by no one yet.
async fn seed(writer: &mut MultiplexedConnection, keys: &Keys, sessions: u64) -> io::Result<()> {
    let numbers: Vec<u64> = (0..sessions).collect();
    for chunk in numbers.chunks(SEED_BATCH) {
        let mut creates = redis::pipe();
        for &session in chunk {
            let key = keys.session(session);
            creates.hset(&key, "version", 0).ignore();
            creates.pexpire(&key, SESSION_TTL_MS as i64).ignore();
        }
        creates.exec_async(writer).await.map_err(io_error)?;
    }
    Ok(())
}

/// One instance: its id, its channel's subscriber and the connection it loads sessions on.
struct Cacher {
    id: u64,
    instances: u64,
    keys: Keys,
    load: Script,
    pubsub: PubSub,
    data: MultiplexedConnection,
}

impl Cacher {
    /// Instance `id` of `instances`, subscribed to its channel and having loaded its share of
    /// `sessions` through the load script.
    async fn join(
        id: u64,
        instances: u64,
        keys: Keys,
        tally: &Tally,
        sessions: u64,
    ) -> io::Result<Self> {
        let (mut pubsub, _) = subscriber(tally).await?;
        pubsub
            .subscribe(format!("{}{id}", keys.channels()))
            .await
            .map_err(io_error)?;
        let mut data = connection().await?;
        let load = Script::new(LOAD);
        load.prepare_invoke()
            .load_async(&mut data)
            .await
            .map_err(io_error)?;
        let share: Vec<u64> = cached_by(id, instances, sessions).collect();
        for chunk in share.chunks(SEED_BATCH) {
            let mut loads = redis::pipe();
            for &session in chunk {
                let mut invocation = load.key(keys.session(session));
                invocation.key(keys.watchers(session)).arg(id);
                loads.invoke_script(&invocation).ignore();
            }
            loads.exec_async(&mut data).await.map_err(io_error)?;
        }
        Ok(Self {
            id,
            instances,
            keys,
            load,
            pubsub,
            data,
        })
    }

    /// Counts each notice and loads its session again, unless this instance wrote it: the
    /// writer caches what it wrote, so its own notice changes nothing for it.
    async fn hear(self, tally: Arc<Tally>, epoch: Instant) {
        let Self {
            id,
            instances,
            keys,
            load,
            pubsub,
            mut data,
        } = self;
        let mut messages = pubsub.into_on_message();
        while let Some(message) = messages.next().await {
            let text: String = message.get_payload().unwrap_or_default();
            tally.hear(notice::age(epoch, &text));
            let Some(session) = notice::number(&text) else {
                continue;
            };
            if session % instances == id {
                continue;
            }
            let mut invocation = load.key(keys.session(session));
            invocation.key(keys.watchers(session)).arg(id);
            let loaded: redis::RedisResult<redis::Value> = invocation.invoke_async(&mut data).await;
            if loaded.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn watchers(data: &mut MultiplexedConnection, keys: &Keys, session: u64) -> Vec<u64> {
        let mut members: Vec<u64> = redis::cmd("SMEMBERS")
            .arg(keys.watchers(session))
            .query_async(data)
            .await
            .unwrap();
        members.sort_unstable();
        members
    }

    async fn load(data: &mut MultiplexedConnection, keys: &Keys, session: u64, id: u64) {
        let script = Script::new(LOAD);
        let mut invocation = script.key(keys.session(session));
        invocation.key(keys.watchers(session)).arg(id);
        let _: redis::Value = invocation.invoke_async(data).await.unwrap();
    }

    #[tokio::test]
    async fn a_write_notifies_the_loaders_and_leaves_only_the_writer_watching() {
        if std::env::var_os("KV_SESSIONS_REDIS_URL").is_none() {
            eprintln!("KV_SESSIONS_REDIS_URL is unset: skipping the targeted scripts' test");
            return;
        }
        let keys = Keys {
            prefix: Space::generate().key_prefix(),
        };
        let mut data = connection().await.unwrap();
        seed(&mut data, &keys, 1).await.unwrap();
        load(&mut data, &keys, 0, 3).await;
        load(&mut data, &keys, 0, 7).await;
        load(&mut data, &keys, 1, 7).await;
        assert_eq!(watchers(&mut data, &keys, 0).await, [3, 7]);
        assert_eq!(watchers(&mut data, &keys, 1).await, [] as [u64; 0]);

        let script = Script::new(WRITE);
        let mut write = script.key(keys.session(0));
        write
            .key(keys.watchers(0))
            .arg(1)
            .arg(SESSION_TTL_MS)
            .arg(keys.channels())
            .arg("notice")
            .arg(3);
        let notices: i64 = write.invoke_async(&mut data).await.unwrap();
        assert_eq!(notices, 2);
        assert_eq!(watchers(&mut data, &keys, 0).await, [3]);
        redis_keys::delete_prefixed(&keys.prefix).unwrap();
    }
}
