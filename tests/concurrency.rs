//! Many calls at once: each gets its own answers and nothing leaks between them.

mod support;

use std::sync::Arc;

use rivr::script::runner::Ending;
use support::*;

#[test]
fn a_thousand_concurrent_simulated_calls_all_complete_with_their_own_digits() {
    let rt = Arc::new(runtime());
    let script = compile(
        "pin.rhai",
        r#"answer();
           let pin = ask("say:Enter your PIN", #{min_digits: 4, max_digits: 4});
           let who = call_info().caller_id;
           say(`${who} entered ${pin.digits}`);
           let r = dial("user/" + pin.digits);
           say(r.status);
           menu("say:menu", #{"1": || 1}, #{tries: 1});"#,
    );
    let calls: Vec<_> = (0..1000)
        .map(|i| {
            let rt = rt.clone();
            let script = script.clone();
            std::thread::spawn(move || {
                let mut call =
                    SimCall { actions: vec![press(&format!("{:04}", i)), press("1")], ..SimCall::default() };
                call.info.uuid = format!("call-{i}");
                call.info.caller_id_number = format!("caller{i}");
                (i, run_on(&rt, script, call))
            })
        })
        .collect();
    for handle in calls {
        let (i, (report, lines)) = handle.join().expect("call thread");
        assert_eq!(report.ending, Ending::Completed, "call {i}: {lines:#?}");
        assert_eq!(lines[2], format!(r#"say: "caller{i} entered {i:04}""#), "call {i}");
        assert_eq!(lines[3], format!("dial: user/{i:04} → answered (30s)"), "call {i}");
    }
}
