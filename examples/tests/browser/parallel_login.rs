//! A test-only app whose sign-in page, like many single-page apps, posts the form with `fetch`
//! while it loads fragments of the page in parallel, then goes to `/account` once every request
//! has settled. The fragments still carry the cookie of the session that the sign-in renews
//! away, and their responses reach the browser after the sign-in's.
//!
//! It is served in process rather than by the `auth` example, which has no session before the
//! sign-in and whose form post would abort the page's own fetches as it navigates away.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use actix_web::cookie::Key;
use actix_web::dev::{Payload, Service as _};
use actix_web::http::header::{ContentType, LOCATION};
use actix_web::{App, FromRequest, HttpRequest, HttpResponse, get, post, web};
use kv_sessions::{MokaStore, Session, SessionError, SessionKey, SessionKeys, SessionMiddleware};
use serde::Deserialize;

/// How many fragments the sign-in page loads while the form posts: with the sign-in, the six
/// connections Chromium opens to one host over HTTP/1.1, so that every request is in flight at
/// once and none waits for a connection that a waiting fragment holds.
pub(crate) const FRAGMENTS: usize = 5;
/// How long a fragment waits for the sign-in's response before it gives up and answers anyway.
const PATIENCE: Duration = Duration::from_secs(5);

/// What the app keeps in a session.
#[derive(SessionKeys)]
struct Visitor {
    /// What an anonymous visitor put in the cart before signing in.
    cart: SessionKey<u32>,
    user: SessionKey<String>,
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

/// Whether the response to the sign-in has left the session middleware, its cookie set.
#[derive(Clone, Default)]
struct SignInAnswered(Arc<AtomicBool>);

/// Serves the app on a loopback port of its own.
pub(crate) fn start() -> actix_test::TestServer {
    let sessions = SessionMiddleware::builder(MokaStore::new(1_000), Key::generate()).build();
    let answered = SignInAnswered::default();
    actix_test::start(move || {
        let flag = answered.clone();
        App::new()
            .app_data(web::Data::new(answered.clone()))
            .wrap(sessions.clone())
            // Outside the session middleware, so it sees the sign-in's response once it is saved.
            .wrap_fn(move |req, service| {
                let signs_in = req.path() == "/login" && req.method() == "POST";
                let flag = flag.clone();
                let response = service.call(req);
                async move {
                    let response = response.await;
                    if signs_in {
                        flag.0.store(true, Ordering::SeqCst);
                    }
                    response
                }
            })
            .service(fill_cart)
            .service(login_page)
            .service(login)
            .service(fragment)
            .service(account)
    })
}

/// An anonymous visitor's first write, which gives it a session and a cookie.
#[get("/")]
async fn fill_cart(visitor: Visitor) -> Result<HttpResponse, SessionError> {
    visitor.cart.set(3)?;
    Ok(page(
        "<p>3 items in the cart. <a href=\"/login\">Sign in</a></p>",
    ))
}

#[get("/login")]
async fn login_page() -> HttpResponse {
    page(&format!(
        "<form id=\"sign-in-form\">\n\
         <input name=\"username\" id=\"username\">\n\
         <input type=\"password\" name=\"password\" id=\"password\">\n\
         <button type=\"submit\" id=\"sign-in\">Sign in</button>\n\
         </form>\n\
         <script>\n\
         document.getElementById('sign-in-form').addEventListener('submit', async (event) => {{\n\
           event.preventDefault();\n\
           const form = new URLSearchParams(new FormData(event.target));\n\
           const signIn = fetch('/login', {{ method: 'POST', body: form }});\n\
           const fragments = Array.from({{ length: {FRAGMENTS} }}, () => fetch('/fragment'));\n\
           await Promise.all([signIn, ...fragments]);\n\
           location.href = '/account';\n\
         }});\n\
         </script>"
    ))
}

#[post("/login")]
async fn login(
    session: Session,
    visitor: Visitor,
    form: web::Form<Credentials>,
) -> Result<HttpResponse, SessionError> {
    if (form.username.as_str(), form.password.as_str()) != ("alice", "wonderland") {
        return Ok(HttpResponse::Unauthorized().finish());
    }
    session.renew();
    visitor.user.set(form.username.clone())?;
    Ok(HttpResponse::NoContent().finish())
}

/// A fragment of the page that reads the session only once the sign-in has answered, as a
/// fragment held up by a slower service would: it then finds the session renewed away.
#[get("/fragment")]
async fn fragment(
    req: HttpRequest,
    answered: web::Data<SignInAnswered>,
) -> Result<HttpResponse, SessionError> {
    let deadline = Instant::now() + PATIENCE;
    while !answered.0.load(Ordering::SeqCst) && Instant::now() < deadline {
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    let visitor = Visitor::from_request(&req, &mut Payload::None).await?;
    let cart = visitor.cart.get()?.unwrap_or_default();
    Ok(HttpResponse::Ok().body(format!("{cart} items")))
}

#[get("/account")]
async fn account(visitor: Visitor) -> Result<HttpResponse, SessionError> {
    Ok(match visitor.user.get()? {
        Some(user) => page(&format!("<p>Signed in as {user}.</p>")),
        None => HttpResponse::SeeOther()
            .insert_header((LOCATION, "/login"))
            .finish(),
    })
}

fn page(body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .body(format!(
            "<!doctype html>\n<html lang=\"en\">\n<body>\n{body}\n</body>\n</html>\n"
        ))
}
