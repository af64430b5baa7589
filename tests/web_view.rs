//! The live web view end to end, in a real headless Chromium driven over WebDriver: `rivr run`
//! with the operations API serves the page, the fake FreeSWITCH places calls, and the page shows
//! them appear, change verb and end, hangs one up with its two-step button, lists the scripts
//! (one with its compile error) and a call's script error, and keeps the counters current; it
//! asks for the API token when one is configured, and says when the stream drops and reconnects.
//!
//! Needs `chromedriver` and Chromium (Debian: `apt-get install chromium chromium-driver`). Without
//! them the test fails, unless `RIVR_SKIP_BROWSER_TESTS=1`. The screenshot it takes while two
//! calls are live is written to `target/web-view.png`.

mod support;

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use support::fake_freeswitch::{self as fake, CallLog, Scenario};
use support::rivr_process::RivrProcess;

/// How long any one thing may take to show up on the page before the test gives up.
const PATIENCE: Duration = Duration::from_secs(20);

/// rivr.yaml: the API on `api` (`127.0.0.1:0`: any free port), with `token` if given; a route
/// per script.
fn config(api: &str, token: Option<&str>) -> String {
    let token = token.map(|token| format!("  token: \"{token}\"\n")).unwrap_or_default();
    format!(
        r#"listen: 127.0.0.1:0
api:
  listen: {api}
{token}routes:
  - name: hold
    destination: "1000"
    script: main.rhai
  - name: brief
    destination: "2000"
    script: brief.rhai
  - name: broken
    destination: "3000"
    script: broken.rhai
"#
    )
}

/// Stays up, changing verb, until someone hangs it up (the fake plays each media application
/// for the scenario's `media_time`).
const HOLD: &str = r#"
answer();
sleep(1000);
play("ivr/welcome.wav");
loop {
    sleep(600000);
}
"#;

/// Ends by itself after a prompt and a pause.
const BRIEF: &str = r#"
answer();
play("ivr/thanks.wav");
sleep(1000);
"#;

/// Fails at run time: a script error with its position (line 3, column 16).
const BROKEN: &str = r#"
answer();
let greeting = greeting_for(call_info().caller_id);
"#;

/// Does not compile: the scripts list shows it with its error.
const DRAFT: &str = "answer();\nsay(\"unfinished\";\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_view_shows_calls_appear_change_verb_and_end_and_hangs_one_up() {
    let Some(driver) = ChromeDriver::start() else { return };
    let rivr = start_rivr(&config("127.0.0.1:0", None));
    let page = driver.session().await;
    page.goto(&format!("http://{}/", rivr.api)).await.expect("open the live view");

    wait_text(&page, "#conn", "the stream is live", |t| t.contains("live")).await;
    wait_text(&page, "#active", "no active calls yet", |t| t == "0").await;
    wait_text(&page, "#total", "no calls yet", |t| t == "0").await;
    wait_text(&page, "#scripts", "the scripts, the draft with its compile error", |t| {
        t.contains("main.rhai") && t.contains("brief.rhai") && t.contains("draft.rhai:2:")
    })
    .await;

    // A call whose script fails: the error shows with its position, the call counts as failed.
    let broken = tokio::spawn(fake::call(
        rivr.outbound,
        Scenario { caller: "5550100".into(), destination: "3000".into(), ..Scenario::default() },
    ));
    wait_text(&page, "#errors", "the script error with file:line:col", |t| {
        t.contains("broken.rhai:3:16") && t.contains("greeting_for")
    })
    .await;
    finished(broken, "the failing call").await;
    wait_text(&page, "#failed", "one failed call", |t| t == "1").await;

    // A call that holds: its row appears and follows its verbs.
    let hold = Scenario {
        caller: "5550101".into(),
        destination: "1000".into(),
        media_time: Some(Duration::from_secs(3)),
        ..Scenario::default()
    };
    let held = hold.uuid.clone();
    let hold = tokio::spawn(fake::call(rivr.outbound, hold));
    let held_row = format!(r#"tr[data-uuid="{held}"]"#);
    page.wait().at_most(PATIENCE).for_element(Locator::Css(&held_row)).await.expect("the call's row appears");
    let verb = format!("{held_row} td.verb");
    wait_text(&page, &verb, "the held call plays its prompt", |t| t.contains("play")).await;
    wait_text(&page, &verb, "the held call's verb changes from play to sleep", |t| t.contains("sleep")).await;
    wait_text(&page, &format!("{held_row} td.age"), "the held call's age", |t| t.contains(':')).await;
    wait_text(&page, &held_row, "the row names the caller and the route", |t| {
        t.contains("5550101") && t.contains("hold") && t.contains("main.rhai")
    })
    .await;
    wait_text(&page, "#active", "one active call", |t| t == "1").await;

    // A second call that ends by itself.
    let brief = Scenario {
        caller: "5550102".into(),
        destination: "2000".into(),
        media_time: Some(Duration::from_secs(4)),
        ..Scenario::default()
    };
    let short = brief.uuid.clone();
    let brief = tokio::spawn(fake::call(rivr.outbound, brief));
    let short_row = format!(r#"tr[data-uuid="{short}"]"#);
    page.wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css(&short_row))
        .await
        .expect("the second row appears");
    wait_text(&page, "#active", "two active calls", |t| t == "2").await;

    // The screenshot for the README, while both are live (once the arrival highlight is over
    // and the second call's age has ticked).
    wait_gone(&page, "tr.new", "the rows' arrival highlight").await;
    wait_text(&page, &format!("{short_row} td.age"), "the second call's age ticking", |t| t != "0:00").await;
    let png = page.screenshot().await.expect("screenshot");
    let shot = target_dir().join("web-view.png");
    std::fs::write(&shot, png).unwrap_or_else(|e| panic!("writing {}: {e}", shot.display()));

    // Hang the held call up: the first click only arms the button.
    let button = format!("{held_row} button.hangup");
    page.find(Locator::Css(&button)).await.expect("the hang-up button").click().await.expect("click");
    wait_text(&page, &button, "the button asks for confirmation", |t| t.contains("Confirm")).await;
    assert!(page.find(Locator::Css(&held_row)).await.is_ok(), "one click does not hang up");
    page.find(Locator::Css(&button)).await.expect("the armed button").click().await.expect("click");
    wait_gone(&page, &held_row, "the hung-up call's row").await;
    let hold = finished(hold, "the held call").await;
    assert!(hold.hung_up.is_some(), "rivr hung the held call up: {:?}", hold.apps());

    // The brief call ends by itself.
    wait_gone(&page, &short_row, "the brief call's row").await;
    let brief = finished(brief, "the brief call").await;
    assert!(brief.apps().iter().any(|app| app.contains("thanks.wav")), "{:?}", brief.apps());

    wait_text(&page, "#total", "three calls in all", |t| t == "3").await;
    wait_text(&page, "#active", "no call left", |t| t == "0").await;
    wait_text(&page, "#conn", "still live", |t| t.contains("live")).await;
    page.close().await.expect("end the browser session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_view_asks_for_the_api_token_and_uses_it_for_the_stream_and_hang_ups() {
    const TOKEN: &str = "wall-screen-7f3a";
    let Some(driver) = ChromeDriver::start() else { return };
    let rivr = start_rivr(&config("127.0.0.1:0", Some(TOKEN)));
    let page = driver.session().await;
    page.goto(&format!("http://{}/", rivr.api)).await.expect("open the live view");

    wait_text(&page, "#conn", "the page asks for the token", |t| t.contains("token")).await;
    let form =
        page.wait().at_most(PATIENCE).for_element(Locator::Css("#token-form")).await.expect("token form");
    assert!(form.is_displayed().await.expect("displayed"), "the token form shows");
    submit_token(&page, "not-the-token").await;
    wait_text(&page, "#token-note", "a wrong token is refused", |t| t.contains("refused")).await;
    submit_token(&page, TOKEN).await;
    wait_text(&page, "#conn", "the stream is live with the token", |t| t.contains("live")).await;

    // The token lasts the tab's session: a reload goes live without asking again.
    page.refresh().await.expect("reload");
    wait_text(&page, "#conn", "live again after a reload", |t| t.contains("live")).await;

    // DELETE /calls/{uuid} carries it too.
    let hold = Scenario {
        destination: "1000".into(),
        media_time: Some(Duration::from_secs(3)),
        ..Scenario::default()
    };
    let row = format!(r#"tr[data-uuid="{}"]"#, hold.uuid);
    let hold = tokio::spawn(fake::call(rivr.outbound, hold));
    page.wait().at_most(PATIENCE).for_element(Locator::Css(&row)).await.expect("the call's row appears");
    let button = format!("{row} button.hangup");
    page.find(Locator::Css(&button)).await.expect("hang-up button").click().await.expect("click");
    wait_text(&page, &button, "the button asks for confirmation", |t| t.contains("Confirm")).await;
    page.find(Locator::Css(&button)).await.expect("armed button").click().await.expect("click");
    wait_gone(&page, &row, "the hung-up call's row").await;
    assert!(finished(hold, "the held call").await.hung_up.is_some(), "rivr hung the call up");
    page.close().await.expect("end the browser session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_view_says_when_the_stream_drops_and_reconnects_by_itself() {
    let Some(driver) = ChromeDriver::start() else { return };
    let first = start_rivr(&config("127.0.0.1:0", None));
    let api = first.api;
    let page = driver.session().await;
    page.goto(&format!("http://{api}/")).await.expect("open the live view");
    wait_text(&page, "#conn", "the stream is live", |t| t.contains("live")).await;

    drop(first);
    wait_text(&page, "#conn", "the page says it lost rivr", |t| {
        t.contains("disconnected") && t.contains("reconnecting")
    })
    .await;

    // rivr comes back on the same address: the page reconnects and follows the new node.
    let second = start_rivr(&config(&api.to_string(), None));
    wait_text(&page, "#conn", "live again", |t| t.contains("live")).await;
    let brief = Scenario {
        destination: "2000".into(),
        media_time: Some(Duration::from_secs(2)),
        ..Scenario::default()
    };
    let row = format!(r#"tr[data-uuid="{}"]"#, brief.uuid);
    let brief = tokio::spawn(fake::call(second.outbound, brief));
    page.wait().at_most(PATIENCE).for_element(Locator::Css(&row)).await.expect("a new call's row appears");
    wait_gone(&page, &row, "the ended call's row").await;
    finished(brief, "the call").await;
    page.close().await.expect("end the browser session");
}

// ---- The page ----

/// The text of the first element matching `css`, or None when there is none (or it was just
/// replaced).
async fn text_of(page: &Client, css: &str) -> Option<String> {
    match page.find(Locator::Css(css)).await {
        Ok(element) => element.text().await.ok(),
        Err(CmdError::Standard(e)) if e.error == fantoccini::error::ErrorStatus::NoSuchElement => None,
        Err(e) => panic!("finding {css}: {e}"),
    }
}

/// Wait until the text of `css` satisfies `ok`.
async fn wait_text(page: &Client, css: &str, what: &str, ok: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = text_of(page, css).await;
        if text.as_deref().is_some_and(&ok) {
            return;
        }
        if Instant::now() > deadline {
            panic!("gave up waiting for {what}: {css} reads {text:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Wait until nothing matches `css`.
async fn wait_gone(page: &Client, css: &str, what: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let found = page.find_all(Locator::Css(css)).await.unwrap_or_else(|e| panic!("finding {css}: {e}"));
        if found.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            panic!("gave up waiting for {what} to go: {css} still on the page");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Type `token` into the page's token form and submit it.
async fn submit_token(page: &Client, token: &str) {
    let input =
        page.wait().at_most(PATIENCE).for_element(Locator::Css("#token-input")).await.expect("token input");
    input.send_keys(token).await.expect("type the token");
    page.find(Locator::Css("#token-form button[type=submit]"))
        .await
        .expect("submit")
        .click()
        .await
        .expect("click");
}

/// A fake call's log once it has ended.
async fn finished(call: tokio::task::JoinHandle<CallLog>, what: &str) -> CallLog {
    tokio::time::timeout(PATIENCE, call)
        .await
        .unwrap_or_else(|_| panic!("{what} did not end"))
        .unwrap_or_else(|e| panic!("{what}: the fake switch failed: {e}"))
}

fn target_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is <target>/tmp.
    Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("the target directory").to_path_buf()
}

// ---- rivr ----

/// `rivr run` with the test's scripts and `config`.
fn start_rivr(config: &str) -> RivrProcess {
    RivrProcess::start(
        config,
        &[("main.rhai", HOLD), ("brief.rhai", BRIEF), ("broken.rhai", BROKEN), ("draft.rhai", DRAFT)],
        &[],
    )
}

// ---- The browser ----

/// `chromedriver` on a free port, in a process group of its own so the browsers it starts go
/// with it; killed on drop.
struct ChromeDriver {
    child: Child,
    port: u16,
    /// Chromium's profile: without one of our own it leaves a directory in /tmp per session.
    profile: tempfile::TempDir,
}

impl ChromeDriver {
    /// The driver, or None when browser tests are skipped (`RIVR_SKIP_BROWSER_TESTS=1`).
    ///
    /// # Panics
    /// When chromedriver is not installed (and the tests are not skipped).
    fn start() -> Option<ChromeDriver> {
        if std::env::var("RIVR_SKIP_BROWSER_TESTS").is_ok_and(|v| v == "1") {
            eprintln!("RIVR_SKIP_BROWSER_TESTS=1: the live view's browser test is skipped");
            return None;
        }
        let Some(program) = find_program("chromedriver") else {
            panic!(
                "chromedriver not found on PATH: the live view's browser test needs Chromium and its \
                 WebDriver (Debian/Ubuntu: `apt-get install chromium chromium-driver`); set \
                 RIVR_SKIP_BROWSER_TESTS=1 to skip it"
            );
        };
        let port = {
            let probe = TcpListener::bind("127.0.0.1:0").expect("a free port");
            probe.local_addr().expect("port").port()
        };
        let child = Command::new(&program)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
        let profile = tempfile::tempdir().expect("a profile directory");
        let mut driver = ChromeDriver { child, port, profile };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = driver.child.try_wait() {
                panic!("chromedriver exited ({status}) before listening on port {port}");
            }
            assert!(Instant::now() < deadline, "chromedriver did not listen on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(driver)
    }

    /// A headless Chromium session.
    async fn session(&self) -> Client {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--window-size=1400,900",
                    format!("--user-data-dir={}", self.profile.path().display()),
                ],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "no Chromium session from chromedriver ({e}); is Chromium installed at \
                     /usr/bin/chromium (`apt-get install chromium chromium-driver`)?"
                )
            })
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        // The driver leads its own process group: end the browser processes with it.
        if let Ok(pgid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill(2) takes no pointers; -pgid names the group this test created.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `name` on PATH (or in /usr/bin and /usr/lib/chromium, where Debian puts it).
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/lib/chromium")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}
