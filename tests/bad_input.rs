//! The bad-input suite: inputs a user can type, each answered by exit code 2 and a message that
//! names the problem — no panic, no exit 1, no hang (every run is killed after a time limit and
//! then fails the test). Table-driven: add a row for every input found to misbehave.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use neurona::classifier::data::idx::encode_idx;

/// Runs the binary with a time limit; the exit code (None: killed) and stderr.
fn run(args: &[&str], limit: Duration) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_neurona"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            return (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).to_string(),
            );
        }
        if start.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            return (None, String::new());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A file of `length` zero bytes that takes no disk space.
fn sparse_file(dir: &Path, name: &str, length: u64) -> PathBuf {
    let path = dir.join(name);
    std::fs::File::create(&path)
        .unwrap()
        .set_len(length)
        .unwrap();
    path
}

/// A named pipe nobody writes to: reading it blocks.
fn fifo(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let made = Command::new("mkfifo").arg(&path).status().unwrap();
    assert!(made.success());
    path
}

/// One case: the command line and a piece of the message it must print.
struct Case {
    args: Vec<String>,
    needle: &'static str,
}

fn case(args: &[&str], needle: &'static str) -> Case {
    Case {
        args: args.iter().map(|a| a.to_string()).collect(),
        needle,
    }
}

/// An experiment file in `dir` with `body` and its runs under `dir/runs`.
fn config(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(format!("{name}.toml"));
    let text = format!(
        "{body}\n[output]\ndir = \"{}\"\n",
        dir.join("runs").display()
    );
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn csv(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// MNIST-format files of `side × side` images in a folder of their own.
fn idx_folder(dir: &Path, side: usize) -> PathBuf {
    let data = dir.join(format!("idx{side}"));
    std::fs::create_dir_all(&data).unwrap();
    let images = encode_idx(&[3, side, side], &vec![0; 3 * side * side]);
    let labels = encode_idx(&[3], &[0, 1, 2]);
    for (name, bytes) in [
        ("train-images-idx3-ubyte", &images),
        ("train-labels-idx1-ubyte", &labels),
        ("t10k-images-idx3-ubyte", &images),
        ("t10k-labels-idx1-ubyte", &labels),
    ] {
        std::fs::write(data.join(name), bytes).unwrap();
    }
    data
}

fn cases(dir: &Path) -> Vec<Case> {
    let linear = |name: &str, csv: &Path, extra: &str| {
        config(
            dir,
            name,
            &format!(
                "task = \"linear_regression\"\n[data]\npath = \"{}\"\ntarget = \"y\"\n{extra}",
                csv.display()
            ),
        )
    };
    let inf_feature = csv(dir, "inf-x.csv", "x,y\n1,2\ninf,3\n4,5\n");
    let collinear = csv(
        dir,
        "collinear.csv",
        "a,b,c,y\n0.1,0.7,0.8,1\n0.3,0.2,0.5,0\n0.45,0.15,0.6,1\n0.9,0.35,1.25,0\n0.6,0.8,1.4,1\n0.25,0.05,0.3,0\n",
    );
    let inf_target = csv(dir, "inf-y.csv", "x,y\n1,2\n2,-inf\n4,5\n");
    let fashion = "[data]\ndataset = \"fashion-mnist\"\ntrain_limit = 200\ntest_limit = 50\n";
    let small_images = idx_folder(dir, 20);
    vec![
        // Values serde accepts but the model cannot use.
        case(
            &[
                "train",
                &config(
                    dir,
                    "sigmoid",
                    &format!("{fashion}[model]\noutput = \"sigmoid\"\n"),
                ),
            ],
            "does not fit 10 classes",
        ),
        case(
            &[
                "train",
                &config(
                    dir,
                    "linear-manual",
                    &format!(
                        "{fashion}[model]\noutput = \"linear\"\n[training]\ngradients = \"manual\"\n"
                    ),
                ),
            ],
            "softmax",
        ),
        case(
            &[
                "gradcheck",
                &config(
                    dir,
                    "gradcheck-linear",
                    &format!("{fashion}[model]\noutput = \"linear\"\n"),
                ),
            ],
            "softmax",
        ),
        case(
            &[
                "train",
                &config(
                    dir,
                    "logistic-batch0",
                    "task = \"logistic_regression\"\n[data]\npath = \"data/Default.csv\"\ntarget = \"default\"\n[model]\nsolver = \"gd\"\n[solver]\nbatch_size = 0\n",
                ),
            ],
            "solver.batch_size",
        ),
        // Keys that only one kind of run uses, and counts that can only be mistakes.
        case(
            &[
                "train",
                &config(
                    dir,
                    "xor-cosine",
                    "[data]\ndataset = \"xor\"\n[model]\noutput = \"sigmoid\"\n[optimizer]\nschedule = \"cosine\"\n",
                ),
            ],
            "constant learning rate",
        ),
        case(
            &[
                "train",
                &config(
                    dir,
                    "images-constant",
                    &format!("{fashion}constant_input = true\n"),
                ),
            ],
            "applies to the 2-D sets",
        ),
        case(
            &[
                "train",
                &config(
                    dir,
                    "epochs",
                    &format!("{fashion}[training]\nepochs = 1000000000000\n"),
                ),
            ],
            "training.epochs must be in",
        ),
        case(
            &[
                "train",
                &linear(
                    "max-iter",
                    &inf_feature,
                    "[solver]\nmax_iter = 1000000000000\n",
                ),
            ],
            "solver.max_iter must be in",
        ),
        // Designs without a unique unpenalised fit (c = a + b), for both model families.
        case(
            &["train", &linear("collinear", &collinear, "")],
            "a, b, c are perfectly collinear",
        ),
        case(
            &[
                "train",
                &config(
                    dir,
                    "collinear-logistic",
                    &format!(
                        "task = \"logistic_regression\"\n[data]\npath = \"{}\"\ntarget = \"y\"\n",
                        collinear.display()
                    ),
                ),
            ],
            "perfectly collinear",
        ),
        // Mini-batch gradient descent that diverges (it ended with R² = −inf and exit 0).
        case(
            &[
                "train",
                &config(
                    dir,
                    "sgd-diverges",
                    "task = \"linear_regression\"\n[data]\npath = \"data/Hitters.csv\"\ntarget = \"Salary\"\n[model]\nsolver = \"gd\"\n[solver]\nbatch_size = 32\nepochs = 5\nlearning_rate = 1000.0\n",
                ),
            ],
            "diverged",
        ),
        // Data that are not what they claim.
        case(
            &["train", &linear("inf-x", &inf_feature, "")],
            "values must be finite",
        ),
        case(
            &["train", &linear("inf-y", &inf_target, "")],
            "is not finite",
        ),
        case(
            &[
                "train",
                &config(
                    dir,
                    "small-images",
                    &format!("[data]\ndir = \"{}\"\n", small_images.display()),
                ),
            ],
            "takes 28×28",
        ),
        // Resources out of reach: 10¹⁰ parameters would abort on allocation.
        case(
            &[
                "train",
                &config(
                    dir,
                    "huge",
                    &format!("{fashion}[model]\nhidden = [100000, 100000]\n"),
                ),
            ],
            "parameters",
        ),
        // Weights files are checked header first, and only regular files are read: a 4 GiB
        // file whose header is not safetensors was read whole (4.2 GB, 14 s) before it was
        // looked at, a pipe blocked forever.
        case(
            &[
                "train",
                &config(
                    dir,
                    "init-huge",
                    &format!(
                        "{fashion}[model]\nhidden = [8]\ninit_from = \"{}\"\n",
                        sparse_file(dir, "huge.safetensors", 4 << 30).display()
                    ),
                ),
            ],
            "not a safetensors header",
        ),
        case(
            &[
                "train",
                &config(
                    dir,
                    "init-fifo",
                    &format!(
                        "{fashion}[model]\nhidden = [8]\ninit_from = \"{}\"\n",
                        fifo(dir, "pipe.safetensors").display()
                    ),
                ),
            ],
            "not a regular file",
        ),
        // Files that are not experiment files.
        case(&["train", "/dev/zero"], "not a regular file"),
        case(&["train", dir.to_str().unwrap()], "not a regular file"),
        // Flags out of any sensible range.
        case(
            &["perceptron", "xor", "--epochs", "1000000000000"],
            "--epochs",
        ),
    ]
}

#[test]
fn bad_inputs_exit_2_with_a_message_naming_the_problem() {
    let dir = common::scratch("bad-input");
    let mut failures = Vec::new();
    for case in cases(&dir) {
        let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
        let (code, stderr) = run(&args, Duration::from_secs(60));
        let ok = code == Some(2)
            && stderr.contains(case.needle)
            && !stderr.contains("panicked")
            && !stderr.contains("internal error");
        if !ok {
            failures.push(format!(
                "{args:?}: exit {code:?}, expected 2 and {:?} in: {stderr}",
                case.needle
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn inputs_that_used_to_hang_or_panic_now_finish() {
    let dir = common::scratch("bad-input-finish");
    // A Lasso grid of only λ = 0 (no positive λ for the log axis of the plots) hung in plotting.
    let lasso = config(
        &dir,
        "lasso-zero",
        "task = \"linear_regression\"\n[data]\npath = \"data/Hitters.csv\"\ntarget = \"Salary\"\n[model]\npenalty = \"l1\"\n[cv]\nlambdas = [0.0]\n",
    );
    // A perfect fit (residuals exactly zero here) has no sampling distribution: no standard
    // errors rather than zeros and infinite t statistics.
    let exact = csv(&dir, "exact.csv", "x,y\n1,3\n2,5\n3,7\n4,9\n");
    let exact = config(
        &dir,
        "exact",
        &format!(
            "task = \"linear_regression\"\n[data]\npath = \"{}\"\ntarget = \"y\"\n",
            exact.display()
        ),
    );
    for args in [vec!["cv", lasso.as_str()], vec!["train", exact.as_str()]] {
        let (code, stderr) = run(&args, Duration::from_secs(60));
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
    }
    let coefficients = std::fs::read_to_string(dir.join("runs/exact/coefficients.json")).unwrap();
    assert!(
        !coefficients.contains("null") && !coefficients.contains("std_error"),
        "{coefficients}"
    );
}

#[test]
fn a_checkpoint_of_another_precision_is_refused() {
    let dir = common::scratch("bad-input-precision");
    let body = "[data]\ndataset = \"fashion-mnist\"\ntrain_limit = 300\ntest_limit = 50\n[model]\nhidden = [8]\n[training]\nepochs = 1\n";
    let f32_run = config(&dir, "f32", body);
    let f64_run = config(&dir, "f64", &format!("precision = \"f64\"\n{body}"));
    for run in [&f32_run, &f64_run] {
        assert_eq!(run_ok(&["train", run]), Some(0));
    }
    let f32_model = dir.join("runs/f32/model.bpk");
    let f64_dir = dir.join("runs/f64");
    let args = [
        "eval",
        f64_dir.to_str().unwrap(),
        "--checkpoint",
        f32_model.to_str().unwrap(),
    ];
    let (code, stderr) = run(&args, Duration::from_secs(60));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("holds F32 weights"), "{stderr}");
}

fn run_ok(args: &[&str]) -> Option<i32> {
    run(args, Duration::from_secs(120)).0
}

/// A grey PNG whose header declares `width × height` but which holds the pixels of a 28×28
/// image: what a decoder must refuse from the header alone.
fn png_declaring(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, 28, 28);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    encoder
        .write_header()
        .unwrap()
        .write_image_data(&[0; 28 * 28])
        .unwrap();
    // IHDR starts after the 8-byte signature and the chunk length: type at 12, data at 16.
    bytes[16..20].copy_from_slice(&width.to_be_bytes());
    bytes[20..24].copy_from_slice(&height.to_be_bytes());
    let mut crc = flate2::Crc::new();
    crc.update(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.sum().to_be_bytes());
    bytes
}

#[test]
fn a_huge_image_is_refused_from_its_header() {
    let dir = common::scratch("bad-input-image");
    let body = "[data]\ndataset = \"fashion-mnist\"\ntrain_limit = 300\ntest_limit = 50\n[model]\nhidden = [8]\n[training]\nepochs = 1\n";
    let tiny = config(&dir, "tiny", body);
    assert_eq!(run_ok(&["train", &tiny]), Some(0));
    let huge = dir.join("huge.png");
    std::fs::write(&huge, png_declaring(20_000, 20_000)).unwrap();
    let pgm = dir.join("huge.pgm");
    std::fs::write(&pgm, b"P5 20000 20000 255\n").unwrap();
    let run_dir = dir.join("runs/tiny");
    for image in [&huge, &pgm] {
        let args = [
            "predict",
            run_dir.to_str().unwrap(),
            image.to_str().unwrap(),
        ];
        let (code, stderr) = run(&args, Duration::from_secs(20));
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains("it is 20000×20000"), "{stderr}");
    }
}

#[test]
fn a_damaged_model_or_an_xor_run_is_refused_by_eval() {
    let dir = common::scratch("bad-input-damaged");
    let body = "[data]\ndataset = \"fashion-mnist\"\ntrain_limit = 300\ntest_limit = 50\n[model]\nhidden = [64]\n[training]\nepochs = 1\n";
    let tiny = config(&dir, "tiny", body);
    assert_eq!(run_ok(&["train", &tiny]), Some(0));
    let run_dir = dir.join("runs/tiny");
    let model = run_dir.join("model.bpk");
    // 1 KB overwritten in the middle: the file still parses, its weights are garbage.
    let mut bytes = std::fs::read(&model).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle..middle + 1024].fill(0xff);
    std::fs::write(&model, bytes).unwrap();
    for command in ["eval", "predict"] {
        let mut args = vec![command, run_dir.to_str().unwrap()];
        if command == "predict" {
            args.extend([
                "--idx",
                "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
            ]);
            args.extend(["--index", "0"]);
        }
        let (code, stderr) = run(&args, Duration::from_secs(60));
        assert_eq!(code, Some(2), "{command}: {stderr}");
        assert!(stderr.contains("checksum"), "{command}: {stderr}");
    }
    // An XOR run has no test images: eval says so instead of talking about tensor shapes.
    let xor = std::fs::read_to_string("configs/xor.toml")
        .unwrap()
        .replace(
            "dir = \"artifacts\"",
            &format!("dir = \"{}\"", dir.join("runs").display()),
        );
    std::fs::write(dir.join("xor.toml"), xor).unwrap();
    assert_eq!(
        run_ok(&["train", dir.join("xor.toml").to_str().unwrap()]),
        Some(0)
    );
    let (code, stderr) = run(
        &["eval", dir.join("runs/xor").to_str().unwrap()],
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("2-D workshop run") && stderr.contains("predict"),
        "{stderr}"
    );
}

/// Every key of the shipped configs with a value of the wrong type, each numeric key with
/// negative, zero, NaN, infinite and huge values, and a misspelt key in every section. The
/// command (one that loads and validates the config, then declines the task) must exit 2 —
/// never panic, exit 1 or hang — and a wrong type or unknown key must be shown with its line.
#[test]
fn every_config_key_rejects_wrong_values() {
    let dir = common::scratch("bad-input-keys");
    let mut cases = 0;
    let mut failures = Vec::new();
    for (file, command) in [
        ("configs/mnist.toml", "cv"),
        ("configs/xor.toml", "cv"),
        ("configs/hitters-cv.toml", "gradcheck"),
        ("configs/default-cv.toml", "gradcheck"),
        ("configs/iris-ovr.toml", "gradcheck"),
    ] {
        let text = std::fs::read_to_string(file).unwrap();
        let table: toml::Table = toml::from_str(&text).unwrap();
        for (section, key, value) in leaves(&table) {
            let mut wrong = mutations(&value);
            if value.is_str() && !FREE_TEXT.contains(&key.as_str()) {
                wrong.push((toml::Value::String("no-such-choice".into()), true));
            }
            for (mutant, must_name_line) in wrong {
                let mut edited = table.clone();
                let target = match &section {
                    Some(s) => edited.get_mut(s).unwrap().as_table_mut().unwrap(),
                    None => &mut edited,
                };
                target.insert(key.clone(), mutant.clone());
                let path = dir.join(format!("case{cases}.toml"));
                std::fs::write(&path, toml::to_string(&edited).unwrap()).unwrap();
                cases += 1;
                let (code, stderr) =
                    run(&[command, path.to_str().unwrap()], Duration::from_secs(30));
                let named = !must_name_line || stderr.contains("line ");
                if code != Some(2) || !named || stderr.contains("panicked") {
                    failures.push(format!(
                        "{file} {section:?}.{key} = {mutant}: exit {code:?}: {stderr}"
                    ));
                }
            }
        }
        // A misspelt key in each section.
        for section in table.keys().filter(|k| table[*k].is_table()) {
            let path = dir.join(format!("case{cases}.toml"));
            std::fs::write(
                &path,
                text.replace(
                    &format!("[{section}]"),
                    &format!("[{section}]\nspeling = 1"),
                ),
            )
            .unwrap();
            cases += 1;
            let (code, stderr) = run(&[command, path.to_str().unwrap()], Duration::from_secs(30));
            if code != Some(2) || !stderr.contains("unknown field `speling`") {
                failures.push(format!(
                    "{file} [{section}] speling: exit {code:?}: {stderr}"
                ));
            }
        }
    }
    assert!(cases >= 250, "only {cases} cases");
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `(section, key, value)` of every value that is not a table.
fn leaves(table: &toml::Table) -> Vec<(Option<String>, String, toml::Value)> {
    let mut out = Vec::new();
    for (key, value) in table {
        match value {
            toml::Value::Table(inner) => {
                for (k, v) in inner {
                    out.push((Some(key.clone()), k.clone(), v.clone()));
                }
            }
            other => out.push((None, key.clone(), other.clone())),
        }
    }
    out
}

/// Wrong values for `value`, each with whether the error must name its line (wrong types do).
fn mutations(value: &toml::Value) -> Vec<(toml::Value, bool)> {
    use toml::Value::{Array, Boolean, Float, Integer, String as Text};
    let wrong_type = match value {
        Text(_) => vec![Integer(3), Array(vec![])],
        Integer(_) | Float(_) => vec![Text("many".into()), Boolean(true)],
        Boolean(_) => vec![Text("yes".into()), Integer(1)],
        Array(_) => vec![Text("[1]".into()), Float(0.5)],
        _ => vec![],
    };
    let mut out: Vec<(toml::Value, bool)> = wrong_type.into_iter().map(|v| (v, true)).collect();
    if matches!(value, Integer(_) | Float(_)) {
        out.extend(
            [
                Integer(-1),
                Float(f64::NAN),
                Float(f64::INFINITY),
                Float(-1e300),
                Float(1e300),
            ]
            .into_iter()
            .map(|v| (v, false)),
        );
    }
    out
}

/// Keys whose value is free text (a path, a column, a name); all others that hold text choose
/// from a list, so an unknown word must be refused.
const FREE_TEXT: [&str; 5] = ["path", "target", "dir", "name", "positive"];
