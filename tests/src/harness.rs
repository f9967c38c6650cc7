//! A running test server over a store under test.

use std::sync::Arc;

use actix_test::TestServer;
use actix_web::App;
use actix_web::cookie::Key;
use actix_web::web::{self, ServiceConfig};
use kv_sessions::{SessionMiddleware, SessionMiddlewareBuilder, UserSessions};
use tempfile::TempDir;

use crate::any_store::{AnyStore, ScratchGuard};
use crate::browser::Browser;
use crate::gate::Gate;
use crate::probe::{Probe, ProbeStore};

/// A running test server and what a test needs to look behind it.
pub struct Harness {
    /// The server.
    pub server: TestServer,
    /// Counts the calls that reach the store.
    pub probe: Arc<Probe>,
    /// The gate that the app's `/hold` route waits at.
    pub gate: Gate,
    /// The key that signs cookies.
    pub key: Key,
    /// The middleware's handle on users' sessions, as an app uses it outside a request.
    pub sessions: UserSessions,
    /// The store under the probe.
    pub store: AnyStore,
    /// Where the sled database lives; removed when the harness is dropped.
    pub dir: TempDir,
    /// Empties the store's space on a shared server when the harness is dropped.
    scratch: ScratchGuard,
}

impl Harness {
    /// Starts the test app over `store`, signing with `key`. The middleware is built once, outside
    /// the app factory, as the crate docs tell users to.
    pub fn start(
        dir: TempDir,
        store: AnyStore,
        key: Key,
        configure: impl FnOnce(
            SessionMiddlewareBuilder<ProbeStore<AnyStore>>,
        ) -> SessionMiddlewareBuilder<ProbeStore<AnyStore>>,
    ) -> Self {
        Self::start_app(dir, store, key, crate::app::routes, configure)
    }

    /// Starts an app of the test's own, whose routes `routes` registers inside the session
    /// middleware, as [`start`](Self::start) starts the test app.
    pub fn start_app(
        dir: TempDir,
        store: AnyStore,
        key: Key,
        routes: fn(&mut ServiceConfig),
        configure: impl FnOnce(
            SessionMiddlewareBuilder<ProbeStore<AnyStore>>,
        ) -> SessionMiddlewareBuilder<ProbeStore<AnyStore>>,
    ) -> Self {
        let probe = Arc::new(Probe::default());
        let probed = ProbeStore::new(store.clone(), Arc::clone(&probe));
        let builder = SessionMiddleware::builder(probed, key.clone()).cookie_name("id");
        let middleware = configure(builder).build();
        let sessions = middleware.user_sessions();
        let config = actix_test::config().workers(2).disable_redirects();
        let gate = Gate::default();
        let app_gate = web::Data::new(gate.clone());
        let server = actix_test::start_with(config, move || {
            App::new()
                .app_data(app_gate.clone())
                .wrap(middleware.clone())
                .configure(routes)
        });
        Self {
            server,
            probe,
            gate,
            key,
            sessions,
            scratch: store.scratch_guard(),
            store,
            dir,
        }
    }

    /// A browser with no cookies, talking to this server, for the default cookie name `id`.
    pub fn browser(&self) -> Browser<'_> {
        Browser::new(&self.server, "id")
    }

    /// A browser for a server whose cookie name was changed to `name`.
    pub fn browser_for(&self, name: &str) -> Browser<'_> {
        Browser::new(&self.server, name)
    }

    /// Stops the server and hands back the pieces to start another over the same store, whose
    /// scratch space the next harness then empties.
    pub async fn stop(mut self) -> (TempDir, AnyStore, Key) {
        self.server.stop().await;
        self.scratch.disarm();
        (self.dir, self.store, self.key)
    }
}
