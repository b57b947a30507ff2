//! Microphone capture with cpal: a named (or the default) input device at its own rate and
//! format, converted to canonical samples and handed to a live session as [`Input`].
//!
//! The cpal stream lives on a thread of its own (streams are not `Send` on every platform).
//! The device callback converts and queues without blocking; the thread ends when the
//! session stops listening (its receiver is dropped) and reports a failing device as
//! [`Input::Failed`], so the session ends with a clear error and keeps what it recorded.

use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SizedSample};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::live::Input;
use crate::live::convert::Converter;

/// How often the capture thread checks whether its session still listens.
const WATCH_INTERVAL: Duration = Duration::from_millis(100);

/// Why capture could not start.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("no input device named {0:?}; `scribed devices` lists them")]
    NoSuchDevice(String),
    #[error("this machine has no default input device")]
    NoDefaultDevice,
    #[error("the input device {device:?} cannot be opened: {message}")]
    Device { device: String, message: String },
}

/// An input device, as listed by `scribed devices` and the API.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceInfo {
    /// What to put in `live.device` or a start request.
    pub id: String,
    /// Human-readable name.
    pub name: String,
    pub default: bool,
}

fn device_id(device: &cpal::Device) -> String {
    device.id().map(|id| id.id().to_string()).unwrap_or_default()
}

fn device_name(device: &cpal::Device) -> String {
    device.description().map(|d| d.name().to_string()).unwrap_or_else(|_| device_id(device))
}

/// The input devices of this machine.
pub fn devices() -> Result<Vec<DeviceInfo>, CaptureError> {
    let host = cpal::default_host();
    let default = host.default_input_device().map(|d| device_id(&d));
    let devices = host.input_devices().map_err(|err| CaptureError::Device { device: "(all)".into(), message: err.to_string() })?;
    Ok(devices
        .map(|d| {
            let id = device_id(&d);
            DeviceInfo { default: default.as_deref() == Some(id.as_str()), name: device_name(&d), id }
        })
        .collect())
}

/// The device called `name` (its id or its name), or the default input.
fn find(host: &cpal::Host, name: Option<&str>) -> Result<cpal::Device, CaptureError> {
    let Some(name) = name else {
        return host.default_input_device().ok_or(CaptureError::NoDefaultDevice);
    };
    let devices = host
        .input_devices()
        .map_err(|err| CaptureError::Device { device: name.to_string(), message: err.to_string() })?;
    let mut by_name = None;
    for device in devices {
        if device_id(&device) == name {
            return Ok(device);
        }
        if by_name.is_none() && device_name(&device) == name {
            by_name = Some(device);
        }
    }
    by_name.ok_or_else(|| CaptureError::NoSuchDevice(name.to_string()))
}

/// A running capture; it stops when the session drops its receiver.
pub struct Capture {
    /// The device's name, for the session's source.
    pub device: String,
}

/// Starts capturing from `name` (the default input when none) into `input`.
pub fn start(name: Option<String>, input: mpsc::Sender<Input>) -> Result<Capture, CaptureError> {
    let (ready_tx, ready_rx) = std_mpsc::channel::<Result<String, CaptureError>>();
    let thread = std::thread::Builder::new().name("scribe-capture".into()).spawn(move || {
        let host = cpal::default_host();
        let opened = find(&host, name.as_deref()).and_then(|device| {
            let label = device_name(&device);
            open(&device, input.clone()).map(|stream| (label, stream))
        });
        let stream = match opened {
            Ok((label, stream)) => {
                let _ = ready_tx.send(Ok(label));
                stream
            }
            Err(err) => {
                let _ = ready_tx.send(Err(err));
                return;
            }
        };
        while !input.is_closed() {
            std::thread::sleep(WATCH_INTERVAL);
        }
        drop(stream);
    });
    if let Err(err) = thread {
        return Err(CaptureError::Device { device: "(capture thread)".into(), message: err.to_string() });
    }
    match ready_rx.recv() {
        Ok(Ok(device)) => Ok(Capture { device }),
        Ok(Err(err)) => Err(err),
        Err(_) => Err(CaptureError::Device { device: "(capture thread)".into(), message: "the capture thread ended".into() }),
    }
}

fn open(device: &cpal::Device, input: mpsc::Sender<Input>) -> Result<cpal::Stream, CaptureError> {
    let fail = |message: String| CaptureError::Device { device: device_name(device), message };
    let config = device.default_input_config().map_err(|err| fail(err.to_string()))?;
    let stream = match config.sample_format() {
        cpal::SampleFormat::F32 => build::<f32>(device, &config, input),
        cpal::SampleFormat::I16 => build::<i16>(device, &config, input),
        cpal::SampleFormat::I32 => build::<i32>(device, &config, input),
        cpal::SampleFormat::U16 => build::<u16>(device, &config, input),
        cpal::SampleFormat::U8 => build::<u8>(device, &config, input),
        cpal::SampleFormat::F64 => build::<f64>(device, &config, input),
        other => return Err(fail(format!("sample format {other} is not supported"))),
    }
    .map_err(|err| fail(err.to_string()))?;
    stream.play().map_err(|err| fail(err.to_string()))?;
    Ok(stream)
}

fn build<T>(device: &cpal::Device, config: &cpal::SupportedStreamConfig, input: mpsc::Sender<Input>) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    let mut converter = Converter::new(config.sample_rate(), config.channels(), crate::live::convert::SampleFormat::F32le)
        .map_err(|err| cpal::Error::with_message(cpal::ErrorKind::UnsupportedConfig, err.to_string()))?;
    let errors = input.clone();
    let mut floats: Vec<f32> = Vec::new();
    let mut overflowed = false;
    device.build_input_stream::<T, _, _>(
        config.config(),
        move |data: &[T], _| {
            floats.clear();
            floats.extend(data.iter().map(|s| s.to_sample::<f32>()));
            let samples = match converter.push_f32(&floats) {
                Ok(samples) => samples,
                Err(err) => {
                    let _ = input.try_send(Input::Failed(format!("converting captured audio failed: {err}")));
                    return;
                }
            };
            if samples.is_empty() {
                return;
            }
            // The callback must not block; a session that far behind has failed anyway.
            if let Err(mpsc::error::TrySendError::Full(_)) = input.try_send(Input::Samples(samples))
                && !overflowed
            {
                overflowed = true;
                let _ = input.try_send(Input::Failed("the session fell behind the microphone".into()));
            }
        },
        move |err| {
            let _ = errors.try_send(Input::Failed(format!("the input device failed: {err}")));
        },
        None,
    )
}
