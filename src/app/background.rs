//! Work that must not hold up a frame — reading a 98 MB model, a real model's forward passes —
//! run on a thread of its own and collected by polling, so the window keeps drawing meanwhile.
//!
//! Natively the work runs on a `std::thread`; the browser's main thread has none to give (wasm32
//! without shared memory), so there it runs at once, inside [`Background::start`].

use std::sync::mpsc::{self, Receiver, TryRecvError};

use web_time::Instant;

/// A piece of work on its way: its answer, once it lands, comes out of [`Background::poll`].
#[derive(Debug)]
pub struct Background<T> {
    answer: Receiver<T>,
    started: Instant,
}

/// What polling found.
#[derive(Debug, PartialEq)]
pub enum Landed<T> {
    /// Still working.
    Pending,
    /// The answer.
    Done(T),
    /// The work stopped without an answer (it panicked, or its thread could not start).
    Lost,
}

impl<T: Send + 'static> Background<T> {
    /// Starts `work` off the frame's thread (natively; in the browser it runs now).
    pub fn start(name: &str, work: impl FnOnce() -> T + Send + 'static) -> Self {
        let (send, answer) = mpsc::channel();
        let run = move || {
            // Nobody listens when the window closed meanwhile: the answer is dropped.
            let _ = send.send(work());
        };
        #[cfg(not(target_arch = "wasm32"))]
        {
            // A thread that cannot start drops `run` (and its sender): polling says Lost.
            let _ = std::thread::Builder::new()
                .name(format!("gaze {name}"))
                .spawn(run);
        }
        #[cfg(target_arch = "wasm32")]
        {
            let _ = name;
            run();
        }
        Self {
            answer,
            started: Instant::now(),
        }
    }

    /// The answer if it has landed; never waits.
    pub fn poll(&self) -> Landed<T> {
        match self.answer.try_recv() {
            Ok(answer) => Landed::Done(answer),
            Err(TryRecvError::Empty) => Landed::Pending,
            Err(TryRecvError::Disconnected) => Landed::Lost,
        }
    }

    /// Waits for the answer (headless renders and tests: no frame to keep smooth); `None` when
    /// the work stopped without one.
    pub fn wait(self) -> Option<T> {
        self.answer.recv().ok()
    }

    /// Seconds since it started.
    pub fn seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

/// One computed answer, with what it was computed for.
#[derive(Debug)]
pub struct Answer<K, V> {
    /// What it was computed for.
    pub key: K,
    /// Where from (a model file's SHA-256): the same key on another model is another answer.
    pub source: String,
    /// The answer, or why there is none.
    pub value: Result<V, String>,
    /// How long it took.
    pub seconds: f64,
}

/// The answer for the latest key, computed off the frame: one job at a time, the next started
/// when the key has changed meanwhile. An answer is handed out only for the key (and source) it
/// was computed for, so a stale number never reaches the screen.
#[derive(Debug)]
pub struct Latest<K, V> {
    shown: Option<Answer<K, V>>,
    pending: Option<(K, Background<Answer<K, V>>)>,
    /// Counts answers landed (a renderer re-uploads what it drew from when this moves).
    generation: u64,
}

impl<K, V> Default for Latest<K, V> {
    fn default() -> Self {
        Self {
            shown: None,
            pending: None,
            generation: 0,
        }
    }
}

impl<K: Send + 'static, V: Send + 'static> Latest<K, V> {
    /// Collects an answer that has landed and, when the one on hand is not for a key that
    /// `is_current` accepts from `source` and nothing is computing, starts `compute(key())`.
    /// With `wait`, waits for the answer (headless renders and tests).
    pub fn update(
        &mut self,
        source: &str,
        is_current: impl Fn(&K) -> bool,
        key: impl FnOnce() -> K,
        compute: impl FnOnce(&K) -> Result<V, String> + Send + 'static,
        wait: bool,
    ) where
        K: Clone,
    {
        if self.collect(source, wait) || self.current(source, &is_current).is_some() {
            return;
        }
        let key = key();
        let for_job = key.clone();
        let from = source.to_owned();
        let job = Background::start("compute", move || {
            let started = Instant::now();
            let value = compute(&for_job);
            Answer {
                key: for_job,
                source: from,
                value,
                seconds: started.elapsed().as_secs_f64(),
            }
        });
        self.pending = Some((key, job));
        if wait {
            self.collect(source, true);
        }
    }

    /// Collects the job on its way if it has landed (with `wait`, once it has); returns whether
    /// one is still computing.
    fn collect(&mut self, source: &str, wait: bool) -> bool {
        let Some((key, job)) = self.pending.take() else {
            return false;
        };
        let landed = if wait {
            job.wait().map_or(Landed::Lost, Landed::Done)
        } else {
            match job.poll() {
                Landed::Pending => {
                    self.pending = Some((key, job));
                    return true;
                }
                landed => landed,
            }
        };
        match landed {
            Landed::Pending => return true,
            Landed::Done(answer) => self.land(answer),
            // Kept with its key, so work that panicked is not retried every frame: only once
            // the key changes.
            Landed::Lost => self.land(Answer {
                key,
                source: source.to_owned(),
                value: Err("the computation stopped unexpectedly".into()),
                seconds: 0.0,
            }),
        }
        false
    }

    fn land(&mut self, answer: Answer<K, V>) {
        self.shown = Some(answer);
        self.generation += 1;
    }

    /// The answer on hand if it is for a key `is_current` accepts, from `source`.
    pub fn current(&self, source: &str, is_current: impl Fn(&K) -> bool) -> Option<&Answer<K, V>> {
        self.shown
            .as_ref()
            .filter(|a| a.source == source && is_current(&a.key))
    }

    /// Seconds the job on its way has run, if one is.
    pub fn computing(&self) -> Option<f64> {
        self.pending.as_ref().map(|(_, job)| job.seconds())
    }

    /// How many answers have landed.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_lands_and_a_panic_is_reported_lost_not_waited_for() {
        let job = Background::start("test", || 6 * 7);
        assert_eq!(job.wait(), Some(42));
        #[allow(clippy::panic, reason = "the work that fails is the test")]
        let failed = Background::<u32>::start("test", || panic!("work failed"));
        assert_eq!(failed.wait(), None);
        let gate = std::sync::Arc::new(std::sync::Barrier::new(2));
        let held = gate.clone();
        let job = Background::start("test", move || {
            held.wait();
            1
        });
        assert_eq!(job.poll(), Landed::Pending, "it has not been let through");
        gate.wait();
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match job.poll() {
                Landed::Done(answer) => break assert_eq!(answer, 1),
                Landed::Pending if Instant::now() < deadline => std::thread::yield_now(),
                other => panic!("{other:?}"),
            }
        }
    }
}
