//! The session from outside a handler's extractors, through `SessionExt`: guards, `wrap_fn`
//! middleware and responses, run against every store.

use actix_web::cookie::{Cookie, Key};
use actix_web::dev::{Service, ServiceResponse};
use actix_web::guard::{self, GuardContext};
use actix_web::http::StatusCode;
use actix_web::test::{TestRequest, call_service, init_service};
use actix_web::web::{self, ServiceConfig};
use actix_web::{App, HttpMessage, HttpRequest, HttpResponse};
use kv_sessions::{Session, SessionError, SessionExt, SessionMiddleware, SessionStatus};
use kv_sessions_tests::{Backend, Harness, STORE_SECRET};

kv_sessions_tests::for_every_backend!(
    a_guard_admits_only_signed_in_users_when_sessions_load_before_routing,
    without_loading_before_routing_a_guard_finds_no_session,
    loading_before_routing_costs_one_lookup_per_request_with_a_cookie,
    a_load_before_routing_that_fails_answers_an_opaque_500,
    a_wrap_fn_middleware_counts_page_views_in_the_session,
    a_response_tells_what_its_request_did_to_the_session,
);

/// What a guard saw, noted in the request for its handler to show.
#[derive(Clone, Copy)]
struct GuardSaw(bool);

/// Admits a request whose session holds a user.
fn signed_in(ctx: &GuardContext<'_>) -> bool {
    ctx.loaded_session()
        .is_some_and(|session| session.contains_key("user"))
}

/// Admits every request, noting whether the session was loaded by then.
fn note_loaded(ctx: &GuardContext<'_>) -> bool {
    let loaded = ctx.loaded_session().is_some();
    ctx.req_data_mut().insert(GuardSaw(loaded));
    true
}

fn guarded_routes(config: &mut ServiceConfig) {
    config
        .route(
            "/sign-in",
            web::get().to(|session: Session| async move {
                session.insert("user", "alice")?;
                Ok::<_, SessionError>(HttpResponse::Ok().body("signed in"))
            }),
        )
        .route(
            "/members",
            web::get()
                .guard(guard::fn_guard(signed_in))
                .to(|session: Session| async move {
                    let user: Option<String> = session.get("user")?;
                    Ok::<_, SessionError>(HttpResponse::Ok().body(format!("welcome {user:?}")))
                }),
        )
        .route(
            "/guard-saw",
            web::get()
                .guard(guard::fn_guard(note_loaded))
                .to(|req: HttpRequest| async move {
                    let saw = req.extensions().get::<GuardSaw>().map(|saw| saw.0);
                    HttpResponse::Ok().body(format!("{saw:?}"))
                }),
        )
        .route(
            "/whoami",
            web::get().to(|session: Session| async move {
                let user: Option<String> = session.get("user")?;
                Ok::<_, SessionError>(HttpResponse::Ok().body(format!("{user:?}")))
            }),
        )
        .route(
            "/plain",
            web::get().to(|| async { HttpResponse::Ok().body("plain") }),
        );
}

async fn start_guarded(backend: Backend, load_before_routing: bool) -> Harness {
    backend
        .start_app(guarded_routes, |builder| {
            builder.load_before_routing(load_before_routing)
        })
        .await
}

async fn a_guard_admits_only_signed_in_users_when_sessions_load_before_routing(backend: Backend) {
    let harness = start_guarded(backend, true).await;
    let mut anonymous = harness.browser();
    let page = anonymous.get("/members").await;
    assert_eq!(
        page.status,
        StatusCode::NOT_FOUND,
        "the guard turns it away"
    );
    assert!(page.cookie("id").is_none(), "and no session is created");

    let mut member = harness.browser();
    member.get("/sign-in").await;
    let loads = harness.probe.loads();
    let page = member.get("/members").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.body, "welcome Some(\"alice\")");
    assert_eq!(
        harness.probe.loads(),
        loads + 1,
        "the handler reuses the session the middleware loaded for the guard"
    );

    member.set_cookie_value(Some("forged".to_owned()));
    let page = member.get("/members").await;
    assert_eq!(
        page.status,
        StatusCode::NOT_FOUND,
        "a forged cookie signs no one in"
    );
}

async fn without_loading_before_routing_a_guard_finds_no_session(backend: Backend) {
    let harness = start_guarded(backend, false).await;
    let mut member = harness.browser();
    member.get("/sign-in").await;
    assert_eq!(member.get("/whoami").await.body, "Some(\"alice\")");
    assert_eq!(member.get("/guard-saw").await.body, "Some(false)");
    let page = member.get("/members").await;
    assert_eq!(
        page.status,
        StatusCode::NOT_FOUND,
        "the guard ran before anything loaded the session"
    );

    let loading = start_guarded(backend, true).await;
    let mut anonymous = loading.browser();
    assert_eq!(
        anonymous.get("/guard-saw").await.body,
        "Some(true)",
        "loaded before routing, even with no cookie"
    );
}

async fn loading_before_routing_costs_one_lookup_per_request_with_a_cookie(backend: Backend) {
    for load_before_routing in [false, true] {
        let harness = start_guarded(backend, load_before_routing).await;
        let mut member = harness.browser();
        member.get("/sign-in").await;
        let mut anonymous = harness.browser();

        let loads = harness.probe.loads();
        assert_eq!(anonymous.get("/plain").await.body, "plain");
        assert_eq!(
            harness.probe.loads(),
            loads,
            "no cookie, nothing to look up"
        );

        assert_eq!(member.get("/plain").await.body, "plain");
        let lookups = usize::from(load_before_routing);
        assert_eq!(
            harness.probe.loads(),
            loads + lookups,
            "a request with a cookie that uses no session, load_before_routing = {load_before_routing}"
        );
    }
}

async fn a_load_before_routing_that_fails_answers_an_opaque_500(backend: Backend) {
    let harness = start_guarded(backend, true).await;
    let mut member = harness.browser();
    member.get("/sign-in").await;
    harness.probe.set_failing(true);
    for path in ["/plain", "/members"] {
        let page = member.get(path).await;
        assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        assert_eq!(page.body, "Internal Server Error", "{path}");
        assert!(!page.body.contains(STORE_SECRET));
        assert!(page.cookie("id").is_none(), "the cookie stays: {path}");
    }
    harness.probe.set_failing(false);
    assert_eq!(member.get("/members").await.status, StatusCode::OK);
}

fn counted_routes(config: &mut ServiceConfig) {
    config.service(
        web::scope("/counted")
            .wrap_fn(|req, srv| {
                let session = req.session();
                let response = srv.call(req);
                async move {
                    session
                        .await?
                        .update_or("views", 1_u32, |views| views + 1)?;
                    response.await
                }
            })
            .route(
                "/page",
                web::get().to(|session: Session| async move {
                    let views: Option<u32> = session.get("views")?;
                    session.insert("page", "seen")?;
                    Ok::<_, SessionError>(HttpResponse::Ok().body(format!("{views:?}")))
                }),
            )
            .route(
                "/quiet",
                web::get().to(|| async { HttpResponse::Ok().body("quiet") }),
            ),
    );
    config.route(
        "/views",
        web::get().to(|session: Session| async move {
            let views: Option<u32> = session.get("views")?;
            let page: Option<String> = session.get("page")?;
            Ok::<_, SessionError>(HttpResponse::Ok().body(format!("{views:?} {page:?}")))
        }),
    );
}

async fn a_wrap_fn_middleware_counts_page_views_in_the_session(backend: Backend) {
    let harness = backend.start_app(counted_routes, |builder| builder).await;
    let mut browser = harness.browser();
    let first = browser.get("/counted/page").await;
    assert_eq!(
        first.body, "Some(1)",
        "the handler sees the middleware's write"
    );
    assert!(
        first.cookie("id").is_some(),
        "the write created the session"
    );
    assert_eq!(browser.get("/counted/quiet").await.body, "quiet");
    assert_eq!(browser.get("/counted/page").await.body, "Some(3)");
    assert_eq!(
        browser.get("/views").await.body,
        "Some(3) Some(\"seen\")",
        "the middleware's writes and the handler's were both saved, and are kept"
    );
    assert_eq!(harness.browser().get("/views").await.body, "None None");
}

fn status_routes(config: &mut ServiceConfig) {
    config
        .route(
            "/read",
            web::get().to(|session: Session| async move {
                let value: Option<u32> = session.get("n")?;
                Ok::<_, SessionError>(HttpResponse::Ok().body(format!("{value:?}")))
            }),
        )
        .route(
            "/write",
            web::get().to(|session: Session| async move {
                session.update_or("n", 1_u32, |n| n + 1)?;
                Ok::<_, SessionError>(HttpResponse::Ok().finish())
            }),
        )
        .route(
            "/renew",
            web::get().to(|session: Session| async move {
                session.renew();
                HttpResponse::Ok().finish()
            }),
        )
        .route(
            "/purge",
            web::get().to(|session: Session| async move {
                session.purge();
                HttpResponse::Ok().finish()
            }),
        )
        .route(
            "/purge-then-write",
            web::get().to(|session: Session| async move {
                session.purge();
                session.insert("n", 1_u32)?;
                Ok::<_, SessionError>(HttpResponse::Ok().finish())
            }),
        )
        .route(
            "/remove",
            web::get().to(|session: Session| async move {
                session.remove("n");
                HttpResponse::Ok().finish()
            }),
        )
        .route(
            "/plain",
            web::get().to(|| async { HttpResponse::Ok().finish() }),
        );
}

/// The status the response's session reports, after the response left the middleware.
fn status_of<B>(response: &ServiceResponse<B>) -> Option<SessionStatus> {
    response.loaded_session().map(|session| session.status())
}

/// The session cookie a response set.
fn issued<B>(response: &ServiceResponse<B>) -> Cookie<'static> {
    let cookie = response.response().cookies().find(|c| c.name() == "id");
    cookie.expect("a session cookie").into_owned()
}

async fn a_response_tells_what_its_request_did_to_the_session(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = backend.open(dir.path()).await;
    let _scratch = store.scratch_guard();
    let sessions = SessionMiddleware::builder(store, Key::generate())
        .cookie_name("id")
        .build();
    let app = init_service(App::new().wrap(sessions).configure(status_routes)).await;
    let call = |path: &str, cookie: Option<&Cookie<'static>>| {
        let mut request = TestRequest::get().uri(path);
        if let Some(cookie) = cookie {
            request = request.cookie(cookie.clone());
        }
        call_service(&app, request.to_request())
    };

    let created = call("/write", None).await;
    assert_eq!(status_of(&created), Some(SessionStatus::Changed));
    let cookie = issued(&created);

    let read = call("/read", Some(&cookie)).await;
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(status_of(&read), Some(SessionStatus::Unchanged));
    let written = call("/write", Some(&cookie)).await;
    assert_eq!(status_of(&written), Some(SessionStatus::Changed));
    let untouched = call("/plain", Some(&cookie)).await;
    assert_eq!(status_of(&untouched), None, "nothing loaded the session");

    let renewed = call("/renew", Some(&cookie)).await;
    assert_eq!(status_of(&renewed), Some(SessionStatus::Renewed));
    let cookie = issued(&renewed);
    let purged = call("/purge", Some(&cookie)).await;
    assert_eq!(status_of(&purged), Some(SessionStatus::Purged));
    let session = purged.session().await.expect("the same session, loaded");
    assert_eq!(session.status(), SessionStatus::Purged);

    let fresh = call("/write", None).await;
    let rewritten = call("/purge-then-write", Some(&issued(&fresh))).await;
    assert_eq!(
        status_of(&rewritten),
        Some(SessionStatus::Purged),
        "a purge stays the status when later writes start a new session"
    );
    assert_eq!(
        status_of(&call("/renew", None).await),
        Some(SessionStatus::Unchanged),
        "renewing a session that was never saved does nothing"
    );
    assert_eq!(
        status_of(&call("/remove", None).await),
        Some(SessionStatus::Unchanged),
        "a removal alone creates no session"
    );
}
