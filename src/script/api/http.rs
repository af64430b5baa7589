//! Calling web services: `http_get`, `http_post`.
//!
//! A request is a `Command::Http` through the call's one seam; the call actor sends it with the
//! shared client, which enforces `http.allow`, the timeout and the response size cap. Whatever
//! goes wrong (refused, timeout, too large, no connection) is a catchable script error, so a
//! flow can fall back (`try { … } catch (e) { … }`); a hangup during a request stops the script
//! like any other verb.

use std::time::Duration;

use rhai::{Dynamic, EvalAltResult, FuncRegistration, Map, Module, NativeCallContext, Position};

use super::options::{error, Options};
use super::{context, map_of, CallContext};
use crate::call::http::{HttpMethod, HttpRequest, HttpResponse, CONTENT_TYPE};
use crate::call::{Command, Outcome};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

pub(super) const GET_OPTIONS: &[&str] = &["headers", "timeout"];
pub(super) const POST_OPTIONS: &[&str] = &["headers", "timeout", "content_type"];

/// Deepest nesting of arrays and maps converted to or from JSON: deeper data is refused rather
/// than risking the script's stack.
const MAX_JSON_DEPTH: usize = 64;

/// GET `url` and return the response as `#{status, body, headers, json}`.
///
/// The URL must start with one of the prefixes in `http.allow` (rivr.yaml). Options:
/// - `headers`: a map of request headers, e.g. `#{authorization: "Bearer …"}`;
/// - `timeout`: milliseconds for the whole exchange (default `http.timeout_ms`, 5000).
///
/// The result: `status` (a number; 4xx and 5xx are results too), `body` (text), `headers` (a
/// map with lowercase names) and `json` (the body parsed into maps and arrays when the response
/// is JSON, `()` otherwise).
///
/// Errors, all catchable: a URL outside `http.allow`, a timeout, a body larger than
/// `http.max_response_bytes`, a server that cannot be reached.
///
/// ```rhai
/// let caller = call_info().caller_id;
/// try {
///     let r = http_get(`https://crm.example.com/api/customers?phone=${caller}`, #{timeout: 2000});
///     if r.status == 200 && r.json != () {
///         say(`Hello ${r.json.first_name}`);
///     }
/// } catch (e) {
///     log("warn", `CRM lookup failed: ${e}`);
/// }
/// ```
pub fn http_get(ctx: &CallContext, nctx: &NativeCallContext, url: &str, options: Dynamic) -> Result<Map> {
    let pos = nctx.call_position();
    let mut options = Options::new("http_get", options, GET_OPTIONS, pos)?;
    let headers = headers("http_get", &mut options, pos)?;
    let timeout = timeout(&mut options)?;
    let request = HttpRequest { method: HttpMethod::Get, url: url.to_string(), headers, body: None, timeout };
    send(ctx, nctx, request)
}

/// POST `body` to `url` and return the response as `#{status, body, headers, json}` (see
/// `http_get`).
///
/// A map or array body is sent as JSON (`content-type: application/json`); a string is sent
/// as is (`text/plain; charset=utf-8` unless `content_type` says otherwise). Options:
/// `headers`, `timeout` (as for `http_get`) and `content_type`.
///
/// ```rhai
/// let r = http_post("https://crm.example.com/api/calls", #{
///     caller: call_info().caller_id,
///     choice: "sales",
/// });
/// if r.status != 201 { log("warn", `CRM said ${r.status}: ${r.body}`); }
///
/// http_post("https://hooks.example.com/api/notify", "call ended", #{content_type: "text/plain"});
/// ```
pub fn http_post(
    ctx: &CallContext,
    nctx: &NativeCallContext,
    url: &str,
    body: Dynamic,
    options: Dynamic,
) -> Result<Map> {
    let pos = nctx.call_position();
    let mut options = Options::new("http_post", options, POST_OPTIONS, pos)?;
    let mut headers = headers("http_post", &mut options, pos)?;
    let timeout = timeout(&mut options)?;
    let content_type = options.string("content_type")?;
    let (default_type, bytes) = if body.is_map() || body.is_array() {
        let value = to_json(&body, 0).map_err(|why| error(format!("http_post: the body {why}"), pos))?;
        ("application/json", value.to_string().into_bytes())
    } else if body.is_unit() {
        ("text/plain; charset=utf-8", Vec::new())
    } else if body.is_string() {
        ("text/plain; charset=utf-8", body.to_string().into_bytes())
    } else {
        return Err(error(
            format!("http_post: the body must be a string, a map or an array, not {}", body.type_name()),
            pos,
        ));
    };
    // An explicit `content_type` wins over a `content-type` header, which wins over the default.
    headers.retain(|(name, _)| content_type.is_none() || !name.eq_ignore_ascii_case(CONTENT_TYPE));
    if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case(CONTENT_TYPE)) {
        let value = content_type.unwrap_or_else(|| default_type.to_string());
        check_header("http_post", CONTENT_TYPE, &value, pos)?;
        headers.push((CONTENT_TYPE.to_string(), value));
    }
    let request =
        HttpRequest { method: HttpMethod::Post, url: url.to_string(), headers, body: Some(bytes), timeout };
    send(ctx, nctx, request)
}

fn send(ctx: &CallContext, nctx: &NativeCallContext, request: HttpRequest) -> Result<Map> {
    match ctx.run(nctx, Command::Http(request))? {
        Outcome::Http(response) => Ok(response_map(response)),
        other => {
            Err(error(format!("{}: unexpected outcome {other:?}", nctx.fn_name()), nctx.call_position()))
        }
    }
}

/// The map a script receives.
pub fn response_map(response: HttpResponse) -> Map {
    let mut headers = Map::new();
    for (name, value) in &response.headers {
        let name = name.to_ascii_lowercase();
        // Repeated headers are joined as HTTP allows (RFC 9110 §5.3).
        match headers.get_mut(name.as_str()) {
            Some(existing) => *existing = Dynamic::from(format!("{existing}, {value}")),
            None => {
                headers.insert(name.into(), Dynamic::from(value.clone()));
            }
        }
    }
    let is_json = match response.header(CONTENT_TYPE) {
        Some(content_type) => content_type.to_ascii_lowercase().contains("json"),
        None => response.body.first().is_some_and(|b| matches!(b, b'{' | b'[')),
    };
    let json = if is_json {
        serde_json::from_slice::<serde_json::Value>(&response.body)
            .ok()
            .and_then(|value| from_json(value, 0))
            .unwrap_or(Dynamic::UNIT)
    } else {
        Dynamic::UNIT
    };
    map_of([
        ("status", Dynamic::from_int(i64::from(response.status))),
        ("body", Dynamic::from(String::from_utf8_lossy(&response.body).into_owned())),
        ("headers", Dynamic::from_map(headers)),
        ("json", json),
    ])
}

fn headers(verb: &str, options: &mut Options, pos: Position) -> Result<Vec<(String, String)>> {
    let Some(value) = options.value("headers") else {
        return Ok(Vec::new());
    };
    let Some(map) = value.clone().try_cast::<Map>() else {
        return Err(error(
            format!(
                "{verb}: option `headers` must be a map like #{{authorization: \"…\"}}, not {}",
                value.type_name()
            ),
            pos,
        ));
    };
    map.into_iter()
        .map(|(name, value)| {
            let value = value.to_string();
            check_header(verb, &name, &value, pos)?;
            Ok((name.to_string(), value))
        })
        .collect()
}

fn check_header(verb: &str, name: &str, value: &str, pos: Position) -> Result<()> {
    // RFC 9110 token characters for names; values may not break the header block.
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Err(error(format!("{verb}: `{name}` is not a header name"), pos));
    }
    if value.contains(['\r', '\n', '\0']) {
        return Err(error(format!("{verb}: the value of header `{name}` must be one line"), pos));
    }
    Ok(())
}

fn timeout(options: &mut Options) -> Result<Option<Duration>> {
    let timeout = options.millis("timeout")?;
    // A zero timeout could only fail; the longest is the option parser's one day.
    Ok(timeout.map(|t| t.max(Duration::from_millis(1))))
}

/// A script value as JSON, or why it cannot be one.
pub(super) fn to_json(value: &Dynamic, depth: usize) -> std::result::Result<serde_json::Value, String> {
    use serde_json::Value;
    if depth > MAX_JSON_DEPTH {
        return Err(format!("nests deeper than {MAX_JSON_DEPTH} levels"));
    }
    if value.is_unit() {
        return Ok(Value::Null);
    }
    if let Ok(flag) = value.as_bool() {
        return Ok(Value::Bool(flag));
    }
    if let Ok(number) = value.as_int() {
        return Ok(Value::from(number));
    }
    if let Ok(number) = value.as_float() {
        return serde_json::Number::from_f64(number)
            .map(Value::Number)
            .ok_or_else(|| format!("holds {number}, which JSON cannot carry"));
    }
    if let Ok(c) = value.as_char() {
        return Ok(Value::String(c.to_string()));
    }
    if value.is_string() {
        return Ok(Value::String(value.to_string()));
    }
    if value.is_array() {
        let items = value.read_lock::<rhai::Array>().map(|a| a.clone()).unwrap_or_default();
        return items
            .iter()
            .map(|item| to_json(item, depth + 1))
            .collect::<std::result::Result<_, _>>()
            .map(Value::Array);
    }
    if value.is_map() {
        let map = value.read_lock::<Map>().map(|m| m.clone()).unwrap_or_default();
        let mut object = serde_json::Map::new();
        for (key, item) in &map {
            object.insert(key.to_string(), to_json(item, depth + 1)?);
        }
        return Ok(Value::Object(object));
    }
    Err(format!("holds a {}, which cannot be sent as JSON", value.type_name()))
}

/// JSON as script values: objects become maps, arrays arrays, numbers integers when they are
/// whole and fit, floats otherwise. `None` when the data nests too deep.
fn from_json(value: serde_json::Value, depth: usize) -> Option<Dynamic> {
    use serde_json::Value;
    if depth > MAX_JSON_DEPTH {
        return None;
    }
    Some(match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(flag) => Dynamic::from_bool(flag),
        Value::Number(number) => match number.as_i64() {
            Some(int) => Dynamic::from_int(int),
            None => Dynamic::from_float(number.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(text) => Dynamic::from(text),
        Value::Array(items) => Dynamic::from_array(
            items.into_iter().map(|item| from_json(item, depth + 1)).collect::<Option<_>>()?,
        ),
        Value::Object(object) => {
            let mut map = Map::new();
            for (key, item) in object {
                map.insert(key.into(), from_json(item, depth + 1)?);
            }
            Dynamic::from_map(map)
        }
    })
}

pub fn register(module: &mut Module) {
    FuncRegistration::new("http_get").set_into_module(module, |n: NativeCallContext, url: &str| {
        http_get(&*context(&n)?, &n, url, Dynamic::UNIT)
    });
    FuncRegistration::new("http_get")
        .set_into_module(module, |n: NativeCallContext, url: &str, options: Dynamic| {
            http_get(&*context(&n)?, &n, url, options)
        });
    FuncRegistration::new("http_post").set_into_module(
        module,
        |n: NativeCallContext, url: &str, body: Dynamic| {
            http_post(&*context(&n)?, &n, url, body, Dynamic::UNIT)
        },
    );
    FuncRegistration::new("http_post").set_into_module(
        module,
        |n: NativeCallContext, url: &str, body: Dynamic, options: Dynamic| {
            http_post(&*context(&n)?, &n, url, body, options)
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_objects_become_maps_with_typed_values() {
        let value =
            serde_json::json!({"name": "Ada", "age": 36, "ratio": 0.5, "tags": ["a", null], "vip": true});
        let map = from_json(value, 0).unwrap().cast::<Map>();
        assert_eq!(map["name"].clone().into_string().unwrap(), "Ada");
        assert_eq!(map["age"].as_int().unwrap(), 36);
        assert_eq!(map["ratio"].as_float().unwrap(), 0.5);
        assert!(map["vip"].as_bool().unwrap());
        let tags = map["tags"].clone().cast::<rhai::Array>();
        assert!(tags[1].is_unit());
    }

    #[test]
    fn script_maps_become_json_objects() {
        let mut map = Map::new();
        map.insert("caller".into(), Dynamic::from("5551234"));
        map.insert("tries".into(), Dynamic::from_int(2));
        map.insert("list".into(), Dynamic::from_array(vec![Dynamic::from_bool(true), Dynamic::UNIT]));
        let json = to_json(&Dynamic::from_map(map), 0).unwrap();
        assert_eq!(json, serde_json::json!({"caller": "5551234", "tries": 2, "list": [true, null]}));
    }

    #[test]
    fn data_nested_too_deep_is_refused_both_ways() {
        let mut value = serde_json::json!(1);
        for _ in 0..100 {
            value = serde_json::json!([value]);
        }
        assert!(from_json(value, 0).is_none());
        let mut dynamic = Dynamic::from_int(1);
        for _ in 0..100 {
            dynamic = Dynamic::from_array(vec![dynamic]);
        }
        assert!(to_json(&dynamic, 0).unwrap_err().contains("deeper"));
    }

    #[test]
    fn repeated_response_headers_are_joined_and_non_json_has_no_json() {
        let response = HttpResponse {
            status: 200,
            headers: vec![
                ("Set-Cookie".into(), "a=1".into()),
                ("set-cookie".into(), "b=2".into()),
                ("content-type".into(), "text/plain".into()),
            ],
            body: b"{\"not\": \"json by type\"}".to_vec(),
        };
        let map = response_map(response);
        let headers = map["headers"].clone().cast::<Map>();
        assert_eq!(headers["set-cookie"].to_string(), "a=1, b=2");
        assert!(map["json"].is_unit());
        assert_eq!(map["status"].as_int().unwrap(), 200);
    }
}
