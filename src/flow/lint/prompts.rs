//! `missing-prompt`: a prompt file that is not in the sound directory.
//!
//! Runs only when a sound directory is configured (`sounds.prefix`, read by `rivr check -c`) and
//! exists on the machine running the check. A relative prompt file is looked up as FreeSWITCH
//! does: `<prefix>/<path>`, or in the sample-rate folder of its directory
//! (`<prefix>/ivr/8000/welcome.wav` for `ivr/welcome.wav`); a name without an extension matches
//! any extension. Absolute paths, variables (`${…}`), tones, URLs and speech are not files here.

use std::path::Path;

use rhai::{Expr, Stmt};

use super::{Finding, Rule};
use crate::call::Prompt;
use crate::flow::syntax::{self, Child, Parsed};
use crate::flow::verbs::{self, Callee, Shows};

/// The sample-rate folders FreeSWITCH looks in.
const RATES: [&str; 4] = ["8000", "16000", "32000", "48000"];

pub(super) fn check(parsed: &Parsed, sounds: &Path, findings: &mut Vec<Finding>) {
    let bodies = std::iter::once(&parsed.body).chain(parsed.functions.iter().map(|f| &f.body));
    for body in bodies {
        for stmt in body {
            syntax::visit_stmt(stmt, &mut |child| {
                let call = match child {
                    Child::Stmt(Stmt::FnCall(call, _)) => call,
                    Child::Expr(Expr::FnCall(call, _)) => call,
                    _ => return,
                };
                let Callee::Verb(verb, name) = verbs::callee(parsed, call) else { return };
                let mut prompts: Vec<&Expr> = Vec::new();
                if let Shows::Prompt(index) = verb.shows {
                    match call.args.get(index) {
                        Some(Expr::Array(items, _)) => prompts.extend(items.iter()),
                        Some(other) => prompts.push(other),
                        None => {}
                    }
                }
                if let Some((index, _)) = verb.options {
                    for (key, _, value) in
                        call.args.get(index).and_then(syntax::map_entries).into_iter().flatten()
                    {
                        if verb.prompt_options.contains(&key) {
                            prompts.push(value);
                        }
                    }
                }
                for prompt in prompts {
                    let Some(text) = syntax::string(prompt) else { continue };
                    let Prompt::File(file) = Prompt::parse(text) else { continue };
                    if file.starts_with('/') || file.contains("${") || file.is_empty() || found(sounds, &file)
                    {
                        continue;
                    }
                    findings.push(Finding::new(
                        Rule::MissingPrompt,
                        syntax::place(prompt.start_position()),
                        format!(
                            "{name}: prompt file `{file}` is not in the sound directory {} (sounds.prefix), nor \
                             in a sample-rate folder of it",
                            sounds.display()
                        ),
                        "add the file to the sound directory, or correct its name".into(),
                    ));
                }
            });
        }
    }
}

/// Whether the prompt file `file` is in the sound directory.
fn found(sounds: &Path, file: &str) -> bool {
    let path = Path::new(file);
    let (dir, name) = (path.parent().unwrap_or(Path::new("")), path.file_name().unwrap_or_default());
    let mut places = vec![sounds.join(dir)];
    places.extend(RATES.iter().map(|rate| sounds.join(dir).join(rate)));
    places.iter().any(|place| {
        if path.extension().is_some() {
            place.join(name).is_file()
        } else {
            // No extension: FreeSWITCH picks the format; any file of that name will do.
            std::fs::read_dir(place).into_iter().flatten().flatten().any(|entry| {
                let entry = entry.path();
                entry.file_stem() == Some(name) && entry.is_file()
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use std::fs;

    use crate::flow::lint::tests::warnings_with;
    use crate::flow::lint::Settings;

    #[test]
    fn a_prompt_file_missing_from_the_sound_directory_is_reported() {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::create_dir_all(dir.path().join("ivr/8000")).expect("dirs");
        fs::write(dir.path().join("ivr/8000/welcome.wav"), b"RIFF").expect("write");
        fs::write(dir.path().join("beep.wav"), b"RIFF").expect("write");
        fs::write(dir.path().join("ivr/menu.mp3"), b"ID3").expect("write");
        let settings = Settings { sounds: Some(dir.path().to_path_buf()) };
        let text = "play([\"ivr/welcome.wav\", \"beep.wav\", \"ivr/menu\"]);\n\
                    let r = ask(\"ivr/no-such.wav\", #{invalid: \"ivr/invalid.wav\"});\n\
                    if r.status == \"match\" { play(\"say:Hello\"); play(\"tone_stream://%(100,0,800)\"); play(\"/abs/x.wav\"); }";
        assert_eq!(warnings_with(text, &settings), ["2:13 missing-prompt", "2:43 missing-prompt"]);
    }

    #[test]
    fn without_a_sound_directory_prompts_are_not_checked() {
        assert!(warnings_with("play(\"ivr/no-such.wav\");", &Settings::default()).is_empty());
    }
}
