//! Linear regression against scikit-learn and statsmodels on ISLR's Hitters. The reference values
//! are in tests/fixtures/hitters_references.json, written by scripts/hitters_references.py
//! (versions recorded in the file); the preprocessing there mirrors neurona's, independently coded.

mod common;

use std::path::{Path, PathBuf};

use neurona::experiment::ExperimentFile;
use neurona::glm::Fit;
use neurona::glm::data::{self as tabular, Design};
use neurona::glm::linear::config::{LinearConfig, LinearModelConfig, Solver};
use neurona::glm::linear::cv::cross_validate;
use neurona::glm::linear::least_squares as solvers;
use neurona::glm::linear::report::LinearReport;
use neurona::glm::penalty::{Objective, Penalty, PenaltyWeights};
use serde_json::Value;

fn references() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string("tests/fixtures/hitters_references.json").unwrap(),
    )
    .unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn config(penalty: Penalty, lambda: f64, standardize: bool) -> LinearConfig {
    let mut c = LinearConfig::default();
    c.data.path = PathBuf::from("data/Hitters.csv");
    c.data.target = "Salary".into();
    c.data.standardize = standardize;
    c.model.penalty = penalty;
    c.model.lambda = lambda;
    c
}

/// The references' setting: z-scored features and a centred target.
fn standardized_design() -> Design {
    let mut design = tabular::load(&config(Penalty::None, 0.0, true).data).unwrap();
    let mean = design.y.mean();
    design.y.add_scalar_mut(-mean);
    design
}

fn fit(c: &LinearConfig, design: &Design) -> Fit {
    neurona::glm::linear::fit_design(c, design).unwrap()
}

fn relative(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

#[test]
fn design_matrix_matches_the_reference_preprocessing() {
    let r = references();
    let design = tabular::load(&config(Penalty::None, 0.0, false).data).unwrap();
    let names: Vec<&str> = r["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(design.feature_names, names);
    assert_eq!(design.y.len(), r["n"].as_u64().unwrap() as usize);
    assert_eq!(design.dropped_rows, 322 - 263);
}

#[test]
fn ols_matches_statsmodels_to_six_significant_digits() {
    let r = &references()["ols"];
    let c = config(Penalty::None, 0.0, false);
    let design = tabular::load(&c.data).unwrap();
    let report = LinearReport::new(&c, &design, &fit(&c, &design));
    let rows: Vec<_> = std::iter::once(&report.intercept)
        .chain(&report.coefficients)
        .collect();
    let coef: Vec<f64> = std::iter::once(r["intercept"].as_f64().unwrap())
        .chain(floats(&r["coef"]))
        .collect();
    for (i, row) in rows.iter().enumerate() {
        assert!(
            relative(row.coef, coef[i]) < 1e-6,
            "{}: {} vs {}",
            row.name,
            row.coef,
            coef[i]
        );
        assert!(
            relative(row.inference.std_error.unwrap(), floats(&r["se"])[i]) < 1e-6,
            "{} se",
            row.name
        );
        assert!(
            relative(row.inference.t.unwrap(), floats(&r["t"])[i]) < 1e-6,
            "{} t",
            row.name
        );
        assert!(
            relative(row.inference.p_value.unwrap(), floats(&r["p"])[i]) < 1e-6,
            "{} p {} vs {}",
            row.name,
            row.inference.p_value.unwrap(),
            floats(&r["p"])[i]
        );
    }
    assert!(relative(report.train.r2, r["r2"].as_f64().unwrap()) < 1e-6);
}

/// Coefficients agree to relative 1e-4 where the reference is non-zero, and the zero patterns match.
fn assert_matches(name: &str, ours: &Fit, reference: &Value) {
    let expected = floats(&reference["coef"]);
    for (j, (&got, &want)) in ours.coef.iter().zip(&expected).enumerate() {
        if want == 0.0 {
            assert_eq!(got, 0.0, "{name}: coefficient {j} must be exactly zero");
        } else {
            assert!(
                relative(got, want) <= 1e-4,
                "{name}: coefficient {j}: {got} vs {want}"
            );
        }
    }
    assert!(
        (ours.intercept - reference["intercept"].as_f64().unwrap()).abs() < 1e-6,
        "{name} intercept"
    );
}

#[test]
fn ridge_lasso_and_elasticnet_match_scikit_learn() {
    let r = references();
    let design = standardized_design();
    for (penalty, key) in [
        (Penalty::L2, "ridge"),
        (Penalty::L1, "lasso"),
        (Penalty::Elasticnet, "elasticnet"),
    ] {
        for reference in r[key].as_array().unwrap() {
            let alpha = reference["alpha"].as_f64().unwrap();
            let c = config(penalty, alpha, true);
            assert_matches(
                &format!("{key} alpha {alpha}"),
                &fit(&c, &design),
                reference,
            );
        }
    }
    // Ridge through coordinate descent reaches the closed form too.
    let mut c = config(Penalty::L2, 10.0, true);
    c.model.solver = Solver::CoordinateDescent;
    assert_matches(
        "ridge by coordinate descent",
        &fit(&c, &design),
        &r["ridge"][2],
    );
}

#[test]
fn the_course_objective_is_the_same_problem_rescaled() {
    // Course Lasso Σr² + λΣ|θ| equals sklearn's (1/2n)Σr² + αΣ|θ| at λ = 2nα; course Ridge
    // Σr² + λ/2·Σθ² equals sklearn's Σr² + αΣθ² at λ = 2α.
    let r = references();
    let design = standardized_design();
    let n = design.y.len() as f64;
    let mut lasso = config(Penalty::L1, 2.0 * n * 10.0, true);
    lasso.model.objective = Objective::Course;
    assert_matches("course lasso", &fit(&lasso, &design), &r["lasso"][2]);
    let mut ridge = config(Penalty::L2, 2.0 * 10.0, true);
    ridge.model.objective = Objective::Course;
    assert_matches("course ridge", &fit(&ridge, &design), &r["ridge"][2]);
    let w = LinearModelConfig {
        penalty: Penalty::Elasticnet,
        objective: Objective::Course,
        lambda: 4.0,
        l1_ratio: 0.25,
        ..Default::default()
    }
    .weights(10);
    assert_eq!((w.l1, w.l2), (4.0 * 0.25 / 20.0, 4.0 * 0.75 / 20.0));
}

#[test]
fn lasso_cv_chooses_the_same_alpha_as_scikit_learn() {
    let r = &references()["lasso_cv"];
    let design = standardized_design();
    let c = config(Penalty::L1, 0.0, true);
    let cv = cross_validate(&c, &design).unwrap();
    for (ours, theirs) in cv.lambdas.iter().zip(floats(&r["alphas"])) {
        assert!(relative(*ours, theirs) < 1e-12);
    }
    for (ours, theirs) in cv.mse_mean.iter().zip(floats(&r["mse_mean"])) {
        assert!(relative(*ours, theirs) < 1e-6, "{ours} vs {theirs}");
    }
    assert!(relative(cv.lambda_min, r["alpha"].as_f64().unwrap()) < 1e-12);
    assert_eq!(cv.lambda, cv.lambda_min);
    // The one-standard-error λ is at least as large and within one SE of the minimum.
    let best = cv.lambdas.iter().position(|&l| l == cv.lambda_min).unwrap();
    let one_se = cv
        .lambdas
        .iter()
        .position(|&l| l == cv.lambda_one_se)
        .unwrap();
    assert!(one_se <= best && cv.mse_mean[one_se] <= cv.mse_mean[best] + cv.mse_se[best]);
    assert_eq!(cv.path.len(), 50);
    // The path's first λ is λ_max: every coefficient is zero there.
    assert!(cv.path[0].iter().all(|&w| w == 0.0));
}

#[test]
fn gradient_descent_reaches_the_closed_form_ridge() {
    let design = standardized_design();
    let mut c = config(Penalty::L2, 10.0, true);
    let exact = fit(&c, &design);
    c.model.solver = Solver::Gd;
    c.solver.learning_rate = 0.05;
    let gd = fit(&c, &design);
    assert!(
        gd.converged,
        "gd stopped after {} iterations",
        gd.iterations
    );
    for (g, e) in gd.coef.iter().zip(exact.coef.iter()) {
        assert!(relative(*g, *e) <= 1e-4, "{g} vs {e}");
    }
    // Too large a step is reported, not turned into NaN.
    c.solver.learning_rate = 5.0;
    let err = neurona::glm::linear::fit_design(&c, &design)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("diverged") && err.contains("learning_rate"),
        "{err}"
    );
}

#[test]
fn proximal_gradient_descent_gives_the_lasso_zeros() {
    let r = references();
    let design = standardized_design();
    let mut c = config(Penalty::L1, 50.0, true);
    c.model.solver = Solver::Gd;
    c.solver.learning_rate = 0.05;
    let gd = fit(&c, &design);
    let expected = floats(&r["lasso"][3]["coef"]);
    for (g, e) in gd.coef.iter().zip(&expected) {
        assert_eq!(*g == 0.0, *e == 0.0, "zero pattern: {g} vs {e}");
        if *e != 0.0 {
            assert!(relative(*g, *e) < 1e-3, "{g} vs {e}");
        }
    }
}

#[test]
fn standardised_coefficients_convert_back_to_the_raw_scale() {
    // OLS is scale-equivariant: fitting z-scored features and converting back must give the raw fit.
    let raw_config = config(Penalty::None, 0.0, false);
    let raw = tabular::load(&raw_config.data).unwrap();
    let raw_fit = fit(&raw_config, &raw);
    let z_config = config(Penalty::None, 0.0, true);
    let z = tabular::load(&z_config.data).unwrap();
    let report = LinearReport::new(&z_config, &z, &fit(&z_config, &z));
    assert!(relative(report.intercept.coef_original.unwrap(), raw_fit.intercept) < 1e-8);
    for (c, w) in report.coefficients.iter().zip(raw_fit.coef.iter()) {
        assert!(relative(c.coef_original.unwrap(), *w) < 1e-8, "{}", c.name);
    }
}

#[test]
fn polynomial_features_and_one_hot_columns() {
    let dir = common::scratch("poly");
    let path = dir.join("t.csv");
    std::fs::write(
        &path,
        "x,colour,y\n1,red,3\n2,blue,NA\n3,green,19\n4,red,33\n",
    )
    .unwrap();
    let mut data = config(Penalty::None, 0.0, false).data;
    data.path = path;
    data.target = "y".into();
    data.polynomial_degree = 3;
    let design = tabular::load(&data).unwrap();
    // "blue" only occurs in the row without a target: the levels left are green and red.
    assert_eq!(design.feature_names, ["x", "x^2", "x^3", "colour_red"]);
    assert_eq!(design.dropped_rows, 1);
    assert_eq!(
        design.x.row(1).iter().copied().collect::<Vec<_>>(),
        vec![3.0, 9.0, 27.0, 0.0]
    );
    // y = 2x² + 1 exactly: OLS on x, x² recovers it.
    data.features = Some(vec!["x".into()]);
    data.polynomial_degree = 2;
    let design = tabular::load(&data).unwrap();
    let f = solvers::normal_equations(&design.x, &design.y, PenaltyWeights { l1: 0.0, l2: 0.0 })
        .unwrap();
    assert!(
        (f.coef[0]).abs() < 1e-9
            && (f.coef[1] - 2.0).abs() < 1e-9
            && (f.intercept - 1.0).abs() < 1e-9
    );
}

#[test]
fn bad_input_gives_clear_errors() {
    let dir = common::scratch("linear-bad");
    let load = |csv: &str, target: &str, features: Option<Vec<&str>>| {
        let path = dir.join("bad.csv");
        std::fs::write(&path, csv).unwrap();
        let mut data = config(Penalty::None, 0.0, false).data;
        data.path = path;
        data.target = target.into();
        data.features = features.map(|f| f.into_iter().map(String::from).collect());
        tabular::load(&data).map(|_| ()).unwrap_err().to_string()
    };
    let e = load("", "y", None);
    assert!(e.contains("empty file"), "{e}");
    let e = load("a,y\n", "y", None);
    assert!(e.contains("no data rows"), "{e}");
    let e = load("a,b\n1,2\n", "y", None);
    assert!(
        e.contains("no column named \"y\"") && e.contains("a, b"),
        "{e}"
    );
    let e = load("a,y\n1,2\n", "y", Some(vec!["a", "zz"]));
    assert!(e.contains("no column named \"zz\""), "{e}");
    let e = load("a,y\n1,2\n2,3\nthree,4\n", "y", None);
    assert!(
        e.contains("column \"a\" is numeric but holds \"three\""),
        "{e}"
    );
    let e = load("a,y\n1,2\n2,lots\n", "y", None);
    assert!(
        e.contains("line 3") && e.contains("\"lots\" is not a number"),
        "{e}"
    );
    let e = load("a,y\n1,2\n,3\n", "y", None);
    assert!(e.contains("missing value"), "{e}");
    let e = load("a,y\n1,2\n2\n", "y", None);
    assert!(e.contains("bad.csv"), "{e}");
    let e = load("a,y\n1,\n2,NA\n", "y", None);
    assert!(e.contains("every row lacks the target"), "{e}");
    let e = LinearConfig::load(Path::new("tests/does-not-exist.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot read config"), "{e}");

    let text = |target: &str, extra: &str| {
        format!(
            "task = \"linear_regression\"\n[data]\npath = \"data/Hitters.csv\"\ntarget = \"{target}\"\n{extra}\n"
        )
    };
    for (full, needle) in [
        (text("Salary", "[model]\nlambda = -1.0"), "model.lambda"),
        (text("Salary", "[model]\nl1_ratio = 1.5"), "model.l1_ratio"),
        (
            text(
                "Salary",
                "[model]\npenalty = \"l1\"\nsolver = \"normal_equations\"",
            ),
            "normal_equations",
        ),
        (text("", ""), "data.target"),
        (text("Salary", "[cv]\nfolds = 1"), "cv.folds"),
        (
            text("Salary", "[solver]\nlearning_rate = 0.0"),
            "solver.learning_rate",
        ),
        (
            text("Salary", "[model]\nlamda = 1.0"),
            "unknown field `lamda`",
        ),
    ] {
        let path = dir.join("c.toml");
        std::fs::write(&path, &full).unwrap();
        let e = LinearConfig::load(&path).unwrap_err().to_string();
        assert!(e.contains(needle), "{full:?}: {e}");
    }
}

#[test]
fn cli_trains_and_cross_validates_the_shipped_configs() {
    let dir = common::scratch("linear-cli");
    for (command, name, files) in [
        (
            "train",
            "hitters-ols",
            vec!["config.toml", "coefficients.json", "metrics.json"],
        ),
        ("train", "hitters-lasso", vec!["coefficients.json"]),
        (
            "cv",
            "hitters-cv",
            vec!["cv.json", "coefficients.json", "path.svg", "cv.svg"],
        ),
    ] {
        let text = std::fs::read_to_string(format!("configs/{name}.toml")).unwrap();
        let text = text.replace(
            "dir = \"artifacts\"",
            &format!("dir = \"{}\"", dir.display()),
        );
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(&config, text).unwrap();
        let out = common::neurona_succeeds(&[command, config.to_str().unwrap()]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("59 rows without a target dropped"),
            "{stdout}"
        );
        for file in files {
            assert!(dir.join(name).join(file).is_file(), "{name}/{file}");
        }
    }
    let cv: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("hitters-cv/cv.json")).unwrap())
            .unwrap();
    assert!(
        relative(
            cv["lambda"].as_f64().unwrap(),
            references()["lasso_cv"]["alpha"].as_f64().unwrap()
        ) < 1e-12
    );
    // eval serves linear runs too: on its training file by default, the fit's own numbers.
    let out = common::neurona_succeeds(&["eval", dir.join("hitters-ols").to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let metrics: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("hitters-ols/metrics.json")).unwrap(),
    )
    .unwrap();
    let mse = format!("mse {:.6}", metrics["train"]["mse"].as_f64().unwrap());
    assert!(
        stdout.contains("rows 263") && stdout.contains(&mse),
        "{stdout} vs {mse}"
    );
    // predict needs the rows: without --csv it says so.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_neurona"))
        .args(["predict", dir.join("hitters-ols").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--csv FILE"));
}

#[test]
fn mini_batch_gd_through_the_learner_approaches_the_closed_form() {
    let dir = common::scratch("linear-learner");
    let design = standardized_design();
    let mut c = config(Penalty::L2, 10.0, true);
    let exact = fit(&c, &design);
    c.model.solver = Solver::Gd;
    c.solver.learning_rate = 0.02;
    c.solver.batch_size = Some(32);
    c.solver.epochs = 100;
    c.output.dir = dir.clone();
    let sgd = neurona::glm::learner::fit(
        &neurona::glm::linear::mini_batch(&c, design.y.len()),
        &design,
        &design.select(&[]),
        &dir.join("run"),
    )
    .unwrap();
    // Constant-step SGD hovers around the optimum (measured: 1.04 % above it): within 2 %.
    let w = c.model.weights(design.y.len());
    let objective = |f: &Fit| {
        (&design.y - f.predict(&design.x)).norm_squared() / (2.0 * design.y.len() as f64)
            + w.l2 / 2.0 * f.coef.norm_squared()
    };
    assert!(
        objective(&sgd) <= 1.02 * objective(&exact),
        "{} vs {}",
        objective(&sgd),
        objective(&exact)
    );
    let epochs: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run/training.json")).unwrap())
            .unwrap();
    assert_eq!(epochs["epochs"].as_array().unwrap().len(), 100);
    assert!(dir.join("run/checkpoint/model-100.bpk").is_file());
    // No proximal step in the learner: an L1 penalty is refused with a pointer to the right solver.
    c.model.penalty = Penalty::L1;
    let err = neurona::glm::learner::fit(
        &neurona::glm::linear::mini_batch(&c, design.y.len()),
        &design,
        &design.select(&[]),
        &dir.join("l1"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("coordinate_descent"), "{err}");
}

#[test]
fn shipped_hitters_ols_config_writes_out_exactly_the_defaults() {
    // configs/hitters-ols.toml documents every key of a linear experiment with its default.
    let shipped = LinearConfig::load(Path::new("configs/hitters-ols.toml")).unwrap();
    let mut expected = LinearConfig::default();
    expected.data.path = PathBuf::from("data/Hitters.csv");
    expected.data.target = "Salary".into();
    expected.output.name = Some("hitters-ols".into());
    assert_eq!(shipped, expected);
    for name in [
        "hitters-ridge",
        "hitters-lasso",
        "hitters-elasticnet",
        "hitters-cv",
    ] {
        LinearConfig::load(Path::new(&format!("configs/{name}.toml"))).unwrap();
    }
}
