use kv_sessions::{SessionKey, SessionKeys};

#[derive(SessionKeys)]
#[session(prefix)]
struct Demo {
    #[session(rename("visits"))]
    count: SessionKey<u32>,
    #[session(rename = )]
    name: SessionKey<String>,
}

fn main() {
    let _ = <Demo as SessionKeys>::KEYS;
}
