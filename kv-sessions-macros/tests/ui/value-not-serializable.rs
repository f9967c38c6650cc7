use kv_sessions::{SessionKey, SessionKeys};

struct Point {
    x: i32,
    y: i32,
}

#[derive(SessionKeys)]
struct Demo {
    count: SessionKey<u32>,
    position: SessionKey<Point>,
    path: SessionKey<Vec<Point>>,
}

fn main() {}
