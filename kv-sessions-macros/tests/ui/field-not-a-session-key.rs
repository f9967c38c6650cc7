use kv_sessions::{SessionKey, SessionKeys};

#[derive(SessionKeys)]
struct Demo {
    count: u32,
    maybe: Option<SessionKey<u32>>,
    pair: SessionKey<u32, u64>,
    bare: SessionKey,
    fine: SessionKey<String>,
}

fn main() {}
