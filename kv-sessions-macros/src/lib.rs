//! The `#[derive(SessionKeys)]` macro of [kv-sessions](https://docs.rs/kv-sessions).
//!
//! This crate is an implementation detail of kv-sessions and is pinned to the same version. Use
//! the derive through `kv_sessions::SessionKeys`; the generated code names items of
//! `kv_sessions`, so it does not work without that crate.
//!
//! The macro runs in three steps, one module each: `ast` builds a small model of the input (with
//! `attr` reading the `#[session(...)]` attributes), `valid` checks it, and `expand` writes the
//! impls. Mistakes become `compile_error!`s that point at the offending tokens, and all of them
//! are reported in one go. Where the impls cannot be written, `fallback` writes stand-ins beside
//! the errors, so that code using the type reports nothing more.

mod ast;
mod attr;
mod errors;
mod expand;
mod fallback;
mod valid;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Derives `kv_sessions::SessionKeys` and `actix_web::FromRequest` for a struct of
/// `SessionKey<T>` fields.
///
/// `#[session(prefix = "...")]` on the struct stores every key as `"<prefix>.<name>"`;
/// `#[session(rename = "...")]` on a field stores it under another name than the field's.
/// See the kv-sessions documentation for examples.
#[proc_macro_derive(SessionKeys, attributes(session))]
pub fn derive_session_keys(input: TokenStream) -> TokenStream {
    expand::derive(&parse_macro_input!(input as DeriveInput)).into()
}
