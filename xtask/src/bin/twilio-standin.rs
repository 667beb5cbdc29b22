//! `make dev` starts this when no Twilio account is configured: the local Twilio stand-in
//! (see xtask/src/standin.rs). Settings from the environment, like the functions':
//! TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, STANDIN_PORT (9100), TWILIO_INBOUND_URL (default
//! PUBLIC_BASE_URL + /api/webhooks/twilio/incoming), STANDIN_CALLBACK_STEP_MS (250),
//! STANDIN_LATE_ANSWER_MS (how long +14155550197 holds a first attempt's answer: the functions'
//! TWILIO_TIMEOUT_MS, 8000 unless set, plus 2000), STANDIN_STATUS_CALLBACKS (`off`: none sent).

use std::time::Duration;

use xtask::standin::{router, StandinConfig};

fn setting(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[tokio::main]
async fn main() {
    let required = |name: &str| {
        setting(name).unwrap_or_else(|| {
            eprintln!("twilio-standin: {name} is required");
            std::process::exit(2)
        })
    };
    let port: u16 = setting("STANDIN_PORT").and_then(|p| p.parse().ok()).unwrap_or(9100);
    let inbound_url = setting("TWILIO_INBOUND_URL").unwrap_or_else(|| {
        let base = required("PUBLIC_BASE_URL");
        format!("{}/api/webhooks/twilio/incoming", base.trim_end_matches('/'))
    });
    let step = setting("STANDIN_CALLBACK_STEP_MS").and_then(|p| p.parse().ok()).unwrap_or(250);
    let client_timeout: u64 = setting("TWILIO_TIMEOUT_MS").and_then(|p| p.parse().ok()).unwrap_or(8000);
    let late =
        setting("STANDIN_LATE_ANSWER_MS").and_then(|p| p.parse().ok()).unwrap_or(client_timeout + 2000);
    let config = StandinConfig {
        account_sid: required("TWILIO_ACCOUNT_SID"),
        auth_token: required("TWILIO_AUTH_TOKEN"),
        inbound_url,
        callback_step: Duration::from_millis(step),
        status_callbacks: setting("STANDIN_STATUS_CALLBACKS").as_deref() != Some("off"),
        late_answer: Duration::from_millis(late),
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap_or_else(|e| {
        eprintln!("twilio-standin: cannot listen on 127.0.0.1:{port}: {e}");
        std::process::exit(1)
    });
    println!(
        "twilio-standin: Messages API and phones on http://127.0.0.1:{port}; inbound webhook {}",
        config.inbound_url
    );
    println!(
        "twilio-standin: failing phones: {} (503 once), {} (429 three times), {} (answers after {} ms)",
        xtask::standin::UNAVAILABLE_ONCE,
        xtask::standin::THROTTLED_THRICE,
        xtask::standin::ANSWERS_LATE,
        late
    );
    let numbers: Vec<&str> = xtask::standin::ACCOUNT_NUMBERS.iter().map(|(n, _)| *n).collect();
    println!(
        "twilio-standin: the account's numbers (IncomingPhoneNumbers, to import): {}",
        numbers.join(", ")
    );
    if let Err(e) = axum::serve(listener, router(config)).await {
        eprintln!("twilio-standin: {e}");
        std::process::exit(1);
    }
}
