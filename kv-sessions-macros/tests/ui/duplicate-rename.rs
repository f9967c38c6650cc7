use kv_sessions::{SessionKey, SessionKeys};

#[derive(SessionKeys)]
struct Demo {
    #[session(rename = "a", rename = "b")]
    count: SessionKey<u32>,
    #[session(rename = "c")]
    #[session(rename = "d")]
    name: SessionKey<String>,
}

fn main() {
    let _ = <Demo as SessionKeys>::KEYS;
}
