//! `neurona predict` and `neurona eval` of linear and logistic runs on CSV rows. Scored on the
//! file they were trained on, they must give the training metrics the fit reported (computed
//! by the solvers on the design matrix, another path than the one that rebuilds each row's
//! features from its columns): the mean squared error of the Lasso run that the binary of
//! commit 40e1dbb wrote (`tests/fixtures/runs-40e1dbb/linear`), and for logistic models the
//! accuracy, the log-likelihood and the cross-entropy of fresh runs. Columns missing or extra,
//! unseen levels and unknown classes are refused by name, and so is a `coefficients.json` that
//! neurona did not write (the file and the field named, by the binary, with exit code 2).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use neurona::experiment::ExperimentFile;
use neurona::glm::logistic::config::LogisticConfig;
use neurona::glm::predict::{GlmEval, eval, predict};
use neurona::run_dir::Start;
use serde_json::{Value, json};

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A copy of the Lasso run that the binary of commit 40e1dbb wrote, as `<out>/<name>`.
fn old_lasso_run(out: &Path, name: &str) -> PathBuf {
    let run = out.join(name);
    std::fs::create_dir_all(&run).unwrap();
    for entry in std::fs::read_dir("tests/fixtures/runs-40e1dbb/linear").unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), run.join(entry.file_name())).unwrap();
    }
    run
}

/// A logistic run of `configs/<name>.toml` trained into a scratch folder.
fn logistic_run(name: &str) -> PathBuf {
    let out = common::scratch(name);
    let mut config = LogisticConfig::load(Path::new(&format!("configs/{name}.toml"))).unwrap();
    config.output.dir = out.clone();
    neurona::glm::logistic::train(&config, Start::New).unwrap();
    out.join(name)
}

/// `text` with `column`'s value on data line `line` (1-based after the header) replaced.
fn with_value(text: &str, column: &str, line: usize, value: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let index = lines[0].split(',').position(|h| h == column).unwrap();
    let mut fields: Vec<&str> = lines[line].split(',').collect();
    fields[index] = value;
    lines[line] = fields.join(",");
    lines.join("\n") + "\n"
}

#[test]
fn an_old_lasso_run_scores_its_training_rows_as_it_reported_and_refuses_other_columns() {
    let out = common::scratch("glm-linear");
    let run = old_lasso_run(&out, "linear");
    let reported = json(&run.join("metrics.json"));
    let GlmEval::Regression {
        rows,
        rows_without_target,
        mse,
        r2,
        ..
    } = eval(&run, Path::new("data/Hitters.csv")).unwrap()
    else {
        panic!("a linear run is scored as a regression")
    };
    assert_eq!(rows, 263);
    assert_eq!(rows_without_target, 59);
    let expected = reported["train"]["mse"].as_f64().unwrap();
    assert!(
        (mse - expected).abs() <= 1e-9 * expected,
        "{mse} vs {expected}"
    );
    assert!((r2 - reported["train"]["r2"].as_f64().unwrap()).abs() < 1e-9);
    // Predicting needs no target: every row gets a value, the 59 without a salary too.
    let predictions = predict(&run, Path::new("data/Hitters.csv")).unwrap();
    assert_eq!(predictions.len(), 322);
    assert!(
        predictions
            .iter()
            .all(|p| p.value.is_some_and(f64::is_finite))
    );

    let hitters = std::fs::read_to_string("data/Hitters.csv").unwrap();
    // A file without some training columns: named.
    let few: String = hitters
        .lines()
        .map(|l| l.split(',').take(5).collect::<Vec<_>>().join(",") + "\n")
        .collect();
    std::fs::write(out.join("few.csv"), few).unwrap();
    let err = predict(&run, &out.join("few.csv")).unwrap_err().to_string();
    assert!(err.contains("lacks") && err.contains("Walks"), "{err}");
    // A column the model was not trained on: named.
    let extra: String = hitters
        .lines()
        .enumerate()
        .map(|(i, l)| format!("{l},{}\n", if i == 0 { "Height" } else { "1" }))
        .collect();
    std::fs::write(out.join("extra.csv"), extra).unwrap();
    let err = predict(&run, &out.join("extra.csv"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not trained on the column(s) Height"), "{err}");
    // A number that is not one: named by line and column.
    std::fs::write(
        out.join("text.csv"),
        with_value(&hitters, "Hits", 3, "many"),
    )
    .unwrap();
    let err = predict(&run, &out.join("text.csv"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 4") && err.contains("\"Hits\" holds \"many\""),
        "{err}"
    );
}

#[test]
fn a_binary_logistic_run_scores_its_training_rows_as_it_reported() {
    let run = logistic_run("default-logistic");
    let reported = json(&run.join("metrics.json"));
    let coefficients = json(&run.join("coefficients.json"));
    let GlmEval::Classification {
        rows,
        accuracy,
        log_loss,
        classes,
        confusion,
        ..
    } = eval(&run, Path::new("data/Default.csv")).unwrap()
    else {
        panic!("a logistic run is scored as a classification")
    };
    assert_eq!(rows, 10_000);
    assert_eq!(classes, ["No", "Yes"]);
    assert_eq!(accuracy, reported["train"]["accuracy"].as_f64().unwrap());
    let confusion_reported: Vec<Vec<usize>> =
        serde_json::from_value(reported["train"]["confusion"].clone()).unwrap();
    assert_eq!(confusion, confusion_reported);
    // The mean cross-entropy is the log-likelihood per row, negated.
    let log_likelihood = coefficients["log_likelihood"].as_f64().unwrap();
    assert!(
        (log_loss * rows as f64 + log_likelihood).abs() < 1e-9 * log_likelihood.abs(),
        "{log_loss} vs {log_likelihood}"
    );
    let predictions = predict(&run, Path::new("data/Default.csv")).unwrap();
    let p = &predictions[0];
    assert_eq!(p.probabilities.len(), 2);
    assert!((p.probabilities[0].1 + p.probabilities[1].1 - 1.0).abs() < 1e-12);

    // A student value the fit never saw, and a class it does not know: named.
    let default = std::fs::read_to_string("data/Default.csv").unwrap();
    let out = run.parent().unwrap();
    std::fs::write(
        out.join("level.csv"),
        with_value(&default, "student", 2, "Maybe"),
    )
    .unwrap();
    let err = predict(&run, &out.join("level.csv"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 3")
            && err.contains("\"student\" holds \"Maybe\"")
            && err.contains("No, Yes"),
        "{err}"
    );
    std::fs::write(
        out.join("class.csv"),
        with_value(&default, "default", 5, "Perhaps"),
    )
    .unwrap();
    let err = eval(&run, &out.join("class.csv")).unwrap_err().to_string();
    assert!(
        err.contains("line 6") && err.contains("not one of the model's classes"),
        "{err}"
    );

    // A third class in the file of a binary model (it used to load, its third class never
    // predicted): refused naming the field.
    let mut damaged = coefficients.clone();
    damaged["classes"] = json!(["No", "Yes", "Maybe"]);
    std::fs::write(run.join("coefficients.json"), damaged.to_string()).unwrap();
    let Err(err) = predict(&run, Path::new("data/Default.csv")) else {
        panic!("a binary model with three classes loads")
    };
    let err = err.to_string();
    assert!(
        err.contains("coefficients.json: classes holds 3 labels"),
        "{err}"
    );
}

#[test]
fn multiclass_runs_score_their_training_rows_as_they_reported() {
    for name in ["iris-softmax", "iris-ovr"] {
        let run = logistic_run(name);
        let reported = json(&run.join("metrics.json"));
        let GlmEval::Classification {
            accuracy, log_loss, ..
        } = eval(&run, Path::new("data/iris.csv")).unwrap()
        else {
            panic!("{name}")
        };
        assert_eq!(
            accuracy,
            reported["train"]["accuracy"].as_f64().unwrap(),
            "{name}"
        );
        let cross_entropy = reported["train"]["cross_entropy"].as_f64().unwrap();
        assert!(
            (log_loss - cross_entropy).abs() < 1e-9,
            "{name}: {log_loss} vs {cross_entropy}"
        );

        // A row of weights short of one feature: refused by name, not a panic or a silent zip.
        let mut damaged = json(&run.join("coefficients.json"));
        let key = if damaged["coefficients_original"].is_array() {
            "coefficients_original"
        } else {
            "coefficients"
        };
        damaged[key][1].as_array_mut().unwrap().pop();
        std::fs::write(run.join("coefficients.json"), damaged.to_string()).unwrap();
        let Err(err) = eval(&run, Path::new("data/iris.csv")) else {
            panic!("{name}: a short row of weights loads")
        };
        let err = err.to_string();
        assert!(
            err.contains("coefficients.json") && err.contains(&format!("{key} holds 3 rows")),
            "{name}: {err}"
        );
    }
}

#[test]
fn a_malformed_coefficients_file_is_refused_naming_the_file_and_the_field() {
    let out = common::scratch("glm-malformed");
    let written = json(Path::new(
        "tests/fixtures/runs-40e1dbb/linear/coefficients.json",
    ));
    type Damage = fn(&mut Value);
    // Each damage and what the message must name. A coefficient given as a string used to be
    // skipped for the standardised estimate (a wrong prediction, exit 0); a missing name gave
    // a feature called "" and a message about the CSV.
    let cases: [(&str, Damage, &[&str]); 4] = [
        (
            "string",
            |c| c["coefficients"][1]["coef_original"] = json!("2.0092401542311653"),
            &["coefficients[1].coef_original", "invalid type: string"],
        ),
        (
            "no-name",
            |c| {
                c["coefficients"][3].as_object_mut().unwrap().remove("name");
            },
            &["coefficients[3]", "missing field `name`"],
        ),
        (
            "no-intercept",
            |c| {
                c.as_object_mut().unwrap().remove("intercept");
            },
            &["missing field `intercept`"],
        ),
        (
            "levels",
            |c| c["categorical_levels"] = json!({ "League": "A" }),
            &["categorical_levels.League", "invalid type: string"],
        ),
    ];
    for (name, damage, needles) in cases {
        let run = old_lasso_run(&out, name);
        let mut coefficients = written.clone();
        damage(&mut coefficients);
        std::fs::write(
            run.join("coefficients.json"),
            serde_json::to_string_pretty(&coefficients).unwrap(),
        )
        .unwrap();
        for command in ["predict", "eval"] {
            let output = Command::new(env!("CARGO_BIN_EXE_neurona"))
                .arg(command)
                .arg(&run)
                .args(["--csv", "data/Hitters.csv"])
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(2), "{name}, {command}: {stderr}");
            assert!(
                stderr.contains(&format!("{}", run.join("coefficients.json").display())),
                "{name}, {command}: {stderr}"
            );
            for needle in needles {
                assert!(
                    stderr.contains(needle),
                    "{name}, {command}: {needle:?} in {stderr}"
                );
            }
            assert!(!stderr.contains("panicked"), "{stderr}");
        }
    }
}
