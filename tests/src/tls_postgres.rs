//! A PostgreSQL server of the tests' own that speaks TLS only, with a certificate for
//! `localhost` from a [`TestCa`]: so that a test can connect under `verify-full`, reach it by
//! another name (`127.0.0.1`, which the certificate does not carry), and be refused in
//! plaintext.
//!
//! It is started once per test binary, on first use: `initdb` then `postgres`, as the `postgres`
//! user (initdb refuses root), in a temporary directory, on a free loopback port. The server
//! runs under a shell that waits on a pipe from the test process and stops it once that pipe
//! closes, which happens however the process ends (a pass, a panic, an abort), then deletes the
//! directory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::certificates::TestCa;

/// Where Debian installs PostgreSQL 15's server programs.
const BIN: &str = "/usr/lib/postgresql/15/bin";
/// How long the server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the server until its standard input closes, then stops it and removes its directory.
/// Arguments: the server program, the data directory, the port, the directory of the
/// certificates and the socket.
const SUPERVISOR: &str = r#"
"$1" -D "$2" -p "$3" -c listen_addresses=127.0.0.1 -c unix_socket_directories="$4" \
    -c ssl=on -c ssl_cert_file="$4/server.crt" -c ssl_key_file="$4/server.key" \
    -c fsync=off -c max_connections=200 &
server=$!
cat > /dev/null
kill -INT "$server"
wait "$server"
rm -rf "$4"
"#;

/// The running server, the CA that vouches for it, and what a test needs to reach it.
#[derive(Debug)]
pub struct TlsPostgres {
    port: u16,
    ca: TestCa,
    ca_file: PathBuf,
    /// How long the start took, for whoever wonders whether one per binary is enough.
    started_in: Duration,
    /// Held so that the pipe stays open while this process runs: its end stops the server.
    _lifeline: Mutex<(Child, ChildStdin)>,
}

impl TlsPostgres {
    /// The server of this test binary, started on first use.
    pub fn shared() -> &'static Self {
        static SERVER: OnceLock<TlsPostgres> = OnceLock::new();
        SERVER.get_or_init(Self::start)
    }

    /// A URL to its `postgres` database as the `postgres` user, at `host` (`localhost`, the
    /// name its certificate carries, or `127.0.0.1`, which it does not), with `query` after
    /// a `?` where there is one.
    pub fn url(&self, host: &str, query: &str) -> String {
        let url = format!("postgres://postgres@{host}:{}/postgres", self.port);
        if query.is_empty() {
            url
        } else {
            format!("{url}?{query}")
        }
    }

    /// The CA that issued the server's certificate.
    pub fn ca(&self) -> &TestCa {
        &self.ca
    }

    /// That CA's certificate, in a PEM file.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// How long `initdb` and the start took.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    fn start() -> Self {
        let began = Instant::now();
        let dir = tempfile::Builder::new()
            .prefix("kv-sessions-tls-postgres")
            .tempdir()
            .expect("a directory for the server")
            .keep();
        let ca = TestCa::new("kv-sessions tests: PostgreSQL CA");
        let ca_file = ca.write_to(&dir, "ca.pem");
        let issued = ca.issue(&["localhost"]);
        std::fs::write(dir.join("server.crt"), &issued.certificate).expect("write the cert");
        std::fs::write(dir.join("server.key"), &issued.key).expect("write the key");
        run(Command::new("chown").args(["-R", "postgres:"]).arg(&dir));
        run(Command::new("chmod").arg("600").arg(dir.join("server.key")));
        let data = dir.join("data");
        run(as_postgres(&format!("{BIN}/initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]));
        std::fs::write(
            data.join("pg_hba.conf"),
            "hostssl all all 127.0.0.1/32 trust\n",
        )
        .expect("write pg_hba.conf");
        let port = free_port();
        let mut child = as_postgres("sh")
            .args(["-c", SUPERVISOR, "supervisor", &format!("{BIN}/postgres")])
            .arg(&data)
            .arg(port.to_string())
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start postgres");
        let mut lifeline = child.stdin.take().expect("the server's stdin");
        lifeline.flush().expect("the pipe to the server");
        wait_until_ready(port);
        Self {
            port,
            ca,
            ca_file,
            started_in: began.elapsed(),
            _lifeline: Mutex::new((child, lifeline)),
        }
    }
}

fn as_postgres(program: &str) -> Command {
    let mut command = Command::new("runuser");
    command.args(["-u", "postgres", "--", program]);
    command
}

fn run(command: &mut Command) {
    let output = command.output().expect("run a set-up command");
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A loopback port nothing listens on now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// Waits until the server answers on `port`; `pg_isready` counts a refusal by `pg_hba.conf` as
/// an answer, which is all a plaintext probe can get here.
fn wait_until_ready(port: u16) {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let ready = Command::new(format!("{BIN}/pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
            .status()
            .is_ok_and(|status| status.success());
        if ready {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "PostgreSQL did not start on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
