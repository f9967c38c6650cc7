//! Redis servers that speak TLS only, each started by the test that needs it with certificates
//! made for that test: a [`TestCa`] of the test's own signs the server's certificate, so that a
//! test can trust it, trust another CA, or reach the server under a name its certificate lacks.
//!
//! [`TlsRedisCluster`] joins three such servers into a Redis Cluster whose nodes speak TLS to
//! clients and to each other.
//!
//! They need `redis-server` (and, for a cluster, `redis-cli`) on `PATH` (a build with TLS, as Debian's and Redis' own are). A test
//! that starts one skips, saying so on stderr, where `KV_SESSIONS_REDIS_URL` is unset, as the
//! other Redis tests do; under `CI=true` it runs, and fails where `redis-server` is missing.

use std::io::Read as _;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::certificates::{ServerCertificate, TestCa};
use crate::shared;

/// How long a server may take to start listening, and a cluster to serve every slot.
const START_PATIENCE: Duration = Duration::from_secs(10);

/// How many masters a [`TlsRedisCluster`] has.
const MASTERS: usize = 3;

/// The names on a cluster node's certificate: the one the tests reach seed nodes under, and the
/// address each node announces in `CLUSTER SLOTS` and `MOVED`, which the client then checks.
const CLUSTER_NODE_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// Whether a [`TlsRedis`] asks clients for a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCertificates {
    /// Any client may connect (`tls-auth-clients no`).
    NotAsked,
    /// Only a client with a certificate the server's CA signed (`tls-auth-clients yes`).
    Required,
}

/// A `redis-server` on a loopback port of its own that speaks TLS only, stopped when dropped.
pub struct TlsRedis {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl TlsRedis {
    /// Starts a server whose certificate `ca` signs for `host_names`, and waits until it
    /// listens; `None`, after saying so on stderr, where `test` is skipped because
    /// `KV_SESSIONS_REDIS_URL` is unset.
    pub fn start(
        test: &str,
        ca: &TestCa,
        host_names: &[&str],
        clients: ClientCertificates,
    ) -> Option<Self> {
        shared::redis_url(test)?;
        Some(Self::spawn(ca, host_names, clients, Role::Alone))
    }

    /// Starts a server as [`start`](Self::start) does, in `role`, whatever the environment.
    fn spawn(ca: &TestCa, host_names: &[&str], clients: ClientCertificates, role: Role) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let files = ServerFiles::write(dir.path(), ca, &ca.issue(host_names));
        let port = free_port();
        let mut command = redis_server(&files, port, clients);
        if role == Role::ClusterNode {
            cluster_node(&mut command, &files);
        }
        let child = command
            .spawn()
            .expect("redis-server on PATH, which the TLS tests need");
        let server = Self { child, port, dir };
        server.wait_until_listening();
        server
    }

    /// The URL of the server under `host`, with `rediss://`.
    pub fn url(&self, host: &str) -> String {
        format!("rediss://{host}:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A file in the server's own temp dir, for a test to write a CA bundle or the like to.
    pub fn scratch_file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn wait_until_listening(&self) {
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < START_PATIENCE,
                "redis-server did not listen on {} within {START_PATIENCE:?}: {}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        let mut log = String::new();
        let _ = std::fs::File::open(self.dir.path().join("redis.log"))
            .and_then(|mut file| file.read_to_string(&mut log));
        log
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Redis Cluster of three masters on loopback ports of their own, each speaking TLS only, to
/// clients and on the cluster bus, with a certificate from the test's CA for `localhost` and
/// `127.0.0.1`; every node is stopped when it is dropped.
pub struct TlsRedisCluster {
    nodes: Vec<TlsRedis>,
}

impl TlsRedisCluster {
    /// Starts the nodes, joins them with `redis-cli --cluster create`, and waits until every
    /// node serves every slot; `None`, after saying so on stderr, where `test` is skipped because
    /// `KV_SESSIONS_REDIS_URL` is unset.
    pub fn start(test: &str, ca: &TestCa) -> Option<Self> {
        shared::redis_url(test)?;
        let spawn = || {
            TlsRedis::spawn(
                ca,
                &CLUSTER_NODE_NAMES,
                ClientCertificates::NotAsked,
                Role::ClusterNode,
            )
        };
        let cluster = Self {
            nodes: (0..MASTERS).map(|_| spawn()).collect(),
        };
        cluster.join();
        cluster.wait_until_every_slot_is_served();
        Some(cluster)
    }

    /// The `rediss://` URLs of the nodes under `host`, to give the store as seed nodes.
    pub fn seeds(&self, host: &str) -> Vec<String> {
        self.nodes.iter().map(|node| node.url(host)).collect()
    }

    /// The port of each node, in the order of [`seeds`](Self::seeds).
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(TlsRedis::port).collect()
    }

    fn join(&self) {
        let mut args = vec!["--cluster".to_owned(), "create".to_owned()];
        args.extend(self.ports().iter().map(|port| format!("127.0.0.1:{port}")));
        args.extend(["--cluster-replicas", "0", "--cluster-yes"].map(str::to_owned));
        let created = self.redis_cli(&args);
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&created.stdout),
            String::from_utf8_lossy(&created.stderr)
        );
    }

    fn wait_until_every_slot_is_served(&self) {
        let started = Instant::now();
        for port in self.ports() {
            let args = ["-p", &port.to_string(), "cluster", "info"].map(str::to_owned);
            while !String::from_utf8_lossy(&self.redis_cli(&args).stdout)
                .contains("cluster_state:ok")
            {
                assert!(
                    started.elapsed() < START_PATIENCE,
                    "the TLS cluster did not serve every slot within {START_PATIENCE:?}: {}",
                    self.nodes[0].log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Runs `redis-cli` over TLS with `args`, trusting the cluster's CA.
    fn redis_cli(&self, args: &[String]) -> Output {
        Command::new("redis-cli")
            .args(["--tls", "--cacert"])
            .arg(self.nodes[0].dir.path().join("ca.pem"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli on PATH, which the TLS cluster tests need")
    }
}

/// Whether a server stands alone or is a node of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Alone,
    ClusterNode,
}

/// Where a server's certificates are.
struct ServerFiles {
    dir: PathBuf,
    ca: PathBuf,
    certificate: PathBuf,
    key: PathBuf,
}

impl ServerFiles {
    fn write(dir: &Path, ca: &TestCa, server: &ServerCertificate) -> Self {
        let files = Self {
            dir: dir.to_owned(),
            ca: dir.join("ca.pem"),
            certificate: dir.join("server.pem"),
            key: dir.join("server.key"),
        };
        std::fs::write(&files.ca, ca.pem()).expect("write the CA");
        std::fs::write(&files.certificate, &server.certificate).expect("write the cert");
        std::fs::write(&files.key, &server.key).expect("write the key");
        files
    }
}

/// The command that starts a server with `files` on `port`, TLS only, keeping nothing on disk.
fn redis_server(files: &ServerFiles, port: u16, clients: ClientCertificates) -> Command {
    let auth_clients = match clients {
        ClientCertificates::NotAsked => "no",
        ClientCertificates::Required => "yes",
    };
    let mut command = Command::new("redis-server");
    command
        .args(["--port", "0", "--bind", "127.0.0.1", "-::1"])
        .args(["--tls-port", &port.to_string()])
        .arg("--tls-cert-file")
        .arg(&files.certificate)
        .arg("--tls-key-file")
        .arg(&files.key)
        .arg("--tls-ca-cert-file")
        .arg(&files.ca)
        .args(["--tls-auth-clients", auth_clients])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(&files.dir)
        .arg("--logfile")
        .arg(files.dir.join("redis.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    command
}

/// Adds to `command` what makes its server a cluster node: cluster mode, TLS on the cluster bus
/// (on a free port of its own, rather than the client port plus 10000, which may be taken or
/// past 65535) and on replication, and a cluster configuration file in the server's own dir.
fn cluster_node(command: &mut Command, files: &ServerFiles) {
    command
        .args(["--cluster-enabled", "yes"])
        .args(["--cluster-port", &free_port().to_string()])
        .args(["--tls-cluster", "yes", "--tls-replication", "yes"])
        .arg("--cluster-config-file")
        .arg(files.dir.join("nodes.conf"));
}

/// A loopback port that nothing listens on now.
fn free_port() -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("a free port");
    listener.local_addr().expect("its address").port()
}
