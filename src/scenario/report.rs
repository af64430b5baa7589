//! Scenario results: readable failures, the summary line, and JUnit XML.

use std::fmt::Write as _;

use crate::scenario::Scenario;

/// Whether a scenario passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every step matched.
    Passed,
    /// Something did not; the message says what and where.
    Failed(String),
}

/// The result of one scenario.
#[derive(Clone, Debug)]
pub struct ScenarioResult {
    /// The scenario's name.
    pub name: String,
    /// Its file.
    pub file: String,
    /// Its line.
    pub line: usize,
    /// The verdict.
    pub outcome: Outcome,
    /// What the flow did, one line per verb, with script positions.
    pub transcript: Vec<String>,
    /// Wall-clock seconds it took to run.
    pub seconds: f64,
}

impl ScenarioResult {
    pub(crate) fn new(scenario: &Scenario, transcript: Vec<String>, seconds: f64) -> Self {
        ScenarioResult {
            name: scenario.name.clone(),
            file: scenario.file.clone(),
            line: scenario.line,
            outcome: Outcome::Passed,
            transcript,
            seconds,
        }
    }

    pub(crate) fn failed(
        scenario: &Scenario,
        message: String,
        transcript: Vec<String>,
        seconds: f64,
    ) -> Self {
        ScenarioResult {
            outcome: Outcome::Failed(message),
            ..ScenarioResult::new(scenario, transcript, seconds)
        }
    }

    /// Whether it passed.
    pub fn passed(&self) -> bool {
        self.outcome == Outcome::Passed
    }

    /// The result as a test runner prints it: one line when it passed; the failure, the step
    /// and the transcript so far when it did not.
    pub fn render(&self) -> String {
        match &self.outcome {
            Outcome::Passed => format!("ok   {}:{}: {}", self.file, self.line, self.name),
            Outcome::Failed(message) => {
                let mut text = format!("FAIL {}:{}: {}\n     {message}\n", self.file, self.line, self.name);
                if self.transcript.is_empty() {
                    text.push_str("     (the flow did nothing)\n");
                } else {
                    text.push_str("     what the flow did:\n");
                    for line in &self.transcript {
                        let _ = writeln!(text, "       {line}");
                    }
                }
                text.trim_end().to_string()
            }
        }
    }
}

/// The closing line: `N passed, N failed`.
pub fn summary(results: &[ScenarioResult]) -> String {
    let passed = results.iter().filter(|r| r.passed()).count();
    format!("{passed} passed, {} failed", results.len() - passed)
}

/// JUnit XML for CI systems: one `<testsuite>` per scenario file.
pub fn junit(results: &[ScenarioResult]) -> String {
    let mut files: Vec<&str> = Vec::new();
    for result in results {
        if !files.contains(&result.file.as_str()) {
            files.push(&result.file);
        }
    }
    let failures = results.iter().filter(|r| !r.passed()).count();
    let total: f64 = results.iter().map(|r| r.seconds).sum();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"rivr\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{total:.3}\">",
        results.len()
    );
    for file in files {
        let cases: Vec<&ScenarioResult> = results.iter().filter(|r| r.file == file).collect();
        let suite_failures = cases.iter().filter(|r| !r.passed()).count();
        let suite_time: f64 = cases.iter().map(|r| r.seconds).sum();
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{suite_failures}\" errors=\"0\" skipped=\"0\" time=\"{suite_time:.3}\">",
            escape(file),
            cases.len()
        );
        for case in cases {
            let _ = write!(
                xml,
                "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\"",
                escape(&case.name),
                escape(file),
                case.seconds
            );
            match &case.outcome {
                Outcome::Passed => xml.push_str("/>\n"),
                Outcome::Failed(message) => {
                    let first = message.lines().next().unwrap_or("");
                    let _ = writeln!(
                        xml,
                        ">\n      <failure message=\"{}\" type=\"ScenarioFailure\">{}</failure>\n    </testcase>",
                        escape(first),
                        escape(&case.render())
                    );
                }
            }
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}
