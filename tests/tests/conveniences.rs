//! `remove`, `remove_as`, `update`, `update_or` and `entries`, on `Session` and on `SessionKey`,
//! through a real server on every store.

use std::fmt::Debug;

use actix_web::web::{self, Path, ServiceConfig};
use actix_web::{HttpResponse, ResponseError};
use kv_sessions::{Session, SessionError, SessionKey, SessionKeys};
use kv_sessions_tests::{Backend, Harness};

kv_sessions_tests::for_every_backend!(
    remove_returns_the_json_text_the_key_held,
    remove_as_returns_the_value_and_removes_a_value_of_another_type_too,
    update_changes_a_present_value_and_leaves_an_absent_key_absent,
    update_or_stores_the_default_then_updates_it,
    an_update_of_a_value_of_another_type_fails_and_changes_nothing,
    an_update_past_the_size_cap_fails_and_changes_nothing,
    entries_show_the_stored_copy_with_this_requests_writes_and_removals,
    typed_keys_update_and_remove_their_value,
    a_typed_update_or_remove_of_a_value_of_another_type_fails,
);

/// The size cap of the test app: room for a few short values.
const CAP: usize = 64;

#[derive(SessionKeys)]
#[session(prefix = "visits")]
struct Visits {
    count: SessionKey<u32>,
    label: SessionKey<String>,
}

/// The handler's result as text; a failure the test provokes is named, any other is a 500.
fn outcome<T: Debug>(result: Result<T, SessionError>) -> HttpResponse {
    let body = match result {
        Ok(value) => format!("{value:?}"),
        Err(SessionError::Deserialize { .. }) => "not that type".to_owned(),
        Err(SessionError::TooLarge { .. }) => "too large".to_owned(),
        Err(other) => return other.error_response(),
    };
    HttpResponse::Ok().body(body)
}

fn routes(config: &mut ServiceConfig) {
    config
        .route(
            "/number/{key}/{n}",
            web::get().to(|session: Session, path: Path<(String, u32)>| async move {
                let (key, n) = path.into_inner();
                outcome(session.insert(key, n))
            }),
        )
        .route(
            "/text/{key}/{text}",
            web::get().to(
                |session: Session, path: Path<(String, String)>| async move {
                    let (key, text) = path.into_inner();
                    outcome(session.insert(key, text))
                },
            ),
        )
        .route(
            "/remove/{key}",
            web::get().to(|session: Session, key: Path<String>| async move {
                outcome(Ok(session.remove(&key)))
            }),
        )
        .route(
            "/remove-number/{key}",
            web::get().to(|session: Session, key: Path<String>| async move {
                outcome(session.remove_as::<u32>(&key))
            }),
        )
        .route(
            "/increment/{key}",
            web::get().to(|session: Session, key: Path<String>| async move {
                outcome(session.update(key.into_inner(), |n: u32| n + 1))
            }),
        )
        .route(
            "/increment-or-ten/{key}",
            web::get().to(|session: Session, key: Path<String>| async move {
                outcome(session.update_or(key.into_inner(), 10_u32, |n| n + 1))
            }),
        )
        .route(
            "/double/{key}",
            web::get().to(|session: Session, key: Path<String>| async move {
                outcome(session.update(key.into_inner(), |text: String| text.repeat(2)))
            }),
        )
        .route(
            "/entries",
            web::get().to(|session: Session| async move { outcome(Ok(session.entries())) }),
        )
        .route(
            "/write-remove-and-list",
            web::get().to(|session: Session| async move {
                session.remove("a");
                outcome(session.insert("b", 2).map(|()| session.entries()))
            }),
        )
        .route(
            "/typed/increment",
            web::get().to(|visits: Visits| async move { outcome(visits.count.update(|n| n + 1)) }),
        )
        .route(
            "/typed/increment-or-one",
            web::get()
                .to(|visits: Visits| async move { outcome(visits.count.update_or(1, |n| n + 1)) }),
        )
        .route(
            "/typed/remove",
            web::get().to(|visits: Visits| async move { outcome(visits.count.remove()) }),
        )
        .route(
            "/typed/label-or-x",
            web::get().to(|visits: Visits| async move {
                outcome(
                    visits
                        .label
                        .update_or("x".to_owned(), |label| label.repeat(4)),
                )
            }),
        );
}

async fn start(backend: Backend) -> Harness {
    backend
        .start_app(routes, |builder| builder.max_session_size(CAP))
        .await
}

async fn remove_returns_the_json_text_the_key_held(backend: Backend) {
    let harness = start(backend).await;
    let mut browser = harness.browser();
    browser.get("/number/a/7").await;
    browser.get("/text/b/hi").await;
    assert_eq!(browser.get("/remove/a").await.body, r#"Some("7")"#);
    assert_eq!(browser.get("/remove/a").await.body, "None");
    assert_eq!(browser.get("/entries").await.body, r#"{"b": "\"hi\""}"#);
}

async fn remove_as_returns_the_value_and_removes_a_value_of_another_type_too(backend: Backend) {
    let harness = start(backend).await;
    let mut browser = harness.browser();
    browser.get("/number/a/7").await;
    browser.get("/text/b/hi").await;
    assert_eq!(browser.get("/remove-number/a").await.body, "Some(7)");
    assert_eq!(browser.get("/remove-number/b").await.body, "not that type");
    assert_eq!(
        browser.get("/entries").await.body,
        "{}",
        "the key went even though its value was not a number"
    );
}

async fn update_changes_a_present_value_and_leaves_an_absent_key_absent(backend: Backend) {
    let harness = start(backend).await;
    let mut browser = harness.browser();
    let page = browser.get("/increment/a").await;
    assert_eq!(page.body, "()");
    assert!(page.cookie("id").is_none(), "nothing written, no session");
    browser.get("/number/a/1").await;
    browser.get("/increment/a").await;
    browser.get("/increment/a").await;
    assert_eq!(browser.get("/entries").await.body, r#"{"a": "3"}"#);
}

async fn update_or_stores_the_default_then_updates_it(backend: Backend) {
    let harness = start(backend).await;
    let mut browser = harness.browser();
    let page = browser.get("/increment-or-ten/a").await;
    assert!(
        page.cookie("id").is_some(),
        "the default created the session"
    );
    assert_eq!(browser.get("/entries").await.body, r#"{"a": "10"}"#);
    browser.get("/increment-or-ten/a").await;
    assert_eq!(browser.get("/entries").await.body, r#"{"a": "11"}"#);
}

async fn an_update_of_a_value_of_another_type_fails_and_changes_nothing(backend: Backend) {
    let harness = start(backend).await;
    let mut browser = harness.browser();
    browser.get("/text/a/hi").await;
    assert_eq!(browser.get("/increment/a").await.body, "not that type");
    assert_eq!(
        browser.get("/increment-or-ten/a").await.body,
        "not that type",
        "a value of another type is not replaced by the default"
    );
    assert_eq!(browser.get("/entries").await.body, r#"{"a": "\"hi\""}"#);
}

async fn an_update_past_the_size_cap_fails_and_changes_nothing(backend: Backend) {
    let harness = start(backend).await;
    let mut browser = harness.browser();
    let ten = "x".repeat(10);
    browser.get(&format!("/text/a/{ten}")).await;
    assert_eq!(browser.get("/double/a").await.body, "()");
    assert_eq!(browser.get("/double/a").await.body, "()");
    assert_eq!(
        browser.get("/double/a").await.body,
        "too large",
        "1 + 42 bytes fit the cap, 1 + 82 do not"
    );
    let forty = "x".repeat(40);
    assert_eq!(
        browser.get("/entries").await.body,
        format!(r#"{{"a": "\"{forty}\""}}"#)
    );
}

async fn entries_show_the_stored_copy_with_this_requests_writes_and_removals(backend: Backend) {
    let harness = start(backend).await;
    let mut browser = harness.browser();
    browser.get("/number/a/1").await;
    browser.get("/number/c/3").await;
    assert_eq!(
        browser.get("/write-remove-and-list").await.body,
        r#"{"b": "2", "c": "3"}"#
    );
    assert_eq!(
        browser.get("/entries").await.body,
        r#"{"b": "2", "c": "3"}"#,
        "as saved"
    );
}

async fn typed_keys_update_and_remove_their_value(backend: Backend) {
    let harness = start(backend).await;
    let mut browser = harness.browser();
    let page = browser.get("/typed/increment").await;
    assert_eq!(page.body, "()");
    assert!(page.cookie("id").is_none(), "nothing to update, no session");
    browser.get("/typed/increment-or-one").await;
    browser.get("/typed/increment").await;
    browser.get("/typed/increment-or-one").await;
    assert_eq!(
        browser.get("/entries").await.body,
        r#"{"visits.count": "3"}"#
    );
    assert_eq!(browser.get("/typed/remove").await.body, "Some(3)");
    assert_eq!(browser.get("/typed/remove").await.body, "None");
    assert_eq!(browser.get("/entries").await.body, "{}");

    for _ in 0..3 {
        assert_eq!(browser.get("/typed/label-or-x").await.body, "()");
    }
    assert_eq!(
        browser.get("/typed/label-or-x").await.body,
        "too large",
        "12 + 18 bytes fit the cap, 12 + 66 do not"
    );
    let sixteen = "x".repeat(16);
    assert_eq!(
        browser.get("/entries").await.body,
        format!(r#"{{"visits.label": "\"{sixteen}\""}}"#)
    );
}

async fn a_typed_update_or_remove_of_a_value_of_another_type_fails(backend: Backend) {
    let harness = start(backend).await;
    let mut browser = harness.browser();
    browser.get("/text/visits.count/hi").await;
    assert_eq!(browser.get("/typed/increment").await.body, "not that type");
    assert_eq!(
        browser.get("/typed/increment-or-one").await.body,
        "not that type"
    );
    assert_eq!(
        browser.get("/entries").await.body,
        r#"{"visits.count": "\"hi\""}"#
    );
    assert_eq!(browser.get("/typed/remove").await.body, "not that type");
    assert_eq!(
        browser.get("/entries").await.body,
        "{}",
        "removed even though it was not a number"
    );
}
