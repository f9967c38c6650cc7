use kv_sessions::{SessionKey, SessionKeys};

#[derive(SessionKeys)]
#[session(prefix = "", rename = "demo")]
struct Demo<T> {
    #[session(renam = "a")]
    count: u32,
    #[session(rename = "")]
    name: SessionKey<T>,
    #[session(prefix = "x")]
    other: SessionKey<String>,
}

fn main() {}
