//! Whatever a client sends in its `Cookie` header, and whatever bytes sit in the store, the
//! server neither panics nor fails, and an invalid cookie never creates a session.

use std::sync::Arc;

use actix_web::App;
use actix_web::cookie::Key;
use actix_web::http::StatusCode;
use actix_web::http::header::{COOKIE, HeaderValue};
use actix_web::test::{TestRequest, call_service, init_service};
use kv_sessions::test_util::CookieSealer;
use kv_sessions::{
    CookieContent, MokaStore, SessionId, SessionMiddleware, SessionStore, SledStore,
};
use kv_sessions_tests::{Probe, ProbeStore, routes};
use proptest::prelude::*;

/// Header values as a client could send them: visible ASCII, spaces, tabs and high bytes.
fn header_bytes(max_len: usize) -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        0x20u8..0x7f,
        Just(b'\t'),
        0x80u8..=0xff,
        Just(b';'),
        Just(b'=')
    ];
    proptest::collection::vec(byte, 0..max_len)
}

/// Cookie headers: random bytes, huge values, many `id` cookies, and values signed with the right
/// key over things that are not ids.
fn cookie_header(sealer: CookieSealer) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        header_bytes(256),
        (0usize..16_000).prop_map(|len| format!("id={}", "a".repeat(len)).into_bytes()),
        proptest::collection::vec("[ -~]{0,40}", 1..40).prop_map(|values| values
            .iter()
            .map(|v| format!("id={v}"))
            .collect::<Vec<_>>()
            .join("; ")
            .into_bytes()),
        "[ -~]{0,80}"
            .prop_map(move |garbage| format!("id={}", sealer.sign_text(&garbage)).into_bytes()),
    ]
}

#[test]
fn arbitrary_cookie_headers_never_fail_a_request_or_create_a_session() {
    let system = actix_rt::System::new();
    let key = Key::generate();
    let sealer = CookieSealer::new(&key, "id", CookieContent::Signed);
    let id = SessionId::generate();
    let signed_id = sealer.sign_text(&id.to_string());
    assert_eq!(
        sealer.open(&signed_id),
        Some(id),
        "signed text passes the check"
    );
    let probe = Arc::new(Probe::default());
    let store = ProbeStore::new(MokaStore::new(1_000), Arc::clone(&probe));
    let middleware = SessionMiddleware::builder(store, key)
        .cookie_name("id")
        .build();
    let app = system.block_on(init_service(App::new().wrap(middleware).configure(routes)));
    let request = TestRequest::get().uri("/");
    let request = request.insert_header((COOKIE, format!("id={signed_id}")));
    system.block_on(call_service(&app, request.to_request()));
    assert_eq!(
        probe.loads(),
        1,
        "the middleware checked the signature and looked the id up"
    );
    let config = ProptestConfig::with_cases(400);
    proptest!(config, |(header in cookie_header(sealer.clone()), path in prop::sample::select(vec!["/", "/id", "/plain", "/remove/x"]))| {
        let Ok(value) = HeaderValue::from_bytes(&header) else {
            return Ok(());
        };
        let request = TestRequest::get().uri(path).insert_header((COOKIE, value)).to_request();
        let response = system.block_on(call_service(&app, request));
        prop_assert_eq!(response.status(), StatusCode::OK);
    });
    assert_eq!(probe.saves(), 0, "no invalid cookie created a session");
}

#[test]
fn arbitrary_stored_bytes_load_as_nothing_or_a_corrupt_record() {
    let system = actix_rt::System::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SledStore::open(dir.path().join("sessions.sled")).expect("open");
    proptest!(ProptestConfig::with_cases(300), |(bytes in proptest::collection::vec(any::<u8>(), 0..300))| {
        let id = SessionId::generate();
        store.insert_raw(&id, &bytes).expect("insert");
        let loaded = system.block_on(store.load(&id));
        prop_assert!(
            matches!(loaded, Ok(_) | Err(kv_sessions::StoreError::Corrupt(_))),
            "{loaded:?}"
        );
    });
}
