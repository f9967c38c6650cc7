//! The workloads the driver measures.

/// One workload: which route wrk hits, and which sessions its requests carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scenario {
    /// `GET /` with a random one of [`HOT_SESSIONS`] live sessions.
    ReadHit,
    /// `GET /set` with a random one of [`HOT_SESSIONS`] live sessions.
    Update,
    /// `GET /set` without a cookie: every request creates a session.
    Create,
    /// `GET /` with a random one of many sessions on disk, most of them outside the cache.
    ColdRead,
    /// [`Scenario::Update`] on stores that have a save on disk before they answer.
    DurableUpdate,
}

/// How many sessions the hot scenarios spread their requests over.
pub(crate) const HOT_SESSIONS: usize = 10_000;

impl Scenario {
    /// Every scenario, in report order.
    pub(crate) const ALL: [Self; 5] = [
        Self::ReadHit,
        Self::Update,
        Self::Create,
        Self::ColdRead,
        Self::DurableUpdate,
    ];

    /// The name used on the command line and in the reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::ReadHit => "read-hit",
            Self::Update => "update",
            Self::Create => "create",
            Self::ColdRead => "cold-read",
            Self::DurableUpdate => "durable-update",
        }
    }

    /// The scenario called `name`.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|scenario| scenario.name() == name)
    }

    /// The route wrk requests.
    pub(crate) fn path(self) -> &'static str {
        match self {
            Self::ReadHit | Self::ColdRead => "/",
            Self::Update | Self::Create | Self::DurableUpdate => "/set",
        }
    }

    /// Where the requests' cookies come from.
    pub(crate) fn sessions(self) -> Sessions {
        match self {
            Self::ReadHit | Self::Update | Self::DurableUpdate => Sessions::Hot,
            Self::Create => Sessions::None,
            Self::ColdRead => Sessions::Cold,
        }
    }
}

/// The sessions a scenario's requests carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sessions {
    /// No cookie at all.
    None,
    /// [`HOT_SESSIONS`] sessions, created through the server's own `/set` after it starts.
    Hot,
    /// Sessions written straight into the store's files before the rounds start.
    Cold,
}
