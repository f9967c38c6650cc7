use kv_sessions::{SessionKey, SessionKeys};

#[derive(SessionKeys)]
enum Demo {
    Count { count: SessionKey<u32> },
}

fn main() {}
