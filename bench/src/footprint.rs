//! What a store costs besides time per request: peak memory with many live sessions, bytes on
//! disk per session, and the time to open a store that already holds them.
//!
//! Each measurement runs in a process of its own (the `footprint` subcommand), so that its peak
//! resident set (`VmHWM`) belongs to that store alone.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use kv_sessions::{CachedStore, MokaStore, SessionStore, SledStore};

use crate::seed::fill_kv;
use crate::server::CACHED_SESSIONS;

/// A store whose footprint is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// Without the peers, only kv-sessions' stores are left, and they share their prefix.
#[cfg_attr(not(feature = "peers"), expect(clippy::enum_variant_names))]
pub(crate) enum FootprintStore {
    KvMoka,
    KvSled,
    KvMokaSled,
    #[cfg(feature = "peers")]
    TowerMemory,
    #[cfg(feature = "peers")]
    TowerSqlite,
    #[cfg(feature = "peers")]
    TowerMokaSqlite,
}

impl FootprintStore {
    /// Every store, in report order.
    pub(crate) const ALL: &[Self] = &[
        Self::KvMoka,
        Self::KvSled,
        Self::KvMokaSled,
        #[cfg(feature = "peers")]
        Self::TowerMemory,
        #[cfg(feature = "peers")]
        Self::TowerSqlite,
        #[cfg(feature = "peers")]
        Self::TowerMokaSqlite,
    ];

    /// The name on the command line.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::KvMoka => "kv-moka",
            Self::KvSled => "kv-sled",
            Self::KvMokaSled => "kv-moka-sled",
            #[cfg(feature = "peers")]
            Self::TowerMemory => "tower-memory",
            #[cfg(feature = "peers")]
            Self::TowerSqlite => "tower-sqlite",
            #[cfg(feature = "peers")]
            Self::TowerMokaSqlite => "tower-moka-sqlite",
        }
    }

    /// The name in the reports.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::KvMoka => "kv-sessions MokaStore (every session cached)",
            Self::KvSled => "kv-sessions SledStore",
            Self::KvMokaSled => "kv-sessions moka (10,000) over sled",
            #[cfg(feature = "peers")]
            Self::TowerMemory => "tower-sessions MemoryStore",
            #[cfg(feature = "peers")]
            Self::TowerSqlite => "tower-sessions SqliteStore",
            #[cfg(feature = "peers")]
            Self::TowerMokaSqlite => "tower-sessions moka (10,000) over SQLite",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|store| store.name() == name)
    }
}

/// One store's footprint with a given number of sessions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Footprint {
    /// Resident memory with the store open and empty.
    pub(crate) baseline_kib: u64,
    /// Peak resident memory once every session is saved.
    pub(crate) peak_kib: u64,
    /// Space the store's files take, for stores with files.
    pub(crate) disk_bytes: Option<u64>,
    /// The time to open the full store again and load one session, for stores with files.
    pub(crate) open: Option<Duration>,
}

/// The prefix of the line a `footprint` process prints for the driver.
const LINE_PREFIX: &str = "footprint:";

impl Footprint {
    /// The line the `footprint` subcommand prints.
    pub(crate) fn to_line(self) -> String {
        let disk = self.disk_bytes.map_or(-1, |bytes| bytes as i64);
        let open = self.open.map_or(-1, |open| open.as_micros() as i64);
        format!(
            "{LINE_PREFIX} baseline_kib={} peak_kib={} disk_bytes={disk} open_us={open}",
            self.baseline_kib, self.peak_kib
        )
    }

    /// Reads the line back, from a process's whole output.
    pub(crate) fn from_output(output: &str) -> Option<Self> {
        let line = output
            .lines()
            .find_map(|line| line.strip_prefix(LINE_PREFIX))?;
        let mut fields = [0i64; 4];
        for (slot, field) in fields.iter_mut().zip(line.split_whitespace()) {
            *slot = field.split_once('=')?.1.parse().ok()?;
        }
        let [baseline, peak, disk, open] = fields;
        Some(Self {
            baseline_kib: u64::try_from(baseline).ok()?,
            peak_kib: u64::try_from(peak).ok()?,
            disk_bytes: u64::try_from(disk).ok(),
            open: u64::try_from(open).ok().map(Duration::from_micros),
        })
    }

    /// Memory per session beyond the empty store, in bytes.
    pub(crate) fn memory_per_session(&self, sessions: usize) -> f64 {
        self.peak_kib.saturating_sub(self.baseline_kib) as f64 * 1024.0 / sessions as f64
    }
}

/// Fills a new `store` in `dir` with `sessions` sessions and measures it.
pub(crate) fn measure(store: FootprintStore, sessions: usize, dir: &Path) -> io::Result<Footprint> {
    fs::create_dir_all(dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match store {
            FootprintStore::KvMoka => kv_moka(sessions).await,
            FootprintStore::KvSled => kv_sled(dir, sessions, false).await,
            FootprintStore::KvMokaSled => kv_sled(dir, sessions, true).await,
            #[cfg(feature = "peers")]
            FootprintStore::TowerMemory => tower::memory(sessions).await,
            #[cfg(feature = "peers")]
            FootprintStore::TowerSqlite => tower::sqlite(dir, sessions, false).await,
            #[cfg(feature = "peers")]
            FootprintStore::TowerMokaSqlite => tower::sqlite(dir, sessions, true).await,
        }
    })
}

async fn kv_moka(sessions: usize) -> io::Result<Footprint> {
    let store = MokaStore::new(sessions as u64);
    let baseline_kib = resident_kib("VmRSS")?;
    fill_kv(&store, sessions, |_| ()).await?;
    Ok(Footprint {
        baseline_kib,
        peak_kib: resident_kib("VmHWM")?,
        disk_bytes: None,
        open: None,
    })
}

async fn kv_sled(dir: &Path, sessions: usize, cache: bool) -> io::Result<Footprint> {
    let store = SledStore::open(dir).map_err(io::Error::other)?;
    let baseline_kib = resident_kib("VmRSS")?;
    let probe = fill_kv(&store, 1, |id| id).await?;
    let rest = sessions.saturating_sub(1);
    if cache {
        let cached = CachedStore::new(MokaStore::new(CACHED_SESSIONS), store.clone());
        fill_kv(&cached, rest, |_| ()).await?;
    } else {
        fill_kv(&store, rest, |_| ()).await?;
    }
    store.flush().await.map_err(io::Error::other)?;
    let peak_kib = resident_kib("VmHWM")?;
    drop(store);
    let disk_bytes = disk_bytes(dir)?;
    let started = Instant::now();
    let reopened = SledStore::open(dir).map_err(io::Error::other)?;
    let loaded = reopened.load(&probe[0]).await.map_err(io::Error::other)?;
    let open = started.elapsed();
    if loaded.is_none() {
        return Err(io::Error::other("the reopened sled store lost a session"));
    }
    Ok(Footprint {
        baseline_kib,
        peak_kib,
        disk_bytes: Some(disk_bytes),
        open: Some(open),
    })
}

#[cfg(feature = "peers")]
mod tower {
    use std::io;
    use std::path::Path;
    use std::time::Instant;

    use tower_sessions::{CachingSessionStore, MemoryStore, SessionStore};
    use tower_sessions_moka_store::MokaStore;

    use super::{Footprint, disk_bytes, resident_kib};
    use crate::seed::tower::fill;
    use crate::server::CACHED_SESSIONS;
    use crate::server::tower::{Sync, open_sqlite};

    pub(super) async fn memory(sessions: usize) -> io::Result<Footprint> {
        let store = MemoryStore::default();
        let baseline_kib = resident_kib("VmRSS")?;
        fill(&store, sessions, |_| ()).await?;
        Ok(Footprint {
            baseline_kib,
            peak_kib: resident_kib("VmHWM")?,
            disk_bytes: None,
            open: None,
        })
    }

    pub(super) async fn sqlite(dir: &Path, sessions: usize, cache: bool) -> io::Result<Footprint> {
        let store = open_sqlite(dir, Sync::Off).await?;
        let baseline_kib = resident_kib("VmRSS")?;
        let probe = fill(&store, 1, |id| id).await?;
        let rest = sessions.saturating_sub(1);
        if cache {
            let moka = MokaStore::new(Some(CACHED_SESSIONS));
            fill(&CachingSessionStore::new(moka, store.clone()), rest, |_| ()).await?;
        } else {
            fill(&store, rest, |_| ()).await?;
        }
        let peak_kib = resident_kib("VmHWM")?;
        let disk_bytes = disk_bytes(dir)?;
        let started = Instant::now();
        let reopened = open_sqlite(dir, Sync::Default).await?;
        let loaded = reopened.load(&probe[0]).await.map_err(io::Error::other)?;
        let open = started.elapsed();
        if loaded.is_none() {
            return Err(io::Error::other("the reopened SQLite store lost a session"));
        }
        Ok(Footprint {
            baseline_kib,
            peak_kib,
            disk_bytes: Some(disk_bytes),
            open: Some(open),
        })
    }
}

/// A memory figure of this process from `/proc/self/status`, in KiB.
fn resident_kib(field: &str) -> io::Result<u64> {
    let status = fs::read_to_string("/proc/self/status")?;
    status_field_kib(&status, field)
        .ok_or_else(|| io::Error::other(format!("/proc/self/status has no {field}")))
}

/// A `Vm…: <n> kB` field of a `/proc/<pid>/status` text.
pub(crate) fn status_field_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

/// The space the files under `dir` take on disk.
fn disk_bytes(dir: &Path) -> io::Result<u64> {
    let mut total = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let metadata = entry.metadata()?;
        total += if metadata.is_dir() {
            disk_bytes(&entry.path())?
        } else {
            metadata.blocks() * 512
        };
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_footprint_line_reads_back() {
        let footprint = Footprint {
            baseline_kib: 10,
            peak_kib: 20,
            disk_bytes: None,
            open: Some(Duration::from_micros(1500)),
        };
        let output = format!("noise\n{}\n", footprint.to_line());
        assert_eq!(Footprint::from_output(&output), Some(footprint));
    }

    #[test]
    fn status_fields_are_read_in_kib() {
        let status = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t1024 kB\n";
        assert_eq!(status_field_kib(status, "VmHWM"), Some(2048));
        assert_eq!(status_field_kib(status, "VmRSS"), Some(1024));
        assert_eq!(status_field_kib(status, "VmSwap"), None);
    }
}
