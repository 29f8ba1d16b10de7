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
use std::str::FromStr;

use burn::prelude::Device;
use serde::{Deserialize, Serialize};

use crate::backend::{BackendChoice, Precision};
use crate::error::Result;
use crate::remote::ServerDevice;

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
            host.parse::<DeviceSpec>()
                .ok()
                .filter(|spec| matches!(spec, DeviceSpec::Remote(_)))
                .ok_or_else(|| {
                    format!("remote.hosts: {host:?} is not a WebSocket address like \"ws://gpu-box:3000\"")
                })?;
        }
        Ok(())
    }
}

/// One device, as written in `[training] devices` or `[remote] hosts`: parsed once with
/// [`FromStr`] (`"wgpu:1".parse::<DeviceSpec>()`), printed back with [`Display`](fmt::Display).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceSpec {
    /// A backend compiled into this binary, and which of its devices.
    Local {
        backend: BackendChoice,
        index: usize,
    },
    /// A device of a device server (`ws://host:port[#N]`).
    Remote(ServerDevice),
}

impl FromStr for DeviceSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.starts_with("ws://") {
            return text.parse().map(Self::Remote);
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(format!(
                "{text:?}: a device server is reached over \"ws://\", not \"{scheme}://\" \
                 (write it as \"ws://host:port[#N]\")"
            ));
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
}

impl DeviceSpec {
    pub(crate) fn is_remote(&self) -> bool {
        matches!(self, Self::Remote(_))
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
            Self::Remote(server) => server.fmt(f),
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
            .map(|d| d.parse().map_err(|e| format!("{key}: {e}")))
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
                    DeviceSpec::Remote(_) => BackendChoice::Remote.name().to_string(),
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
                DeviceSpec::Remote(server) => {
                    crate::remote::connect(server, token.as_deref(), precision)?
                }
            };
            Ok((spec.to_string(), device))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(backend: BackendChoice, index: usize) -> DeviceSpec {
        DeviceSpec::Local { backend, index }
    }

    fn server(address: &str, index: usize) -> DeviceSpec {
        DeviceSpec::Remote(ServerDevice {
            address: address.into(),
            index,
        })
    }

    fn parsed(text: &str) -> Result<DeviceSpec, String> {
        text.parse()
    }

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
            let spec = parsed(text).unwrap();
            let printed = spec.to_string();
            let expected = if text == "cuda:0" { "cuda" } else { text };
            assert_eq!(printed, expected);
        }
        assert!(parsed("ws://gpu-box").is_err());
        assert!(parsed("ws://gpu-box:port").is_err());
        assert!(parsed("flex:1").is_err());
        assert!(parsed("tpu").is_err());
        assert!(parsed("wgpu:x").is_err());
    }

    #[test]
    fn valid_device_strings_parse_to_their_backend_or_server_and_index() {
        use BackendChoice::{Cuda, Flex, Ndarray, Wgpu};
        let cases = [
            ("flex", local(Flex, 0)),
            ("ndarray", local(Ndarray, 0)),
            ("flex:0", local(Flex, 0)),
            ("wgpu", local(Wgpu, 0)),
            ("wgpu:1", local(Wgpu, 1)),
            ("cuda:0", local(Cuda, 0)),
            ("cuda:3", local(Cuda, 3)),
            ("  wgpu:2 ", local(Wgpu, 2)),
            ("ws://gpu-box:3000", server("gpu-box:3000", 0)),
            ("ws://gpu-box:3000#0", server("gpu-box:3000", 0)),
            ("ws://10.0.0.2:3000#2", server("10.0.0.2:3000", 2)),
            ("ws://[::1]:3000#1", server("[::1]:3000", 1)),
            (" ws://localhost:65535 ", server("localhost:65535", 0)),
        ];
        for (text, expected) in cases {
            assert_eq!(parsed(text), Ok(expected), "{text:?}");
        }
        // What the device server's functions are given: the address and the device, apart.
        let DeviceSpec::Remote(device) = parsed("ws://10.0.0.2:3000#2").unwrap() else {
            panic!("a device server")
        };
        assert_eq!(device.url(), "ws://10.0.0.2:3000");
        assert_eq!(device.index, 2);
        assert_eq!(device.to_string(), "ws://10.0.0.2:3000#2");
        assert!(parsed("ws://a:1").unwrap().is_remote());
        assert!(!parsed("wgpu:1").unwrap().is_remote());
    }

    #[test]
    fn a_bad_index_is_refused_by_name() {
        assert_eq!(
            parsed("wgpu:x"),
            Err("\"wgpu:x\": the device index \"x\" is not a number".into())
        );
        assert_eq!(
            parsed("cuda:-1"),
            Err("\"cuda:-1\": the device index \"-1\" is not a number".into())
        );
        assert_eq!(
            parsed("wgpu:"),
            Err("\"wgpu:\": the device index \"\" is not a number".into())
        );
        assert_eq!(
            parsed("ws://gpu-box:3000#one"),
            Err("\"ws://gpu-box:3000#one\": the device index \"one\" is not a number".into())
        );
        assert_eq!(
            parsed("flex:1"),
            Err("\"flex:1\": the CPU backends have one device (the CPU), so no index".into())
        );
        assert_eq!(
            parsed("ndarray:2"),
            Err("\"ndarray:2\": the CPU backends have one device (the CPU), so no index".into())
        );
    }

    #[test]
    fn a_bad_scheme_name_or_address_is_refused_by_name() {
        assert_eq!(
            parsed("wss://gpu-box:3000"),
            Err(
                "\"wss://gpu-box:3000\": a device server is reached over \"ws://\", not \
                 \"wss://\" (write it as \"ws://host:port[#N]\")"
                    .into()
            )
        );
        assert_eq!(
            parsed("http://gpu-box:3000#1"),
            Err(
                "\"http://gpu-box:3000#1\": a device server is reached over \"ws://\", not \
                 \"http://\" (write it as \"ws://host:port[#N]\")"
                    .into()
            )
        );
        assert_eq!(
            parsed("tpu"),
            Err(
                "unknown device \"tpu\": use \"flex\", \"ndarray\", \"wgpu[:N]\", \
                 \"cuda[:N]\" or a device server's \"ws://host:port[#N]\""
                    .into()
            )
        );
        assert_eq!(
            parsed("WGPU"),
            Err(
                "unknown device \"WGPU\": use \"flex\", \"ndarray\", \"wgpu[:N]\", \
                 \"cuda[:N]\" or a device server's \"ws://host:port[#N]\""
                    .into()
            )
        );
        assert_eq!(
            parsed("ws://gpu-box"),
            Err("\"ws://gpu-box\" has no port: write it as \"ws://host:port\"".into())
        );
        for text in [
            "ws://gpu-box:port",
            "ws://gpu-box:70000",
            "ws://:3000",
            "ws://gpu-box:3000/session",
        ] {
            assert_eq!(
                parsed(text),
                Err(format!(
                    "{text:?} is not a device server address like \"ws://gpu-box:3000\""
                )),
            );
        }
    }

    #[test]
    fn plans_follow_backend_devices_and_hosts() {
        let hosts = RemoteConfig {
            hosts: vec!["ws://a:1".into(), "ws://b:2".into()],
            token_file: None,
        };
        assert_eq!(
            plan(BackendChoice::Remote, None, &hosts).unwrap(),
            Some(vec![server("a:1", 0), server("b:2", 0)])
        );
        assert!(plan(BackendChoice::Remote, None, &RemoteConfig::default()).is_err());
        let devices = vec!["ws://a:1".to_string(), "flex".to_string()];
        assert_eq!(
            plan(BackendChoice::Auto, Some(&devices), &hosts).unwrap(),
            Some(vec![server("a:1", 0), local(BackendChoice::Flex, 0)])
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
