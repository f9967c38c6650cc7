use kv_sessions::{SessionKey, SessionKeys};

#[derive(SessionKeys)]
struct Demo(SessionKey<String>);

fn main() {}
