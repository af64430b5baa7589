//! `rivr new DIR`: a project a new user can run and test in a minute.

use std::path::Path;

const CONFIG: &str = r#"# rivr.yaml: see the README's configuration reference. Check it with `rivr check -c rivr.yaml`.
listen: 127.0.0.1:8084
scripts: scripts

routes:
  - name: main
    script: main.rhai

fallback:
  hangup:
    prompt: "say:Sorry, something went wrong. Please call again later."
"#;

const SCRIPT: &str = r#"// main.rhai: your first flow. Try it: `rivr sim scripts/main.rhai`, then `rivr test scripts`.
answer();
say("Hello, and thank you for calling.");

let choice = ask("say:Press 1 to hear your number, or 2 to talk to someone.", #{timeout: 5000, tries: 2,
                                                                              invalid: "say:Sorry?"});
if choice.digits == "1" {
    say_digits(call_info().caller_id);
} else if choice.digits == "2" {
    let result = dial("user/1000", #{timeout: 20000});
    if result.status != "answered" {
        say("Nobody is available right now.");
    }
}
say("Goodbye.");
hangup();
"#;

const SCENARIOS: &str = r#"# Scenarios for main.rhai: `rivr test scripts`
script: main.rhai
call: { from: "5551234", to: "1000" }

scenarios:
  - name: caller hears their number
    steps:
      - expect: answer
      - expect: say "Hello*"
      - expect: ask
      - press: "1"
      - expect: say_digits "5551234"
      - expect: say Goodbye.
      - expect: hangup

  - name: nobody answers
    steps:
      - expect: answer
      - expect: say "Hello*"
      - expect: ask
      - press: "2"
      - expect: dial user/1000
        dial: no_answer
      - expect: say "Nobody is available right now."
      - expect: say Goodbye.
      - expect: hangup
"#;

const README: &str = r#"# My rivr flows

- `rivr sim scripts/main.rhai`: call the flow in your terminal (type keys when asked).
- `rivr test scripts`: run the scenarios in `scripts/*.test.yaml`.
- `rivr check -c rivr.yaml`: validate the configuration and every script before shipping.
- `rivr run -c rivr.yaml`: serve FreeSWITCH (dialplan: `<action application="socket" data="127.0.0.1:8084 async full"/>`).
"#;

/// Create a project in `dir`.
///
/// # Errors
/// If `dir` exists and is not empty, or a file can't be written.
pub fn create(dir: &Path) -> std::io::Result<()> {
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("{} exists and is not empty: choose a new directory", dir.display()),
        ));
    }
    std::fs::create_dir_all(dir.join("scripts"))?;
    std::fs::write(dir.join("rivr.yaml"), CONFIG)?;
    std::fs::write(dir.join("scripts/main.rhai"), SCRIPT)?;
    std::fs::write(dir.join("scripts/main.test.yaml"), SCENARIOS)?;
    std::fs::write(dir.join("README.md"), README)?;
    Ok(())
}
