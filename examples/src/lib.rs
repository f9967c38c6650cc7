//! What the example apps share: reading their settings from the environment, and the session
//! store of the `custom_store` example, kept here so that its tests can reach it.

pub mod custom_store;
pub mod settings;

/// The guide chapter "Testing your app" of the library's docs, compiled and run as doctests of
/// this package, whose dev-dependencies (`actix-test`, the `test-util` feature) its recipes use.
#[cfg(doctest)]
#[doc = include_str!("../../kv-sessions/src/guide/testing.md")]
pub struct TestingGuide;
