//! The 2-D workshop's generated sets (circle, two moons, spirals): their geometry against the
//! closed forms they are drawn from, the noise against its distribution, the config checks, and
//! a set learnt, saved and reloaded.

mod common;

use std::f64::consts::PI;
use std::path::Path;

use neurona::experiment::ExperimentFile;
use neurona::points::config::{PointSetName as DatasetName, PointsConfig};
use neurona::points::data::PointSet;
use neurona::run_dir::Start;

const N: usize = 2_000;

fn clean(dataset: DatasetName) -> PointSet {
    PointSet::generate(dataset, N, 0.0, 7)
}

#[test]
fn the_sets_are_balanced_seeded_and_drawn_from_their_closed_forms() {
    for dataset in [
        DatasetName::Circle,
        DatasetName::Moons,
        DatasetName::Spirals,
        DatasetName::Blobs,
    ] {
        let set = clean(dataset);
        assert_eq!(set.len(), N);
        assert_eq!(set.labels.iter().filter(|y| **y == 1).count(), N / 2);
        assert_eq!(set, clean(dataset), "{dataset:?}: one seed, one set");
        assert_ne!(set, PointSet::generate(dataset, N, 0.0, 8));
    }
    // Circle: class 1 inside radius 0.5, class 0 in the ring 0.7..1.
    let circle = clean(DatasetName::Circle);
    for (p, y) in circle.points.iter().zip(&circle.labels) {
        let r = p[0].hypot(p[1]);
        match y {
            1 => assert!(r <= 0.5 + 1e-12, "inner point at radius {r}"),
            _ => assert!(
                (0.7 - 1e-12..=1.0 + 1e-12).contains(&r),
                "ring point at {r}"
            ),
        }
    }
    // Moons: undo the centring and scaling; class 0 lies on the upper unit half-circle, class 1
    // on the unit half-circle around (1, 0.5) opening upwards.
    let moons = clean(DatasetName::Moons);
    for (p, y) in moons.points.iter().zip(&moons.labels) {
        let (a, b) = (p[0] / 0.6 + 0.5, p[1] / 0.6 + 0.25);
        let (r, below) = match y {
            0 => (a.hypot(b), -b),
            _ => ((a - 1.0).hypot(b - 0.5), b - 0.5),
        };
        assert!(
            (r - 1.0).abs() < 1e-12,
            "moon {y} point off its arc: radius {r}"
        );
        assert!(below <= 1e-12, "moon {y} point on the wrong half");
    }
    // Spirals: the angle from the x2 axis grows as 3.5π per unit of radius; class 1 is class 0
    // turned by π.
    let spirals = clean(DatasetName::Spirals);
    for (p, y) in spirals.points.iter().zip(&spirals.labels) {
        let r = p[0].hypot(p[1]);
        let expected = 3.5 * PI * r + *y as f64 * PI;
        let off = (p[0].atan2(p[1]) - expected).rem_euclid(2.0 * PI);
        assert!(
            off.min(2.0 * PI - off) < 1e-9,
            "spiral {y} point off its arm"
        );
    }
    // Blobs: each class a round Gaussian of standard deviation 1/4 around (∓½, ∓½) — the
    // sample mean within 4 standard errors (0.25/√1000 ≈ 0.008), the deviation within 5 %.
    let blobs = clean(DatasetName::Blobs);
    for class in [0, 1] {
        let centre = if class == 0 { -0.5 } else { 0.5 };
        let z: Vec<f64> = blobs
            .points
            .iter()
            .zip(&blobs.labels)
            .filter(|(_, y)| **y == class)
            .flat_map(|(p, _)| [p[0] - centre, p[1] - centre])
            .collect();
        let mean = z.iter().sum::<f64>() / z.len() as f64;
        let sd = (z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / z.len() as f64).sqrt();
        assert!(mean.abs() < 0.032, "blob {class}: mean offset {mean}");
        assert!(
            (sd - 0.25).abs() < 0.0125,
            "blob {class}: standard deviation {sd}"
        );
    }
}

/// A workshop file says `task = "points"`; one written before that existed (an image
/// classification file naming a 2-D set, with the image keys its version wrote into every run)
/// still loads as the workshop's, to the same config; image-only keys are refused in the new
/// form and the reasons of old refusals are kept.
#[test]
fn the_workshop_has_its_own_task_and_older_files_still_load() {
    use neurona::experiment::Task;
    let declared = format!("task = \"points\"\n{MOONS}");
    let legacy = MOONS
        .replace(
            "[data]\n",
            "[data]\nvalidation_fraction = 0.1\nstandardize = false\n",
        )
        .replace(
            "[training]\n",
            "[training]\nbatch_size = 128\ndata_path = \"auto\"\n",
        );
    for text in [declared.as_str(), MOONS, legacy.as_str()] {
        assert_eq!(
            Task::detect(text, Path::new("t.toml")).unwrap(),
            Task::Points
        );
    }
    let image = "[data]\ndataset = \"mnist\"\n";
    assert_eq!(
        Task::detect(image, Path::new("t.toml")).unwrap(),
        Task::ImageClassification
    );
    let new = config(&declared).unwrap();
    assert_eq!(new.task, Task::Points);
    assert_eq!(config(&legacy).unwrap(), new);
    assert_eq!(config(MOONS).unwrap(), new);
    // In a file that says it is the workshop's, an image key is an unknown key, with its line.
    let error =
        config(&declared.replace("[data]\n", "[data]\nvalidation_fraction = 0.1\n")).unwrap_err();
    assert!(
        error.contains("unknown field `validation_fraction`") && error.contains("line 6"),
        "{error}"
    );
    let error =
        config(&legacy.replace("[training]\n", "[training]\ndevices = [\"flex\"]\n")).unwrap_err();
    assert!(error.contains("trains on this machine"), "{error}");
    // Blobs exist only under the new task: an image file naming them is an unknown data set.
    let blobs = declared.replace("\"moons\"", "\"blobs\"");
    assert_eq!(config(&blobs).unwrap().data.dataset, DatasetName::Blobs);
}

#[test]
fn noise_is_gaussian_with_the_configured_deviation() {
    // The same seed draws the same clean positions whatever the noise, so the difference is the
    // noise itself: mean 0 and standard deviation σ per coordinate (4,000 draws: the sample
    // standard deviation's own spread is about 1.1 %).
    let sigma = 0.2;
    for dataset in [
        DatasetName::Circle,
        DatasetName::Moons,
        DatasetName::Spirals,
        DatasetName::Blobs,
    ] {
        let noisy = PointSet::generate(dataset, N, sigma, 7);
        let z: Vec<f64> = noisy
            .points
            .iter()
            .zip(&clean(dataset).points)
            .flat_map(|(n, c)| [(n[0] - c[0]) / sigma, (n[1] - c[1]) / sigma])
            .collect();
        let mean = z.iter().sum::<f64>() / z.len() as f64;
        let sd = (z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / z.len() as f64).sqrt();
        assert!(mean.abs() < 0.06, "{dataset:?}: mean {mean}");
        assert!(
            (sd - 1.0).abs() < 0.05,
            "{dataset:?}: standard deviation {sd}"
        );
        let beyond_2 = z.iter().filter(|v| v.abs() > 2.0).count() as f64 / z.len() as f64;
        assert!(
            (beyond_2 - 0.0455).abs() < 0.015,
            "{dataset:?}: {beyond_2} beyond 2σ"
        );
    }
}

fn config(text: &str) -> Result<PointsConfig, String> {
    PointsConfig::checked(text, Path::new("points.toml")).map_err(|e| e.to_string())
}

const MOONS: &str = r#"
backend = "flex"
seed = 3
[data]
dataset = "moons"
points = 200
noise = 0.05
[model]
hidden = [8]
activation = "tanh"
output = "sigmoid"
[optimizer]
kind = "adam"
learning_rate = 0.03
[training]
gradients = "autodiff"
epochs = 2000
"#;

#[test]
fn the_config_checks_points_and_noise() {
    assert!(config(MOONS).is_ok());
    for (from, to, needle) in [
        (
            "points = 200",
            "points = 1",
            "data.points must be between 2",
        ),
        (
            "points = 200",
            "points = 100001",
            "data.points must be between 2",
        ),
        (
            "noise = 0.05",
            "noise = 1.5",
            "data.noise must be in [0, 1]",
        ),
        (
            "noise = 0.05",
            "noise = -0.1",
            "data.noise must be in [0, 1]",
        ),
        (
            "dataset = \"moons\"",
            "dataset = \"xor\"",
            "apply to the generated 2-D sets",
        ),
        (
            "dataset = \"moons\"",
            "dataset = \"fashion-mnist\"",
            "unknown variant `fashion-mnist`",
        ),
        ("output = \"sigmoid\"", "output = \"softmax\"", "sigmoid"),
    ] {
        let error = config(&MOONS.replace(from, to)).expect_err(to);
        assert!(error.contains(needle), "{to}: {error}");
    }
}

#[test]
fn two_moons_are_learnt_and_the_saved_run_scores_the_same() {
    let out = common::scratch("moons");
    let mut moons = config(MOONS).unwrap();
    moons.output.dir = out.clone();
    moons.output.name = Some("moons".into());
    let report = {
        let _seeded = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
        neurona::points::train(&moons, Start::New).unwrap()
    };
    let test = report.test.expect("a generated set is tested");
    // A tanh net of 8 units separates the moons (noise 0.05) on points it never saw.
    assert!(test.accuracy >= 0.95, "test accuracy {}", test.accuracy);
    assert_eq!(report.test_losses.len(), report.losses.len());
    let accuracy = |p: &[f64], y: &[i64]| {
        p.iter()
            .zip(y)
            .filter(|(p, y)| (**p >= 0.5) == (**y == 1))
            .count() as f64
            / y.len() as f64
    };
    let (train_set, test_set) = neurona::points::point_sets(&moons);
    let test_set = test_set.unwrap();
    assert!(
        train_set
            .points
            .iter()
            .all(|p| !test_set.points.contains(p)),
        "the test points are drawn apart from the training points"
    );
    assert_eq!(
        accuracy(&report.probabilities, &train_set.labels),
        report.train.accuracy
    );
    // The run records the drawn set's size and noise, and its model reloads to the same answers.
    let run = out.join("moons");
    let recorded = PointsConfig::load_run(&run).unwrap();
    assert_eq!(recorded.data.points, Some(200));
    assert_eq!(recorded.data.noise, Some(0.05));
    let reloaded = neurona::points::predict(&run, &recorded).unwrap();
    assert_eq!(reloaded, report.probabilities);
    assert!(run.join("decision.svg").is_file());
}

/// A workshop file with the given `[data]` and `[training]` extras and hidden layers.
fn workshop(dataset: &str, data: &str, hidden: &str, training: &str) -> PointsConfig {
    config(&format!(
        "task = \"points\"\nbackend = \"flex\"\nseed = 5\n[data]\ndataset = \"{dataset}\"\n{data}\n[model]\n\
         hidden = [{hidden}]\nactivation = \"tanh\"\noutput = \"sigmoid\"\n[optimizer]\n\
         kind = \"adam\"\nlearning_rate = 0.05\n[training]\nepochs = 1500\n{training}"
    ))
    .unwrap()
}

/// Held while a test seeds the device and trains: one process's devices share one random
/// generator, so trainings on parallel test threads would draw from each other's seeds.
static SEEDED: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Trains `config` in memory: its report and its dense layers' weights.
fn fit(config: &PointsConfig) -> (neurona::points::PointsReport, Vec<f64>) {
    let _seeded = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    let device = neurona::backend::device(config.backend, config.precision)
        .unwrap()
        .autodiff();
    device.seed(config.seed);
    let (train, test) = neurona::points::point_sets(config);
    let (model, report) =
        neurona::points::fit(config, &train, test.as_ref(), &device, |_, _, _, _| {
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    let weights = model
        .layers()
        .flat_map(|linear| neurona::numeric::to_f64s(linear.weight.val()))
        .collect();
    (report, weights)
}

#[test]
fn input_features_are_their_closed_forms_and_change_what_a_network_without_hidden_layers_separates()
{
    // The columns the network reads, against the formulas, at a point.
    let all = workshop(
        "circle",
        r#"features = ["x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(pi*x1)", "sin(pi*x2)"]"#,
        "",
        "",
    );
    let device = neurona::backend::device(all.backend, all.precision).unwrap();
    let row = neurona::numeric::to_f64s(neurona::points::inputs(&all, &[[0.3, -0.7]], &device));
    let expected = [
        0.3,
        -0.7,
        0.09,
        0.49,
        -0.21,
        (0.3 * PI).sin(),
        (-0.7 * PI).sin(),
    ];
    for (got, want) in row.iter().zip(expected) {
        assert!((got - want).abs() < 1e-6, "{row:?}");
    }
    assert_eq!(row.len(), 7);
    // XOR's truth table: no straight line in (x1, x2) separates it, but x1 + x2 − 2·x1·x2 is
    // XOR itself, so with x1·x2 as a third input one logistic unit learns all four points.
    let (plain, _) = fit(&workshop("xor", "", "", ""));
    assert!(plain.converged_epoch.is_none());
    assert!(plain.train.accuracy <= 0.75, "{plain:?}");
    let (product, _) = fit(&workshop(
        "xor",
        r#"features = ["x1", "x2", "x1*x2"]"#,
        "",
        "",
    ));
    assert_eq!(product.train.accuracy, 1.0, "{product:?}");
    assert!(product.converged_epoch.is_some());
    // The circle: class 1 inside radius ½, so x1² + x2² separates it; a line does not.
    let (plain, _) = fit(&workshop("circle", "", "", ""));
    let (squares, _) = fit(&workshop(
        "circle",
        r#"features = ["x1^2", "x2^2"]"#,
        "",
        "",
    ));
    let (plain, squares) = (plain.test.unwrap(), squares.test.unwrap());
    assert!(plain.accuracy < 0.8, "a line on the circle: {plain:?}");
    assert!(
        squares.accuracy >= 0.97,
        "x1², x2² on the circle: {squares:?}"
    );
    // Saved, the run reads the same features back: its model answers as it did.
    let out = common::scratch("circle-features");
    let mut saved = workshop("circle", r#"features = ["x1^2", "x2^2"]"#, "", "");
    saved.output.dir = out.clone();
    saved.output.name = Some("circle".into());
    let report = {
        let _seeded = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
        neurona::points::train(&saved, Start::New).unwrap()
    };
    let recorded = PointsConfig::load_run(&out.join("circle")).unwrap();
    assert_eq!(recorded.data.features(), saved.data.features());
    let reloaded = neurona::points::predict(&out.join("circle"), &recorded).unwrap();
    assert_eq!(reloaded, report.probabilities);
}

#[test]
fn an_l1_penalty_gives_smaller_weights_and_l2_smaller_squares() {
    let moons = |training: &str| fit(&workshop("moons", "", "8", training));
    let (free, w_free) = moons("");
    let (_, w_l1) = moons("penalty = \"l1\"\nlambda = 0.01\n");
    let (_, w_l2) = moons("penalty = \"l2\"\nlambda = 0.01\n");
    let sum_abs = |w: &[f64]| w.iter().map(|v| v.abs()).sum::<f64>();
    let sum_sq = |w: &[f64]| w.iter().map(|v| v * v).sum::<f64>();
    assert!(free.test.unwrap().accuracy >= 0.95);
    assert!(
        sum_abs(&w_l1) < 0.5 * sum_abs(&w_free),
        "Σ|w|: {} with L1, {} without",
        sum_abs(&w_l1),
        sum_abs(&w_free)
    );
    assert!(
        sum_sq(&w_l2) < 0.5 * sum_sq(&w_free),
        "Σw²: {} with L2, {} without",
        sum_sq(&w_l2),
        sum_sq(&w_free)
    );
    // L1 drives weights towards exactly 0 (within Adam's step), L2 only shrinks them.
    let near_zero = |w: &[f64]| w.iter().filter(|v| v.abs() < 0.05).count();
    assert!(
        near_zero(&w_l1) > near_zero(&w_free),
        "{} vs {}",
        near_zero(&w_l1),
        near_zero(&w_free)
    );
}

#[test]
fn minibatches_are_seeded_and_test_points_counted_apart() {
    let config = workshop(
        "moons",
        "points = 150\ntest_points = 50",
        "8",
        "batch_size = 16\n",
    );
    let (train, test) = neurona::points::point_sets(&config);
    assert_eq!((train.len(), test.unwrap().len()), (150, 50));
    // One seed, one run, shuffled batches and all; another batch size, another run.
    let (a, _) = fit(&config);
    let (b, _) = fit(&config);
    assert_eq!(a.losses, b.losses);
    let mut full = config.clone();
    full.training.batch_size = None;
    let (c, _) = fit(&full);
    assert_ne!(a.losses, c.losses);
    // Ten steps an epoch learn in fewer epochs than one.
    assert!(
        a.losses.len() < c.losses.len(),
        "{} vs {} epochs",
        a.losses.len(),
        c.losses.len()
    );
}

#[test]
fn the_config_checks_features_batches_and_penalties() {
    let file = |data: &str, training: &str| {
        config(&format!(
            "task = \"points\"\n[data]\ndataset = \"moons\"\n{data}\n[model]\nhidden = [4]\n\
             output = \"sigmoid\"\n[training]\n{training}"
        ))
    };
    assert!(
        file(
            "features = [\"x1*x2\"]\ntest_points = 30",
            "batch_size = 8\npenalty = \"l1\"\nlambda = 0.1"
        )
        .is_ok()
    );
    for (data, training, needle) in [
        ("features = []", "", "data.features names none"),
        (
            "features = [\"x1\", \"x2\", \"x1\"]",
            "",
            "data.features names \"x1\" twice",
        ),
        ("features = [\"x3\"]", "", "unknown variant `x3`"),
        ("test_points = 1", "", "data.test_points must be between 2"),
        (
            "",
            "batch_size = 0",
            "training.batch_size must be at least 1",
        ),
        (
            "",
            "penalty = \"l1\"\nlambda = -1",
            "training.lambda must be ≥ 0",
        ),
        (
            "",
            "penalty = \"elasticnet\"\nl1_ratio = 2",
            "training.l1_ratio must be in [0, 1]",
        ),
        ("", "penalty = \"l3\"", "unknown variant `l3`"),
    ] {
        let error = file(data, training).expect_err(needle);
        assert!(error.contains(needle), "{data} {training}: {error}");
    }
    let xor = config(
        "task = \"points\"\n[data]\ndataset = \"xor\"\ntest_points = 4\n[model]\nhidden = [4]\noutput = \"sigmoid\"\n",
    );
    assert!(
        xor.unwrap_err()
            .contains("data.points, data.test_points and data.noise apply")
    );
}
