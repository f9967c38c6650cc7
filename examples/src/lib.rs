//! What the example apps share: reading their settings from the environment, and the session
//! store of the `custom_store` example, kept here so that its tests can reach it.

pub mod custom_store;
pub mod settings;
