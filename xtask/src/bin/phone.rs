//! `scripts/phone`: play a phone against the local Twilio stand-in of `make dev`.
//!
//!   phone text FROM TO BODY...   the phone FROM texts our number TO (a signed inbound webhook)
//!   phone inbox [PHONE]          what each simulated phone (or one) has received and sent
//!
//! STANDIN_URL (default http://127.0.0.1:$STANDIN_PORT, port 9100) says where the stand-in is.

use serde_json::{json, Value};

const USAGE: &str = "usage: phone text FROM TO BODY... | phone inbox [PHONE]";

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let base = std::env::var("STANDIN_URL").unwrap_or_else(|_| {
        let port = std::env::var("STANDIN_PORT").unwrap_or_else(|_| "9100".into());
        format!("http://127.0.0.1:{port}")
    });
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["text", from, to, body @ ..] if !body.is_empty() => text(&base, from, to, &body.join(" ")).await,
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

async fn text(base: &str, from: &str, to: &str, body: &str) -> Result<(), String> {
    let url = format!("{base}/phones/{}/messages", e164(from));
    let reply = call(reqwest::Client::new().post(url).json(&json!({ "to": e164(to), "body": body }))).await?;
    let sid = reply["messageSid"].as_str().unwrap_or("");
    println!("{} texted {}: {sid} (webhook answered {})", e164(from), e164(to), reply["webhookStatus"]);
    Ok(())
}

async fn inbox(base: &str, phone: Option<&str>) -> Result<(), String> {
    let phones = call(reqwest::Client::new().get(format!("{base}/phones"))).await?;
    let phones = phones["phones"].as_object().cloned().unwrap_or_default();
    let wanted = phone.map(e164);
    for (number, messages) in phones.iter().filter(|(n, _)| wanted.as_ref().is_none_or(|w| w == *n)) {
        println!("{number}");
        for sms in messages.as_array().into_iter().flatten() {
            let (arrow, other) =
                if sms["direction"] == "received" { ("<-", &sms["from"]) } else { ("->", &sms["to"]) };
            let other = other.as_str().unwrap_or("");
            let body = sms["body"].as_str().unwrap_or("");
            let status = sms["status"].as_str().unwrap_or("");
            println!("  {arrow} {other}  {body}  [{status}]");
        }
    }
    if phones.is_empty() {
        println!("no phone has sent or received anything yet");
    }
    Ok(())
}
