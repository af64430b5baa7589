//! ESL decode throughput over the captured FreeSWITCH → app streams.
//!
//! `cargo bench --bench esl_codec -- --warm-up-time 1 --measurement-time 3`
//!
//! - `frames/*`: the frame decoder alone (header blocks split off, bodies sliced, no copy).
//! - `frames+events/*`: frames plus every `text/event-plain`/`-json` body decoded into an
//!   `Event` (URL-decoding all values), which is what a connection does with every event.
//! - `events/all`: the same work counted in events per second.
//! - `lookup/*`: header lookups on a decoded 200-header event (linear scan).
//! - `call_info/connect_reply`: a call's data (uuid, caller, destination, ~90 channel
//!   variables) from the captured connect reply.
//! - `channel/*`: what a call's channel does with its socket's bytes: frames, a peek at each
//!   plain event's `Event-Name`, and the events it keeps (completions, hangups, DTMF) indexed
//!   in place with the few headers it reads looked up. `channel/connect_reply` is the frame
//!   decoder on the largest header block a call gets (~190 lines).
//!
//! Input is fed in 16 KiB chunks, as socket reads would deliver it.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use rivr::switch::freeswitch::event::Event;
use rivr::switch::freeswitch::frame::{ContentType, FrameDecoder};
use rivr::switch::freeswitch::indexed::IndexedEvent;

const READ_SIZE: usize = 16 * 1024;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/esl/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|err| panic!("reading {path}: {err}"))
}

fn all_captures() -> Vec<u8> {
    let dir = format!("{}/tests/fixtures/esl", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("fixture dir")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".fs2app.raw"))
        .collect();
    names.sort();
    names.iter().flat_map(|name| fixture(name)).collect()
}

/// Decodes every frame; returns how many there were.
fn decode_frames(data: &[u8]) -> usize {
    let mut decoder = FrameDecoder::new();
    let mut buf = BytesMut::with_capacity(READ_SIZE);
    let mut frames = 0;
    for chunk in data.chunks(READ_SIZE) {
        buf.extend_from_slice(chunk);
        while let Some(frame) = decoder.decode(&mut buf).expect("valid capture") {
            black_box(&frame);
            frames += 1;
        }
    }
    frames
}

/// Decodes every frame and every event in it; returns how many events there were.
fn decode_events(data: &[u8]) -> usize {
    let mut decoder = FrameDecoder::new();
    let mut buf = BytesMut::with_capacity(READ_SIZE);
    let mut events = 0;
    for chunk in data.chunks(READ_SIZE) {
        buf.extend_from_slice(chunk);
        while let Some(frame) = decoder.decode(&mut buf).expect("valid capture") {
            if frame.content_type().is_event() {
                let event = Event::from_frame(&frame).expect("valid event");
                black_box(&event);
                events += 1;
            }
        }
    }
    events
}

fn bench_decode(c: &mut Criterion) {
    let inputs =
        [("all", all_captures()), ("inbound-pagd-all-events", fixture("inbound-pagd-all-events.fs2app.raw"))];

    let mut group = c.benchmark_group("frames");
    for (name, data) in &inputs {
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_function(*name, |b| b.iter(|| decode_frames(black_box(data))));
    }
    group.finish();

    let mut group = c.benchmark_group("frames+events");
    for (name, data) in &inputs {
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_function(*name, |b| b.iter(|| decode_events(black_box(data))));
    }
    group.finish();

    let (_, all) = &inputs[0];
    let mut group = c.benchmark_group("events");
    group.throughput(Throughput::Elements(decode_events(all) as u64));
    group.bench_function("all", |b| b.iter(|| decode_events(black_box(all))));
    group.finish();
}

fn bench_lookup(c: &mut Criterion) {
    let data = fixture("outbound-pagd.fs2app.raw");
    let mut decoder = FrameDecoder::new();
    let mut buf = BytesMut::from(&data[..]);
    let mut biggest = Event::default();
    while let Some(frame) = decoder.decode(&mut buf).expect("valid capture") {
        if let Ok(event) = Event::from_frame(&frame) {
            if event.headers().len() > biggest.headers().len() {
                biggest = event;
            }
        }
    }
    let mut group = c.benchmark_group("lookup");
    group.bench_function("unique_id", |b| b.iter(|| black_box(&biggest).unique_id().map(str::len)));
    group.bench_function("last_header", |b| {
        b.iter(|| black_box(&biggest).header("variable_is_loopback").map(str::len))
    });
    group.bench_function("missing_variable", |b| {
        b.iter(|| black_box(&biggest).variable("no_such_variable").map(str::len))
    });
    group.finish();
}

/// A call's data from the captured connect reply: what every call pays before routing.
fn bench_call_info(c: &mut Criterion) {
    let data = fixture("outbound-pagd.fs2app.raw");
    let mut buf = BytesMut::from(&data[..]);
    let reply = FrameDecoder::new().decode(&mut buf).expect("valid capture").expect("the connect reply");
    c.bench_function("call_info/connect_reply", |b| {
        b.iter(|| {
            rivr::switch::freeswitch::outbound::call_info(black_box(&reply.headers))
                .map(|info| info.uuid.len())
        })
    });
}

/// The events a call's channel indexes (`FsChannel::wants_plain_event`); the rest are skipped
/// after the peek.
const KEPT_EVENTS: [&str; 6] = [
    "CHANNEL_EXECUTE_COMPLETE",
    "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE",
    "DTMF",
    "CHANNEL_BRIDGE",
    "CHANNEL_UNBRIDGE",
];

/// One call's stream as its channel reads it; returns how many events it indexed.
fn channel_reads(data: &[u8]) -> usize {
    let mut decoder = FrameDecoder::new();
    let mut buf = BytesMut::with_capacity(READ_SIZE);
    let mut kept = 0;
    for chunk in data.chunks(READ_SIZE) {
        buf.extend_from_slice(chunk);
        while let Some(frame) = decoder.decode(&mut buf).expect("valid capture") {
            if frame.content_type() != ContentType::EventPlain {
                black_box(frame.header("Reply-Text"));
                continue;
            }
            let body = frame.body.unwrap_or_default();
            let name = Event::peek_plain(&body, "Event-Name");
            if !name.as_deref().is_some_and(|name| KEPT_EVENTS.contains(&name)) {
                continue;
            }
            let event = IndexedEvent::parse(body).expect("valid event");
            black_box(event.unique_id());
            black_box(event.name_header());
            black_box(event.application_uuid());
            black_box(event.header("Answer-State"));
            black_box(event.header("Hangup-Cause"));
            kept += 1;
        }
    }
    kept
}

fn bench_channel(c: &mut Criterion) {
    let mut group = c.benchmark_group("channel");
    for name in ["outbound-pagd", "outbound-dtmfwait"] {
        let data = fixture(&format!("{name}.fs2app.raw"));
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_function(name, |b| b.iter(|| channel_reads(black_box(&data))));
    }
    let data = fixture("outbound-pagd.fs2app.raw");
    let mut buf = BytesMut::from(&data[..]);
    let reply_len = data.len() - {
        FrameDecoder::new().decode(&mut buf).expect("valid capture").expect("the connect reply");
        buf.len()
    };
    let reply = &data[..reply_len];
    group.throughput(Throughput::Bytes(reply.len() as u64));
    group.bench_function("connect_reply", |b| {
        b.iter(|| {
            let mut buf = BytesMut::from(black_box(reply));
            FrameDecoder::new().decode(&mut buf).expect("valid capture").map(|frame| frame.headers.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench_decode, bench_lookup, bench_call_info, bench_channel);
criterion_main!(benches);
