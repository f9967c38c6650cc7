//! The expansion names everything by absolute path, so it compiles whatever the user's crate
//! defines or leaves out, even without the prelude.
#![deny(warnings)]
#![no_implicit_prelude]
#![allow(dead_code, non_camel_case_types, non_upper_case_globals)]

use ::kv_sessions::{SessionKey, SessionKeys};

mod core {}
mod std {}
mod kv_sessions {}
mod serde {}
mod actix_web {}
mod __private {}

struct str;
struct Option;
struct Some;
struct None;
type Result = ();
struct Ok;
struct Err;
struct String;
struct Vec;
trait Sized {}
trait FromRequest {}
trait Future {}
struct Session;
struct SessionError;
struct HttpRequest;
struct Payload;
struct KeysFuture;
fn key() {}
fn extract_keys() {}
fn stored_in_a_session() {}
struct T;
trait SessionValue {}
const session: () = ();
const req: () = ();
const _payload: () = ();
const KEYS: () = ();

#[derive(SessionKeys)]
#[session(prefix = "hygiene")]
struct Keys {
    session: SessionKey<::std::string::String>,
    req: SessionKey<::core::option::Option<u32>>,
    #[session(rename = "payload")]
    key: SessionKey<bool>,
}

fn main() {
    ::std::assert_eq!(
        <Keys as ::kv_sessions::SessionKeys>::KEYS,
        ["hygiene.session", "hygiene.req", "hygiene.payload"]
    );
}
