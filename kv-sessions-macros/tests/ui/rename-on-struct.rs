use kv_sessions::{SessionKey, SessionKeys};

#[derive(SessionKeys)]
#[session(rename = "demo")]
struct Demo {
    count: SessionKey<u32>,
}

fn main() {
    let _ = <Demo as SessionKeys>::KEYS;
}
