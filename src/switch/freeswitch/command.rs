//! Commands the app sends to FreeSWITCH, encoded exactly as `mod_event_socket.c` reads them.
//!
//! A command is a first line (`api status`, `sendmsg <uuid>`), optional `name: value` header
//! lines, a blank line, and for `sendmsg` an optional body framed by `content-length`.
//! FreeSWITCH reads the first line and headers up to the blank line, cuts each line at the first
//! CR or LF, takes a header's value after the first `:` minus leading spaces, and reads a body
//! only after a `content-length` header. So a field holding a line break would smuggle in
//! another header or another command: every field is checked, and the one field that may
//! legitimately hold anything, an application's argument, is sent as a body when it would not
//! survive a header line.
//!
//! This module knows nothing of Rhai or of the call model: mapping a script's verbs to
//! applications belongs to the backend.

use std::fmt::Write as _;

use super::frame::{write_header, EncodeError};
use super::protocol::{
    CMD_API, CMD_AUTH, CMD_BGAPI, CMD_CONNECT, CMD_EVENT, CMD_EXIT, CMD_FILTER, CMD_GETVAR, CMD_LINGER,
    CMD_LOG, CMD_MYEVENTS, CMD_NIXEVENT, CMD_NOEVENTS, CMD_NOLINGER, CMD_NOLOG, CMD_RESUME, CMD_SENDMSG,
    CONTENT_TYPE_TEXT_PLAIN, FILTER_DELETE, FORMAT_JSON, FORMAT_PLAIN, FORMAT_XML, HEADER_JOB_UUID,
    SENDMSG_APP_ARG, SENDMSG_APP_NAME, SENDMSG_CALL_COMMAND, SENDMSG_CONTENT_LENGTH, SENDMSG_CONTENT_TYPE,
    SENDMSG_EVENT_LOCK, SENDMSG_EVENT_UUID, SENDMSG_EXECUTE, SENDMSG_HANGUP, SENDMSG_HANGUP_CAUSE,
    SENDMSG_LOOPS, SENDMSG_TRUE,
};

/// One command from the app to FreeSWITCH.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EslCommand {
    /// `api <command>`: run an API command; the reply is an `api/response`.
    Api(String),
    /// `auth <password>`: answer an inbound connection's `auth/request`.
    Auth(String),
    /// `bgapi <command>`: run an API command in the background. FreeSWITCH makes up a
    /// `Job-UUID` unless one is given; the result comes as a `BACKGROUND_JOB` event.
    BgApi {
        /// The API command and its arguments.
        command: String,
        /// The job id to use, so the caller knows it before the reply.
        job_uuid: Option<String>,
    },
    /// `connect`: the first command on an outbound socket.
    Connect,
    /// `event <format> <names...>`: subscribe to events (`ALL`, `CUSTOM <subclass>`, ...).
    Event {
        /// How the events are to be serialized.
        format: EventFormat,
        /// Event names, sent space-separated.
        events: Vec<String>,
    },
    /// `exit`: ask FreeSWITCH to close the socket.
    Exit,
    /// `filter <header> <value>`: only pass events whose header has this value.
    Filter {
        /// The header name.
        header: String,
        /// The value (may contain blanks: FreeSWITCH takes the rest of the line).
        value: String,
    },
    /// `filter delete <header> [<value>]`.
    FilterDelete {
        /// The header name, or `all`.
        header: String,
        /// The value; without it every filter on the header goes.
        value: Option<String>,
    },
    /// `getvar <name>` (outbound only): the value comes back as `Reply-Text`.
    GetVar(String),
    /// `linger` / `linger <seconds>` (outbound): keep the socket open after hangup, until
    /// `exit` (`None`) or for that many seconds.
    Linger(Option<u32>),
    /// `log <level>`: send log lines as `log/data` frames.
    Log(String),
    /// `myevents` (outbound) or `myevents <uuid>` (inbound): the channel's events only.
    ///
    /// FreeSWITCH 1.10 ignores a format word after the uuid (`myevents <uuid> json` still sends
    /// plain), so none is offered; use `Event` for JSON.
    MyEvents(Option<String>),
    /// `nixevent <names...>`: unsubscribe from some events.
    NixEvent(Vec<String>),
    /// `noevents`: unsubscribe from all events.
    NoEvents,
    /// `nolinger` (outbound): undo `linger`.
    NoLinger,
    /// `nolog`: stop sending log lines.
    NoLog,
    /// `resume` (outbound): go on with the dialplan when the socket closes.
    Resume,
    /// `sendmsg [<uuid>]`: execute an application on, or hang up, a channel.
    SendMsg {
        /// The channel; `None` for the socket's own channel (outbound).
        uuid: Option<String>,
        /// What to do.
        message: SendMsg,
    },
}

impl EslCommand {
    /// Appends the command's wire form to `out`.
    ///
    /// # Errors
    ///
    /// [`EncodeError`] when a field would not survive the trip: a line break or NUL anywhere,
    /// a blank inside a word (uuid, event name, application name), or an empty required field.
    /// Nothing is appended then.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        let result = self.encode_unchecked(out);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    /// The command's wire form as a new buffer (see [`EslCommand::encode`]).
    ///
    /// # Errors
    ///
    /// As [`EslCommand::encode`].
    pub fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        // A `sendmsg` execute is 150 to 300 bytes: one allocation, no regrowing.
        let mut out = Vec::with_capacity(512);
        self.encode(&mut out)?;
        Ok(out)
    }

    fn encode_unchecked(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Self::Api(command) => {
                line_arg(command, "api command")?;
                first_line(out, CMD_API, &[command]);
            }
            Self::Auth(password) => {
                line_arg(password, "password")?;
                first_line(out, CMD_AUTH, &[password]);
            }
            Self::BgApi { command, job_uuid } => {
                line_arg(command, "bgapi command")?;
                first_line(out, CMD_BGAPI, &[command]);
                if let Some(job_uuid) = job_uuid {
                    word(job_uuid, "job uuid")?;
                    write_header(out, HEADER_JOB_UUID, job_uuid);
                }
            }
            Self::Connect => first_line(out, CMD_CONNECT, &[]),
            Self::Event { format, events } => {
                for event in events {
                    word(event, "event name")?;
                }
                let mut args = vec![format.as_str()];
                args.extend(events.iter().map(String::as_str));
                first_line(out, CMD_EVENT, &args);
            }
            Self::Exit => first_line(out, CMD_EXIT, &[]),
            Self::Filter { header, value } => {
                word(header, "filter header")?;
                line_arg(value, "filter value")?;
                first_line(out, CMD_FILTER, &[header, value]);
            }
            Self::FilterDelete { header, value } => {
                word(header, "filter header")?;
                let mut args = vec![FILTER_DELETE, header.as_str()];
                if let Some(value) = value {
                    line_arg(value, "filter value")?;
                    args.push(value);
                }
                first_line(out, CMD_FILTER, &args);
            }
            Self::GetVar(name) => {
                word(name, "variable name")?;
                first_line(out, CMD_GETVAR, &[name]);
            }
            Self::Linger(None) => first_line(out, CMD_LINGER, &[]),
            Self::Linger(Some(seconds)) => {
                first_line(out, CMD_LINGER, &[&seconds.to_string()]);
            }
            Self::Log(level) => {
                word(level, "log level")?;
                first_line(out, CMD_LOG, &[level]);
            }
            Self::MyEvents(uuid) => {
                let args: Vec<&str> = uuid.iter().map(String::as_str).collect();
                for uuid in &args {
                    word(uuid, "uuid")?;
                }
                first_line(out, CMD_MYEVENTS, &args);
            }
            Self::NixEvent(events) => {
                for event in events {
                    word(event, "event name")?;
                }
                let args: Vec<&str> = events.iter().map(String::as_str).collect();
                first_line(out, CMD_NIXEVENT, &args);
            }
            Self::NoEvents => first_line(out, CMD_NOEVENTS, &[]),
            Self::NoLinger => first_line(out, CMD_NOLINGER, &[]),
            Self::NoLog => first_line(out, CMD_NOLOG, &[]),
            Self::Resume => first_line(out, CMD_RESUME, &[]),
            Self::SendMsg { uuid, message } => {
                let args: Vec<&str> = uuid.iter().map(String::as_str).collect();
                for uuid in &args {
                    word(uuid, "uuid")?;
                }
                first_line(out, CMD_SENDMSG, &args);
                return message.encode_headers_and_body(out);
            }
        }
        out.push(b'\n');
        Ok(())
    }
}

/// The format `event` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventFormat {
    /// `text/event-json`.
    Json,
    /// `text/event-plain`.
    Plain,
    /// `text/event-xml`.
    Xml,
}

impl EventFormat {
    /// The word on the wire: `json`, `plain` or `xml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => FORMAT_JSON,
            Self::Plain => FORMAT_PLAIN,
            Self::Xml => FORMAT_XML,
        }
    }
}

/// What a `sendmsg` asks of a channel (its `call-command`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendMsg {
    /// `call-command: execute`: run an application.
    Execute(Execute),
    /// `call-command: hangup`: hang the channel up, with `hangup-cause` if given
    /// (FreeSWITCH defaults to `NORMAL_CLEARING`).
    Hangup {
        /// A cause name such as `NORMAL_CLEARING` or `USER_BUSY`.
        cause: Option<String>,
    },
}

impl SendMsg {
    fn encode_headers_and_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Self::Execute(execute) => execute.encode(out),
            Self::Hangup { cause } => {
                write_header(out, SENDMSG_CALL_COMMAND, SENDMSG_HANGUP);
                if let Some(cause) = cause {
                    word(cause, "hangup cause")?;
                    write_header(out, SENDMSG_HANGUP_CAUSE, cause);
                }
                out.push(b'\n');
                Ok(())
            }
        }
    }
}

/// `call-command: execute`: one application run on a channel.
///
/// The argument goes in an `execute-app-arg` header when it survives one (a single line, no
/// leading blank, at most [`MAX_INLINE_APP_ARG`] bytes); otherwise it is sent as the body with
/// `content-type: text/plain`, which `switch_ivr_parse_event` uses when the header is absent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Execute {
    /// Application name, e.g. `playback`.
    pub app: String,
    /// Its argument string, passed on as is; `None` or empty for none.
    pub arg: Option<String>,
    /// `event-lock: true`: run this before taking the next message off the channel's queue,
    /// so applications run in the order sent.
    pub event_lock: bool,
    /// `Event-UUID`: echoed as `Application-UUID` on the `CHANNEL_EXECUTE` and
    /// `CHANNEL_EXECUTE_COMPLETE` events, which is how a completion is matched to its command.
    pub event_uuid: Option<String>,
    /// `loops`: run the application this many times (`-1`: until the call ends).
    pub loops: Option<i32>,
}

impl Execute {
    /// An application with an argument, no lock, no uuid, one run.
    pub fn new(app: impl Into<String>, arg: impl Into<String>) -> Self {
        Self { app: app.into(), arg: Some(arg.into()), event_lock: false, event_uuid: None, loops: None }
    }

    /// Sets `event-lock`.
    pub fn event_lock(mut self, lock: bool) -> Self {
        self.event_lock = lock;
        self
    }

    /// Sets `Event-UUID`.
    pub fn event_uuid(mut self, uuid: impl Into<String>) -> Self {
        self.event_uuid = Some(uuid.into());
        self
    }

    /// Sets `loops`.
    pub fn loops(mut self, loops: i32) -> Self {
        self.loops = Some(loops);
        self
    }

    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        word(&self.app, "application name")?;
        let arg = self.arg.as_deref().unwrap_or_default();
        if arg.contains('\0') {
            return Err(EncodeError::Nul { field: "application argument" });
        }
        let inline =
            arg.len() <= MAX_INLINE_APP_ARG && !arg.contains(['\r', '\n']) && !arg.starts_with([' ', '\t']);
        write_header(out, SENDMSG_CALL_COMMAND, SENDMSG_EXECUTE);
        write_header(out, SENDMSG_APP_NAME, &self.app);
        if inline && !arg.is_empty() {
            write_header(out, SENDMSG_APP_ARG, arg);
        }
        if let Some(loops) = self.loops {
            write_header(out, SENDMSG_LOOPS, &loops.to_string());
        }
        if self.event_lock {
            write_header(out, SENDMSG_EVENT_LOCK, SENDMSG_TRUE);
        }
        if let Some(uuid) = &self.event_uuid {
            word(uuid, "event uuid")?;
            write_header(out, SENDMSG_EVENT_UUID, uuid);
        }
        if !inline {
            write_header(out, SENDMSG_CONTENT_TYPE, CONTENT_TYPE_TEXT_PLAIN);
            write_header(out, SENDMSG_CONTENT_LENGTH, &arg.len().to_string());
        }
        out.push(b'\n');
        if !inline {
            out.extend_from_slice(arg.as_bytes());
        }
        Ok(())
    }
}

/// The longest application argument sent as a header line; longer ones go as a body.
///
/// FreeSWITCH itself reads header blocks of up to 10 MiB, but its own C client (`esl_execute`)
/// formats the header into a 4 KiB buffer, and a body carries any length exactly. A kilobyte
/// keeps every command line short for logs and captures while covering every ordinary prompt
/// list and TTS sentence.
pub const MAX_INLINE_APP_ARG: usize = 1024;

/// Writes `word args...\n` (the caller ends the command with the blank line).
fn first_line(out: &mut Vec<u8>, command: &str, args: &[&str]) {
    let mut line = String::from(command);
    for arg in args {
        // Writing to a String cannot fail.
        let _ = write!(line, " {arg}");
    }
    out.extend_from_slice(line.as_bytes());
    out.push(b'\n');
}

/// A field that is the rest of a line: anything but empty, a line break or NUL.
fn line_arg(value: &str, field: &'static str) -> Result<(), EncodeError> {
    if value.is_empty() {
        return Err(EncodeError::Empty { field });
    }
    if value.contains(['\r', '\n']) {
        return Err(EncodeError::LineBreak { field });
    }
    if value.contains('\0') {
        return Err(EncodeError::Nul { field });
    }
    Ok(())
}

/// A field that is one space-separated word.
fn word(value: &str, field: &'static str) -> Result<(), EncodeError> {
    line_arg(value, field)?;
    if value.contains([' ', '\t']) {
        return Err(EncodeError::Blank { field });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(command: EslCommand) -> String {
        String::from_utf8(command.to_bytes().expect("encodes")).expect("utf-8")
    }

    #[test]
    fn simple_commands_end_with_a_blank_line() {
        assert_eq!(encoded(EslCommand::Connect), "connect\n\n");
        assert_eq!(encoded(EslCommand::MyEvents(None)), "myevents\n\n");
        assert_eq!(encoded(EslCommand::Linger(None)), "linger\n\n");
        assert_eq!(encoded(EslCommand::Linger(Some(3))), "linger 3\n\n");
        assert_eq!(encoded(EslCommand::Exit), "exit\n\n");
        assert_eq!(encoded(EslCommand::NoEvents), "noevents\n\n");
        assert_eq!(encoded(EslCommand::NoLinger), "nolinger\n\n");
        assert_eq!(encoded(EslCommand::Resume), "resume\n\n");
        assert_eq!(encoded(EslCommand::NoLog), "nolog\n\n");
    }

    #[test]
    fn bgapi_with_a_job_uuid_sends_it_as_a_header() {
        let command = EslCommand::BgApi { command: "status".into(), job_uuid: Some("d8c7f-1".into()) };
        assert_eq!(encoded(command), "bgapi status\nJob-UUID: d8c7f-1\n\n");
    }

    #[test]
    fn execute_with_loops_and_a_target_uuid() {
        let command = EslCommand::SendMsg {
            uuid: Some("abc".into()),
            message: SendMsg::Execute(Execute::new("playback", "beep.wav").loops(2)),
        };
        assert_eq!(
            encoded(command),
            "sendmsg abc\ncall-command: execute\nexecute-app-name: playback\n\
             execute-app-arg: beep.wav\nloops: 2\n\n"
        );
    }

    #[test]
    fn multi_line_argument_is_sent_as_a_text_plain_body() {
        let arg = "line one\nline two";
        let command = EslCommand::SendMsg {
            uuid: None,
            message: SendMsg::Execute(Execute::new("speak", arg).event_lock(true).event_uuid("u1")),
        };
        assert_eq!(
            encoded(command),
            "sendmsg\ncall-command: execute\nexecute-app-name: speak\nevent-lock: true\n\
             Event-UUID: u1\ncontent-type: text/plain\ncontent-length: 17\n\nline one\nline two"
        );
    }

    #[test]
    fn long_argument_is_sent_as_a_body() {
        let arg = "x".repeat(MAX_INLINE_APP_ARG + 1);
        let bytes =
            EslCommand::SendMsg { uuid: None, message: SendMsg::Execute(Execute::new("set", arg.clone())) }
                .to_bytes()
                .expect("encodes");
        let text = String::from_utf8(bytes).expect("utf-8");
        assert!(!text.contains(SENDMSG_APP_ARG));
        assert!(text.ends_with(&format!("content-length: {}\n\n{arg}", arg.len())));

        let fits = "x".repeat(MAX_INLINE_APP_ARG);
        let text =
            encoded(EslCommand::SendMsg { uuid: None, message: SendMsg::Execute(Execute::new("set", fits)) });
        assert!(text.contains(SENDMSG_APP_ARG));
    }

    #[test]
    fn argument_with_a_leading_blank_is_sent_as_a_body() {
        let text = encoded(EslCommand::SendMsg {
            uuid: None,
            message: SendMsg::Execute(Execute::new("log", " INFO x")),
        });
        assert!(text.ends_with("content-length: 7\n\n INFO x"));
    }

    #[test]
    fn empty_argument_sends_no_arg_header() {
        let mut execute = Execute::new("answer", "");
        execute.arg = None;
        let none = encoded(EslCommand::SendMsg { uuid: None, message: SendMsg::Execute(execute) });
        let empty = encoded(EslCommand::SendMsg {
            uuid: None,
            message: SendMsg::Execute(Execute::new("answer", "")),
        });
        assert_eq!(none, empty);
        assert_eq!(none, "sendmsg\ncall-command: execute\nexecute-app-name: answer\n\n");
    }

    #[test]
    fn line_breaks_in_single_line_fields_are_refused() {
        let smuggle = EslCommand::Api("status\n\nexit".into());
        assert_eq!(smuggle.to_bytes(), Err(EncodeError::LineBreak { field: "api command" }));
        let uuid = EslCommand::SendMsg { uuid: Some("a b".into()), message: SendMsg::Hangup { cause: None } };
        assert_eq!(uuid.to_bytes(), Err(EncodeError::Blank { field: "uuid" }));
        let cause = EslCommand::SendMsg {
            uuid: None,
            message: SendMsg::Hangup { cause: Some("X\nexecute-app-name: y".into()) },
        };
        assert_eq!(cause.to_bytes(), Err(EncodeError::LineBreak { field: "hangup cause" }));
        assert_eq!(
            EslCommand::Api(String::new()).to_bytes(),
            Err(EncodeError::Empty { field: "api command" })
        );
    }

    #[test]
    fn nul_in_an_argument_is_refused_in_either_form() {
        for arg in ["a\0b", "a\nb\0"] {
            let command =
                EslCommand::SendMsg { uuid: None, message: SendMsg::Execute(Execute::new("playback", arg)) };
            assert_eq!(command.to_bytes(), Err(EncodeError::Nul { field: "application argument" }));
        }
    }

    #[test]
    fn failed_encode_appends_nothing() {
        let mut out = b"before".to_vec();
        let command = EslCommand::SendMsg {
            uuid: None,
            message: SendMsg::Execute(Execute::new("playback", "x").event_uuid("bad uuid")),
        };
        assert!(command.encode(&mut out).is_err());
        assert_eq!(out, b"before");
    }
}
