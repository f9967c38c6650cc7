//! The baseline: actix-web with no session middleware, answering what a fresh session would.

use std::io;

use actix_web::{App, HttpResponse, HttpServer, get};

use super::{NO_VALUE, SAVED};

#[get("/")]
async fn index() -> HttpResponse {
    HttpResponse::Ok().body(NO_VALUE)
}

#[get("/set")]
async fn set() -> HttpResponse {
    HttpResponse::Ok().body(SAVED)
}

pub(super) fn serve(port: u16) -> io::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(|| App::new().service(index).service(set))
            .workers(1)
            .bind(("127.0.0.1", port))?
            .run()
            .await
    })
}
