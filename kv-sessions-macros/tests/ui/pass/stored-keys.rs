//! Prefixes, renames and raw identifiers decide the stored keys, and the expansion raises no
//! warning, not even from the lints that are allowed by default.
#![deny(warnings)]
#![deny(
    elided_lifetimes_in_paths,
    single_use_lifetimes,
    trivial_casts,
    unused_lifetimes,
    unused_qualifications,
    unused_results
)]

use kv_sessions::{SessionError, SessionKey, SessionKeys};

#[derive(SessionKeys)]
#[session(prefix = "demo")]
struct Demo {
    test_key: SessionKey<String>,
    #[session(rename = "visits")]
    count: SessionKey<u32>,
}

#[derive(SessionKeys)]
struct Unprefixed {
    r#type: SessionKey<Vec<u64>>,
    #[session(rename = "match")]
    r#match: SessionKey<Option<bool>>,
    #[session(rename = "user.id")]
    #[doc = "Other attributes are left alone."]
    user: SessionKey<(u8, String)>,
}

#[derive(SessionKeys)]
#[session(prefix = "cart")]
pub struct Cart {
    /// A rename may repeat another struct's field name: only the stored keys must differ.
    #[session(rename = "type")]
    pub items: SessionKey<Vec<u64>>,
}

#[derive(SessionKeys)]
struct Empty {}

mod qualified {
    /// Neither the derive nor the field type needs to be imported.
    #[derive(kv_sessions::SessionKeys)]
    #[session(prefix = "qualified")]
    pub(crate) struct Qualified {
        pub(crate) value: kv_sessions::SessionKey<u32>,
    }
}

macro_rules! keys_of {
    ($name:ident, $ty:ty) => {
        #[derive(SessionKeys)]
        struct $name {
            value: SessionKey<$ty>,
        }
    };
}

keys_of!(FromMacro, String);

macro_rules! with_counter {
    ($(#[$attr:meta])* struct $name:ident;) => {
        $(#[$attr])*
        struct $name {
            counter: SessionKey<u64>,
        }
    };
}

with_counter! {
    #[derive(SessionKeys)]
    struct FromCaller;
}

async fn handler(demo: Demo, cart: Cart) -> Result<String, SessionError> {
    let visits = demo.count.get()?.unwrap_or(0);
    cart.items.set(vec![1, 2])?;
    Ok(format!("{visits} {}", demo.test_key.name()))
}

fn main() {
    assert_eq!(Demo::KEYS, ["demo.test_key", "demo.visits"]);
    assert_eq!(Unprefixed::KEYS, ["type", "match", "user.id"]);
    assert_eq!(Cart::KEYS, ["cart.type"]);
    assert!(Empty::KEYS.is_empty());
    assert_eq!(FromMacro::KEYS, ["value"]);
    assert_eq!(FromCaller::KEYS, ["counter"]);
    assert_eq!(qualified::Qualified::KEYS, ["qualified.value"]);
    let _ = actix_web::web::get().to(handler);
}
