//! A shopping cart kept in the session, on the embedded default (sled for storage, moka as the
//! cache): the typed keys of `#[derive(SessionKeys)]`, with the struct's `prefix` and a field's
//! `rename`, and the accessors `get_or_default`, `set` and `remove`.
//!
//! The cart is a struct of typed keys. `#[session(prefix = "cart")]` stores each of its fields
//! under `cart.<name>`, so another feature's struct may have an `items` field too without the
//! two colliding; `#[session(rename = "lines")]` stores the `items` field under `cart.lines`, a
//! name that can stay the same when the field is renamed in the code.
//!
//! Every route answers with the cart as JSON, for instance
//! `{"stored_under":"cart.lines","items":{"apple":2,"bread":1}}`:
//!
//! - `GET /cart`: the cart; an empty one when the session holds none;
//! - `POST /cart/add/{item}`: one more of `item`;
//! - `POST /cart/remove/{item}`: one fewer of `item`, dropping it at zero;
//! - `POST /cart/clear`: deletes the whole cart from the session.
//!
//! Items come from a fixed catalogue (`apple`, `bread`, `cheese`); any other gives `404 Not
//! Found`. Taking any name a client sends would let it grow the session to its size cap.
//!
//! # Concurrent adds
//!
//! Adding reads the cart, adds one and writes the whole map back, and a save keeps the later of
//! two writes of one key. Two adds to one cart in flight at once (a double click, two tabs) both
//! start from the same map, and the later leaves out the other's item: in a trial, 30 parallel
//! adds across three instances kept 20. The example keeps the single map because it shows the
//! typed keys; where every concurrent add must count, give each add a key of its own, as the
//! guide's typed keys chapter shows under "Concurrent changes to one value".
//!
//! Environment:
//! - `PORT`: the port on 127.0.0.1 (default 8000; `0` lets the system pick one, which the
//!   "listening on" line names);
//! - `SESSIONS_DB`: the sled directory (default `./cart-sessions.sled`);
//! - `SESSION_KEY`: the cookie signing key, as in the `basic` example (default: a random key, and
//!   sessions do not survive a restart);
//! - `RUST_LOG`: log filter (default `info`).

use std::collections::BTreeMap;
use std::env;
use std::io;

use actix_web::{App, HttpResponse, HttpServer, get, post, web};
use kv_sessions::{MokaStore, SessionError, SessionKey, SessionKeys, SessionMiddleware, SledStore};
use kv_sessions_examples::settings::{announce, init_logging, port, signing_key};
use serde::Serialize;

/// The items on sale.
const CATALOGUE: &[&str] = &["apple", "bread", "cheese"];

/// The cart, as the session keeps it: every field is stored under `cart.<name>`.
#[derive(SessionKeys)]
#[session(prefix = "cart")]
struct Cart {
    /// How many of each item, by name, stored under `cart.lines`.
    #[session(rename = "lines")]
    items: SessionKey<BTreeMap<String, u32>>,
}

/// What every route answers: the cart, and the session key it is stored under.
#[derive(Serialize)]
struct CartView {
    stored_under: &'static str,
    items: BTreeMap<String, u32>,
}

impl CartView {
    fn of(cart: &Cart, items: BTreeMap<String, u32>) -> HttpResponse {
        HttpResponse::Ok().json(CartView {
            stored_under: cart.items.name(),
            items,
        })
    }
}

#[get("/cart")]
async fn show(cart: Cart) -> Result<HttpResponse, SessionError> {
    // Reading an absent key gives an empty cart, and writes nothing: no session is created.
    let items = cart.items.get_or_default()?;
    Ok(CartView::of(&cart, items))
}

#[post("/cart/add/{item}")]
async fn add(cart: Cart, item: web::Path<String>) -> Result<HttpResponse, SessionError> {
    let Some(item) = on_sale(&item) else {
        return Ok(HttpResponse::NotFound().body("no such item"));
    };
    // Read, change, write back: an add that saves between this read and this write is lost (see
    // "Concurrent adds" above).
    let mut items = cart.items.get_or_default()?;
    let count = items.entry(item.to_owned()).or_default();
    *count = count.saturating_add(1);
    cart.items.set(items.clone())?;
    Ok(CartView::of(&cart, items))
}

#[post("/cart/remove/{item}")]
async fn remove(cart: Cart, item: web::Path<String>) -> Result<HttpResponse, SessionError> {
    let Some(item) = on_sale(&item) else {
        return Ok(HttpResponse::NotFound().body("no such item"));
    };
    let mut items = cart.items.get_or_default()?;
    let Some(count) = items.get_mut(item) else {
        // Nothing to take away: leave the session untouched rather than write it back unchanged.
        return Ok(CartView::of(&cart, items));
    };
    *count -= 1;
    if *count == 0 {
        items.remove(item);
    }
    cart.items.set(items.clone())?;
    Ok(CartView::of(&cart, items))
}

#[post("/cart/clear")]
async fn clear(cart: Cart) -> Result<HttpResponse, SessionError> {
    // `remove` deletes the key from the session, rather than storing an empty cart.
    cart.items.remove()?;
    Ok(CartView::of(&cart, BTreeMap::new()))
}

/// The catalogue's name for `item`, if it is on sale.
fn on_sale(item: &str) -> Option<&'static str> {
    CATALOGUE.iter().copied().find(|&name| name == item)
}

#[actix_web::main]
async fn main() -> io::Result<()> {
    init_logging();
    let port = port()?;
    let directory = env::var("SESSIONS_DB").unwrap_or_else(|_| "./cart-sessions.sled".to_owned());
    let key = signing_key()?;

    // Built once, outside `HttpServer::new`: every worker shares the store, cache and key.
    let store = SledStore::open(&directory).map_err(io::Error::other)?;
    let sessions = SessionMiddleware::builder(store.clone(), key)
        .cache(MokaStore::new(10_000))
        .build();

    let server = HttpServer::new(move || {
        App::new()
            .wrap(sessions.clone())
            .service(show)
            .service(add)
            .service(remove)
            .service(clear)
    })
    .bind(("127.0.0.1", port))?;
    announce(&server.addrs(), &directory);
    server.run().await?;

    store.flush().await.map_err(io::Error::other)
}
