//! What a command loads at start-up: the front binary runs the registry, tables and AP
//! evaluation without libtorch, a network command on the CPU never loads CUDA, and `--device
//! cuda` where CUDA cannot be used is an error that says why.

use std::process::Command;

use crate::require_mirror;
use crate::util::{fetched, fetched_zoo, reproduce, run, tempdir};

/// The shared libraries a command loads, from the dynamic loader's own trace (`LD_DEBUG=libs`
/// lists every library it opens, including those `dlopen` loads later).
fn loaded_libraries(cmd: &mut Command) -> Vec<String> {
    let out = run(cmd.env("LD_DEBUG", "libs"));
    assert!(out.status.success(), "the command failed: {:?}", out.status);
    let trace = String::from_utf8_lossy(&out.stderr);
    let mut libs: Vec<String> = trace
        .lines()
        .filter_map(|l| l.split_once("calling init: "))
        .map(|(_, path)| path.trim().to_string())
        .collect();
    libs.sort();
    libs.dedup();
    assert!(
        !libs.is_empty(),
        "LD_DEBUG=libs printed no 'calling init' lines:\n{trace}"
    );
    libs
}

fn names(libs: &[String]) -> Vec<&str> {
    libs.iter()
        .map(|p| p.rsplit('/').next().unwrap_or(p))
        .collect()
}

/// libtorch's and CUDA's libraries among `libs`.
fn torch_or_cuda(libs: &[String]) -> Vec<&str> {
    names(libs)
        .into_iter()
        .filter(|n| n.contains("torch") || n.starts_with("libc10") || n.starts_with("libcu"))
        .collect()
}

#[test]
fn the_commands_without_a_network_load_no_torch_and_no_cuda() {
    let dir = tempdir();
    for args in [&["--version"][..], &["--help"], &["zoo", "list"]] {
        let libs = loaded_libraries(reproduce(dir.path()).args(args));
        assert_eq!(torch_or_cuda(&libs), Vec::<&str>::new(), "{args:?}");
    }
}

#[test]
fn tables_load_no_torch_either() {
    require_mirror!();
    let data = fetched_zoo(&[]);
    let libs = loaded_libraries(reproduce(&data).arg("tables"));
    assert_eq!(torch_or_cuda(&libs), Vec::<&str>::new());
}

#[test]
fn a_network_command_on_the_cpu_loads_libtorch_but_no_cuda_library() {
    require_mirror!();
    let data = fetched(&["eresfd-original"]);
    let photo = crate::require_reference!().join("fixtures/grace_hopper.jpg");
    let libs = loaded_libraries(
        reproduce(&data)
            .args(["detect", "--model", "eresfd-original", "--device", "cpu"])
            .arg(&photo),
    );
    let names = names(&libs);
    assert!(names.contains(&"libtorch_cpu.so"), "{names:?}");
    // libtorch_cpu.so itself links the CUDA runtime and profiler interface; nothing else of
    // CUDA (libtorch_cuda, cuDNN, cuBLAS, NCCL, the driver) may be loaded on the CPU.
    let cuda: Vec<&&str> = names
        .iter()
        .filter(|n| {
            [
                "libtorch_cuda",
                "libcudnn",
                "libcublas",
                "libnccl",
                "libcuda.so",
                "libc10_cuda",
            ]
            .iter()
            .any(|c| n.starts_with(c))
        })
        .collect();
    assert!(cuda.is_empty(), "--device cpu loaded {cuda:?}");
}

#[test]
fn cuda_that_cannot_be_used_is_an_error_with_the_reason_and_auto_falls_back() {
    require_mirror!();
    let data = fetched(&["eresfd-original"]);
    let photo = crate::require_reference!().join("fixtures/grace_hopper.jpg");
    let detect = |device: &str| {
        run(reproduce(&data)
            .args(["detect", "--model", "eresfd-original", "--device", device])
            .arg(&photo))
    };
    let cuda = detect("cuda");
    if cuda.status.success() {
        eprintln!("skipped: this machine can use CUDA");
        return;
    }
    assert_eq!(cuda.status.code(), Some(2));
    let err = String::from_utf8_lossy(&cuda.stderr);
    assert!(
        err.contains("error: CUDA asked for (cuda:0), but it cannot be used: "),
        "{err}"
    );
    assert!(cuda.stdout.is_empty(), "nothing runs on the CPU instead");
    let far = detect("cuda:3");
    assert_eq!(far.status.code(), Some(2));
    let auto = detect("auto");
    assert!(auto.status.success());
    let note = String::from_utf8_lossy(&auto.stderr);
    assert_eq!(
        note.matches("note: --device auto: ").count(),
        1,
        "one note: {note}"
    );
    assert!(note.contains("; running on the CPU"), "{note}");
    let bad = detect("gpu");
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("use cpu, cuda, cuda:N or auto"),
        "the choices are listed"
    );
}

/// Issue 14, bug 6: every command that takes a device accepts `cuda:N`, and where CUDA cannot be
/// used it is exit 2 with the reason, before any work: nothing is measured on the CPU instead.
#[test]
fn every_network_command_takes_cuda_n_and_refuses_it_without_cuda() {
    require_mirror!();
    let data = fetched(&["models", "wider-mini", "wider-gt"]);
    let photo = crate::require_reference!().join("fixtures/grace_hopper.jpg");
    let work = tempdir();
    let out = |name: &str| work.path().join(name).display().to_string();
    let images = data
        .join("WIDER-mini/WIDER_val/images")
        .display()
        .to_string();
    let wider = data.join("WIDER-mini").display().to_string();
    let commands: [Vec<String>; 6] = [
        vec![
            "detect".into(),
            "--model".into(),
            "eresfd-30".into(),
            photo.display().to_string(),
        ],
        vec![
            "eval".into(),
            "eresfd-30".into(),
            "--subset".into(),
            "--images".into(),
            images,
            "--out".into(),
            out("eval"),
        ],
        vec![
            "check".into(),
            "eresfd-30".into(),
            "--eval".into(),
            "mini".into(),
            "--report".into(),
            out("check.json"),
        ],
        vec![
            "bench".into(),
            "infer".into(),
            "--model".into(),
            "eresfd-30".into(),
        ],
        vec!["bench".into(), "train".into()],
        vec![
            "pretrain".into(),
            "--arch".into(),
            "eresfd".into(),
            "--wider".into(),
            wider,
            "--out".into(),
            out("pretrain"),
        ],
    ];
    for args in commands {
        let got = run(reproduce(&data).args(&args).args(["--device", "cuda:1"]));
        if got.status.success() {
            eprintln!("skipped: this machine has a second CUDA device");
            return;
        }
        assert_eq!(got.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&got.stderr);
        assert!(
            err.contains("error: CUDA device 1 asked for (cuda:1), but CUDA ")
                || err.contains("error: CUDA asked for (cuda:1), but it cannot be used"),
            "{args:?}: {err}"
        );
        assert!(got.stdout.is_empty(), "{args:?}: nothing ran");
    }
    assert_eq!(
        std::fs::read_dir(work.path()).unwrap().count(),
        0,
        "nothing was written"
    );
}

#[test]
fn the_front_names_the_missing_torch_binary() {
    let dir = tempdir();
    let front = dir.path().join("reproduce");
    std::fs::copy(env!("CARGO_BIN_EXE_reproduce"), &front).unwrap();
    let out = run(Command::new(&front)
        .args(["detect", "--model", "eresfd-30", "x.jpg"])
        .current_dir(dir.path()));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}, and it cannot be started",
            dir.path().join("reproduce-torch").display()
        )),
        "{err}"
    );
}
