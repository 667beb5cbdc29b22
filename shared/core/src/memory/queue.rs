//! [`FakeQueue`]: the delivery pipeline's queue in memory. Jobs wait with the time they become
//! visible; tests take the visible ones and run them (`service::pipeline::run`), as the worker
//! would, until none is left.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::ports::queue::{Job, JobQueue, QueueError};

#[derive(Default)]
pub struct FakeQueue {
    state: Mutex<QueueState>,
}

#[derive(Default)]
struct QueueState {
    waiting: Vec<(DateTime<Utc>, Job)>,
    dead: Vec<(Job, String)>,
    /// Every enqueue call: (jobs, delay).
    calls: Vec<(Vec<Job>, Duration)>,
    refuse: bool,
}

impl FakeQueue {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes the jobs visible at `now` (in the order they were queued), leaving the others.
    pub fn take_visible(&self, now: DateTime<Utc>) -> Vec<Job> {
        let mut state = self.lock();
        let (ready, later): (Vec<_>, Vec<_>) = state.waiting.drain(..).partition(|(at, _)| *at <= now);
        state.waiting = later;
        ready.into_iter().map(|(_, job)| job).collect()
    }

    /// Takes every waiting job, whatever its delay (tests that do not wait for backoff).
    pub fn take_all(&self) -> Vec<Job> {
        self.lock().waiting.drain(..).map(|(_, job)| job).collect()
    }

    /// Jobs still waiting, with when each becomes visible.
    pub fn waiting(&self) -> Vec<(DateTime<Utc>, Job)> {
        self.lock().waiting.clone()
    }

    /// Dead-lettered jobs, with their reasons.
    pub fn dead_letters(&self) -> Vec<(Job, String)> {
        self.lock().dead.clone()
    }

    /// Every enqueue call so far: the jobs and their delay.
    pub fn calls(&self) -> Vec<(Vec<Job>, Duration)> {
        self.lock().calls.clone()
    }

    /// From now on refuse (or accept again) every call, as a queue that is down.
    pub fn refuse(&self, refuse: bool) {
        self.lock().refuse = refuse;
    }
}

#[async_trait]
impl JobQueue for FakeQueue {
    async fn enqueue(&self, jobs: &[Job], delay: Duration) -> Result<(), QueueError> {
        let mut state = self.lock();
        if state.refuse {
            return Err(QueueError::Unavailable("the fake queue refuses".into()));
        }
        state.calls.push((jobs.to_vec(), delay));
        let at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
        state.waiting.extend(jobs.iter().map(|job| (at, *job)));
        Ok(())
    }

    async fn dead_letter(&self, job: &Job, reason: &str) -> Result<(), QueueError> {
        let mut state = self.lock();
        if state.refuse {
            return Err(QueueError::Unavailable("the fake queue refuses".into()));
        }
        state.dead.push((*job, reason.to_string()));
        Ok(())
    }
}
