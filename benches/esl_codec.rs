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
//!
//! Input is fed in 16 KiB chunks, as socket reads would deliver it.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use rivr::switch::freeswitch::event::Event;
use rivr::switch::freeswitch::frame::FrameDecoder;

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

criterion_group!(benches, bench_decode, bench_lookup, bench_call_info);
criterion_main!(benches);
