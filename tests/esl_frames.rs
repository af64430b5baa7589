//! The ESL codec against real FreeSWITCH 1.10.12 traffic (`tests/fixtures/esl/`, see its
//! README): every capture decodes the same whole and split, re-encodes to its own bytes, and
//! carries the facts the backend relies on; the command encoder reproduces what the client sent.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use bytes::BytesMut;
use proptest::prelude::*;

use rivr::switch::freeswitch::command::{EslCommand, EventFormat, Execute, SendMsg};
use rivr::switch::freeswitch::event::Event;
use rivr::switch::freeswitch::frame::{
    ContentDisposition, ContentType, Frame, FrameDecoder, FrameLimits, LingerTime,
};
use rivr::switch::freeswitch::fuzz::{decode_in_chunks, fuzz_decode, Decoded};
use rivr::switch::freeswitch::url;

/// Every capture, with the number of frames and of event frames FreeSWITCH sent in it.
const CAPTURES: [(&str, usize, usize); 23] = [
    ("inbound-authfail", 3, 0),
    ("inbound-dial", 158, 151),
    ("inbound-dialhangup", 45, 37),
    ("inbound-dtmfwait-json", 30, 22),
    ("inbound-errors", 28, 21),
    ("inbound-farhangup", 28, 20),
    ("inbound-misc", 53, 27),
    ("inbound-nolinger-originate-race", 20, 13),
    ("inbound-nolinger", 28, 21),
    ("inbound-pagd-all-events", 86, 78),
    ("inbound-record", 39, 32),
    ("inbound-speak", 26, 19),
    ("outbound-dial", 54, 36),
    ("outbound-dialhangup", 28, 18),
    ("outbound-dtmfwait", 25, 15),
    ("outbound-errors", 28, 14),
    ("outbound-farhangup-linger3", 18, 11),
    ("outbound-nolinger-race", 14, 9),
    ("outbound-nolinger", 17, 11),
    ("outbound-pagd-digit3", 33, 20),
    ("outbound-pagd", 34, 21),
    ("outbound-record", 26, 15),
    ("outbound-speak", 20, 11),
];

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/esl/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|err| panic!("reading {path}: {err}"))
}

fn fs2app(capture: &str) -> Vec<u8> {
    fixture(&format!("{capture}.fs2app.raw"))
}

fn app2fs(capture: &str) -> Vec<u8> {
    fixture(&format!("{capture}.app2fs.raw"))
}

/// Decodes a whole capture, which must end cleanly between frames.
fn frames(capture: &str) -> Vec<Frame> {
    let decoded = decode_in_chunks(&fs2app(capture), &[usize::MAX], FrameLimits::default());
    assert_eq!(decoded.error, None, "{capture} did not decode cleanly");
    decoded.frames
}

fn events(frames: &[Frame]) -> Vec<Event> {
    frames
        .iter()
        .filter(|frame| frame.content_type().is_event())
        .map(|frame| Event::from_frame(frame).expect("event frames parse"))
        .collect()
}

fn find_event<'a>(events: &'a [Event], name: &str, pred: impl Fn(&Event) -> bool) -> &'a Event {
    events
        .iter()
        .find(|event| event.name() == Some(name) && pred(event))
        .unwrap_or_else(|| panic!("no matching {name} event"))
}

fn all_captures_concatenated() -> &'static (Vec<u8>, Vec<Frame>) {
    static ALL: OnceLock<(Vec<u8>, Vec<Frame>)> = OnceLock::new();
    ALL.get_or_init(|| {
        let bytes: Vec<u8> = CAPTURES.iter().flat_map(|(name, _, _)| fs2app(name)).collect();
        let decoded = decode_in_chunks(&bytes, &[usize::MAX], FrameLimits::default());
        assert_eq!(decoded.error, None);
        (bytes, decoded.frames)
    })
}

#[test]
fn every_capture_in_the_fixtures_is_replayed_by_these_tests() {
    let dir = format!("{}/tests/fixtures/esl", env!("CARGO_MANIFEST_DIR"));
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .filter_map(|entry| {
            entry.ok()?.file_name().into_string().ok()?.strip_suffix(".fs2app.raw").map(str::to_string)
        })
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = CAPTURES.iter().map(|(name, _, _)| name.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "a capture in tests/fixtures/esl/ is missing from CAPTURES");
}

#[test]
fn every_capture_decodes_the_same_whole_and_byte_by_byte() {
    for (capture, frame_count, event_count) in CAPTURES {
        let bytes = fs2app(capture);
        let whole = decode_in_chunks(&bytes, &[usize::MAX], FrameLimits::default());
        let one_by_one = decode_in_chunks(&bytes, &[1], FrameLimits::default());
        assert_eq!(whole.error, None, "{capture}");
        assert_eq!(whole.frames.len(), frame_count, "{capture}");
        assert_eq!(whole, one_by_one, "{capture}");
        let events = whole.frames.iter().filter(|frame| frame.content_type().is_event()).count();
        assert_eq!(events, event_count, "{capture}");
    }
}

#[test]
fn every_capture_encodes_back_to_its_exact_bytes() {
    for (capture, _, _) in CAPTURES {
        let mut out = Vec::new();
        for frame in frames(capture) {
            frame.encode(&mut out).expect("decoded frames encode");
        }
        assert!(out == fs2app(capture), "{capture} re-encodes differently");
    }
}

#[test]
fn every_event_in_the_captures_parses_and_plain_events_encode_back_exactly() {
    let mut names = BTreeMap::new();
    for (capture, _, _) in CAPTURES {
        for frame in frames(capture) {
            if !frame.content_type().is_event() {
                continue;
            }
            let event = Event::from_frame(&frame).expect("event frames parse");
            let name = event.name().expect("every event has a name").to_owned();
            // Only channel events carry a Unique-ID.
            let global = ["API", "BACKGROUND_JOB", "CUSTOM"].contains(&name.as_str());
            assert!(event.unique_id().is_some() || global, "{capture}: {name}");
            *names.entry(name).or_insert(0) += 1;
            if frame.content_type() == ContentType::EventPlain {
                let mut out = Vec::new();
                event.encode_plain(&mut out).expect("encodes");
                assert!(
                    frame.body.as_deref() == Some(&out[..]),
                    "{capture}: {:?} does not re-encode to its wire bytes",
                    event.name()
                );
            }
        }
    }
    assert_eq!(names.values().sum::<usize>(), 622);
    for name in [
        "BACKGROUND_JOB",
        "CHANNEL_EXECUTE_COMPLETE",
        "CHANNEL_HANGUP",
        "CHANNEL_HANGUP_COMPLETE",
        "DTMF",
        "PLAYBACK_START",
        "RECORD_STOP",
    ] {
        assert!(names.contains_key(name), "no {name} in the captures");
    }
}

#[test]
fn outbound_connect_reply_is_the_url_encoded_channel_data() {
    let frames = frames("outbound-pagd");
    let connect = &frames[0];
    assert_eq!(connect.content_type(), ContentType::CommandReply);
    assert_eq!(connect.body, None, "no Content-Length");
    assert_eq!(connect.reply_text(), Some("%2BOK%0A"), "raw in the frame");
    let names: Vec<&str> = connect.headers.iter().map(|(name, _)| name).collect();
    assert_eq!(names.len(), 104);
    assert_eq!(names[0], "Event-Name");
    assert_eq!(&names[100..], ["Content-Type", "Reply-Text", "Socket-Mode", "Control"]);

    let channel = Event::from_headers(&connect.headers);
    assert_eq!(channel.name(), Some("CHANNEL_DATA"));
    assert_eq!(channel.unique_id(), Some("a0dea27a-7a6e-4176-8178-7f9eb3f06a49"));
    assert_eq!(channel.header("Reply-Text"), Some("+OK\n"));
    assert_eq!(channel.header("Socket-Mode"), Some("async"));
    assert_eq!(channel.header("Control"), Some("full"));
    assert_eq!(channel.header("Caller-Destination-Number"), Some("9000"));
    assert_eq!(channel.header("FreeSWITCH-IPv6"), Some("fd00::2"));
    assert_eq!(channel.variable("current_application_data"), Some("127.0.0.1:8084 async full"));
    assert_eq!(channel.variable("other_loopback_leg_uuid"), Some("b1b4a41a-cad2-427a-9fac-d0171fe93ec5"));
}

#[test]
fn outbound_replies_to_myevents_linger_and_sendmsg_are_command_replies() {
    let frames = frames("outbound-pagd");
    let replies: Vec<&str> = frames[1..4].iter().map(|frame| frame.reply_text().expect("a reply")).collect();
    assert_eq!(replies, ["+OK Events Enabled", "+OK will linger", "+OK"]);
}

#[test]
fn play_and_get_digits_completion_carries_the_digit_and_the_sent_event_uuid() {
    for (capture, digit) in [("outbound-pagd", "1"), ("outbound-pagd-digit3", "3")] {
        let sent = String::from_utf8(app2fs(capture)).expect("text");
        let pagd_command = sent
            .split("\n\n")
            .find(|command| command.contains("execute-app-name: play_and_get_digits"))
            .expect("the pagd sendmsg");
        let event_uuid =
            pagd_command.lines().find_map(|line| line.strip_prefix("Event-UUID: ")).expect("an Event-UUID");

        let events = events(&frames(capture));
        let complete = find_event(&events, "CHANNEL_EXECUTE_COMPLETE", |event| {
            event.header("Application") == Some("play_and_get_digits")
        });
        assert_eq!(complete.variable("fslab_digit"), Some(digit), "{capture}");
        assert_eq!(complete.variable("read_result"), Some("success"));
        assert_eq!(complete.application_uuid(), Some(event_uuid), "{capture}");
        assert_eq!(complete.header("Application-Response"), Some("_none_"));
        assert_eq!(
            complete.header("Application-Data"),
            Some("1 1 2 8000 # vm-enter-num-to-call.wav silence_stream://250 fslab_digit \\d 3000")
        );
        let started =
            find_event(&events, "CHANNEL_EXECUTE", |event| event.application_uuid() == Some(event_uuid));
        assert_eq!(started.header("Application"), Some("play_and_get_digits"));

        let dtmf = find_event(&events, "DTMF", |_| true);
        assert_eq!(dtmf.header("DTMF-Digit"), Some(digit));
    }
}

#[test]
fn every_sendmsg_execute_is_completed_with_its_event_uuid() {
    let sent = String::from_utf8(app2fs("outbound-pagd")).expect("text");
    let uuids: Vec<&str> = sent.lines().filter_map(|line| line.strip_prefix("Event-UUID: ")).collect();
    assert_eq!(uuids.len(), 6);
    let events = events(&frames("outbound-pagd"));
    let completions: Vec<&Event> =
        events.iter().filter(|event| event.name() == Some("CHANNEL_EXECUTE_COMPLETE")).collect();
    let ours: Vec<&str> = completions
        .iter()
        .filter_map(|event| event.application_uuid())
        .filter(|uuid| uuids.contains(uuid))
        .collect();
    assert_eq!(ours, uuids, "each once, in order");
    // The one completion we did not ask for: the dialplan's `socket` application itself ends
    // when the channel hangs up, with a uuid FreeSWITCH made up and the last playback's
    // response. A backend must ignore completions whose Application-UUID it does not know.
    let others: Vec<(&str, &str)> = completions
        .iter()
        .filter(|event| !uuids.contains(&event.application_uuid().unwrap_or_default()))
        .map(|event| {
            (
                event.header("Application").unwrap_or_default(),
                event.header("Application-Response").unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(others, [("socket", "FILE PLAYED")]);
}

#[test]
fn outbound_pagd_ends_with_linger_notice_bye_and_disconnect_notice() {
    let frames = frames("outbound-pagd");
    let [.., linger, bye, disconnect] = &frames[..] else {
        panic!("too few frames");
    };
    assert_eq!(linger.content_type(), ContentType::DisconnectNotice);
    assert_eq!(linger.content_disposition(), Some(ContentDisposition::Linger));
    assert_eq!(linger.linger_time(), Some(LingerTime::UntilExit));
    assert_eq!(linger.body.as_deref(), Some(&b""[..]));
    assert_eq!(linger.header("Controlled-Session-UUID"), Some("a0dea27a-7a6e-4176-8178-7f9eb3f06a49"));
    assert_eq!(bye.reply_text(), Some("+OK bye"));
    assert_eq!(disconnect.content_disposition(), Some(ContentDisposition::Disconnect));
    assert_eq!(
        disconnect.body_text().as_deref(),
        Some("Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n")
    );
}

#[test]
fn the_first_notice_comes_right_after_hangup_complete() {
    // In every outbound capture, linger or not, the channel's last event is
    // CHANNEL_HANGUP_COMPLETE and the first disconnect notice follows it directly: once the
    // notice is read, no more events for the channel will come.
    for (capture, _, _) in CAPTURES.iter().filter(|(name, _, _)| name.starts_with("outbound")) {
        let frames = frames(capture);
        let notice = frames
            .iter()
            .position(|frame| frame.content_type() == ContentType::DisconnectNotice)
            .expect("a notice");
        let before = Event::from_frame(&frames[notice - 1]).expect("an event");
        assert_eq!(before.name(), Some("CHANNEL_HANGUP_COMPLETE"), "{capture}");
        assert!(frames[notice..].iter().all(|frame| !frame.content_type().is_event()), "{capture}");
    }
}

#[test]
fn outbound_without_linger_ends_with_a_disconnect_notice_only() {
    for capture in ["outbound-nolinger", "outbound-nolinger-race"] {
        let frames = frames(capture);
        let notices: Vec<Option<ContentDisposition>> = frames
            .iter()
            .filter(|frame| frame.content_type() == ContentType::DisconnectNotice)
            .map(Frame::content_disposition)
            .collect();
        assert_eq!(notices, [Some(ContentDisposition::Disconnect)], "{capture}");
        let last = frames.last().expect("frames");
        assert_eq!(last.content_type(), ContentType::DisconnectNotice);
        let events = events(&frames);
        let hangup = find_event(&events, "CHANNEL_HANGUP", |_| true);
        assert_eq!(hangup.header("Hangup-Cause"), Some("NORMAL_CLEARING"));
    }
}

#[test]
fn far_end_hangup_fails_the_running_playback_and_lingers_three_seconds() {
    let frames = frames("outbound-farhangup-linger3");
    assert_eq!(frames[2].reply_text(), Some("+OK will linger 3 seconds"));
    let events = events(&frames);
    let hangup_at = events.iter().position(|event| event.name() == Some("CHANNEL_HANGUP"));
    let playback_done_at = events.iter().position(|event| {
        event.name() == Some("CHANNEL_EXECUTE_COMPLETE") && event.header("Application") == Some("playback")
    });
    // The hangup arrives before the interrupted playback's completion.
    assert!(hangup_at.is_some() && hangup_at < playback_done_at);
    let hangup = find_event(&events, "CHANNEL_HANGUP", |_| true);
    assert_eq!(hangup.header("Hangup-Cause"), Some("NORMAL_CLEARING"));
    let playback = find_event(&events, "CHANNEL_EXECUTE_COMPLETE", |event| {
        event.header("Application") == Some("playback")
    });
    assert_eq!(playback.header("Application-Response"), Some("PLAYBACK ERROR"));
    assert_eq!(playback.application_uuid(), Some("6f5f27c5-1733-43e6-ad3b-d6901fbe27a9"));
    let notice = frames
        .iter()
        .find(|frame| frame.content_disposition() == Some(ContentDisposition::Linger))
        .expect("a linger notice");
    assert_eq!(notice.linger_time(), Some(LingerTime::Seconds(3)));
    assert_eq!(frames.last().and_then(Frame::content_disposition), Some(ContentDisposition::Disconnect));
}

#[test]
fn outbound_error_paths_are_reported_in_replies_and_events() {
    let frames = frames("outbound-errors");
    let events = events(&frames);
    let missing = find_event(&events, "CHANNEL_EXECUTE_COMPLETE", |event| {
        event.header("Application-Data") == Some("this-file-does-not-exist.wav")
    });
    assert_eq!(missing.header("Application-Response"), Some("FILE NOT FOUND"));
    let bodies: Vec<String> = frames
        .iter()
        .filter(|frame| frame.content_type() == ContentType::ApiResponse)
        .filter_map(|frame| frame.body_text().map(|text| text.into_owned()))
        .collect();
    assert_eq!(bodies, ["-ERR bogus_command Command not found!\n", "hello world"]);
    assert!(frames.iter().any(|frame| frame.reply_text() == Some("hello world")));
    let hangup = find_event(&events, "CHANNEL_HANGUP", |_| true);
    assert_eq!(hangup.header("Hangup-Cause"), Some("DESTINATION_OUT_OF_ORDER"));
    assert!(
        !events.iter().any(|event| event.header("Application") == Some("nosuchapp")),
        "an unknown app gets +OK but no execute events"
    );
}

#[test]
fn failed_auth_is_refused_then_disconnected() {
    let frames = frames("inbound-authfail");
    let kinds: Vec<ContentType> = frames.iter().map(Frame::content_type).collect();
    assert_eq!(kinds, [ContentType::AuthRequest, ContentType::CommandReply, ContentType::DisconnectNotice]);
    assert_eq!(frames[1].reply_text(), Some("-ERR invalid"));
    assert_eq!(frames[2].content_disposition(), None);
    assert_eq!(
        frames[2].body_text().as_deref(),
        Some("Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n")
    );
}

#[test]
fn background_jobs_carry_their_output_as_the_event_body() {
    let frames = frames("inbound-misc");
    let job_uuid = frames.iter().find_map(Frame::job_uuid).expect("a bgapi reply with Job-UUID");
    assert_eq!(job_uuid, "43435b6d-7539-40ea-a0aa-1870023469dd");
    let events = events(&frames);
    let job = find_event(&events, "BACKGROUND_JOB", |event| event.job_uuid() == Some(job_uuid));
    assert_eq!(job.header("Job-Command"), Some("status"));
    let body = job.body().expect("a body");
    assert!(body.starts_with("UP 0 years, 0 days, 0 hours, 0 minutes, 39 seconds"));
    assert!(body.ends_with("Current Stack Size/Max 240K/8192K\n"));
    assert_eq!(job.header("Content-Length"), Some("371"));

    let events = events_of("inbound-pagd-all-events");
    let originate = find_event(&events, "BACKGROUND_JOB", |_| true);
    assert_eq!(originate.job_uuid(), Some("2141e4a1-ff4d-4566-99e0-0541c1241737"));
    assert_eq!(originate.body(), Some("+OK b1b4a41a-cad2-427a-9fac-d0171fe93ec5\n"));

    let events = events_of("inbound-nolinger-originate-race");
    let failed = find_event(&events, "BACKGROUND_JOB", |_| true);
    assert_eq!(failed.body(), Some("-ERR NORMAL_CLEARING\n"));
}

fn events_of(capture: &str) -> Vec<Event> {
    events(&frames(capture))
}

#[test]
fn inbound_misc_replies_are_in_order() {
    let frames = frames("inbound-misc");
    let api: Vec<String> = frames
        .iter()
        .filter(|frame| frame.content_type() == ContentType::ApiResponse)
        .filter_map(|frame| frame.body_text().map(|text| text.into_owned()))
        .filter(|body| body.starts_with('-'))
        .collect();
    assert_eq!(
        api,
        [
            "-ERR bogus_command Command not found!\n",
            "-ERR USER_BUSY\n",
            "-ERR CALL_REJECTED\n",
            "-ERR NO_ANSWER\n",
            "-ERR NO_ANSWER\n",
            "-ERR NO_ROUTE_DESTINATION\n",
        ]
    );
    let replies: Vec<&str> = frames.iter().filter_map(Frame::reply_text).collect();
    assert_eq!(
        replies[replies.len() - 9..],
        [
            "+OK no longer listening for events",
            "+OK event listener enabled json",
            "+OK events nixed",
            "+OK filter added. [Event-Name]=[CHANNEL_CREATE]",
            "+OK filter deleted. [Event-Name][CHANNEL_CREATE]",
            "+OK log level 7 [7]",
            "+OK no longer logging",
            "-ERR command not found",
            "+OK bye",
        ]
    );
}

#[test]
fn uuid_dump_reply_body_is_a_plain_channel_data_event() {
    let frames = frames("inbound-misc");
    let dump = frames
        .iter()
        .filter(|frame| frame.content_type() == ContentType::ApiResponse)
        .find(|frame| frame.body.as_deref().is_some_and(|body| body.starts_with(b"Event-Name: CHANNEL_DATA")))
        .expect("the uuid_dump reply");
    let channel = Event::parse_plain(dump.body.as_deref().unwrap_or_default()).expect("parses");
    assert_eq!(channel.unique_id(), Some("fae0532b-3707-495f-9d1f-652b617173cb"));
    assert_eq!(channel.variable("current_application"), Some("park"));
    assert_eq!(channel.body(), None);
}

#[test]
fn json_events_decode_like_plain_ones() {
    let frames = frames("inbound-dtmfwait-json");
    assert!(frames.iter().any(|frame| frame.content_type() == ContentType::EventJson));
    assert_eq!(frames[2].reply_text(), Some("+OK event listener enabled json"));
    let events = events(&frames);
    let job = find_event(&events, "BACKGROUND_JOB", |_| true);
    assert_eq!(job.job_uuid(), Some("3ec65150-958e-40bd-a91b-e1970d111dcb"));
    assert_eq!(job.body(), Some("+OK cd9a3874-563b-4842-bf01-450cbca4deec\n"));
    assert_eq!(job.header("FreeSWITCH-IPv6"), Some("fd00::2"));
    assert_eq!(job.header("Content-Length"), Some("41"));
    let dtmf = find_event(&events, "DTMF", |_| true);
    assert_eq!(dtmf.header("DTMF-Digit"), Some("7"));
    let dtmf_reply = frames
        .iter()
        .find_map(|frame| frame.body_text().filter(|text| text.contains("received DTMF")))
        .expect("the uuid_recv_dtmf reply");
    assert_eq!(dtmf_reply, "+OK 952c2df1-944b-4ffd-864b-1bb623414757 received DTMF 7.\n");
}

#[test]
fn inbound_and_outbound_views_of_one_call_agree() {
    // The pagd call seen from both sides: the inbound session's b-leg is the outbound socket's
    // channel, and the JSON and plain events of one channel decode to the same values.
    let outbound = events_of("outbound-pagd");
    let inbound = events_of("inbound-pagd-all-events");
    let leg = "a0dea27a-7a6e-4176-8178-7f9eb3f06a49";
    let pick = |events: &[Event]| -> Vec<(String, String)> {
        events
            .iter()
            .filter(|event| event.unique_id() == Some(leg))
            .filter(|event| event.name() == Some("CHANNEL_EXECUTE_COMPLETE"))
            .map(|event| {
                (
                    event.header("Application").unwrap_or_default().to_owned(),
                    event.application_uuid().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(pick(&outbound), pick(&inbound));
}

#[test]
fn client_commands_encode_to_the_captured_bytes() {
    fn execute(app: &str, arg: Option<&str>, uuid: &str) -> EslCommand {
        EslCommand::SendMsg {
            uuid: None,
            message: SendMsg::Execute(Execute {
                app: app.into(),
                arg: arg.map(Into::into),
                event_lock: true,
                event_uuid: Some(uuid.into()),
                loops: None,
            }),
        }
    }
    fn hangup(cause: &str) -> EslCommand {
        EslCommand::SendMsg { uuid: None, message: SendMsg::Hangup { cause: Some(cause.into()) } }
    }
    fn api(command: &str) -> EslCommand {
        EslCommand::Api(command.into())
    }
    fn events(format: EventFormat, names: &str) -> EslCommand {
        EslCommand::Event { format, events: names.split(' ').map(Into::into).collect() }
    }
    let call_events = "CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_EXECUTE CHANNEL_EXECUTE_COMPLETE \
                       DTMF PLAYBACK_START PLAYBACK_STOP RECORD_START RECORD_STOP CHANNEL_HANGUP \
                       CHANNEL_HANGUP_COMPLETE CHANNEL_DESTROY BACKGROUND_JOB";
    let sessions: Vec<(&str, Vec<EslCommand>)> = vec![
        (
            "outbound-pagd",
            vec![
                EslCommand::Connect,
                EslCommand::MyEvents(None),
                EslCommand::Linger(None),
                execute("answer", None, "85046081-fe92-4712-af77-eac220025732"),
                execute("playback", Some("hello-world.wav"), "3ea8c133-b669-40a3-b3d7-c5f04a5ff967"),
                execute(
                    "play_and_get_digits",
                    Some(
                        "1 1 2 8000 # vm-enter-num-to-call.wav silence_stream://250 \
                         fslab_digit \\d 3000",
                    ),
                    "5f667511-4ce5-4b9b-9ec8-e5cf7b9a9e66",
                ),
                execute("playback", Some("you-entered.wav"), "c0a17c4f-ed0e-45a9-b9b6-499cbd380d6c"),
                execute("say", Some("en number iterated 1"), "4eace93e-8420-49e4-a356-e14c584f04b8"),
                execute("playback", Some("goodbye.wav"), "04ab4f09-9783-412b-a83d-793318162d4c"),
                hangup("NORMAL_CLEARING"),
                EslCommand::Exit,
            ],
        ),
        (
            "outbound-errors",
            vec![
                EslCommand::Connect,
                EslCommand::MyEvents(None),
                EslCommand::Linger(None),
                execute("answer", None, "8ace1491-4ff8-4ef7-9ef5-76f04c9a47f0"),
                execute(
                    "playback",
                    Some("this-file-does-not-exist.wav"),
                    "df0e21e8-e7fe-460e-890d-a4a5ba09e1d7",
                ),
                api("bogus_command arg1"),
                execute("set", Some("fslab_var=hello world"), "f57e5628-ca8e-4f08-b6f7-164755c80c9c"),
                api("uuid_getvar 54a68d40-0ec8-4658-b126-577f3a9d53de fslab_var"),
                EslCommand::GetVar("fslab_var".into()),
                execute("nosuchapp", Some("x"), "14bc4ce2-f445-479c-9db4-447718db6783"),
                hangup("USER_BUSY"),
                EslCommand::Exit,
            ],
        ),
        (
            "outbound-farhangup-linger3",
            vec![
                EslCommand::Connect,
                EslCommand::MyEvents(None),
                EslCommand::Linger(Some(3)),
                execute("answer", None, "f5ed31f6-36e7-410d-8e89-395566d87ec2"),
                execute("playback", Some("silence_stream://30000"), "6f5f27c5-1733-43e6-ad3b-d6901fbe27a9"),
            ],
        ),
        (
            "outbound-nolinger",
            vec![
                EslCommand::Connect,
                EslCommand::MyEvents(None),
                execute("answer", None, "67b3afdb-7670-4448-9f1f-114b9c2f2973"),
                execute("playback", Some("beep.wav"), "62f79924-10f4-4ee8-8f3a-d636c1ad4c3a"),
                hangup("NORMAL_CLEARING"),
            ],
        ),
        ("inbound-authfail", vec![EslCommand::Auth("WrongPassword".into())]),
        (
            "inbound-pagd-all-events",
            vec![
                EslCommand::Auth("ClueCon".into()),
                events(EventFormat::Plain, "ALL"),
                api("status"),
                EslCommand::BgApi { command: "originate loopback/9000/default &park".into(), job_uuid: None },
                api("uuid_send_dtmf b1b4a41a-cad2-427a-9fac-d0171fe93ec5 1"),
                EslCommand::Exit,
            ],
        ),
        (
            "inbound-errors",
            vec![
                EslCommand::Auth("ClueCon".into()),
                events(EventFormat::Plain, call_events),
                api("status"),
                EslCommand::BgApi { command: "originate loopback/9003/default &park".into(), job_uuid: None },
                EslCommand::Exit,
            ],
        ),
        (
            "inbound-dtmfwait-json",
            vec![
                EslCommand::Auth("ClueCon".into()),
                events(
                    EventFormat::Json,
                    "CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_EXECUTE CHANNEL_EXECUTE_COMPLETE \
                     DTMF CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE CHANNEL_DESTROY BACKGROUND_JOB",
                ),
                api("status"),
                EslCommand::BgApi { command: "originate loopback/9001/default &park".into(), job_uuid: None },
                api("uuid_recv_dtmf 952c2df1-944b-4ffd-864b-1bb623414757 7"),
                EslCommand::Exit,
            ],
        ),
        (
            "inbound-misc",
            vec![
                EslCommand::Auth("ClueCon".into()),
                api("version"),
                api("bogus_command"),
                api("show channels as json"),
                events(
                    EventFormat::Plain,
                    "BACKGROUND_JOB CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_HANGUP_COMPLETE",
                ),
                EslCommand::BgApi { command: "status".into(), job_uuid: None },
                api("originate loopback/busy/default &park"),
                api("originate loopback/reject/default &park"),
                api("originate {originate_timeout=3}loopback/noanswer/default &park"),
                api("originate {originate_timeout=3}loopback/ring/default &park"),
                api("originate loopback/nosuchext/default &park"),
                api("originate loopback/answer/default &park"),
                api("uuid_getvar fae0532b-3707-495f-9d1f-652b617173cb other_loopback_leg_uuid"),
                api("uuid_dump fae0532b-3707-495f-9d1f-652b617173cb"),
                api("uuid_kill fae0532b-3707-495f-9d1f-652b617173cb NORMAL_CLEARING"),
                EslCommand::NoEvents,
                events(EventFormat::Json, "CHANNEL_CREATE"),
                EslCommand::NixEvent(vec!["CHANNEL_CREATE".into()]),
                EslCommand::Filter { header: "Event-Name".into(), value: "CHANNEL_CREATE".into() },
                EslCommand::FilterDelete {
                    header: "Event-Name".into(),
                    value: Some("CHANNEL_CREATE".into()),
                },
                EslCommand::Log("7".into()),
                EslCommand::NoLog,
                // `bogus_esl_command` is not a command this encoder can produce.
            ],
        ),
    ];
    for (capture, commands) in sessions {
        let mut out = Vec::new();
        for command in &commands {
            command.encode(&mut out).expect("encodes");
        }
        let captured = app2fs(capture);
        let expected = if capture == "inbound-misc" {
            let cut = b"bogus_esl_command\n\nexit\n\n";
            assert!(captured.ends_with(cut));
            &captured[..captured.len() - cut.len()]
        } else {
            &captured[..]
        };
        assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(expected), "{capture}");
    }
}

#[test]
fn every_url_encoded_value_in_the_captures_encodes_back_to_its_wire_form() {
    let mut checked = 0;
    for (capture, _, _) in CAPTURES {
        for frame in frames(capture) {
            if frame.content_type() != ContentType::EventPlain {
                continue;
            }
            let body = frame.body.as_deref().unwrap_or_default();
            let head = body.split(|&b| b == b'\n').take_while(|line| !line.is_empty());
            for line in head {
                let text = std::str::from_utf8(line).expect("captures are ASCII");
                let (_, wire) = text.split_once(": ").expect("name: value");
                let decoded = url::decode(wire.as_bytes());
                assert_eq!(url::encode(&decoded), wire);
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 53_295);
}

#[test]
fn the_decoder_works_as_a_streaming_reader_would_use_it() {
    // A reader appends what each recv() returned and drains frames after each append; these
    // are the capture's real recv() sizes pattern-wise: small, then large reads.
    let bytes = fs2app("inbound-pagd-all-events");
    let mut decoder = FrameDecoder::new();
    let mut buf = BytesMut::with_capacity(4096);
    let mut count = 0;
    for chunk in bytes.chunks(1460) {
        buf.extend_from_slice(chunk);
        while let Some(frame) = decoder.decode(&mut buf).expect("valid stream") {
            assert!(frame.content_type() != ContentType::None);
            count += 1;
        }
    }
    assert_eq!(count, 86);
    assert_eq!(decoder.decode_eof(&mut buf), Ok(None));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_splits_of_all_captures_give_the_same_frames(
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..300)
    ) {
        let (bytes, expected) = all_captures_concatenated();
        let mut positions: Vec<usize> = cuts.iter().map(|cut| cut.index(bytes.len())).collect();
        positions.push(bytes.len());
        positions.sort_unstable();
        let mut sizes = Vec::new();
        let mut last = 0;
        for position in positions {
            if position > last {
                sizes.push(position - last);
                last = position;
            }
        }
        let decoded = decode_chunks_exactly(bytes, &sizes);
        prop_assert_eq!(decoded.error, None);
        prop_assert!(&decoded.frames == expected);
    }
}

/// Feeds `data` in exactly the given chunk sizes (which must sum to its length).
fn decode_chunks_exactly(data: &[u8], sizes: &[usize]) -> Decoded {
    assert_eq!(sizes.iter().sum::<usize>(), data.len());
    decode_in_chunks(data, sizes, FrameLimits::default())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn percent_encoding_round_trips(input in prop::collection::vec(any::<u8>(), 0..256)) {
        let encoded = url::encode(&input);
        prop_assert!(encoded.bytes().all(|b| b == b'%' || !url::is_unsafe(b)));
        let decoded = url::decode(encoded.as_bytes());
        prop_assert_eq!(decoded.as_ref(), &input[..]);
    }

    #[test]
    fn arbitrary_bytes_never_break_the_decoders(
        input in prop::collection::vec(any::<u8>(), 0..1024)
    ) {
        fuzz_decode(&input);
    }

    #[test]
    fn mutated_captures_never_break_the_decoders(
        start in any::<prop::sample::Index>(),
        len in 0..3000usize,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
    ) {
        let (bytes, _) = all_captures_concatenated();
        let start = start.index(bytes.len());
        let end = (start + len).min(bytes.len());
        let mut input = bytes[start..end].to_vec();
        if !input.is_empty() {
            for (at, byte) in &flips {
                let at = at.index(input.len());
                input[at] = *byte;
            }
        }
        fuzz_decode(&input);
    }
}
