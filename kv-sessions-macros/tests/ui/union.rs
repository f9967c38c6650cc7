use kv_sessions::SessionKeys;

#[derive(SessionKeys)]
union Demo {
    count: u32,
}

fn main() {}
