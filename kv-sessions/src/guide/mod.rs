//! The guide: kv-sessions from a first app to production, one chapter at a time.
//!
//! The chapters build on each other; read them in this order.
//!
//! 1. [Quick start](quick_start): an app with a session, and what happens on a request.
//! 2. [Typed keys](typed_keys): `#[derive(SessionKeys)]`, its attributes, and the mistakes it
//!    turns into compile errors.
//! 3. [The untyped `Session`](untyped_session): keys known at run time, the session's life, and
//!    the session in guards and middleware.
//! 4. [Login and logout](login_and_logout): renewing against session fixation, purging, and a
//!    guard extractor for pages that need a signed-in user.
//! 5. [A user's sessions](users_sessions): binding a session to its user, listing their devices,
//!    and signing one or all of them out.
//! 6. [Expiry](expiry): idle windows, fixed ends, "remember me", absolute lifetimes.
//! 7. [Testing your app](testing): in process, over HTTP, and with a session already in place.
//! 8. [Stores and caching](stores_and_caching): sled and its durability, the moka cache, your
//!    own store, and these stores under actix-session.
//! 9. [Running more than one instance](more_than_one_instance): sessions in Redis or
//!    PostgreSQL.
//! 10. [Security defaults, and why](security): what the middleware does without being asked.
//! 11. [Coming from actix-session](coming_from_actix_session): the API side by side, the
//!     defaults that differ and why, and the middleware built outside `HttpServer::new`.
//! 12. [Monitoring](monitoring): the metrics, what to alert on, and the spans around store
//!     operations.
//! 13. [Production checklist](production): the key, TLS to the store, Redis Cluster, timeouts,
//!     pool sizing, the alerts, and sled on a single machine.
//!
//! Every code block in the guide is compiled, and most run, as doctests of this crate: a
//! chapter cannot drift from the API it describes.

/// A chapter: the module whose docs are the markdown file `$file`.
///
/// Chapters name items that only some cargo features build (``[`SledStore`]``, ...) as
/// reference links, whose targets `gated_links!` appends to every chapter.
macro_rules! chapter {
    ($name:ident, $file:literal) => {
        gated_links! {
            $name, $file;
            "sled": "SledStore" => "struct.SledStore.html",
            "sled": "SledStore::flush" => "struct.SledStore.html#method.flush",
            "sled": "SledStoreBuilder::durability" => "struct.SledStoreBuilder.html#method.durability",
            "sled": "SledStoreBuilder::flush_every" => "struct.SledStoreBuilder.html#method.flush_every",
            "sled": "Durability" => "enum.Durability.html",
            "sled": "Durability::Periodic" => "enum.Durability.html#variant.Periodic",
            "sled": "Durability::Immediate" => "enum.Durability.html#variant.Immediate",
            "moka": "MokaStore" => "struct.MokaStore.html",
            "moka": "MokaStore::new" => "struct.MokaStore.html#method.new",
            "redis": "RedisStore" => "struct.RedisStore.html",
            "redis": "RedisStore#tls" => "struct.RedisStore.html#tls",
            "redis": "RedisStore#redis-cluster" => "struct.RedisStore.html#redis-cluster",
            "redis": "RedisStore#two-modes-broadcast-and-targeted" => "struct.RedisStore.html#two-modes-broadcast-and-targeted",
            "redis": "RedisStore::cluster_builder" => "struct.RedisStore.html#method.cluster_builder",
            "redis": "RedisStore::builder_from_client" => "struct.RedisStore.html#method.builder_from_client",
            "redis": "RedisStore::builder_from_connection_manager" => "struct.RedisStore.html#method.builder_from_connection_manager",
            "redis": "RedisStoreBuilder" => "struct.RedisStoreBuilder.html",
            "redis": "InvalidationMode::Targeted" => "enum.InvalidationMode.html#variant.Targeted",
            "redis-tls": "RedisStoreBuilder::tls_ca_certificates" => "struct.RedisStoreBuilder.html#method.tls_ca_certificates",
            "postgres": "PostgresStore" => "struct.PostgresStore.html",
            "postgres": "PostgresStore#tls" => "struct.PostgresStore.html#tls",
            "postgres": "PostgresStore::builder_from_pool" => "struct.PostgresStore.html#method.builder_from_pool",
            "postgres": "PostgresStore::builder_from_config" => "struct.PostgresStore.html#method.builder_from_config",
            "postgres": "PostgresStoreBuilder" => "struct.PostgresStoreBuilder.html",
            "postgres-tls": "PostgresStoreBuilder::tls_ca_certificates_file" => "struct.PostgresStoreBuilder.html#method.tls_ca_certificates_file",
            "test-util": "test_util::CookieSealer" => "test_util/struct.CookieSealer.html",
            "actix-session": "actix_session" => "actix_session/index.html",
            "actix-session": "actix_session::ActixSessionStore" => "actix_session/struct.ActixSessionStore.html",
        }
    };
}

/// The module `$name` with the chapter `$file` as its docs, followed by a reference link for
/// each `feature: path => page`: from ``[`path`]`` to `crate::path` where `feature` is on, and
/// to `page` of the published docs where it is off, so that no build of the docs has a broken
/// link.
macro_rules! gated_links {
    ($name:ident, $file:literal; $($feature:literal: $path:literal => $page:literal,)*) => {
        pub mod $name {
            #![doc = include_str!($file)]
            $(
                #![cfg_attr(feature = $feature, doc = concat!("[`", $path, "`]: crate::", $path))]
                #![cfg_attr(
                    not(feature = $feature),
                    doc = concat!(
                        "[`", $path, "`]: https://docs.rs/kv-sessions/latest/kv_sessions/", $page
                    )
                )]
            )*
        }
    };
}

chapter!(quick_start, "quick_start.md");
chapter!(typed_keys, "typed_keys.md");
chapter!(untyped_session, "untyped_session.md");
chapter!(login_and_logout, "login_and_logout.md");
chapter!(users_sessions, "users_sessions.md");
chapter!(expiry, "expiry.md");
chapter!(testing, "testing.md");
chapter!(stores_and_caching, "stores_and_caching.md");
chapter!(more_than_one_instance, "more_than_one_instance.md");
chapter!(security, "security.md");
chapter!(coming_from_actix_session, "coming_from_actix_session.md");
chapter!(monitoring, "monitoring.md");
chapter!(production, "production.md");
