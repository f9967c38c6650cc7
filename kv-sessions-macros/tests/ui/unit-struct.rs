use kv_sessions::SessionKeys;

#[derive(SessionKeys)]
struct Demo;

fn main() {}
