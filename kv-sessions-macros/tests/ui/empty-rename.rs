use kv_sessions::{SessionKey, SessionKeys};

#[derive(SessionKeys)]
struct Demo {
    #[session(rename = "")]
    count: SessionKey<u32>,
}

fn main() {
    let _ = <Demo as SessionKeys>::KEYS;
}
