//! The examples' settings, from the environment.

use std::env;
use std::io;

use actix_web::cookie::Key;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
}

/// The port on 127.0.0.1, from `PORT` (default 8000).
pub fn port() -> io::Result<u16> {
    match env::var("PORT") {
        Ok(port) => port
            .parse()
            .map_err(|_| invalid(format!("PORT must be a port number, not {port:?}"))),
        Err(_) => Ok(8000),
    }
}

/// The key from `SESSION_KEY`, or a random one with a warning.
pub fn signing_key() -> io::Result<Key> {
    let Ok(encoded) = env::var("SESSION_KEY") else {
        eprintln!(
            "warning: SESSION_KEY is not set; using a random key, so sessions will not survive \
             a restart. Set it to at least 64 random bytes in base64, e.g. \
             `head -c 64 /dev/urandom | base64 -w0`."
        );
        return Ok(Key::generate());
    };
    let compact: String = encoded.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = STANDARD_NO_PAD
        .decode(compact.trim_end_matches('='))
        .map_err(|_| invalid("SESSION_KEY must be base64 (standard alphabet)".to_owned()))?;
    Key::try_from(bytes.as_slice()).map_err(|_| {
        invalid(format!(
            "SESSION_KEY must decode to at least 64 bytes, not {}",
            bytes.len()
        ))
    })
}

/// An error that says which setting is wrong and how.
pub fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}
