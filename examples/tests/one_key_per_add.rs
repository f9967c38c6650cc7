//! The typed keys chapter's cart that gives each add a key of its own, "Concurrent changes to one
//! value": 30 adds to one session, in flight at once across three instances over one store, are
//! all kept, on every store the environment offers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix_web::cookie::Key;
use actix_web::{App, HttpResponse, get, post, web};
use kv_sessions::{MokaStore, RedisStore, Session, SessionError, SessionMiddleware, SessionStore};
use kv_sessions_tests::shared::{self, PostgresScratch, RedisScratch};

/// One key per add: `cart.added.<random id>`, holding the item's name.
const ADDED: &str = "cart.added.";
const ITEMS: [&str; 3] = ["apple", "bread", "cheese"];
const INSTANCES: usize = 3;
const PARALLEL_ADDS: usize = 30;
/// How long an add waits for the others before it goes on alone.
const PATIENCE: Duration = Duration::from_secs(5);

/// Holds each add, its session loaded and its write made, until every add of the parallel round
/// has arrived, so that all of them start from the same stored session and save together: the
/// worst case of a handler that awaits a slower service before it answers. A read-modify-write
/// of one key keeps a single add of the round here.
#[derive(Clone, Default)]
struct Rendezvous {
    arrived: Arc<AtomicUsize>,
    expected: Arc<AtomicUsize>,
}

impl Rendezvous {
    /// From now on, adds wait until `count` of them, counting those already answered, arrived.
    fn expect(&self, count: usize) {
        self.expected.store(count, Ordering::SeqCst);
    }

    async fn arrive(&self) {
        self.arrived.fetch_add(1, Ordering::SeqCst);
        let deadline = Instant::now() + PATIENCE;
        while self.arrived.load(Ordering::SeqCst) < self.expected.load(Ordering::SeqCst)
            && Instant::now() < deadline
        {
            actix_rt::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

#[post("/cart/add/{item}")]
async fn add(
    session: Session,
    item: web::Path<String>,
    rendezvous: web::Data<Rendezvous>,
) -> Result<HttpResponse, SessionError> {
    session.insert(
        format!("{ADDED}{}", uuid::Uuid::new_v4()),
        item.into_inner(),
    )?;
    rendezvous.arrive().await;
    Ok(HttpResponse::NoContent().finish())
}

#[get("/cart")]
async fn show(session: Session) -> Result<HttpResponse, SessionError> {
    let mut items = BTreeMap::<String, u32>::new();
    for key in session
        .entries()
        .into_keys()
        .filter(|key| key.starts_with(ADDED))
    {
        if let Some(item) = session.get::<String>(&key)? {
            *items.entry(item).or_default() += 1;
        }
    }
    Ok(HttpResponse::Ok().json(items))
}

#[actix_rt::test]
async fn parallel_adds_across_three_instances_are_all_kept_in_memory() {
    every_add_is_kept(MokaStore::new(1_000)).await;
}

#[actix_rt::test]
async fn parallel_adds_across_three_instances_are_all_kept_over_redis() {
    let test = "parallel_adds_across_three_instances_are_all_kept_over_redis";
    let Some(url) = shared::redis_url(test) else {
        return;
    };
    let scratch = RedisScratch::new(&url);
    let store = RedisStore::builder(url)
        .key_prefix(scratch.prefix())
        .build()
        .await
        .expect("connect to Redis");
    every_add_is_kept(store).await;
}

#[actix_rt::test]
async fn parallel_adds_across_three_instances_are_all_kept_over_postgres() {
    let test = "parallel_adds_across_three_instances_are_all_kept_over_postgres";
    let Some(url) = shared::postgres_url(test) else {
        return;
    };
    let (store, _scratch) = PostgresScratch::new(&url).await;
    every_add_is_kept(store).await;
}

/// Starts three instances over `store`, adds an apple to open a session, then sends 30 adds with
/// its cookie at once, spread over the instances, and checks that the cart counts all 31.
async fn every_add_is_kept<S: SessionStore + Clone>(store: S) {
    let key = Key::generate();
    let rendezvous = Rendezvous::default();
    let instances: Vec<_> = (0..INSTANCES)
        .map(|_| {
            // One middleware per instance, as separate processes would build, over one store.
            let sessions = SessionMiddleware::builder(store.clone(), key.clone()).build();
            let rendezvous = web::Data::new(rendezvous.clone());
            actix_test::start(move || {
                App::new()
                    .app_data(rendezvous.clone())
                    .wrap(sessions.clone())
                    .service(add)
                    .service(show)
            })
        })
        .collect();

    let first = instances[0]
        .post("/cart/add/apple")
        .send()
        .await
        .expect("a response");
    let cookie = first
        .cookie("session")
        .expect("the first add opens a session");
    rendezvous.expect(1 + PARALLEL_ADDS);

    let mut expected = BTreeMap::from([("apple".to_owned(), 1)]);
    let adds: Vec<_> = (0..PARALLEL_ADDS)
        .map(|i| {
            // Every instance adds every item.
            let item = ITEMS[i / INSTANCES % ITEMS.len()];
            *expected.entry(item.to_owned()).or_default() += 1;
            let request = instances[i % INSTANCES]
                .post(format!("/cart/add/{item}"))
                .cookie(cookie.clone())
                .send();
            actix_rt::spawn(request)
        })
        .collect();
    for added in adds {
        let added = added.await.expect("the add's task").expect("a response");
        assert!(added.status().is_success(), "{}", added.status());
    }

    let mut shown = instances[1]
        .get("/cart")
        .cookie(cookie)
        .send()
        .await
        .expect("a response");
    let cart: BTreeMap<String, u32> = shown.json().await.expect("the cart as JSON");
    assert_eq!(cart, expected, "every add is kept");
}
