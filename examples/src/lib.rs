//! What the example apps share: reading their settings from the environment.

pub mod settings;
