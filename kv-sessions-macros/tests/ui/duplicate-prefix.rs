use kv_sessions::{SessionKey, SessionKeys};

#[derive(SessionKeys)]
#[session(prefix = "a")]
#[session(prefix = "b")]
struct Demo {
    count: SessionKey<u32>,
}

fn main() {
    let _ = <Demo as SessionKeys>::KEYS;
}
