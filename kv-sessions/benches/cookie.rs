//! What reading the session cookie costs: verifying its HMAC signature and parsing the id.
//!
//! The middleware reads the cookie on every request, before any handler runs, so this cost is
//! paid even by routes that never touch the session. The bench sends the same request through
//! `SessionMiddleware` to a route that takes no session extractor, once without a cookie and
//! once with a valid signed one. Such a route loads nothing and saves nothing either way, so the
//! difference between the two is the cookie's verification and the id's parsing alone.

mod runner;
mod serve;

use actix_web::cookie::Key;
use actix_web::test::{TestRequest, call_service, init_service};
use actix_web::{App, HttpResponse, web};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use kv_sessions::{MokaStore, Session, SessionError, SessionMiddleware};

use crate::runner::ActixRunner;
use crate::serve::respond;

/// Creates a session, so that the response carries a valid cookie.
async fn login(session: Session) -> Result<HttpResponse, SessionError> {
    session.insert("user", 42)?;
    Ok(HttpResponse::Ok().finish())
}

/// A route that uses no session: the middleware still reads the cookie.
async fn page() -> HttpResponse {
    HttpResponse::Ok().finish()
}

/// Finds the user `login` stored, or answers 404: proof that a cookie opens its session.
async fn user(session: Session) -> Result<HttpResponse, SessionError> {
    let user: Option<u64> = session.get("user")?;
    let mut response = user.map_or_else(HttpResponse::NotFound, |_| HttpResponse::Ok());
    Ok(response.finish())
}

fn cookie(c: &mut Criterion) {
    let runner = ActixRunner::new();
    let sessions = SessionMiddleware::new(MokaStore::new(1_000), Key::generate());
    let app = runner.block_on(init_service(
        App::new()
            .wrap(sessions)
            .route("/login", web::get().to(login))
            .route("/page", web::get().to(page))
            .route("/user", web::get().to(user)),
    ));
    let first = runner.block_on(call_service(
        &app,
        TestRequest::get().uri("/login").to_request(),
    ));
    let cookie = first.response().cookies().next();
    let cookie = cookie.expect("login sets a session cookie").into_owned();
    let check = TestRequest::get().uri("/user").cookie(cookie.clone());
    let check = runner.block_on(call_service(&app, check.to_request()));
    assert!(check.status().is_success(), "the cookie opens its session");

    let mut group = c.benchmark_group("cookie");
    group.bench_function("no cookie", |b| {
        b.to_async(&runner).iter_batched(
            || TestRequest::get().uri("/page").to_request(),
            |request| respond(&app, request),
            BatchSize::SmallInput,
        );
    });
    group.bench_function("valid signed cookie", |b| {
        b.to_async(&runner).iter_batched(
            || {
                let request = TestRequest::get().uri("/page");
                request.cookie(cookie.clone()).to_request()
            },
            |request| respond(&app, request),
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = runner::criterion();
    targets = cookie
}
criterion_main!(benches);
