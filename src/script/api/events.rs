//! Business events from scripts: `publish`.
//!
//! A publication is a `Command::Publish` through the call's one seam; the call actor hands it
//! to the node's event bus, which checks the type against `events.publish` in rivr.yaml and
//! queues it for every sink without waiting. A type the configuration does not allow is a
//! catchable script error.

use rhai::{Dynamic, FuncRegistration, Module, NativeCallContext};

use super::http::to_json;
use super::options::error;
use super::{context, CallContext};
use crate::call::{Command, EventName, Publication};

type Result<T> = std::result::Result<T, Box<rhai::EvalAltResult>>;

/// Largest event data a script may publish, as JSON: events are notifications for other
/// systems, not a way to ship recordings or bulk data (and a sink's queue holds thousands).
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

/// Publish an event of type `kind` with `data` (a map) to the node's event sinks (webhooks,
/// NATS), as a CloudEvent whose subject is the call's uuid. `kind` must be allowed by
/// `events.publish` in rivr.yaml. Returns at once: delivery happens in the background.
///
/// ```rhai
/// publish("survey.completed", #{score: 5, comment: false});
/// ```
pub fn publish(ctx: &CallContext, nctx: &NativeCallContext, kind: &str, data: Dynamic) -> Result<()> {
    let pos = nctx.call_position();
    let kind = EventName::parse(kind).map_err(|why| error(format!("publish: {why}"), pos))?;
    if !(data.is_map() || data.is_unit()) {
        return Err(error(
            format!("publish: the data must be a map like #{{score: 5}}, not {}", data.type_name()),
            pos,
        ));
    }
    let data = if data.is_unit() {
        serde_json::Value::Object(serde_json::Map::new())
    } else {
        to_json(&data, 0).map_err(|why| error(format!("publish: the data {why}"), pos))?
    };
    let size = serde_json::to_vec(&data).map_or(usize::MAX, |bytes| bytes.len());
    if size > MAX_EVENT_BYTES {
        return Err(error(
            format!(
                "publish: the data is {size} bytes as JSON, more than the {MAX_EVENT_BYTES} an event may \
                 carry: send an id or a URL instead of the content"
            ),
            pos,
        ));
    }
    ctx.run(nctx, Command::Publish(Publication { kind, data }))?;
    Ok(())
}

/// Register `publish`.
pub fn register(module: &mut Module) {
    FuncRegistration::new("publish").set_into_module(module, |n: NativeCallContext, kind: &str| {
        publish(&*context(&n)?, &n, kind, Dynamic::UNIT)
    });
    FuncRegistration::new("publish")
        .set_into_module(module, |n: NativeCallContext, kind: &str, data: Dynamic| {
            publish(&*context(&n)?, &n, kind, data)
        });
}
