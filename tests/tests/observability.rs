//! What an operator sees of a request: its JSON log line and its CloudWatch Embedded Metric
//! Format documents, captured from the real handlers (against the local DynamoDB server and the
//! Twilio mock) per request, so the tests of this file can run in parallel.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use switchboard::core::observe::sink;
use switchboard_tests::twilio_mock::{Failure, TwilioMock, AUTH_TOKEN};
use switchboard_tests::{message_sid, proxy_of, us_number, Reply, Session, TestApp, JWT_SECRET};

const PAT: &str = "+14155550401";
const SAM: &str = "+14155550402";
const STRANGER: &str = "+14155550499";
const OLD_TOKEN: &str = "the-old-auth-token-0123456789";

/// Installs the JSON subscriber without stdout: lines are only seen inside `sink::capture`.
fn logs_on() {
    let _ = tracing::subscriber::set_global_default(switchboard::telemetry::subscriber());
}

/// Everything one request wrote.
struct Captured {
    reply: Reply,
    lines: Vec<String>,
}

impl Captured {
    /// Runs the request and keeps every line it wrote; every log line's fields are camelCase.
    async fn of(request: impl std::future::Future<Output = Reply>) -> Self {
        let (reply, lines) = sink::capture(request).await;
        let captured = Self { reply, lines };
        captured.assert_camel_case_fields();
        captured
    }

    /// Every line some work wrote (the pipeline's jobs: one request line and one metrics document
    /// per job).
    async fn work(work: impl std::future::Future<Output = ()>) -> Self {
        let ((), lines) = sink::capture(work).await;
        let reply = Reply { status: 0, body: Value::Null, headers: Default::default() };
        let captured = Self { reply, lines };
        captured.assert_camel_case_fields();
        captured
    }

    /// The request lines of one function.
    fn lines_of(&self, function: &str) -> Vec<Value> {
        self.json().into_iter().filter(|l| l["message"] == "request" && l["function"] == function).collect()
    }

    /// A metric summed over every [Function] document of `function` (0 where absent).
    fn total(&self, function: &str, metric: &str) -> u64 {
        self.documents()
            .iter()
            .filter(|d| d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == json!([["Function"]]))
            .filter(|d| d["Function"] == function)
            .filter_map(|d| value(d, metric))
            .sum()
    }

    /// One style of field names in every log line (metric documents follow EMF's own naming).
    fn assert_camel_case_fields(&self) {
        let camel = |key: &str| {
            key.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && key.chars().all(|c| c.is_ascii_alphanumeric())
        };
        for line in self.json().iter().filter(|l| l.get("_aws").is_none()) {
            let keys: Vec<&String> = line.as_object().expect("a JSON object").keys().collect();
            assert!(keys.iter().all(|k| camel(k)), "a log field is not camelCase: {keys:?} in {line}");
        }
    }

    fn json(&self) -> Vec<Value> {
        self.lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON object ({e}): {l}")))
            .collect()
    }

    /// The one request line.
    fn request_line(&self) -> Value {
        let lines: Vec<Value> = self.json().into_iter().filter(|l| l["message"] == "request").collect();
        assert_eq!(lines.len(), 1, "one request line: {:#?}", self.lines);
        lines[0].clone()
    }

    /// The metric documents, each checked against the EMF specification.
    fn documents(&self) -> Vec<Value> {
        let documents: Vec<Value> = self.json().into_iter().filter(|l| l.get("_aws").is_some()).collect();
        documents.iter().for_each(assert_valid_emf);
        documents
    }

    /// The document published under [Function] only.
    fn metrics(&self) -> Value {
        let main: Vec<Value> = self
            .documents()
            .into_iter()
            .filter(|d| d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == json!([["Function"]]))
            .collect();
        assert_eq!(main.len(), 1, "one [Function] document: {:#?}", self.lines);
        main[0].clone()
    }

    /// TwilioApiError per TwilioErrorCode.
    fn errors_by_code(&self) -> BTreeMap<String, u64> {
        self.documents()
            .into_iter()
            .filter(|d| {
                d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == json!([["Function", "TwilioErrorCode"]])
            })
            .map(|d| {
                (d["TwilioErrorCode"].as_str().unwrap().to_string(), d["TwilioApiError"].as_u64().unwrap())
            })
            .collect()
    }

    /// No full phone number, no secret and none of `private` (message bodies, tokens) in any line.
    fn assert_discreet(&self, private: &[&str]) {
        for line in &self.lines {
            assert!(full_number(line).is_none(), "a full phone number is logged: {line}");
            for secret in [JWT_SECRET, AUTH_TOKEN, OLD_TOKEN].iter().chain(private) {
                assert!(!line.contains(secret), "{secret:?} is logged: {line}");
            }
        }
    }
}

/// A phone number in a log line, however written: 7 or more digits in a row, maybe split by
/// spaces, dots, hyphens or parentheses (`+14155550100`, `415-555-0100`, `(415) 555-0100`),
/// after percent-decoding. Only JSON strings are searched (numbers such as latencies or EMF
/// timestamps are not phone numbers, which are only ever logged as strings), and
/// ULIDs (our ids, also joined by hyphens as delivery ids), Twilio SIDs, UUIDs and RFC 3339
/// timestamps are taken out first: their digit runs are not numbers. A line that is not JSON is
/// searched whole.
fn full_number(line: &str) -> Option<String> {
    let texts = match serde_json::from_str::<Value>(line) {
        Ok(value) => strings_of(&value),
        Err(_) => vec![line.to_string()],
    };
    let harmless = regex_lite::Regex::new(concat!(
        r"(?i)\b[0-9A-HJKMNP-TV-Z]{26}\b",
        r"|\b[A-Z]{2}[0-9A-F]{32}\b",
        r"|\b[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\b",
        r"|\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?",
    ))
    .unwrap();
    let number = regex_lite::Regex::new(r"\d(?:[ ().\-]*\d){6,}").unwrap();
    texts.iter().find_map(|text| {
        let decoded = percent_encoding_decode(text);
        let cleaned = harmless.replace_all(&decoded, " ");
        number.find(&cleaned).map(|m| m.as_str().to_string())
    })
}

/// Every string (and key) in a JSON value.
fn strings_of(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().flat_map(strings_of).collect(),
        Value::Object(map) => {
            map.iter().flat_map(|(k, v)| std::iter::once(k.clone()).chain(strings_of(v))).collect()
        }
        _ => Vec::new(),
    }
}

/// `%XX` sequences decoded (others kept as they are).
fn percent_encoding_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn the_full_number_check_finds_numbers_however_written_and_nothing_else() {
    for logged in [
        r#"{"route":"/api/numbers/+14155550100"}"#,
        r#"{"route":"/api/numbers/415-555-0100"}"#,
        r#"{"route":"/api/numbers/%28415%29555-0100"}"#,
        r#"{"to":"(415) 555.0100"}"#,
        r#"{"fields":{"error":"The 'To' number %2B14155550302 is not valid."}}"#,
        "not json: 4155550100",
    ] {
        assert!(full_number(logged).is_some(), "{logged}");
    }
    let sid = message_sid(1234567);
    let ids = format!("{}-{}-{}", ulid::Ulid::new(), ulid::Ulid::new(), ulid::Ulid::new());
    let clean = json!({
        "timestamp": "2024-05-01T12:34:56.123456789Z",
        "route": "/api/conversations/{id}/messages",
        "messageSid": sid,
        "deliveryId": ids,
        "table": "test-01j9z8q4t5v6w7x8y9z0a1b2c3",
        "requestId": "12345678-1234-1234-1234-123456789012",
        "to": "***0100",
        "latencyMs": 12.345678912,
        "_aws": {"Timestamp": 1714567890123u64, "TwilioApiLatency": [1234567.891]},
    });
    assert_eq!(full_number(&clean.to_string()), None);
}

/// The EMF specification: `_aws` with a numeric epoch-millisecond Timestamp and CloudWatchMetrics
/// directives (Namespace, Dimensions: arrays of at most 30 names, Metrics: at most 100 with Name
/// and a CloudWatch Unit); every dimension a top-level string member, every metric a top-level
/// number or array of at most 100 numbers.
fn assert_valid_emf(document: &Value) {
    const UNITS: [&str; 27] = [
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    ];
    let root = document.as_object().expect("an object");
    let aws = root["_aws"].as_object().expect("_aws is an object");
    let timestamp = aws["Timestamp"].as_u64().expect("Timestamp is an integer");
    assert!(timestamp > 1_600_000_000_000, "Timestamp is in epoch milliseconds: {timestamp}");
    let directives = aws["CloudWatchMetrics"].as_array().expect("CloudWatchMetrics is an array");
    assert!(!directives.is_empty());
    for directive in directives {
        assert!(directive["Namespace"].as_str().is_some_and(|n| !n.is_empty()), "Namespace: {directive}");
        let sets = directive["Dimensions"].as_array().expect("Dimensions is an array");
        for set in sets {
            let names = set.as_array().expect("a dimension set is an array");
            assert!(!names.is_empty() && names.len() <= 30, "dimension set size: {set}");
            for name in names {
                let name = name.as_str().expect("dimension names are strings");
                assert!(
                    root.get(name).is_some_and(Value::is_string),
                    "dimension {name} is a top-level string"
                );
            }
        }
        let metrics = directive["Metrics"].as_array().expect("Metrics is an array");
        assert!(!metrics.is_empty() && metrics.len() <= 100);
        for metric in metrics {
            let name = metric["Name"].as_str().expect("Name");
            let unit = metric["Unit"].as_str().expect("Unit");
            assert!(UNITS.contains(&unit), "{name}: unit {unit}");
            match &root.get(name).unwrap_or_else(|| panic!("metric {name} is a top-level member")) {
                Value::Number(_) => {}
                Value::Array(values) => assert!(
                    !values.is_empty() && values.len() <= 100 && values.iter().all(Value::is_number),
                    "{name}: 1 to 100 numbers, not {values:?}"
                ),
                other => panic!("metric {name} is {other}"),
            }
        }
    }
}

/// Metric values of a document; absent metrics are not there.
fn value(document: &Value, name: &str) -> Option<u64> {
    document.get(name).map(|v| v.as_u64().unwrap_or_else(|| panic!("{name} = {v}")))
}

/// Ann with her number, her SMS conversation with Pat; a group of Ann, Pat and Sam.
struct World {
    app: TestApp,
    ann: Session,
    ann_number: String,
    sms_id: String,
    group_id: String,
    group_proxy: String,
}

async fn world(mock: &TwilioMock, extra: &[(&str, &str)]) -> World {
    logs_on();
    let app = TestApp::with_twilio(mock, extra).await;
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1), us_number(2), us_number(3)]).await;
    let ann = app.register("ann").await;
    let ann_number = app.give_number(&ann).await;
    let sms = app
        .post("/api/conversations/sms", json!({"phoneNumber": PAT, "name": "Pat"}), Some(&ann.token))
        .await;
    let participants =
        json!([{"phoneNumber": PAT, "displayName": "Pat"}, {"phoneNumber": SAM, "displayName": "Sam"}]);
    let group = app.create_group(&ann, "Club", participants).await;
    let group_proxy = proxy_of(&group, PAT);
    World {
        sms_id: sms.body["conversation"]["id"].as_str().unwrap().to_string(),
        group_id: group["id"].as_str().unwrap().to_string(),
        group_proxy,
        ann,
        ann_number,
        app,
    }
}

async fn message_count(w: &World, conversation_id: &str) -> usize {
    let reply = w.app.get(format!("/api/conversations/{conversation_id}/messages"), &w.ann.token).await;
    reply.body["messages"].as_array().unwrap().len()
}

const INBOUND_FLOW: [&str; 6] = [
    "InboundReceived",
    "InboundRouted",
    "InboundNewConversation",
    "InboundUnroutable",
    "InboundDuplicate",
    "SignatureRejected",
];

/// The inbound counters of a document, in INBOUND_FLOW's order.
fn inbound_counts(document: &Value) -> Vec<u64> {
    INBOUND_FLOW.iter().map(|m| value(document, m).unwrap_or_else(|| panic!("{m} missing"))).collect()
}

#[tokio::test]
async fn inbound_sms_say_how_they_were_routed_in_one_line_and_one_metric_document() {
    let mock = TwilioMock::start().await;
    let w = world(&mock, &[]).await;
    let body = "Pat's private lunch plans";

    // Routed into the existing conversation.
    let sid = message_sid(1);
    let routed = Captured::of(w.app.inbound_sms(&sid, PAT, &w.ann_number, body)).await;
    assert_eq!(routed.reply.status, 200);
    let line = routed.request_line();
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["function"], "twilio-inbound");
    assert_eq!(line["method"], "POST");
    assert_eq!(line["route"], "/api/webhooks/twilio/incoming");
    assert_eq!(line["status"], 200);
    assert_eq!(line["outcome"], "routed");
    assert!(line["latencyMs"].as_f64().is_some_and(|ms| ms > 0.0));
    assert_eq!(line["dbRoundTrips"], 2, "one batched read and one transaction");
    assert_eq!(line["twilioCalls"], 0);
    assert_eq!(line["conversationId"], w.sms_id.as_str());
    assert_eq!(line["messageSid"], sid.as_str());
    assert_eq!(line["from"], "***0401");
    assert_eq!(line["to"], format!("***{}", &w.ann_number[w.ann_number.len() - 4..]).as_str());
    let metrics = routed.metrics();
    assert_eq!(metrics["Function"], "twilio-inbound");
    assert_eq!(metrics["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Switchboard");
    assert_eq!(inbound_counts(&metrics), [1, 1, 0, 0, 0, 0]);
    assert_eq!((value(&metrics, "Requests"), value(&metrics, "ServerErrors")), (Some(1), Some(0)));
    assert_eq!(value(&metrics, "DynamoDbRoundTrips"), Some(2));
    assert!(metrics["HandlerLatency"].is_number());
    for absent in ["SmsQueued", "TwilioApiLatency", "StatusCallbacks"] {
        assert!(metrics.get(absent).is_none(), "{absent} does not apply to a 1:1 inbound SMS");
    }
    routed.assert_discreet(&[body]);

    // The same webhook again (a Twilio retry): stored once, counted as a duplicate.
    let duplicate = Captured::of(w.app.inbound_sms(&sid, PAT, &w.ann_number, body)).await;
    assert_eq!(duplicate.request_line()["outcome"], "duplicate");
    assert_eq!(inbound_counts(&duplicate.metrics()), [1, 0, 0, 0, 1, 0]);
    assert_eq!(message_count(&w, &w.sms_id).await, 1);

    // A stranger's first text opens a conversation.
    let stranger = Captured::of(w.app.inbound_sms(&message_sid(2), STRANGER, &w.ann_number, "hello?")).await;
    let line = stranger.request_line();
    assert_eq!(
        (line["outcome"].clone(), line["from"].clone()),
        (json!("new_conversation"), json!("***0499"))
    );
    assert!(line["conversationId"].as_str().is_some_and(|id| id != w.sms_id));
    assert_eq!(inbound_counts(&stranger.metrics()), [1, 0, 1, 0, 0, 0]);
    stranger.assert_discreet(&["hello?"]);

    // Nobody holds the number texted: nothing stored.
    let nowhere = Captured::of(w.app.inbound_sms(&message_sid(3), STRANGER, &us_number(9), "anyone?")).await;
    assert_eq!(nowhere.request_line()["outcome"], "unroutable");
    assert_eq!(inbound_counts(&nowhere.metrics()), [1, 0, 0, 1, 0, 0]);

    // Pat texts the group: the webhook stores it and answers, calling no one; the pipeline's relay
    // job fans it out and its delivery job texts Sam.
    let relay_body = "see you all at eight";
    let relayed = Captured::of(w.app.inbound_sms(&message_sid(4), PAT, &w.group_proxy, relay_body)).await;
    let line = relayed.request_line();
    assert_eq!((line["outcome"].clone(), line["twilioCalls"].clone()), (json!("routed"), json!(0)));
    assert_eq!(line["conversationId"], w.group_id.as_str());
    assert_eq!(line["dbRoundTrips"], 2, "one read, one transaction");
    let metrics = relayed.metrics();
    assert_eq!(inbound_counts(&metrics), [1, 1, 0, 0, 0, 0]);
    relayed.assert_discreet(&[relay_body]);
    let pipeline = Captured::work(w.app.run_pipeline()).await;
    let jobs = pipeline.lines_of("delivery");
    let outcomes: Vec<&str> = jobs.iter().map(|l| l["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["relayed", "accepted"], "the relay job, then the delivery job");
    assert_eq!(jobs.iter().map(|l| l["twilioCalls"].as_u64().unwrap()).sum::<u64>(), 1);
    assert_eq!(
        ["RelaysSent", "SmsQueued", "SmsFailed", "SmsOptedOut", "TwilioApiError"]
            .map(|m| pipeline.total("delivery", m)),
        [1, 1, 0, 0, 0]
    );
    assert_eq!(mock.sent().last().unwrap().body.as_deref(), Some("Pat: see you all at eight"));
    pipeline.assert_discreet(&[relay_body]);

    // A forged signature: refused before anything is read, counted for the alarm.
    let forged = w.app.twilio_request(
        "/api/webhooks/twilio/incoming",
        &[("MessageSid", &message_sid(5)), ("From", PAT), ("To", &w.ann_number), ("Body", "forged")],
        Some("not-our-token"),
    );
    let rejected = Captured::of(w.app.dispatch(forged)).await;
    assert_eq!(rejected.reply.status, 403);
    let line = rejected.request_line();
    assert_eq!((line["outcome"].clone(), line["status"].clone()), (json!("signature_rejected"), json!(403)));
    assert!(line.get("messageSid").is_none() && line.get("from").is_none(), "nothing read: {line}");
    assert_eq!(inbound_counts(&rejected.metrics()), [0, 0, 0, 0, 0, 1]);
    rejected.assert_discreet(&["forged"]);
    assert_eq!(message_count(&w, &w.sms_id).await, 1, "nothing stored");
}

#[tokio::test]
async fn a_group_send_counts_each_twilio_outcome_and_errors_by_code() {
    logs_on();
    let mock = TwilioMock::start().await;
    let app = TestApp::with_twilio(&mock, &[("METRICS_NAMESPACE", "Switchboard/test-stack")]).await;
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1)]).await;
    let ada = app.register("ada").await;
    let phones = ["+14155550301", "+14155550302", "+14155550303"];
    let participants: Vec<Value> = phones.iter().map(|p| json!({"phoneNumber": p})).collect();
    let group = app
        .post(
            "/api/conversations/group",
            json!({"name": "Team", "participants": participants}),
            Some(&ada.token),
        )
        .await;
    let id = group.body["conversation"]["id"].as_str().unwrap().to_string();
    mock.fail_for(
        phones[1],
        Failure::Error { status: 400, code: 21211, message: "The 'To' number +14155550302 is not valid." },
    );

    let text = "The quarterly numbers are in";
    let send = Captured::of(app.post(
        format!("/api/conversations/{id}/messages"),
        json!({"content": text}),
        Some(&ada.token),
    ))
    .await;
    assert_eq!(send.reply.status, 201, "{:?}", send.reply.body);
    let line = send.request_line();
    assert_eq!(line["function"], "messages");
    assert_eq!(line["route"], "/api/conversations/{id}/messages");
    assert_eq!((line["status"].clone(), line["outcome"].clone()), (json!(201), json!("ok")));
    // The send writes ahead and queues: Twilio is the pipeline's to call.
    assert_eq!(line["twilioCalls"], 0);
    assert_eq!(line["conversationId"], id.as_str());
    assert_eq!(line["dbRoundTrips"], 4);
    let metrics = send.metrics();
    assert_eq!(metrics["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Switchboard/test-stack");
    assert_eq!(metrics["Function"], "messages");
    assert_eq!(["Requests", "ServerErrors"].map(|m| value(&metrics, m)), [Some(1), Some(0)]);
    for absent in INBOUND_FLOW.iter().chain(&["StatusCallbacks", "SmsQueued", "TwilioApiLatency"]) {
        assert!(metrics.get(*absent).is_none(), "{absent} is not a messages metric");
    }
    send.assert_discreet(&[text, &ada.token]);

    // The pipeline's worker: one line and one metrics document per delivery job.
    let mut pipeline_requests = 0;
    let pipeline = Captured::work(async {
        let ((), ops) = app.count_operations(|| app.run_pipeline()).await;
        pipeline_requests = ops.values().sum::<u64>();
    })
    .await;
    let jobs = pipeline.lines_of("delivery");
    assert_eq!(jobs.len(), 3);
    // The three jobs ran at once in one batch; each line counts its own DynamoDB requests.
    let per_job: Vec<u64> = jobs.iter().map(|l| l["dbRoundTrips"].as_u64().unwrap()).collect();
    assert_eq!(per_job.iter().sum::<u64>(), pipeline_requests, "{per_job:?}");
    assert!(jobs.iter().all(|l| l["twilioCalls"] == 1 && l["conversationId"] == id.as_str()), "{jobs:?}");
    assert!(jobs.iter().all(|l| l["deliveryId"].as_str().is_some_and(|d| d.starts_with(id.as_str()))));
    assert_eq!(
        ["Requests", "ServerErrors", "SmsQueued", "SmsFailed", "SmsOptedOut", "TwilioApiError"]
            .map(|m| pipeline.total("delivery", m)),
        [3, 0, 2, 1, 0, 1]
    );
    let latencies: usize =
        pipeline.documents().iter().filter_map(|d| d["TwilioApiLatency"].as_array().map(Vec::len)).sum();
    assert_eq!(latencies, 3, "one latency per Twilio call");
    assert_eq!(pipeline.errors_by_code(), BTreeMap::from([("21211".to_string(), 1)]));
    // The body and Twilio's error text (it quotes the number) stay out.
    pipeline.assert_discreet(&[text, "is not valid"]);

    // An error answered by the handler is a ServerErrors-free 4xx with its code.
    let missing =
        Captured::of(app.get(format!("/api/conversations/{}/messages", ulid::Ulid::new()), &ada.token)).await;
    let line = missing.request_line();
    assert_eq!(
        (line["status"].clone(), line["outcome"].clone(), line["code"].clone()),
        (json!(404), json!("rejected"), json!("not_found"))
    );
    assert_eq!(value(&missing.metrics(), "ServerErrors"), Some(0));
    assert!(missing.metrics().get("SmsQueued").is_none(), "no send, no send metrics");
}

#[tokio::test]
async fn sends_that_never_reach_twilio_publish_no_empty_latency() {
    logs_on();
    // No Twilio account configured: every SMS fails before any call.
    let app = TestApp::new().await;
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1)]).await;
    let ada = app.register("ada").await;
    let group = app.create_group(&ada, "Team", json!([{"phoneNumber": PAT}, {"phoneNumber": SAM}])).await;
    let id = group["id"].as_str().unwrap();
    let send = Captured::of(app.post(
        format!("/api/conversations/{id}/messages"),
        json!({"content": "anyone?"}),
        Some(&ada.token),
    ))
    .await;
    assert_eq!(send.reply.status, 201, "{:?}", send.reply.body);
    assert_eq!(send.request_line()["twilioCalls"], 0);
    let pipeline = Captured::work(app.run_pipeline()).await;
    assert_eq!(["SmsQueued", "SmsFailed"].map(|m| pipeline.total("delivery", m)), [0, 2]);
    for metrics in pipeline.documents() {
        assert!(metrics.get("TwilioApiLatency").is_none(), "no call, no latency: {metrics}");
        let names = metrics["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array().unwrap();
        assert!(names.iter().all(|m| m["Name"] != "TwilioApiLatency"), "nor its directive: {names:?}");
    }
    send.assert_discreet(&["anyone?"]);
    pipeline.assert_discreet(&["anyone?"]);

    // A path naming a number, however written, is logged masked.
    for written in ["415-555-0100", "%28415%29555-0100", "%2B14155550100"] {
        let lookup = Captured::of(app.get(format!("/api/numbers/{written}"), &admin.token)).await;
        assert_eq!(lookup.request_line()["route"], "/api/numbers/***0100", "{written}");
        lookup.assert_discreet(&["555-0100"]);
    }
}

/// Sends Ann a message to Pat; returns its delivery id and SID.
async fn one_delivery(w: &World) -> (String, String) {
    let sent = w
        .app
        .post(
            format!("/api/conversations/{}/messages", w.sms_id),
            json!({"content": "status?"}),
            Some(&w.ann.token),
        )
        .await;
    let id = sent.body["message"]["deliveries"][0]["id"].as_str().unwrap().to_string();
    w.app.run_pipeline().await;
    let history = w.app.get(format!("/api/conversations/{}/messages", w.sms_id), &w.ann.token).await;
    let sid = history.body["messages"][0]["deliveries"][0]["twilioSid"].as_str().expect("sent").to_string();
    (id, sid)
}

async fn status_callback(w: &World, delivery_id: &str, sid: &str, status: &str, token: &str) -> Captured {
    let path = format!("/api/webhooks/twilio/status?deliveryId={delivery_id}");
    let request = w.app.twilio_request(&path, &[("MessageSid", sid), ("MessageStatus", status)], Some(token));
    Captured::of(w.app.dispatch(request)).await
}

async fn delivery_status(w: &World, delivery_id: &str) -> Value {
    let reply = w.app.get(format!("/api/conversations/{}/messages", w.sms_id), &w.ann.token).await;
    reply.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["deliveries"].as_array().unwrap().clone())
        .find(|d| d["id"] == delivery_id)
        .expect("the delivery")["status"]
        .clone()
}

#[tokio::test]
async fn during_a_token_rotation_both_tokens_verify_both_webhooks() {
    let mock = TwilioMock::start().await;
    let w = world(&mock, &[("TWILIO_AUTH_TOKEN_PREVIOUS", OLD_TOKEN)]).await;
    let path = "/api/webhooks/twilio/incoming";
    for (n, token) in [(1, AUTH_TOKEN), (2, OLD_TOKEN)] {
        let sid = message_sid(n);
        let params =
            [("MessageSid", sid.as_str()), ("From", PAT), ("To", w.ann_number.as_str()), ("Body", "hi")];
        let inbound = Captured::of(w.app.dispatch(w.app.twilio_request(path, &params, Some(token)))).await;
        assert_eq!(inbound.reply.status, 200, "inbound signed with {token}");
        assert_eq!(inbound_counts(&inbound.metrics()), [1, 1, 0, 0, 0, 0]);
    }
    assert_eq!(message_count(&w, &w.sms_id).await, 2);

    let (delivery, sid) = one_delivery(&w).await;
    let sent = status_callback(&w, &delivery, &sid, "sent", OLD_TOKEN).await;
    assert_eq!(sent.reply.status, 200);
    let line = sent.request_line();
    assert_eq!(line["function"], "twilio-status");
    assert_eq!(line["outcome"], "applied");
    assert_eq!(line["deliveryId"], delivery.as_str());
    assert_eq!(line["messageSid"], sid.as_str());
    assert_eq!(line["conversationId"], w.sms_id.as_str());
    let metrics = sent.metrics();
    assert_eq!(
        [
            "StatusCallbacks",
            "StatusSent",
            "StatusDelivered",
            "StatusOther",
            "StatusUnknownDelivery",
            "SignatureRejected"
        ]
        .map(|m| value(&metrics, m)),
        [Some(1), Some(1), Some(0), Some(0), Some(0), Some(0)]
    );
    assert_eq!(delivery_status(&w, &delivery).await, "sent");
    let delivered = status_callback(&w, &delivery, &sid, "delivered", AUTH_TOKEN).await;
    assert_eq!(value(&delivered.metrics(), "StatusDelivered"), Some(1));
    assert_eq!(delivery_status(&w, &delivery).await, "delivered");

    // A callback for a delivery we never had, and a status we do not track.
    let unknown_id = format!("{}-{}-{}", ulid::Ulid::new(), ulid::Ulid::new(), ulid::Ulid::new());
    let unknown = status_callback(&w, &unknown_id, &message_sid(77), "delivered", AUTH_TOKEN).await;
    assert_eq!(unknown.request_line()["outcome"], "unknown_delivery");
    assert_eq!(value(&unknown.metrics(), "StatusUnknownDelivery"), Some(1));
    let other = status_callback(&w, &delivery, &sid, "partially_delivered", AUTH_TOKEN).await;
    assert_eq!(value(&other.metrics(), "StatusOther"), Some(1));
}

#[tokio::test]
async fn with_one_token_configured_another_tokens_signature_is_refused_and_counted() {
    let mock = TwilioMock::start().await;
    let w = world(&mock, &[]).await;
    let (delivery, sid) = one_delivery(&w).await;
    let before = message_count(&w, &w.sms_id).await;

    let params = [
        ("MessageSid", message_sid(1)),
        ("From", PAT.into()),
        ("To", w.ann_number.clone()),
        ("Body", "hi".into()),
    ];
    let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let inbound = w.app.twilio_request("/api/webhooks/twilio/incoming", &params, Some(OLD_TOKEN));
    let inbound = Captured::of(w.app.dispatch(inbound)).await;
    assert_eq!(inbound.reply.status, 403);
    assert_eq!(inbound.request_line()["outcome"], "signature_rejected");
    assert_eq!(inbound_counts(&inbound.metrics()), [0, 0, 0, 0, 0, 1]);
    assert_eq!(message_count(&w, &w.sms_id).await, before, "nothing stored");

    let status = status_callback(&w, &delivery, &sid, "delivered", OLD_TOKEN).await;
    assert_eq!(status.reply.status, 403);
    let metrics = status.metrics();
    assert_eq!(metrics["Function"], "twilio-status");
    assert_eq!(
        ["SignatureRejected", "StatusCallbacks", "StatusDelivered"].map(|m| value(&metrics, m)),
        [Some(1), Some(0), Some(0)]
    );
    assert_eq!(delivery_status(&w, &delivery).await, "queued", "nothing changed");
    status.assert_discreet(&[]);
}
