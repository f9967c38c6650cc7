//! Measures the sled store outside the test suite, where timings would not belong.
//!
//! ```text
//! sled_measure writes <periodic|immediate|flush-each|renewed|logouts> <savers> <seconds>
//!     saves per second from <savers> concurrent tasks; flush-each is Periodic with an explicit
//!     flush after every save, the one-fsync-per-write baseline that group commit beats;
//!     renewed is Periodic after one renewal, which turns on sled's transaction locking for
//!     every later operation of the process, so that its cost can be measured; logouts is
//!     Periodic, each save creating a session and then deleting it, as a sign-in followed by a
//!     logout does, so that the cost of a delete's flush can be measured
//! sled_measure footprint <sessions>
//!     bytes on disk per session and the process's RSS with <sessions> live sessions, without
//!     and with a moka cache holding them all
//! ```
//!
//! Build it in release mode: `cargo run --release -p kv-sessions-tests --bin sled_measure -- …`.

use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use kv_sessions::{
    CachedStore, Changes, Durability, MokaStore, Saved, SessionId, SessionPolicy, SessionStore,
    SledStore,
};

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let runtime = runtime()?;
    match args.as_slice() {
        ["writes", mode, savers, seconds] => {
            let savers = parse(savers)?;
            let seconds = parse(seconds)?;
            runtime.block_on(writes(mode, savers, Duration::from_secs(seconds)))
        }
        ["footprint", sessions] => runtime.block_on(footprint(parse(sessions)?)),
        _ => Err(io::Error::other(
            "usage: sled_measure writes <periodic|immediate|flush-each|renewed|logouts> <savers> \
             <seconds> \
             | sled_measure footprint <sessions>",
        )),
    }
}

/// The runtime an actix worker has: one thread, and tokio's blocking pool beside it.
fn runtime() -> io::Result<actix_rt::Runtime> {
    actix_rt::Runtime::new()
}

fn parse<T: std::str::FromStr>(text: &str) -> io::Result<T> {
    text.parse()
        .map_err(|_| io::Error::other(format!("not a number: {text}")))
}

/// A typical small session: a string and a counter.
fn changes(n: u64) -> Changes {
    let mut changes = Changes::new(SessionPolicy::default());
    changes
        .insert("test_key", "something")
        .and_then(|changes| changes.insert("counter.n", n))
        .expect("a string and a number serialize");
    changes
}

async fn writes(mode: &str, savers: usize, run_for: Duration) -> io::Result<()> {
    let (durability, flush_each) = match mode {
        "periodic" | "renewed" | "logouts" => (Durability::Periodic, false),
        "immediate" => (Durability::Immediate, false),
        "flush-each" => (Durability::Periodic, true),
        other => return Err(io::Error::other(format!("unknown mode {other:?}"))),
    };
    let dir = tempfile::tempdir()?;
    let store = SledStore::builder(dir.path())
        .durability(durability)
        .open()
        .map_err(io::Error::other)?;
    let ids: Rc<Vec<SessionId>> = Rc::new((0..10_000).map(|_| SessionId::generate()).collect());
    if mode == "renewed" {
        let (old, new) = (SessionId::generate(), SessionId::generate());
        store
            .create(&old, &changes(0))
            .await
            .map_err(io::Error::other)?;
        store
            .renew(&old, &new, &changes(0))
            .await
            .map_err(io::Error::other)?;
    }
    let until = Instant::now() + run_for;
    let logouts = mode == "logouts";
    let tasks: Vec<_> = (0..savers)
        .map(|saver| {
            let (store, ids) = (store.clone(), Rc::clone(&ids));
            actix_rt::spawn(async move {
                let mut saved = 0_u64;
                while Instant::now() < until {
                    if logouts {
                        let id = SessionId::generate();
                        store.create(&id, &changes(saved)).await?;
                        store.delete(&id).await?;
                        saved += 1;
                        continue;
                    }
                    let id = ids[(saver + saved as usize * savers) % ids.len()];
                    if store.update(&id, &changes(saved)).await? == Saved::Gone {
                        store.create(&id, &changes(saved)).await?;
                    }
                    if flush_each {
                        store.flush().await?;
                    }
                    saved += 1;
                }
                Ok::<_, kv_sessions::StoreError>(saved)
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task
            .await
            .map_err(io::Error::other)?
            .map_err(io::Error::other)?;
    }
    let per_second = total as f64 / run_for.as_secs_f64();
    println!("{mode} with {savers} savers: {per_second:.0} saves/s");
    Ok(())
}

async fn footprint(sessions: u64) -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = SledStore::open(dir.path()).map_err(io::Error::other)?;
    let baseline = rss_kib()?;
    let ids: Vec<SessionId> = (0..sessions).map(|_| SessionId::generate()).collect();
    for (n, id) in ids.iter().enumerate() {
        store
            .create(id, &changes(n as u64))
            .await
            .map_err(io::Error::other)?;
    }
    store.flush().await.map_err(io::Error::other)?;
    let disk = kv_sessions_tests::size_on_disk(dir.path())?;
    let uncached = rss_kib()?;

    let cached = CachedStore::new(MokaStore::new(sessions), store.clone());
    for id in &ids {
        cached.load(id).await.map_err(io::Error::other)?;
    }
    let with_cache = rss_kib()?;
    println!(
        "{sessions} live sessions: {:.0} bytes on disk per session; RSS {:.1} MiB ({:.1} MiB \
         before the first save); {:.1} MiB with every session in a moka cache",
        disk as f64 / sessions as f64,
        uncached as f64 / 1024.0,
        baseline as f64 / 1024.0,
        with_cache as f64 / 1024.0,
    );
    Ok(())
}

/// The resident set of this process, in KiB.
fn rss_kib() -> io::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| io::Error::other("no VmRSS in /proc/self/status"))
}
