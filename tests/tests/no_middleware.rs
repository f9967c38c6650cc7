//! Session extractors on an app that forgot the middleware.

use actix_web::App;
use actix_web::http::StatusCode;
use kv_sessions_tests::{capture_log, routes, send};

/// The client gets an opaque 500; the log tells the developer how to fix the app.
#[actix_rt::test]
async fn extractors_without_the_middleware_give_an_opaque_500_and_the_fix_in_the_log() {
    let log = capture_log();
    let server = actix_test::start(|| App::new().configure(routes));
    for path in ["/", "/id", "/shared"] {
        let page = send(server.get(path)).await;
        assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        assert_eq!(page.body, "Internal Server Error");
    }
    assert_eq!(send(server.get("/plain")).await.status, StatusCode::OK);
    let fix = "no session middleware: wrap the App with `kv_sessions::SessionMiddleware` \
               (`App::new().wrap(middleware.clone())`) to use session extractors";
    assert_eq!(
        log.lines_with(fix).len(),
        3,
        "{:#?}",
        log.lines_with("ERROR")
    );
}
