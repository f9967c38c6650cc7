use kv_sessions::{SessionKey, SessionKeys};

#[derive(SessionKeys)]
#[session(prefix = "demo")]
struct Demo {
    visits: SessionKey<u32>,
    #[session(rename = "visits")]
    count: SessionKey<u32>,
    #[session(rename = "name")]
    first_name: SessionKey<String>,
    #[session(rename = "name")]
    last_name: SessionKey<String>,
    #[session(rename = "type")]
    kind: SessionKey<String>,
    r#type: SessionKey<String>,
}

fn main() {
    // The impls are still emitted, so using the struct raises no further error.
    let _ = <Demo as SessionKeys>::KEYS;
}
