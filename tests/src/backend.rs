//! The backends the suites run on: the enum that the list in `lib.rs` generates, and how each
//! backend opens its stack.

use std::path::Path;

use actix_web::cookie::Key;
use actix_web::web::ServiceConfig;
use kv_sessions::{MokaStore, SessionMiddlewareBuilder, StoreError};

use crate::any_store::AnyStore;
use crate::engine::{self, Engine, Reach};
use crate::harness::Harness;
use crate::probe::ProbeStore;
use crate::shared;

/// What a backend stacks, as its line in the list says.
#[derive(Debug, Clone, Copy)]
enum Layout {
    /// The engine's store alone.
    Alone(&'static Engine),
    /// A moka cache in front of the engine's store.
    Cached(&'static Engine),
}

impl Layout {
    fn engine(self) -> &'static Engine {
        match self {
            Self::Alone(engine) | Self::Cached(engine) => engine,
        }
    }

    fn cache(self) -> Option<MokaStore> {
        matches!(self, Self::Cached(_)).then(engine::cache)
    }
}

/// Defines [`Backend`] from the list of backends.
macro_rules! define_backends {
    ($(
        $(#[$doc:meta])*
        $module:ident => $variant:ident = $layout:ident($engine:ident) $(if $variable:ident)?,
    )*) => {
        /// A store configuration under test: one line of the backend list in this crate's
        /// `lib.rs`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Backend {
            $($(#[$doc])* $variant,)*
        }

        impl Backend {
            fn layout(self) -> Layout {
                match self {
                    $(Self::$variant => Layout::$layout(&engine::$engine),)*
                }
            }

            /// The environment variable that holds the URL of this backend's server, for a
            /// backend on a shared server.
            fn url_variable(self) -> Option<&'static str> {
                match self {
                    $(Self::$variant => define_backends!(@variable $($variable)?),)*
                }
            }
        }
    };
    (@variable) => { None };
    (@variable $variable:ident) => { Some(stringify!($variable)) };
}

crate::__every_backend!([define_backends]);

impl Backend {
    /// The URL of this backend's server; it fails the test where the variable is unset (see
    /// [`shared::required_url`]).
    pub fn server_url(self) -> String {
        let variable = self
            .url_variable()
            .unwrap_or_else(|| panic!("{self:?} needs no server"));
        shared::required_url(variable)
    }

    /// Whether this backend puts a cache in front of its engine's store.
    pub fn is_cached(self) -> bool {
        matches!(self.layout(), Layout::Cached(_))
    }

    /// The engine beneath any cache.
    pub(crate) fn engine(self) -> &'static Engine {
        self.layout().engine()
    }

    /// Opens this backend's store; an embedded store lives in `dir`.
    pub async fn open(self, dir: &Path) -> AnyStore {
        let layout = self.layout();
        let opened = match layout.engine() {
            Engine::Embedded(open) => open(dir),
            Engine::Server(connect) => connect(Reach::direct(self.server_url()))
                .await
                .expect("connect to the server"),
        };
        AnyStore::stacked(opened, layout.cache())
    }

    /// Opens this backend's store on its server as `reach` says, for a test that puts a proxy
    /// between the two; an error where the store cannot start.
    pub async fn connect(self, reach: Reach) -> Result<AnyStore, StoreError> {
        let layout = self.layout();
        let Engine::Server(connect) = layout.engine() else {
            panic!("{self:?} has no server to connect to");
        };
        Ok(AnyStore::stacked(connect(reach).await?, layout.cache()))
    }

    /// Starts the test app on this backend with default settings.
    pub async fn start(self) -> Harness {
        self.start_with(|builder| builder).await
    }

    /// Starts the test app on this backend, with the middleware configured by `configure`.
    pub async fn start_with(
        self,
        configure: impl FnOnce(
            SessionMiddlewareBuilder<ProbeStore<AnyStore>>,
        ) -> SessionMiddlewareBuilder<ProbeStore<AnyStore>>,
    ) -> Harness {
        self.start_app(crate::app::routes, configure).await
    }

    /// Starts an app of the test's own on this backend: `routes` inside the middleware that
    /// `configure` sets up.
    pub async fn start_app(
        self,
        routes: fn(&mut ServiceConfig),
        configure: impl FnOnce(
            SessionMiddlewareBuilder<ProbeStore<AnyStore>>,
        ) -> SessionMiddlewareBuilder<ProbeStore<AnyStore>>,
    ) -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = self.open(dir.path()).await;
        Harness::start_app(dir, store, Key::generate(), routes, configure)
    }
}
