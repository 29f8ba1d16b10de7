//! Where an image experiment trains: one device or several, on this machine or served by another
//! (`neurona device-server`, Burn's remote backend).
//!
//! A device is written as a string: `"flex"`, `"ndarray"`, `"wgpu"`, `"wgpu:1"` (the second
//! discrete GPU), `"cuda:0"`, or the WebSocket address of a device server, `"ws://gpu-box:3000"`,
//! with `#N` for its N-th device (`"ws://gpu-box:3000#1"`). `backend = "remote"` trains on the
//! first device of every host in `[remote] hosts`; `[training] devices = [...]` names any mix.
//! Several devices train data-parallel through burn-train's `ExecutionStrategy::multi`: every
//! step runs one batch on each device and sums their gradients on the first, where the optimizer
//! steps.
//!
//! The token a device server checks never sits in the experiment file (which is copied into the
//! run directory): it comes from `[remote] token_file` or the `NEURONA_REMOTE_TOKEN` variable.

use std::fmt;
use std::path::PathBuf;

use burn::prelude::Device;
use serde::{Deserialize, Serialize};

use crate::backend::{BackendChoice, Precision};
use crate::error::Result;

/// `[remote]`: the device servers `backend = "remote"` trains on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RemoteConfig {
    /// WebSocket addresses of `neurona device-server`s, such as `"ws://gpu-box:3000"`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// A file whose first line is the servers' token (else `$NEURONA_REMOTE_TOKEN`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
}

impl RemoteConfig {
    pub fn validate(&self) -> Result<(), String> {
        for host in &self.hosts {
            DeviceSpec::parse(host)
                .ok()
                .filter(|spec| matches!(spec, DeviceSpec::Remote { .. }))
                .ok_or_else(|| {
                    format!("remote.hosts: {host:?} is not a WebSocket address like \"ws://gpu-box:3000\"")
                })?;
        }
        Ok(())
    }
}

/// One device, as written in `[training] devices` or `[remote] hosts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceSpec {
    /// A backend compiled into this binary, and which of its devices.
    Local {
        backend: BackendChoice,
        index: usize,
    },
    /// Device `index` of the device server at `url`.
    Remote { url: String, index: usize },
}

impl DeviceSpec {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix("ws://") {
            let (address, index) = match rest.split_once('#') {
                Some((address, index)) => (address, parse_index(text, index)?),
                None => (rest, 0),
            };
            let (host, port) = address
                .rsplit_once(':')
                .ok_or_else(|| format!("{text:?} has no port: write it as \"ws://host:port\""))?;
            if host.is_empty() || port.parse::<u16>().is_err() || address.contains('/') {
                return Err(format!(
                    "{text:?} is not a device server address like \"ws://gpu-box:3000\""
                ));
            }
            return Ok(Self::Remote {
                url: format!("ws://{address}"),
                index,
            });
        }
        let (name, index) = match text.split_once(':') {
            Some((name, index)) => (name, parse_index(text, index)?),
            None => (text, 0),
        };
        let backend = match name {
            "flex" => BackendChoice::Flex,
            "ndarray" => BackendChoice::Ndarray,
            "wgpu" => BackendChoice::Wgpu,
            "cuda" => BackendChoice::Cuda,
            _ => {
                return Err(format!(
                    "unknown device {text:?}: use \"flex\", \"ndarray\", \"wgpu[:N]\", \"cuda[:N]\" \
                     or a device server's \"ws://host:port[#N]\""
                ));
            }
        };
        if index > 0 && matches!(backend, BackendChoice::Flex | BackendChoice::Ndarray) {
            return Err(format!(
                "{text:?}: the CPU backends have one device (the CPU), so no index"
            ));
        }
        Ok(Self::Local { backend, index })
    }

    pub(crate) fn is_remote(&self) -> bool {
        matches!(self, Self::Remote { .. })
    }
}

fn parse_index(text: &str, index: &str) -> Result<usize, String> {
    index
        .parse()
        .map_err(|_| format!("{text:?}: the device index {index:?} is not a number"))
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local { backend, index: 0 } => f.write_str(backend.name()),
            Self::Local { backend, index } => write!(f, "{}:{index}", backend.name()),
            Self::Remote { url, index: 0 } => f.write_str(url),
            Self::Remote { url, index } => write!(f, "{url}#{index}"),
        }
    }
}

/// The devices an image experiment trains on, from its `backend`, `[training] devices` and
/// `[remote] hosts`. `None`: the one device `backend` selects (auto included). A concrete local
/// backend (from the file or `--backend`) trains there alone, so `--backend flex` continues a run
/// on this machine whatever its devices were.
pub(crate) fn plan(
    backend: BackendChoice,
    devices: Option<&[String]>,
    remote: &RemoteConfig,
) -> Result<Option<Vec<DeviceSpec>>, String> {
    let listed = |list: &[String], key: &str| -> Result<Vec<DeviceSpec>, String> {
        let specs = list
            .iter()
            .map(|d| DeviceSpec::parse(d).map_err(|e| format!("{key}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(twice) = specs
            .iter()
            .enumerate()
            .find_map(|(i, s)| specs[..i].contains(s).then_some(s))
        {
            return Err(format!("{key} names {twice} twice"));
        }
        Ok(specs)
    };
    match (backend, devices) {
        (BackendChoice::Auto | BackendChoice::Remote, Some([])) => {
            Err("training.devices is empty: name at least one device, or leave it out".into())
        }
        (BackendChoice::Auto | BackendChoice::Remote, Some(list)) => {
            listed(list, "training.devices").map(Some)
        }
        (BackendChoice::Remote, None) if remote.hosts.is_empty() => Err(
            "backend \"remote\" needs [remote] hosts = [\"ws://host:port\", ...]: the addresses \
             of `neurona device-server`s"
                .into(),
        ),
        (BackendChoice::Remote, None) => listed(&remote.hosts, "remote.hosts").map(Some),
        _ => Ok(None),
    }
}

/// The devices a run trains on, opened. The first holds the model and steps the optimizer.
pub(crate) struct Placement {
    /// The backend's name for `metrics.json`: the first device's backend (`remote` for a server).
    pub backend: String,
    /// Each device with the name it is reported by.
    pub devices: Vec<(String, Device)>,
    /// Every device is this machine's CPU (flex or ndarray), where a resident copy of the data
    /// gains nothing.
    pub on_cpu: bool,
}

impl Placement {
    /// Opens the devices of an experiment's `backend`, `[training] devices` and `[remote]`.
    pub fn open(
        backend: BackendChoice,
        devices: Option<&[String]>,
        remote: &RemoteConfig,
        precision: Precision,
    ) -> Result<Self> {
        let is_cpu = |b: BackendChoice| matches!(b, BackendChoice::Flex | BackendChoice::Ndarray);
        match plan(backend, devices, remote).map_err(crate::error::Error::Config)? {
            Some(specs) => Ok(Self {
                backend: match &specs[0] {
                    DeviceSpec::Local { backend, .. } => backend.name().to_string(),
                    DeviceSpec::Remote { .. } => BackendChoice::Remote.name().to_string(),
                },
                on_cpu: specs
                    .iter()
                    .all(|s| matches!(s, DeviceSpec::Local { backend, .. } if is_cpu(*backend))),
                devices: open(&specs, precision, remote)?,
            }),
            None => {
                let (backend, device) = crate::backend::select(backend, precision)?;
                Ok(Self {
                    backend: backend.name().to_string(),
                    on_cpu: is_cpu(backend),
                    devices: vec![(format!("{device:?}"), device)],
                })
            }
        }
    }

    /// The device holding the model.
    pub fn main(&self) -> &Device {
        &self.devices[0].1
    }

    /// The devices' names, as `metrics.json` records them.
    pub(crate) fn describe(&self) -> String {
        let names: Vec<&str> = self.devices.iter().map(|(n, _)| n.as_str()).collect();
        names.join(", ")
    }

    /// The device servers among the devices (their `ws://` addresses).
    pub fn servers(&self) -> Vec<&str> {
        self.devices
            .iter()
            .filter_map(|(name, _)| name.starts_with("ws://").then_some(name.as_str()))
            .collect()
    }
}

/// Opens every device of `specs` with `precision`; each comes with the name it is reported by.
pub fn open(
    specs: &[DeviceSpec],
    precision: Precision,
    remote: &RemoteConfig,
) -> Result<Vec<(String, Device)>> {
    let token = if specs.iter().any(DeviceSpec::is_remote) {
        crate::remote::token(remote.token_file.as_deref())?
    } else {
        None
    };
    specs
        .iter()
        .map(|spec| {
            let device = match spec {
                DeviceSpec::Local { backend, index } => {
                    crate::backend::indexed(*backend, *index, precision)?
                }
                DeviceSpec::Remote { url, index } => {
                    crate::remote::connect(url, *index, token.as_deref(), precision)?
                }
            };
            Ok((spec.to_string(), device))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_strings_parse_and_print_back() {
        for text in [
            "flex",
            "wgpu",
            "wgpu:1",
            "cuda:0",
            "ws://gpu-box:3000",
            "ws://10.0.0.2:3000#2",
        ] {
            let spec = DeviceSpec::parse(text).unwrap();
            let printed = spec.to_string();
            let expected = if text == "cuda:0" { "cuda" } else { text };
            assert_eq!(printed, expected);
        }
        assert!(DeviceSpec::parse("ws://gpu-box").is_err());
        assert!(DeviceSpec::parse("ws://gpu-box:port").is_err());
        assert!(DeviceSpec::parse("flex:1").is_err());
        assert!(DeviceSpec::parse("tpu").is_err());
        assert!(DeviceSpec::parse("wgpu:x").is_err());
    }

    #[test]
    fn plans_follow_backend_devices_and_hosts() {
        let hosts = RemoteConfig {
            hosts: vec!["ws://a:1".into(), "ws://b:2".into()],
            token_file: None,
        };
        let remote = |url: &str| DeviceSpec::Remote {
            url: url.into(),
            index: 0,
        };
        assert_eq!(
            plan(BackendChoice::Remote, None, &hosts).unwrap(),
            Some(vec![remote("ws://a:1"), remote("ws://b:2")])
        );
        assert!(plan(BackendChoice::Remote, None, &RemoteConfig::default()).is_err());
        let devices = vec!["ws://a:1".to_string(), "flex".to_string()];
        assert_eq!(
            plan(BackendChoice::Auto, Some(&devices), &hosts).unwrap(),
            Some(vec![
                remote("ws://a:1"),
                DeviceSpec::Local {
                    backend: BackendChoice::Flex,
                    index: 0
                }
            ])
        );
        // A concrete local backend (such as `--backend flex`) trains there alone.
        assert_eq!(
            plan(BackendChoice::Flex, Some(&devices), &hosts).unwrap(),
            None
        );
        let twice = vec!["flex".to_string(), "flex".to_string()];
        assert!(plan(BackendChoice::Auto, Some(&twice), &hosts).is_err());
        assert!(plan(BackendChoice::Auto, Some(&[]), &hosts).is_err());
    }
}
