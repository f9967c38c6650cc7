use kv_sessions::{SessionKey, SessionKeys};

#[derive(SessionKeys)]
struct TypeParameter<T> {
    value: SessionKey<T>,
}

#[derive(SessionKeys)]
struct Lifetime<'a> {
    value: SessionKey<&'a str>,
}

#[derive(SessionKeys)]
struct WhereClause
where
    u32: Copy,
{
    value: SessionKey<u32>,
}

fn main() {}
