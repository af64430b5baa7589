//! The Event Socket's protocol literals, in one place.
//!
//! Header names, content types, command words and event names as FreeSWITCH 1.10 writes and
//! reads them (`mod_event_socket.c`, `switch_event.c`, `switch_ivr.c`). Every other module of the
//! codec refers to these names instead of repeating the strings, so a typo is a compile error and
//! a reader can see the whole vocabulary at a glance. This module knows nothing of Rhai or of the
//! call model.

// ---- Content types (the `Content-Type` header of a frame) ----

/// The first frame of an inbound connection: FreeSWITCH waits for `auth <password>`.
pub const CONTENT_TYPE_AUTH_REQUEST: &str = "auth/request";
/// The reply to every command except `api`; its result is in `Reply-Text`.
pub const CONTENT_TYPE_COMMAND_REPLY: &str = "command/reply";
/// The reply to `api`; the result is the body.
pub const CONTENT_TYPE_API_RESPONSE: &str = "api/response";
/// An event serialized as URL-encoded header lines (`event plain ...`, `myevents`).
pub const CONTENT_TYPE_EVENT_PLAIN: &str = "text/event-plain";
/// An event serialized as one JSON object (`event json ...`).
pub const CONTENT_TYPE_EVENT_JSON: &str = "text/event-json";
/// An event serialized as XML (`event xml ...`).
pub const CONTENT_TYPE_EVENT_XML: &str = "text/event-xml";
/// The socket is about to close, or the controlled channel is gone (see `Content-Disposition`).
pub const CONTENT_TYPE_DISCONNECT_NOTICE: &str = "text/disconnect-notice";
/// A log line, after the client sent `log <level>`.
pub const CONTENT_TYPE_LOG_DATA: &str = "log/data";
/// The connection was refused by the ACL before any authentication.
pub const CONTENT_TYPE_RUDE_REJECTION: &str = "text/rude-rejection";
/// The content type a `sendmsg` body must carry for FreeSWITCH to use it as the app argument.
pub const CONTENT_TYPE_TEXT_PLAIN: &str = "text/plain";

// ---- Frame header names ----

/// Names the kind of frame. In the outbound `connect` reply it comes near the end, not first.
pub const HEADER_CONTENT_TYPE: &str = "Content-Type";
/// The exact byte length of the body that follows the blank line.
pub const HEADER_CONTENT_LENGTH: &str = "Content-Length";
/// The result line of a `command/reply` (`+OK ...` or `-ERR ...`).
pub const HEADER_REPLY_TEXT: &str = "Reply-Text";
/// On a disconnect notice: `linger` (the channel is gone, the socket stays) or `disconnect`.
pub const HEADER_CONTENT_DISPOSITION: &str = "Content-Disposition";
/// On a `linger` disconnect notice: seconds FreeSWITCH keeps the socket open, `-1` for "until
/// `exit`".
pub const HEADER_LINGER_TIME: &str = "Linger-Time";
/// On an outbound disconnect notice: the uuid of the channel the socket controlled.
pub const HEADER_CONTROLLED_SESSION_UUID: &str = "Controlled-Session-UUID";
/// On a `bgapi` reply and its `BACKGROUND_JOB` event: the job's correlation id.
pub const HEADER_JOB_UUID: &str = "Job-UUID";

// ---- Event header names ----

/// The event's type, e.g. `CHANNEL_EXECUTE_COMPLETE`.
pub const HEADER_EVENT_NAME: &str = "Event-Name";
/// For `CUSTOM` events: the subclass, e.g. `sofia::register`.
pub const HEADER_EVENT_SUBCLASS: &str = "Event-Subclass";
/// The uuid of the channel the event is about.
pub const HEADER_UNIQUE_ID: &str = "Unique-ID";
/// On `CHANNEL_EXECUTE`/`CHANNEL_EXECUTE_COMPLETE`: the `Event-UUID` the app was sent with.
pub const HEADER_APPLICATION_UUID: &str = "Application-UUID";
/// On `CHANNEL_EXECUTE`/`CHANNEL_EXECUTE_COMPLETE`: the application's name.
pub const HEADER_APPLICATION: &str = "Application";
/// On `CHANNEL_EXECUTE_COMPLETE`: what the application reported, e.g. `FILE PLAYED`.
pub const HEADER_APPLICATION_RESPONSE: &str = "Application-Response";
/// On `CHANNEL_HANGUP`/`CHANNEL_HANGUP_COMPLETE`: the cause name, e.g. `NORMAL_CLEARING`.
pub const HEADER_HANGUP_CAUSE: &str = "Hangup-Cause";
/// On `DTMF`: the digit.
pub const HEADER_DTMF_DIGIT: &str = "DTMF-Digit";
/// On every event: when FreeSWITCH made it, in microseconds since the epoch.
pub const HEADER_EVENT_DATE_TIMESTAMP: &str = "Event-Date-Timestamp";
/// On channel events: `early`, `answered`, or `hangup` once the channel is down.
pub const HEADER_ANSWER_STATE: &str = "Answer-State";
/// On channel events: the application's argument after the core expanded its variables.
pub const HEADER_APPLICATION_DATA: &str = "Application-Data";
/// Channel variables appear in events as headers with this prefix (`variable_<name>`).
pub const VARIABLE_PREFIX: &str = "variable_";
/// The JSON member that carries an event's body in `text/event-json`.
pub const JSON_BODY_KEY: &str = "_body";
/// How `switch_event_serialize` writes a multi-valued header's value; JSON carries an array.
pub const ARRAY_PREFIX: &str = "ARRAY::";
/// How `switch_event_serialize` separates the items of a multi-valued header.
pub const ARRAY_SEPARATOR: &str = "|:";

// ---- Values ----

/// The start of a reply that says yes (`+OK`, `+OK bye`, `+OK <uuid>`).
pub const REPLY_OK: &str = "+OK";
/// The start of a reply that says no (`-ERR invalid`, `-ERR NO_ANSWER`).
pub const REPLY_ERR: &str = "-ERR";
/// The start of an API reply to bad arguments.
pub const REPLY_USAGE: &str = "-USAGE";

/// `Answer-State` of a channel that is down.
pub const ANSWER_STATE_HANGUP: &str = "hangup";

/// The Q.850 cause of an ordinary end of call.
pub const CAUSE_NORMAL_CLEARING: &str = "NORMAL_CLEARING";

/// `Content-Disposition` of the notice sent when the controlled channel hangs up under `linger`.
pub const DISPOSITION_LINGER: &str = "linger";
/// `Content-Disposition` of the notice sent right before FreeSWITCH closes the socket.
pub const DISPOSITION_DISCONNECT: &str = "disconnect";

/// `Linger-Time` of a notice after plain `linger`: the socket stays open until `exit`.
pub const LINGER_TIME_UNTIL_EXIT: &str = "-1";
/// Event format word for `event` (`text/event-plain`).
pub const FORMAT_PLAIN: &str = "plain";
/// Event format word for `event` (`text/event-json`).
pub const FORMAT_JSON: &str = "json";
/// Event format word for `event` (`text/event-xml`).
pub const FORMAT_XML: &str = "xml";

// ---- Event names ----

/// A `bgapi` job finished; the body is its output.
pub const EVENT_BACKGROUND_JOB: &str = "BACKGROUND_JOB";
/// The channel's data; also the serialized body of the outbound `connect` reply and `uuid_dump`.
pub const EVENT_CHANNEL_DATA: &str = "CHANNEL_DATA";
/// An application started on the channel.
pub const EVENT_CHANNEL_EXECUTE: &str = "CHANNEL_EXECUTE";
/// An application finished on the channel (correlate with `Application-UUID`).
pub const EVENT_CHANNEL_EXECUTE_COMPLETE: &str = "CHANNEL_EXECUTE_COMPLETE";
/// The channel is hanging up.
pub const EVENT_CHANNEL_HANGUP: &str = "CHANNEL_HANGUP";
/// The channel has hung up, with its final variables.
pub const EVENT_CHANNEL_HANGUP_COMPLETE: &str = "CHANNEL_HANGUP_COMPLETE";
/// A DTMF digit was received on the channel.
pub const EVENT_DTMF: &str = "DTMF";
/// The channel was bridged to another (`bridge`): its talk time starts.
pub const EVENT_CHANNEL_BRIDGE: &str = "CHANNEL_BRIDGE";
/// The bridge ended.
pub const EVENT_CHANNEL_UNBRIDGE: &str = "CHANNEL_UNBRIDGE";

// ---- Client command words (what the app sends) ----

/// Inbound: the password answer to `auth/request`.
pub const CMD_AUTH: &str = "auth";
/// Outbound: must be the first command; the reply carries the channel's data.
pub const CMD_CONNECT: &str = "connect";
/// Outbound: subscribe to the controlled channel's events.
pub const CMD_MYEVENTS: &str = "myevents";
/// Outbound: keep the socket open after the channel hangs up (`linger [seconds]`).
pub const CMD_LINGER: &str = "linger";
/// Outbound: undo `linger`.
pub const CMD_NOLINGER: &str = "nolinger";
/// Outbound: resume the dialplan when the socket closes.
pub const CMD_RESUME: &str = "resume";
/// Outbound: read one channel variable; the value comes back as `Reply-Text`.
pub const CMD_GETVAR: &str = "getvar";
/// Ask FreeSWITCH to close the socket (`+OK bye`).
pub const CMD_EXIT: &str = "exit";
/// Subscribe to events: `event plain|json|xml <names...>`.
pub const CMD_EVENT: &str = "event";
/// Unsubscribe from some events.
pub const CMD_NIXEVENT: &str = "nixevent";
/// Unsubscribe from all events.
pub const CMD_NOEVENTS: &str = "noevents";
/// Add or delete an event filter: `filter [delete] <header> [<value>]`.
pub const CMD_FILTER: &str = "filter";
/// The word after `filter` that deletes instead of adding.
pub const FILTER_DELETE: &str = "delete";
/// Run an API command synchronously.
pub const CMD_API: &str = "api";
/// Run an API command in the background; the result comes as `BACKGROUND_JOB`.
pub const CMD_BGAPI: &str = "bgapi";
/// Send log lines of this level and above as `log/data` frames.
pub const CMD_LOG: &str = "log";
/// Stop sending log lines.
pub const CMD_NOLOG: &str = "nolog";
/// Send a message (execute, hangup) to a channel.
pub const CMD_SENDMSG: &str = "sendmsg";

// ---- sendmsg header names (lowercase, as `switch_ivr_parse_event` looks them up) ----

/// What the message asks: `execute` or `hangup`.
pub const SENDMSG_CALL_COMMAND: &str = "call-command";
/// `call-command` value: run an application.
pub const SENDMSG_EXECUTE: &str = "execute";
/// `call-command` value: hang the channel up.
pub const SENDMSG_HANGUP: &str = "hangup";
/// The application to run.
pub const SENDMSG_APP_NAME: &str = "execute-app-name";
/// The application's argument when it fits on one header line.
pub const SENDMSG_APP_ARG: &str = "execute-app-arg";
/// `true`: run the message before the next one is taken from the queue (keeps order).
pub const SENDMSG_EVENT_LOCK: &str = "event-lock";
/// The value FreeSWITCH's `switch_true` reads as yes, for `event-lock`.
pub const SENDMSG_TRUE: &str = "true";
/// Correlation id echoed back as `Application-UUID` on the execute events.
pub const SENDMSG_EVENT_UUID: &str = "Event-UUID";
/// How many times to run the application.
pub const SENDMSG_LOOPS: &str = "loops";
/// The cause for `call-command: hangup`.
pub const SENDMSG_HANGUP_CAUSE: &str = "hangup-cause";
/// Lowercase `content-type`, as the body form of `sendmsg` spells it.
pub const SENDMSG_CONTENT_TYPE: &str = "content-type";
/// Lowercase `content-length`, as the body form of `sendmsg` spells it.
pub const SENDMSG_CONTENT_LENGTH: &str = "content-length";
