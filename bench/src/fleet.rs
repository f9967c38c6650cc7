//! What coherence costs a fleet: many instances, each with one subscriber connection, hearing
//! about writes to a shared Redis or PostgreSQL.
//!
//! `kv-sessions-bench fleet` runs, in this one process, N lightweight subscribers (raw redis-rs
//! pubsub connections, or raw tokio-postgres connections that `LISTEN`) on one current-thread
//! runtime of their own, and a publisher writing at a fixed rate on another. Each trial
//! measures the messages the server delivered, the bytes each subscriber's connection received,
//! the server's CPU, the subscribers' CPU and the delay from publish to receipt. A trial with no
//! subscriber gives the cost of the writes alone, so what the server spends on delivery is the
//! difference. From those figures it works out the cost at any fleet size, and prints the
//! tables `bench/RESULTS.md` quotes.
//!
//! Two ways for an instance to hear of writes are compared on Redis: broadcast, which
//! kv-sessions' stores use (every instance hears every write), and tracking (`CLIENT TRACKING`
//! with `REDIRECT`: an instance hears only of the sessions it has read).

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::try_join_all;
use tokio::runtime::{Builder, Handle, Runtime};
use tokio::sync::oneshot;
use tokio::time::sleep_until;

use crate::variant::Engine;

mod cpu;
mod notice;
mod postgres;
mod redis;
mod table;
mod wire;

use notice::Tally;

/// How instances hear of writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Every instance hears every write, on one channel.
    Broadcast,
    /// An instance hears only of the sessions it has read (Redis `CLIENT TRACKING`).
    Tracking,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Self::Broadcast => "broadcast",
            Self::Tracking => "tracking",
        }
    }
}

/// What a `fleet` run measures.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Subscriber counts; 0 measures the writes alone.
    pub(crate) instances: Vec<usize>,
    /// Writes per second, each with one notice.
    pub(crate) rates: Vec<u32>,
    /// How long the publisher writes in each trial.
    pub(crate) duration: Duration,
    pub(crate) engines: Vec<Engine>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            instances: vec![0, 20, 50, 100],
            rates: vec![1_000, 2_000, 5_000],
            duration: Duration::from_secs(3),
            engines: Engine::ALL.to_vec(),
        }
    }
}

/// One trial: an engine, a mode, a fleet size and a write rate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Trial {
    engine: Engine,
    mode: Mode,
    instances: usize,
    rate: u32,
    duration: Duration,
}

/// What one trial measured.
#[derive(Debug, Clone)]
pub(crate) struct Measured {
    /// Writes the publisher made.
    sent: u64,
    /// Seconds the publisher took to make them.
    seconds: f64,
    /// Messages the subscribers received, all together.
    delivered: u64,
    /// Bytes received, all subscriber connections together.
    bytes: u64,
    /// Server CPU seconds over the window.
    server_cpu: f64,
    /// The subscribers' runtime thread's CPU seconds over the window.
    subscriber_cpu: f64,
    /// Publish-to-receipt delays, in microseconds, sorted.
    delays_us: Vec<u32>,
}

/// The server processes whose CPU a trial reads.
pub(crate) enum ServerCpu {
    /// All of Redis, through `INFO cpu` on this connection.
    Redis(::redis::aio::MultiplexedConnection),
    /// The PostgreSQL backends of the trial's own connections, by pid.
    Postgres(Vec<u32>),
}

impl ServerCpu {
    async fn seconds(&mut self) -> io::Result<f64> {
        match self {
            Self::Redis(admin) => redis::server_cpu(admin).await,
            Self::Postgres(pids) => pids.iter().map(|&pid| cpu::process(pid)).sum(),
        }
    }
}

/// Runs every trial `settings` names and prints the tables.
pub(crate) fn run(settings: &Settings) -> io::Result<()> {
    let subscribers = SubscriberRuntime::start()?;
    let publisher = Builder::new_current_thread().enable_all().build()?;
    let epoch = Instant::now();
    let mut results = Vec::new();
    for trial in trials(settings) {
        // A trial the server cannot take (PostgreSQL allows 100 connections by default) is
        // reported and left out, so the others still make their tables.
        match publisher.block_on(one(&trial, subscribers.handle(), epoch)) {
            Ok(measured) => {
                eprintln!("{}", table::progress(&trial, &measured));
                results.push((trial, measured));
            }
            Err(error) => eprintln!("{}: {error}", table::name(&trial)),
        }
    }
    println!("{}", table::markdown(&results));
    Ok(())
}

fn trials(settings: &Settings) -> Vec<Trial> {
    let mut trials = Vec::new();
    for &engine in &settings.engines {
        let modes: &[Mode] = match engine {
            Engine::Redis => &[Mode::Broadcast, Mode::Tracking],
            Engine::Postgres => &[Mode::Broadcast],
        };
        for &mode in modes {
            for &rate in &settings.rates {
                for &instances in &settings.instances {
                    trials.push(Trial {
                        engine,
                        mode,
                        instances,
                        rate,
                        duration: settings.duration,
                    });
                }
            }
        }
    }
    trials
}

async fn one(trial: &Trial, sub: &Handle, epoch: Instant) -> io::Result<Measured> {
    match (trial.engine, trial.mode) {
        (Engine::Redis, Mode::Broadcast) => redis::broadcast(trial, sub, epoch).await,
        (Engine::Redis, Mode::Tracking) => redis::tracking(trial, sub).await,
        (Engine::Postgres, _) => postgres::broadcast(trial, sub, epoch).await,
    }
}

/// The current-thread runtime every subscriber runs on, on a thread of its own, so that the
/// thread's CPU time is the subscribers' alone.
struct SubscriberRuntime {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SubscriberRuntime {
    fn start() -> io::Result<Self> {
        let runtime: Runtime = Builder::new_current_thread().enable_all().build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("subscribers".to_owned())
            .spawn(move || {
                let _ = runtime.block_on(stopped);
            })?;
        Ok(Self {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Drop for SubscriberRuntime {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// How long after the last write the subscribers may take to hear it, at most.
const DRAIN_LIMIT: Duration = Duration::from_secs(3);
/// How long the count of messages must stand still for the subscribers to count as caught up.
const DRAIN_QUIET: Duration = Duration::from_millis(150);
/// How long the subscribers settle after connecting, before the window opens.
const SETTLE: Duration = Duration::from_millis(200);

/// Opens a window on the subscribers' tallies and the CPU clocks, lets `publish` write, waits
/// for the subscribers to hear the last of it, and closes the window.
pub(crate) async fn measure(
    tallies: &[Arc<Tally>],
    server: &mut ServerCpu,
    sub: &Handle,
    publish: impl Future<Output = io::Result<u64>>,
) -> io::Result<Measured> {
    tokio::time::sleep(SETTLE).await;
    let delivered = || tallies.iter().map(|tally| tally.messages()).sum::<u64>();
    let received = || tallies.iter().map(|tally| tally.bytes()).sum::<u64>();
    let (messages_before, bytes_before) = (delivered(), received());
    for tally in tallies {
        tally.take_delays();
    }
    let server_before = server.seconds().await?;
    let subscriber_before = subscriber_cpu(sub).await?;
    let started = Instant::now();
    let sent = publish.await?;
    let seconds = started.elapsed().as_secs_f64();
    drain(&delivered).await;
    let server_cpu = server.seconds().await? - server_before;
    let subscriber_cpu = subscriber_cpu(sub).await? - subscriber_before;
    let mut delays_us: Vec<u32> = tallies.iter().flat_map(|t| t.take_delays()).collect();
    delays_us.sort_unstable();
    Ok(Measured {
        sent,
        seconds,
        delivered: delivered() - messages_before,
        bytes: received() - bytes_before,
        server_cpu,
        subscriber_cpu,
        delays_us,
    })
}

async fn subscriber_cpu(sub: &Handle) -> io::Result<f64> {
    sub.spawn(async { cpu::this_thread() })
        .await
        .map_err(io::Error::other)?
}

/// Returns once the count of delivered messages has stood still for [`DRAIN_QUIET`], or after
/// [`DRAIN_LIMIT`].
async fn drain(delivered: &impl Fn() -> u64) {
    let deadline = Instant::now() + DRAIN_LIMIT;
    let mut last = delivered();
    while Instant::now() < deadline {
        tokio::time::sleep(DRAIN_QUIET).await;
        let now = delivered();
        if now == last {
            return;
        }
        last = now;
    }
}

/// Calls `write` for sequence numbers 0, 1, 2, … at `rate` per second for `duration`, from
/// `lanes` loops at once, each waiting for its write's answer before its next. A lane that falls
/// behind writes without pause until it catches up, so the rate holds wherever the server
/// allows it. Returns the number of writes.
pub(crate) async fn paced<F, W>(
    rate: u32,
    duration: Duration,
    lanes: usize,
    write: F,
) -> io::Result<u64>
where
    F: Fn(u64) -> W,
    W: Future<Output = io::Result<()>>,
{
    let start = tokio::time::Instant::now();
    let total = (f64::from(rate) * duration.as_secs_f64()) as u64;
    let interval = 1.0 / f64::from(rate);
    let lane = |first: u64| {
        let write = &write;
        async move {
            let mut sequence = first;
            while sequence < total {
                sleep_until(start + Duration::from_secs_f64(sequence as f64 * interval)).await;
                write(sequence).await?;
                sequence += lanes as u64;
            }
            io::Result::Ok(())
        }
    };
    try_join_all((0..lanes as u64).map(lane)).await?;
    Ok(total)
}

/// A well-mixed function of `sequence` (splitmix64's finaliser), to pick sessions at random but
/// the same way every run.
pub(crate) fn spread(sequence: u64) -> u64 {
    let mut z = sequence.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
