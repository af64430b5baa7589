//! `rivr run`'s runtime in-process: a configuration and scripts in a temporary directory, the
//! outbound listener on a free port, stopped when dropped.

use std::net::SocketAddr;
use std::sync::Arc;

use rivr::reload::LiveConfig;
use rivr::script::ScriptStore;
use rivr::server::{serve_on, Runtime};

/// A runtime serving FreeSWITCH's outbound sockets on `addr`.
pub struct Server {
    /// Where FreeSWITCH's outbound sockets connect.
    pub addr: SocketAddr,
    /// rivr.yaml and scripts/.
    pub dir: tempfile::TempDir,
    /// The runtime.
    pub runtime: Arc<Runtime>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// A runtime with `config` as rivr.yaml and `scripts` (name, text) in `scripts/`, all of which
/// must compile.
pub async fn start(config: &str, scripts: &[(&str, &str)]) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("scripts")).expect("mkdir");
    std::fs::write(dir.path().join("rivr.yaml"), config).expect("config");
    for (name, text) in scripts {
        std::fs::write(dir.path().join("scripts").join(name), text).expect("script");
    }
    let live = LiveConfig::load(dir.path().join("rivr.yaml")).expect("config loads");
    let snapshot = live.current();
    let (store, problems) = ScriptStore::load(snapshot.config.scripts.as_path(), &snapshot.config.limits);
    assert!(problems.is_empty(), "{problems:?}");
    let runtime = Runtime::new(live, Arc::new(store)).expect("runtime");
    // Bound as `rivr run` binds, with its deep accept queue: a burst of switches connecting at
    // once must not overflow it.
    let listener =
        rivr::switch::freeswitch::outbound::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve_on(listener, runtime.clone(), async {
        let _ = stopped.await;
    }));
    Server { addr, dir, runtime, _stop: stop }
}
