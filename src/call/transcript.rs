//! A call's transcript: each verb the script ran, where from, and what came of it, written the
//! way `rivr sim` prints it. The simulator's journal, the live view's call detail and call traces
//! all hold these.

use std::fmt;
use std::time::Duration;

use crate::call::{CallError, Command, Origin, Outcome, Prompt};

/// One executed command with its outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Time since the call started (virtual time on the simulator).
    pub at: Duration,
    /// What the script asked for.
    pub command: Command,
    /// Where in the script.
    pub origin: Option<Origin>,
    /// What came of it.
    pub result: Result<Outcome, CallError>,
}

/// A duration as `rivr sim` shows it: `2s`, `1.5s`.
fn ms(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis.is_multiple_of(1000) {
        format!("{}s", millis / 1000)
    } else {
        format!("{:.1}s", duration.as_secs_f64())
    }
}

impl Entry {
    /// The verb's main argument as plain text, for matching in scenarios: the prompts (speech
    /// without its `say:` prefix) joined with `, `, the text, the value, the targets, the
    /// extension, the cause.
    pub fn argument(&self) -> String {
        let prompts = |list: &[Prompt]| list.iter().map(Prompt::text).collect::<Vec<_>>().join(", ");
        match &self.command {
            Command::Answer | Command::PreAnswer | Command::Ring => String::new(),
            Command::Reject(cause) | Command::Hangup(cause) => cause.to_string(),
            Command::Play(list) => prompts(list),
            Command::Say(say) => say.text.clone(),
            Command::SayAs(say) => say.value.clone(),
            Command::Ask(ask) => prompts(&ask.prompts),
            Command::Dial(dial) => dial.targets.join(if dial.sequential { " | " } else { ", " }),
            Command::Record(record) => record.name.clone(),
            Command::Transfer(transfer) => match &transfer.context {
                Some(context) => format!("{} {context}", transfer.extension),
                None => transfer.extension.clone(),
            },
            Command::GetVar(name) => name.clone(),
            Command::SetVar { name, value } => format!("{name}={value}"),
            Command::SendDtmf(digits) => digits.to_string(),
            Command::Sleep(duration) => duration.as_millis().to_string(),
            Command::Execute { app, args } => format!("{app} {args}").trim_end().to_string(),
            Command::Http(request) => request.url.clone(),
            Command::Log(line) => line.text.clone(),
            Command::Publish(publication) => publication.kind.to_string(),
        }
    }
}

/// A command as the transcript shows it, without its outcome: `ask: ivr/menu.wav`.
pub struct Described<'a>(pub &'a Command);

impl fmt::Display for Described<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let command = self.0;
        let verb = command.verb();
        match command {
            Command::Answer | Command::PreAnswer | Command::Ring => write!(f, "{verb}")?,
            Command::Reject(cause) | Command::Hangup(cause) => write!(f, "{verb}: {cause}")?,
            Command::Play(prompts) => write!(f, "{verb}: {}", ShownPrompts(prompts))?,
            Command::Say(say) => write!(f, "{verb}: {:?}", say.text)?,
            Command::SayAs(say) => write!(f, "{verb}: {}", say.value)?,
            Command::Ask(ask) => write!(f, "{verb}: {}", ShownPrompts(&ask.prompts))?,
            Command::Dial(dial) => {
                let joiner = if dial.sequential { " | " } else { ", " };
                write!(f, "{verb}: ")?;
                for (n, target) in dial.targets.iter().enumerate() {
                    if n > 0 {
                        f.write_str(joiner)?;
                    }
                    f.write_str(target)?;
                }
            }
            Command::Record(record) => {
                write!(f, "{verb}: {} (max {})", record.name, ms(record.max_duration))?
            }
            Command::Transfer(transfer) => match &transfer.context {
                Some(context) => write!(f, "{verb}: {} {context}", transfer.extension)?,
                None => write!(f, "{verb}: {}", transfer.extension)?,
            },
            Command::GetVar(name) => write!(f, "{verb}: {name}")?,
            Command::SetVar { name, value } => write!(f, "{verb}: {name}={value}")?,
            Command::SendDtmf(digits) => write!(f, "{verb}: {digits}")?,
            Command::Sleep(duration) => write!(f, "{verb}: {}", ms(*duration))?,
            Command::Execute { app, args } => write!(f, "{verb}: {app} {args}")?,
            Command::Http(request) => write!(f, "{verb}: {} {}", request.method, request.url)?,
            Command::Log(line) => write!(f, "log {}: {}", line.level.as_str(), line.text)?,
            Command::Publish(publication) => write!(f, "{verb}: {} {}", publication.kind, publication.data)?,
        }
        Ok(())
    }
}

/// Prompts as a transcript shows them, joined with `, `: written straight through, as
/// `call.verb` events write a summary for every verb of every call.
struct ShownPrompts<'a>(&'a [Prompt]);

impl fmt::Display for ShownPrompts<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, prompt) in self.0.iter().enumerate() {
            if n > 0 {
                f.write_str(", ")?;
            }
            prompt.shown().fmt(f)?;
        }
        Ok(())
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Described(&self.command).fmt(f)?;
        match &self.result {
            Ok(Outcome::Ask(ask)) => {
                write!(f, " → {}", ask.status.as_str())?;
                if !ask.digits.is_empty() {
                    write!(f, " {:?}", ask.digits)?;
                }
            }
            Ok(Outcome::Dial(dial)) => {
                write!(f, " → {}", dial.status)?;
                if dial.duration > Duration::ZERO {
                    write!(f, " ({})", ms(dial.duration))?;
                }
            }
            Ok(Outcome::Record(record)) => {
                write!(f, " → {} {} ({})", record.status.as_str(), record.path, ms(record.duration))?
            }
            Ok(Outcome::Value(Some(value))) => write!(f, " → {value:?}")?,
            Ok(Outcome::Value(None)) => write!(f, " → unset")?,
            Ok(Outcome::Response(text)) if !text.is_empty() => write!(f, " → {text}")?,
            Ok(Outcome::Http(response)) => write!(f, " → {}", response.status)?,
            Ok(_) => {}
            Err(CallError::Hangup { cause }) => write!(f, " → caller hung up ({cause})")?,
            Err(CallError::Transferred) => write!(f, " → the call was transferred")?,
            Err(error) => write!(f, " → error: {error}")?,
        }
        Ok(())
    }
}
