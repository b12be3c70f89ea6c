//! Faults injected on purpose, so tests can prove the window survives what a lecture hall throws
//! at it: a GPU driver reset, a surface the compositor took away, a minimised window, a bug.
//!
//! `gaze --inject-fault KIND@FRAME` (hidden from `--help`; the web page takes `?fault=KIND@FRAME`)
//! makes the window meet one fault at frame FRAME. The code paths that then run are the ones a
//! real fault takes: the device really is destroyed, the surface texture really is dropped
//! unpresented and the surface reconfigured, the panic really unwinds through the panic hook.

use std::fmt;
use std::str::FromStr;

/// What goes wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// `device.destroy()`: everything made on the device is dead, as after a driver reset.
    DeviceLost,
    /// The next surface texture is treated as `Lost` (the compositor dropped the swap chain).
    SurfaceLost,
    /// The next surface texture is treated as `Outdated` (the window changed under the frame).
    SurfaceOutdated,
    /// The window reports 0×0 for [`MINIMISED_FRAMES`] frames, as a minimised window does.
    Minimise,
    /// A panic inside the frame: the panic hook saves the scene before the process ends.
    Panic,
}

/// How long an injected minimise lasts, in redraws.
pub const MINIMISED_FRAMES: u32 = 30;

/// One fault and the frame it happens at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// What goes wrong.
    pub kind: FaultKind,
    /// The frame (counted from the first drawn one) at which it goes wrong.
    pub frame: u64,
}

/// A `--inject-fault` value that is not `KIND@FRAME`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a fault: write KIND@FRAME with KIND one of device-lost, surface-lost, \
     surface-outdated, minimise, panic (e.g. device-lost@30)"
)]
pub struct FaultParseError(String);

impl FaultKind {
    const ALL: [(FaultKind, &'static str); 5] = [
        (FaultKind::DeviceLost, "device-lost"),
        (FaultKind::SurfaceLost, "surface-lost"),
        (FaultKind::SurfaceOutdated, "surface-outdated"),
        (FaultKind::Minimise, "minimise"),
        (FaultKind::Panic, "panic"),
    ];

    /// The name `--inject-fault` uses.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(kind, _)| *kind == self)
            .map_or("?", |(_, name)| name)
    }
}

impl FromStr for Fault {
    type Err = FaultParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let refuse = || FaultParseError(text.to_owned());
        let (name, frame) = text.split_once('@').ok_or_else(refuse)?;
        let kind = FaultKind::ALL
            .iter()
            .find(|(_, known)| *known == name.trim())
            .map(|(kind, _)| *kind)
            .ok_or_else(refuse)?;
        let frame = frame.trim().parse().map_err(|_| refuse())?;
        Ok(Fault { kind, frame })
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.kind.name(), self.frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_name_round_trips() {
        for (kind, name) in FaultKind::ALL {
            let fault: Fault = format!("{name}@7").parse().unwrap();
            assert_eq!(fault, Fault { kind, frame: 7 });
            assert_eq!(fault.to_string(), format!("{name}@7"));
        }
    }

    #[test]
    fn malformed_fault_names_the_accepted_form() {
        for bad in [
            "",
            "device-lost",
            "device-lost@",
            "@3",
            "melt@3",
            "panic@-1",
            "panic@x",
        ] {
            let error = bad.parse::<Fault>().unwrap_err().to_string();
            assert!(error.contains("KIND@FRAME"), "{bad}: {error}");
        }
    }
}
