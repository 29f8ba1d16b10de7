//! The `neurona` command line: a thin layer over the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use neurona::backend::BackendChoice;
use neurona::config::{DatasetName, ExperimentConfig, Task, read_config_text};
use neurona::linear::config::LinearConfig;
use neurona::logistic::config::LogisticConfig;
use neurona::predict::ImageSource;
use neurona::training::TrainOptions;
use neurona::{Error, Result};

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
        /// Delete an existing run of the same name and start over.
        #[arg(long)]
        force: bool,
    },
    /// Cross-validate a linear model's λ over a grid, refit, and plot the regularisation path.
    Cv { config: PathBuf },
    /// Compare explicit back-propagation, autodiff and finite differences on a small batch (f64).
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
        gate: neurona::perceptron::Gate,
        #[arg(long, default_value_t = 100)]
        epochs: usize,
        #[arg(long, default_value_t = 1.0)]
        learning_rate: f64,
    },
    /// Evaluate a trained run on the test set (writes eval.json into the run directory).
    Eval {
        /// A run directory, or the config file that trained it.
        run: PathBuf,
        /// Evaluate this checkpoint instead of the best model.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
    },
    /// Classify 28×28 grey images (PNG or PGM) with a trained run.
    Predict {
        run: PathBuf,
        images: Vec<PathBuf>,
        /// Take the image from this IDX file instead...
        #[arg(long, requires = "index", conflicts_with = "images")]
        idx: Option<PathBuf>,
        /// ...at this position.
        #[arg(long, requires = "idx")]
        index: Option<usize>,
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

/// An experiment file of any task, with the command line's overrides applied.
enum Experiment {
    Images(ExperimentConfig),
    Linear(LinearConfig),
    Logistic(LogisticConfig),
}

impl Experiment {
    fn load(path: &Path, cli: &Cli) -> Result<Self> {
        let mut experiment = match Task::detect(&read_config_text(path)?, path)? {
            Task::ImageClassification => Experiment::Images(ExperimentConfig::load(path)?),
            Task::LinearRegression => Experiment::Linear(LinearConfig::load(path)?),
            Task::LogisticRegression => Experiment::Logistic(LogisticConfig::load(path)?),
        };
        let (seed, backend) = match &mut experiment {
            Experiment::Images(c) => (&mut c.seed, &mut c.backend),
            Experiment::Linear(c) => (&mut c.seed, &mut c.backend),
            Experiment::Logistic(c) => (&mut c.seed, &mut c.backend),
        };
        if let Some(s) = cli.seed {
            *seed = s;
        }
        if let Some(b) = cli.backend {
            *backend = b;
        }
        Ok(experiment)
    }

    fn run_dir(&self) -> PathBuf {
        match self {
            Experiment::Images(c) => c.run_dir(),
            Experiment::Linear(c) => c.output.run_dir(),
            Experiment::Logistic(c) => c.output.run_dir(),
        }
    }
}

/// A run directory given directly, or the one a config file names.
fn run_dir(path: &Path, cli: &Cli) -> Result<PathBuf> {
    if path.is_dir() {
        Ok(path.to_path_buf())
    } else if path.is_file() {
        Ok(Experiment::load(path, cli)?.run_dir())
    } else {
        Err(Error::Usage(format!(
            "{} is neither a run directory nor a config file",
            path.display()
        )))
    }
}

fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!(
        "{}",
        serde_json::to_string(value).map_err(|e| Error::Internal(e.to_string()))?
    );
    Ok(())
}

fn run(cli: &Cli) -> Result<()> {
    match &cli.command {
        Command::Train {
            config: path,
            resume,
            force,
        } => match Experiment::load(path, cli)? {
            Experiment::Images(config) if config.data.dataset == DatasetName::Xor => {
                neurona::xor::train(&config)?;
            }
            Experiment::Images(config) => {
                neurona::training::train(
                    config,
                    TrainOptions {
                        resume: *resume,
                        force: *force,
                    },
                )?;
            }
            _ if *resume => {
                return Err(Error::Usage(
                    "--resume applies to image classification runs; a regression fit simply runs again".into(),
                ));
            }
            Experiment::Linear(config) => {
                neurona::linear::train(&config)?;
            }
            Experiment::Logistic(config) => {
                neurona::logistic::train(&config)?;
            }
        },
        Command::Cv { config: path } => match Experiment::load(path, cli)? {
            Experiment::Linear(config) => {
                neurona::linear::cv::run(&config)?;
            }
            _ => {
                return Err(Error::Usage(format!(
                    "{} is not a linear regression config (task = \"linear_regression\")",
                    path.display()
                )));
            }
        },
        Command::Gradcheck {
            config: path,
            batch,
            elements,
        } => match Experiment::load(path, cli)? {
            Experiment::Images(config) => {
                neurona::gradcheck::run(&config, *batch, *elements)?;
            }
            _ => {
                return Err(Error::Usage(
                    "gradcheck takes an image classification (MLP) config".into(),
                ));
            }
        },
        Command::Perceptron {
            gate,
            epochs,
            learning_rate,
        } => {
            neurona::perceptron::run(*gate, *epochs, *learning_rate)?;
        }
        Command::Eval { run, checkpoint } => {
            let report =
                neurona::eval::eval_run(&run_dir(run, cli)?, checkpoint.as_deref(), cli.backend)?;
            print!("{report}");
        }
        Command::Predict {
            run,
            images,
            idx,
            index,
        } => {
            let run = run_dir(run, cli)?;
            let config = neurona::training::load_run_config(&run)?;
            if config.data.dataset == DatasetName::Xor {
                neurona::xor::predict(&run, &config)?;
                return Ok(());
            }
            let source = match (idx, index) {
                (Some(path), Some(index)) => ImageSource::Idx {
                    path: path.clone(),
                    index: *index,
                },
                _ => ImageSource::Files(images.clone()),
            };
            for p in neurona::predict::predict(&run, &source, cli.backend)? {
                let mut ranked: Vec<usize> = (0..p.probabilities.len()).collect();
                ranked.sort_by(|&a, &b| p.probabilities[b].total_cmp(&p.probabilities[a]));
                let top: Vec<String> = ranked[..3]
                    .iter()
                    .map(|&c| format!("{c}: {:.1}%", 100.0 * p.probabilities[c]))
                    .collect();
                println!(
                    "{}: {} ({})   top 3: {}",
                    p.source,
                    p.class,
                    p.class_name,
                    top.join(", ")
                );
            }
        }
        Command::Bench {
            config: path,
            steps,
            warmup,
            resident,
        } => match Experiment::load(path, cli)? {
            Experiment::Images(config) => {
                let backends = match cli.backend {
                    Some(b) => vec![b],
                    None => BackendChoice::compiled(),
                };
                for result in neurona::bench::bench(&config, &backends, *steps, *warmup, *resident)?
                {
                    print_json(&result)?;
                }
            }
            // For regression configs, `--steps` is the number of timed repetitions.
            Experiment::Linear(config) => print_json(&neurona::bench::bench_cv(&config, *steps)?)?,
            Experiment::Logistic(config) => {
                print_json(&neurona::bench::bench_logistic(&config, *steps)?)?
            }
        },
    }
    Ok(())
}

fn main() -> ExitCode {
    // A panic is our bug, not the user's: one line and exit code 1, no backtrace dump.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("internal error: {info}");
    }));
    let cli = Cli::parse();
    match std::panic::catch_unwind(|| run(&cli)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
        Err(_) => ExitCode::FAILURE,
    }
}
