//! The commands of the `neurona` binary, one function each, over every model family: which
//! family an experiment file belongs to is read from its `task` (and, for the 2-D workshop, its
//! data set), and each command sends the experiment to that family or says plainly which kinds
//! of experiment it serves. This is the top layer: it imports the families, and nothing
//! imports it but `main.rs`.

use std::path::{Path, PathBuf};

use crate::backend::BackendChoice;
use crate::classifier::config::MlpConfig;
use crate::classifier::inference::{ImageSource, Prediction};
use crate::classifier::training::TrainOptions;
use crate::error::{Error, Result};
use crate::experiment::{ExperimentFile, Overrides, Task};
use crate::glm::linear::config::LinearConfig;
use crate::glm::logistic::config::LogisticConfig;
use crate::points::config::PointsConfig;
use crate::run_dir::Start;

/// An experiment file of any kind, with the command line's overrides applied.
pub enum Experiment {
    Images(MlpConfig),
    /// The 2-D workshop: a network on points in the plane (XOR, circle, …).
    Points(PointsConfig),
    Linear(LinearConfig),
    Logistic(LogisticConfig),
}

impl Experiment {
    /// Reads the file as the kind its `task` names.
    pub fn load(path: &Path, overrides: Overrides) -> Result<Self> {
        let task = Task::detect(&crate::experiment::read_text(path)?, path)?;
        Ok(match task {
            Task::ImageClassification => {
                Experiment::Images(MlpConfig::load(path)?.overridden(overrides))
            }
            Task::Points => Experiment::Points(PointsConfig::load(path)?.overridden(overrides)),
            Task::LinearRegression => {
                Experiment::Linear(LinearConfig::load(path)?.overridden(overrides))
            }
            Task::LogisticRegression => {
                Experiment::Logistic(LogisticConfig::load(path)?.overridden(overrides))
            }
        })
    }

    /// The run directory the experiment writes.
    pub fn run_dir(&self) -> PathBuf {
        match self {
            Experiment::Images(c) => c.run_dir(),
            Experiment::Points(c) => c.run_dir(),
            Experiment::Linear(c) => c.output.run_dir(),
            Experiment::Logistic(c) => c.output.run_dir(),
        }
    }
}

/// A run directory given directly, or the one a config file names.
pub fn run_dir(path: &Path, overrides: Overrides) -> Result<PathBuf> {
    if path.is_dir() {
        Ok(path.to_path_buf())
    } else if path.is_file() {
        Ok(Experiment::load(path, overrides)?.run_dir())
    } else {
        Err(Error::Usage(format!(
            "{} is neither a run directory nor a config file",
            path.display()
        )))
    }
}

/// `neurona train`; `devices` (from `--devices`) replaces the config's `[training] devices`.
pub fn train(
    path: &Path,
    overrides: Overrides,
    options: TrainOptions,
    devices: Option<Vec<String>>,
) -> Result<()> {
    let start = Start::from_flags(options.resume, options.force);
    let experiment = Experiment::load(path, overrides)?;
    if devices.is_some() && !matches!(experiment, Experiment::Images(_)) {
        return Err(Error::Usage(
            "--devices applies to image classification runs".into(),
        ));
    }
    match experiment {
        Experiment::Points(config) => crate::points::train(&config, start).map(drop),
        Experiment::Images(mut config) => {
            if devices.is_some() {
                config.training.devices = devices;
                crate::devices::plan(
                    config.backend,
                    config.training.devices.as_deref(),
                    &config.remote,
                )
                .map_err(|e| Error::Usage(format!("--devices: {e}")))?;
            }
            crate::classifier::training::train(config, options).map(drop)
        }
        _ if options.resume => Err(Error::Usage(
            "--resume applies to image classification runs; a regression fit simply runs again \
             (with --force to replace the earlier run)"
                .into(),
        )),
        Experiment::Linear(config) => crate::glm::linear::train(&config, start).map(drop),
        Experiment::Logistic(config) => crate::glm::logistic::train(&config, start),
    }
}

/// `neurona cv`.
pub fn cv(path: &Path, overrides: Overrides, force: bool) -> Result<()> {
    let start = Start::from_flags(false, force);
    match Experiment::load(path, overrides)? {
        Experiment::Linear(config) => crate::glm::linear::cv::run(&config, start).map(drop),
        Experiment::Logistic(config) => crate::glm::logistic::cv::run(&config, start).map(drop),
        _ => Err(Error::Usage(format!(
            "{} is not a linear or logistic regression config (task = \"linear_regression\" or \
             \"logistic_regression\")",
            path.display()
        ))),
    }
}

/// `neurona gradcheck`.
pub fn gradcheck(path: &Path, overrides: Overrides, batch: usize, elements: usize) -> Result<()> {
    match Experiment::load(path, overrides)? {
        Experiment::Images(config) => {
            crate::classifier::gradcheck::run(&config, batch, elements).map(drop)
        }
        _ => Err(Error::Usage(
            "gradcheck takes an image classification config".into(),
        )),
    }
}

/// The task of the run in `run`, as its `config.toml` says (older files included).
fn run_task(run: &Path) -> Result<Task> {
    let (path, text) = crate::run_dir::read_config(run)?;
    Task::detect(&text, &path)
}

/// Whether a run of `task` holds a linear or logistic model.
fn is_glm(task: Task) -> bool {
    matches!(task, Task::LinearRegression | Task::LogisticRegression)
}

/// `neurona eval`: prints the report. A linear or logistic run is scored on the labelled rows
/// of `csv` (its training file when none is given).
pub fn eval(
    run: &Path,
    overrides: Overrides,
    checkpoint: Option<&Path>,
    csv: Option<&Path>,
) -> Result<()> {
    let run = run_dir(run, overrides)?;
    let task = run_task(&run)?;
    if task == Task::Points {
        return Err(Error::Usage(format!(
            "{} is a 2-D workshop run: it has no test images; `neurona predict {0}` prints its \
             truth table or its scores",
            run.display()
        )));
    }
    if is_glm(task) {
        if checkpoint.is_some() {
            return Err(Error::Usage(
                "--checkpoint applies to image runs: a linear or logistic run has one fit".into(),
            ));
        }
        let csv = match csv {
            Some(csv) => csv.to_path_buf(),
            None => training_csv(&run)?,
        };
        print!("{}", crate::glm::predict::eval(&run, &csv)?);
        return Ok(());
    }
    if csv.is_some() {
        return Err(Error::Usage(format!(
            "--csv applies to linear and logistic runs; {} is scored on its test images",
            run.display()
        )));
    }
    let report = crate::classifier::eval::eval_run(&run, checkpoint, overrides)?;
    print!("{report}");
    Ok(())
}

/// The CSV a linear or logistic run was trained on (`[data] path` of its config).
fn training_csv(run: &Path) -> Result<PathBuf> {
    let (path, text) = crate::run_dir::read_config(run)?;
    #[derive(serde::Deserialize)]
    struct Data {
        path: PathBuf,
    }
    #[derive(serde::Deserialize)]
    struct Only {
        data: Data,
    }
    let only: Only =
        toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
    Ok(only.data.path)
}

/// `neurona export`: writes the file and says where.
pub fn export(
    run: &Path,
    overrides: Overrides,
    format: crate::interop::Format,
    output: Option<&Path>,
    force: bool,
) -> Result<()> {
    let run = run_dir(run, overrides)?;
    if let Some(output) = output {
        let exports = crate::interop::Format::ALL.map(|f| f.default_file());
        crate::run_dir::check_export_output(output, &exports, force)?;
    }
    let started = std::time::Instant::now();
    let path = match run_task(&run)? {
        Task::LinearRegression | Task::LogisticRegression => {
            crate::glm::export::export(&run, format, output)?
        }
        Task::ImageClassification => crate::classifier::export::export(&run, format, output)?,
        Task::Points => {
            return Err(Error::Usage(format!(
                "{} is a 2-D workshop run: export serves image classifiers and regression runs",
                run.display()
            )));
        }
    };
    println!(
        "wrote {} in {:.0} ms",
        path.display(),
        started.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}

/// `neurona predict`: prints one line per image (or the truth table of an XOR run, the scores
/// of another 2-D run, one line per CSV row of a linear or logistic run).
pub fn predict(
    run: &Path,
    overrides: Overrides,
    source: &ImageSource,
    csv: Option<&Path>,
    points: &[String],
    json: bool,
) -> Result<()> {
    let run = run_dir(run, overrides)?;
    let task = run_task(&run)?;
    if is_glm(task) {
        let Some(csv) = csv else {
            return Err(Error::Usage(format!(
                "{} is a linear or logistic run: give the rows to predict with --csv FILE (the \
                 training columns)",
                run.display()
            )));
        };
        for p in crate::glm::predict::predict(&run, csv)? {
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&p).map_err(|e| Error::Internal(e.to_string()))?
                );
            } else {
                println!("{p}");
            }
        }
        return Ok(());
    }
    if csv.is_some() {
        return Err(Error::Usage(format!(
            "--csv applies to linear and logistic runs; {} predicts images",
            run.display()
        )));
    }
    if task == Task::Points {
        let config = PointsConfig::load_run(&run)?;
        if points.is_empty() {
            return crate::points::predict(&run, &config).map(drop);
        }
        let points = points
            .iter()
            .map(|p| parse_point(p))
            .collect::<Result<Vec<_>>>()?;
        return crate::points::predict_at(&run, &config, &points).map(drop);
    }
    if !points.is_empty() {
        return Err(Error::Usage(format!(
            "--point applies to 2-D workshop runs; {} predicts images",
            run.display()
        )));
    }
    let predictions: Vec<Prediction> =
        crate::classifier::inference::predict(&run, source, overrides)?;
    for p in predictions {
        if json {
            println!(
                "{}",
                serde_json::to_string(&p).expect("a prediction serialises")
            );
        } else {
            println!("{p}");
        }
    }
    Ok(())
}

/// `X1,X2` as a point of the plane.
fn parse_point(text: &str) -> Result<[f64; 2]> {
    let bad = || {
        Error::Usage(format!(
            "--point {text:?}: give the two coordinates as X1,X2 (for example --point 0.5,-1)"
        ))
    };
    let (x1, x2) = text.split_once(',').ok_or_else(bad)?;
    let value = |v: &str| v.trim().parse::<f64>().ok().filter(|v| v.is_finite());
    Ok([value(x1).ok_or_else(bad)?, value(x2).ok_or_else(bad)?])
}

/// `neurona bench`: one JSON line per result.
pub fn bench(
    path: &Path,
    overrides: Overrides,
    steps: usize,
    warmup: usize,
    resident: bool,
) -> Result<()> {
    match Experiment::load(path, overrides)? {
        Experiment::Points(_) => Err(Error::Usage(
            "bench times image classification and regression configs; a 2-D workshop run \
             trains in seconds"
                .into(),
        )),
        Experiment::Images(config) => {
            let backends = match overrides.backend {
                Some(b) => vec![b],
                // A remote device is timed when asked for: it needs [remote] hosts.
                None => BackendChoice::compiled()
                    .into_iter()
                    .filter(|b| *b != BackendChoice::Remote)
                    .collect(),
            };
            for result in
                crate::classifier::bench::bench(&config, &backends, steps, warmup, resident)?
            {
                print_json(&result)?;
            }
            Ok(())
        }
        // For regression configs, `--steps` is the number of timed repetitions.
        Experiment::Linear(config) => print_json(&crate::glm::bench::bench_cv(&config, steps)?),
        Experiment::Logistic(config) => {
            print_json(&crate::glm::bench::bench_logistic(&config, steps)?)
        }
    }
}

fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!(
        "{}",
        serde_json::to_string(value).map_err(|e| Error::Internal(e.to_string()))?
    );
    Ok(())
}
