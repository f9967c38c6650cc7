//! Typed keys against the untyped `Session`.
//!
//! A `#[derive(SessionKeys)]` struct promises compile-time checked keys at no run-time cost: its
//! accessors are meant to be thin wrappers over `Session::get` and `Session::insert`. This bench
//! serves the same request twice through `SessionMiddleware` over a `MokaStore`, once with a
//! handler that reads and writes four keys through the derived struct and once with a handler
//! that does the same through `Session` by name, so that any difference between the two is the
//! derive's. Each request loads an existing session, makes its get/set pairs, and saves.

mod runner;
mod serve;

use actix_web::cookie::Key;
use actix_web::test::{TestRequest, call_service, init_service};
use actix_web::{App, FromRequest, Handler, HttpResponse, Responder, web};
use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use kv_sessions::{MokaStore, Session, SessionError, SessionKey, SessionKeys, SessionMiddleware};

use crate::runner::ActixRunner;
use crate::serve::respond;

/// How many times a handler reads and writes each of its four keys, per request.
const ROUNDS: [usize; 2] = [1, 64];

/// The keys both handlers use, typed.
#[derive(SessionKeys)]
#[session(prefix = "profile")]
struct Profile {
    name: SessionKey<String>,
    visits: SessionKey<u64>,
    cart: SessionKey<Vec<u32>>,
    admin: SessionKey<bool>,
}

/// `rounds` get/set pairs on each key, through the derived struct.
async fn typed(profile: Profile, rounds: web::Path<usize>) -> Result<HttpResponse, SessionError> {
    for _ in 0..rounds.into_inner() {
        let name = profile.name.get()?.unwrap_or_else(|| "Ada".to_owned());
        profile.name.set(name)?;
        let visits = profile.visits.get()?.unwrap_or_default();
        profile.visits.set(visits + 1)?;
        let cart = profile.cart.get()?.unwrap_or_else(|| vec![7, 11, 13]);
        profile.cart.set(cart)?;
        let admin = profile.admin.get()?.unwrap_or_default();
        profile.admin.set(admin)?;
    }
    Ok(HttpResponse::Ok().finish())
}

/// The same pairs as [`typed`], through `Session` and the keys' stored names.
async fn untyped(session: Session, rounds: web::Path<usize>) -> Result<HttpResponse, SessionError> {
    for _ in 0..rounds.into_inner() {
        let name = session
            .get::<String>("profile.name")?
            .unwrap_or_else(|| "Ada".to_owned());
        session.insert("profile.name", name)?;
        let visits = session.get::<u64>("profile.visits")?.unwrap_or_default();
        session.insert("profile.visits", visits + 1)?;
        let cart = session
            .get::<Vec<u32>>("profile.cart")?
            .unwrap_or_else(|| vec![7, 11, 13]);
        session.insert("profile.cart", cart)?;
        let admin = session.get::<bool>("profile.admin")?.unwrap_or_default();
        session.insert("profile.admin", admin)?;
    }
    Ok(HttpResponse::Ok().finish())
}

/// Benchmarks `handler` at every number of [`ROUNDS`], on a session it created beforehand.
fn bench_handler<F, Args>(c: &mut Criterion, runner: &ActixRunner, name: &str, handler: F)
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    let sessions = SessionMiddleware::new(MokaStore::new(1_000), Key::generate());
    let app = runner.block_on(init_service(
        App::new()
            .wrap(sessions)
            .route("/{rounds}", web::get().to(handler)),
    ));
    let first = runner.block_on(call_service(
        &app,
        TestRequest::get().uri("/1").to_request(),
    ));
    let cookie = first.response().cookies().next();
    let cookie = cookie
        .expect("the first request sets a session cookie")
        .into_owned();
    let mut group = c.benchmark_group("keys");
    for rounds in ROUNDS {
        let uri = format!("/{rounds}");
        group.bench_with_input(BenchmarkId::new(name, rounds), &uri, |b, uri| {
            b.to_async(runner).iter_batched(
                || {
                    TestRequest::get()
                        .uri(uri)
                        .cookie(cookie.clone())
                        .to_request()
                },
                |request| respond(&app, request),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

fn keys(c: &mut Criterion) {
    let runner = ActixRunner::new();
    bench_handler(c, &runner, "typed", typed);
    bench_handler(c, &runner, "untyped", untyped);
}

criterion_group! {
    name = benches;
    config = runner::criterion();
    targets = keys
}
criterion_main!(benches);
