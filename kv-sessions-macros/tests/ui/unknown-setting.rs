use kv_sessions::{SessionKey, SessionKeys};

#[derive(SessionKeys)]
#[session(prefx = "demo")]
struct Demo {
    #[session(renam = "visits")]
    count: SessionKey<u32>,
    #[session(skip, rename = "name")]
    name: SessionKey<String>,
}

fn main() {
    let _ = <Demo as SessionKeys>::KEYS;
}
