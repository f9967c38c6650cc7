use kv_sessions::{SessionKey, SessionKeys};

#[derive(SessionKeys)]
struct Demo {
    #[session(prefix = "demo")]
    count: SessionKey<u32>,
}

fn main() {
    let _ = <Demo as SessionKeys>::KEYS;
}
