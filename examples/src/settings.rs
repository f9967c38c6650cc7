//! The examples' settings, from the environment.

use std::env;
use std::fmt::Display;
use std::io;
use std::net::SocketAddr;

use actix_web::cookie::Key;
use kv_sessions::{KeyError, key_from_env};

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
}

/// The port on 127.0.0.1, from `PORT` (default 8000; `0` lets the system pick a free one, which
/// [`announce`] then names).
pub fn port() -> io::Result<u16> {
    match env::var("PORT") {
        Ok(port) => port
            .parse()
            .map_err(|_| invalid(format!("PORT must be a port number, not {port:?}"))),
        Err(_) => Ok(8000),
    }
}

/// Says on stderr where the server listens, once it is bound, and where it keeps its sessions.
/// The address is the one bound, so it names the port the system picked for `PORT=0`.
pub fn announce(addrs: &[SocketAddr], sessions: impl Display) {
    for addr in addrs {
        eprintln!("listening on http://{addr}, sessions in {sessions}");
    }
}

/// The cookie key from `SESSION_KEY`, in hex or base64 (see [`kv_sessions::decode_key`]), or a
/// random one with a warning where it is unset. A key that is set but wrong is an error that
/// says what is wrong with it and how to make a good one.
pub fn signing_key() -> io::Result<Key> {
    match key_from_env("SESSION_KEY") {
        Err(unset @ KeyError::NotSet { .. }) => {
            eprintln!(
                "warning: {unset}. Until then a random key is used, so sessions will not \
                 survive a restart."
            );
            Ok(Key::generate())
        }
        key => key.map_err(|error| invalid(error.to_string())),
    }
}

/// An error that says which setting is wrong and how.
pub fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}
