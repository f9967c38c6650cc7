//! An app's start-up that fails, for the tests that read what its operator reads on stderr:
//! `start_up_failure <pattern> [<redis|postgres> <url> [<table>]]`.
//!
//! It loads the key from `SESSION_KEY`, then opens the store the arguments name, if any, as an
//! app's `main` does, and hands the first error to the terminal by `<pattern>`: one of the ways
//! the guide and common apps do it.
//!
//! - `unwrap`, `expect`: `.unwrap()` and `.expect(…)`, which panic with the error's `Debug`;
//! - `io-error-other`: a `main` returning `std::io::Result` that maps each error with
//!   `.map_err(std::io::Error::other)?`, as the guide's `main` does;
//! - `io-question-mark`: the same `main` with a bare `?`;
//! - `key-error`, `store-error`: a `main` returning `Result<(), KeyError>` or
//!   `Result<(), StoreError>`, which loads only the key or opens only the store;
//! - `anyhow`: a `main` returning `anyhow::Result`.
//!
//! A `main` that returns a `Result` is run through `Termination::report`, the call that runs on
//! the value `main` returns, so that one binary shows every kind of `main`.

use std::io;
use std::process::{ExitCode, Termination};

use actix_web::cookie::Key;
use kv_sessions::{KeyError, PostgresStore, RedisStore, StoreError, key_from_env};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((pattern, store)) = args.split_first() else {
        eprintln!("usage: start_up_failure <pattern> [<redis|postgres> <url> [<table>]]");
        return ExitCode::from(2);
    };
    match pattern.as_str() {
        "unwrap" => {
            key().unwrap();
            open(store).unwrap();
            ExitCode::SUCCESS
        }
        "expect" => {
            key().expect("the session key");
            open(store).expect("the session store");
            ExitCode::SUCCESS
        }
        "io-error-other" => io_error_other(store).report(),
        "io-question-mark" => io_question_mark(store).report(),
        "key-error" => key().map(drop).report(),
        "store-error" => open(store).report(),
        "anyhow" => with_anyhow(store).report(),
        other => {
            eprintln!("unknown pattern {other:?}");
            ExitCode::from(2)
        }
    }
}

fn io_error_other(store: &[String]) -> io::Result<()> {
    key().map_err(io::Error::other)?;
    open(store).map_err(io::Error::other)?;
    Ok(())
}

fn io_question_mark(store: &[String]) -> io::Result<()> {
    key()?;
    open(store)?;
    Ok(())
}

fn with_anyhow(store: &[String]) -> anyhow::Result<()> {
    key()?;
    open(store)?;
    Ok(())
}

fn key() -> Result<Key, KeyError> {
    key_from_env("SESSION_KEY")
}

/// Opens the store that `args` name, if any, as a `main` does before `HttpServer::new`.
fn open(args: &[String]) -> Result<(), StoreError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        match args {
            [] => Ok(()),
            [engine, url] if engine == "redis" => RedisStore::builder(url).build().await.map(drop),
            [engine, url, table] if engine == "postgres" => PostgresStore::builder(url)
                .table(table.as_str())
                .sweep_every(None)
                .build()
                .await
                .map(drop),
            _ => panic!("usage: start_up_failure <pattern> [<redis|postgres> <url> [<table>]]"),
        }
    })
}
