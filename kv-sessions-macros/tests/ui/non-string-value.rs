use kv_sessions::{SessionKey, SessionKeys};

#[derive(SessionKeys)]
#[session(prefix = 5)]
struct Demo {
    #[session(rename = visits)]
    count: SessionKey<u32>,
    #[session(rename = b"name")]
    name: SessionKey<String>,
    #[session(rename = concat!("a", "b"))]
    other: SessionKey<String>,
}

fn main() {
    let _ = <Demo as SessionKeys>::KEYS;
}
