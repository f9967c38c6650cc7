use kv_sessions::{SessionKey, SessionKeys};

#[derive(SessionKeys)]
#[session]
struct Demo {
    #[session = "visits"]
    count: SessionKey<u32>,
    #[session(rename = "name" prefix = "x")]
    name: SessionKey<String>,
}

fn main() {
    let _ = <Demo as SessionKeys>::KEYS;
}
