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
