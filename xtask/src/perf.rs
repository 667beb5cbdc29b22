//! `make perf`: what each request costs the function that serves it, measured from outside.
//!
//! Against a running local stack (`scripts/perf.sh` starts one with release builds), drives each
//! operation with a bounded load prepared before the clock starts (bodies built, webhooks
//! signed), one request at a time as Lambda gives them, and prints per operation:
//!
//! - CPU per request of the function's own process (`utime + stime` from `/proc/<pid>/stat`,
//!   clock ticks, so each operation runs enough requests for the total to be many ticks; the
//!   router, moto and the stand-ins are other processes and are not counted);
//! - its peak RSS (`VmHWM` from `/proc/<pid>/status`, since the process started);
//! - DynamoDB requests per operation (the `dbRoundTrips` of the function's request log lines);
//! - p50 and p99 latency seen by the client (through `cargo lambda watch`'s router).
//!
//! Sends also show the `delivery` function's CPU per SMS (the pipeline drained before reading).

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use switchboard::twilio::signature;

/// Where the stack listens and what the driver needs to sign for it.
#[derive(Clone, Debug)]
pub struct PerfConfig {
    /// `cargo lambda watch`'s base URL, e.g. `http://127.0.0.1:9000`.
    pub api: String,
    /// The Twilio stand-in's base URL.
    pub standin: String,
    /// The stack's log (the functions' JSON lines).
    pub log: PathBuf,
    /// `TWILIO_AUTH_TOKEN` of the stack: webhooks are signed with it.
    pub auth_token: String,
    /// The URL the webhooks are signed for (`PUBLIC_BASE_URL` of the stack).
    pub public_base_url: String,
    /// Scales every operation's request count (1.0: the default counts).
    pub scale: f64,
}

/// One operation's figures.
#[derive(Clone, Debug)]
pub struct Figure {
    pub operation: String,
    pub function: &'static str,
    pub requests: usize,
    pub cpu_ms_per_request: f64,
    pub peak_rss_mib: f64,
    pub db_requests: String,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// A request built before the clock starts.
#[derive(Clone, Debug)]
struct Prepared {
    method: Method,
    url: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

/// The process of a function started by `cargo lambda watch --release`.
#[derive(Clone, Copy, Debug)]
struct Process {
    pid: u32,
}

impl Process {
    /// The running process whose executable is `target/release/<binary>`.
    fn find(binary: &str) -> Option<Self> {
        let suffix = format!("/release/{binary}");
        std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let exe = std::fs::read_link(entry.path().join("exe")).ok()?;
            exe.to_str()?.ends_with(&suffix).then_some(Process { pid })
        })
    }

    /// User plus system CPU so far, in clock ticks (dead threads included).
    fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).expect("the function's stat");
        // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
        let after = &stat[stat.rfind(')').expect("comm") + 2..];
        let fields: Vec<&str> = after.split_whitespace().collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }

    fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).expect("status");
        let kib: f64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        kib / 1024.0
    }
}

fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The functions' request log lines appended to the stack's log since a point.
struct LogCursor {
    path: PathBuf,
    offset: u64,
}

impl LogCursor {
    fn at_end(path: &Path) -> Self {
        let offset = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        Self { path: path.to_path_buf(), offset }
    }

    /// `dbRoundTrips` of each request line of `function` written since the cursor.
    fn round_trips(&self, function: &str) -> Vec<u64> {
        let mut file = std::fs::File::open(&self.path).expect("the stack's log");
        file.seek(SeekFrom::Start(self.offset)).unwrap();
        let mut text = String::new();
        file.read_to_string(&mut text).unwrap();
        text.lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|line| line["message"] == "request" && line["function"] == function)
            .filter_map(|line| line["dbRoundTrips"].as_u64())
            .collect()
    }
}

fn describe_round_trips(mut trips: Vec<u64>) -> String {
    if trips.is_empty() {
        return "?".into();
    }
    trips.sort_unstable();
    let (lo, hi) = (trips[0], trips[trips.len() - 1]);
    if lo == hi {
        lo.to_string()
    } else {
        let mean = trips.iter().sum::<u64>() as f64 / trips.len() as f64;
        format!("{lo}..{hi} (mean {mean:.2})")
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The driver: an HTTP client and the stack's coordinates.
pub struct Driver {
    config: PerfConfig,
    http: reqwest::Client,
    ticks_per_second: f64,
}

/// A signed-in user.
#[derive(Clone, Debug)]
struct User {
    id: String,
    token: String,
}

const PASSWORD: &str = "correct horse battery";

impl Driver {
    pub fn new(config: PerfConfig) -> Self {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(300)).build().expect("client");
        Self { config, http, ticks_per_second: clock_ticks_per_second() }
    }

    fn count(&self, base: usize) -> usize {
        ((base as f64 * self.config.scale).round() as usize).max(5)
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.config.api));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the local stack answers");
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    async fn expect(
        &self,
        status: u16,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Value {
        let (got, value) = self.call(method, path, token, body).await;
        assert_eq!(got, status, "{path}: {value}");
        value
    }

    async fn user(&self, username: &str, email: &str) -> User {
        let register = json!({"username": username, "email": email, "password": PASSWORD});
        let (status, body) = self.call(Method::POST, "/api/auth/register", None, Some(register)).await;
        let body = if status == 201 {
            body
        } else {
            let login = json!({"username": username, "password": PASSWORD});
            self.expect(200, Method::POST, "/api/auth/login", None, Some(login)).await
        };
        User {
            id: body["user"]["id"].as_str().unwrap().into(),
            token: body["token"].as_str().unwrap().into(),
        }
    }

    fn api_request(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Prepared {
        let mut headers = vec![("authorization", format!("Bearer {token}"))];
        if body.is_some() {
            headers.push(("content-type", "application/json".into()));
        }
        Prepared {
            method,
            url: format!("{}{path}", self.config.api),
            headers,
            body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
        }
    }

    /// A Twilio webhook, signed as Twilio signs it for the stack's public URL.
    fn webhook(&self, path: &str, params: &[(&str, &str)]) -> Prepared {
        let owned: Vec<(String, String)> =
            params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let signed_url = format!("{}{path}", self.config.public_base_url);
        let signature = signature::sign(&self.config.auth_token, &signed_url, &owned);
        Prepared {
            method: Method::POST,
            url: format!("{}{path}", self.config.api),
            headers: vec![
                ("content-type", "application/x-www-form-urlencoded".into()),
                ("x-twilio-signature", signature),
            ],
            body: serde_urlencoded::to_string(&owned).unwrap().into_bytes(),
        }
    }

    async fn send(&self, prepared: &Prepared) -> (u16, f64) {
        let mut request = self.http.request(prepared.method.clone(), &prepared.url);
        for (name, value) in &prepared.headers {
            request = request.header(*name, value);
        }
        let started = Instant::now();
        let response = request.body(prepared.body.clone()).send().await.expect("the local stack answers");
        let status = response.status().as_u16();
        let _ = response.bytes().await;
        (status, started.elapsed().as_secs_f64() * 1000.0)
    }

    /// Runs `requests` one at a time against `function` and measures it.
    async fn measure(&self, operation: &str, function: &'static str, requests: &[Prepared]) -> Figure {
        // A few requests first: the process starts (or wakes) and its clients connect.
        for prepared in requests.iter().take(3) {
            self.send(prepared).await;
        }
        let process = Process::find(function).unwrap_or_else(|| panic!("no release process for {function}"));
        let cursor = LogCursor::at_end(&self.config.log);
        let before = process.cpu_ticks();
        let mut millis = Vec::with_capacity(requests.len());
        for prepared in &requests[3..] {
            let (status, ms) = self.send(prepared).await;
            assert!(status < 300, "{operation}: HTTP {status}");
            millis.push(ms);
        }
        let ticks = process.cpu_ticks() - before;
        // Let the last log lines reach the file.
        tokio::time::sleep(Duration::from_millis(300)).await;
        millis.sort_by(|a, b| a.total_cmp(b));
        let n = millis.len();
        Figure {
            operation: operation.into(),
            function,
            requests: n,
            cpu_ms_per_request: ticks as f64 * 1000.0 / self.ticks_per_second / n as f64,
            peak_rss_mib: process.peak_rss_mib(),
            db_requests: describe_round_trips(cursor.round_trips(function)),
            p50_ms: percentile(&millis, 0.5),
            p99_ms: percentile(&millis, 0.99),
        }
    }

    /// How many SMS the stand-in has accepted for these phones, in all.
    async fn received(&self, phones: &[String]) -> usize {
        let mut total = 0;
        for phone in phones {
            let url = format!("{}/phones/{phone}/messages", self.config.standin);
            let body: Value = self.http.get(url).send().await.unwrap().json().await.unwrap();
            total += body["messages"]
                .as_array()
                .map_or(0, |list| list.iter().filter(|m| m["direction"] == "received").count());
        }
        total
    }

    /// Waits until the phones have `expected` texts between them, then a moment more for the
    /// delivery worker to record the last answers.
    async fn drain(&self, phones: &[String], expected: usize) {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let total = self.received(phones).await;
            if total >= expected {
                break;
            }
            assert!(Instant::now() < deadline, "the pipeline delivered {total} of {expected}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    /// A send operation: the `messages` function per request, then the `delivery` function per
    /// SMS once the pipeline has taken them all.
    async fn sends(
        &self,
        operation: &str,
        path: &str,
        user: &User,
        phones: &[String],
        count: usize,
    ) -> [Figure; 2] {
        let already = self.received(phones).await;
        let requests: Vec<Prepared> = (0..count)
            .map(|i| {
                self.api_request(
                    Method::POST,
                    path,
                    &user.token,
                    Some(json!({"content": format!("{operation} {i}")})),
                )
            })
            .collect();
        let delivery = Process::find("delivery");
        let delivery_before = delivery.map(|p| p.cpu_ticks());
        let cursor = LogCursor::at_end(&self.config.log);
        let send = self.measure(operation, "messages", &requests).await;
        self.drain(phones, already + count * phones.len()).await;
        let delivery = delivery.or_else(|| Process::find("delivery")).expect("the delivery process");
        let ticks = delivery.cpu_ticks() - delivery_before.unwrap_or(0);
        let sms = count * phones.len();
        let worker = Figure {
            operation: format!("  its SMS, by the delivery worker ({} per send)", phones.len()),
            function: "delivery",
            requests: sms,
            cpu_ms_per_request: ticks as f64 * 1000.0 / self.ticks_per_second / sms as f64,
            peak_rss_mib: delivery.peak_rss_mib(),
            db_requests: describe_round_trips(cursor.round_trips("delivery")),
            p50_ms: f64::NAN,
            p99_ms: f64::NAN,
        };
        [send, worker]
    }

    /// Sets the stage, then measures every operation in turn.
    pub async fn run(&self) -> Vec<Figure> {
        // A run's own users, phones and SIDs, so runs against one stack do not collide.
        let seed = ulid::Ulid::new().random() as u32;
        let tag = format!("{seed:08x}");
        let admin = self.user("admin", "admin@example.com").await;
        for i in 0..12 {
            let number = format!("+1415555{:04}", 8000 + i);
            self.call(Method::POST, "/api/numbers", Some(&admin.token), Some(json!({"phoneNumber": number})))
                .await;
        }
        let ada = self.user(&format!("ada{tag}"), &format!("ada{tag}@example.com")).await;
        let bob = self.user(&format!("bob{tag}"), &format!("bob{tag}@example.com")).await;
        let profile = self
            .expect(200, Method::POST, "/api/users/virtual-number", Some(&ada.token), Some(json!({})))
            .await;
        let ada_number = profile["user"]["virtualPhoneNumber"].as_str().expect("a number").to_string();
        let phone_base = 8100 + (seed % 80) * 20;
        let pat = format!("+1415555{phone_base:04}");
        let sms = self
            .expect(
                201,
                Method::POST,
                "/api/conversations/sms",
                Some(&ada.token),
                Some(json!({"phoneNumber": pat})),
            )
            .await;
        let sms_id = sms["conversation"]["id"].as_str().unwrap().to_string();
        let phones: Vec<String> = (1..=10).map(|i| format!("+1415555{:04}", phone_base + i)).collect();
        let participants: Vec<Value> = phones.iter().map(|p| json!({"phoneNumber": p})).collect();
        let group = self
            .expect(
                201,
                Method::POST,
                "/api/conversations/group",
                Some(&ada.token),
                Some(json!({"name": "Perf", "participants": participants})),
            )
            .await;
        let group_id = group["conversation"]["id"].as_str().unwrap().to_string();
        let direct = self
            .expect(
                201,
                Method::POST,
                "/api/conversations/direct",
                Some(&ada.token),
                Some(json!({"userId": bob.id})),
            )
            .await;
        let direct_id = direct["conversation"]["id"].as_str().unwrap().to_string();
        for i in 0..60 {
            let body = json!({"content": format!("history line {i}")});
            self.expect(
                201,
                Method::POST,
                &format!("/api/conversations/{direct_id}/messages"),
                Some(&bob.token),
                Some(body),
            )
            .await;
        }

        let mut figures = Vec::new();
        let inbound_count = self.count(1000);
        let sids: Vec<String> = (0..inbound_count).map(|i| format!("SM{tag}{i:024x}")).collect();
        let inbound: Vec<Prepared> = sids
            .iter()
            .map(|sid| {
                self.webhook(
                    "/api/webhooks/twilio/incoming",
                    &[
                        ("MessageSid", sid),
                        ("AccountSid", "AC00000000000000000000000000000000"),
                        ("From", &pat),
                        ("To", &ada_number),
                        ("Body", "on my way"),
                        ("NumMedia", "0"),
                    ],
                )
            })
            .collect();
        figures.push(self.measure("inbound SMS (new, 1:1)", "twilio-inbound", &inbound).await);
        figures.push(self.measure("inbound SMS (duplicate)", "twilio-inbound", &inbound).await);

        let sms_path = format!("/api/conversations/{sms_id}/messages");
        figures.extend(
            self.sends("send 1:1 (SMS)", &sms_path, &ada, std::slice::from_ref(&pat), self.count(300)).await,
        );
        let group_path = format!("/api/conversations/{group_id}/messages");
        figures.extend(
            self.sends("send to a group of 10 phones", &group_path, &ada, &phones, self.count(100)).await,
        );

        // Status callbacks for the 1:1 sends' deliveries: `read` applies, a repeat is stale.
        let deliveries = self.deliveries(&sms_path, &ada).await;
        let callbacks = |status: &str| -> Vec<Prepared> {
            deliveries
                .iter()
                .map(|(id, sid)| {
                    self.webhook(
                        &format!("/api/webhooks/twilio/status?deliveryId={id}"),
                        &[
                            ("MessageSid", sid),
                            ("MessageStatus", status),
                            ("AccountSid", "AC00000000000000000000000000000000"),
                        ],
                    )
                })
                .collect()
        };
        figures.push(self.measure("status callback (applied)", "twilio-status", &callbacks("read")).await);
        figures.push(self.measure("status callback (stale)", "twilio-status", &callbacks("sent")).await);

        let list = self.api_request(
            Method::GET,
            &format!("/api/conversations/{direct_id}/messages?limit=50"),
            &ada.token,
            None,
        );
        figures.push(self.measure("list 50 messages", "messages", &vec![list; self.count(300)]).await);
        let inbox = self.api_request(Method::GET, "/api/conversations", &ada.token, None);
        figures.push(
            self.measure("inbox (conversations list)", "conversations", &vec![inbox; self.count(300)]).await,
        );
        let login = self.api_request(
            Method::POST,
            "/api/auth/login",
            "",
            Some(json!({"username": format!("ada{tag}"), "password": PASSWORD})),
        );
        let login = Prepared { headers: vec![("content-type", "application/json".into())], ..login };
        figures.push(self.measure("login (argon2id)", "auth", &vec![login; self.count(30).max(8)]).await);
        figures
    }

    /// (delivery id, Twilio SID) of every accepted delivery in a conversation's history.
    async fn deliveries(&self, path: &str, user: &User) -> Vec<(String, String)> {
        let mut found = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page_path = match &cursor {
                Some(c) => format!("{path}?limit=100&cursor={c}"),
                None => format!("{path}?limit=100"),
            };
            let page = self.expect(200, Method::GET, &page_path, Some(&user.token), None).await;
            for message in page["messages"].as_array().unwrap() {
                for delivery in message["deliveries"].as_array().into_iter().flatten() {
                    if let (Some(id), Some(sid)) = (delivery["id"].as_str(), delivery["twilioSid"].as_str()) {
                        found.push((id.to_string(), sid.to_string()));
                    }
                }
            }
            match page["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => return found,
            }
        }
    }
}

/// The figures as a Markdown table.
pub fn table(figures: &[Figure]) -> String {
    let mut out = String::from(
        "| operation | function | requests | CPU ms / request | peak RSS MiB | DynamoDB requests | p50 ms | p99 ms |\n|---|---|---|---|---|---|---|---|\n",
    );
    for f in figures {
        let latency = |v: f64| if v.is_nan() { "".to_string() } else { format!("{v:.2}") };
        out.push_str(&format!(
            "| {} | {} | {} | {:.3} | {:.1} | {} | {} | {} |\n",
            f.operation,
            f.function,
            f.requests,
            f.cpu_ms_per_request,
            f.peak_rss_mib,
            f.db_requests,
            latency(f.p50_ms),
            latency(f.p99_ms)
        ));
    }
    out
}

/// Peak RSS of every function process still running (the ones the load did not touch too).
pub fn resident_sizes(binaries: &[&str]) -> BTreeMap<String, f64> {
    binaries.iter().filter_map(|b| Process::find(b).map(|p| (b.to_string(), p.peak_rss_mib()))).collect()
}
