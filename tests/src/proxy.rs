//! A TCP proxy between a store and its server, which a test can cut or stall to stage an outage.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Passes bytes both ways.
    Forward,
    /// Holds every byte, as a server that hangs: connections stay open and nothing arrives.
    Stall,
    /// Closes every connection and refuses new ones, as a server that went away.
    Cut,
}

/// A proxy on a free loopback port, forwarding to a server, until it is dropped.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
}

impl Proxy {
    /// Starts forwarding from a free loopback port to `target`, on the current runtime.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let (mode, watching) = watch::channel(Mode::Forward);
        actix_rt::spawn(accept(listener, target, watching));
        Self { addr, mode }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Switches to `mode`, for existing connections and new ones.
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.set(Mode::Cut);
    }
}

async fn accept(listener: TcpListener, target: SocketAddr, mode: watch::Receiver<Mode>) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = dropped(mode.clone()) => return,
        };
        let Ok((client, _)) = accepted else { continue };
        if *mode.borrow() == Mode::Cut {
            continue;
        }
        actix_rt::spawn(connect(client, target, mode.clone()));
    }
}

/// Resolves once the proxy is gone.
async fn dropped(mut mode: watch::Receiver<Mode>) {
    while mode.changed().await.is_ok() {}
}

async fn connect(client: TcpStream, target: SocketAddr, mode: watch::Receiver<Mode>) {
    let Ok(server) = TcpStream::connect(target).await else {
        return;
    };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::join!(
        pump(client_read, server_write, mode.clone()),
        pump(server_read, client_write, mode),
    );
}

/// Copies bytes from `from` to `to` while the mode allows, and stops (closing both) on a cut.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut mode: watch::Receiver<Mode>) {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        if !until_forwarding(&mut mode).await {
            return;
        }
        let read = tokio::select! {
            read = from.read(&mut buffer) => read,
            changed = mode.changed() => match changed {
                Ok(()) => continue,
                Err(_) => return,
            },
        };
        let Ok(len @ 1..) = read else { return };
        if !until_forwarding(&mut mode).await || to.write_all(&buffer[..len]).await.is_err() {
            return;
        }
    }
}

/// Waits while the proxy stalls; `false` once it cuts or is dropped.
async fn until_forwarding(mode: &mut watch::Receiver<Mode>) -> bool {
    loop {
        match *mode.borrow_and_update() {
            Mode::Forward => return true,
            Mode::Cut => return false,
            Mode::Stall => {}
        }
        if mode.changed().await.is_err() {
            return false;
        }
    }
}

/// `url` with its host and port replaced by `proxy`: `redis://127.0.0.1:6379/0` through a proxy
/// on port 4000 is `redis://127.0.0.1:4000/0`. User and password stay.
pub fn through(url: &str, proxy: SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let userinfo = authority.rfind('@').map_or("", |at| &authority[..=at]);
    format!("{scheme}://{userinfo}{proxy}{path}")
}

/// The host and port of `url`, resolved.
pub async fn target_of(url: &str) -> SocketAddr {
    let (_, rest) = url.split_once("://").expect("a URL with a scheme");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host_port = authority
        .rfind('@')
        .map_or(authority, |at| &authority[at + 1..]);
    tokio::net::lookup_host(host_port)
        .await
        .expect("resolve the store's host")
        .next()
        .expect("an address for the store's host")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// An echo server on a free port.
    async fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        actix_rt::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                actix_rt::spawn(async move {
                    let (mut read, mut write) = stream.into_split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        addr
    }

    async fn round_trip(stream: &mut TcpStream) -> Option<Vec<u8>> {
        stream.write_all(b"ping").await.ok()?;
        let mut reply = [0; 4];
        let read = tokio::time::timeout(Duration::from_millis(300), stream.read_exact(&mut reply));
        read.await.ok()?.ok()?;
        Some(reply.to_vec())
    }

    #[actix_rt::test]
    async fn it_forwards_stalls_and_cuts_on_command() {
        let proxy = Proxy::start(echo().await).await;
        let mut stream = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(round_trip(&mut stream).await.as_deref(), Some(&b"ping"[..]));

        proxy.set(Mode::Stall);
        assert_eq!(
            round_trip(&mut stream).await,
            None,
            "nothing passes a stall"
        );
        proxy.set(Mode::Forward);
        let mut held = [0; 4];
        stream
            .read_exact(&mut held)
            .await
            .expect("the held bytes arrive");

        proxy.set(Mode::Cut);
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut rest));
        assert!(closed.await.is_ok(), "a cut closes the connection");

        proxy.set(Mode::Forward);
        let mut again = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(round_trip(&mut again).await.as_deref(), Some(&b"ping"[..]));
    }

    #[test]
    fn urls_are_pointed_at_the_proxy() {
        let proxy: SocketAddr = "127.0.0.1:4000".parse().expect("addr");
        assert_eq!(
            through("redis://127.0.0.1:6379", proxy),
            "redis://127.0.0.1:4000"
        );
        assert_eq!(
            through("postgres://postgres:pw@127.0.0.1:5432/test?x=1", proxy),
            "postgres://postgres:pw@127.0.0.1:4000/test?x=1"
        );
    }
}
