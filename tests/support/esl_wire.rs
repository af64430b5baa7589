//! The switch's side of the ESL wire, written once for everything that plays FreeSWITCH: the
//! fake FreeSWITCH (outbound), the fake event socket (inbound) and the load generator
//! (`examples/loadgen.rs` includes this file). Frames are written as `mod_event_socket.c` writes
//! them; commands are read as it reads them.
#![allow(dead_code)]

use bytes::BytesMut;

/// An event frame: `Content-Length` first, then `Content-Type` (`text/event-plain` or
/// `text/event-json`), then the body.
pub fn event_frame(content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut frame = format!("Content-Length: {}\nContent-Type: {content_type}\n\n", body.len()).into_bytes();
    frame.extend_from_slice(body);
    frame
}

/// A plain event frame.
pub fn plain_event_frame(body: &[u8]) -> Vec<u8> {
    event_frame("text/event-plain", body)
}

/// A `command/reply` with its `Reply-Text`.
pub fn reply_frame(text: &str) -> Vec<u8> {
    format!("Content-Type: command/reply\nReply-Text: {text}\n\n").into_bytes()
}

/// An `api/response` with its body.
pub fn api_frame(body: &str) -> Vec<u8> {
    let mut frame = format!("Content-Type: api/response\nContent-Length: {}\n\n", body.len()).into_bytes();
    frame.extend_from_slice(body.as_bytes());
    frame
}

/// One command from the app: its first line, its headers and its body (a long `sendmsg`
/// argument travels as a body with `content-length`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// The first line, e.g. `sendmsg` or `api uuid_getvar <uuid> x`.
    pub line: String,
    /// Header lines in order (names as sent).
    pub headers: Vec<(String, String)>,
    /// The body, if it had `content-length`.
    pub body: Option<String>,
}

impl Command {
    /// The command word (`sendmsg`, `api`, `exit`, ...).
    pub fn word(&self) -> &str {
        self.line.split_whitespace().next().unwrap_or_default()
    }

    /// The value of header `name` (ASCII case ignored).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The application argument of a `sendmsg` execute, from the header or the body.
    pub fn app_arg(&self) -> Option<&str> {
        self.header("execute-app-arg").or(self.body.as_deref())
    }

    /// One line describing the command: `app arg` for executions, `hangup CAUSE` for
    /// `call-command: hangup`, the first line otherwise.
    pub fn describe(&self) -> String {
        match self.header("call-command") {
            Some("execute") => {
                let app = self.header("execute-app-name").unwrap_or_default();
                match self.app_arg() {
                    Some(arg) => format!("{app} {arg}"),
                    None => app.to_string(),
                }
            }
            Some("hangup") => format!("hangup {}", self.header("hangup-cause").unwrap_or_default()),
            _ => self.line.clone(),
        }
    }
}

/// Cuts one command off the front of `buf` as FreeSWITCH reads it: blank lines between commands
/// skipped, lines up to a blank line, then `content-length` bytes of body if that header is
/// present. `Ok(None)` until a whole command is buffered.
///
/// # Errors
/// A `content-length` that is not a number.
pub fn take_command(buf: &mut BytesMut) -> Result<Option<Command>, String> {
    let skip = buf.iter().take_while(|&&b| b == b'\n' || b == b'\r').count();
    let _ = buf.split_to(skip);
    let Some((head_end, body_start)) = find_blank_line(buf) else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.lines().map(|line| line.trim_end_matches('\r'));
    let line = lines.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim_start().to_owned()))
        .collect();
    let length = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .map(|(_, value)| value.parse::<usize>())
        .transpose()
        .map_err(|_| "a content-length that is not a number".to_owned())?;
    let total = body_start + length.unwrap_or(0);
    if buf.len() < total {
        return Ok(None);
    }
    let block = buf.split_to(total);
    let body = length.map(|_| String::from_utf8_lossy(&block[body_start..]).into_owned());
    Ok(Some(Command { line, headers, body }))
}

/// Where the header block ends: (end of its text, start of what follows the blank line).
fn find_blank_line(buf: &[u8]) -> Option<(usize, usize)> {
    let mut at = 0;
    while let Some(offset) = buf[at..].iter().position(|&b| b == b'\n') {
        let newline = at + offset;
        let rest = &buf[newline + 1..];
        if rest.first() == Some(&b'\n') {
            return Some((newline, newline + 2));
        }
        if rest.starts_with(b"\r\n") {
            return Some((newline, newline + 3));
        }
        at = newline + 1;
    }
    None
}
