use kv_sessions::{SessionKey, SessionKeys};

#[derive(SessionKeys)]
#[session(prefix = "")]
struct Demo {
    count: SessionKey<u32>,
}

fn main() {
    let _ = <Demo as SessionKeys>::KEYS;
}
