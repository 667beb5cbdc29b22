//! [`FakeSms`]: an [`SmsSender`] that records every SMS and answers as scripted.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::message::DeliveryStatus;
use crate::domain::phone::E164;
use crate::ports::sms::{Accepted, OutboundSms, SendError, SentQuery, SmsSender};

/// Records every [`OutboundSms`] it is asked to send (failed ones too) and answers, per
/// recipient, with the next scripted outcome, else the standing one, else
/// `Accepted { sid: "SM…", status: Queued }` with a fresh SID.
///
/// What it accepted (answered `Ok`, or took but "lost the answer" of, see
/// [`Self::script_lost_answer`]) is what Twilio holds: [`Self::taken`] lists it and
/// [`SmsSender::find_sent`] finds it (same to, from and body, created at or after `since`,
/// newest first), unless a failure is scripted for the lookup ([`Self::script_find_failure`]).
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
    /// What Twilio took, when: the messages `find_sent` lists.
    accepted: Vec<(OutboundSms, Accepted, DateTime<Utc>)>,
    scripted: HashMap<E164, VecDeque<Scripted>>,
    standing: HashMap<E164, Scripted>,
    /// Failures of the next `find_sent` calls per recipient, used once each.
    find_failures: HashMap<E164, VecDeque<SendError>>,
    /// Every `find_sent` query, in order.
    finds: Vec<SentQuery>,
    /// Every send waits this long before answering (Twilio's latency).
    latency: Duration,
}

#[derive(Clone)]
struct Scripted {
    outcome: Result<Accepted, SendError>,
    delay: Duration,
    /// Twilio takes the message (`outcome` is what it accepted) but the answer never arrives:
    /// the send answers `Err(SendError::Timeout)`.
    lost: bool,
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
        self.lock().scripted.entry(to.clone()).or_default().push_back(Scripted {
            outcome,
            delay,
            lost: false,
        });
        self
    }

    /// The next send to `to` (in turn with the other scripted outcomes) is accepted by "Twilio"
    /// (a fresh SID, `queued`: listed by [`Self::taken`], found by `find_sent`) but its
    /// answer is lost: the send answers `Err(SendError::Timeout)`. Returns the SID it took.
    pub fn script_lost_answer(&self, to: &E164) -> String {
        let accepted = Accepted { sid: Self::new_sid(), status: DeliveryStatus::Queued };
        let sid = accepted.sid.clone();
        let lost = Scripted { outcome: Ok(accepted), delay: Duration::ZERO, lost: true };
        self.lock().scripted.entry(to.clone()).or_default().push_back(lost);
        sid
    }

    /// The next `find_sent` for messages to `to` fails with `error` (scripted failures are used
    /// in order, once each; then lookups answer from what was accepted).
    pub fn script_find_failure(&self, to: &E164, error: SendError) -> &Self {
        self.lock().find_failures.entry(to.clone()).or_default().push_back(error);
        self
    }

    /// Every send to `to` answers `outcome` once its scripted outcomes are used up. An accepted
    /// standing outcome repeats its SID: script distinct ones when SIDs matter.
    pub fn always(&self, to: &E164, outcome: Result<Accepted, SendError>) -> &Self {
        self.lock().standing.insert(to.clone(), Scripted { outcome, delay: Duration::ZERO, lost: false });
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

    /// What "Twilio" took, in order, with the SID it gave: the sends answered `Ok` and those
    /// whose answer was lost ([`Self::script_lost_answer`]). One per SMS a phone receives.
    pub fn taken(&self) -> Vec<(OutboundSms, String)> {
        self.lock().accepted.iter().map(|(sms, accepted, _)| (sms.clone(), accepted.sid.clone())).collect()
    }

    /// What "Twilio" took for one phone.
    pub fn taken_by(&self, to: &E164) -> Vec<(OutboundSms, String)> {
        self.taken().into_iter().filter(|(sms, _)| sms.to == *to).collect()
    }

    /// Every `find_sent` query so far (reconciliations of unanswered attempts), in order.
    pub fn find_queries(&self) -> Vec<SentQuery> {
        self.lock().finds.clone()
    }

    /// Forgets what was sent and accepted (the scripts stay).
    pub fn clear_sent(&self) {
        let mut state = self.lock();
        state.sent.clear();
        state.accepted.clear();
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
                lost: false,
            });
            if let Ok(accepted) = &answer.outcome {
                state.accepted.push((sms.clone(), accepted.clone(), Utc::now()));
            }
            let wait = state.latency + answer.delay;
            let outcome = if answer.lost { Err(SendError::Timeout) } else { answer.outcome };
            (outcome, wait)
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        answer
    }

    /// The newest accepted message with the same to, from and body created at or after
    /// `since`; or the next failure scripted for `query.to`.
    async fn find_sent(&self, query: &SentQuery) -> Result<Option<Accepted>, SendError> {
        let mut state = self.lock();
        state.finds.push(query.clone());
        if let Some(error) = state.find_failures.get_mut(&query.to).and_then(VecDeque::pop_front) {
            return Err(error);
        }
        Ok(state
            .accepted
            .iter()
            .rev()
            .find(|(sms, _, at)| {
                sms.to == query.to && sms.from == query.from && sms.body == query.body && *at >= query.since
            })
            .map(|(_, accepted, _)| accepted.clone()))
    }
}
