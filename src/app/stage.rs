//! How every step keeps what it derives from the scene: a [`Stage`] — the value on screen, the
//! one being computed, the key each was computed from, and the key last refused.
//!
//! Every step follows the same rules, so they live here once:
//! - **Recompute only what changed.** A value remembers the key it was computed from (the
//!   sentence and switches for step 3, the context for step 4, the corpus for a fit); a frame
//!   whose scene still matches the newest key computes nothing.
//! - **A refusal is not retried every frame.** A scene the step refused (an empty sentence) is
//!   remembered with its reason until the user changes it again; the last good value stays on
//!   screen meanwhile.
//! - **Text and pictures from the same result.** A newly computed value waits, `incoming`, until
//!   every number its panel prints has landed ([`Landing::landed`]: the GPU's readback); only
//!   then does it replace what is `shown`. So a panel never prints one result beside cells drawn
//!   from another, and never prints a number that is not yet there.
//! - **Shrink to fit the device.** A request larger than this GPU holds is shown smaller, with
//!   the reason: [`largest_fitting`] finds the largest size a cheap check accepts (one search,
//!   used by steps 3 and 4 alike), before anything is allocated.

/// A value and the key it was computed from.
#[derive(Debug)]
struct Keyed<K, V> {
    key: K,
    value: V,
}

/// Whether a value's printed numbers are all in (a GPU readback lands a frame or two after the
/// kernels are submitted; the CPU reference's numbers are in at once).
pub trait Landing {
    /// Whether every number the panel prints from this value is here.
    fn landed(&self) -> bool;
}

/// One step's derived state: see the module's rules.
#[derive(Debug)]
pub struct Stage<K, V> {
    shown: Option<Keyed<K, V>>,
    incoming: Option<Keyed<K, V>>,
    refused: Option<(K, String)>,
    /// Bumped whenever [`Self::shown`] becomes another value.
    shown_count: u64,
}

impl<K, V> Default for Stage<K, V> {
    fn default() -> Self {
        Self {
            shown: None,
            incoming: None,
            refused: None,
            shown_count: 0,
        }
    }
}

impl<K, V: Landing> Stage<K, V> {
    /// Whether nothing needs computing for a scene `same` accepts: the newest value (incoming,
    /// else shown) was computed from it, or it was refused. `same` compares field by field, so
    /// a frame with no edit allocates nothing.
    pub fn is_current(&self, same: impl Fn(&K) -> bool) -> bool {
        self.newest_key().is_some_and(&same) || self.refused.as_ref().is_some_and(|(k, _)| same(k))
    }

    /// Whether a scene `same` accepts needs computing: not when the newest value was computed
    /// from it (a refusal then no longer holds: the edit that was refused has been taken back),
    /// nor when it is the scene refused.
    pub fn needs_compute(&mut self, same: impl Fn(&K) -> bool) -> bool {
        if self.newest_key().is_some_and(&same) {
            self.refused = None;
            return false;
        }
        !self.refused.as_ref().is_some_and(|(k, _)| same(k))
    }

    /// Brings the stage to `same`'s scene: nothing when [`Self::is_current`]; otherwise builds
    /// the key and computes a value from it. `compute` is handed the value it supersedes that
    /// is not on screen (an incoming one whose numbers never landed), to reuse what it can. A
    /// value whose numbers are in replaces the shown one at once; otherwise it waits for
    /// [`Self::land`]. An error refuses the key (with its message) until the scene changes,
    /// keeps the shown value, and is returned this once. Returns whether anything was computed.
    pub fn update<E: std::fmt::Display>(
        &mut self,
        same: impl Fn(&K) -> bool,
        key: impl FnOnce() -> K,
        compute: impl FnOnce(&K, Option<V>) -> Result<V, E>,
    ) -> Result<bool, E> {
        if !self.needs_compute(&same) {
            return Ok(false);
        }
        let key = key();
        let superseded = self.incoming.take().map(|incoming| incoming.value);
        match compute(&key, superseded) {
            Ok(value) => {
                self.refused = None;
                self.incoming = Some(Keyed { key, value });
                self.land();
                Ok(true)
            }
            Err(error) => {
                self.refused = Some((key, error.to_string()));
                Err(error)
            }
        }
    }

    /// Puts `value`, computed from `key`, on its way to the screen (a step started on request,
    /// like a fit): shown at once when it has landed.
    pub fn start(&mut self, key: K, value: V) {
        self.refused = None;
        self.incoming = Some(Keyed { key, value });
        self.land();
    }

    /// Shows the incoming value if its numbers have landed. Returns whether it did.
    pub fn land(&mut self) -> bool {
        if !self.incoming.as_ref().is_some_and(|i| i.value.landed()) {
            return false;
        }
        self.shown = self.incoming.take();
        self.shown_count += 1;
        true
    }

    /// Lets `poll` collect what has arrived for the incoming value and then for the shown one
    /// (never waiting), and shows the incoming one once it has landed. Returns whether anything
    /// the panels print changed, and whether the shown value is a new one.
    pub fn poll<E>(
        &mut self,
        mut poll: impl FnMut(&mut V) -> Result<bool, E>,
    ) -> Result<Polled, E> {
        let mut changed = false;
        if let Some(incoming) = self.incoming.as_mut() {
            poll(&mut incoming.value)?;
        }
        let promoted = self.land();
        if let Some(shown) = self.shown.as_mut() {
            changed |= poll(&mut shown.value)?;
        }
        Ok(Polled {
            changed: changed || promoted,
            promoted,
        })
    }

    /// Drops the shown and incoming values unless `same` still accepts their keys (a fit of a
    /// corpus the user has since edited would be a wrong number on screen).
    pub fn keep_if(&mut self, same: impl Fn(&K) -> bool) {
        if self.shown.as_ref().is_some_and(|s| !same(&s.key)) {
            self.shown = None;
            self.shown_count += 1;
        }
        if self.incoming.as_ref().is_some_and(|i| !same(&i.key)) {
            self.incoming = None;
        }
    }

    /// The value on screen: the newest one whose numbers have all landed.
    pub fn shown(&self) -> Option<&V> {
        self.shown.as_ref().map(|s| &s.value)
    }

    /// The value on screen, to move on what it animates or reads back for itself.
    pub fn shown_mut(&mut self) -> Option<&mut V> {
        self.shown.as_mut().map(|s| &mut s.value)
    }

    /// Takes the value on screen out of the stage (a headless render hands it back).
    pub fn take_shown(&mut self) -> Option<V> {
        self.shown_count += 1;
        self.shown.take().map(|s| s.value)
    }

    /// The key of the value on screen.
    pub fn shown_key(&self) -> Option<&K> {
        self.shown.as_ref().map(|s| &s.key)
    }

    /// The value computed last, landed or not: the one a new request (another focus) is for.
    pub fn newest_mut(&mut self) -> Option<&mut V> {
        match (self.incoming.as_mut(), self.shown.as_mut()) {
            (Some(incoming), _) => Some(&mut incoming.value),
            (None, shown) => shown.map(|s| &mut s.value),
        }
    }

    /// The incoming value, whose numbers are still on their way.
    pub fn incoming_mut(&mut self) -> Option<&mut V> {
        self.incoming.as_mut().map(|i| &mut i.value)
    }

    /// Why the scene's current request was refused, while it is.
    pub fn refusal(&self) -> Option<&str> {
        self.refused.as_ref().map(|(_, why)| why.as_str())
    }

    /// How many values have been shown (bumped each time another one is): what binds them
    /// to the screen knows when to look again.
    pub fn shown_count(&self) -> u64 {
        self.shown_count
    }

    fn newest_key(&self) -> Option<&K> {
        self.incoming
            .as_ref()
            .or(self.shown.as_ref())
            .map(|keyed| &keyed.key)
    }
}

/// What one [`Stage::poll`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Polled {
    /// Something the panels print changed.
    pub changed: bool,
    /// The incoming value landed and is now the shown one.
    pub promoted: bool,
}

/// The largest size in `1..=asked` that `fits` accepts, for a request this device cannot hold
/// whole: `Ok(None)` when `asked` itself fits; `Ok(Some((size, why)))` with the smaller size and
/// the refusal of the full one (the screen says why it shows less); `Err` with that refusal when
/// not even one fits. `fits` must be monotone (a smaller request never fails where a larger one
/// passes) and cheap — a check of sizes against the device's limits, allocating nothing — since
/// it is tried about `log₂(asked)` times (a bisection).
pub fn largest_fitting<E>(
    asked: usize,
    mut fits: impl FnMut(usize) -> Result<(), E>,
) -> Result<Option<(usize, E)>, E> {
    let why = match fits(asked) {
        Ok(()) => return Ok(None),
        Err(why) => why,
    };
    // Invariant: `low` fits (0 stands for "none found yet"), `high` does not.
    let (mut low, mut high) = (0, asked);
    while high - low > 1 {
        let middle = low + (high - low) / 2;
        if fits(middle).is_ok() {
            low = middle;
        } else {
            high = middle;
        }
    }
    if low == 0 {
        return Err(why);
    }
    Ok(Some((low, why)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value whose numbers land when told.
    #[derive(Debug, PartialEq)]
    struct Value {
        id: u32,
        landed: bool,
    }

    impl Landing for Value {
        fn landed(&self) -> bool {
            self.landed
        }
    }

    fn value(id: u32, landed: bool) -> Result<Value, String> {
        Ok(Value { id, landed })
    }

    #[test]
    fn an_unchanged_scene_computes_nothing() {
        let mut stage = Stage::<u32, Value>::default();
        let mut computed = 0;
        for _ in 0..3 {
            stage
                .update(
                    |k| *k == 7,
                    || 7,
                    |_, _| {
                        computed += 1;
                        value(1, true)
                    },
                )
                .unwrap();
        }
        assert_eq!(computed, 1);
        assert_eq!(stage.shown().map(|v| v.id), Some(1));
    }

    /// Value 1 on screen, value 2 computed and on its way.
    fn shown_one_awaiting_two() -> Stage<u32, Value> {
        let mut stage = Stage::<u32, Value>::default();
        stage
            .update(|k| *k == 1, || 1, |_, _| value(1, true))
            .unwrap();
        stage
            .update(|k| *k == 2, || 2, |_, _| value(2, false))
            .unwrap();
        stage
    }

    #[test]
    fn an_incoming_value_replaces_the_shown_one_only_when_it_lands() {
        let mut stage = shown_one_awaiting_two();
        assert_eq!(stage.shown().map(|v| v.id), Some(1), "not landed yet");
        assert!(stage.is_current(|k| *k == 2), "but not recomputed either");
        let polled = stage.poll(|_| Ok::<_, String>(false)).unwrap();
        assert!(!polled.promoted);
        let polled = stage
            .poll(|v| {
                v.landed = true;
                Ok::<_, String>(true)
            })
            .unwrap();
        assert!(polled.promoted && polled.changed);
        assert_eq!(stage.shown().map(|v| v.id), Some(2));
        assert_eq!(stage.shown_key(), Some(&2));
        assert_eq!(stage.shown_count(), 2);
    }

    #[test]
    fn a_superseded_incoming_value_is_handed_back_for_reuse_and_never_shown() {
        let mut stage = shown_one_awaiting_two();
        let mut handed = None;
        stage
            .update(
                |k| *k == 3,
                || 3,
                |_, superseded| {
                    handed = superseded.map(|v| v.id);
                    value(3, true)
                },
            )
            .unwrap();
        assert_eq!(handed, Some(2));
        assert_eq!(stage.shown().map(|v| v.id), Some(3));
    }

    #[test]
    fn a_refused_scene_keeps_the_last_good_value_and_is_not_retried_until_it_changes() {
        let mut stage = Stage::<u32, Value>::default();
        stage
            .update(|k| *k == 1, || 1, |_, _| value(1, true))
            .unwrap();
        let refuse = |_: &u32, _: Option<Value>| Err::<Value, _>("empty sentence".to_owned());
        assert!(stage.update(|k| *k == 2, || 2, refuse).is_err());
        assert_eq!(stage.refusal(), Some("empty sentence"));
        assert_eq!(stage.shown().map(|v| v.id), Some(1));
        let mut tried = false;
        let again = stage.update(
            |k| *k == 2,
            || 2,
            |_, _| {
                tried = true;
                value(9, true)
            },
        );
        assert_eq!(again, Ok(false));
        assert!(!tried, "a refused scene is not retried every frame");
        stage
            .update(|k| *k == 3, || 3, |_, _| value(3, true))
            .unwrap();
        assert_eq!(stage.refusal(), None);
        assert_eq!(stage.shown().map(|v| v.id), Some(3));
    }

    #[test]
    fn keep_if_drops_a_value_whose_scene_moved_away() {
        let mut stage = Stage::<u32, Value>::default();
        stage.start(
            1,
            Value {
                id: 1,
                landed: true,
            },
        );
        stage.keep_if(|k| *k == 1);
        assert!(stage.shown().is_some());
        stage.keep_if(|k| *k == 2);
        assert!(stage.shown().is_none());
    }

    #[test]
    fn largest_fitting_finds_the_largest_accepted_size() {
        for limit in [1usize, 2, 3, 255, 256, 257, 1000] {
            let fits = |n: usize| {
                if n <= limit {
                    Ok(())
                } else {
                    Err(format!("> {limit}"))
                }
            };
            assert_eq!(largest_fitting(limit, fits), Ok(None));
            assert_eq!(
                largest_fitting(4096, fits),
                Ok(Some((limit, format!("> {limit}"))))
            );
        }
        assert_eq!(
            largest_fitting(10, |_| Err::<(), _>("none")),
            Err("none"),
            "nothing fits"
        );
    }
}
