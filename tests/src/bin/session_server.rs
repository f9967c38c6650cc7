//! The test app as a process of its own, for tests that must kill a server mid-load.
//!
//! `session_server <sled directory> <periodic|immediate>` serves the acceptance suite's routes
//! on a free loopback port over a moka cache and a sled store with that durability, and prints
//! `listening on <port>` once it accepts connections. Cookies are signed with a fixed key, so
//! a restarted server accepts the cookies of the one before.

use std::io::{self, Write};

use actix_web::cookie::Key;
use actix_web::{App, HttpServer};
use kv_sessions::{Durability, MokaStore, SessionMiddleware, SledStore};

#[actix_web::main]
async fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(directory), Some(durability), None) = (args.next(), args.next(), args.next()) else {
        return Err(io::Error::other(
            "usage: session_server <sled directory> <periodic|immediate>",
        ));
    };
    let durability = match durability.as_str() {
        "periodic" => Durability::Periodic,
        "immediate" => Durability::Immediate,
        other => return Err(io::Error::other(format!("unknown durability {other:?}"))),
    };
    let store = SledStore::builder(&directory)
        .durability(durability)
        .open()
        .map_err(io::Error::other)?;
    let middleware = SessionMiddleware::builder(store.clone(), Key::from(&[7; 64]))
        .cache(MokaStore::new(10_000))
        .cookie_name("id")
        .build();
    let server = HttpServer::new(move || {
        App::new()
            .wrap(middleware.clone())
            .configure(kv_sessions_tests::routes)
    })
    .workers(2)
    .bind(("127.0.0.1", 0))?;
    let port = server.addrs()[0].port();
    let running = server.run();
    writeln!(io::stdout(), "listening on {port}")?;
    io::stdout().flush()?;
    running.await?;
    store.flush().await.map_err(io::Error::other)
}
