//! [`FakeNumbers`]: a [`NumberProvider`] holding a few numbers, paging them like Twilio and
//! recording every update.

use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use crate::ports::provider::{NumberProvider, ProviderNumber, ProviderPage, Wiring};
use crate::ports::sms::SendError;

#[derive(Default)]
pub struct FakeNumbers {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    numbers: Vec<ProviderNumber>,
    /// Every `wire_number` call, in order: (sid, wiring).
    updates: Vec<(String, Wiring)>,
    /// Every call of any kind (list, find, update).
    calls: usize,
}

impl FakeNumbers {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a number to the account, pointed at `sms_url` (None: not pointed anywhere).
    pub fn add(&self, phone_number: &str, sms_url: Option<&str>) -> &Self {
        let mut state = self.lock();
        let sid = format!("PN{:032x}", state.numbers.len() + 1);
        state.numbers.push(ProviderNumber {
            sid,
            phone_number: phone_number.to_string(),
            sms_url: sms_url.map(str::to_string),
            sms_method: sms_url.map(|_| "POST".to_string()),
            status_callback: None,
        });
        self
    }

    /// Adds a number already pointed as `wiring` says.
    pub fn add_wired(&self, phone_number: &str, wiring: &Wiring) -> &Self {
        self.add(phone_number, Some(&wiring.sms_url));
        if let Some(number) = self.lock().numbers.last_mut() {
            number.status_callback = wiring.status_callback.clone();
        }
        self
    }

    pub fn number(&self, phone_number: &str) -> Option<ProviderNumber> {
        self.lock().numbers.iter().find(|n| n.phone_number == phone_number).cloned()
    }

    pub fn updates(&self) -> Vec<(String, Wiring)> {
        self.lock().updates.clone()
    }

    pub fn calls(&self) -> usize {
        self.lock().calls
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl NumberProvider for FakeNumbers {
    /// Pages are offsets written as `Page=N` tokens, like Twilio's next_page_uri.
    async fn list_numbers(&self, page: Option<&str>, page_size: u32) -> Result<ProviderPage, SendError> {
        let mut state = self.lock();
        state.calls += 1;
        let start: usize = match page {
            None => 0,
            Some(token) => token
                .strip_prefix("Page=")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| SendError::Rejected { code: Some(20404), message: "unknown page".into() })?,
        };
        let size = page_size.max(1) as usize;
        let numbers: Vec<_> = state.numbers.iter().skip(start).take(size).cloned().collect();
        let next_page = (start + size < state.numbers.len()).then(|| format!("Page={}", start + size));
        Ok(ProviderPage { numbers, next_page })
    }

    async fn find_number(&self, phone_number: &str) -> Result<Option<ProviderNumber>, SendError> {
        let mut state = self.lock();
        state.calls += 1;
        Ok(state.numbers.iter().find(|n| n.phone_number == phone_number).cloned())
    }

    async fn wire_number(&self, sid: &str, wiring: &Wiring) -> Result<ProviderNumber, SendError> {
        let mut state = self.lock();
        state.calls += 1;
        state.updates.push((sid.to_string(), wiring.clone()));
        let number = state
            .numbers
            .iter_mut()
            .find(|n| n.sid == sid)
            .ok_or_else(|| SendError::Rejected { code: Some(20404), message: "no such number".into() })?;
        number.sms_url = Some(wiring.sms_url.clone());
        number.sms_method = Some("POST".into());
        if wiring.status_callback.is_some() {
            number.status_callback = wiring.status_callback.clone();
        }
        Ok(number.clone())
    }
}
