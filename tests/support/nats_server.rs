//! A real `nats-server` (with JetStream) as a child process on a free loopback port, for the
//! NATS tests: started and waited for until it accepts connections, killed on drop, and able to
//! stop and start again on the same port with the same storage, so that a test can take NATS
//! away from a running client and give it back.
//!
//! `.ci/run` installs Debian's `nats-server`; each test starts its own, so nothing needs to run
//! as a service.
#![allow(dead_code)]

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a server may take to accept connections after it was started.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// A `nats-server -js` of this test.
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    starts: usize,
}

impl NatsServer {
    /// A server on a free port, accepting connections.
    ///
    /// # Panics
    /// When `nats-server` is not installed or does not accept connections within 30 s; the
    /// panic shows its log.
    pub fn start() -> NatsServer {
        let mut server = NatsServer::reserve();
        server.start_again();
        server
    }

    /// A free port and a storage directory for a server that is not running yet: for a test of
    /// a client that comes up before NATS does. Start it with [`NatsServer::start_again`].
    pub fn reserve() -> NatsServer {
        let port = free_port();
        let dir = tempfile::tempdir().expect("temporary directory for nats-server");
        NatsServer { child: None, port, dir, starts: 0 }
    }

    /// `nats://127.0.0.1:<port>`, the same across restarts.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The port, the same across restarts.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the server process is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kill the server (as a crash would: no goodbye to its clients) and wait for it to exit.
    /// JetStream's storage stays for the next start.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start the server again on the same port and storage (after [`NatsServer::stop`], or the
    /// first time after [`NatsServer::reserve`]), and wait until it accepts connections.
    ///
    /// # Panics
    /// As [`NatsServer::start`].
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "nats-server is already running on port {}", self.port);
        self.starts += 1;
        let log_path = self.log_path();
        let log = File::create(&log_path).expect("nats-server log file");
        let child = Command::new(binary())
            .args(["-js", "-a", "127.0.0.1", "-p", &self.port.to_string(), "-sd"])
            .arg(self.dir.path().join("jetstream"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start nats-server ({e}): install it (`apt-get install nats-server`)")
            });
        self.child = Some(child);
        self.wait_until_accepting();
    }

    /// What the server logged since its last start.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join(format!("nats-server.{}.log", self.starts))
    }

    /// The server listens for clients only once JetStream is up, so accepting a TCP connection
    /// means it is ready for a test.
    fn wait_until_accepting(&mut self) {
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|child| child.try_wait().ok().flatten()) {
                self.child = None;
                panic!("nats-server exited ({status}) before accepting connections:\n{}", self.log());
            }
            if Instant::now() > deadline {
                self.stop();
                panic!("nats-server did not accept connections within {START_DEADLINE:?}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A loopback port nobody listens on now (the server binds it right after; tests run on one
/// host, so a race for it is unlikely, and would show as a server that does not start).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// `nats-server`: Debian installs it in /usr/sbin, which is not on every user's PATH.
fn binary() -> &'static Path {
    let sbin = Path::new("/usr/sbin/nats-server");
    if sbin.is_file() {
        sbin
    } else {
        Path::new("nats-server")
    }
}
