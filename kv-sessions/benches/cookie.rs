//! What reading the session cookie costs: verifying its HMAC signature and parsing the id.
//!
//! The middleware reads the cookie on every request, before any handler runs, so this cost is
//! paid even by routes that never touch the session. The bench sends the same request through
//! `SessionMiddleware` to a route that takes no session extractor, once without a cookie, once
//! with a valid signed one, and with a hostile header: over 100 KB of `session=` pairs, each
//! shaped like a session cookie but sealed under another key, so that each would cost a MAC if
//! it were looked at. The hostile header goes once to the default middleware, and once, with
//! private cookies, to one that also holds three previous keys and accepts legacy cookies: the
//! most a value can cost. Such a route loads nothing and saves nothing either way, so the
//! differences are the cookie's reading, verification and the id's parsing alone.

mod runner;
mod serve;

use actix_web::cookie::Key;
use actix_web::http::header::COOKIE;
use actix_web::test::{TestRequest, call_service, init_service};
use actix_web::{App, HttpResponse, web};
use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, Criterion, criterion_group, criterion_main};
use kv_sessions::test_util::CookieSealer;
use kv_sessions::{CookieContent, MokaStore, Session, SessionError, SessionId, SessionMiddleware};

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

/// How many `session=` pairs the hostile header carries: about 102 KB of them.
const HOSTILE_PAIRS: usize = 1_200;

/// A `Cookie` header of [`HOSTILE_PAIRS`] session cookies of `content` that look right but that
/// no key of the middleware's opens.
fn hostile_header(content: CookieContent) -> String {
    let forger = CookieSealer::new(&Key::generate(), "session", content);
    let pair = format!("session={}", forger.seal(SessionId::generate()));
    let header = vec![pair; HOSTILE_PAIRS].join("; ");
    assert!(header.len() > 100_000, "{} bytes", header.len());
    header
}

/// Sends a hostile header of `content` cookies to a route that uses no session, through
/// `sessions`.
fn bench_hostile(
    group: &mut BenchmarkGroup<'_, WallTime>,
    runner: &ActixRunner,
    name: &str,
    sessions: SessionMiddleware,
    content: CookieContent,
) {
    let app = runner.block_on(init_service(
        App::new()
            .wrap(sessions)
            .route("/page", web::get().to(page)),
    ));
    let hostile = hostile_header(content);
    group.bench_function(name, |b| {
        b.to_async(runner).iter_batched(
            || {
                let request = TestRequest::get().uri("/page");
                request
                    .insert_header((COOKIE, hostile.as_str()))
                    .to_request()
            },
            |request| respond(&app, request),
            BatchSize::SmallInput,
        );
    });
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
    let signed = SessionMiddleware::new(MokaStore::new(1_000), Key::generate());
    let content = CookieContent::Signed;
    bench_hostile(&mut group, &runner, "hostile header", signed, content);
    let private = SessionMiddleware::builder(MokaStore::new(1_000), Key::generate())
        .cookie_content(CookieContent::Private)
        .previous_keys((0..3).map(|_| Key::generate()))
        .accept_legacy_cookies(true)
        .build();
    let content = CookieContent::Private;
    let name = "hostile header, private, 3 previous keys, legacy";
    bench_hostile(&mut group, &runner, name, private, content);
    group.finish();
}

criterion_group! {
    name = benches;
    config = runner::criterion();
    targets = cookie
}
criterion_main!(benches);
