//! `neurona serve` over HTTP: what it lists and serves, what it refuses, and that a drawing's
//! answer is the model's answer for the image it says it used. The page itself is tested in a
//! real browser by `tests/browser/serve.mjs`.

mod common;

use std::path::Path;

use common::stacks::tiny;
use neurona::classifier::data::SIDE;
use neurona::classifier::data::preprocess::{INK_BOX, mnist_style, prepare};
use neurona::classifier::inference::Classifier;
use neurona::classifier::training::{TrainOptions, train};
use neurona::experiment::ExperimentFile;
use neurona::serve::{ServeOptions, Server, start};
use serde_json::Value;

fn server(runs: &Path) -> Server {
    start(&ServeOptions {
        runs: runs.to_path_buf(),
        host: "127.0.0.1".parse().unwrap(),
        port: 0,
        program: Some(env!("CARGO_BIN_EXE_neurona").into()),
    })
    .unwrap()
}

/// Status and body of a GET; the raw path is sent as written (no client-side normalisation).
fn get(server: &Server, path: &str) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(server.address).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n",
        server.address.port()
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers");
    let status = std::str::from_utf8(&response[9..12])
        .unwrap()
        .parse()
        .unwrap();
    (status, response[split + 4..].to_vec())
}

fn post(server: &Server, path: &str, body: &[u8]) -> (u16, Value) {
    let url = format!("http://{}{path}", server.address);
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build(),
    );
    let mut response = agent
        .post(&url)
        .header("Content-Type", "application/octet-stream")
        .send(body)
        .unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[test]
fn a_block_is_scaled_to_twenty_pixels_and_centred_by_its_mass() {
    // A 60×30 block of ink at (120, 50) in a 200×100 image: scale 3 → a 20×10 block whose centre
    // of mass (10, 5) moves to (14, 14): columns 4..24, rows 9..19, full intensity.
    let (width, height) = (200, 100);
    let mut grey = vec![0u8; width * height];
    for y in 50..80 {
        for x in 120..180 {
            grey[y * width + x] = 255;
        }
    }
    let frame = mnist_style(&grey, width, height);
    for y in 0..SIDE {
        for x in 0..SIDE {
            let inside = (4..24).contains(&x) && (9..19).contains(&y);
            assert_eq!(
                frame[y * SIDE + x],
                if inside { 255 } else { 0 },
                "({x}, {y})"
            );
        }
    }
}

#[test]
fn thin_strokes_keep_their_ink_and_the_longer_side_becomes_twenty() {
    // A 1-pixel diagonal over 280×280: scaled by 14, its ink spreads over grey pixels but its
    // total is kept (area averaging), up to the rounding of each pixel to a byte.
    let side = 280;
    let mut grey = vec![0u8; side * side];
    for i in 20..260 {
        grey[i * side + i] = 255;
    }
    let frame = mnist_style(&grey, side, side);
    let scale = 240.0 / INK_BOX as f64;
    let expected = 240.0 * 255.0 / (scale * scale);
    let got: f64 = frame.iter().map(|&v| v as f64).sum();
    let inked = frame.iter().filter(|&&v| v > 0).count() as f64;
    assert!((got - expected).abs() <= 0.5 * inked, "{got} vs {expected}");
    let rows: Vec<usize> = (0..SIDE)
        .filter(|y| frame[y * SIDE..(y + 1) * SIDE].iter().any(|&v| v > 0))
        .collect();
    assert_eq!(rows.len(), INK_BOX);
    // Symmetric ink: centred on the frame's centre.
    assert_eq!((rows[0], rows[rows.len() - 1]), (4, 23));
}

#[test]
fn dark_ink_on_light_paper_is_inverted_before_it_is_prepared() {
    let (width, height) = (90, 60);
    let mut paper = vec![230u8; width * height];
    for y in 10..50 {
        for x in 40..46 {
            paper[y * width + x] = 20;
        }
    }
    let inverse: Vec<u8> = paper.iter().map(|v| 255 - v).collect();
    assert_eq!(
        prepare(&paper, width, height),
        mnist_style(&inverse, width, height)
    );
    assert_eq!(
        prepare(&inverse, width, height),
        mnist_style(&inverse, width, height)
    );
}

#[test]
fn images_of_the_training_size_are_used_as_they_are_and_empty_drawings_stay_empty() {
    let image: Vec<u8> = (0..SIDE * SIDE).map(|i| (i % 251) as u8).collect();
    assert_eq!(prepare(&image, SIDE, SIDE), image);
    assert_eq!(mnist_style(&vec![0; 50 * 40], 50, 40), vec![0; SIDE * SIDE]);
}

#[test]
fn lists_runs_serves_their_plots_and_answers_drawings_as_the_model_does() {
    let out = common::scratch("serve");
    train(
        tiny(
            &out,
            "mlp",
            &common::stacks::layer("dense", "units = 16"),
            1,
        ),
        TrainOptions::default(),
    )
    .unwrap();
    // Beside the run: a file outside any run, a folder that is not a run, and a link out.
    std::fs::write(out.join("secret.json"), "{}").unwrap();
    std::fs::create_dir(out.join("not-a-run")).unwrap();
    std::os::unix::fs::symlink("/etc", out.join("mlp").join("etc.svg")).unwrap();
    std::os::unix::fs::symlink(out.join("mlp"), out.join("linked")).unwrap();
    let server = server(&out);

    let (status, body) = get(&server, "/api/runs");
    assert_eq!(status, 200);
    let runs: Value = serde_json::from_slice(&body).unwrap();
    let names: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["mlp"]);
    assert_eq!(runs[0]["state"], "finished");
    assert_eq!(runs[0]["epochs"], 1);

    let (status, body) = get(&server, "/api/runs/mlp");
    assert_eq!(status, 200);
    let detail: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        detail["plots"],
        serde_json::json!(["first_layer.png", "loss.svg"])
    );
    let (status, svg) = get(&server, "/runs/mlp/loss.svg");
    assert_eq!(status, 200);
    assert_eq!(svg, std::fs::read(out.join("mlp/loss.svg")).unwrap());

    for path in [
        "/runs/mlp/..%2Fsecret.json",
        "/runs/..%2Fmlp/loss.svg",
        "/runs/mlp/%2Fetc%2Fpasswd",
        "/runs/mlp/../secret.json",
        "/runs/mlp/etc.svg",
        "/runs/linked/loss.svg",
        "/runs/not-a-run/x.svg",
        "/runs/mlp/model.bpk",
        "/runs/mlp/.neurona-run",
        "/api/runs/..",
        "/secret.json",
    ] {
        let (status, body) = get(&server, path);
        assert_eq!(status, 404, "{path}: {}", String::from_utf8_lossy(&body));
    }

    // A drawing: what the server answers is the model's answer for the image it reports.
    let (width, height) = (280, 200);
    let mut drawing = vec![0u8; width * height];
    for y in 40..160 {
        for x in 130..150 {
            drawing[y * width + x] = 255;
        }
    }
    let (status, answer) = post(
        &server,
        &format!("/api/runs/mlp/predict?width={width}&height={height}"),
        &drawing,
    );
    assert_eq!(status, 200, "{answer}");
    let image: Vec<u8> = answer["image"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u8)
        .collect();
    assert_eq!(image, mnist_style(&drawing, width, height));
    let expected = Classifier::load(&out.join("mlp"), Default::default())
        .unwrap()
        .classify(&[&image])
        .remove(0);
    let probabilities: Vec<f64> = answer["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(probabilities, expected.probabilities);
    assert!((probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-6);
    assert_eq!(answer["class"], expected.class);
    // `neurona predict` prepares an image file of that size the same way.
    let pgm = out.join("drawing.pgm");
    let mut bytes = format!("P5\n{width} {height}\n255\n").into_bytes();
    bytes.extend(&drawing);
    std::fs::write(&pgm, bytes).unwrap();
    let from_file = neurona::classifier::inference::predict(
        &out.join("mlp"),
        &neurona::classifier::inference::ImageSource::Files(vec![pgm]),
        Default::default(),
    )
    .unwrap();
    assert_eq!(from_file[0].probabilities, expected.probabilities);

    // Malformed requests are answered, not crashed on.
    for (path, body) in [
        ("/api/runs/mlp/predict", vec![0u8; 4]),
        ("/api/runs/mlp/predict?width=2&height=2", vec![0u8; 5]),
        ("/api/runs/mlp/predict?width=0&height=2", vec![]),
        ("/api/runs/mlp/predict?width=-1&height=x", vec![]),
        ("/api/runs/mlp/predict?width=5000&height=5000", vec![]),
    ] {
        let (status, answer) = post(&server, path, &body);
        assert_eq!(status, 400, "{path}: {answer}");
        assert!(answer["error"].is_string());
    }
    let (status, _) = post(&server, "/api/runs/nope/predict?width=1&height=1", &[0]);
    assert_eq!(status, 404);
    let (status, _) = post(
        &server,
        "/api/runs/mlp/predict?width=1024&height=1024",
        &vec![0u8; 1024 * 1024 + 1],
    );
    assert!(status == 400 || status == 413, "{status}");
    // Still serving.
    assert_eq!(get(&server, "/api/runs").0, 200);
}

#[test]
fn the_playground_checks_its_experiment_and_no_request_body_breaks_the_server() {
    let out = common::scratch("serve-fuzz");
    let server = server(&out);
    let xor = "precision = \"f32\"\n[data]\ndataset = \"xor\"\n[model]\nhidden = [4]\n\
               activation = \"tanh\"\noutput = \"sigmoid\"\n[optimizer]\nkind = \"sgd\"\n\
               learning_rate = 0.5\n[training]\nepochs = 3000\n[output]\nname = \"pg\"\n";
    let (status, trained) = post(&server, "/api/playground/train", xor.as_bytes());
    assert_eq!(status, 200, "{trained}");
    let p: Vec<f64> = trained["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(
        p[0] < 0.5 && p[1] >= 0.5 && p[2] >= 0.5 && p[3] < 0.5,
        "{p:?}"
    );
    // The same validation as `neurona train`, plus the playground's limits; the run can only
    // land in the runs folder.
    for (body, expected) in [
        (
            xor.replace("\"xor\"", "\"fashion-mnist\"")
                .replace("sigmoid", "softmax"),
            "data.dataset must be \"xor\"",
        ),
        (xor.replace("3000", "1000000"), "at most 20000 epochs"),
        (xor.replace("[4]", "[4000]"), "parameters is more than"),
        (xor.replace("0.5", "-1"), "learning_rate"),
        (xor.replace("\"pg\"", "\"../escape\""), "plain folder name"),
        (xor.replace("\"pg\"", "\".hidden\""), "plain folder name"),
        (
            xor.replace("\"xor\"", "\"moons\"\npoints = 5000"),
            "at most 1000 points",
        ),
        (xor.replace("[output]", "[output]\ndir = \"/tmp\"\n"), ""),
    ] {
        let (status, answer) = post(&server, "/api/playground/save", body.as_bytes());
        if expected.is_empty() {
            assert_eq!(status, 200, "{answer}");
            assert!(
                out.join("pg/model.bpk").is_file(),
                "saved in the runs folder"
            );
        } else {
            assert_eq!(status, 422, "{body}: {answer}");
            let error = answer["error"].as_str().unwrap();
            assert!(error.contains(expected), "{error}");
        }
    }
    assert!(!out.join("escape").exists() && !out.parent().unwrap().join("escape").exists());
    // The regions the page paints are the saved model's: the last snapshot, decoded from its
    // bytes, is `P(1)` of the reloaded run over the grid, to the byte's rounding (the save
    // trained the same file, same seed, to the same model).
    let run = out.join("pg");
    let config = neurona::points::config::PointsConfig::load_run(&run).unwrap();
    let device = neurona::backend::device(config.backend, config.precision).unwrap();
    let network = config.model.init(config.input_shape(), 2, &device);
    let model = neurona::network::store::load(network, &run.join("model.bpk"), "the saved network")
        .unwrap();
    let side = trained["grid_side"].as_u64().unwrap() as usize;
    let expected = neurona::points::probability_grid(&model, &config, &device, side);
    let last = trained["frames"].as_array().unwrap().last().unwrap();
    let bytes = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(last["grid"].as_str().unwrap())
            .unwrap()
    };
    assert_eq!(bytes.len(), side * side);
    for (k, (byte, p)) in bytes.iter().zip(&expected).enumerate() {
        assert!(
            (*byte as f64 / 255.0 - p).abs() <= 0.5 / 255.0 + 1e-6,
            "cell {k}: {byte} vs P = {p}"
        );
    }
    // Rows run from the top (x2 high): near (0, 1), row 7 column 7, XOR is 1; near (0, 0),
    // row 33 column 7, it is 0.
    assert!(expected[7 * side + 7] > 0.5 && expected[33 * side + 7] < 0.5);
    // Seeded random bodies, byte soup and mutated experiment files, at every endpoint that
    // takes one: each is answered with a 4xx or a 200, never a 5xx or a dropped connection.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..60 {
        let mut body: Vec<u8> = if round % 2 == 0 {
            xor.as_bytes().to_vec()
        } else {
            (0..next() % 300).map(|_| next() as u8).collect()
        };
        for _ in 0..next() % 6 {
            if !body.is_empty() {
                let at = (next() % body.len() as u64) as usize;
                body[at] = next() as u8;
            }
        }
        for path in [
            "/api/playground/train",
            "/api/playground/live",
            "/api/playground/live/1",
            "/api/jobs?name=fuzz",
            "/api/runs/pg/predict?width=4&height=4",
            "/api/runs/pg/predict?width=1&height=1",
        ] {
            let (status, answer) = post(&server, path, &body);
            assert!(status < 500, "{path} round {round}: {status} {answer}");
        }
    }
}

fn get_json(server: &Server, path: &str) -> Value {
    let (status, body) = get(server, path);
    assert_eq!(status, 200, "{path}");
    serde_json::from_slice(&body).unwrap()
}

/// Polls `GET /api/jobs` until `run`'s training is no longer running; returns its state.
fn wait_for_job(server: &Server, run: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let jobs = get_json(server, "/api/jobs");
        let job = jobs
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["run"] == run)
            .cloned()
            .unwrap_or_else(|| panic!("{run} not in {jobs}"));
        if job["state"] != "running" {
            return job;
        }
        assert!(std::time::Instant::now() < deadline, "{job}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn recorded_epochs(run: &Path) -> usize {
    std::fs::read(run.join("metrics.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|m| m["epochs"].as_array().map(Vec::len))
        .unwrap_or(0)
}

#[test]
fn trainings_start_from_the_page_as_neurona_train_runs_them_stop_and_resume() {
    let out = common::scratch("serve-jobs");
    let server = server(&out);
    let experiment = "[data]\ndataset = \"fashion-mnist\"\ntrain_limit = 600\ntest_limit = 200\n\
                      [model]\nhidden = [16]\n[training]\nepochs = 1000\nbatch_size = 64\n";
    // A bad file is refused with the message `neurona train` gives for the same file.
    let files = common::scratch("serve-jobs-files");
    for bad in [
        experiment.replace("epochs = 1000", "epoch = 1000"),
        experiment.replace("[16]", "[0]"),
        experiment.replace("batch_size = 64", "batch_size = -3"),
    ] {
        let (status, answer) = post(&server, "/api/jobs?name=bad", bad.as_bytes());
        assert_eq!(status, 422, "{bad}");
        let page = answer["error"].as_str().unwrap();
        let file = files.join("page.toml");
        std::fs::write(&file, &bad).unwrap();
        let cli = std::process::Command::new(env!("CARGO_BIN_EXE_neurona"))
            .arg("train")
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(cli.status.code(), Some(2));
        // The same text, once the file's path in the terminal's message is its name.
        let cli =
            String::from_utf8_lossy(&cli.stderr).replace(&file.display().to_string(), "page.toml");
        assert!(cli.contains(page), "page: {page}\nneurona train: {cli}");
    }
    // What only the page refuses: pointing the server at files or URLs, 2-D experiments, paths.
    for (body, query, expected) in [
        (
            experiment.replace("train_limit", "dir = \"/etc\"\ntrain_limit"),
            "?name=x",
            "remove data.dir",
        ),
        (
            experiment.replace(
                "train_limit",
                "mirrors = [\"http://10.0.0.1\"]\ntrain_limit",
            ),
            "?name=x",
            "remove data.mirrors",
        ),
        (
            experiment.replace(
                "[model]",
                "[model]\ninit_from = \"/etc/passwd.safetensors\"",
            ),
            "?name=x",
            "remove model.init_from",
        ),
        (
            format!("{experiment}\n[remote]\nhosts = [\"ws://10.0.0.1:3000\"]\n"),
            "?name=x",
            "remove [remote]",
        ),
        (
            "[data]\ndataset = \"xor\"\n[model]\noutput = \"sigmoid\"\n".to_string(),
            "?name=x",
            "playground",
        ),
        (
            experiment.to_string(),
            "?name=..%2Fescape",
            "plain folder name",
        ),
        (experiment.to_string(), "?name=.hidden", "plain folder name"),
    ] {
        let (status, answer) = post(&server, &format!("/api/jobs{query}"), body.as_bytes());
        assert_eq!(status, 422, "{query} {answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains(expected), "{error}");
    }
    assert_eq!(get_json(&server, "/api/jobs"), serde_json::json!([]));

    // Start, refuse a second training meanwhile, stop after two epochs.
    let (status, answer) = post(&server, "/api/jobs?name=page-run", experiment.as_bytes());
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["run"], "page-run");
    let (status, answer) = post(&server, "/api/jobs?name=other", experiment.as_bytes());
    assert_eq!(status, 422);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("one training at a time")
    );
    let run = out.join("page-run");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while recorded_epochs(&run) < 2 {
        assert!(std::time::Instant::now() < deadline, "no epochs recorded");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(get_json(&server, "/api/runs/page-run")["state"], "running");
    let (status, _) = post(&server, "/api/jobs/page-run/stop", b"");
    assert_eq!(status, 200);
    let job = wait_for_job(&server, "page-run");
    assert_eq!(job["state"], "stopped", "{job}");
    assert!(
        job["output"]
            .as_str()
            .unwrap()
            .contains("training page-run"),
        "{job}"
    );
    assert_eq!(
        get_json(&server, "/api/runs/page-run")["state"],
        "interrupted"
    );
    let (status, _) = post(&server, "/api/jobs/never-started/stop", b"");
    assert_eq!(status, 404);
    let (status, _) = post(&server, "/api/jobs?name=page-run", experiment.as_bytes());
    assert_eq!(status, 422, "a new training never replaces a run");

    // Resume for two more epochs than were completed (as a user would: edit the run's epochs,
    // then resume), and the run ends like any other: its test metrics are what `neurona eval`
    // computes from its model in another process.
    let done = recorded_epochs(&run);
    let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
    let config = config.replace("epochs = 1000", &format!("epochs = {}", done + 2));
    std::fs::write(run.join("config.toml"), config).unwrap();
    let (status, answer) = post(&server, "/api/runs/page-run/resume", b"");
    assert_eq!(status, 202, "{answer}");
    let job = wait_for_job(&server, "page-run");
    assert_eq!(job["state"], "finished", "{job}");
    assert_eq!(job["exit_code"], 0);
    let summary = get_json(&server, "/api/runs/page-run");
    assert_eq!(summary["state"], "finished");
    assert_eq!(summary["epochs"], done + 2);
    let eval = std::process::Command::new(env!("CARGO_BIN_EXE_neurona"))
        .arg("eval")
        .arg(&run)
        .output()
        .unwrap();
    assert!(eval.status.success());
    let evaluated: Value =
        serde_json::from_slice(&std::fs::read(run.join("eval.json")).unwrap()).unwrap();
    assert_eq!(
        evaluated["accuracy"], summary["test_accuracy"],
        "{evaluated}"
    );
    let (status, answer) = post(&server, "/api/runs/nothing/resume", b"");
    assert_eq!(status, 422, "{answer}");
}

#[test]
fn the_servers_own_failures_answer_500_and_blame_nothing_the_request_held() {
    let out = common::scratch("serve-failures");
    // A run whose config.toml is not text: the server cannot read its own runs folder.
    let garbled = out.join("garbled");
    std::fs::create_dir(&garbled).unwrap();
    std::fs::write(garbled.join("config.toml"), b"\xff\xfe not text").unwrap();
    std::fs::write(garbled.join(".neurona-run"), "image_classification").unwrap();
    std::fs::write(garbled.join("model.bpk"), b"").unwrap();
    // And a server whose program for trainings cannot be started.
    let server = start(&ServeOptions {
        runs: out.clone(),
        host: "127.0.0.1".parse().unwrap(),
        port: 0,
        program: Some(out.join("no-such-neurona")),
    })
    .unwrap();
    let experiment = "[data]\ndataset = \"fashion-mnist\"\ntrain_limit = 600\n[model]\n\
                      hidden = [16]\n[training]\nepochs = 1\n";
    for (path, body) in [
        ("/api/runs/garbled/resume", &b""[..]),
        ("/api/runs/garbled/predict?width=1&height=1", &[0][..]),
        ("/api/jobs?name=fresh", experiment.as_bytes()),
    ] {
        let (status, answer) = post(&server, path, body);
        assert_eq!(status, 500, "{path}: {answer}");
        // Which file or program failed is for the server's output, not for the page.
        assert_eq!(answer["error"], neurona::serve::api_error::FAILED, "{path}");
    }
    assert_eq!(get_json(&server, "/api/jobs"), serde_json::json!([]));
    // Still serving, and what the user can fix is still refused with the reason.
    assert_eq!(get_json(&server, "/api/runs")[0]["name"], "garbled");
    let (status, answer) = post(&server, "/api/runs/nothing/resume", b"");
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"], "there is no run called nothing");
    let (status, answer) = post(&server, "/api/jobs?name=garbled", experiment.as_bytes());
    assert_eq!(status, 422, "{answer}");
    let error = answer["error"].as_str().unwrap();
    assert!(
        error.contains("a run called garbled exists already"),
        "{error}"
    );
}
