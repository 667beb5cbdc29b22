//! `scripts/phone`: play a phone against the local Twilio stand-in of `make dev`.
//!
//!   phone text FROM TO BODY...   the phone FROM texts our number TO (a signed inbound webhook)
//!   phone picture FROM TO [BODY...]  the same with a picture (an MMS: the stand-in serves the
//!                                media behind the account's credentials, as Twilio does)
//!   phone inbox [PHONE]          what each simulated phone (or one) has received and sent, with
//!                                the attempts each SMS took and what the stand-in answered to each
//!
//! STANDIN_URL (default http://127.0.0.1:$STANDIN_PORT, port 9100) says where the stand-in is.

use serde_json::{json, Value};

const USAGE: &str =
    "usage: phone text FROM TO BODY... | phone picture FROM TO [BODY...] | phone inbox [PHONE]";

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let base = std::env::var("STANDIN_URL").unwrap_or_else(|_| {
        let port = std::env::var("STANDIN_PORT").unwrap_or_else(|_| "9100".into());
        format!("http://127.0.0.1:{port}")
    });
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["text", from, to, body @ ..] if !body.is_empty() => {
            text(&base, from, to, &body.join(" "), false).await
        }
        ["picture", from, to, body @ ..] => text(&base, from, to, &body.join(" "), true).await,
        ["inbox"] => inbox(&base, None).await,
        ["inbox", phone] => inbox(&base, Some(phone)).await,
        _ => Err(USAGE.to_string()),
    };
    if let Err(message) = result {
        eprintln!("phone: {message}");
        std::process::exit(1);
    }
}

/// Phone numbers as typed: spaces and dashes dropped.
fn e164(phone: &str) -> String {
    phone.chars().filter(|c| c.is_ascii_digit() || *c == '+').collect()
}

async fn call(request: reqwest::RequestBuilder) -> Result<Value, String> {
    let response = request.send().await.map_err(|e| format!("is `make dev` running? {e}"))?;
    let status = response.status();
    let body: Value = response.json().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!("{status}: {body}"))
    }
}

async fn text(base: &str, from: &str, to: &str, body: &str, picture: bool) -> Result<(), String> {
    let url = format!("{base}/phones/{}/messages", e164(from));
    let text = json!({ "to": e164(to), "body": body, "picture": picture });
    let reply = call(reqwest::Client::new().post(url).json(&text)).await?;
    let sid = reply["messageSid"].as_str().unwrap_or("");
    println!("{} texted {}: {sid} (webhook answered {})", e164(from), e164(to), reply["webhookStatus"]);
    Ok(())
}

async fn inbox(base: &str, phone: Option<&str>) -> Result<(), String> {
    let reply = call(reqwest::Client::new().get(format!("{base}/phones"))).await?;
    let phones = reply["phones"].as_object().cloned().unwrap_or_default();
    let wanted = phone.map(e164);
    for (number, messages) in phones.iter().filter(|(n, _)| wanted.as_ref().is_none_or(|w| w == *n)) {
        println!("{number}{}", counters(&reply["counters"][number.as_str()]));
        for sms in messages.as_array().into_iter().flatten() {
            let (arrow, other) = match sms["direction"].as_str() {
                Some("received") => ("<-", &sms["from"]),
                Some("refused") => ("x-", &sms["from"]),
                _ => ("->", &sms["to"]),
            };
            let other = other.as_str().unwrap_or("");
            let body = sms["body"].as_str().unwrap_or("");
            let status = sms["status"].as_str().unwrap_or("");
            let status =
                if sms["direction"] == "refused" { format!("not received: {status}") } else { status.into() };
            println!("  {arrow} {other}  {body}  [{status}]{}", attempts(&sms["attempts"]));
        }
    }
    if phones.is_empty() {
        println!("no phone has sent or received anything yet");
    }
    Ok(())
}

/// `  (5 attempts: 2 accepted, 3 refused; 1 list)`, for a phone our functions tried to text.
fn counters(counters: &Value) -> String {
    let n = |name: &str| counters[name].as_u64().unwrap_or(0);
    if n("attempts") == 0 && n("lists") == 0 {
        return String::new();
    }
    let plural = |n: u64, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let mut parts = vec![format!("{} accepted", n("accepted")), format!("{} refused", n("refused"))];
    if n("late") > 0 {
        parts.push(format!("{} answered late", n("late")));
    }
    if n("duplicates") > 0 {
        parts.push(plural(n("duplicates"), "duplicate"));
    }
    format!(
        "  ({}: {}; {})",
        plural(n("attempts"), "attempt"),
        parts.join(", "),
        plural(n("lists"), "list call")
    )
}

/// `  2 attempts: 12:00:01 503 (20503), 12:00:03 201`, for an SMS that took more than one, or
/// whose one attempt was not a plain 201.
fn attempts(attempts: &Value) -> String {
    let list = attempts.as_array().cloned().unwrap_or_default();
    if list.is_empty() || (list.len() == 1 && list[0]["answer"] == "201") {
        return String::new();
    }
    let each: Vec<String> = list
        .iter()
        .map(|a| {
            let at = a["at"].as_str().and_then(|t| t.get(11..19)).unwrap_or("");
            format!("{at} {}", a["answer"].as_str().unwrap_or(""))
        })
        .collect();
    let n = list.len();
    format!("  {n} attempt{}: {}", if n == 1 { "" } else { "s" }, each.join(", "))
}
