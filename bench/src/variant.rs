//! The servers under test, in one table.
//!
//! Adding a variant is one entry in [`VARIANTS`]. A kv-sessions variant names the function that
//! opens its sled store, so a store setting is a variant too: `kv-moka-sled-durable` is the
//! default set-up with [`Durability::Immediate`], for the durable-update scenario. The Redis and
//! PostgreSQL stores will each be one more entry.

use std::path::Path;

use kv_sessions::{Durability, SledStore, StoreError};

use crate::scenario::Scenario;

/// Which side of the comparison a variant is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// Bare actix-web: every ratio is against it.
    Baseline,
    /// The library under test.
    KvSessions,
    /// Another session library.
    Peer,
}

/// Opens the sled store of a kv-sessions variant in a directory.
pub(crate) type OpenSled = fn(&Path) -> Result<SledStore, StoreError>;

/// The code a variant's server runs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stack {
    /// actix-web without session middleware.
    Bare,
    /// kv-sessions on sled, with a moka cache in front where `cache` is set.
    Kv { cache: bool, open: OpenSled },
    /// actix-session with its cookie store.
    #[cfg(feature = "peers")]
    ActixCookie,
    /// actix-session on Redis at 127.0.0.1:6379.
    #[cfg(feature = "peers")]
    ActixRedis,
    /// tower-sessions on axum with its in-memory store.
    #[cfg(feature = "peers")]
    TowerMemory,
    /// tower-sessions on axum with SQLite through sqlx, with a moka cache in front where
    /// `cache` is set.
    #[cfg(feature = "peers")]
    TowerSqlite { cache: bool },
}

/// Which kind of pre-filled store a variant reads in the cold-read scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ColdStore {
    /// A kv-sessions sled directory.
    Sled,
    /// A tower-sessions SQLite file.
    #[cfg(feature = "peers")]
    Sqlite,
}

impl ColdStore {
    /// The name used for the seed subcommand and the seed's directory.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Sled => "sled",
            #[cfg(feature = "peers")]
            Self::Sqlite => "sqlite",
        }
    }

    /// The store called `name`.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name {
            "sled" => Some(Self::Sled),
            #[cfg(feature = "peers")]
            "sqlite" => Some(Self::Sqlite),
            _ => None,
        }
    }
}

/// One server under test.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Variant {
    /// The name on the command line (`--only`) and in `samples.csv`.
    pub(crate) name: &'static str,
    /// The name in the reports.
    pub(crate) label: &'static str,
    pub(crate) side: Side,
    pub(crate) stack: Stack,
    /// The scenarios it takes part in.
    pub(crate) scenarios: &'static [Scenario],
}

impl Variant {
    const fn new(
        name: &'static str,
        label: &'static str,
        side: Side,
        stack: Stack,
        scenarios: &'static [Scenario],
    ) -> Self {
        Self {
            name,
            label,
            side,
            stack,
            scenarios,
        }
    }

    /// Whether the variant takes part in `scenario`.
    pub(crate) fn runs(&self, scenario: Scenario) -> bool {
        self.scenarios.contains(&scenario)
    }

    /// The pre-filled store it reads in the cold-read scenario, if it keeps sessions on disk.
    pub(crate) fn cold_store(&self) -> Option<ColdStore> {
        match self.stack {
            Stack::Kv { .. } => Some(ColdStore::Sled),
            #[cfg(feature = "peers")]
            Stack::TowerSqlite { .. } => Some(ColdStore::Sqlite),
            _ => None,
        }
    }

    /// The variant called `name`.
    pub(crate) fn find(name: &str) -> Option<&'static Self> {
        VARIANTS.iter().find(|variant| variant.name == name)
    }
}

/// The hot scenarios, which every session library takes part in.
#[cfg(feature = "peers")]
const HOT: &[Scenario] = &[Scenario::ReadHit, Scenario::Update, Scenario::Create];
/// The hot scenarios and cold-read, for stores that keep sessions on disk.
const ON_DISK: &[Scenario] = &[
    Scenario::ReadHit,
    Scenario::Update,
    Scenario::Create,
    Scenario::ColdRead,
];
/// Stores whose default already puts every save on disk before answering.
#[cfg(feature = "peers")]
const DURABLE_BY_DEFAULT: &[Scenario] = &[
    Scenario::ReadHit,
    Scenario::Update,
    Scenario::Create,
    Scenario::ColdRead,
    Scenario::DurableUpdate,
];

fn sled_default(dir: &Path) -> Result<SledStore, StoreError> {
    SledStore::open(dir)
}

fn sled_durable(dir: &Path) -> Result<SledStore, StoreError> {
    SledStore::builder(dir)
        .durability(Durability::Immediate)
        .open()
}

/// Every variant, in report order.
pub(crate) const VARIANTS: &[Variant] = &[
    Variant::new(
        "bare",
        "actix-web, no sessions",
        Side::Baseline,
        Stack::Bare,
        &Scenario::ALL,
    ),
    Variant::new(
        "kv-moka-sled",
        "kv-sessions, moka over sled",
        Side::KvSessions,
        Stack::Kv {
            cache: true,
            open: sled_default,
        },
        ON_DISK,
    ),
    Variant::new(
        "kv-moka-sled-durable",
        "kv-sessions, moka over sled, durable",
        Side::KvSessions,
        Stack::Kv {
            cache: true,
            open: sled_durable,
        },
        &[Scenario::DurableUpdate],
    ),
    Variant::new(
        "kv-sled",
        "kv-sessions, sled",
        Side::KvSessions,
        Stack::Kv {
            cache: false,
            open: sled_default,
        },
        ON_DISK,
    ),
    #[cfg(feature = "peers")]
    Variant::new(
        "actix-cookie",
        "actix-session, cookie",
        Side::Peer,
        Stack::ActixCookie,
        HOT,
    ),
    #[cfg(feature = "peers")]
    Variant::new(
        "actix-redis",
        "actix-session, Redis",
        Side::Peer,
        Stack::ActixRedis,
        HOT,
    ),
    #[cfg(feature = "peers")]
    Variant::new(
        "tower-memory",
        "tower-sessions, memory",
        Side::Peer,
        Stack::TowerMemory,
        HOT,
    ),
    #[cfg(feature = "peers")]
    Variant::new(
        "tower-moka-sqlite",
        "tower-sessions, moka over SQLite",
        Side::Peer,
        Stack::TowerSqlite { cache: true },
        ON_DISK,
    ),
    #[cfg(feature = "peers")]
    Variant::new(
        "tower-sqlite",
        "tower-sessions, SQLite",
        Side::Peer,
        Stack::TowerSqlite { cache: false },
        DURABLE_BY_DEFAULT,
    ),
];
