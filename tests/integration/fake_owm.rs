//! A fake OpenWeatherMap Current Weather API for the tests: a plain HTTP/1.1 server on
//! 127.0.0.1, port 0, one thread per connection, answering `/data/2.5/weather?id=` in the
//! API's documented shape (the bodies of `tests/data/owm/`), scripted per city id, errors
//! included, hostile ones too (any message, the key echoed, redirects elsewhere). It records every call (city, time, key, query, the `dt` served) so tests can
//! check the rate, the parameters and what was published, and every observation it served
//! with its values ([`Served`]), so the end-to-end tests can look for each one in Cassandra.
//! An outage ([`FakeOwm::outage`]) or a few one-off answers ([`FakeOwm::next_answers`])
//! override every city's script for a while.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::util::repo;

/// One scripted answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// 200, the full example body with this city's id, name and the model's `dt`.
    Full,
    /// 200, `weather_2996944_lenient.json` as it is (city 2996944).
    Lenient,
    /// 200, `weather_2980291_accents.json` as it is (city 2980291).
    Accents,
    /// This status with the API's error body for it (401, 404, 400, 500, 502, 503).
    Status(u16),
    /// 429, with or without `Retry-After` (seconds).
    RateLimited { retry_after: Option<u64> },
    /// Waits, then answers [`Answer::Full`]: slower than the client's time limit.
    Slow(Duration),
    /// 200 announcing more bytes than it sends, then closes.
    CutOff,
    /// 200 with an HTML error page, as a misconfigured proxy sends.
    Html,
    /// 200 with a body that is not JSON.
    NotJson,
    /// 200 like [`Answer::Full`], but the temperature and the humidity change with each
    /// observation ([`varying_values`]), so a stored row shows which observation it holds.
    Varying,
    /// This status with `{"cod": status, "message": ...}`, the message as given (escape
    /// sequences included) but with `{appid}` replaced by the key the call sent, as a
    /// server echoing its request would, and `{APPID}` by that key in capitals.
    Message { status: u16, message: String },
    /// 302 to `to` (a base URL such as another fake's) + `/data/2.5/weather` + the query the
    /// call sent, key included.
    Redirect { to: String },
}

/// How `dt` moves for [`Answer::Full`].
#[derive(Debug, Clone, Copy)]
pub enum DtModel {
    /// Always this observation time.
    Fixed(i64),
    /// One observation every `period` seconds per city, at a phase of its own, each up to
    /// `jitter` seconds late (a station's irregular reports); visible as soon as it exists.
    Cadence { period: i64, jitter: i64 },
}

/// One call the server answered.
#[derive(Debug, Clone)]
pub struct Call {
    pub city_id: i64,
    pub at: Instant,
    pub key: String,
    pub query: HashMap<String, String>,
    /// The `dt` of a 200 answer.
    pub dt: Option<i64>,
    pub status: u16,
}

/// One observation the server sent in a 200 answer ([`Answer::Full`] or [`Answer::Varying`]),
/// with the values a reading of it must hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Served {
    pub city_id: i64,
    pub name: String,
    pub dt: i64,
    pub temperature: f64,
    pub humidity: i64,
    pub at: Instant,
    /// The same moment on the wall clock, to compare with times written by other processes.
    pub at_wall: std::time::SystemTime,
}

#[derive(Default)]
struct State {
    scripts: HashMap<i64, Vec<Answer>>,
    names: HashMap<i64, String>,
    calls: Vec<Call>,
    served: Vec<Served>,
    dt_model: Option<DtModel>,
    fixed: HashMap<i64, i64>,
    /// Answers that take precedence over the scripts, for every city.
    overrides: std::collections::VecDeque<Answer>,
    /// Whether the overrides repeat in turn (an outage) or are used up one per call.
    cycle: bool,
}

/// What [`FakeOwm::answer`] needs of the request.
struct Request {
    city_id: i64,
    /// `appid`, decoded.
    key: String,
    /// The query as sent, still encoded.
    raw_query: String,
}

/// The running server; it lives as long as the test process.
#[derive(Clone)]
pub struct FakeOwm {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl FakeOwm {
    /// Starts a server whose [`Answer::Full`] `dt` follows `dt_model`.
    pub fn start(dt_model: DtModel) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the fake API");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            dt_model: Some(dt_model),
            ..State::default()
        }));
        let fake = Self { addr, state };
        let server = fake.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let server = server.clone();
                std::thread::spawn(move || server.serve(stream));
            }
        });
        fake
    }

    /// The base URL for `--api-url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers for `city_id`, in order; the last one repeats.
    pub fn script(&self, city_id: i64, name: &str, answers: Vec<Answer>) {
        let mut state = self.state.lock().unwrap();
        state.names.insert(city_id, name.to_string());
        state.scripts.insert(city_id, answers);
    }

    /// `dt` for this city never changes, whatever the model says.
    pub fn fix_dt(&self, city_id: i64, dt: i64) {
        self.state.lock().unwrap().fixed.insert(city_id, dt);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    pub fn calls_for(&self, city_id: i64) -> usize {
        self.calls().iter().filter(|c| c.city_id == city_id).count()
    }

    /// Every observation served in a 200 answer, in the order served.
    pub fn served(&self) -> Vec<Served> {
        self.state.lock().unwrap().served.clone()
    }

    /// From now on every call, whatever the city, gets these answers in turn, until
    /// [`FakeOwm::heal`] or [`FakeOwm::next_answers`].
    pub fn outage(&self, answers: Vec<Answer>) {
        let mut state = self.state.lock().unwrap();
        state.overrides = answers.into();
        state.cycle = true;
    }

    /// The next calls, whatever the city, get these answers, one each; then the scripts
    /// answer again. Ends an outage.
    pub fn next_answers(&self, answers: Vec<Answer>) {
        let mut state = self.state.lock().unwrap();
        state.overrides = answers.into();
        state.cycle = false;
    }

    /// The scripts answer again.
    pub fn heal(&self) {
        self.state.lock().unwrap().overrides.clear();
    }

    fn serve(&self, stream: TcpStream) {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut reader = BufReader::new(match stream.try_clone() {
            Ok(s) => s,
            Err(_) => return,
        });
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).is_err() {
            return;
        }
        // Skip the headers.
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) if line == "\r\n" || line == "\n" => break,
                Ok(_) => {}
            }
        }
        let target = request_line.split_whitespace().nth(1).unwrap_or("/");
        let (path, raw_query) = target.split_once('?').unwrap_or((target, ""));
        let query: HashMap<String, String> = raw_query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), percent_decode(v)))
            .collect();
        let mut stream = stream;
        if path != "/data/2.5/weather" {
            respond(
                &mut stream,
                404,
                r#"{"cod":"404","message":"Internal error"}"#,
                "",
            );
            return;
        }
        let city_id: i64 = query.get("id").and_then(|v| v.parse().ok()).unwrap_or(0);
        let request = Request {
            city_id,
            key: query.get("appid").cloned().unwrap_or_default(),
            raw_query: raw_query.to_string(),
        };
        let at = Instant::now();
        // Recorded on arrival, so a slow answer still counts when the next call comes.
        let (index, answer, name, dt) = {
            let mut state = self.state.lock().unwrap();
            let done = state.calls.iter().filter(|c| c.city_id == city_id).count();
            let scripted = state
                .scripts
                .get(&city_id)
                .and_then(|s| s.get(done.min(s.len().saturating_sub(1))).cloned())
                .unwrap_or(Answer::Status(404));
            let answer = match state.overrides.pop_front() {
                Some(answer) => {
                    if state.cycle {
                        state.overrides.push_back(answer.clone());
                    }
                    answer
                }
                None => scripted,
            };
            let name = state
                .names
                .get(&city_id)
                .cloned()
                .unwrap_or_else(|| format!("City {city_id}"));
            let dt = state.fixed.get(&city_id).copied().unwrap_or_else(|| {
                visible_dt(state.dt_model.unwrap_or(DtModel::Fixed(0)), city_id)
            });
            state.calls.push(Call {
                city_id,
                at,
                key: query.get("appid").cloned().unwrap_or_default(),
                query,
                dt: None,
                status: 0,
            });
            (state.calls.len() - 1, answer, name, dt)
        };
        let (status, served_dt) = self.answer(&mut stream, &answer, &request, &name, dt);
        let mut state = self.state.lock().unwrap();
        state.calls[index].status = status;
        state.calls[index].dt = served_dt;
    }

    fn answer(
        &self,
        stream: &mut TcpStream,
        answer: &Answer,
        request: &Request,
        name: &str,
        dt: i64,
    ) -> (u16, Option<i64>) {
        let city_id = request.city_id;
        match answer {
            Answer::Full | Answer::Varying => {
                let (temperature, humidity) = if *answer == Answer::Varying {
                    varying_values(city_id, dt)
                } else {
                    (FULL_TEMPERATURE, FULL_HUMIDITY)
                };
                let mut body: Value = serde_json::from_str(&full_body(city_id, name, dt)).unwrap();
                body["main"]["temp"] = json!(temperature);
                body["main"]["humidity"] = json!(humidity);
                if respond(stream, 200, &body.to_string(), "") {
                    self.state.lock().unwrap().served.push(Served {
                        city_id,
                        name: name.to_string(),
                        dt,
                        temperature,
                        humidity,
                        at: Instant::now(),
                        at_wall: std::time::SystemTime::now(),
                    });
                }
                (200, Some(dt))
            }
            Answer::Slow(wait) => {
                std::thread::sleep(*wait);
                // The client has hung up by now; the answer may go nowhere.
                respond(stream, 200, &full_body(city_id, name, dt), "");
                (200, None)
            }
            Answer::Lenient | Answer::Accents => {
                let file = if *answer == Answer::Lenient {
                    "weather_2996944_lenient.json"
                } else {
                    "weather_2980291_accents.json"
                };
                let body = example(file);
                let dt = serde_json::from_str::<Value>(&body).unwrap()["dt"].as_i64();
                respond(stream, 200, &body, "");
                (200, dt)
            }
            Answer::Status(code) => {
                let body = match code {
                    401 => example("error_401.json"),
                    404 => example("error_404.json"),
                    400 => example("error_400.json"),
                    502 => "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>".to_string(),
                    _ => format!(r#"{{"cod":{code},"message":"Internal error"}}"#),
                };
                respond(stream, *code, &body, "");
                (*code, None)
            }
            Answer::RateLimited { retry_after } => {
                let header = retry_after
                    .map(|s| format!("Retry-After: {s}\r\n"))
                    .unwrap_or_default();
                respond(stream, 429, &example("error_429.json"), &header);
                (429, None)
            }
            Answer::CutOff => {
                let body = full_body(city_id, name, dt);
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body.as_bytes()[..body.len() / 2]);
                let _ = stream.flush();
                (200, None)
            }
            Answer::Html => {
                let page = "<!DOCTYPE html><html><body><h1>Service temporarily unavailable</h1><p>Please try again later.</p></body></html>";
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    page.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(page.as_bytes());
                (200, None)
            }
            Answer::NotJson => {
                respond(stream, 200, "OK", "");
                (200, None)
            }
            Answer::Message { status, message } => {
                let message = message
                    .replace("{appid}", &request.key)
                    .replace("{APPID}", &request.key.to_uppercase());
                let body = json!({"cod": status, "message": message}).to_string();
                respond(stream, *status, &body, "");
                (*status, None)
            }
            Answer::Redirect { to } => {
                let location = format!("Location: {to}/data/2.5/weather?{}\r\n", request.raw_query);
                respond(stream, 302, "", &location);
                (302, None)
            }
        }
    }
}

/// The temperature and humidity of the example answer (`weather_2988507.json`).
pub const FULL_TEMPERATURE: f64 = 7.32;
pub const FULL_HUMIDITY: i64 = 87;

/// The temperature (-15.0..=30.0 °C, one decimal) and humidity (0..=100 %) of [`Answer::Varying`]
/// for one observation: the same (city, dt) always gets the same values.
pub fn varying_values(city_id: i64, dt: i64) -> (f64, i64) {
    let temperature = (spread(city_id, dt, 450) as f64 - 150.0) / 10.0;
    let humidity = spread(city_id ^ 0x5A5A, dt, 100);
    (temperature, humidity)
}

fn example(file: &str) -> String {
    std::fs::read_to_string(repo().join("tests/data/owm").join(file)).unwrap()
}

/// The full example answer, for another city and observation time.
pub fn full_body(city_id: i64, name: &str, dt: i64) -> String {
    let mut body: Value = serde_json::from_str(&example("weather_2988507.json")).unwrap();
    body["id"] = json!(city_id);
    body["name"] = json!(name);
    body["dt"] = json!(dt);
    body.to_string()
}

/// Sends the answer; false when it could not be written (the client hung up).
fn respond(stream: &mut TcpStream, status: u16, body: &str, extra_headers: &str) -> bool {
    let reason = match status {
        200 => "OK",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let content_type = if body.starts_with('<') {
        "text/html"
    } else {
        "application/json; charset=utf-8"
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra_headers}Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).is_ok() && stream.flush().is_ok()
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A deterministic number in `0..=max` for (city, k).
fn spread(city_id: i64, k: i64, max: i64) -> i64 {
    if max <= 0 {
        return 0;
    }
    let mut z = (city_id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (k as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    (z % (max as u64 + 1)) as i64
}

/// The newest observation of `city_id` visible now under `model`.
pub fn visible_dt(model: DtModel, city_id: i64) -> i64 {
    match model {
        DtModel::Fixed(dt) => dt,
        DtModel::Cadence { period, jitter } => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64;
            let phase = spread(city_id, -1, period - 1);
            let k = (now - phase).div_euclid(period);
            let at = |k: i64| phase + k * period + spread(city_id, k, jitter);
            if at(k) <= now {
                at(k)
            } else {
                at(k - 1)
            }
        }
    }
}
