mod support;
use support::*;

#[test]
fn scratch() {
    let (report, lines) = run(
        r#"
        answer();
        let r = ask("say:Press a key", #{max_digits: 2});
        say(`you pressed ${r.digits}`);
        fn on_hangup() { log("bye"); }
    "#,
        vec![press("12")],
    );
    println!("{report:?}");
    for l in lines {
        println!("{l}");
    }
    panic!();
}
