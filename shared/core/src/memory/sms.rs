//! [`FakeSms`]: an [`SmsSender`] that records every SMS and answers as scripted.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

use crate::domain::message::DeliveryStatus;
use crate::domain::phone::E164;
use crate::ports::sms::{Accepted, OutboundSms, SendError, SmsSender};

/// Records every [`OutboundSms`] it is asked to send (failed ones too) and answers, per
/// recipient, with the next scripted outcome, else the standing one, else
/// `Accepted { sid: "SM…", status: Queued }` with a fresh SID.
///
/// ```
/// use switchboard_core::domain::message::DeliveryStatus;
/// use switchboard_core::domain::phone::E164;
/// use switchboard_core::memory::FakeSms;
/// use switchboard_core::ports::sms::{OutboundSms, SendError, SmsSender};
///
/// let sms = FakeSms::new();
/// let phone = E164::from_stored("+14155550100".into());
/// sms.script(&phone, Err(SendError::Unavailable("503".into()))); // once, then accepted
/// let other = E164::from_stored("+14155550101".into());
/// sms.always(&other, Err(SendError::Rejected { code: Some(21211), message: "invalid To".into() }));
/// let text = OutboundSms {
///     to: phone.clone(),
///     from: E164::from_stored("+16285550100".into()),
///     body: "hi".into(),
///     media_urls: Vec::new(),
///     status_callback: None,
/// };
/// futures::executor::block_on(async {
///     assert!(sms.send(&text).await.is_err());
///     assert_eq!(sms.send(&text).await.unwrap().status, DeliveryStatus::Queued);
/// });
/// assert_eq!(sms.sent_to(&phone).len(), 2);
/// ```
#[derive(Default)]
pub struct FakeSms {
    state: Mutex<SmsState>,
}

#[derive(Default)]
struct SmsState {
    sent: Vec<OutboundSms>,
    scripted: HashMap<E164, VecDeque<Scripted>>,
    standing: HashMap<E164, Scripted>,
    /// Every send waits this long before answering (Twilio's latency).
    latency: Duration,
}

#[derive(Clone)]
struct Scripted {
    outcome: Result<Accepted, SendError>,
    delay: Duration,
}

impl FakeSms {
    pub fn new() -> Self {
        Self::default()
    }

    /// A fresh Twilio-like message SID: `SM` and 32 hex digits.
    pub fn new_sid() -> String {
        format!("SM{:032x}", ulid::Ulid::new().0)
    }

    /// Accepted with a fresh SID and this status (to script an `accepted` or `sent` answer).
    pub fn accepted(status: DeliveryStatus) -> Result<Accepted, SendError> {
        Ok(Accepted { sid: Self::new_sid(), status })
    }

    /// The next send to `to` answers `outcome` (scripted outcomes are used in order, once each).
    pub fn script(&self, to: &E164, outcome: Result<Accepted, SendError>) -> &Self {
        self.script_delayed(to, outcome, Duration::ZERO)
    }

    /// Like [`Self::script`], answering after `delay` (with tokio's clock: paused time skips it).
    pub fn script_delayed(&self, to: &E164, outcome: Result<Accepted, SendError>, delay: Duration) -> &Self {
        self.lock().scripted.entry(to.clone()).or_default().push_back(Scripted { outcome, delay });
        self
    }

    /// Every send to `to` answers `outcome` once its scripted outcomes are used up. An accepted
    /// standing outcome repeats its SID: script distinct ones when SIDs matter.
    pub fn always(&self, to: &E164, outcome: Result<Accepted, SendError>) -> &Self {
        self.lock().standing.insert(to.clone(), Scripted { outcome, delay: Duration::ZERO });
        self
    }

    /// Every send waits `latency` before its own delay and answer.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// Every SMS asked for so far, in the order the sends started.
    pub fn sent(&self) -> Vec<OutboundSms> {
        self.lock().sent.clone()
    }

    /// The SMS asked for to one phone.
    pub fn sent_to(&self, to: &E164) -> Vec<OutboundSms> {
        self.lock().sent.iter().filter(|s| s.to == *to).cloned().collect()
    }

    /// Forgets what was sent (the scripts stay).
    pub fn clear_sent(&self) {
        self.lock().sent.clear();
    }

    fn lock(&self) -> MutexGuard<'_, SmsState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl SmsSender for FakeSms {
    async fn send(&self, sms: &OutboundSms) -> Result<Accepted, SendError> {
        let (answer, wait) = {
            let mut state = self.lock();
            state.sent.push(sms.clone());
            let next = state.scripted.get_mut(&sms.to).and_then(VecDeque::pop_front);
            let answer = next.or_else(|| state.standing.get(&sms.to).cloned()).unwrap_or(Scripted {
                outcome: Ok(Accepted { sid: Self::new_sid(), status: DeliveryStatus::Queued }),
                delay: Duration::ZERO,
            });
            let wait = state.latency + answer.delay;
            (answer.outcome, wait)
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        answer
    }
}
