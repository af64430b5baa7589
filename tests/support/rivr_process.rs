//! `rivr run` as a child process in a temporary directory: started with a configuration and
//! scripts, found by the addresses it logs, its log kept, killed on drop.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `rivr run`.
pub struct RivrProcess {
    child: Child,
    /// Where FreeSWITCH's outbound sockets connect.
    pub outbound: SocketAddr,
    /// The operations API (and the live view).
    pub api: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    dir: tempfile::TempDir,
}

impl RivrProcess {
    /// rivr with `config` as rivr.yaml, `scripts` (name, text) in `scripts/`, and `env` set, once
    /// it has logged where it listens (the configuration should say `127.0.0.1:0` for both).
    ///
    /// # Panics
    /// When rivr exits or does not say where it listens within a minute; the panic shows its log.
    pub fn start(config: &str, scripts: &[(&str, &str)], env: &[(&str, &str)]) -> RivrProcess {
        RivrProcess::start_logging(Some("info"), config, scripts, env)
    }

    /// [`RivrProcess::start`] with the log filter `log` (`debug`, `trace`, `rivr=debug`) given as
    /// `--log`, or with none (`None`: the configuration's `log.level` decides).
    ///
    /// # Panics
    /// As [`RivrProcess::start`].
    pub fn start_logging(
        log: Option<&str>,
        config: &str,
        scripts: &[(&str, &str)],
        env: &[(&str, &str)],
    ) -> RivrProcess {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("scripts")).expect("mkdir scripts");
        std::fs::write(dir.path().join("rivr.yaml"), config).expect("rivr.yaml");
        for (name, text) in scripts {
            std::fs::write(dir.path().join("scripts").join(name), text).expect("script");
        }
        let mut command = Command::new(env!("CARGO_BIN_EXE_rivr"));
        if let Some(log) = log {
            command.args(["--log", log]);
        }
        let mut child = command
            .args(["--color", "never", "run", "-c"])
            .arg(dir.path().join("rivr.yaml"))
            .current_dir(dir.path())
            .env_remove("RIVR_LOG")
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start rivr run");
        let stderr = child.stderr.take().expect("rivr's stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (found, addresses) = mpsc::channel();
        let lines = log.clone();
        // Read stderr to the end (rivr must never block on a full pipe), noting the addresses.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                for (marker, which) in [
                    ("listening for FreeSWITCH outbound sockets", "outbound"),
                    ("operations API listening", "api"),
                ] {
                    if line.contains(marker) {
                        let _ = found.send((which, addr_in(&line)));
                    }
                }
                lines.lock().expect("log").push(line);
            }
        });
        let mut rivr = RivrProcess { child, outbound: unspecified(), api: unspecified(), log, dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        while rivr.outbound.port() == 0 || rivr.api.port() == 0 {
            if let Ok(Some(status)) = rivr.child.try_wait() {
                panic!("rivr run exited ({status}) before listening:\n{}", rivr.log_text());
            }
            match addresses.recv_timeout(Duration::from_millis(100)) {
                Ok((which, Some(addr))) => {
                    *(if which == "api" { &mut rivr.api } else { &mut rivr.outbound }) = addr
                }
                Ok((which, None)) => panic!("no addr= in rivr's {which} line:\n{}", rivr.log_text()),
                Err(_) if Instant::now() > deadline => {
                    panic!("rivr run did not say where it listens:\n{}", rivr.log_text())
                }
                Err(_) => {}
            }
        }
        rivr
    }

    /// Everything rivr logged so far.
    pub fn log_text(&self) -> String {
        self.log.lock().map(|lines| lines.join("\n")).unwrap_or_default()
    }

    /// The directory rivr runs in (rivr.yaml, scripts/).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Send rivr SIGTERM: it stops taking calls and drains.
    pub fn terminate(&self) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid");
        // SAFETY: a plain signal to our own child process.
        #[allow(unsafe_code)]
        let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(sent, 0, "SIGTERM to rivr");
    }

    /// Kill rivr with SIGKILL, as a crash would (no drain, nothing acknowledged after), and wait
    /// for it to exit.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `http://<api>` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.api)
    }
}

impl Drop for RivrProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- rivr run's log ----\n{}", self.log_text());
        }
    }
}

/// The `addr=<ip:port>` of a text log line, or the `"addr":"<ip:port>"` of a JSON one.
fn addr_in(line: &str) -> Option<SocketAddr> {
    let (marker, end) = if line.contains("\"addr\":\"") { ("\"addr\":\"", '"') } else { ("addr=", ' ') };
    let start = line.find(marker)? + marker.len();
    let value: String = line[start..].chars().take_while(|c| *c != end && !c.is_whitespace()).collect();
    value.trim_matches('"').parse().ok()
}

fn unspecified() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 0))
}
