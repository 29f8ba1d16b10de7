//! The `neurona` command line: argument parsing and dispatch to `neurona::commands`; exit code 2
//! for mistakes in the input, 1 for internal failures.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Parser, Subcommand};
use neurona::Result;
use neurona::backend::{BackendChoice, Kernels};
use neurona::classifier::inference::ImageSource;
use neurona::classifier::training::TrainOptions;
use neurona::commands;
use neurona::experiment::Overrides;
use neurona::neuron::perceptron;

#[derive(Parser)]
#[command(
    name = "neurona",
    version,
    about = "Train, evaluate and use the course's models on Burn"
)]
struct Cli {
    /// Override the config's seed.
    #[arg(long, global = true)]
    seed: Option<u64>,
    /// Override the config's backend.
    #[arg(long, global = true, value_enum)]
    backend: Option<BackendChoice>,
    /// Override the network's `[training] kernels`: `fused` (the fused CPU kernels where they
    /// apply: flex, f32) or `generic` (Burn's operations everywhere).
    #[arg(long, global = true, value_enum)]
    kernels: Option<Kernels>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train the experiment described by a TOML config.
    Train {
        config: PathBuf,
        /// Continue the run from its last completed epoch.
        #[arg(long, conflicts_with = "force")]
        resume: bool,
        /// Replace an existing run of the same name (only the files neurona wrote) and start over.
        #[arg(long)]
        force: bool,
        /// Train data-parallel on these devices (comma-separated: flex, wgpu:N, cuda:N,
        /// ws://host:port[#N]), instead of the config's [training] devices.
        #[arg(long, value_delimiter = ',')]
        devices: Option<Vec<String>>,
    },
    /// Cross-validate a linear or logistic model's penalty strength over a grid, refit, and plot
    /// the regularisation path.
    Cv {
        config: PathBuf,
        /// Replace an existing run of the same name (only the files neurona wrote).
        #[arg(long)]
        force: bool,
    },
    /// Compare autodiff with finite differences for every parameter, and the explicit back-propagation for dense networks, on a small batch (f64).
    Gradcheck {
        config: PathBuf,
        /// Training images in the batch.
        #[arg(long, default_value_t = 8)]
        batch: usize,
        /// Entries per parameter tensor checked by finite differences (a seeded sample).
        #[arg(long, default_value_t = 200)]
        elements: usize,
    },
    /// Rosenblatt's perceptron on a logic gate: learns AND and OR, cannot learn XOR.
    Perceptron {
        #[arg(value_enum)]
        gate: perceptron::Gate,
        #[arg(long, default_value_t = 100)]
        epochs: usize,
        #[arg(long, default_value_t = 1.0)]
        learning_rate: f64,
    },
    /// Evaluate a trained run on the test set (writes eval.json into the run directory), or a
    /// linear or logistic run on labelled CSV rows.
    Eval {
        /// A run directory, or the config file that trained it.
        run: PathBuf,
        /// Evaluate this checkpoint instead of the best model.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// Linear and logistic runs: score these labelled rows (the training columns and the
        /// target) instead of the training file.
        #[arg(long)]
        csv: Option<PathBuf>,
    },
    /// Serve a local web page: the runs with their plots and live curves, trainings started from
    /// the page, a pad to draw a digit on, and the 2-D playground.
    Serve {
        /// The folder holding the runs.
        #[arg(long, default_value = "artifacts")]
        runs: PathBuf,
        /// The port (0 picks a free one).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// The address to listen on; anything but loopback lets other machines in.
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
    },
    /// Serve this machine's device to other machines' trainings (`backend = "remote"`; built
    /// with `--features remote`). Runs until Ctrl-C. Pick the device with --backend.
    DeviceServer {
        /// The port (0 picks a free one; the address is printed on the first line).
        #[arg(long, default_value_t = 3000)]
        port: u16,
        /// The address to listen on; anything but loopback needs a token.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// A file whose first line is the token clients must present (else
        /// $NEURONA_REMOTE_TOKEN; none on loopback lets every local process in).
        #[arg(long)]
        token_file: Option<PathBuf>,
    },
    /// Write a trained image classifier as a file other tools read (safetensors in PyTorch's
    /// layout, with metadata).
    Export {
        run: PathBuf,
        #[arg(long, value_enum, default_value = "safetensors")]
        format: neurona::interop::Format,
        /// The file to write (default: model.safetensors or model.onnx in the run directory).
        /// Never a file of a run folder; an existing file only with --force.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Replace an existing --output file.
        #[arg(long, requires = "output")]
        force: bool,
    },
    /// Classify 28×28 grey images (PNG or PGM) with a trained run, or predict the rows of a CSV
    /// file with a linear or logistic run.
    Predict {
        run: PathBuf,
        images: Vec<PathBuf>,
        /// Take the image from this IDX file instead...
        #[arg(long, requires = "index", conflicts_with = "images")]
        idx: Option<PathBuf>,
        /// ...at this position.
        #[arg(long, requires = "idx")]
        index: Option<usize>,
        /// Linear and logistic runs: the rows to predict, a CSV file with the training columns.
        #[arg(long, conflicts_with_all = ["images", "idx"])]
        csv: Option<PathBuf>,
        /// 2-D workshop runs: a point to classify, as X1,X2 (repeat for more).
        #[arg(long = "point", value_name = "X1,X2", allow_hyphen_values = true, conflicts_with_all = ["images", "idx", "csv"])]
        points: Vec<String>,
        /// One JSON object per image (all probabilities at full precision) instead of a line.
        #[arg(long)]
        json: bool,
    },
    /// Time one epoch of training steps on every compiled backend (image configs), a linear
    /// config's cross-validation or a logistic config's fit (`--steps` repetitions, median).
    Bench {
        config: PathBuf,
        /// Training steps to time.
        #[arg(long, default_value_t = 469)]
        steps: usize,
        /// Untimed steps first (kernel warm-up).
        #[arg(long, default_value_t = 20)]
        warmup: usize,
        /// Keep the training images on the device and gather batches there (like the PyTorch
        /// script) instead of uploading each batch (like training does).
        #[arg(long)]
        resident: bool,
    },
}

fn run(cli: &Cli) -> Result<()> {
    let overrides = Overrides {
        seed: cli.seed,
        backend: cli.backend,
        kernels: cli.kernels,
    };
    match &cli.command {
        Command::Train {
            config,
            resume,
            force,
            devices,
        } => {
            let options = TrainOptions {
                resume: *resume,
                force: *force,
            };
            commands::train(config, overrides, options, devices.clone())
        }
        Command::Cv { config, force } => commands::cv(config, overrides, *force),
        Command::Gradcheck {
            config,
            batch,
            elements,
        } => commands::gradcheck(config, overrides, *batch, *elements),
        Command::Perceptron {
            gate,
            epochs,
            learning_rate,
        } => perceptron::run(*gate, *epochs, *learning_rate).map(drop),
        Command::Eval {
            run,
            checkpoint,
            csv,
        } => commands::eval(run, overrides, checkpoint.as_deref(), csv.as_deref()),
        Command::Serve { runs, port, host } => {
            neurona::serve::serve(&neurona::serve::ServeOptions {
                runs: runs.clone(),
                host: *host,
                port: *port,
                program: std::env::current_exe().ok(),
            })
        }
        Command::DeviceServer {
            port,
            host,
            token_file,
        } => neurona::remote::serve(&neurona::remote::ServerOptions {
            backend: cli.backend.unwrap_or(BackendChoice::Auto),
            host: host.clone(),
            port: *port,
            token_file: token_file.clone(),
        }),
        Command::Export {
            run,
            format,
            output,
            force,
        } => commands::export(run, overrides, *format, output.as_deref(), *force),
        Command::Predict {
            run,
            images,
            idx,
            index,
            csv,
            points,
            json,
        } => {
            let source = match (idx, index) {
                (Some(path), Some(index)) => ImageSource::Idx {
                    path: path.clone(),
                    index: *index,
                },
                _ => ImageSource::Files(images.clone()),
            };
            commands::predict(run, overrides, &source, csv.as_deref(), points, *json)
        }
        Command::Bench {
            config,
            steps,
            warmup,
            resident,
        } => commands::bench(config, overrides, *steps, *warmup, *resident),
    }
}

fn main() -> ExitCode {
    // A panic is our bug, not the user's: one line and exit code 1, no backtrace dump. Except a
    // full disk, which a library's thread may meet first (burn-train's loggers panic on it):
    // that is the user's condition, exit 2, said as such.
    static DISK_FULL: AtomicBool = AtomicBool::new(false);
    std::panic::set_hook(Box::new(|info| {
        let message = info.to_string();
        if neurona::error::is_disk_full(&message) {
            DISK_FULL.store(true, Ordering::SeqCst);
            eprintln!("error: {}", neurona::Error::DiskFull(message));
        } else {
            eprintln!("internal error: {info}");
        }
    }));
    keep_freed_memory();
    let cli = Cli::parse();
    if !matches!(
        cli.command,
        Command::Serve { .. } | Command::DeviceServer { .. }
    ) {
        end_quietly_on_a_closed_pipe();
    }
    match std::panic::catch_unwind(|| run(&cli)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
        Err(_) if DISK_FULL.load(Ordering::SeqCst) => ExitCode::from(2),
        Err(_) => ExitCode::FAILURE,
    }
}

/// Keeps freed memory in the process for the next allocation instead of handing it back to the
/// kernel. A training step allocates and frees the same tensors of 0.1–30 MB every batch; by
/// default glibc serves each from a fresh `mmap` (zeroed pages, a page fault per 4 KiB) and
/// unmaps it on free. That was a third of a CNN training step (BENCHMARKS.md: 4.9 → 7.1 steps/s,
/// same peak memory). 32 MiB is the largest mmap threshold glibc accepts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    // SAFETY: mallopt only sets allocator parameters; nothing else runs yet.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}

/// Lets a closed pipe end the program as it ends Unix tools (`neurona predict … | head -1`):
/// Rust ignores SIGPIPE, so a write to a closed pipe fails and `println!` panics on it. With the
/// signal's default action the process ends at that write, quietly. The servers keep ignoring
/// it: a client that goes away ends its connection, not the server.
#[cfg(unix)]
fn end_quietly_on_a_closed_pipe() {
    // SAFETY: restores a signal's default disposition before any thread or write exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn end_quietly_on_a_closed_pipe() {}
