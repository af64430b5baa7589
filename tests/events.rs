//! The event schema as users meet it: the README's examples are real CloudEvents, and a script's
//! `publish` shows in a scenario's transcript like any verb.

use cloudevents::{AttributesReader, Event};

/// The JSON blocks the README marks as event examples.
fn readme_examples() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let mut examples = Vec::new();
    let mut rest = readme.as_str();
    while let Some(at) = rest.find("<!-- event example -->") {
        rest = &rest[at..];
        let start = rest.find("```json\n").expect("a json block after the marker") + "```json\n".len();
        let end = rest[start..].find("```").expect("the block ends") + start;
        examples.push(rest[start..end].trim().to_string());
        rest = &rest[end..];
    }
    examples
}

#[test]
fn every_event_example_in_the_readme_parses_as_a_cloudevent_of_the_current_schema() {
    let examples = readme_examples();
    let mut types: Vec<String> = Vec::new();
    for example in &examples {
        let event: Event = serde_json::from_str(example).unwrap_or_else(|e| panic!("{e}: {example}"));
        assert_eq!(event.specversion().as_str(), "1.0");
        assert!(event.subject().is_some(), "every example has a subject: {example}");
        assert_eq!(event.dataschema().map(ToString::to_string).as_deref(), Some("urn:rivr:events:1"));
        types.push(event.ty().to_string());
    }
    for kind in ["call.started", "call.verb", "call.ended", "script.reloaded", "script.failed"] {
        assert!(types.contains(&format!("dev.rivr.{kind}")), "no example of {kind} in {types:?}");
    }
    assert!(types.iter().any(|t| !t.starts_with("dev.rivr.")), "no example of a published event");
}

#[test]
fn a_published_event_shows_in_the_scenario_transcript_and_a_bad_type_or_oversized_data_is_a_script_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("survey.rhai"),
        "answer();\nlet r = ask(\"say:Score?\", #{max_digits: 1});\npublish(\"survey.completed\", #{score: r.digits});\n\
         try { publish(\"not a type\", #{}); } catch (e) { log(\"warn\", `refused: ${e}`); }\n\
         let blob = \"\"; for i in 0..7000 { blob += \"0123456789\"; }\n\
         try { publish(\"survey.blob\", #{blob: blob}); } catch (e) { log(\"warn\", `too big: ${e}`); }\nhangup();\n",
    )
    .expect("script");
    std::fs::write(
        dir.path().join("survey.test.yaml"),
        "script: survey.rhai\nscenarios:\n  - name: the score goes out\n    steps:\n      - expect: answer\n      \
         - expect: ask\n      - press: \"4\"\n      - expect: publish survey.completed\n      - expect: hangup\n",
    )
    .expect("scenario");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rivr"))
        .arg("test")
        .arg(dir.path().join("survey.test.yaml"))
        .output()
        .expect("rivr test runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("refused: publish: `not a type` is not an event type"), "{text}");
    assert!(
        text.contains("too big: publish: the data is 70011 bytes as JSON, more than the 65536"),
        "{text}"
    );
}
