//! The servers under test, in one table.
//!
//! Adding a variant is one entry in [`VARIANTS`]. A kv-sessions variant names its store, and a
//! sled store names the function that opens it, so a store setting is a variant too:
//! `kv-moka-sled-durable` is the default set-up with [`Durability::Immediate`], for the
//! durable-update scenario. `kv-redis` and `kv-postgres` run the same server code on a shared
//! server, each sample in a [`Space`](crate::space::Space) of its own there; their `-quiet`
//! twins turn the store's invalidation feed off, to show what announcing each change costs, and
//! `kv-postgres-durable` waits for each write's WAL flush, as tower-sessions' PostgreSQL store
//! does, where kv-sessions' store commits asynchronously by default.

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

/// The store under a kv-sessions variant.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KvStore {
    /// A `SledStore` in the server's directory, opened by the function named.
    Sled(OpenSled),
    /// A `RedisStore` with its default settings, under the sample's own key prefix; with its
    /// invalidation feed turned off where `feed` is not set.
    Redis { feed: bool },
    /// A `PostgresStore` with its default settings, in the sample's own table; with its
    /// invalidation feed turned off where `feed` is not set, and waiting for each write's WAL
    /// flush where `synchronous` is set.
    Postgres { feed: bool, synchronous: bool },
}

/// A server that sessions live on, shared by every instance of an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Engine {
    Redis,
    Postgres,
}

impl Engine {
    /// Every engine, in report order.
    pub(crate) const ALL: [Self; 2] = [Self::Redis, Self::Postgres];

    /// The name in the reports.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Redis => "Redis",
            Self::Postgres => "PostgreSQL",
        }
    }
}

/// The code a variant's server runs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stack {
    /// actix-web without session middleware.
    Bare,
    /// kv-sessions on `store`, with a moka cache in front where `cache` is set.
    Kv { store: KvStore, cache: bool },
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
    /// tower-sessions on axum with Redis through fred.
    #[cfg(feature = "peers")]
    TowerRedis,
    /// tower-sessions on axum with PostgreSQL through sqlx.
    #[cfg(feature = "peers")]
    TowerPostgres,
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
            Stack::Kv {
                store: KvStore::Sled(_),
                ..
            } => Some(ColdStore::Sled),
            #[cfg(feature = "peers")]
            Stack::TowerSqlite { .. } => Some(ColdStore::Sqlite),
            _ => None,
        }
    }

    /// The shared server its sessions live on, if any.
    pub(crate) fn engine(&self) -> Option<Engine> {
        match self.stack {
            Stack::Kv {
                store: KvStore::Redis { .. },
                ..
            } => Some(Engine::Redis),
            Stack::Kv {
                store: KvStore::Postgres { .. },
                ..
            } => Some(Engine::Postgres),
            #[cfg(feature = "peers")]
            Stack::ActixRedis | Stack::TowerRedis => Some(Engine::Redis),
            #[cfg(feature = "peers")]
            Stack::TowerPostgres => Some(Engine::Postgres),
            _ => None,
        }
    }

    /// The variant called `name`.
    pub(crate) fn find(name: &str) -> Option<&'static Self> {
        VARIANTS.iter().find(|variant| variant.name == name)
    }
}

/// The hot scenarios, which every session library takes part in. The shared stores take part
/// in these alone: cold-read would need a million sessions written to the server first.
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
            store: KvStore::Sled(sled_default),
            cache: true,
        },
        ON_DISK,
    ),
    Variant::new(
        "kv-moka-sled-durable",
        "kv-sessions, moka over sled, durable",
        Side::KvSessions,
        Stack::Kv {
            store: KvStore::Sled(sled_durable),
            cache: true,
        },
        &[Scenario::DurableUpdate],
    ),
    Variant::new(
        "kv-sled",
        "kv-sessions, sled",
        Side::KvSessions,
        Stack::Kv {
            store: KvStore::Sled(sled_default),
            cache: false,
        },
        ON_DISK,
    ),
    Variant::new(
        "kv-moka-redis",
        "kv-sessions, moka over Redis",
        Side::KvSessions,
        Stack::Kv {
            store: KvStore::Redis { feed: true },
            cache: true,
        },
        HOT,
    ),
    Variant::new(
        "kv-redis",
        "kv-sessions, Redis",
        Side::KvSessions,
        Stack::Kv {
            store: KvStore::Redis { feed: true },
            cache: false,
        },
        HOT,
    ),
    Variant::new(
        "kv-redis-quiet",
        "kv-sessions, Redis, no invalidation feed",
        Side::KvSessions,
        Stack::Kv {
            store: KvStore::Redis { feed: false },
            cache: false,
        },
        HOT,
    ),
    Variant::new(
        "kv-moka-postgres",
        "kv-sessions, moka over PostgreSQL",
        Side::KvSessions,
        Stack::Kv {
            store: KvStore::Postgres {
                feed: true,
                synchronous: false,
            },
            cache: true,
        },
        HOT,
    ),
    Variant::new(
        "kv-postgres",
        "kv-sessions, PostgreSQL",
        Side::KvSessions,
        Stack::Kv {
            store: KvStore::Postgres {
                feed: true,
                synchronous: false,
            },
            cache: false,
        },
        HOT,
    ),
    Variant::new(
        "kv-postgres-durable",
        "kv-sessions, PostgreSQL, synchronous commits",
        Side::KvSessions,
        Stack::Kv {
            store: KvStore::Postgres {
                feed: true,
                synchronous: true,
            },
            cache: false,
        },
        HOT,
    ),
    Variant::new(
        "kv-postgres-quiet",
        "kv-sessions, PostgreSQL, no invalidation feed",
        Side::KvSessions,
        Stack::Kv {
            store: KvStore::Postgres {
                feed: false,
                synchronous: false,
            },
            cache: false,
        },
        HOT,
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
    #[cfg(feature = "peers")]
    Variant::new(
        "tower-redis",
        "tower-sessions, Redis",
        Side::Peer,
        Stack::TowerRedis,
        HOT,
    ),
    #[cfg(feature = "peers")]
    Variant::new(
        "tower-postgres",
        "tower-sessions, PostgreSQL",
        Side::Peer,
        Stack::TowerPostgres,
        HOT,
    ),
];
