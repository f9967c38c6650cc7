//! A type the derive rejects gets stand-in impls, so that the handlers taking it report nothing:
//! the derive's own errors are the only ones.

use actix_web::{App, HttpResponse, get};
use kv_sessions::{SessionKey, SessionKeys};

#[derive(SessionKeys)]
struct Cart {
    items: Vec<u64>,
}

#[derive(SessionKeys)]
struct Wrapper<T> {
    value: SessionKey<T>,
}

#[derive(SessionKeys)]
enum Choice {
    Count { count: SessionKey<u32> },
}

#[get("/cart")]
async fn cart(cart: Cart) -> HttpResponse {
    HttpResponse::Ok().body(cart.items.len().to_string())
}

#[get("/wrapper")]
async fn wrapper(_wrapper: Wrapper<u32>, _choice: Choice) -> HttpResponse {
    HttpResponse::Ok().finish()
}

fn main() {
    let _app = App::new().service(cart).service(wrapper);
}
