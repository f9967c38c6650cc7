//! Session extractors on an app that forgot the middleware.

use actix_web::App;
use actix_web::http::StatusCode;
use kv_sessions_tests::{routes, send};

#[actix_rt::test]
async fn extractors_without_the_middleware_give_an_opaque_500() {
    let server = actix_test::start(|| App::new().configure(routes));
    for path in ["/", "/id", "/shared"] {
        let page = send(server.get(path)).await;
        assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        assert_eq!(page.body, "Internal Server Error");
    }
    assert_eq!(send(server.get("/plain")).await.status, StatusCode::OK);
}
